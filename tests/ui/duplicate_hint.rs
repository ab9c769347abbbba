use moge::prelude::*;

#[kernel]
fn mm(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    #[tile(m = 16, n = 16, k = 16)]
    #[tile(m = 32, n = 32, k = 32)]
    let y = matmul(a, b);
    y
}

fn main() {}
