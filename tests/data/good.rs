//! Kernels that check, for the `mogec` tests: one at the top level, one in an inline module, and a
//! plain function that is not a kernel.

use moge::prelude::*;

/// The MoGE router: softmax over all experts, the best expert of every group, times a scale.
#[moge::kernel]
pub fn gate<const E: usize, const G: usize>(
    logits: Tensor<f32, (T, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}

/// Not a kernel: `mogec` ignores it.
pub fn helper() -> u32 {
    3
}

pub mod norms {
    use moge::prelude::*;

    /// RMSNorm in bf16, returned as an expression (so its result is called `out0`).
    #[kernel]
    pub fn rmsnorm<const H: usize>(
        x: Tensor<bf16, (T, H)>,
        weight: Tensor<bf16, (H,)>,
    ) -> Tensor<bf16, (T, H)> {
        rms_norm(x, weight, 1e-5)
    }
}
