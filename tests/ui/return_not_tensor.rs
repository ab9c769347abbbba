use moge::prelude::*;

#[kernel]
fn routing<const E: usize>(
    expert_ids: Tensor<i32, (T, K)>,
    x: Tensor<f32, (T, H)>,
) -> (Tensor<i32, (T, K)>, Tensor<f32, (T, H)>) {
    let routes = route(expert_ids, E);
    (routes, x > 0.0)
}

fn main() {}
