//! The diagnostics of each mistake, rendered as `mogec` prints them.

use insta::assert_snapshot;

use super::check;

// Names and ops.

#[test]
fn unknown_op_suggests_the_closest() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    sofmax(x, -1)
}
"#
    ));
}

#[test]
fn unknown_op_from_another_library() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(a: Tensor<f32, (M, K)>, b: Tensor<f32, (K, N)>) -> (Tensor<f32, (M, N)>, Tensor<f32, (M, K)>) {
    (mm(a, b), add(a, a))
}
"#
    ));
}

#[test]
fn calling_a_tensor() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x(1)
}
"#
    ));
}

#[test]
fn unknown_name_suggests_a_binding() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(logits: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    exp(logit)
}
"#
    ));
}

#[test]
fn dim_and_op_used_as_tensors() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize>(x: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    let a = x * E;
    let b = x + softmax;
    a + b
}
"#
    ));
}

#[test]
fn tensor_used_as_dim() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    let (v, i) = topk(x, x);
    v
}
"#
    ));
}

#[test]
fn unknown_dim_in_an_argument() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const G: usize>(x: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {
    reshape(x, (T, Gx, E / G))
}
"#
    ));
}

// Arity and argument kinds.

#[test]
fn wrong_arity() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>) -> (Tensor<f32, (T, E)>, Tensor<f32, (T,)>, Tensor<f32, (T, E)>) {
    (softmax(x), sum(x, 1, true, 2), swiglu(x, x, x))
}
"#
    ));
}

#[test]
fn axis_must_be_a_literal() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>, a: Tensor<i32, ()>) -> Tensor<f32, (T, E)> {
    softmax(x, a)
}
"#
    ));
}

#[test]
fn cast_needs_a_dtype() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<i32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<i32, (N,)>, Tensor<f64, (N,)>) {
    (cast(x), abs::<i32>(x), cast::<f64>(x))
}
"#
    ));
}

#[test]
fn keep_dim_and_eps_kinds() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, H)>, w: Tensor<f32, (H,)>) -> (Tensor<f32, (T,)>, Tensor<f32, (T, H)>) {
    (sum(x, 1, 0), rms_norm(x, w, w))
}
"#
    ));
}

#[test]
fn shape_argument_must_be_a_tuple() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>) -> Tensor<f32, {(T * E,)}> {
    reshape(x, T * E)
}
"#
    ));
}

#[test]
fn two_results_used_as_one() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>) -> Tensor<f32, {(T, 2)}> {
    let top = topk(x, 2);
    let (a, b, c) = topk(x, 2);
    top
}
"#
    ));
}

// Shapes, dtypes, axes and group sizes.

#[test]
fn shape_mismatch_symbolic() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize, const G: usize>(a: Tensor<f32, (T, E)>, b: Tensor<f32, (T, G)>) -> Tensor<f32, (T, E)> {
    a + b
}
"#
    ));
}

#[test]
fn matmul_inner_dims_differ() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (N, K)>) -> Tensor<bf16, (M, K)> {
    matmul(a, b)
}
"#
    ));
}

#[test]
fn dtype_mismatch() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(ids: Tensor<i32, (T,)>, x: Tensor<f32, (T,)>) -> (Tensor<f32, (T,)>, Tensor<i32, (T,)>, Tensor<f32, (T,)>) {
    (ids + x, ids * 0.5, exp(ids))
}
"#
    ));
}

#[test]
fn axis_out_of_range() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, E)>, s: Tensor<f32, ()>) -> (Tensor<f32, (T, E)>, Tensor<f32, ()>) {
    (softmax(x, -3), sum(s, 0))
}
"#
    ));
}

#[test]
fn groups_do_not_divide() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, {(T, 64)}>) -> Tensor<f32, {(T, 7)}> {
    let (v, i) = group_topk(x, 7, 1);
    v
}
"#
    ));
}

#[test]
fn k_larger_than_group_and_dim() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, {(T, 16)}>) -> (Tensor<f32, {(T, 20)}>, Tensor<f32, {(T, 17)}>) {
    let (a, _) = group_topk(x, 4, 5);
    let (b, _) = topk(x, 17);
    (a, b)
}
"#
    ));
}

#[test]
fn transpose_without_permutation_needs_rank_two() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (A, B, C)>) -> Tensor<f32, (C, B, A)> {
    transpose(x)
}
"#
    ));
}

#[test]
fn routes_where_a_tensor_is_expected() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize>(ids: Tensor<i32, (T, K)>, x: Tensor<f32, (T, H)>) -> Tensor<f32, (T, H)> {
    let routes = route(ids, E);
    let y = x + routes;
    dispatch(routes, routes)
}
"#
    ));
}

// Returns.

#[test]
fn return_not_tensor() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize>(ids: Tensor<i32, (T, K)>, x: Tensor<f32, (T, H)>) -> (Tensor<f32, (T, H)>, Tensor<f32, (T, H)>) {
    (route(ids, E), x > 0.0)
}
"#
    ));
}

#[test]
fn return_type_not_tensor() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Vec<f32> {
    x
}
"#
    ));
}

#[test]
fn returned_value_does_not_match_signature() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize, const G: usize>(x: Tensor<f32, (T, E)>, i: Tensor<i32, (T, E)>) -> (Tensor<f32, (T, G)>, Tensor<f32, (T, E)>) {
    (x, i)
}
"#
    ));
}

#[test]
fn return_count_mismatch() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>) {
    x
}
"#
    ));
}

#[test]
fn missing_return() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let y = exp(x);
}

#[kernel]
fn k2(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    exp(x);
}

#[kernel]
fn k3(x: Tensor<f32, (N,)>) {
    x
}
"#
    ));
}

#[test]
fn early_return_and_unused_expression() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    exp(x);
    return x;
    x
}
"#
    ));
}

// Unused names.

#[test]
fn unused_parameter_and_binding() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>, bias: Tensor<f32, (N,)>, _ok: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let y = exp(x);
    let y = x + 1.0;
    let _z = sqrt(x);
    y
}
"#
    ));
}

#[test]
fn let_underscore() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let _ = exp(x);
    x
}
"#
    ));
}

// Signature.

#[test]
fn bad_dtype() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(a: Tensor<f64, (N,)>, b: Tensor<bool, (N,)>, c: Tensor<f23, (N,)>) -> Tensor<f32, (N,)> {
    a
}
"#
    ));
}

#[test]
fn bad_generics_and_qualifiers() {
    assert_snapshot!(check(
        r#"
#[kernel]
async unsafe fn k<'a, T, const E: i32, const G: usize = 2>(x: Tensor<f32, (N, E, G)>) -> Tensor<f32, (N, E, G)>
where
    T: Copy,
{
    x
}
"#
    ));
}

#[test]
fn bad_parameters() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(mut x: Tensor<f32, (N,)>, (a, b): Tensor<f32, (N,)>, y: &Tensor<f32, (N,)>, z: Tensor<f32>, w: Tensor<f32, (N)>) -> Tensor<f32, (N,)> {
    x
}
"#
    ));
}

#[test]
fn duplicate_names_in_signature() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize, const E: usize>(x: Tensor<f32, (E,)>, x: Tensor<f32, (E,)>) -> Tensor<f32, (E,)> {
    x
}
"#
    ));
}

#[test]
fn bad_dims_in_braces() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize>(a: Tensor<f32, {(E / 0,)}>, b: Tensor<f32, {(3 - 5,)}>, c: Tensor<f32, {(7 / 2,)}>, d: Tensor<f32, {(E)}>, e: Tensor<f32, {(1.5,)}>) -> Tensor<f32, (E,)> {
    a
}
"#
    ));
}

#[test]
fn unsupported_fn_attribute() {
    assert_snapshot!(check(
        r#"
/// Docs are fine.
#[kernel]
#[inline]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}
"#
    ));
}

// Rust outside the DSL.

#[test]
fn closure_reference_loop() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let f = |v| v * 2.0;
    let r = &x;
    for i in 0..4 {}
    while true {}
    loop {}
    x
}
"#
    ));
}

#[test]
fn control_flow_and_methods() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let a = if true { x } else { x };
    let b = match x { _ => x };
    let c = x.exp();
    let d = x.frobnicate(2);
    let e = println!("{}", 1);
    x
}
"#
    ));
}

#[test]
fn indexing_fields_blocks_and_more() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let a = x[0];
    let b = x.0;
    let c = { x };
    let d = unsafe { x };
    let e = "text";
    let f = std::f32::consts::PI;
    let g = x as f32;
    let h = 2.0f32 * x;
    let i = x % 2.0;
    let j = !x;
    let mut m = x;
    m += x;
    x
}
"#
    ));
}

#[test]
fn items_macros_and_let_forms() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    fn helper() {}
    println!("hi");
    let y: Tensor<f32, (N,)> = x;
    let z;
    let Some(w) = x else { return x };
    y
}
"#
    ));
}

// Hints.

#[test]
fn hint_errors() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(a: Tensor<f32, (M, K)>, b: Tensor<f32, (K, N)>) -> Tensor<f32, (M, N)> {
    #[tiles(m = 128)]
    let p = matmul(a, b);
    #[tile(m = 128, q = 4, n = 0, k = x)]
    let q = matmul(a, b);
    #[tile(m = 64)]
    let r = p;
    #[block_dim]
    let s = p + q;
    s + r
}
"#
    ));
}

#[test]
fn a_hint_given_twice_on_one_statement_is_an_error() {
    // The second `#[tile]` would otherwise replace the first's keys without a word.
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(a: Tensor<f16, (M, K)>, b: Tensor<f16, (K, N)>) -> Tensor<f16, (M, N)> {
    #[tile(m = 16, n = 16, k = 16)]
    #[tile(m = 32, n = 32, k = 32)]
    let y = matmul(a, b);
    #[block_dim(n = 2)]
    #[tile(rows = 8)]
    #[block_dim(n = 2)]
    let z = y + y;
    z
}
"#
    ));
}

// Error recovery.

#[test]
fn several_errors_without_follow_on_errors() {
    // Each mistake is reported once: uses of a failed binding report nothing more, and a name used
    // only by a failed expression is not reported as unused.
    assert_snapshot!(check(
        r#"
#[kernel]
fn k<const E: usize>(x: Tensor<f32, (T, E)>, ids: Tensor<i32, (T,)>, w: Tensor<f32, (E,)>) -> Tensor<f32, (T, E)> {
    let a = sofmax(x, -1);
    let b = a * w + exp(a);
    let c = ids + x;
    let d = softmax(c, 5) * b;
    let e = |q| q;
    let f = sum(d + e, 1);
    let g = log_softmax(x, 2);
    f + g
}
"#
    ));
}

#[test]
fn syntax_error_is_reported_for_the_file() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (T, 64)>) -> Tensor<f32, (T, 64)> {
    x
}
"#
    ));
}

#[test]
fn literal_where_a_tensor_is_expected() {
    assert_snapshot!(check(
        r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> (Tensor<f32, (N,)>, Tensor<f32, ()>) {
    (concat((x, 1.0), 0), softmax(2.0, 0))
}
"#
    ));
}
