//! Elementwise ops: constants, unary and binary math, casts, comparisons, select; NumPy broadcasting.

use super::tensor::{element_count, round_f64_to, round_slice};
use super::{OpError, Operand, Tensor, TensorData};
use crate::graph::{BinaryOp, CmpOp, DType, UnaryOp};

/// A rank-0 constant of `dtype` (an `i32` value must be integral and in range).
pub(crate) fn constant(value: f64, dtype: DType) -> Result<Tensor, OpError> {
    let data = match dtype {
        DType::BF16 | DType::F16 | DType::F32 => TensorData::F32(vec![round_f64_to(dtype, value)]),
        DType::I32 => {
            if value.fract() != 0.0 || !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&value)
            {
                return Err(OpError::Attribute {
                    attr: "value",
                    message: format!("{value} is not an i32 value"),
                });
            }
            TensorData::I32(vec![value as i32])
        }
        DType::Bool => TensorData::Bool(vec![value != 0.0]),
    };
    Ok(Tensor {
        dtype,
        shape: Vec::new(),
        data,
    })
}

/// `f(x)` elementwise, computed in `f32` and rounded to the dtype for floats; wrapping for `i32`.
pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor, OpError> {
    let operand = Operand::new(0, "x");
    let data = match &x.data {
        TensorData::F32(v) => {
            let f: fn(f32) -> f32 = match op {
                UnaryOp::Neg => |x| -x,
                UnaryOp::Exp => f32::exp,
                UnaryOp::Log => f32::ln,
                UnaryOp::Sqrt => f32::sqrt,
                UnaryOp::Rsqrt => |x| 1.0 / x.sqrt(),
                UnaryOp::Recip => |x| 1.0 / x,
                UnaryOp::Abs => f32::abs,
                UnaryOp::Sigmoid => sigmoid,
                UnaryOp::Silu => |x| x * sigmoid(x),
                UnaryOp::Relu => |x| if x > 0.0 || x.is_nan() { x } else { 0.0 },
                UnaryOp::Tanh => f32::tanh,
            };
            let mut out: Vec<f32> = v.iter().map(|&e| f(e)).collect();
            round_slice(x.dtype, &mut out);
            TensorData::F32(out)
        }
        TensorData::I32(v) => {
            let f: fn(i32) -> i32 = match op {
                UnaryOp::Neg => i32::wrapping_neg,
                UnaryOp::Abs => i32::wrapping_abs,
                UnaryOp::Relu => |x| x.max(0),
                _ => return Err(float_only(operand, x.dtype)),
            };
            TensorData::I32(v.iter().map(|&e| f(e)).collect())
        }
        TensorData::Bool(_) => return Err(numeric_only(operand, x.dtype)),
    };
    Ok(Tensor {
        dtype: x.dtype,
        shape: x.shape.clone(),
        data,
    })
}

/// The logistic function in `f32`: `1 / (1 + e^-x)`.
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `f(a, b)` elementwise with broadcasting; operands of one dtype.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor, OpError> {
    same_dtype(a, b, Operand::new(1, "b"))?;
    let bc = Broadcast::new(&[
        (&a.shape, Operand::new(0, "a")),
        (&b.shape, Operand::new(1, "b")),
    ])?;
    let data = match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let f: fn(f32, f32) -> f32 = match op {
                BinaryOp::Add => |a, b| a + b,
                BinaryOp::Sub => |a, b| a - b,
                BinaryOp::Mul => |a, b| a * b,
                BinaryOp::Div => |a, b| a / b,
                BinaryOp::Max => |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f32::NAN
                    } else {
                        a.max(b)
                    }
                },
                BinaryOp::Min => |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f32::NAN
                    } else {
                        a.min(b)
                    }
                },
            };
            let mut out = bc.map2(x, y, f);
            round_slice(a.dtype, &mut out);
            TensorData::F32(out)
        }
        (TensorData::I32(x), TensorData::I32(y)) => {
            let f: fn(i32, i32) -> i32 = match op {
                BinaryOp::Add => i32::wrapping_add,
                BinaryOp::Sub => i32::wrapping_sub,
                BinaryOp::Mul => i32::wrapping_mul,
                BinaryOp::Div => |a, b| if b == 0 { 0 } else { a.wrapping_div(b) },
                BinaryOp::Max => i32::max,
                BinaryOp::Min => i32::min,
            };
            TensorData::I32(bc.map2(x, y, f))
        }
        _ => return Err(numeric_only(Operand::new(0, "a"), a.dtype)),
    };
    Ok(Tensor {
        dtype: a.dtype,
        shape: bc.out,
        data,
    })
}

/// Converts every element to `to` (see `OpKind::Cast` for the rules).
pub(crate) fn cast(to: DType, x: &Tensor) -> Tensor {
    let data = match (&x.data, to) {
        (TensorData::F32(v), DType::BF16 | DType::F16 | DType::F32) => {
            let mut out = v.clone();
            round_slice(to, &mut out);
            TensorData::F32(out)
        }
        // `as` truncates towards zero, saturates, and maps NaN to 0.
        (TensorData::F32(v), DType::I32) => TensorData::I32(v.iter().map(|&e| e as i32).collect()),
        (TensorData::F32(v), DType::Bool) => {
            TensorData::Bool(v.iter().map(|&e| e != 0.0).collect())
        }
        // Exact in f64, then one rounding to the target.
        (TensorData::I32(v), DType::BF16 | DType::F16 | DType::F32) => {
            TensorData::F32(v.iter().map(|&e| round_f64_to(to, f64::from(e))).collect())
        }
        (TensorData::I32(v), DType::I32) => TensorData::I32(v.clone()),
        (TensorData::I32(v), DType::Bool) => TensorData::Bool(v.iter().map(|&e| e != 0).collect()),
        (TensorData::Bool(v), DType::BF16 | DType::F16 | DType::F32) => {
            TensorData::F32(v.iter().map(|&e| if e { 1.0 } else { 0.0 }).collect())
        }
        (TensorData::Bool(v), DType::I32) => {
            TensorData::I32(v.iter().map(|&e| i32::from(e)).collect())
        }
        (TensorData::Bool(v), DType::Bool) => TensorData::Bool(v.clone()),
    };
    Tensor {
        dtype: to,
        shape: x.shape.clone(),
        data,
    }
}

/// `a <op> b` elementwise with broadcasting, giving `bool`.
pub(crate) fn compare(op: CmpOp, a: &Tensor, b: &Tensor) -> Result<Tensor, OpError> {
    same_dtype(a, b, Operand::new(1, "b"))?;
    let bc = Broadcast::new(&[
        (&a.shape, Operand::new(0, "a")),
        (&b.shape, Operand::new(1, "b")),
    ])?;
    fn pick<T: PartialOrd + Copy>(op: CmpOp) -> fn(T, T) -> bool {
        match op {
            CmpOp::Eq => |a, b| a == b,
            CmpOp::Ne => |a, b| a != b,
            CmpOp::Lt => |a, b| a < b,
            CmpOp::Le => |a, b| a <= b,
            CmpOp::Gt => |a, b| a > b,
            CmpOp::Ge => |a, b| a >= b,
        }
    }
    let out = match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => bc.map2(x, y, pick::<f32>(op)),
        (TensorData::I32(x), TensorData::I32(y)) => bc.map2(x, y, pick::<i32>(op)),
        (TensorData::Bool(x), TensorData::Bool(y)) => bc.map2(x, y, pick::<bool>(op)),
        _ => return Err(inconsistent(Operand::new(0, "a"), a)),
    };
    Ok(Tensor {
        dtype: DType::Bool,
        shape: bc.out,
        data: TensorData::Bool(out),
    })
}

/// `cond ? a : b` elementwise with broadcasting of all three.
pub(crate) fn select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor, OpError> {
    let TensorData::Bool(c) = &cond.data else {
        return Err(OpError::DType {
            operand: Operand::new(0, "cond"),
            expected: "bool".to_string(),
            found: cond.dtype,
        });
    };
    same_dtype(a, b, Operand::new(2, "b"))?;
    let bc = Broadcast::new(&[
        (&cond.shape, Operand::new(0, "cond")),
        (&a.shape, Operand::new(1, "a")),
        (&b.shape, Operand::new(2, "b")),
    ])?;
    let data = match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => TensorData::F32(bc.map3(c, x, y)),
        (TensorData::I32(x), TensorData::I32(y)) => TensorData::I32(bc.map3(c, x, y)),
        (TensorData::Bool(x), TensorData::Bool(y)) => TensorData::Bool(bc.map3(c, x, y)),
        _ => return Err(inconsistent(Operand::new(1, "a"), a)),
    };
    Ok(Tensor {
        dtype: a.dtype,
        shape: bc.out,
        data,
    })
}

/// The broadcast of several operand shapes: the result shape and each operand's strides in it
/// (0 along stretched or missing axes).
pub(crate) struct Broadcast {
    /// The result shape.
    pub(crate) out: Vec<usize>,
    /// Per operand, its element stride along every result axis.
    strides: Vec<Vec<usize>>,
    /// Per operand, whether its shape equals the result shape (the fast path).
    same: Vec<bool>,
}

impl Broadcast {
    /// NumPy broadcasting: shapes aligned at the trailing axis, a size-1 axis stretches.
    pub(crate) fn new(shapes: &[(&[usize], Operand)]) -> Result<Broadcast, OpError> {
        let rank = shapes.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
        let mut out = vec![1usize; rank];
        // Which operand fixed each result axis (for error messages).
        let mut fixed_by: Vec<Option<usize>> = vec![None; rank];
        for (i, (shape, _)) in shapes.iter().enumerate() {
            let lead = rank - shape.len();
            for (axis, &size) in shape.iter().enumerate() {
                let out_axis = lead + axis;
                if size == 1 {
                    continue;
                }
                match fixed_by[out_axis] {
                    None => {
                        out[out_axis] = size;
                        fixed_by[out_axis] = Some(i);
                    }
                    Some(_) if out[out_axis] == size => {}
                    Some(j) => {
                        return Err(OpError::Broadcast {
                            a: shapes[j].0.to_vec(),
                            b: shape.to_vec(),
                            axis: out_axis,
                            first: out[out_axis],
                            second: size,
                        });
                    }
                }
            }
        }
        let mut strides = Vec::with_capacity(shapes.len());
        let mut same = Vec::with_capacity(shapes.len());
        for (shape, _) in shapes {
            let lead = rank - shape.len();
            let mut s = vec![0usize; rank];
            let mut stride = 1usize;
            for axis in (0..shape.len()).rev() {
                if shape[axis] != 1 {
                    s[lead + axis] = stride;
                }
                stride = stride.saturating_mul(shape[axis]);
            }
            strides.push(s);
            same.push(shape.len() == rank && **shape == out[..]);
        }
        Ok(Broadcast { out, strides, same })
    }

    fn len(&self) -> usize {
        element_count(&self.out).unwrap_or(0)
    }

    /// `f(a[i], b[i])` over the broadcast result.
    pub(crate) fn map2<A: Copy, B: Copy, R>(
        &self,
        a: &[A],
        b: &[B],
        f: impl Fn(A, B) -> R,
    ) -> Vec<R> {
        let n = self.len();
        if self.same[0] && self.same[1] {
            return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
        }
        let mut out = Vec::with_capacity(n);
        if self.same[0] && b.len() == 1 {
            let y = b[0];
            out.extend(a.iter().map(|&x| f(x, y)));
            return out;
        }
        if a.len() == 1 && self.same[1] {
            let x = a[0];
            out.extend(b.iter().map(|&y| f(x, y)));
            return out;
        }
        for_each_offset(&self.out, [&self.strides[0], &self.strides[1]], |[i, j]| {
            out.push(f(a[i], b[j]))
        });
        out
    }

    /// `c[i] ? a[i] : b[i]` over the broadcast result.
    pub(crate) fn map3<T: Copy>(&self, c: &[bool], a: &[T], b: &[T]) -> Vec<T> {
        if self.same.iter().all(|&s| s) {
            return c
                .iter()
                .zip(a)
                .zip(b)
                .map(|((&c, &x), &y)| if c { x } else { y })
                .collect();
        }
        let mut out = Vec::with_capacity(self.len());
        for_each_offset(
            &self.out,
            [&self.strides[0], &self.strides[1], &self.strides[2]],
            |[i, j, k]| out.push(if c[i] { a[j] } else { b[k] }),
        );
        out
    }
}

/// Calls `f` with the element offset of every operand, for every position of `shape` in C order.
/// `strides[n][axis]` is operand `n`'s stride along `axis`.
pub(crate) fn for_each_offset<const N: usize>(
    shape: &[usize],
    strides: [&[usize]; N],
    mut f: impl FnMut([usize; N]),
) {
    let Some(total) = element_count(shape) else {
        return;
    };
    if total == 0 {
        return;
    }
    let rank = shape.len();
    let mut index = vec![0usize; rank];
    let mut offsets = [0usize; N];
    for _ in 0..total {
        f(offsets);
        let mut axis = rank;
        while axis > 0 {
            axis -= 1;
            index[axis] += 1;
            for n in 0..N {
                offsets[n] += strides[n][axis];
            }
            if index[axis] < shape[axis] {
                break;
            }
            for n in 0..N {
                offsets[n] -= strides[n][axis] * shape[axis];
            }
            index[axis] = 0;
        }
    }
}

/// Errors unless `b` has the dtype of `a`.
pub(crate) fn same_dtype(a: &Tensor, b: &Tensor, operand: Operand) -> Result<(), OpError> {
    if a.dtype != b.dtype {
        return Err(OpError::DType {
            operand,
            expected: format!("{} (the dtype of operand 0)", a.dtype),
            found: b.dtype,
        });
    }
    Ok(())
}

/// A float-only op on a non-float operand.
pub(crate) fn float_only(operand: Operand, found: DType) -> OpError {
    OpError::DType {
        operand,
        expected: "a float dtype (bf16, f16 or f32)".to_string(),
        found,
    }
}

/// An arithmetic op on a `bool` operand.
pub(crate) fn numeric_only(operand: Operand, found: DType) -> OpError {
    OpError::DType {
        operand,
        expected: "a numeric dtype (bf16, f16, f32 or i32)".to_string(),
        found,
    }
}

/// A tensor whose data does not match its dtype (only possible for hand-made tensors).
pub(crate) fn inconsistent(operand: Operand, t: &Tensor) -> OpError {
    OpError::DType {
        operand,
        expected: "data matching the tensor's dtype".to_string(),
        found: t.dtype,
    }
}
