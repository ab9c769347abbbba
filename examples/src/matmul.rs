//! A plain matrix product on the cube unit.

/// `a @ b` in `bf16` with `f32` accumulation, for a dynamic number of rows `M`.
#[moge::kernel]
pub fn gemm<const K: usize, const N: usize>(
    a: Tensor<bf16, (M, K)>,
    b: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(a, b)
}
