//! Row softmax, the vector-unit workhorse: a max, an exponential and a sum over every row.

/// Softmax over the last axis of an `f32` matrix.
#[moge::kernel]
pub fn softmax_f32<const N: usize>(x: Tensor<f32, (T, N)>) -> Tensor<f32, (T, N)> {
    softmax(x, -1)
}

/// Softmax over the last axis of a `bf16` matrix: computed in `f32`, rounded once to `bf16`.
#[moge::kernel]
pub fn softmax_bf16<const N: usize>(x: Tensor<bf16, (T, N)>) -> Tensor<bf16, (T, N)> {
    softmax(x, -1)
}
