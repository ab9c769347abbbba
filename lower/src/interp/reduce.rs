//! Reductions along an axis and the row-wise composites: softmax, log-softmax, RMSNorm.

use std::cmp::Ordering;

use super::elementwise::{float_only, numeric_only, same_dtype};
use super::tensor::round_slice;
use super::{OpError, Operand, Tensor, TensorData};
use crate::graph::{ArgOp, DType, ReduceOp};

/// A shape seen around one axis: `outer` rows of `n` elements `inner` apart.
#[derive(Copy, Clone, Debug)]
pub(crate) struct AxisSplit {
    pub(crate) outer: usize,
    pub(crate) n: usize,
    pub(crate) inner: usize,
}

/// Splits `shape` around `axis`, which must be in range.
pub(crate) fn split_axis(shape: &[usize], axis: u32) -> Result<AxisSplit, OpError> {
    let axis = axis as usize;
    if axis >= shape.len() {
        return Err(OpError::Attribute {
            attr: "axis",
            message: format!(
                "axis {axis} is out of range for a rank-{} operand",
                shape.len()
            ),
        });
    }
    Ok(AxisSplit {
        outer: shape[..axis].iter().product(),
        n: shape[axis],
        inner: shape[axis + 1..].iter().product(),
    })
}

/// The shape after reducing `axis`: size 1 if `keep_dim`, else removed.
fn reduced_shape(shape: &[usize], axis: u32, keep_dim: bool) -> Vec<usize> {
    let mut out = shape.to_vec();
    if keep_dim {
        out[axis as usize] = 1;
    } else {
        out.remove(axis as usize);
    }
    out
}

/// `sum`, `mean`, `max` or `min` along `axis`.
pub(crate) fn reduce(
    op: ReduceOp,
    x: &Tensor,
    axis: u32,
    keep_dim: bool,
) -> Result<Tensor, OpError> {
    let s = split_axis(&x.shape, axis)?;
    let shape = reduced_shape(&x.shape, axis, keep_dim);
    let operand = Operand::new(0, "x");
    let data = match &x.data {
        TensorData::F32(v) => {
            let init = match op {
                ReduceOp::Sum | ReduceOp::Mean => 0.0,
                ReduceOp::Max => f32::NEG_INFINITY,
                ReduceOp::Min => f32::INFINITY,
            };
            let f: fn(f32, f32) -> f32 = match op {
                ReduceOp::Sum | ReduceOp::Mean => |acc, x| acc + x,
                ReduceOp::Max => |acc, x| if x > acc || x.is_nan() { x } else { acc },
                ReduceOp::Min => |acc, x| if x < acc || x.is_nan() { x } else { acc },
            };
            let mut out = fold_axis(v, s, init, f);
            if op == ReduceOp::Mean {
                let n = s.n as f32;
                out.iter_mut().for_each(|e| *e /= n);
            }
            round_slice(x.dtype, &mut out);
            TensorData::F32(out)
        }
        TensorData::I32(v) => {
            let (init, f): (i32, fn(i32, i32) -> i32) = match op {
                ReduceOp::Sum => (0, i32::wrapping_add),
                ReduceOp::Max => (i32::MIN, i32::max),
                ReduceOp::Min => (i32::MAX, i32::min),
                ReduceOp::Mean => return Err(float_only(operand, x.dtype)),
            };
            TensorData::I32(fold_axis(v, s, init, f))
        }
        TensorData::Bool(_) => return Err(numeric_only(operand, x.dtype)),
    };
    Ok(Tensor {
        dtype: x.dtype,
        shape,
        data,
    })
}

/// Folds every row along the split axis in index order: `out[o, j] = f(...f(f(init, x[o, 0, j]),
/// x[o, 1, j])...)`. The loop runs over `j` innermost, so memory is read in order.
fn fold_axis<T: Copy>(v: &[T], s: AxisSplit, init: T, f: fn(T, T) -> T) -> Vec<T> {
    let mut out = vec![init; s.outer * s.inner];
    for o in 0..s.outer {
        let acc = &mut out[o * s.inner..(o + 1) * s.inner];
        for r in 0..s.n {
            let start = (o * s.n + r) * s.inner;
            for (a, &x) in acc.iter_mut().zip(&v[start..start + s.inner]) {
                *a = f(*a, x);
            }
        }
    }
    out
}

/// Compares for "larger": a NaN is larger than everything and equal to another NaN.
pub(crate) fn cmp_nan_max(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `argmax` / `argmin` along `axis`: the lowest index of the extremum; a NaN counts as the extremum.
pub(crate) fn arg_reduce(
    op: ArgOp,
    x: &Tensor,
    axis: u32,
    keep_dim: bool,
) -> Result<Tensor, OpError> {
    let s = split_axis(&x.shape, axis)?;
    let shape = reduced_shape(&x.shape, axis, keep_dim);
    if s.n == 0 && s.outer * s.inner > 0 {
        return Err(OpError::Shape {
            operand: Operand::new(0, "x"),
            expected: format!("a non-empty axis {axis} to take the {} of", op.name()),
            found: x.shape.clone(),
        });
    }
    // `better(candidate, best)`: strictly better, so the lowest index wins ties.
    fn pick<T: Copy>(s: AxisSplit, v: &[T], better: impl Fn(T, T) -> bool) -> Vec<i32> {
        let mut out = Vec::with_capacity(s.outer * s.inner);
        for o in 0..s.outer {
            for j in 0..s.inner {
                let at = |r: usize| v[(o * s.n + r) * s.inner + j];
                let mut best = 0usize;
                for r in 1..s.n {
                    if better(at(r), at(best)) {
                        best = r;
                    }
                }
                out.push(best as i32);
            }
        }
        out
    }
    let out = match (&x.data, op) {
        (TensorData::F32(v), ArgOp::ArgMax) => {
            pick(s, v, |c, b| cmp_nan_max(c, b) == Ordering::Greater)
        }
        (TensorData::F32(v), ArgOp::ArgMin) => pick(s, v, |c: f32, b: f32| {
            (c.is_nan() && !b.is_nan()) || (!b.is_nan() && c < b)
        }),
        (TensorData::I32(v), ArgOp::ArgMax) => pick(s, v, |c, b| c > b),
        (TensorData::I32(v), ArgOp::ArgMin) => pick(s, v, |c, b| c < b),
        (TensorData::Bool(_), _) => return Err(numeric_only(Operand::new(0, "x"), x.dtype)),
    };
    Ok(Tensor {
        dtype: DType::I32,
        shape,
        data: TensorData::I32(out),
    })
}

/// `softmax` (or `log_softmax` when `log`) along `axis`, in `f32`, rounded once.
pub(crate) fn softmax(x: &Tensor, axis: u32, log: bool) -> Result<Tensor, OpError> {
    let s = split_axis(&x.shape, axis)?;
    let TensorData::F32(v) = &x.data else {
        return Err(float_only(Operand::new(0, "x"), x.dtype));
    };
    let mut out = vec![0.0f32; v.len()];
    let mut row = vec![0.0f32; s.n];
    for o in 0..s.outer {
        for j in 0..s.inner {
            let at = |r: usize| (o * s.n + r) * s.inner + j;
            let mut max = f32::NEG_INFINITY;
            for r in 0..s.n {
                max = max.max(v[at(r)]);
            }
            let mut sum = 0.0f32;
            for (r, e) in row.iter_mut().enumerate() {
                *e = (v[at(r)] - max).exp();
                sum += *e;
            }
            if log {
                let log_sum = sum.ln();
                for r in 0..s.n {
                    out[at(r)] = v[at(r)] - max - log_sum;
                }
            } else {
                for (r, &e) in row.iter().enumerate() {
                    out[at(r)] = e / sum;
                }
            }
        }
    }
    round_slice(x.dtype, &mut out);
    Ok(Tensor {
        dtype: x.dtype,
        shape: x.shape.clone(),
        data: TensorData::F32(out),
    })
}

/// `x / sqrt(mean(x^2, last axis) + eps) * weight`, in `f32`, rounded once.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor, OpError> {
    let TensorData::F32(v) = &x.data else {
        return Err(float_only(Operand::new(0, "x"), x.dtype));
    };
    same_dtype(x, weight, Operand::new(1, "weight"))?;
    let Some(&h) = x.shape.last() else {
        return Err(OpError::Shape {
            operand: Operand::new(0, "x"),
            expected: "rank 1 or more (rms_norm normalizes the last axis)".to_string(),
            found: x.shape.clone(),
        });
    };
    let w = match &weight.data {
        TensorData::F32(w) if weight.shape == [h] => w,
        _ => {
            return Err(OpError::Shape {
                operand: Operand::new(1, "weight"),
                expected: format!("[{h}] (the last dim of `x`)"),
                found: weight.shape.clone(),
            })
        }
    };
    let eps = eps as f32;
    let mut out = vec![0.0f32; v.len()];
    if h > 0 {
        for (row, out_row) in v.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
            let mut sum_sq = 0.0f32;
            for &e in row {
                sum_sq += e * e;
            }
            let denom = (sum_sq / h as f32 + eps).sqrt();
            for ((o, &e), &g) in out_row.iter_mut().zip(row).zip(w) {
                *o = e / denom * g;
            }
        }
    }
    round_slice(x.dtype, &mut out);
    Ok(Tensor {
        dtype: x.dtype,
        shape: x.shape.clone(),
        data: TensorData::F32(out),
    })
}
