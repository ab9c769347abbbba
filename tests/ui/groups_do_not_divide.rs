use moge::prelude::*;

#[kernel]
fn gate(probs: Tensor<f32, { (T, 64) }>) -> Tensor<i32, { (T, 7) }> {
    let (_top, expert) = group_topk(probs, 7, 1);
    expert
}

fn main() {}
