use moge::prelude::*;

#[kernel]
fn router<const E: usize>(logits: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    softmax(logit, -1)
}

fn main() {}
