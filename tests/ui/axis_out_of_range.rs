use moge::prelude::*;

#[kernel]
fn norm(x: Tensor<f32, (T, H)>) -> Tensor<f32, (T, H)> {
    softmax(x, 2)
}

fn main() {}
