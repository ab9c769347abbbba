use moge::prelude::*;

#[kernel]
fn größe(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    exp(x)
}

#[kernel]
fn keyword_param(r#int: Tensor<f32, (N,)>, half: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let ß = r#int + half;
    ß
}

fn main() {}
