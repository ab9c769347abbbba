//! The graph IR built for each DSL construct, as the printer shows it.

use insta::assert_snapshot;

use super::check;

#[test]
fn moge_gate() {
    assert_snapshot!(check(
        r#"
/// MoGE router.
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
"#
    ));
}

#[test]
fn shapes_in_signature() {
    // Names in a tuple type; literals and expressions in braces; rank 0 and rank 1; a dynamic dim
    // declared in the second parameter; `I + I` and `2 * I` are the same dim.
    assert_snapshot!(check(
        r#"
#[kernel]
fn shapes<const I: usize, const E: usize, const G: usize>(
    a: Tensor<bf16, {(T, 2 * I)}>,
    b: Tensor<bf16, {(T, I + I)}>,
    c: Tensor<f32, ()>,
    d: Tensor<f32, {(E / G, 8)}>,
    e: Tensor<i32, (S,)>,
) -> (Tensor<bf16, {(T, 2 * I)}>, Tensor<f32, {(E / G, 8)}>, Tensor<i32, (S,)>) {
    (a + b, d * c, e)
}
"#
    ));
}

#[test]
fn literals() {
    // Literals take the dtype of the other operand; literal arithmetic is folded; `-x` is `neg`.
    assert_snapshot!(check(
        r#"
#[kernel]
fn literals(x: Tensor<f16, (N,)>, i: Tensor<i32, (N,)>) -> (Tensor<f16, (N,)>, Tensor<i32, (N,)>) {
    let y = x * 2.5 + 1;
    let z = (1.0 / 4.0) * -y;
    let j = 2 * i - -3;
    (z / 1e-3, j)
}
"#
    ));
}

#[test]
fn comparison_and_select() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn clamp_negative(x: Tensor<f32, (T, H)>, limit: Tensor<f32, (H,)>) -> Tensor<f32, (T, H)> {
    let positive = x > 0.0;
    let capped = select(x <= limit, x, limit);
    select(positive, capped, 0.0)
}
"#
    ));
}

#[test]
fn unary_math_and_elementwise_max() {
    // `max(a, b)` with a tensor second argument is the elementwise `maximum`; `max(x, -1)` reduces.
    assert_snapshot!(check(
        r#"
#[kernel]
fn unary(x: Tensor<f32, (N, M)>) -> (Tensor<f32, (N, M)>, Tensor<f32, (N,)>) {
    let a = exp(x) + log(x) + sqrt(x) + rsqrt(x) + recip(x);
    let b = abs(x) + sigmoid(x) + silu(x) + relu(x) + tanh(x);
    let c = maximum(a, b) - minimum(a, 0.5);
    let d = max(c, b) + min(0.0, c);
    (d, max(d, -1))
}
"#
    ));
}

#[test]
fn cast_between_dtypes() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn casts(x: Tensor<bf16, (N,)>, ids: Tensor<i32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<i32, (N,)>) {
    let wide = cast::<f32>(x);
    let mask = cast::<i32>(ids == 3);
    (wide * cast::<f32>(ids), mask)
}
"#
    ));
}

#[test]
fn reductions() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn reductions(x: Tensor<f32, (A, B, C)>) -> (Tensor<f32, (B, C)>, Tensor<f32, {(A, B, 1)}>, Tensor<i32, (A, C)>, Tensor<i32, (A, B)>) {
    let total = sum(x, 0);
    let average = mean(x, -1, true);
    let low = min(x, 2, false);
    let high = max(x, 0, true);
    (total + sum(high, 0), average + cast::<f32>(argmin(x, 2, true)), argmax(x, 1), argmin(x, -1, false) + cast::<i32>(low))
}
"#
    ));
}

#[test]
fn normalizations() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn norms(x: Tensor<bf16, (T, H)>, weight: Tensor<bf16, (H,)>) -> (Tensor<bf16, (T, H)>, Tensor<bf16, (T, H)>, Tensor<bf16, (T, H)>) {
    (softmax(x, 1), log_softmax(x, -1), rms_norm(x, weight, 1e-6))
}
"#
    ));
}

#[test]
fn layout_ops() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn layout<const E: usize, const G: usize>(x: Tensor<f32, (T, E)>, y: Tensor<f32, (T, E)>) -> (Tensor<f32, {(T, E / G, G)}>, Tensor<f32, {(T, 4)}>, Tensor<f32, {(T, 2 * E)}>, Tensor<f32, (E, T)>, Tensor<f32, {(G, T, E / G)}>) {
    let grouped = reshape(x, (T, E / G, G));
    let head = slice(x, -1, 2, 6);
    let both = concat((x, y), 1);
    let swapped = transpose(x);
    let rotated = transpose(grouped, (2, 0, 1));
    (grouped, head, both, swapped, rotated)
}
"#
    ));
}

#[test]
fn concat_of_an_array_on_a_negative_axis() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn stack3(a: Tensor<i32, {(N, 2)}>, b: Tensor<i32, {(N, 3)}>) -> Tensor<i32, {(N, 7)}> {
    concat([a, b, a], -1)
}
"#
    ));
}

#[test]
fn selection_and_indexing() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn pick<const E: usize>(x: Tensor<f32, {(T, 16)}>, table: Tensor<f32, (E, H)>, ids: Tensor<i32, (T,)>) -> (Tensor<f32, {(T, 4)}>, Tensor<i32, {(T, 4)}>, Tensor<f32, (T, H)>, Tensor<f32, (E, H)>) {
    let (values, indices) = topk(x, 4);
    let rows = gather(table, ids);
    let back = scatter_add(rows, ids, E);
    (values, indices, rows, back)
}
"#
    ));
}

#[test]
fn matmul_with_hints() {
    // Hints go to every op of their statement except constants.
    assert_snapshot!(check(
        r#"
#[kernel]
fn mm(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    #[tile(m = 128, n = 256, k = 64)]
    #[block_dim(n = 24)]
    let y = matmul(a, b) * 0.5;
    y
}
"#
    ));
}

#[test]
fn moe_family() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn moe_ffn<const E: usize, const H: usize, const I: usize>(
    x: Tensor<bf16, (T, H)>,
    expert_ids: Tensor<i32, (T, K)>,
    weights: Tensor<bf16, (T, K)>,
    w_up: Tensor<bf16, {(E, H, 2 * I)}>,
    w_down: Tensor<bf16, (E, I, H)>,
) -> Tensor<bf16, (T, H)> {
    let routes = route(expert_ids, E);
    let rows = dispatch(x, routes);
    let up = grouped_matmul(rows, w_up, routes);
    let act = swiglu(up);
    let down = grouped_matmul(act, w_down, routes);
    combine(down, routes, weights)
}
"#
    ));
}

#[test]
fn swiglu_with_gate_and_up() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn gated(gate: Tensor<f32, (T, I)>, up: Tensor<f32, (T, I)>) -> Tensor<f32, (T, I)> {
    return swiglu(gate, up);
}
"#
    ));
}

#[test]
fn shadowing_and_output_names() {
    // The second `x` shadows the first; a returned expression is named `out<i>`, a parameter or
    // binding by its name, and a repeated name gets `out<i>` too.
    assert_snapshot!(check(
        r#"
#[kernel]
fn shadow(x: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>, Tensor<f32, (N,)>, Tensor<f32, (N,)>) {
    let y = exp(x);
    let y = y + 1.0;
    (y, x + y, x, y)
}
"#
    ));
}

#[test]
fn tuple_bindings() {
    // `let (a, b) = (x, y)` binds values; `_` skips a result of a two-result op.
    assert_snapshot!(check(
        r#"
#[kernel]
fn tuples(x: Tensor<f32, (N, M)>, y: Tensor<f32, (N, M)>) -> Tensor<f32, {(N, 2)}> {
    let (a, b) = (x, y);
    let (best, _) = topk(a - b, 2);
    best
}
"#
    ));
}

#[test]
fn scalar_literal_result() {
    // A returned literal becomes a constant of the declared dtype.
    assert_snapshot!(check(
        r#"
#[kernel]
fn constant(_unused: Tensor<f32, (N,)>) -> Tensor<bf16, ()> {
    0.25
}
"#
    ));
}

#[test]
fn locations_count_characters() {
    // `größe` has multi-byte characters; columns count characters, so `exp(größe)` is at 4:18-4:28.
    // (Only bindings that are not returned may have non-ASCII names: the others are emitted.)
    assert_snapshot!(check(
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    let größe = x;\n    let größe2 = exp(größe);\n    let y = größe2;\n    y\n}\n"
    ));
}

#[test]
fn select_between_literals() {
    // With no tensor among the choices, float literals are `f32`.
    assert_snapshot!(check(
        r#"
#[kernel]
fn mask_to_float(x: Tensor<bf16, (N,)>) -> Tensor<f32, (N,)> {
    select(x > 0.0, 1.0, 0)
}
"#
    ));
}
