// Kernels whose results are parameters, shadowed parameters, duplicate values or take a generated
// output name: every one must build and run (tests/cli.rs, results_that_are_parameters_run).
use moge::prelude::*;

#[moge::kernel]
pub fn return_param(a: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    a
}

#[moge::kernel]
pub fn return_shadowed(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let x = exp(x);
    x
}

#[moge::kernel]
pub fn return_twice(x: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>) {
    let y = exp(x);
    (y, y)
}

#[moge::kernel]
pub fn param_named_out0(out0: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    exp(out0)
}

#[moge::kernel]
pub fn swap_params(a: Tensor<f32, (N,)>, b: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>) {
    (b, a)
}

#[moge::kernel]
pub fn every_shape(
    x: Tensor<bf16, {(N, 8)}>,
    i: Tensor<i32, {(N, 8)}>,
) -> (Tensor<bf16, {(N, 8)}>, Tensor<i32, {(N, 8)}>, Tensor<i32, {(N, 8)}>, Tensor<bf16, {(N, 8)}>) {
    let y = x;
    (x, i, i, y)
}
