use moge::prelude::*;

#[kernel]
fn add_bias(
    x: Tensor<f32, (T, H)>,
    bias: Tensor<f32, (H,)>,
    scale: Tensor<f32, (H,)>,
) -> Tensor<f32, (T, H)> {
    x + bias
}

fn main() {}
