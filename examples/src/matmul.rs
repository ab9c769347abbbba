//! A plain matrix product on the cube unit.

/// `a @ b` in `bf16` with `f32` accumulation, for a dynamic number of rows `M`.
#[moge::kernel]
pub fn gemm<const K: usize, const N: usize>(
    a: Tensor<bf16, (M, K)>,
    b: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(a, b)
}

/// A linear layer with ReLU: `relu(cast<f32>(x @ w) + bias)`, the product in `bf16` with `f32`
/// accumulation (rounded to `bf16` as a bf16 matmul is), the bias and the activation in `f32`. One
/// MIX kernel: the AIC computes `x @ w` tile by tile, its two AIVs add the bias and apply the ReLU.
#[moge::kernel]
pub fn linear_relu<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
    bias: Tensor<f32, (N,)>,
) -> Tensor<f32, (M, N)> {
    relu(cast::<f32>(matmul(x, w)) + bias)
}

/// A linear layer with SiLU and a `bf16` result: `silu(x @ w + bias)` rounded to `bf16`.
#[moge::kernel]
pub fn linear_silu<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
    bias: Tensor<bf16, (N,)>,
) -> Tensor<bf16, (M, N)> {
    silu(matmul(x, w) + bias)
}
