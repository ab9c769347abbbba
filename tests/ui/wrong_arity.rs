use moge::prelude::*;

#[kernel]
fn router<const E: usize>(logits: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    softmax(logits)
}

fn main() {}
