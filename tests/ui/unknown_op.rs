use moge::prelude::*;

#[kernel]
fn router<const E: usize>(logits: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    sofmax(logits, -1)
}

fn main() {}
