use moge::prelude::*;

#[kernel]
fn offset(ids: Tensor<i32, (T, K)>, bias: Tensor<f32, (T, K)>) -> Tensor<f32, (T, K)> {
    ids + bias
}

fn main() {}
