use moge::prelude::*;

#[kernel]
fn double(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let twice = |v| v * 2.0;
    twice(x)
}

fn main() {}
