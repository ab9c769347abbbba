use moge::prelude::*;

#[kernel]
fn activation(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    silu(&x)
}

fn main() {}
