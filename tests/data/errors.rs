//! Kernels with mistakes, for the `mogec check` tests: four errors in two kernels, each on its own
//! line, and one good kernel between them.

use moge::prelude::*;

#[moge::kernel]
pub fn broken<const E: usize>(x: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    let a = sofmax(x, -1);
    let b = log_softmax(x, 2);
    let e = |q| q;
    a + b + e
}

#[moge::kernel]
pub fn fine(x: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {
    exp(x)
}

#[moge::kernel]
pub fn unused_input(x: Tensor<f32, (T,)>, y: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {
    exp(x)
}
