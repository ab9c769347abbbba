use moge::prelude::*;

/// Three independent mistakes, each reported once; the uses of a failed binding report nothing more.
#[kernel]
fn gate<const E: usize>(
    logits: Tensor<f32, (T, E)>,
    ids: Tensor<i32, (T,)>,
    scale: Tensor<f32, (E,)>,
) -> Tensor<f32, (T, E)> {
    let probs = sofmax(logits, -1);
    let scaled = probs * scale;
    let shifted = ids + logits;
    let norm = sum(logits, 3);
    scaled + exp(shifted) + norm
}

fn main() {}
