//! Data movement without arithmetic: reshape, slice, concat, transpose.

use super::elementwise::for_each_offset;
use super::reduce::split_axis;
use super::tensor::{element_count, fmt_shape};
use super::{OpError, Operand, Tensor, TensorData};

/// Applies a generic expression to whichever element vector a [`TensorData`] holds, keeping the kind.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => TensorData::F32($body),
            TensorData::I32($v) => TensorData::I32($body),
            TensorData::Bool($v) => TensorData::Bool($body),
        }
    };
}
pub(crate) use map_data;

/// The same elements in C order with a new shape.
pub(crate) fn reshape(x: &Tensor, shape: Vec<usize>) -> Result<Tensor, OpError> {
    if element_count(&shape) != Some(x.len()) {
        return Err(OpError::Attribute {
            attr: "shape",
            message: format!(
                "shape {} does not hold the {} elements of operand 0 (`x`), of shape {}",
                fmt_shape(&shape),
                x.len(),
                fmt_shape(&x.shape)
            ),
        });
    }
    Ok(Tensor {
        dtype: x.dtype,
        shape,
        data: x.data.clone(),
    })
}

/// Elements `start..end` of `axis`.
pub(crate) fn slice(x: &Tensor, axis: u32, start: usize, end: usize) -> Result<Tensor, OpError> {
    let s = split_axis(&x.shape, axis)?;
    if start > end || end > s.n {
        return Err(OpError::Attribute {
            attr: "end",
            message: format!(
                "slice {start}..{end} is not within axis {axis} of size {}",
                s.n
            ),
        });
    }
    let width = end - start;
    fn take<T: Copy>(v: &[T], s: super::reduce::AxisSplit, start: usize, width: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(s.outer * width * s.inner);
        for o in 0..s.outer {
            let from = (o * s.n + start) * s.inner;
            out.extend_from_slice(&v[from..from + width * s.inner]);
        }
        out
    }
    let mut shape = x.shape.clone();
    shape[axis as usize] = width;
    let data = map_data!(&x.data, v => take(v, s, start, width));
    Ok(Tensor {
        dtype: x.dtype,
        shape,
        data,
    })
}

/// Joins `parts` along `axis`; every other dim and the dtype must agree.
pub(crate) fn concat(parts: &[&Tensor], axis: u32) -> Result<Tensor, OpError> {
    let first = parts[0];
    let s0 = split_axis(&first.shape, axis)?;
    let mut splits = Vec::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        let operand = Operand::new(index, "x");
        if part.dtype != first.dtype {
            return Err(OpError::DType {
                operand,
                expected: format!("{} (the dtype of operand 0)", first.dtype),
                found: part.dtype,
            });
        }
        let same_rest = part.rank() == first.rank()
            && part
                .shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(a, (p, f))| a == axis as usize || p == f);
        if !same_rest {
            return Err(OpError::Shape {
                operand,
                expected: format!(
                    "{} on every axis but {axis} (the shape of operand 0)",
                    fmt_shape(&first.shape)
                ),
                found: part.shape.clone(),
            });
        }
        splits.push(split_axis(&part.shape, axis)?);
    }
    let total: usize = splits.iter().map(|s| s.n).sum();
    let mut shape = first.shape.clone();
    shape[axis as usize] = total;
    fn join<T: Copy>(vs: &[&[T]], splits: &[super::reduce::AxisSplit], outer: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(vs.iter().map(|v| v.len()).sum());
        for o in 0..outer {
            for (v, s) in vs.iter().zip(splits) {
                let block = s.n * s.inner;
                out.extend_from_slice(&v[o * block..(o + 1) * block]);
            }
        }
        out
    }
    let data = match &first.data {
        TensorData::F32(_) => {
            let vs: Vec<&[f32]> = parts.iter().filter_map(|p| p.as_f32()).collect();
            TensorData::F32(join(&vs, &splits, s0.outer))
        }
        TensorData::I32(_) => {
            let vs: Vec<&[i32]> = parts.iter().filter_map(|p| p.as_i32()).collect();
            TensorData::I32(join(&vs, &splits, s0.outer))
        }
        TensorData::Bool(_) => {
            let vs: Vec<&[bool]> = parts.iter().filter_map(|p| p.as_bool()).collect();
            TensorData::Bool(join(&vs, &splits, s0.outer))
        }
    };
    if Some(data_len(&data)) != element_count(&shape) {
        return Err(OpError::DType {
            operand: Operand::new(0, "x"),
            expected: "data matching the tensor's dtype".to_string(),
            found: first.dtype,
        });
    }
    Ok(Tensor {
        dtype: first.dtype,
        shape,
        data,
    })
}

fn data_len(d: &TensorData) -> usize {
    match d {
        TensorData::F32(v) => v.len(),
        TensorData::I32(v) => v.len(),
        TensorData::Bool(v) => v.len(),
    }
}

/// Permutes axes: result axis `i` is operand axis `perm[i]`.
pub(crate) fn transpose(x: &Tensor, perm: &[u32]) -> Result<Tensor, OpError> {
    let rank = x.rank();
    let mut seen = vec![false; rank];
    let valid = perm.len() == rank
        && perm.iter().all(|&p| {
            let p = p as usize;
            p < rank && !std::mem::replace(&mut seen[p], true)
        });
    if !valid {
        return Err(OpError::Attribute {
            attr: "perm",
            message: format!("{perm:?} is not a permutation of the {rank} axes of operand 0 (`x`)"),
        });
    }
    let mut in_strides = vec![0usize; rank];
    let mut stride = 1usize;
    for axis in (0..rank).rev() {
        in_strides[axis] = stride;
        stride *= x.shape[axis];
    }
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p as usize]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p as usize]).collect();
    fn permute<T: Copy>(v: &[T], shape: &[usize], strides: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(v.len());
        for_each_offset(shape, [strides], |[i]| out.push(v[i]));
        out
    }
    let data = map_data!(&x.data, v => permute(v, &shape, &strides));
    Ok(Tensor {
        dtype: x.dtype,
        shape,
        data,
    })
}
