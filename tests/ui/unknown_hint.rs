use moge::prelude::*;

#[kernel]
fn mm(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    #[tile(m = 128, z = 64)]
    let y = matmul(a, b);
    y
}

fn main() {}
