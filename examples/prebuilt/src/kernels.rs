//! The crate's kernels. `build.rs` compiles them ahead of time with moge-build; the `#[moge::kernel]`
//! items here give their reference interpreter (`eval`), which the tests compare the device with.

/// RMSNorm: `x / sqrt(mean(x^2) + 1e-5) * weight` over the hidden axis of every token.
#[moge::kernel]
pub fn norm<const H: usize>(
    x: Tensor<bf16, (T, H)>,
    weight: Tensor<bf16, (H,)>,
) -> Tensor<bf16, (T, H)> {
    rms_norm(x, weight, 1e-5)
}

/// SwiGLU's gating: `silu(a) * b`.
#[moge::kernel]
pub fn gated<const H: usize>(
    a: Tensor<f32, (T, H)>,
    b: Tensor<f32, (T, H)>,
) -> Tensor<f32, (T, H)> {
    silu(a) * b
}
