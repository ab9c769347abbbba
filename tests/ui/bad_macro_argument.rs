use moge::prelude::*;

#[kernel(debg)]
fn copy(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

fn main() {}
