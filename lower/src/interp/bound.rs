//! Error bounds computed alongside the interpreter's values: for every element of every result, a bound
//! `B` on `|computed - exact|` that holds for the interpreter and for any implementation that follows the
//! op semantics with `f32` arithmetic (the emitted kernels), whatever its summation order.
//!
//! The bound of a result is derived from its operands' values and bounds by one rule per op (the table
//! in [`propagate`]); `README.md` "Numeric rules" states them. Two implementations that each stay
//! within `B` of the exact value differ by at most `2 B`, which is what a comparison allows (plus one
//! unit in the last place of the output dtype, for the final rounding). The rules, with `u` the unit
//! roundoff of `f32` (2^-24) and `r(y)` the rounding of a result `y` to its dtype (half an ulp of `f32`,
//! plus half an ulp of a 16-bit dtype):
//!
//! - elementwise ops: first-order propagation of the operands' bounds (`|f'(x)| B`) plus `r(y)`, plus a
//!   few ulps for the device's approximations of transcendental functions ([`EXP_ULPS`] and friends);
//!   `maximum`, `minimum`, `relu`, `abs`, `neg`, `select`, `reshape` and `gather` move values, so they
//!   move bounds;
//! - `sum`: the operands' bounds plus `(n - 1) u sum|x|` (Higham's bound for any order of summation
//!   in which no partial sum overflows), `mean` the same divided by `n`; when the finite magnitudes
//!   can overflow `f32` the result depends on the order (`inf`, NaN or finite) and the bound is
//!   infinite ("overflow-dependent"), as is every bound computed from it;
//! - `softmax`, `log_softmax`, `rms_norm`: bounds of the same form through their definitions, with the
//!   row sums bounded as `sum`;
//! - `max`, `min`, `topk`/`group_topk` values: the bound of the selected element; indices, masks and
//!   `argmax`/`argmin` are exact: an input error that could flip a comparison or a near tie is not
//!   modelled, so such a flip shows as a mismatch;
//! - every other op (not lowered to the vector unit) has no rule: its results, and everything computed
//!   from them, are [`Bound::NoRule`], and a comparison falls back to the per-dtype table.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::elementwise::{sigmoid, Broadcast};
use super::moe::Routes;
use super::{Operand, Rt, Tensor, TensorData};
use crate::graph::{BinaryOp, DType, Kernel, Op, OpKind, ReduceOp, UnaryOp, Value};

/// Unit roundoff of `f32`: half an ulp of 1.
pub const F32_UNIT: f64 = 1.0 / 16_777_216.0;

/// Ulps of `f32` allowed for the device's `Exp` and `Ln` (an approximation on the NPU).
pub const EXP_ULPS: f64 = 4.0;

/// Ulps of `f32` allowed for `Sqrt`, `Rsqrt`, `Reciprocal` and `Div`.
pub const DIV_ULPS: f64 = 2.0;

/// Ulps of `f32` allowed for the composite activations `sigmoid`, `silu`, `tanh` (for `sigmoid` and
/// `tanh`, ulps of 1: an absolute error).
pub const ACTIVATION_ULPS: f64 = 8.0;

/// The error bound of one value.
#[derive(Clone, PartialEq, Debug)]
pub enum Bound {
    /// One bound per element (C order), in the value's units.
    Elements(Vec<f64>),
    /// The value depends on the result of an op without a bound rule (named).
    NoRule(&'static str),
}

/// Half an ulp of `dtype` at `y`, with the subnormal spacing as the floor (0 for `i32` and `bool`).
pub fn half_ulp(dtype: DType, y: f64) -> f64 {
    let (unit, min_spacing) = match dtype {
        DType::F32 => (F32_UNIT, f64::powi(2.0, -149)),
        DType::BF16 => (1.0 / 256.0, f64::powi(2.0, -133)),
        DType::F16 => (1.0 / 2048.0, f64::powi(2.0, -24)),
        DType::I32 | DType::Bool => return 0.0,
    };
    if !y.is_finite() {
        return 0.0;
    }
    // The ulp of y is 2^(exponent - precision + 1); half of it is unit * 2^exponent.
    let a = y.abs();
    let spacing = if a == 0.0 {
        min_spacing
    } else {
        (f64::powi(2.0, a.log2().floor() as i32) * unit * 2.0).max(min_spacing)
    };
    spacing / 2.0
}

/// One ulp of `dtype` at `y` (see [`half_ulp`]).
pub fn ulp(dtype: DType, y: f64) -> f64 {
    2.0 * half_ulp(dtype, y)
}

/// The rounding error of an `f32` computation whose result `y` is then rounded to `dtype`.
fn rounding(dtype: DType, y: f64) -> f64 {
    match dtype {
        DType::BF16 | DType::F16 => half_ulp(DType::F32, y) + half_ulp(dtype, y),
        _ => half_ulp(dtype, y),
    }
}

/// Whether an `f32` sum of `n` terms whose finite magnitudes add up to `magnitude` may overflow in some
/// order of summation: a partial sum is at most `magnitude` grown by `n - 1` roundings. Such a sum is
/// order-dependent (one order gives `inf`, another `inf - inf = NaN`, another a finite value), so its
/// bound is infinite: "overflow-dependent".
fn overflows(magnitude: f64, n: f64) -> bool {
    magnitude * (1.0 + (n - 1.0).max(0.0) * F32_UNIT) > f64::from(f32::MAX)
}

/// `b`, or 0 when it is not finite: in a rule that marks overflow with an infinite bound, any other
/// non-finite bound comes from a non-finite value that every implementation computes alike.
fn finite_or_zero(b: f64) -> f64 {
    if b.is_finite() {
        b
    } else {
        0.0
    }
}

/// A bound as the comparison reads it. An infinite bound means "overflow-dependent" (see
/// [`overflows`]), so it stays infinite only when it descends from such a sum (`unbounded`: an operand
/// has an infinite bound); otherwise an infinite or NaN bound comes from a rule evaluated at a
/// non-finite value (`exp(inf)`, `inf * 0`), which every implementation computes alike, and is taken as
/// 0: the comparison then demands equality, which non-finite values need anyway.
fn clean(b: f64, unbounded: bool) -> f64 {
    if b.is_finite() {
        b
    } else if unbounded {
        f64::INFINITY
    } else {
        0.0
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
    }
}

/// Collects the bounds of every value while the interpreter runs (see `super::eval_with_bounds`), and
/// drops a value's bound after its last use, as the interpreter drops the value.
pub(crate) struct Bounds {
    bounds: FxHashMap<Value, Bound>,
    /// For every value, the last op that uses it.
    last_use: FxHashMap<Value, Op>,
    /// The kernel's outputs, kept to the end.
    outputs: Vec<Value>,
}

impl Bounds {
    pub(crate) fn new(kernel: &Kernel) -> Bounds {
        let mut last_use = FxHashMap::default();
        for &op in &kernel.order {
            if let Some(data) = kernel.ops.get(op) {
                for &arg in &data.args {
                    last_use.insert(arg, op);
                }
            }
        }
        Bounds {
            bounds: FxHashMap::default(),
            last_use,
            outputs: kernel.outputs.iter().map(|o| o.value).collect(),
        }
    }

    /// The bound of `value`, a tensor of `len` elements (0 for values without a recorded bound).
    pub(crate) fn get(&self, value: Value, len: usize) -> Bound {
        self.bounds
            .get(&value)
            .cloned()
            .unwrap_or_else(|| Bound::Elements(vec![0.0; len]))
    }

    /// Records the bounds of the results of `op`, computed from its operands and results.
    pub(crate) fn observe(
        &mut self,
        kernel: &Kernel,
        op: Op,
        args: &[&Rt<'_>],
        results: &[Rt<'_>],
    ) {
        let data = &kernel.ops[op];
        // A parameter is exact: its bound is zero, which a missing bound stands for (`get`, and the
        // operands of `results`), so that no f64 copy is made of an input as large as a layer's
        // expert weights.
        if matches!(data.kind, OpKind::Param { .. }) {
            return;
        }
        let out = self.results(kernel, op, args, results);
        for (&value, bound) in data.results.iter().zip(out) {
            self.bounds.insert(value, bound);
        }
        for arg in &data.args {
            if self.last_use.get(arg) == Some(&op) && !self.outputs.contains(arg) {
                self.bounds.remove(arg);
            }
        }
    }

    fn results(&self, kernel: &Kernel, op: Op, args: &[&Rt<'_>], results: &[Rt<'_>]) -> Vec<Bound> {
        let data = &kernel.ops[op];
        // The tensor operands with their values; a routing table is exact and has no bound.
        let mut tensors: Vec<&Tensor> = Vec::with_capacity(args.len());
        let mut tensor_values: Vec<Value> = Vec::with_capacity(args.len());
        let mut routes = None;
        for (&v, rt) in data.args.iter().zip(args) {
            match rt {
                Rt::Tensor(t) => {
                    tensors.push(t.as_ref());
                    tensor_values.push(v);
                }
                Rt::Routes(r) => routes = Some(r),
            }
        }
        // Borrowed, not cloned: the operands' bounds can be as large as the interpreter's values.
        let mut arg_bounds: Vec<Cow<'_, [f64]>> = Vec::with_capacity(tensors.len());
        // The matrix products take an empty bound as all zeros: their weights are parameters (no
        // recorded bound) as large as a layer's experts, whose zeros would not fit in memory.
        let lazy = matches!(data.kind, OpKind::MatMul | OpKind::GroupedMatmul);
        for (&v, t) in tensor_values.iter().zip(&tensors) {
            match self.bounds.get(&v) {
                Some(Bound::Elements(e)) => arg_bounds.push(Cow::Borrowed(e)),
                Some(Bound::NoRule(name)) => return vec![Bound::NoRule(name); data.results.len()],
                None if lazy => arg_bounds.push(Cow::Borrowed(&[])),
                None => arg_bounds.push(Cow::Owned(vec![0.0; t.len()])),
            }
        }
        let result_tensors: Vec<&Tensor> = results
            .iter()
            .filter_map(|rt| match rt {
                Rt::Tensor(t) => Some(t.as_ref()),
                Rt::Routes(_) => None,
            })
            .collect();
        if result_tensors.len() != data.results.len() {
            // `route`: a routing table is exact (no bound is recorded for it).
            vec![Bound::Elements(vec![]); data.results.len()]
        } else {
            let unbounded = arg_bounds.iter().any(|b| b.iter().any(|x| x.is_infinite()));
            match propagate(&data.kind, &tensors, &arg_bounds, &result_tensors, routes) {
                Some(bounds) => bounds
                    .into_iter()
                    .map(|b| {
                        let own = b.iter().any(|x| x.is_infinite()) && overflow_rule(&data.kind);
                        Bound::Elements(
                            b.into_iter()
                                .map(|x| clean(x, unbounded || (own && x == f64::INFINITY)))
                                .collect(),
                        )
                    })
                    .collect(),
                None => vec![Bound::NoRule(data.kind.name()); data.results.len()],
            }
        }
    }
}

/// Whether the rule of `kind` marks an overflow-dependent sum with an infinite bound.
fn overflow_rule(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Reduce {
            op: ReduceOp::Sum | ReduceOp::Mean,
            ..
        } | OpKind::RmsNorm { .. }
    )
}

/// The rule table: the bounds of the results of an op of `kind` on `args` (with bounds `b`) giving
/// `res`, or `None` when the op has no rule.
fn propagate(
    kind: &OpKind,
    args: &[&Tensor],
    b: &[Cow<'_, [f64]>],
    res: &[&Tensor],
    routes: Option<&Routes>,
) -> Option<Vec<Vec<f64>>> {
    let b: Vec<&[f64]> = b.iter().map(|c| c.as_ref()).collect();
    let y = res.first().map(|t| values(t)).unwrap_or_default();
    let dtype = res.first()?.dtype;
    let one = |v: Vec<f64>| Some(vec![v]);
    match kind {
        OpKind::Param { .. } | OpKind::Const { .. } | OpKind::Compare(_) => {
            Some(res.iter().map(|t| vec![0.0; t.len()]).collect())
        }
        OpKind::Unary(u) => {
            let x = values(args[0]);
            one(x
                .iter()
                .zip(b[0].iter())
                .zip(&y)
                .map(|((&x, &bx), &y)| unary_bound(*u, x, bx, y) + rounding(dtype, y))
                .collect())
        }
        OpKind::Binary(op) => {
            let bc = Broadcast::new(&[
                (&args[0].shape, Operand::new(0, "a")),
                (&args[1].shape, Operand::new(1, "b")),
            ])
            .ok()?;
            let pa: Vec<(f64, f64)> = values(args[0])
                .into_iter()
                .zip(b[0].iter().copied())
                .collect();
            let pb: Vec<(f64, f64)> = values(args[1])
                .into_iter()
                .zip(b[1].iter().copied())
                .collect();
            let moved = bc.map2(&pa, &pb, |a, b| binary_bound(*op, a, b));
            one(moved
                .into_iter()
                .zip(&y)
                .map(|(m, &y)| match op {
                    BinaryOp::Max | BinaryOp::Min => m,
                    _ => m + rounding(dtype, y),
                })
                .collect())
        }
        OpKind::Cast { to } => {
            let x = values(args[0]);
            let from = args[0].dtype;
            one(x
                .iter()
                .zip(b[0].iter())
                .zip(&y)
                .map(|((_, &bx), &y)| match (from, *to) {
                    (DType::Bool, _) | (_, DType::Bool) => 0.0,
                    (_, DType::I32) if from != DType::I32 => {
                        // A truncation can move by one when an integer lies within the bound.
                        if bx > 0.0 {
                            bx.ceil()
                        } else {
                            0.0
                        }
                    }
                    (DType::I32, _) => bx + half_ulp(*to, y),
                    (_, DType::BF16 | DType::F16) if from != *to => bx + half_ulp(*to, y),
                    _ => bx,
                })
                .collect())
        }
        OpKind::Select => {
            let bc = Broadcast::new(&[
                (&args[0].shape, Operand::new(0, "cond")),
                (&args[1].shape, Operand::new(1, "a")),
                (&args[2].shape, Operand::new(2, "b")),
            ])
            .ok()?;
            let cond = args[0].as_bool()?;
            one(bc.map3(cond, b[1], b[2]))
        }
        OpKind::Reshape { .. } => one(b[0].to_vec()),
        OpKind::Reduce { op, axis, .. } => {
            let s = super::reduce::split_axis(&args[0].shape, *axis).ok()?;
            let x = values(args[0]);
            let n = s.n as f64;
            let mut out = Vec::with_capacity(s.outer * s.inner);
            for o in 0..s.outer {
                for j in 0..s.inner {
                    let at = |r: usize| (o * s.n + r) * s.inner + j;
                    let bound = match op {
                        ReduceOp::Max | ReduceOp::Min => {
                            (0..s.n).map(|r| b[0][at(r)]).fold(0.0, f64::max)
                        }
                        ReduceOp::Sum | ReduceOp::Mean => {
                            let moved: f64 = (0..s.n).map(|r| b[0][at(r)]).sum();
                            let finite: f64 = (0..s.n)
                                .map(|r| x[at(r)].abs())
                                .filter(|m| m.is_finite())
                                .sum();
                            let sum = if overflows(finite, n) || moved.is_infinite() {
                                f64::INFINITY
                            } else {
                                // An infinite term makes the sum non-finite in every order (the
                                // comparison then demands the same non-finite value): only the
                                // finite terms' roundings count, and a non-finite bound is 0.
                                finite_or_zero(moved + (n - 1.0).max(0.0) * F32_UNIT * finite)
                            };
                            if *op == ReduceOp::Mean {
                                sum / n
                            } else {
                                sum
                            }
                        }
                    };
                    out.push(bound);
                }
            }
            one(out
                .into_iter()
                .zip(&y)
                .map(|(bound, &y)| match op {
                    ReduceOp::Max | ReduceOp::Min => bound,
                    _ if bound.is_infinite() => bound,
                    _ => finite_or_zero(bound + rounding(dtype, y) + half_ulp(DType::F32, y)),
                })
                .collect())
        }
        OpKind::ArgReduce { .. } => one(vec![0.0; res[0].len()]),
        OpKind::Softmax { axis } | OpKind::LogSoftmax { axis } => {
            let log = matches!(kind, OpKind::LogSoftmax { .. });
            let s = super::reduce::split_axis(&args[0].shape, *axis).ok()?;
            let x = values(args[0]);
            let mut out = vec![0.0; x.len()];
            for o in 0..s.outer {
                for j in 0..s.inner {
                    let at = |r: usize| (o * s.n + r) * s.inner + j;
                    let m = (0..s.n).map(|r| x[at(r)]).fold(f64::NEG_INFINITY, f64::max);
                    let worst = (0..s.n).map(|r| b[0][at(r)]).fold(0.0, f64::max);
                    // Relative error of e_r = exp(x_r - m): the exponent is off by up to 2 * worst, its
                    // rounding by u |x_r - m|; exp itself by EXP_ULPS.
                    let rel_e = |r: usize| {
                        (2.0 * worst).exp_m1() + F32_UNIT * (EXP_ULPS + (x[at(r)] - m).abs())
                    };
                    // The sum's relative error: its own roundings, and the terms' errors weighted by
                    // the terms (a term that is exactly 0, from x = -inf, adds none).
                    let sum: f64 = (0..s.n).map(|r| (x[at(r)] - m).exp()).sum();
                    let weighted: f64 = (0..s.n)
                        .map(|r| ((x[at(r)] - m).exp(), rel_e(r)))
                        .filter(|&(e, _)| e > 0.0)
                        .map(|(e, rel)| e * rel)
                        .sum();
                    let rel_sum = (s.n as f64 - 1.0) * F32_UNIT + weighted / sum;
                    for r in 0..s.n {
                        let yr = y[at(r)];
                        out[at(r)] = if log {
                            b[0][at(r)]
                                + worst
                                + F32_UNIT * ((x[at(r)] - m).abs() + yr.abs())
                                + rel_sum
                                + EXP_ULPS * F32_UNIT * sum.ln().abs()
                                + rounding(dtype, yr)
                        } else {
                            yr.abs() * (rel_e(r) + rel_sum + DIV_ULPS * F32_UNIT)
                                + rounding(dtype, yr)
                        };
                    }
                }
            }
            one(out)
        }
        OpKind::RmsNorm { eps } => {
            let x = values(args[0]);
            let w = values(args[1]);
            let h = *args[0].shape.last()?;
            let mut out = vec![0.0; x.len()];
            if let Some(rows) = x.len().checked_div(h) {
                for row in 0..rows {
                    let at = |i: usize| row * h + i;
                    let squares: f64 = (0..h).map(|i| x[at(i)] * x[at(i)]).sum();
                    let moved: f64 = (0..h).map(|i| 2.0 * x[at(i)].abs() * b[0][at(i)]).sum();
                    let inner = squares / h as f64 + eps;
                    let finite: f64 = (0..h)
                        .map(|i| x[at(i)] * x[at(i)])
                        .filter(|m| m.is_finite())
                        .sum();
                    if overflows(finite, h as f64) || moved.is_infinite() {
                        out[row * h..(row + 1) * h].fill(f64::INFINITY);
                        continue;
                    }
                    // Relative error of the mean square (sum of squares, division, + eps), then half
                    // of it for the square root, plus the root's own ulps.
                    let rel_inner = moved / h as f64 / inner + (h as f64 + 3.0) * F32_UNIT;
                    let rel_root = rel_inner / 2.0 + DIV_ULPS * F32_UNIT;
                    let root = inner.sqrt();
                    for i in 0..h {
                        let yi = y[at(i)];
                        out[at(i)] = finite_or_zero(
                            yi.abs() * (rel_root + 2.0 * F32_UNIT)
                                + b[0][at(i)] * w[i].abs() / root
                                + x[at(i)].abs() / root * b[1][i]
                                + rounding(dtype, yi),
                        );
                    }
                }
            }
            one(out)
        }
        OpKind::TopK { .. } | OpKind::GroupTopK { .. } => {
            let n = *args[0].shape.last()?;
            let picks = *res[1].shape.last()?;
            let index = res[1].as_i32()?;
            let values = index
                .iter()
                .enumerate()
                .map(|(p, &i)| b[0][(p / picks.max(1)) * n + i as usize])
                .collect();
            Some(vec![values, vec![0.0; index.len()]])
        }
        OpKind::MatMul => {
            let (m, k) = (*args[0].shape.first()?, *args[0].shape.get(1)?);
            let n = *args[1].shape.get(1)?;
            let mut out = vec![0.0; m * n];
            // Integer products are exact.
            if let (Some(a), Some(w)) = (args[0].as_f32(), args[1].as_f32()) {
                dot_bounds(
                    Gemm {
                        a: (a, b[0]),
                        b: (w, b[1]),
                        k,
                        n,
                    },
                    0..m,
                    &mut out,
                );
                finish_rounding(&mut out, &y, dtype);
            }
            one(out)
        }
        OpKind::GroupedMatmul => {
            let r = routes?;
            let k = *args[0].shape.get(1)?;
            let n = *args[1].shape.get(2)?;
            let mut out = vec![0.0; r.order.len() * n];
            if let (Some(a), Some(w)) = (args[0].as_f32(), args[1].as_f32()) {
                for e in 0..r.experts {
                    if r.offsets[e] == r.offsets[e + 1] {
                        continue;
                    }
                    let we = e * k * n..(e + 1) * k * n;
                    let bw = b[1].get(we.clone()).unwrap_or(&[]);
                    dot_bounds(
                        Gemm {
                            a: (a, b[0]),
                            b: (&w[we], bw),
                            k,
                            n,
                        },
                        r.offsets[e]..r.offsets[e + 1],
                        &mut out,
                    );
                }
                finish_rounding(&mut out, &y, dtype);
            }
            one(out)
        }
        OpKind::Dispatch => {
            let r = routes?;
            let h = *args[0].shape.get(1)?;
            let mut out = Vec::with_capacity(r.order.len() * h);
            for &p in &r.order {
                let t = p / r.k;
                out.extend_from_slice(&b[0][t * h..(t + 1) * h]);
            }
            one(out)
        }
        OpKind::Swiglu => {
            let x = values(args[0]);
            let (gate, up, bg, bu): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = if args.len() == 2 {
                (x, values(args[1]), b[0].to_vec(), b[1].to_vec())
            } else {
                let two_i = *args[0].shape.last()?;
                let i = two_i / 2;
                let halves = |v: &[f64], second: bool| -> Vec<f64> {
                    v.chunks_exact(two_i.max(1))
                        .flat_map(|row| if second { &row[i..] } else { &row[..i] })
                        .copied()
                        .collect()
                };
                (
                    halves(&x, false),
                    halves(&x, true),
                    halves(b[0], false),
                    halves(b[0], true),
                )
            };
            one(gate
                .iter()
                .zip(&up)
                .zip(bg.iter().zip(&bu))
                .zip(&y)
                .map(|(((&g, &u), (&eg, &eu)), &y)| {
                    let silu = g * f64::from(sigmoid(g as f32));
                    // |silu'| <= 1.1; the device's silu within ACTIVATION_ULPS of |silu(g)|, then one
                    // f32 product.
                    1.1 * eg * (u.abs() + eu)
                        + silu.abs() * eu
                        + ACTIVATION_ULPS * F32_UNIT * (silu * u).abs()
                        + rounding(dtype, y)
                })
                .collect())
        }
        OpKind::Combine => {
            let r = routes?;
            let h = *args[0].shape.get(1)?;
            let (yv, wv) = (values(args[0]), values(args[1]));
            let mut out = vec![0.0; r.tokens * h];
            for t in 0..r.tokens {
                for j in 0..r.k {
                    let p = t * r.k + j;
                    let d = r.position[p];
                    let (w, bw) = (wv[p].abs(), b[1][p]);
                    for c in 0..h {
                        let (v, bv) = (yv[d * h + c].abs(), b[0][d * h + c]);
                        // The product's error and its rounding, and the K-term sum's (any order).
                        out[t * h + c] +=
                            w * bv + bw * v + bw * bv + (r.k as f64 + 1.0) * F32_UNIT * w * v;
                    }
                }
            }
            finish_rounding(&mut out, &y, dtype);
            one(out)
        }
        OpKind::Gather => {
            let rows = *args[0].shape.first()?;
            let row_len = args[0].len() / rows.max(1);
            let index = args[1].as_i32()?;
            let last = rows.checked_sub(1)? as i64;
            let mut out = Vec::with_capacity(index.len() * row_len);
            for &i in index {
                let r = i64::from(i).clamp(0, last) as usize;
                out.extend_from_slice(&b[0][r * row_len..(r + 1) * row_len]);
            }
            one(out)
        }
        _ => None,
    }
}

/// The operands of a matrix product for [`dot_bounds`]: values and bounds of `a` (rows of `k`) and
/// of `b` (`k x n`); an empty bound is all zeros.
struct Gemm<'a> {
    a: (&'a [f32], &'a [f64]),
    b: (&'a [f32], &'a [f64]),
    k: usize,
    n: usize,
}

/// For the rows `rows` of `a`, the bound of `a @ b` before the final rounding into the same rows of
/// `out` (rows of `n`): the operands' bounds moved first order (`|a| eb + ea |b| + ea eb`) plus
/// Higham's bound for a `k`-term `f32` dot product in any order (`k u sum |a b|`).
fn dot_bounds(g: Gemm<'_>, rows: std::ops::Range<usize>, out: &mut [f64]) {
    let (k, n) = (g.k, g.n);
    let gamma = k as f64 * F32_UNIT;
    let eb = |i: usize| g.b.1.get(i).copied().unwrap_or(0.0);
    // Per row `kk` of b, what |a_ik| and ea_ik multiply: one row at a time (b can be a weight of
    // hundreds of megabytes), each element of `out` still summed over `kk` in order.
    let mut with_a = vec![0.0f64; n];
    let mut with_ea = vec![0.0f64; n];
    for kk in 0..k {
        for (j, (pa, pe)) in with_a.iter_mut().zip(&mut with_ea).enumerate() {
            let i = kk * n + j;
            let w = f64::from(g.b.0[i]).abs();
            *pa = eb(i) + gamma * w;
            *pe = w + eb(i);
        }
        for i in rows.clone() {
            let acc = &mut out[i * n..(i + 1) * n];
            let a = f64::from(g.a.0[i * k + kk]).abs();
            let ea = g.a.1.get(i * k + kk).copied().unwrap_or(0.0);
            if ea == 0.0 {
                for (x, &p) in acc.iter_mut().zip(&with_a) {
                    *x += a * p;
                }
            } else {
                for ((x, &p), &q) in acc.iter_mut().zip(&with_a).zip(&with_ea) {
                    *x += a * p + ea * q;
                }
            }
        }
    }
}

/// Adds the final rounding of each result `y` into `dtype` to the bounds `out`.
fn finish_rounding(out: &mut [f64], y: &[f64], dtype: DType) {
    for (b, &y) in out.iter_mut().zip(y) {
        *b = finite_or_zero(*b) + rounding(dtype, y);
    }
}

/// The bound of `f(x)` moved from the bound `bx` of `x` (first order), plus the ulps of the device's
/// implementation of `f`.
fn unary_bound(u: UnaryOp, x: f64, bx: f64, y: f64) -> f64 {
    let derivative = match u {
        UnaryOp::Neg | UnaryOp::Abs => return bx,
        UnaryOp::Relu => return if x > -bx { bx } else { 0.0 },
        UnaryOp::Exp => return y.abs() * (bx.exp_m1() + EXP_ULPS * F32_UNIT),
        UnaryOp::Log => return bx / (x.abs() - bx).max(0.0) + EXP_ULPS * F32_UNIT * y.abs(),
        UnaryOp::Sqrt => 0.5 / y.abs(),
        UnaryOp::Rsqrt => 0.5 * y.abs() / x.abs(),
        UnaryOp::Recip => y * y,
        UnaryOp::Sigmoid => {
            let s = f64::from(sigmoid(x as f32));
            s * (1.0 - s)
        }
        // |silu'(x)| = |s (1 + x (1 - s))| never exceeds 1.1.
        UnaryOp::Silu => 1.1,
        UnaryOp::Tanh => 1.0 - y * y,
    };
    let ulps = match u {
        UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Recip => DIV_ULPS,
        _ => ACTIVATION_ULPS,
    };
    // `sigmoid` and `tanh` are computed from `exp` on the device (`(e^2x - 1) / (e^2x + 1)` cancels near
    // 0), so their error is absolute: ulps of 1, not of the result.
    let scale = match u {
        UnaryOp::Sigmoid | UnaryOp::Tanh => y.abs().max(1.0),
        _ => y.abs(),
    };
    if bx == 0.0 {
        ulps * F32_UNIT * scale
    } else {
        derivative.abs() * bx + ulps * F32_UNIT * scale
    }
}

/// The bound of `a <op> b` moved from the operands' bounds (before rounding the result).
fn binary_bound(op: BinaryOp, (a, ba): (f64, f64), (b, bb): (f64, f64)) -> f64 {
    match op {
        BinaryOp::Add | BinaryOp::Sub => ba + bb,
        BinaryOp::Mul => a.abs() * bb + b.abs() * ba + ba * bb,
        BinaryOp::Div => {
            let q = (a / b).abs();
            (ba + q * bb) / (b.abs() - bb).max(0.0) + DIV_ULPS * F32_UNIT * q
        }
        BinaryOp::Max | BinaryOp::Min => ba.max(bb),
    }
}
