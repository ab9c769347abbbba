//! Matrix multiplication, shared by `matmul` and `grouped_matmul`.

use super::elementwise::same_dtype;
use super::tensor::{fmt_shape, round_slice};
use super::{OpError, Operand, Tensor, TensorData};

/// `a @ b` for `a: (M, K)`, `b: (K, N)`; `f32` accumulation and one rounding for floats, wrapping for
/// `i32`.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, OpError> {
    same_dtype(a, b, Operand::new(1, "b"))?;
    let [m, k] = a.shape[..] else {
        return Err(OpError::Shape {
            operand: Operand::new(0, "a"),
            expected: "rank 2 (M, K)".to_string(),
            found: a.shape.clone(),
        });
    };
    let n = match b.shape[..] {
        [kb, n] if kb == k => n,
        _ => {
            return Err(OpError::Shape {
                operand: Operand::new(1, "b"),
                expected: format!(
                    "(K, N) with K = {k} (operand 0 (`a`) is {})",
                    fmt_shape(&a.shape)
                ),
                found: b.shape.clone(),
            })
        }
    };
    let data = match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let mut out = vec![0.0f32; m * n];
            matmul_f32_into(x, y, k, n, &mut out);
            round_slice(a.dtype, &mut out);
            TensorData::F32(out)
        }
        (TensorData::I32(x), TensorData::I32(y)) => {
            let mut out = vec![0i32; m * n];
            matmul_i32_into(x, y, k, n, &mut out);
            TensorData::I32(out)
        }
        _ => return Err(float_or_int(Operand::new(0, "a"), a)),
    };
    Ok(Tensor {
        dtype: a.dtype,
        shape: vec![m, n],
        data,
    })
}

/// `out += a @ b` in `f32` for row-major `a: (M, K)`, `b: (K, N)`, `out: (M, N)`, `M = out.len() / N`.
///
/// The loops run i-k-j so both `b` and `out` are read in order; every output element still sums its
/// `K` products in order `k = 0, 1, ...`, so the result equals the textbook loop's bit for bit.
pub(crate) fn matmul_f32_into(a: &[f32], b: &[f32], k: usize, n: usize, out: &mut [f32]) {
    if n == 0 {
        return;
    }
    for (out_row, a_row) in out.chunks_exact_mut(n).zip(a.chunks_exact(k.max(1))) {
        for (kk, &a_ik) in a_row.iter().enumerate().take(k) {
            let b_row = &b[kk * n..(kk + 1) * n];
            axpy(a_ik, b_row, out_row);
        }
    }
}

/// `y += alpha * x`, elementwise. Written over 8-element arrays with a plain `while` loop: the tests
/// run without optimization, and this form is about six times faster there than an iterator loop.
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let (xs, x_tail) = x.as_chunks::<8>();
    let (ys, y_tail) = y.as_chunks_mut::<8>();
    let blocks = xs.len().min(ys.len());
    let mut c = 0;
    while c < blocks {
        let yb = &mut ys[c];
        let xb = &xs[c];
        yb[0] += alpha * xb[0];
        yb[1] += alpha * xb[1];
        yb[2] += alpha * xb[2];
        yb[3] += alpha * xb[3];
        yb[4] += alpha * xb[4];
        yb[5] += alpha * xb[5];
        yb[6] += alpha * xb[6];
        yb[7] += alpha * xb[7];
        c += 1;
    }
    for (yv, &xv) in y_tail.iter_mut().zip(x_tail) {
        *yv += alpha * xv;
    }
}

/// `out += a @ b` with wrapping `i32` arithmetic.
pub(crate) fn matmul_i32_into(a: &[i32], b: &[i32], k: usize, n: usize, out: &mut [i32]) {
    if n == 0 {
        return;
    }
    for (out_row, a_row) in out.chunks_exact_mut(n).zip(a.chunks_exact(k.max(1))) {
        for (kk, &a_ik) in a_row.iter().enumerate().take(k) {
            for (o, &b_kj) in out_row.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                *o = o.wrapping_add(a_ik.wrapping_mul(b_kj));
            }
        }
    }
}

/// A matmul operand that is neither float nor `i32`.
pub(crate) fn float_or_int(operand: Operand, t: &Tensor) -> OpError {
    OpError::DType {
        operand,
        expected: "a float dtype or i32".to_string(),
        found: t.dtype,
    }
}
