use super::*;
use crate::graph::{ArgOp, ReduceOp};

fn reduce(op: ReduceOp, axis: u32, keep_dim: bool) -> OpKind {
    OpKind::Reduce { op, axis, keep_dim }
}

fn arg(op: ArgOp, axis: u32, keep_dim: bool) -> OpKind {
    OpKind::ArgReduce { op, axis, keep_dim }
}

#[test]
fn sum_and_mean_along_each_axis() {
    // [[1, 2, 3], [4, 5, 6]]: column sums 5, 7, 9; row sums 6, 15; row means 2, 5.
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = run(
        reduce(ReduceOp::Sum, 0, false),
        &[&x],
        lty(DType::F32, &[3]),
    );
    assert_eq!(f(&out), vec![5.0, 7.0, 9.0]);
    let out = run(
        reduce(ReduceOp::Sum, 1, true),
        &[&x],
        lty(DType::F32, &[2, 1]),
    );
    assert_eq!(out.shape, vec![2, 1]);
    assert_eq!(f(&out), vec![6.0, 15.0]);
    let out = run(
        reduce(ReduceOp::Mean, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![2.0, 5.0]);
    let out = run(
        reduce(ReduceOp::Mean, 0, true),
        &[&x],
        lty(DType::F32, &[1, 3]),
    );
    assert_eq!(f(&out), vec![2.5, 3.5, 4.5]);
}

#[test]
fn max_and_min_of_negative_numbers() {
    let x = f32t(&[2, 3], &[-1.0, -5.0, -3.0, -2.0, -2.0, -9.0]);
    let out = run(
        reduce(ReduceOp::Max, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![-1.0, -2.0]);
    let out = run(
        reduce(ReduceOp::Min, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![-5.0, -9.0]);
    let out = run(
        reduce(ReduceOp::Max, 0, false),
        &[&x],
        lty(DType::F32, &[3]),
    );
    assert_eq!(f(&out), vec![-1.0, -2.0, -3.0]);
}

#[test]
fn reductions_of_no_elements() {
    // The sum of nothing is 0, the mean NaN, the max -inf and the min +inf (i32::MIN / MAX for ints).
    let x = f32t(&[2, 0], &[]);
    let out = run(
        reduce(ReduceOp::Sum, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![0.0, 0.0]);
    let out = run(
        reduce(ReduceOp::Mean, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert!(f(&out).iter().all(|v| v.is_nan()));
    let out = run(
        reduce(ReduceOp::Max, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![f32::NEG_INFINITY; 2]);
    let out = run(
        reduce(ReduceOp::Min, 1, false),
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![f32::INFINITY; 2]);
    let x = i32t(&[0, 2], &[]);
    let out = run(
        reduce(ReduceOp::Max, 0, false),
        &[&x],
        lty(DType::I32, &[2]),
    );
    assert_eq!(i(&out), vec![i32::MIN; 2]);
    // Reducing the non-empty axis of an empty tensor gives an empty result.
    let out = run(
        reduce(ReduceOp::Sum, 1, false),
        &[&x],
        lty(DType::I32, &[0]),
    );
    assert!(out.is_empty());
}

#[test]
fn bf16_sum_accumulates_in_f32_and_rounds_once() {
    // 1 + 2^-8 + 2^-8 = 1 + 2^-7 = 1.0078125, exact in bf16. Rounding after each addition would
    // lose both halves (1 + 2^-8 is a tie that rounds to 1).
    let x = bf16t(&[3], &[1.0, 0.00390625, 0.00390625]);
    let out = run(
        reduce(ReduceOp::Sum, 0, false),
        &[&x],
        lty(DType::BF16, &[]),
    );
    assert_eq!(f(&out), vec![1.0078125]);
}

#[test]
fn i32_reductions_wrap_and_mean_is_float_only() {
    let x = i32t(&[2, 2], &[i32::MAX, 1, -4, 3]);
    let out = run(
        reduce(ReduceOp::Sum, 1, false),
        &[&x],
        lty(DType::I32, &[2]),
    );
    assert_eq!(i(&out), vec![i32::MIN, -1]);
    let out = run(
        reduce(ReduceOp::Min, 0, false),
        &[&x],
        lty(DType::I32, &[2]),
    );
    assert_eq!(i(&out), vec![-4, 1]);
    let msg = run_err(
        reduce(ReduceOp::Mean, 0, false),
        &[&x],
        vec![lty(DType::I32, &[2])],
    );
    assert_contains(&msg, &["`mean`", "expected a float dtype"]);
}

#[test]
fn reduce_axis_out_of_range_is_an_error() {
    let x = f32t(&[2], &[1.0, 2.0]);
    let msg = run_err(
        reduce(ReduceOp::Sum, 1, false),
        &[&x],
        vec![lty(DType::F32, &[])],
    );
    assert_contains(
        &msg,
        &[
            "`sum`",
            "attribute `axis`: axis 1 is out of range for a rank-1 operand",
        ],
    );
}

#[test]
fn argmax_and_argmin_take_the_lowest_index_among_ties() {
    let x = f32t(&[2, 4], &[3.0, 1.0, 3.0, 2.0, 2.0, 0.0, 5.0, 0.0]);
    let out = run(arg(ArgOp::ArgMax, 1, false), &[&x], lty(DType::I32, &[2]));
    assert_eq!(out.dtype, DType::I32);
    assert_eq!(i(&out), vec![0, 2]);
    let out = run(arg(ArgOp::ArgMin, 1, true), &[&x], lty(DType::I32, &[2, 1]));
    assert_eq!(out.shape, vec![2, 1]);
    assert_eq!(i(&out), vec![1, 1]);
    // Along axis 0 of [[1, 5], [7, 5], [7, 0]]: column 0 max 7 first at row 1; column 1 max 5 at row 0.
    let x = i32t(&[3, 2], &[1, 5, 7, 5, 7, 0]);
    let out = run(arg(ArgOp::ArgMax, 0, false), &[&x], lty(DType::I32, &[2]));
    assert_eq!(i(&out), vec![1, 0]);
    let out = run(arg(ArgOp::ArgMin, 0, false), &[&x], lty(DType::I32, &[2]));
    assert_eq!(i(&out), vec![0, 2]);
    // Negative values: the max of [-3, -1, -1, -2] is -1, first at 1.
    let x = f32t(&[4], &[-3.0, -1.0, -1.0, -2.0]);
    let out = run(arg(ArgOp::ArgMax, 0, false), &[&x], lty(DType::I32, &[]));
    assert_eq!(i(&out), vec![1]);
}

#[test]
fn argmax_counts_nan_as_the_extremum_and_rejects_empty_axes() {
    let x = f32t(&[4], &[1.0, f32::NAN, 5.0, f32::NAN]);
    let out = run(arg(ArgOp::ArgMax, 0, false), &[&x], lty(DType::I32, &[]));
    assert_eq!(i(&out), vec![1]);
    let out = run(arg(ArgOp::ArgMin, 0, false), &[&x], lty(DType::I32, &[]));
    assert_eq!(i(&out), vec![1]);
    let x = f32t(&[2, 0], &[]);
    let msg = run_err(
        arg(ArgOp::ArgMax, 1, false),
        &[&x],
        vec![lty(DType::I32, &[2])],
    );
    assert_contains(
        &msg,
        &["`argmax`", "has shape [2, 0], expected a non-empty axis 1"],
    );
    // With no rows there is nothing to pick: an empty result.
    let x = f32t(&[0, 3], &[]);
    let out = run(arg(ArgOp::ArgMax, 1, false), &[&x], lty(DType::I32, &[0]));
    assert!(out.is_empty());
}

/// softmax of one row from the formula, in f64.
fn softmax_f64(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
    x.iter().map(|v| (v - m).exp() / s).collect()
}

#[test]
fn softmax_along_the_last_and_the_first_axis() {
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.0, -1.0]);
    let out = run(OpKind::Softmax { axis: 1 }, &[&x], lty(DType::F32, &[2, 3]));
    let mut want = softmax_f64(&[1.0, 2.0, 3.0]);
    want.extend(softmax_f64(&[-1.0, 0.0, -1.0]));
    assert_close(&f(&out), &want, 1e-6);
    // Along axis 0 every column is normalized: columns (1, -1), (2, 0), (3, -1).
    let out = run(OpKind::Softmax { axis: 0 }, &[&x], lty(DType::F32, &[2, 3]));
    let (c0, c1, c2) = (
        softmax_f64(&[1.0, -1.0]),
        softmax_f64(&[2.0, 0.0]),
        softmax_f64(&[3.0, -1.0]),
    );
    assert_close(&f(&out), &[c0[0], c1[0], c2[0], c0[1], c1[1], c2[1]], 1e-6);
    // Equal logits give exactly 1/n.
    let x = f32t(&[4], &[5.0; 4]);
    let out = run(OpKind::Softmax { axis: 0 }, &[&x], lty(DType::F32, &[4]));
    assert_eq!(f(&out), vec![0.25; 4]);
}

#[test]
fn bf16_softmax_rounds_once() {
    // 1/3 = 1.3333 * 2^-2; 1.3333 * 128 = 170.67 -> 171, so bf16(1/3) = 171/512 = 0.333984375.
    let x = bf16t(&[3], &[0.0; 3]);
    let out = run(OpKind::Softmax { axis: 0 }, &[&x], lty(DType::BF16, &[3]));
    assert_eq!(f(&out), vec![0.333984375; 3]);
}

#[test]
fn log_softmax_follows_its_formula() {
    // x - max - ln(sum(exp(x - max))).
    let x = f32t(&[3], &[1.0, 2.0, 3.0]);
    let out = run(OpKind::LogSoftmax { axis: 0 }, &[&x], lty(DType::F32, &[3]));
    let lse = ((-2.0f64).exp() + (-1.0f64).exp() + 1.0).ln();
    assert_close(&f(&out), &[-2.0 - lse, -1.0 - lse, -lse], 1e-6);
}

#[test]
fn softmax_of_integers_is_an_error() {
    let x = i32t(&[2], &[1, 2]);
    let msg = run_err(
        OpKind::Softmax { axis: 0 },
        &[&x],
        vec![lty(DType::I32, &[2])],
    );
    assert_contains(&msg, &["`softmax`", "expected a float dtype"]);
}

#[test]
fn rms_norm_follows_its_formula() {
    // Row [3, 4]: mean square 12.5, + eps 1 = 13.5; out = [3, 4] / sqrt(13.5) * [1, 2].
    // Row [0, 0]: mean square 0, + 1; out = 0.
    let x = f32t(&[2, 2], &[3.0, 4.0, 0.0, 0.0]);
    let w = f32t(&[2], &[1.0, 2.0]);
    let out = run(
        OpKind::RmsNorm { eps: 1.0 },
        &[&x, &w],
        lty(DType::F32, &[2, 2]),
    );
    let d = 13.5f64.sqrt();
    assert_close(&f(&out), &[3.0 / d, 8.0 / d, 0.0, 0.0], 1e-6);
    // The weight must be (H,).
    let w3 = f32t(&[3], &[1.0; 3]);
    let msg = run_err(
        OpKind::RmsNorm { eps: 1.0 },
        &[&x, &w3],
        vec![lty(DType::F32, &[2, 2])],
    );
    assert_contains(
        &msg,
        &[
            "`rms_norm`",
            "operand 1 (`weight`) has shape [3], expected [2]",
        ],
    );
}
