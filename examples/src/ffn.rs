//! The whole MoGE FFN layer of Pangu Pro MoE: the router, the grouped experts and the shared expert.

/// One MoGE FFN layer (without the residual add).
///
/// The router runs in `f32` on the `bf16` hidden states: `logits = x @ w_gate`, a global softmax, the
/// best expert of each of the `G` groups (`E / G` experts each) and its probability times
/// `router_scale`, with no renormalization. Every token is routed to its `G` experts; each expert is a
/// SwiGLU MLP with intermediate size `I` whose fused up projection `w13[e]` holds the gate half first,
/// then the up half (as `npu_swiglu` expects); the expert outputs are summed with the router weights.
/// The shared expert, a SwiGLU MLP with intermediate size `S`, is added with no weight.
///
/// Returns the layer output and the chosen experts (`expert[t, g]` in group `g`). Pangu Pro MoE uses
/// `H = 5120`, `E = 64`, `G = 8`, `I = 1344`, `S = 5376`.
#[moge::kernel]
pub fn moge_ffn<const H: usize, const E: usize, const G: usize, const I: usize, const S: usize>(
    x: Tensor<bf16, (T, H)>,
    w_gate: Tensor<f32, (H, E)>,
    router_scale: Tensor<f32, (E,)>,
    w13: Tensor<bf16, { (E, H, 2 * I) }>,
    w2: Tensor<bf16, (E, I, H)>,
    shared_w13: Tensor<bf16, { (H, 2 * S) }>,
    shared_w2: Tensor<bf16, (S, H)>,
) -> (Tensor<bf16, (T, H)>, Tensor<i32, (T, G)>) {
    // Router.
    let logits = matmul(cast::<f32>(x), w_gate);
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    // Routed experts.
    let routes = route(expert, E);
    let rows = dispatch(x, routes);
    let up = grouped_matmul(rows, w13, routes);
    let act = swiglu(up);
    let down = grouped_matmul(act, w2, routes);
    let routed = combine(down, routes, weight);
    // Shared expert.
    let shared = matmul(swiglu(matmul(x, shared_w13)), shared_w2);
    (routed + shared, expert)
}
