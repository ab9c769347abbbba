// Names that reach the emitted code and dims that must stay sizes (tests/cli.rs).
use moge::prelude::*;

/// A raw identifier is its plain name: the program is `try`, exported as `try_k0`.
#[moge::kernel]
pub fn r#try(r#fn: Tensor<f32, (N,)>, rows: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let r#loop = exp(r#fn) + rows;
    r#loop
}

/// `N - 100` is negative for N < 100.
#[moge::kernel]
pub fn shrink<const N: usize>(x: Tensor<f32, {(T, N - 100)}>) -> Tensor<f32, {(T, N - 100)}> {
    exp(x)
}

/// `N^6` overflows 64 bits for N = 10^6.
#[moge::kernel]
pub fn sixth<const N: usize>(x: Tensor<f32, {(T, N * N * N * N * N * N)}>) -> Tensor<f32, {(T, N * N * N * N * N * N)}> {
    exp(x)
}

/// `N / M` divides by zero for M = 0.
#[moge::kernel]
pub fn ratio<const N: usize, const M: usize>(x: Tensor<f32, {(T, N / M)}>) -> Tensor<f32, {(T, N / M)}> {
    exp(x)
}
