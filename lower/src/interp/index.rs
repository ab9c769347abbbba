//! Selection and indexing: top-k, group top-k, gather, scatter-add.

use std::cmp::Ordering;

use super::elementwise::numeric_only;
use super::layout::map_data;
use super::linalg::axpy;
use super::reduce::cmp_nan_max;
use super::tensor::{fmt_shape, round_slice};
use super::{OpError, Operand, Tensor, TensorData};
use crate::graph::DType;

/// The `k` largest elements of every row of the last axis, descending, lowest index first among
/// equals; values and `i32` indices.
pub(crate) fn topk(x: &Tensor, k: usize) -> Result<(Tensor, Tensor), OpError> {
    let n = last_dim(x)?;
    if k > n {
        return Err(OpError::Attribute {
            attr: "k",
            message: format!("k = {k} is larger than the last dim {n} of operand 0 (`x`)"),
        });
    }
    select_groups(x, n, 1, k)
}

/// The top `k` of each of `groups` contiguous groups of the last axis, group-major, with global
/// indices.
pub(crate) fn group_topk(x: &Tensor, groups: usize, k: usize) -> Result<(Tensor, Tensor), OpError> {
    let n = last_dim(x)?;
    if groups == 0 || n % groups != 0 {
        return Err(OpError::Attribute {
            attr: "groups",
            message: format!("{groups} groups do not divide the last dim {n} of operand 0 (`x`)"),
        });
    }
    let size = n / groups;
    if k > size {
        return Err(OpError::Attribute {
            attr: "k",
            message: format!(
                "k = {k} is larger than the group size {size} ({n} / {groups} groups)"
            ),
        });
    }
    select_groups(x, n, groups, k)
}

fn last_dim(x: &Tensor) -> Result<usize, OpError> {
    x.shape.last().copied().ok_or_else(|| OpError::Shape {
        operand: Operand::new(0, "x"),
        expected: "rank 1 or more (selection works on the last axis)".to_string(),
        found: x.shape.clone(),
    })
}

/// How a selection walks its operand: `rows` rows of `n`, each split into `groups` groups of `size`,
/// keeping `k` per group.
#[derive(Copy, Clone)]
struct Selection {
    rows: usize,
    n: usize,
    groups: usize,
    size: usize,
    k: usize,
}

impl Selection {
    /// The top `k` of every group, by a stable sort of each group's positions by descending value
    /// (equal values stay in index order). Returns the values and pushes the global indices.
    fn pick<T: Copy>(
        self,
        v: &[T],
        cmp: impl Fn(T, T) -> Ordering,
        indices: &mut Vec<i32>,
    ) -> Vec<T> {
        let mut values = Vec::with_capacity(self.rows * self.groups * self.k);
        let mut order: Vec<usize> = Vec::with_capacity(self.size);
        for row in 0..self.rows {
            for g in 0..self.groups {
                let base = row * self.n + g * self.size;
                order.clear();
                order.extend(0..self.size);
                order.sort_by(|&a, &b| cmp(v[base + b], v[base + a]));
                for &r in &order[..self.k] {
                    values.push(v[base + r]);
                    indices.push((g * self.size + r) as i32);
                }
            }
        }
        values
    }
}

/// Rows of `n` split into `groups` groups (`groups` divides `n`); the top `k` of each group.
fn select_groups(
    x: &Tensor,
    n: usize,
    groups: usize,
    k: usize,
) -> Result<(Tensor, Tensor), OpError> {
    let rows: usize = x.shape[..x.rank() - 1].iter().product();
    let size = n.checked_div(groups).unwrap_or(0);
    let sel = Selection {
        rows,
        n,
        groups,
        size,
        k,
    };
    let mut shape = x.shape.clone();
    if let Some(last) = shape.last_mut() {
        *last = groups * k;
    }
    let mut indices: Vec<i32> = Vec::with_capacity(rows * groups * k);
    let data = match &x.data {
        TensorData::F32(v) => TensorData::F32(sel.pick(v, cmp_nan_max, &mut indices)),
        TensorData::I32(v) => {
            TensorData::I32(sel.pick(v, |a: i32, b: i32| a.cmp(&b), &mut indices))
        }
        TensorData::Bool(_) => return Err(numeric_only(Operand::new(0, "x"), x.dtype)),
    };
    let values = Tensor {
        dtype: x.dtype,
        shape: shape.clone(),
        data,
    };
    let indices = Tensor {
        dtype: DType::I32,
        shape,
        data: TensorData::I32(indices),
    };
    Ok((values, indices))
}

/// The position of flat offset `flat` in `shape`, for messages.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0usize; shape.len()];
    for axis in (0..shape.len()).rev() {
        if shape[axis] > 0 {
            out[axis] = flat % shape[axis];
            flat /= shape[axis];
        }
    }
    out
}

/// Checks `index` is an `i32` tensor and returns its elements.
fn index_values(index: &Tensor, operand: Operand) -> Result<&[i32], OpError> {
    index.as_i32().ok_or_else(|| OpError::DType {
        operand,
        expected: "i32".to_string(),
        found: index.dtype,
    })
}

/// Checks every index is in `0..bound` and converts it.
fn check_indices(
    index: &Tensor,
    values: &[i32],
    operand: Operand,
    bound: usize,
) -> Result<Vec<usize>, OpError> {
    values
        .iter()
        .enumerate()
        .map(|(p, &i)| {
            usize::try_from(i)
                .ok()
                .filter(|&u| u < bound)
                .ok_or_else(|| OpError::IndexOutOfRange {
                    operand,
                    index: i,
                    position: unravel(p, &index.shape),
                    bound,
                })
        })
        .collect()
}

/// `out[i..., :] = table[clamp(index[i...], 0, rows - 1), :]`.
pub(crate) fn gather(table: &Tensor, index: &Tensor) -> Result<Tensor, OpError> {
    let operand = Operand::new(1, "index");
    let ids = index_values(index, operand)?;
    let Some((&rows, rest)) = table.shape.split_first() else {
        return Err(OpError::Shape {
            operand: Operand::new(0, "table"),
            expected: "rank 1 or more (gather looks up rows of axis 0)".to_string(),
            found: table.shape.clone(),
        });
    };
    let row_len: usize = rest.iter().product();
    // Out-of-range indices are clamped, the rule the emitted kernels follow (README "Numeric rules"); an
    // empty table has no row to clamp to.
    let rows_picked = if rows == 0 {
        check_indices(index, ids, operand, rows)?
    } else {
        let last = i64::try_from(rows - 1).unwrap_or(i64::MAX);
        ids.iter()
            .map(|&i| i64::from(i).clamp(0, last) as usize)
            .collect()
    };
    fn pick<T: Copy>(v: &[T], rows: &[usize], row_len: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(rows.len() * row_len);
        for &r in rows {
            out.extend_from_slice(&v[r * row_len..(r + 1) * row_len]);
        }
        out
    }
    let mut shape = index.shape.clone();
    shape.extend_from_slice(rest);
    let data = map_data!(&table.data, v => pick(v, &rows_picked, row_len));
    Ok(Tensor {
        dtype: table.dtype,
        shape,
        data,
    })
}

/// `out = zeros(size, src.shape[index.rank..]); out[index[i...]] += src[i...]`, in index order,
/// accumulated in `f32` (wrapping for `i32`).
pub(crate) fn scatter_add(src: &Tensor, index: &Tensor, size: usize) -> Result<Tensor, OpError> {
    let operand = Operand::new(1, "index");
    let ids = index_values(index, operand)?;
    if index.rank() > src.rank() || index.shape[..] != src.shape[..index.rank()] {
        return Err(OpError::Shape {
            operand,
            expected: format!(
                "the leading axes of operand 0 (`src`), of shape {}",
                fmt_shape(&src.shape)
            ),
            found: index.shape.clone(),
        });
    }
    let rest = &src.shape[index.rank()..];
    let row_len: usize = rest.iter().product();
    let rows = check_indices(index, ids, operand, size)?;
    let mut shape = vec![size];
    shape.extend_from_slice(rest);
    let data = match &src.data {
        TensorData::F32(v) => {
            let mut out = vec![0.0f32; size * row_len];
            for (p, &r) in rows.iter().enumerate() {
                let from = &v[p * row_len..(p + 1) * row_len];
                axpy(1.0, from, &mut out[r * row_len..(r + 1) * row_len]);
            }
            round_slice(src.dtype, &mut out);
            TensorData::F32(out)
        }
        TensorData::I32(v) => {
            let mut out = vec![0i32; size * row_len];
            for (p, &r) in rows.iter().enumerate() {
                let from = &v[p * row_len..(p + 1) * row_len];
                for (o, &e) in out[r * row_len..(r + 1) * row_len].iter_mut().zip(from) {
                    *o = o.wrapping_add(e);
                }
            }
            TensorData::I32(out)
        }
        TensorData::Bool(_) => return Err(numeric_only(Operand::new(0, "src"), src.dtype)),
    };
    Ok(Tensor {
        dtype: src.dtype,
        shape,
        data,
    })
}
