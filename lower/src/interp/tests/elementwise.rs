use super::*;
use crate::graph::{BinaryOp, CmpOp, UnaryOp};

#[test]
fn add_broadcasts_a_row_over_a_matrix() {
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[3], &[10.0, 20.0, 30.0]);
    let out = run(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &b],
        lty(DType::F32, &[2, 3]),
    );
    assert_eq!(out.shape, vec![2, 3]);
    assert_eq!(f(&out), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
}

#[test]
fn broadcast_stretches_size_one_axes_on_both_sides() {
    // (2, 1) - (1, 3): out[i][j] = a[i] - b[j].
    let a = f32t(&[2, 1], &[10.0, 20.0]);
    let b = f32t(&[1, 3], &[1.0, 2.0, 3.0]);
    let out = run(
        OpKind::Binary(BinaryOp::Sub),
        &[&a, &b],
        lty(DType::F32, &[2, 3]),
    );
    assert_eq!(f(&out), vec![9.0, 8.0, 7.0, 19.0, 18.0, 17.0]);
    // A rank-0 operand against a matrix.
    let s = f32t(&[], &[2.0]);
    let out = run(
        OpKind::Binary(BinaryOp::Div),
        &[&s, &a],
        lty(DType::F32, &[2, 1]),
    );
    assert_eq!(f(&out), vec![0.2, 0.1]);
}

#[test]
fn broadcast_mismatch_is_an_error() {
    let a = f32t(&[2, 3], &[0.0; 6]);
    let b = f32t(&[2], &[0.0; 2]);
    let msg = run_err(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &b],
        vec![lty(DType::F32, &[2, 3])],
    );
    assert_contains(
        &msg,
        &[
            "`add`",
            "cannot broadcast [2, 3] with [2]",
            "axis 1",
            "3 in one and 2",
        ],
    );
}

#[test]
fn bf16_add_rounds_to_nearest_even() {
    // bf16 has 8 significant bits: between 1 and 2 the spacing is 2^-7 = 0.0078125.
    // 1 + 2^-8 is halfway between 1 and 1.0078125: ties to even gives 1.
    // 1 + 3*2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): gives 1.015625.
    // 1 + 2^-8 + 2^-10 is above halfway: rounds up to 1.0078125.
    // -(1 + 2^-8) rounds to -1 (ties to even, symmetric).
    let a = bf16t(&[4], &[1.0, 1.0, 1.0, -1.0]);
    let b = bf16t(&[4], &[0.00390625, 0.01171875, 0.0048828125, -0.00390625]);
    assert_eq!(
        f(&b),
        vec![0.00390625, 0.01171875, 0.0048828125, -0.00390625],
        "inputs are exact"
    );
    let out = run(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &b],
        lty(DType::BF16, &[4]),
    );
    assert_eq!(f(&out), vec![1.0, 1.015625, 1.0078125, -1.0]);
}

#[test]
fn f16_add_rounds_to_nearest_even_and_overflows_to_infinity() {
    // f16 has 11 significant bits: between 1 and 2 the spacing is 2^-10.
    // 1 + 2^-11 is a tie -> 1; 1 + 3*2^-11 is a tie between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
    // 60000 + 10000 = 70000 is beyond the f16 maximum 65504 (and its rounding boundary 65520): inf.
    let a = f16t(&[3], &[1.0, 1.0, 60000.0]);
    let b = f16t(&[3], &[0.00048828125, 0.00146484375, 10000.0]);
    let out = run(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &b],
        lty(DType::F16, &[3]),
    );
    assert_eq!(f(&out), vec![1.0, 1.001953125, f32::INFINITY]);
}

#[test]
fn every_op_rounds_its_own_result() {
    // y = x*x - 1 in bf16 with x = 1 + 2^-7 (exact in bf16).
    // x*x = 1 + 2^-6 + 2^-14 exactly; bf16 keeps 1 + 2^-6 (2^-14 is far below half a step, 2^-8).
    // Then 1.015625 - 1 = 0.015625. Without the intermediate rounding it would be 0.015625 + 2^-14.
    let mut b = Builder::new("chain");
    let x = b.param("x", DType::BF16, lits(&[1]));
    let one = b.op1(
        OpKind::Const {
            value: 1.0,
            dtype: DType::BF16,
        },
        &[],
        lty(DType::BF16, &[]),
    );
    let sq = b.op1(
        OpKind::Binary(BinaryOp::Mul),
        &[x, x],
        lty(DType::BF16, &[1]),
    );
    let y = b.op1(
        OpKind::Binary(BinaryOp::Sub),
        &[sq, one],
        lty(DType::BF16, &[1]),
    );
    let k = b.finish(&[y, sq]);
    let out = eval(&k, &[bf16t(&[1], &[1.0078125])]).unwrap();
    assert_eq!(f(&out[1]), vec![1.015625]);
    assert_eq!(f(&out[0]), vec![0.015625]);
}

#[test]
fn binary_float_ops_on_negative_numbers_and_nan() {
    let a = f32t(&[4], &[-3.0, 2.5, -0.5, f32::NAN]);
    let b = f32t(&[4], &[2.0, -4.0, -0.25, 1.0]);
    let r = |op| f(&run(OpKind::Binary(op), &[&a, &b], lty(DType::F32, &[4])));
    let nan_last = |v: Vec<f32>| {
        assert!(v[3].is_nan(), "NaN operand gives NaN: {v:?}");
        v[..3].to_vec()
    };
    assert_eq!(nan_last(r(BinaryOp::Add)), vec![-1.0, -1.5, -0.75]);
    assert_eq!(nan_last(r(BinaryOp::Sub)), vec![-5.0, 6.5, -0.25]);
    assert_eq!(nan_last(r(BinaryOp::Mul)), vec![-6.0, -10.0, 0.125]);
    assert_eq!(nan_last(r(BinaryOp::Div)), vec![-1.5, -0.625, 2.0]);
    assert_eq!(nan_last(r(BinaryOp::Max)), vec![2.0, 2.5, -0.25]);
    assert_eq!(nan_last(r(BinaryOp::Min)), vec![-3.0, -4.0, -0.5]);
}

#[test]
fn binary_i32_ops_wrap_and_truncate() {
    let a = i32t(&[5], &[i32::MAX, -7, 7, 5, i32::MIN]);
    let b = i32t(&[5], &[1, 2, -2, 0, -1]);
    let r = |op| i(&run(OpKind::Binary(op), &[&a, &b], lty(DType::I32, &[5])));
    assert_eq!(r(BinaryOp::Add), vec![i32::MIN, -5, 5, 5, i32::MAX]);
    assert_eq!(r(BinaryOp::Sub), vec![i32::MAX - 1, -9, 9, 5, i32::MIN + 1]);
    assert_eq!(r(BinaryOp::Mul), vec![i32::MAX, -14, -14, 0, i32::MIN]);
    // Truncation towards zero; x / 0 = 0; MIN / -1 wraps to MIN.
    assert_eq!(r(BinaryOp::Div), vec![i32::MAX, -3, -3, 0, i32::MIN]);
    assert_eq!(r(BinaryOp::Max), vec![i32::MAX, 2, 7, 5, -1]);
    assert_eq!(r(BinaryOp::Min), vec![1, -7, -2, 0, i32::MIN]);
}

#[test]
fn binary_dtype_mismatch_is_an_error() {
    let a = f32t(&[1], &[1.0]);
    let b = i32t(&[1], &[1]);
    let msg = run_err(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &b],
        vec![lty(DType::F32, &[1])],
    );
    assert_contains(
        &msg,
        &["`add`", "operand 1 (`b`) has dtype i32, expected f32"],
    );
}

#[test]
fn unary_float_ops_follow_their_formulas() {
    let x = f32t(&[4], &[0.0, 1.0, -2.0, 4.0]);
    let r = |op| f(&run(OpKind::Unary(op), &[&x], lty(DType::F32, &[4])));
    let e = std::f64::consts::E;
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    assert_eq!(r(UnaryOp::Neg), vec![0.0, -1.0, 2.0, -4.0]);
    assert_close(
        &r(UnaryOp::Exp),
        &[1.0, e, (-2.0f64).exp(), 4.0f64.exp()],
        1e-6,
    );
    let log = r(UnaryOp::Log);
    assert_eq!(log[0], f32::NEG_INFINITY);
    assert!(log[2].is_nan());
    assert_close(&[log[1], log[3]], &[0.0, 4.0f64.ln()], 1e-6);
    let sqrt = r(UnaryOp::Sqrt);
    assert_eq!([sqrt[0], sqrt[1], sqrt[3]], [0.0, 1.0, 2.0]);
    let rsqrt = r(UnaryOp::Rsqrt);
    assert_eq!([rsqrt[0], rsqrt[1], rsqrt[3]], [f32::INFINITY, 1.0, 0.5]);
    assert_eq!(r(UnaryOp::Recip), vec![f32::INFINITY, 1.0, -0.5, 0.25]);
    assert_eq!(r(UnaryOp::Abs), vec![0.0, 1.0, 2.0, 4.0]);
    assert_close(
        &r(UnaryOp::Sigmoid),
        &[0.5, sig(1.0), sig(-2.0), sig(4.0)],
        1e-6,
    );
    assert_close(
        &r(UnaryOp::Silu),
        &[0.0, sig(1.0), -2.0 * sig(-2.0), 4.0 * sig(4.0)],
        1e-6,
    );
    assert_eq!(r(UnaryOp::Relu), vec![0.0, 1.0, 0.0, 4.0]);
    assert_close(
        &r(UnaryOp::Tanh),
        &[0.0, 1.0f64.tanh(), (-2.0f64).tanh(), 4.0f64.tanh()],
        1e-6,
    );
}

#[test]
fn unary_bf16_rounds_once() {
    // exp(1) = 2.71828...; bf16 spacing in [2, 4) is 2^-6 = 0.015625: 2.71828 / 0.015625 = 173.97,
    // so the nearest bf16 is 174 * 0.015625 = 2.71875.
    let x = bf16t(&[1], &[1.0]);
    let out = run(OpKind::Unary(UnaryOp::Exp), &[&x], lty(DType::BF16, &[1]));
    assert_eq!(f(&out), vec![2.71875]);
}

#[test]
fn unary_i32_ops_and_float_only_errors() {
    let x = i32t(&[3], &[i32::MIN, -5, 3]);
    let r = |op| i(&run(OpKind::Unary(op), &[&x], lty(DType::I32, &[3])));
    assert_eq!(r(UnaryOp::Neg), vec![i32::MIN, 5, -3]);
    assert_eq!(r(UnaryOp::Abs), vec![i32::MIN, 5, 3]);
    assert_eq!(r(UnaryOp::Relu), vec![0, 0, 3]);
    let msg = run_err(
        OpKind::Unary(UnaryOp::Exp),
        &[&x],
        vec![lty(DType::I32, &[3])],
    );
    assert_contains(
        &msg,
        &[
            "`exp`",
            "operand 0 (`x`) has dtype i32, expected a float dtype",
        ],
    );
}

#[test]
fn cast_float_to_int_truncates_and_saturates() {
    let x = f32t(&[6], &[2.7, -2.7, f32::NAN, 1e10, -1e10, -0.5]);
    let out = run(
        OpKind::Cast { to: DType::I32 },
        &[&x],
        lty(DType::I32, &[6]),
    );
    assert_eq!(i(&out), vec![2, -2, 0, i32::MAX, i32::MIN, 0]);
}

#[test]
fn cast_int_to_bf16_rounds_once() {
    // bf16 spacing in [256, 512) is 2: 257 is a tie -> 256 (even); 259 is a tie -> 260 (even).
    // 2^24 + 2^16 + 1 = 16842753 lies just above the midpoint of 2^24 and 2^24 + 2^17 (the bf16
    // spacing there), so it rounds up to 16908288. Going through f32 first would round it to the
    // tie 2^24 + 2^16 and then to 2^24: the double-rounding error a single rounding avoids.
    let x = i32t(&[4], &[257, 259, 16_842_753, -257]);
    let out = run(
        OpKind::Cast { to: DType::BF16 },
        &[&x],
        lty(DType::BF16, &[4]),
    );
    assert_eq!(f(&out), vec![256.0, 260.0, 16_908_288.0, -256.0]);
}

#[test]
fn cast_between_float_types_and_bool() {
    // f32 -> f16: 65519 rounds down to the maximum 65504, 65520 is the tie that rounds to inf.
    let x = f32t(&[3], &[65519.0, 65520.0, 1.00048828125]);
    let out = run(
        OpKind::Cast { to: DType::F16 },
        &[&x],
        lty(DType::F16, &[3]),
    );
    assert_eq!(f(&out), vec![65504.0, f32::INFINITY, 1.0]);
    // f32 -> bf16: 1 + 2^-8 is a tie -> 1.
    let x = f32t(&[2], &[1.00390625, -3.0]);
    let out = run(
        OpKind::Cast { to: DType::BF16 },
        &[&x],
        lty(DType::BF16, &[2]),
    );
    assert_eq!(f(&out), vec![1.0, -3.0]);
    // bool -> f32 and i32.
    let mask = Tensor::from_bool(vec![2], vec![true, false]).unwrap();
    let out = run(
        OpKind::Cast { to: DType::F32 },
        &[&mask],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![1.0, 0.0]);
    let out = run(
        OpKind::Cast { to: DType::I32 },
        &[&mask],
        lty(DType::I32, &[2]),
    );
    assert_eq!(i(&out), vec![1, 0]);
    // i32 -> f32 rounds to nearest even: 2^24 + 1 is a tie between 2^24 and 2^24 + 2.
    let x = i32t(&[2], &[16_777_217, -3]);
    let out = run(
        OpKind::Cast { to: DType::F32 },
        &[&x],
        lty(DType::F32, &[2]),
    );
    assert_eq!(f(&out), vec![16_777_216.0, -3.0]);
}

#[test]
fn compare_broadcasts_and_treats_nan_as_unordered() {
    let a = f32t(&[2, 2], &[1.0, 2.0, 3.0, f32::NAN]);
    let b = f32t(&[2], &[2.0, 2.0]);
    let r = |op| {
        let out = run(OpKind::Compare(op), &[&a, &b], lty(DType::Bool, &[2, 2]));
        assert_eq!(out.dtype, DType::Bool);
        out.as_bool().unwrap().to_vec()
    };
    assert_eq!(r(CmpOp::Eq), vec![false, true, false, false]);
    assert_eq!(r(CmpOp::Ne), vec![true, false, true, true]);
    assert_eq!(r(CmpOp::Lt), vec![true, false, false, false]);
    assert_eq!(r(CmpOp::Le), vec![true, true, false, false]);
    assert_eq!(r(CmpOp::Gt), vec![false, false, true, false]);
    assert_eq!(r(CmpOp::Ge), vec![false, true, true, false]);
    let x = i32t(&[3], &[-1, 0, 1]);
    let zero = i32t(&[], &[0]);
    let out = run(
        OpKind::Compare(CmpOp::Ge),
        &[&x, &zero],
        lty(DType::Bool, &[3]),
    );
    assert_eq!(out.as_bool().unwrap(), &[false, true, true]);
}

#[test]
fn select_broadcasts_all_three_operands() {
    // cond (2, 1) picks whole rows: row 0 from a, row 1 from the scalar b.
    let cond = Tensor::from_bool(vec![2, 1], vec![true, false]).unwrap();
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[], &[-1.0]);
    let out = run(OpKind::Select, &[&cond, &a, &b], lty(DType::F32, &[2, 3]));
    assert_eq!(f(&out), vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    // Same shapes, i32.
    let cond = Tensor::from_bool(vec![3], vec![false, true, false]).unwrap();
    let a = i32t(&[3], &[1, 2, 3]);
    let b = i32t(&[3], &[7, 8, 9]);
    let out = run(OpKind::Select, &[&cond, &a, &b], lty(DType::I32, &[3]));
    assert_eq!(i(&out), vec![7, 2, 9]);
    // The condition must be bool.
    let msg = run_err(OpKind::Select, &[&a, &a, &b], vec![lty(DType::I32, &[3])]);
    assert_contains(
        &msg,
        &[
            "`select`",
            "operand 0 (`cond`) has dtype i32, expected bool",
        ],
    );
}

#[test]
fn constants_round_once_to_their_dtype() {
    // 0.1 = 1.6 * 2^-4; 1.6 * 128 = 204.8 -> 205, so bf16(0.1) = 205/128 / 16 = 0.10009765625.
    // 1 + 2^-8 + 2^-40 is just above a bf16 tie: it must round up to 1.0078125 (a conversion that
    // dropped the low bits of the f64 would see an exact tie and give 1).
    let c = |value: f64, dtype: DType| {
        let mut b = Builder::new("c");
        let v = b.op1(OpKind::Const { value, dtype }, &[], lty(dtype, &[]));
        let k = b.finish(&[v]);
        eval(&k, &[])
    };
    assert_eq!(f(&c(0.1, DType::BF16).unwrap()[0]), vec![0.10009765625]);
    assert_eq!(
        f(&c(1.0 + 2f64.powi(-8) + 2f64.powi(-40), DType::BF16).unwrap()[0]),
        vec![1.0078125]
    );
    assert_eq!(f(&c(0.1, DType::F32).unwrap()[0]), vec![0.1f32]);
    assert_eq!(i(&c(-3.0, DType::I32).unwrap()[0]), vec![-3]);
    let msg = c(2.5, DType::I32).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["`const`", "attribute `value`: 2.5 is not an i32 value"],
    );
}
