//! The whole MoGE router of Pangu Pro MoE in one kernel: the gate projection on the cube unit, then the
//! MoGE gate (softmax over all experts, the best expert of every group, times a per-expert scale) as
//! its vector epilogue. Meant to become one `KERNEL_TYPE_MIX_AIC_1_2` kernel: the AIC computes the
//! logits tile by tile into a GM workspace, the two AIVs of its AI core run the gate on the rows.

/// MoGE router from hidden states.
///
/// `logits = x @ w_gate` (bf16 inputs, f32 accumulation, rounded to bf16 as a bf16 matmul is), then
/// for every token the gate of [`crate::gate::moge_gate`] on the logits in f32. Pangu Pro MoE uses
/// `H = 5120`, `E = 64`, `G = 8`.
#[moge::kernel]
pub fn moge_router<const H: usize, const E: usize, const G: usize>(
    x: Tensor<bf16, (T, H)>,
    w_gate: Tensor<bf16, (H, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    let logits = cast::<f32>(matmul(x, w_gate));
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}
