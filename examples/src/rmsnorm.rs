//! RMSNorm as used by Pangu Pro MoE (pre-norm, eps = 1e-5).

/// `x / sqrt(mean(x^2) + 1e-5) * weight` over the hidden axis of every token.
#[moge::kernel]
pub fn rmsnorm<const H: usize>(
    x: Tensor<bf16, (T, H)>,
    weight: Tensor<bf16, (H,)>,
) -> Tensor<bf16, (T, H)> {
    rms_norm(x, weight, 1e-5)
}
