use moge::prelude::*;

#[kernel]
fn scale<const E: usize, const G: usize>(
    probs: Tensor<f32, (T, E)>,
    per_group: Tensor<f32, (T, G)>,
) -> Tensor<f32, (T, E)> {
    probs * per_group
}

fn main() {}
