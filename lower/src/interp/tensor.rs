//! Runtime tensors of the reference interpreter, and rounding to the 16-bit float types.

use std::fmt;

use half::{bf16, f16};

use crate::graph::DType;

/// A dense tensor in C order (outermost axis first).
///
/// Floating-point tensors of every float dtype hold `f32` values; for `bf16` and `f16` each value is
/// already rounded to that dtype (see [`round_to`]), so it is exactly representable in 16 bits.
#[derive(Clone, PartialEq, Debug)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Size of every axis, outermost first. Rank 0 (`[]`) is a scalar holding one element.
    pub shape: Vec<usize>,
    /// The elements, `shape.iter().product()` of them.
    pub data: TensorData,
}

/// The elements of a [`Tensor`].
#[derive(Clone, PartialEq, Debug)]
pub enum TensorData {
    /// `bf16`, `f16` and `f32` elements; 16-bit values are held already rounded to their dtype.
    F32(Vec<f32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `bool` elements (comparison results).
    Bool(Vec<bool>),
}

/// Why a [`Tensor`] could not be built.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TensorError {
    /// The number of values does not match the shape.
    #[error(
        "shape {} holds {expected} elements, but {found} values were given",
        fmt_shape(shape)
    )]
    Length {
        /// The requested shape.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// The values' kind does not fit the dtype (e.g. `f32` values for an `i32` tensor).
    #[error("a {dtype} tensor cannot hold {given} values")]
    DType {
        /// The requested dtype.
        dtype: DType,
        /// What was given: `f32`, `i32` or `bool`.
        given: &'static str,
    },
    /// The shape's element count overflows `usize`.
    #[error("shape {} has more elements than fit in memory", fmt_shape(shape))]
    TooLarge {
        /// The requested shape.
        shape: Vec<usize>,
    },
}

impl Tensor {
    /// A float tensor (`bf16`, `f16` or `f32`) from `f32` values, each rounded to `dtype`
    /// (round to nearest, ties to even).
    pub fn from_f32(
        dtype: DType,
        shape: Vec<usize>,
        mut data: Vec<f32>,
    ) -> Result<Tensor, TensorError> {
        if !dtype.is_float() {
            return Err(TensorError::DType {
                dtype,
                given: "f32",
            });
        }
        check_len(&shape, data.len())?;
        round_slice(dtype, &mut data);
        Ok(Tensor {
            dtype,
            shape,
            data: TensorData::F32(data),
        })
    }

    /// An `i32` tensor.
    pub fn from_i32(shape: Vec<usize>, data: Vec<i32>) -> Result<Tensor, TensorError> {
        check_len(&shape, data.len())?;
        Ok(Tensor {
            dtype: DType::I32,
            shape,
            data: TensorData::I32(data),
        })
    }

    /// A `bool` tensor.
    pub fn from_bool(shape: Vec<usize>, data: Vec<bool>) -> Result<Tensor, TensorError> {
        check_len(&shape, data.len())?;
        Ok(Tensor {
            dtype: DType::Bool,
            shape,
            data: TensorData::Bool(data),
        })
    }

    /// A rank-0 float tensor holding `value` rounded to `dtype`; `None` if `dtype` is not a float type.
    pub fn scalar_f32(dtype: DType, value: f32) -> Option<Tensor> {
        Tensor::from_f32(dtype, Vec::new(), vec![value]).ok()
    }

    /// A tensor of zeros (`false` for `bool`).
    ///
    /// Like any `Vec` allocation, this fails (a capacity-overflow panic or an out-of-memory abort) if
    /// the shape holds more elements than fit in memory; use [`Tensor::from_f32`] and friends to get an
    /// error instead.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Tensor {
        let n = shape.iter().fold(1usize, |acc, &d| acc.saturating_mul(d));
        let data = match dtype {
            DType::BF16 | DType::F16 | DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        };
        Tensor { dtype, shape, data }
    }

    /// Number of elements held.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether the tensor holds no elements (some axis is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The elements of a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an `i32` tensor.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            TensorData::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of a `bool` tensor.
    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.data {
            TensorData::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// Every element widened to `f64` (`bool` as 0 or 1), in C order; handy for comparisons.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// Whether the data's kind matches the dtype and its length matches the shape.
    pub fn is_consistent(&self) -> bool {
        let kind_ok = matches!(
            (&self.data, self.dtype),
            (TensorData::F32(_), DType::BF16 | DType::F16 | DType::F32)
                | (TensorData::I32(_), DType::I32)
                | (TensorData::Bool(_), DType::Bool)
        );
        kind_ok && element_count(&self.shape) == Some(self.len())
    }
}

/// Shows the dtype, the shape and up to 8 leading elements: `f32[2, 3] [1, 2, 3, 4, 5, 6]`.
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{} [", self.dtype, fmt_shape(&self.shape))?;
        const SHOWN: usize = 8;
        let n = self.len();
        for i in 0..n.min(SHOWN) {
            if i > 0 {
                f.write_str(", ")?;
            }
            match &self.data {
                TensorData::F32(v) => write!(f, "{}", v[i])?,
                TensorData::I32(v) => write!(f, "{}", v[i])?,
                TensorData::Bool(v) => write!(f, "{}", v[i])?,
            }
        }
        if n > SHOWN {
            write!(f, ", ... ({n} elements)")?;
        }
        f.write_str("]")
    }
}

/// Rounds `x` to `dtype`: round to nearest, ties to even for `bf16` and `f16` (through the `half`
/// crate); `f32` (and the non-float dtypes) unchanged.
pub fn round_to(dtype: DType, x: f32) -> f32 {
    match dtype {
        DType::BF16 => bf16::from_f32(x).to_f32(),
        DType::F16 => f16::from_f32(x).to_f32(),
        DType::F32 | DType::I32 | DType::Bool => x,
    }
}

/// Rounds an `f64` to a float dtype with a single rounding (round to nearest, ties to even), without
/// the double-rounding error of going through `f32` first.
pub fn round_f64_to(dtype: DType, x: f64) -> f32 {
    match dtype {
        DType::BF16 | DType::F16 => round_to(dtype, f64_to_f32_round_odd(x)),
        DType::F32 | DType::I32 | DType::Bool => x as f32,
    }
}

/// Rounds every element of `data` to `dtype` in place.
/// `tensor` with its values rounded to its dtype: borrowed when they already are (a tensor built
/// with [`Tensor::from_f32`], or read from a file of that dtype), so that a large input is not copied.
pub(crate) fn rounded(tensor: &Tensor) -> std::borrow::Cow<'_, Tensor> {
    let needs = match &tensor.data {
        TensorData::F32(values) => match tensor.dtype {
            DType::BF16 => values
                .iter()
                .any(|x| bf16::from_f32(*x).to_f32().to_bits() != x.to_bits()),
            DType::F16 => values
                .iter()
                .any(|x| f16::from_f32(*x).to_f32().to_bits() != x.to_bits()),
            DType::F32 | DType::I32 | DType::Bool => false,
        },
        TensorData::I32(_) | TensorData::Bool(_) => false,
    };
    if !needs {
        return std::borrow::Cow::Borrowed(tensor);
    }
    let mut copy = tensor.clone();
    if let TensorData::F32(values) = &mut copy.data {
        round_slice(copy.dtype, values);
    }
    std::borrow::Cow::Owned(copy)
}

pub(crate) fn round_slice(dtype: DType, data: &mut [f32]) {
    match dtype {
        DType::BF16 => data
            .iter_mut()
            .for_each(|x| *x = bf16::from_f32(*x).to_f32()),
        DType::F16 => data
            .iter_mut()
            .for_each(|x| *x = f16::from_f32(*x).to_f32()),
        DType::F32 | DType::I32 | DType::Bool => {}
    }
}

/// `f64 -> f32` rounding to odd: truncate, then set the last bit if anything was lost. Rounding the
/// result once more to a format with at least two fewer significand bits (bf16: 8, f16: 11, against
/// f32's 24) then gives the correctly rounded result.
fn f64_to_f32_round_odd(x: f64) -> f32 {
    let nearest = x as f32;
    if x.is_nan() || f64::from(nearest) == x {
        return nearest;
    }
    let mut bits = nearest.to_bits();
    if f64::from(nearest).abs() > x.abs() {
        // Rounded away from zero (possibly to infinity): step one ulp back towards zero.
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

/// Number of elements of `shape`, `None` on overflow.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn check_len(shape: &[usize], found: usize) -> Result<(), TensorError> {
    let expected = element_count(shape).ok_or_else(|| TensorError::TooLarge {
        shape: shape.to_vec(),
    })?;
    if expected != found {
        return Err(TensorError::Length {
            shape: shape.to_vec(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Most axes of a shape a message shows: a shape read from a file can have thousands.
const SHOWN_AXES: usize = 16;

/// Formats a runtime shape as `[2, 3]` (for messages: past [`SHOWN_AXES`] axes, the rest is
/// counted, `[1, 1, ..., 1, ... (3000 axes)]`).
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .take(SHOWN_AXES)
        .map(|d| d.to_string())
        .collect();
    if shape.len() > SHOWN_AXES {
        format!("[{}, ... ({} axes)]", parts.join(", "), shape.len())
    } else {
        format!("[{}]", parts.join(", "))
    }
}
