//! Tests of the error bounds: every bound must hold against the exact result computed in f64 from the
//! op's formula, and must not be vacuous (it is compared with the documented size).

use super::*;
use crate::graph::{BinaryOp, ReduceOp, UnaryOp};
use crate::interp::{eval_with_bounds, half_ulp, ulp, Bound, SplitMix64, F32_UNIT};

fn elements(b: &Bound) -> &[f64] {
    match b {
        Bound::Elements(e) => e,
        Bound::NoRule(op) => panic!("no bound rule: {op}"),
    }
}

fn uniform(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale)
        .map(|x| x as f32)
        .collect()
}

#[test]
fn ulps_follow_the_formats() {
    // 1.0: an ulp of f32 is 2^-23, of bf16 2^-7, of f16 2^-10; just below 2 the same.
    assert_eq!(ulp(DType::F32, 1.0), f64::powi(2.0, -23));
    assert_eq!(ulp(DType::BF16, 1.5), f64::powi(2.0, -7));
    assert_eq!(ulp(DType::F16, 1.99), f64::powi(2.0, -10));
    // Subnormals: the spacing stays at the smallest one.
    assert_eq!(ulp(DType::F32, 1e-45), f64::powi(2.0, -149));
    assert_eq!(ulp(DType::F16, 1e-7), f64::powi(2.0, -24));
    assert_eq!(half_ulp(DType::I32, 3.0), 0.0);
}

#[test]
fn a_long_sum_stays_within_its_bound_of_the_exact_sum() {
    let mut rng = SplitMix64::new(11);
    let n = 1000;
    let data = uniform(&mut rng, 8 * n, 1.0);
    let x = f32t(&[8, n], &data);
    let kernel = single_op_kernel(
        OpKind::Reduce {
            op: ReduceOp::Sum,
            axis: 1,
            keep_dim: false,
        },
        &[&x],
        vec![lty(DType::F32, &[8])],
    );
    let (out, bounds) = eval_with_bounds(&kernel, &[x]).unwrap();
    let got = out[0].as_f32().unwrap();
    for (row, (&y, &b)) in data.chunks(n).zip(got.iter().zip(elements(&bounds[0]))) {
        let exact: f64 = row.iter().map(|&v| f64::from(v)).sum();
        let magnitude: f64 = row.iter().map(|&v| f64::from(v).abs()).sum();
        assert!(
            (f64::from(y) - exact).abs() <= b,
            "{y} vs {exact}, bound {b}"
        );
        // (n - 1) u sum|x| and two roundings of the result: no more.
        let documented = 999.0 * F32_UNIT * magnitude;
        assert!(b >= documented && b <= documented + 2.0 * half_ulp(DType::F32, f64::from(y)));
    }
}

#[test]
fn softmax_bounds_hold_and_are_relative() {
    let mut rng = SplitMix64::new(12);
    let n = 64;
    let data = uniform(&mut rng, 4 * n, 6.0);
    let x = f32t(&[4, n], &data);
    let kernel = single_op_kernel(
        OpKind::Softmax { axis: 1 },
        &[&x],
        vec![lty(DType::F32, &[4, n])],
    );
    let (out, bounds) = eval_with_bounds(&kernel, &[x]).unwrap();
    let got = out[0].as_f32().unwrap();
    let b = elements(&bounds[0]);
    for (r, row) in data.chunks(n).enumerate() {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - m).exp()).sum();
        for (i, &v) in row.iter().enumerate() {
            let exact = (f64::from(v) - m).exp() / sum;
            let at = r * n + i;
            assert!((f64::from(got[at]) - exact).abs() <= b[at]);
            // A few hundred ulps at most: (n + |x - m| + ulps) u relative.
            assert!(
                b[at] <= exact * 300.0 * F32_UNIT + 1e-40,
                "{} vs {exact}",
                b[at]
            );
        }
    }
}

#[test]
fn elementwise_chains_move_bounds_through_the_derivatives() {
    // y = exp(a * b - c) / d on values where every rule is exercised; the bound must cover the error
    // against the f64 formula.
    let mut rng = SplitMix64::new(13);
    let n = 256;
    let (a, b, c, d) = (
        uniform(&mut rng, n, 3.0),
        uniform(&mut rng, n, 3.0),
        uniform(&mut rng, n, 1.0),
        uniform(&mut rng, n, 2.0),
    );
    let mut k = Builder::new("chain");
    let ps: Vec<Value> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| k.param(name, DType::F32, lits(&[n])))
        .collect();
    let t = lty(DType::F32, &[n]);
    let ab = k.op1(OpKind::Binary(BinaryOp::Mul), &[ps[0], ps[1]], t.clone());
    let e = k.op1(OpKind::Binary(BinaryOp::Sub), &[ab, ps[2]], t.clone());
    let x = k.op1(OpKind::Unary(UnaryOp::Exp), &[e], t.clone());
    let y = k.op1(OpKind::Binary(BinaryOp::Div), &[x, ps[3]], t.clone());
    let h = k.op1(
        OpKind::Cast { to: DType::BF16 },
        &[y],
        lty(DType::BF16, &[n]),
    );
    let kernel = k.finish(&[y, h]);
    let inputs: Vec<Tensor> = [&a, &b, &c, &d].iter().map(|v| f32t(&[n], v)).collect();
    let (out, bounds) = eval_with_bounds(&kernel, &inputs).unwrap();
    for (o, dtype) in [(0, DType::F32), (1, DType::BF16)] {
        let got = out[o].as_f32().unwrap();
        let bound = elements(&bounds[o]);
        for i in 0..n {
            let exact =
                (f64::from(a[i]) * f64::from(b[i]) - f64::from(c[i])).exp() / f64::from(d[i]);
            assert!(
                (f64::from(got[i]) - exact).abs() <= bound[i],
                "{dtype}: {} vs {exact}, bound {}",
                got[i],
                bound[i]
            );
        }
    }
}

#[test]
fn selections_move_the_bound_of_the_picked_element_and_indices_are_exact() {
    // topk of exp(x): the values' bounds are those of the picked elements.
    let x = f32t(&[1, 4], &[0.5, 2.0, -1.0, 1.0]);
    let mut k = Builder::new("pick");
    let p = k.param("x", DType::F32, lits(&[1, 4]));
    let e = k.op1(OpKind::Unary(UnaryOp::Exp), &[p], lty(DType::F32, &[1, 4]));
    let r = k.op(
        OpKind::TopK { k: Dim::lit(2) },
        &[e],
        vec![lty(DType::F32, &[1, 2]), lty(DType::I32, &[1, 2])],
    );
    let kernel = k.finish(&[e, r[0], r[1]]);
    let (_, bounds) = eval_with_bounds(&kernel, &[x]).unwrap();
    let (all, top, at) = (
        elements(&bounds[0]),
        elements(&bounds[1]),
        elements(&bounds[2]),
    );
    // exp(2) at index 1 and exp(1) at index 3.
    assert_eq!(top, &[all[1], all[3]]);
    assert!(top[0] > 0.0);
    assert_eq!(at, &[0.0, 0.0]);
}

#[test]
fn ops_without_a_rule_taint_what_they_feed() {
    let a = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let mut k = Builder::new("tr");
    let p = k.param("a", DType::F32, lits(&[2, 2]));
    let m = k.op1(
        OpKind::Transpose { perm: vec![1, 0] },
        &[p],
        lty(DType::F32, &[2, 2]),
    );
    let e = k.op1(OpKind::Unary(UnaryOp::Exp), &[m], lty(DType::F32, &[2, 2]));
    let kernel = k.finish(&[m, e, p]);
    let (_, bounds) = eval_with_bounds(&kernel, &[a]).unwrap();
    assert_eq!(bounds[0], Bound::NoRule("transpose"));
    assert_eq!(bounds[1], Bound::NoRule("transpose"));
    // A parameter returned as it is has no error at all.
    assert_eq!(bounds[2], Bound::Elements(vec![0.0; 4]));
}

#[test]
fn sums_whose_magnitudes_overflow_are_marked_order_dependent() {
    // Generated rows: two or more values near +-f32::MAX/1.2 (the magnitudes exceed the range), or one
    // infinity among small values (inf in every order), or small values only.
    let mut rng = SplitMix64::new(5);
    let (rows, n) = (30, 8);
    let mut data = uniform(&mut rng, rows * n, 1.0);
    let mut kind = Vec::new();
    for (r, row) in data.chunks_mut(n).enumerate() {
        match r % 3 {
            0 => {
                row[0] = 2.8e38;
                row[1 + r % (n - 1)] = if r % 2 == 0 { -2.8e38 } else { 2.8e38 };
            }
            1 => row[r % n] = f32::INFINITY,
            _ => {}
        }
        kind.push(r % 3);
    }
    let x = f32t(&[rows, n], &data);
    for op in [ReduceOp::Sum, ReduceOp::Mean] {
        let kernel = single_op_kernel(
            OpKind::Reduce {
                op,
                axis: 1,
                keep_dim: false,
            },
            &[&x],
            vec![lty(DType::F32, &[rows])],
        );
        let (_, bounds) = eval_with_bounds(&kernel, std::slice::from_ref(&x)).unwrap();
        for (r, &b) in elements(&bounds[0]).iter().enumerate() {
            assert_eq!(b.is_infinite(), kind[r] == 0, "row {r}: {b}");
            assert!(!b.is_nan(), "row {r}");
        }
    }
    // Along the other axis: column 0 holds ten values of 2.8e38, whose magnitudes overflow too.
    let kernel = single_op_kernel(
        OpKind::Reduce {
            op: ReduceOp::Sum,
            axis: 0,
            keep_dim: false,
        },
        &[&x],
        vec![lty(DType::F32, &[n])],
    );
    let (_, bounds) = eval_with_bounds(&kernel, std::slice::from_ref(&x)).unwrap();
    assert!(elements(&bounds[0]).iter().any(|b| b.is_infinite()));
}
