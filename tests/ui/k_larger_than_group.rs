use moge::prelude::*;

#[kernel]
fn gate(probs: Tensor<f32, { (T, 64) }>) -> Tensor<i32, { (T, 80) }> {
    let (_top, expert) = group_topk(probs, 8, 10);
    expert
}

fn main() {}
