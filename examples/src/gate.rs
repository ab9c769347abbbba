//! The MoGE router of Pangu Pro MoE: one global softmax over all experts, the best expert of every
//! group, times a learned per-expert scale (no renormalization).

/// MoGE router.
///
/// For every token `t`: `p = softmax(logits[t])` over all `E` experts; the experts are split into `G`
/// contiguous groups of `E / G`; `expert[t, g]` is the global id of the largest `p` in group `g` (the
/// lowest id among equal values), so column `g` lies in `g*E/G .. (g+1)*E/G`; and
/// `weight[t, g] = p[expert[t, g]] * router_scale[expert[t, g]]`. Pangu Pro MoE uses `E = 64`, `G = 8`.
#[moge::kernel]
pub fn moge_gate<const E: usize, const G: usize>(
    logits: Tensor<f32, (T, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}
