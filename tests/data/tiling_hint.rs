//! Matmuls whose `#[tile]` hints must win over the tiling the command line asks for.

/// Every side of the tile fixed by the hint.
#[moge::kernel]
pub fn gemm_tiled<const K: usize, const N: usize>(
    a: Tensor<bf16, (M, K)>,
    b: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    #[tile(m = 64, n = 64, k = 32)]
    let c = matmul(a, b);
    c
}

/// Only K fixed by the hint: the scoring chooses m and n.
#[moge::kernel]
pub fn gemm_k_tiled<const K: usize, const N: usize>(
    a: Tensor<bf16, (M, K)>,
    b: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    #[tile(k = 48)]
    let c = matmul(a, b);
    c
}
