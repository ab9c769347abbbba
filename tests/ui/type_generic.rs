use moge::prelude::*;

#[kernel]
fn copy<D>(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

fn main() {}
