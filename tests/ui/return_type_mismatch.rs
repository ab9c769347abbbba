use moge::prelude::*;

#[kernel]
fn top<const E: usize, const G: usize>(
    probs: Tensor<f32, (T, E)>,
) -> (Tensor<f32, (T, E)>, Tensor<f32, (T, G)>) {
    let (values, indices) = group_topk(probs, G, 1);
    (values, indices)
}

fn main() {}
