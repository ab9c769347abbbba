use moge::prelude::*;

#[kernel]
fn activation(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x.sigmoid()
}

fn main() {}
