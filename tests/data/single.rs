//! A file with exactly one kernel, so `mogec build` and `mogec eval` may leave out `--kernel`.

use moge::prelude::*;

/// `relu(x * 2 + bias)`, with one bias per column.
#[moge::kernel]
pub fn affine_relu<const N: usize>(
    x: Tensor<f32, (T, N)>,
    bias: Tensor<f32, (N,)>,
) -> Tensor<f32, (T, N)> {
    let y = relu(x * 2.0 + bias);
    y
}
