use super::*;
use crate::graph::RoutesType;

/// A kernel running route -> dispatch -> grouped_matmul -> combine on literal shapes, returning the
/// dispatched rows, the grouped matmul result and the combined output.
fn moe_kernel(t: usize, k: usize, e: usize, h: usize, n: usize, dtype: DType) -> Kernel {
    let mut b = Builder::new("moe");
    let x = b.param("x", dtype, lits(&[t, h]));
    let ids = b.param("ids", DType::I32, lits(&[t, k]));
    let w = b.param("w", dtype, lits(&[e, h, n]));
    let weights = b.param("weights", dtype, lits(&[t, k]));
    let routes_ty = Type::Routes(RoutesType {
        tokens: Dim::lit(t as i64),
        k: Dim::lit(k as i64),
        experts: Dim::lit(e as i64),
    });
    let routes = b.op1(
        OpKind::Route {
            experts: Dim::lit(e as i64),
        },
        &[ids],
        routes_ty,
    );
    let rows = b.op1(OpKind::Dispatch, &[x, routes], lty(dtype, &[t * k, h]));
    let y = b.op1(
        OpKind::GroupedMatmul,
        &[rows, w, routes],
        lty(dtype, &[t * k, n]),
    );
    let out = b.op1(OpKind::Combine, &[y, routes, weights], lty(dtype, &[t, n]));
    b.finish(&[rows, y, out])
}

#[test]
fn route_dispatch_grouped_matmul_combine_by_hand() {
    // ids = [[2, 0], [0, 1], [2, 2]]: slots p = 0..6 go to experts 2, 0, 0, 1, 2, 2.
    // Stable by expert: order = [1, 2 | 3 | 0, 4, 5], offsets = [0, 2, 3, 6],
    // position = [3, 0, 1, 2, 4, 5].
    // Dispatched row d is x[order[d] / 2]: tokens 0, 1, 1, 0, 2, 2.
    let x = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let ids = i32t(&[3, 2], &[2, 0, 0, 1, 2, 2]);
    // Expert 0 takes column 0, expert 1 column 1, expert 2 their sum.
    let w = f32t(&[3, 2, 1], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let weights = f32t(&[3, 2], &[0.5, 2.0, 1.0, -1.0, 0.25, 0.75]);
    let out = eval(
        &moe_kernel(3, 2, 3, 2, 1, DType::F32),
        &[x, ids, w, weights],
    )
    .unwrap();
    assert_eq!(
        f(&out[0]),
        vec![1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 5.0, 6.0]
    );
    // Rows 0, 1 (expert 0): 1, 3; row 2 (expert 1): 4; rows 3..6 (expert 2): 1+2, 5+6, 5+6.
    assert_eq!(f(&out[1]), vec![1.0, 3.0, 4.0, 3.0, 11.0, 11.0]);
    // Token 0: 0.5 * y[3] + 2 * y[0] = 1.5 + 2; token 1: 1 * y[1] - 1 * y[2] = 3 - 4;
    // token 2: 0.25 * y[4] + 0.75 * y[5] = 11.
    assert_eq!(f(&out[2]), vec![3.5, -1.0, 11.0]);
}

#[test]
fn experts_with_no_rows_and_every_token_on_one_expert() {
    // All four slots on expert 1 of 3: experts 0 and 2 get no rows; token order is kept.
    let x = f32t(&[2, 1], &[1.0, 2.0]);
    let ids = i32t(&[2, 2], &[1, 1, 1, 1]);
    let w = f32t(&[3, 1, 1], &[100.0, 3.0, 100.0]);
    let weights = f32t(&[2, 2], &[1.0, 1.0, 0.5, 0.5]);
    let out = eval(
        &moe_kernel(2, 2, 3, 1, 1, DType::F32),
        &[x, ids, w, weights],
    )
    .unwrap();
    assert_eq!(f(&out[0]), vec![1.0, 1.0, 2.0, 2.0]);
    assert_eq!(f(&out[1]), vec![3.0, 3.0, 6.0, 6.0]);
    assert_eq!(f(&out[2]), vec![6.0, 6.0]);
}

#[test]
fn route_ids_out_of_range_are_errors() {
    for (bad, token, slot) in [(3, 1, 0), (-1, 0, 1)] {
        let mut data = vec![0, 1, 2, 0];
        data[token * 2 + slot] = bad;
        let ids = i32t(&[2, 2], &data);
        let x = f32t(&[2, 1], &[1.0, 2.0]);
        let w = f32t(&[3, 1, 1], &[1.0; 3]);
        let weights = f32t(&[2, 2], &[1.0; 4]);
        let err = eval(
            &moe_kernel(2, 2, 3, 1, 1, DType::F32),
            &[x, ids, w, weights],
        )
        .unwrap_err();
        let want = format!("operand 0 (`expert_ids`): expert id {bad} of token {token}, slot {slot} is outside 0..3");
        assert_contains(&err.to_string(), &["in `route`", &want]);
    }
}

#[test]
fn moe_chain_with_no_tokens() {
    let x = f32t(&[0, 2], &[]);
    let ids = i32t(&[0, 2], &[]);
    let w = f32t(&[3, 2, 4], &[1.0; 24]);
    let weights = f32t(&[0, 2], &[]);
    let out = eval(
        &moe_kernel(0, 2, 3, 2, 4, DType::F32),
        &[x, ids, w, weights],
    )
    .unwrap();
    assert_eq!(out[0].shape, vec![0, 2]);
    assert_eq!(out[1].shape, vec![0, 4]);
    assert_eq!(out[2].shape, vec![0, 4]);
}

#[test]
fn grouped_matmul_and_combine_round_once_in_bf16() {
    // One token, one slot, expert 0: y = [1, 2^-8, 2^-8] @ [1, 1, 1]^T = 1 + 2^-7 (exact in bf16).
    // combine with weight 1 keeps it; weight 1.5 gives 1.51171875 = 1 + 2^-1 + 3 * 2^-8, which is a
    // tie between 1.5078125 (odd) and 1.515625 (even) in bf16 -> 1.515625.
    let x = bf16t(&[1, 3], &[1.0, 0.00390625, 0.00390625]);
    let ids = i32t(&[1, 1], &[0]);
    let w = bf16t(&[1, 3, 1], &[1.0, 1.0, 1.0]);
    let weights = bf16t(&[1, 1], &[1.5]);
    let out = eval(
        &moe_kernel(1, 1, 1, 3, 1, DType::BF16),
        &[x, ids, w, weights],
    )
    .unwrap();
    assert_eq!(f(&out[1]), vec![1.0078125]);
    assert_eq!(f(&out[2]), vec![1.515625]);
}

#[test]
fn swiglu_fused_and_split_forms() {
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    // x = [gate | up] = [0, 2 | 3, 5]: [silu(0) * 3, silu(2) * 5].
    let x = f32t(&[1, 4], &[0.0, 2.0, 3.0, 5.0]);
    let out = run(OpKind::Swiglu, &[&x], lty(DType::F32, &[1, 2]));
    assert_close(&f(&out), &[0.0, 2.0 * sig(2.0) * 5.0], 1e-6);
    let gate = f32t(&[2], &[-1.0, 1.0]);
    let up = f32t(&[2], &[4.0, -2.0]);
    let out = run(OpKind::Swiglu, &[&gate, &up], lty(DType::F32, &[2]));
    assert_close(&f(&out), &[-sig(-1.0) * 4.0, sig(1.0) * -2.0], 1e-6);
    // bf16: silu(2) * 5 = 8.80797...; spacing in [8, 16) is 2^-4, 8.80797 / 0.0625 = 140.93 -> 141,
    // so 8.8125.
    let x = bf16t(&[2], &[2.0, 5.0]);
    let out = run(OpKind::Swiglu, &[&x], lty(DType::BF16, &[1]));
    assert_eq!(f(&out), vec![8.8125]);
    let x = f32t(&[3], &[0.0; 3]);
    let msg = run_err(OpKind::Swiglu, &[&x], vec![lty(DType::F32, &[1])]);
    assert_contains(&msg, &["`swiglu`", "expected an even last dim"]);
}
