//! Tests of the evaluation driver: input checks, dim binding, errors, empty tensors, random inputs.

use super::*;
use crate::graph::{
    ArgOp, BinaryOp, CmpOp, Constraint, ConstraintKind, ReduceOp, RoutesType, UnaryOp,
};
use crate::interp::{bind_dims, random_inputs, round_to, zero_inputs, SplitMix64, TensorData};

/// `y = x + b` with `x: f32[T, E]`, `b: f32[E]`, `E` static (bound to 4 when `specialized`).
fn add_kernel(specialized: bool) -> Kernel {
    let mut b = Builder::new("add");
    let e = b.k.add_sym("E", SymKind::Static);
    let t = b.dyn_sym("T");
    if specialized {
        b.k.bound.push((crate::Symbol::intern("E"), 4));
    }
    let x = b.param("x", DType::F32, vec![Dim::sym(t), Dim::sym(e)]);
    let bias = b.param("bias", DType::F32, vec![Dim::sym(e)]);
    let y = b.op1(
        OpKind::Binary(BinaryOp::Add),
        &[x, bias],
        ty(DType::F32, vec![Dim::sym(t), Dim::sym(e)]),
    );
    b.finish(&[y])
}

#[test]
fn evaluates_with_dynamic_and_bound_static_dims() {
    let k = add_kernel(true);
    let x = f32t(&[2, 4], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    let bias = f32t(&[4], &[10.0, 20.0, 30.0, 40.0]);
    let out = eval(&k, &[x.clone(), bias.clone()]).unwrap();
    assert_eq!(
        f(&out[0]),
        vec![10.0, 21.0, 32.0, 43.0, 14.0, 25.0, 36.0, 47.0]
    );
    let t = k.sym_by_name("T").unwrap();
    assert_eq!(bind_dims(&k, &[x, bias]).unwrap(), vec![(t, 2)]);
}

#[test]
fn unspecialized_kernels_are_refused() {
    let k = add_kernel(false);
    let err = eval(&k, &[f32t(&[1, 4], &[0.0; 4]), f32t(&[4], &[0.0; 4])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `add` is not specialized: static dims `E` have no value (specialize it first)"
    );
}

#[test]
fn input_count_dtype_rank_and_dim_errors() {
    let k = add_kernel(true);
    let err = eval(&k, &[f32t(&[1, 4], &[0.0; 4])]).unwrap_err();
    assert_eq!(err.to_string(), "kernel `add` takes 2 inputs, found 1");
    let err = eval(&k, &[i32t(&[1, 4], &[0; 4]), f32t(&[4], &[0.0; 4])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 0 (`x`): expected dtype f32, found i32"
    );
    let err = eval(&k, &[f32t(&[4], &[0.0; 4]), f32t(&[4], &[0.0; 4])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 0 (`x`): expected rank 2 (`f32[T, E]`), found rank 1 (shape [4])"
    );
    let err = eval(&k, &[f32t(&[1, 4], &[0.0; 4]), f32t(&[5], &[0.0; 5])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`bias`): axis 0 is `E` = 4, found 5"
    );
    // Data that does not fit the tensor's own shape.
    let bad = Tensor {
        dtype: DType::F32,
        shape: vec![1, 4],
        data: crate::interp::TensorData::F32(vec![0.0; 3]),
    };
    let err = eval(&k, &[bad, f32t(&[4], &[0.0; 4])]).unwrap_err();
    assert_contains(
        &err.to_string(),
        &[
            "input 0 (`x`)",
            "holds 3 f32 values, which does not fit dtype f32 and shape [1, 4]",
        ],
    );
}

#[test]
fn a_dynamic_dim_bound_twice_differently_names_both_parameters() {
    let mut b = Builder::new("two");
    let t = b.dyn_sym("T");
    let x = b.param("x", DType::F32, vec![Dim::sym(t)]);
    let y = b.param("y", DType::F32, vec![Dim::sym(t)]);
    let z = b.op1(
        OpKind::Binary(BinaryOp::Mul),
        &[x, y],
        ty(DType::F32, vec![Dim::sym(t)]),
    );
    let k = b.finish(&[z]);
    let err = eval(&k, &[f32t(&[5], &[1.0; 5]), f32t(&[6], &[1.0; 6])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`y`): axis 0 is `T` = 5 (T = 5 bound by `x` axis 0), found 6"
    );
}

#[test]
fn dims_given_as_expressions_are_solved_and_checked() {
    // x: f32[2*T + 1], y: f32[T, 3*T]: x of length 7 gives T = 3, then y must be (3, 9).
    let mut b = Builder::new("expr");
    let t = b.dyn_sym("T");
    let two_t_plus_one = Dim::add(&Dim::mul(&Dim::lit(2), &Dim::sym(t)), &Dim::lit(1));
    let three_t = Dim::mul(&Dim::lit(3), &Dim::sym(t));
    let x = b.param("x", DType::F32, vec![two_t_plus_one]);
    let y = b.param("y", DType::F32, vec![Dim::sym(t), three_t]);
    let s = b.op1(
        OpKind::Reduce {
            op: ReduceOp::Sum,
            axis: 0,
            keep_dim: false,
        },
        &[x],
        lty(DType::F32, &[]),
    );
    let k = b.finish(&[s, y]);
    let bound = bind_dims(&k, &[f32t(&[7], &[1.0; 7]), f32t(&[3, 9], &[0.0; 27])]).unwrap();
    assert_eq!(bound, vec![(t, 3)]);
    let err = bind_dims(&k, &[f32t(&[7], &[1.0; 7]), f32t(&[3, 8], &[0.0; 24])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`y`): axis 1 is `3*T` = 9 (T = 3 bound by `y` axis 0), found 8"
    );
    // An even length has no solution of 2*T + 1 and T is not bound otherwise.
    let err = bind_dims(&k, &[f32t(&[6], &[1.0; 6]), f32t(&[3, 9], &[0.0; 27])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 0 (`x`): axis 0 is `2*T + 1` = 7 (T = 3 bound by `y` axis 0), found 6"
    );
}

#[test]
fn constraints_are_checked_with_the_bound_dims() {
    // The same kernel as `add_kernel`, with the constraint "2 divides T".
    let mut k = add_kernel(true);
    let t = k.sym_by_name("T").unwrap();
    k.constraints.push(Constraint {
        kind: ConstraintKind::Divides {
            dim: Dim::sym(t),
            divisor: Dim::lit(2),
        },
        loc: SrcLoc {
            line: 4,
            col: 9,
            end_line: 4,
            end_col: 20,
        },
        reason: "tokens come in pairs".to_string(),
    });
    assert!(eval(&k, &[f32t(&[2, 4], &[0.0; 8]), f32t(&[4], &[0.0; 4])]).is_ok());
    let err = eval(&k, &[f32t(&[3, 4], &[0.0; 12]), f32t(&[4], &[0.0; 4])]).unwrap_err();
    assert!(matches!(err, EvalError::Constraint(_)), "{err:?}");
    assert_contains(
        &err.to_string(),
        &[
            "`2 divides T` at 4:9",
            "does not hold: tokens come in pairs",
            "T = 3",
        ],
    );
}

#[test]
fn op_errors_name_the_op_its_location_and_the_operand() {
    let mut b = Builder::new("g");
    let src = b.param("src", DType::F32, lits(&[2]));
    let index = b.param("index", DType::I32, lits(&[2]));
    let loc = SrcLoc {
        line: 3,
        col: 17,
        end_line: 3,
        end_col: 40,
    };
    let out = b.k.push_op(
        OpKind::ScatterAdd { size: Dim::lit(3) },
        vec![src, index],
        vec![lty(DType::F32, &[3])],
        loc,
    )[0];
    let k = b.finish(&[out]);
    let err = eval(&k, &[f32t(&[2], &[1.0, 2.0]), i32t(&[2], &[1, 7])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "in `scatter_add` (op2 at 3:17): operand 1 (`index`): index 7 at position [1] is outside 0..3"
    );
}

#[test]
fn results_are_checked_against_their_declared_types() {
    // The declared result says f32[3], but adding two [2] tensors gives [2].
    let a = f32t(&[2], &[1.0, 2.0]);
    let msg = run_err(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &a],
        vec![lty(DType::F32, &[3])],
    );
    assert_eq!(
        msg,
        "in `add` (op2): result 0 is f32[2], but its declared type `f32[3]` is f32[3]"
    );
    let msg = run_err(
        OpKind::Binary(BinaryOp::Add),
        &[&a, &a],
        vec![lty(DType::BF16, &[2])],
    );
    assert_contains(
        &msg,
        &["result 0 is f32[2], but its declared type `bf16[2]` is bf16[2]"],
    );
}

#[test]
fn malformed_kernels_are_errors_not_panics() {
    // A use before definition: the op list is reordered by hand.
    let mut b = Builder::new("bad");
    let x = b.param("x", DType::F32, lits(&[1]));
    let y = b.op1(OpKind::Unary(UnaryOp::Neg), &[x], lty(DType::F32, &[1]));
    let z = b.op1(OpKind::Unary(UnaryOp::Neg), &[y], lty(DType::F32, &[1]));
    let mut k = b.finish(&[z]);
    k.order.swap(1, 2);
    let err = eval(&k, &[f32t(&[1], &[1.0])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `bad` is malformed: op2 uses v1 before it is defined"
    );
    // A routing table as an output.
    let mut b = Builder::new("bad2");
    let ids = b.param("ids", DType::I32, lits(&[1, 1]));
    let routes_ty = Type::Routes(RoutesType {
        tokens: Dim::lit(1),
        k: Dim::lit(1),
        experts: Dim::lit(2),
    });
    let r = b.op1(
        OpKind::Route {
            experts: Dim::lit(2),
        },
        &[ids],
        routes_ty,
    );
    let k = b.finish(&[r]);
    let err = eval(&k, &[i32t(&[1, 1], &[0])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `bad2` is malformed: output `out0` (v1) is a routing table, not a tensor"
    );
    // Wrong operand count and kind.
    let x = f32t(&[1], &[1.0]);
    let msg = run_err(OpKind::MatMul, &[&x], vec![lty(DType::F32, &[1])]);
    assert_contains(&msg, &["`matmul`", "expected 2 operands, found 1"]);
}

/// A kernel over a dynamic `T` that uses every op kind, for the empty-tensor test.
fn every_op_kernel() -> Kernel {
    let mut b = Builder::new("every_op");
    let t = b.dyn_sym("T");
    let ts = Dim::sym(t);
    let two_t = Dim::mul(&Dim::lit(2), &ts);
    let tdims = |rest: &[usize]| {
        let mut d = vec![ts.clone()];
        d.extend(lits(rest));
        d
    };
    let f32ty = |dims: Vec<Dim>| ty(DType::F32, dims);
    let x = b.param("x", DType::F32, tdims(&[8]));
    let ids = b.param("ids", DType::I32, tdims(&[2]));
    let w = b.param("w", DType::F32, lits(&[4, 8, 6]));
    let weights = b.param("weights", DType::F32, tdims(&[2]));
    let table = b.param("table", DType::F32, lits(&[8, 8]));
    let norm_w = b.param("norm_w", DType::F32, lits(&[8]));

    let sm = b.op1(OpKind::Softmax { axis: 1 }, &[x], f32ty(tdims(&[8])));
    let ls = b.op1(OpKind::LogSoftmax { axis: 1 }, &[x], f32ty(tdims(&[8])));
    let gk = b.op(
        OpKind::GroupTopK {
            groups: Dim::lit(4),
            k: Dim::lit(1),
        },
        &[sm],
        vec![f32ty(tdims(&[4])), ty(DType::I32, tdims(&[4]))],
    );
    let tk = b.op(
        OpKind::TopK { k: Dim::lit(3) },
        &[ls],
        vec![f32ty(tdims(&[3])), ty(DType::I32, tdims(&[3]))],
    );
    let g = b.op1(OpKind::Gather, &[table, gk[1]], f32ty(tdims(&[4, 8])));
    let gs = b.op1(
        OpKind::Reduce {
            op: ReduceOp::Sum,
            axis: 1,
            keep_dim: false,
        },
        &[g],
        f32ty(tdims(&[8])),
    );
    let am = b.op1(
        OpKind::ArgReduce {
            op: ArgOp::ArgMax,
            axis: 1,
            keep_dim: true,
        },
        &[x],
        ty(DType::I32, tdims(&[1])),
    );
    let routes_ty = Type::Routes(RoutesType {
        tokens: ts.clone(),
        k: Dim::lit(2),
        experts: Dim::lit(4),
    });
    let r = b.op1(
        OpKind::Route {
            experts: Dim::lit(4),
        },
        &[ids],
        routes_ty,
    );
    let d = b.op1(
        OpKind::Dispatch,
        &[x, r],
        f32ty(vec![two_t.clone(), Dim::lit(8)]),
    );
    let gm = b.op1(
        OpKind::GroupedMatmul,
        &[d, w, r],
        f32ty(vec![two_t.clone(), Dim::lit(6)]),
    );
    let sw = b.op1(OpKind::Swiglu, &[gm], f32ty(vec![two_t, Dim::lit(3)]));
    let c = b.op1(OpKind::Combine, &[sw, r, weights], f32ty(tdims(&[3])));
    let tt = b.op1(
        OpKind::Transpose { perm: vec![1, 0] },
        &[table],
        lty(DType::F32, &[8, 8]),
    );
    let mm = b.op1(OpKind::MatMul, &[x, tt], f32ty(tdims(&[8])));
    let rn = b.op1(
        OpKind::RmsNorm { eps: 1e-5 },
        &[x, norm_w],
        f32ty(tdims(&[8])),
    );
    let cat = b.op1(OpKind::Concat { axis: 1 }, &[gs, rn], f32ty(tdims(&[16])));
    let sl = b.op1(
        OpKind::Slice {
            axis: 1,
            start: Dim::lit(4),
            end: Dim::lit(12),
        },
        &[cat],
        f32ty(tdims(&[8])),
    );
    let am_flat = b.op1(
        OpKind::Reshape {
            shape: vec![ts.clone()],
        },
        &[am],
        ty(DType::I32, vec![ts.clone()]),
    );
    let sa = b.op1(
        OpKind::ScatterAdd { size: Dim::lit(8) },
        &[sl, am_flat],
        lty(DType::F32, &[8, 8]),
    );
    let zero = b.op1(
        OpKind::Const {
            value: 0.0,
            dtype: DType::F32,
        },
        &[],
        lty(DType::F32, &[]),
    );
    let mask = b.op1(
        OpKind::Compare(CmpOp::Gt),
        &[x, zero],
        ty(DType::Bool, tdims(&[8])),
    );
    let ex = b.op1(OpKind::Unary(UnaryOp::Exp), &[x], f32ty(tdims(&[8])));
    let sel = b.op1(OpKind::Select, &[mask, ex, zero], f32ty(tdims(&[8])));
    let bf = b.op1(
        OpKind::Cast { to: DType::BF16 },
        &[sel],
        ty(DType::BF16, tdims(&[8])),
    );
    let mean = b.op1(
        OpKind::Reduce {
            op: ReduceOp::Mean,
            axis: 0,
            keep_dim: false,
        },
        &[x],
        lty(DType::F32, &[8]),
    );
    let sum = b.op1(
        OpKind::Binary(BinaryOp::Add),
        &[mean, norm_w],
        lty(DType::F32, &[8]),
    );
    b.finish(&[gk[0], tk[1], c, mm, sa, bf, sum])
}

#[test]
fn every_op_works_on_zero_tokens() {
    let k = every_op_kernel();
    let inputs = random_inputs(&k, 7, &[("T", 0)]).unwrap();
    assert_eq!(inputs[0].shape, vec![0, 8]);
    let out = eval(&k, &inputs).unwrap();
    let shapes: Vec<Vec<usize>> = out.iter().map(|t| t.shape.clone()).collect();
    assert_eq!(
        shapes,
        vec![
            vec![0, 4],
            vec![0, 3],
            vec![0, 3],
            vec![0, 8],
            vec![8, 8],
            vec![0, 8],
            vec![8]
        ]
    );
    // Nothing scattered: zeros. The mean over no tokens is NaN, plus the weight stays NaN.
    assert_eq!(f(&out[4]), vec![0.0; 64]);
    assert!(f(&out[6]).iter().all(|v| v.is_nan()));
}

#[test]
fn zero_inputs_have_the_shapes_and_dtypes_of_random_inputs_and_hold_zeros() {
    let k = every_op_kernel();
    let random = random_inputs(&k, 7, &[("T", 5)]).unwrap();
    let zeros = zero_inputs(&k, &[("T", 5)]).unwrap();
    assert_eq!(random.len(), zeros.len());
    for (r, z) in random.iter().zip(&zeros) {
        assert_eq!((r.dtype, &r.shape), (z.dtype, &z.shape));
        assert_eq!(z, &Tensor::zeros(r.dtype, r.shape.clone()));
    }
    assert!(zero_inputs(&k, &[("X", 5)]).is_err());
}

#[test]
fn every_op_works_on_a_few_tokens() {
    let k = every_op_kernel();
    let mut inputs = random_inputs(&k, 11, &[("T", 3)]).unwrap();
    // Expert ids must be below 4 for this kernel.
    inputs[1] = i32t(&[3, 2], &[3, 0, 1, 1, 2, 3]);
    let out = eval(&k, &inputs).unwrap();
    let shapes: Vec<Vec<usize>> = out.iter().map(|t| t.shape.clone()).collect();
    assert_eq!(
        shapes,
        vec![
            vec![3, 4],
            vec![3, 3],
            vec![3, 3],
            vec![3, 8],
            vec![8, 8],
            vec![3, 8],
            vec![8]
        ]
    );
    // group_topk picks softmax probabilities, which lie in (0, 1].
    let probs = f(&out[0]);
    assert!(probs.iter().all(|&p| p > 0.0 && p <= 1.0));
}

#[test]
fn random_inputs_are_deterministic_and_in_range() {
    let k = every_op_kernel();
    let a = random_inputs(&k, 42, &[("T", 5)]).unwrap();
    let b = random_inputs(&k, 42, &[("T", 5)]).unwrap();
    let c = random_inputs(&k, 43, &[("T", 5)]).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a[0].shape, vec![5, 8]);
    assert_eq!(a[2].shape, vec![4, 8, 6]);
    assert!(f(&a[0]).iter().all(|&v| (-2.0..2.0).contains(&v)));
    assert!(i(&a[1]).iter().all(|&v| (0..8).contains(&v)));
    // Over 240 draws in [-2, 2), both halves are hit.
    let w = f(&a[2]);
    assert!(w.iter().any(|&v| v < -1.0) && w.iter().any(|&v| v > 1.0));
}

#[test]
fn random_inputs_round_to_the_dtype() {
    let mut b = Builder::new("r");
    let x = b.param("x", DType::BF16, lits(&[64]));
    let k = b.finish(&[x]);
    let inputs = random_inputs(&k, 1, &[]).unwrap();
    let v = f(&inputs[0]);
    assert!(v
        .iter()
        .all(|&e| round_to(DType::BF16, e) == e && (-2.0..=2.0).contains(&e)));
}

#[test]
fn random_inputs_dim_errors() {
    let k = every_op_kernel();
    let err = random_inputs(&k, 0, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dynamic dim `T` is not determined by any input shape"
    );
    let err = random_inputs(&k, 0, &[("T", 1), ("N", 2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `every_op` has no dynamic dim `N` (its dynamic dims: `T`)"
    );
    let err = random_inputs(&k, 0, &[("T", -1)]).unwrap_err();
    assert_eq!(err.to_string(), "dynamic dim `T`: -1 is negative");
    let err = random_inputs(&add_kernel(false), 0, &[("T", 1)]).unwrap_err();
    assert_contains(&err.to_string(), &["not specialized"]);
}

#[test]
fn splitmix64_matches_its_reference_sequence() {
    // splitmix64 seeded with 0: the published first outputs of the reference C implementation.
    let mut rng = SplitMix64::new(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    let mut rng = SplitMix64::new(5);
    for _ in 0..1000 {
        assert!(rng.below(8) < 8);
        let u = rng.next_unit();
        assert!((0.0..1.0).contains(&u));
    }
}

/// The MoGE FFN layer (gate, routing, grouped experts, combine, shared expert), built by hand.
pub(crate) fn ffn_kernel(
    h: usize,
    e: usize,
    g: usize,
    inter: usize,
    shared: usize,
    dtype: DType,
) -> Kernel {
    let mut b = Builder::new("moge_ffn");
    let t = b.dyn_sym("T");
    let ts = Dim::sym(t);
    let td = |n: usize| ty(dtype, vec![ts.clone(), Dim::lit(n as i64)]);
    let rows = |n: usize| {
        ty(
            dtype,
            vec![Dim::mul(&Dim::lit(g as i64), &ts), Dim::lit(n as i64)],
        )
    };
    let x = b.param("x", dtype, vec![ts.clone(), Dim::lit(h as i64)]);
    let w_gate = b.param("w_gate", dtype, lits(&[h, e]));
    let router_scale = b.param("router_scale", dtype, lits(&[e]));
    let w13 = b.param("w13", dtype, lits(&[e, h, 2 * inter]));
    let w2 = b.param("w2", dtype, lits(&[e, inter, h]));
    let ws13 = b.param("ws13", dtype, lits(&[h, 2 * shared]));
    let ws2 = b.param("ws2", dtype, lits(&[shared, h]));
    let logits = b.op1(OpKind::MatMul, &[x, w_gate], td(e));
    let probs = b.op1(OpKind::Softmax { axis: 1 }, &[logits], td(e));
    let top = b.op(
        OpKind::GroupTopK {
            groups: Dim::lit(g as i64),
            k: Dim::lit(1),
        },
        &[probs],
        vec![td(g), ty(DType::I32, vec![ts.clone(), Dim::lit(g as i64)])],
    );
    let scale = b.op1(OpKind::Gather, &[router_scale, top[1]], td(g));
    let weight = b.op1(OpKind::Binary(BinaryOp::Mul), &[top[0], scale], td(g));
    let routes_ty = Type::Routes(RoutesType {
        tokens: ts.clone(),
        k: Dim::lit(g as i64),
        experts: Dim::lit(e as i64),
    });
    let routes = b.op1(
        OpKind::Route {
            experts: Dim::lit(e as i64),
        },
        &[top[1]],
        routes_ty,
    );
    let xd = b.op1(OpKind::Dispatch, &[x, routes], rows(h));
    let h13 = b.op1(OpKind::GroupedMatmul, &[xd, w13, routes], rows(2 * inter));
    let act = b.op1(OpKind::Swiglu, &[h13], rows(inter));
    let y = b.op1(OpKind::GroupedMatmul, &[act, w2, routes], rows(h));
    let routed = b.op1(OpKind::Combine, &[y, routes, weight], td(h));
    let sh = b.op1(OpKind::MatMul, &[x, ws13], td(2 * shared));
    let sact = b.op1(OpKind::Swiglu, &[sh], td(shared));
    let so = b.op1(OpKind::MatMul, &[sact, ws2], td(h));
    let out = b.op1(OpKind::Binary(BinaryOp::Add), &[routed, so], td(h));
    b.finish(&[out, top[1]])
}

#[test]
fn moge_ffn_layer_at_small_config_evaluates() {
    let k = ffn_kernel(256, 16, 4, 64, 128, DType::BF16);
    let inputs = random_inputs(&k, 3, &[("T", 128)]).unwrap();
    // Its speed is measured by the benchmarks, not asserted here (wall-clock time is not a test).
    let out = eval(&k, &inputs).unwrap();
    assert_eq!(out[0].shape, vec![128, 256]);
    // One expert per group of 4: token t's pick in group g lies in 4g..4g+4.
    for (p, &e) in i(&out[1]).iter().enumerate() {
        let group = (p % 4) as i32;
        assert!(
            (4 * group..4 * group + 4).contains(&e),
            "slot {p}: expert {e}"
        );
    }
}

#[test]
fn errors_stay_small() {
    // Results carry the error inline; the op error is boxed to keep this small.
    assert!(
        std::mem::size_of::<EvalError>() <= 128,
        "{}",
        std::mem::size_of::<EvalError>()
    );
}

#[test]
fn the_hand_built_kernels_pass_the_verifier() {
    // The result types in these tests are written by hand; the verifier re-derives them.
    for k in [
        every_op_kernel(),
        ffn_kernel(16, 8, 4, 4, 8, DType::BF16),
        add_kernel(false),
    ] {
        if let Err(errors) = crate::graph::verify::verify(&k) {
            panic!("{}", crate::graph::verify::kernel_with_errors(&k, &errors));
        }
    }
}

#[test]
fn evaluates_a_kernel_specialized_by_specialize() {
    // `specialize` removes the bound static symbols; the kernel then evaluates like any other.
    let k = add_kernel(false).specialize(&[("E", 2)]).unwrap();
    let out = eval(&k, &[f32t(&[1, 2], &[1.0, 2.0]), f32t(&[2], &[0.5, 0.25])]).unwrap();
    assert_eq!(f(&out[0]), vec![1.5, 2.25]);
    let err = eval(&k, &[f32t(&[1, 3], &[0.0; 3]), f32t(&[2], &[0.0; 2])]).unwrap_err();
    assert_eq!(err.to_string(), "input 0 (`x`): axis 1 is 2, found 3");
}

#[test]
fn a_parameter_is_borrowed_when_rounded_and_rounded_on_entry_when_not() {
    use crate::interp::tensor::rounded;
    use std::borrow::Cow;
    // Already bf16 values (1 + 2^-7 and -3): the interpreter takes the caller's tensor as it is,
    // so a layer's weights are not copied.
    let exact = Tensor::from_f32(DType::BF16, vec![2], vec![1.0078125, -3.0]).unwrap();
    assert!(matches!(rounded(&exact), Cow::Borrowed(t) if std::ptr::eq(t, &exact)));
    // 1 + 2^-8 is halfway between the bf16 neighbours 1 and 1 + 2^-7: to even, 1. A tensor built
    // field by field is not rounded yet, so the interpreter rounds a copy and leaves the caller's.
    let raw = Tensor {
        dtype: DType::BF16,
        shape: vec![2],
        data: TensorData::F32(vec![1.00390625, -3.0]),
    };
    match rounded(&raw) {
        Cow::Owned(t) => assert_eq!(t.data, TensorData::F32(vec![1.0, -3.0])),
        Cow::Borrowed(_) => panic!("an unrounded bf16 tensor must be rounded"),
    }
    assert_eq!(raw.data, TensorData::F32(vec![1.00390625, -3.0]));
    // An f32 tensor never needs rounding.
    let wide = Tensor {
        dtype: DType::F32,
        shape: vec![1],
        data: TensorData::F32(vec![1.00390625]),
    };
    assert!(matches!(rounded(&wide), Cow::Borrowed(_)));
}

#[test]
fn counts_are_singular_only_for_one() {
    use crate::interp::counted;
    assert_eq!(counted(0, "input"), "0 inputs");
    assert_eq!(counted(1, "input"), "1 input");
    assert_eq!(counted(2, "input"), "2 inputs");
}
