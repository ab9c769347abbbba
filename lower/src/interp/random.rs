//! Deterministic random inputs for tests.

use super::bind::{eval_size, Env};
use super::{quoted_list, EvalError, Tensor, TensorData};
use crate::graph::{DType, SymKind, Type};

/// The splitmix64 generator (Steele, Lea and Flood): tiny, fast and good enough for test data.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 24 random bits (every value exact in `f32`).
    pub fn next_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32
    }

    /// Uniform in `[lo, hi)` (before rounding by the caller).
    pub fn next_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_unit()
    }

    /// Uniform in `0..n` (`n > 0`; returns 0 for `n = 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: the bias is below 2^-32 for any n < 2^32.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The values an `i32` input `value` of `kernel` is drawn from, `0..bound`: `0..E` for the expert
/// ids a `route` reads (every id valid), else `0..8`.
pub fn int_bound(kernel: &crate::graph::Kernel, value: crate::graph::Value) -> u64 {
    kernel
        .order
        .iter()
        .find_map(|&op| match &kernel.ops[op].kind {
            crate::graph::OpKind::Route { experts }
                if kernel.ops[op].args.first() == Some(&value) =>
            {
                experts
                    .as_int()
                    .and_then(|e| u64::try_from(e).ok())
                    .filter(|&e| e > 0)
            }
            _ => None,
        })
        .unwrap_or(8)
}

/// Deterministic inputs for every parameter of a specialized kernel: floats uniform in `[-2, 2)` and
/// then rounded to their dtype (so a 16-bit value may round to 2.0), `i32` uniform in `0..8` (in
/// `0..E` for the expert ids a `route` reads), `bool`
/// uniform. `dims` gives every dynamic dim a value by name. The same seed always gives the same
/// inputs; the parameters draw from one stream, in order.
pub fn random_inputs(
    kernel: &crate::graph::Kernel,
    seed: u64,
    dims: &[(&str, i64)],
) -> Result<Vec<Tensor>, EvalError> {
    make_inputs(kernel, dims, Some(SplitMix64::new(seed)))
}

/// Zero inputs of the shapes [`random_inputs`] gives, for runs that never look at the data (the
/// emulator's timing-only mode): nothing is drawn.
pub fn zero_inputs(
    kernel: &crate::graph::Kernel,
    dims: &[(&str, i64)],
) -> Result<Vec<Tensor>, EvalError> {
    make_inputs(kernel, dims, None)
}

/// The inputs of [`random_inputs`] (with `rng`) or [`zero_inputs`] (without).
fn make_inputs(
    kernel: &crate::graph::Kernel,
    dims: &[(&str, i64)],
    mut rng: Option<SplitMix64>,
) -> Result<Vec<Tensor>, EvalError> {
    let mut env = Env::statics(kernel)?;
    for &(name, value) in dims {
        let sym = kernel
            .syms
            .iter()
            .find(|(_, d)| d.name == name && d.kind == SymKind::Dynamic)
            .map(|(s, _)| s)
            .ok_or_else(|| EvalError::UnknownDim {
                kernel: kernel.name.clone(),
                name: name.to_string(),
                known: quoted_list(kernel.dynamic_dims()),
            })?;
        if value < 0 {
            return Err(EvalError::BadDimValue {
                name: name.to_string(),
                message: format!("{value} is negative"),
            });
        }
        if let Some(old) = env.values[sym] {
            return Err(EvalError::BadDimValue {
                name: name.to_string(),
                message: format!("bound twice, to {old} and to {value}"),
            });
        }
        env.values[sym] = Some(value);
    }
    env.check_all_bound()?;

    let mut inputs = Vec::with_capacity(kernel.params.len());
    for (index, param) in kernel.params.iter().enumerate() {
        let Some(Type::Tensor(ty)) = kernel.values.get(param.value).map(|v| &v.ty) else {
            return Err(EvalError::Malformed {
                kernel: kernel.name.clone(),
                message: format!("parameter `{}` is not a tensor", param.name),
            });
        };
        let mut shape = Vec::with_capacity(ty.rank());
        for (axis, dim) in ty.shape.iter().enumerate() {
            let size = eval_size(kernel, dim, &|s| env.values.get(s).copied().flatten()).map_err(
                |source| EvalError::InputDimEval {
                    index,
                    param: param.name.clone(),
                    axis,
                    dim: dim.display(&kernel.syms).to_string(),
                    source,
                },
            )?;
            shape.push(size);
        }
        let Some(rng) = rng.as_mut() else {
            inputs.push(Tensor::zeros(ty.dtype, shape));
            continue;
        };
        let n: usize = shape.iter().product();
        let data = match ty.dtype {
            DType::BF16 | DType::F16 | DType::F32 => TensorData::F32(
                (0..n)
                    .map(|_| super::round_to(ty.dtype, rng.next_f32(-2.0, 2.0)))
                    .collect(),
            ),
            DType::I32 => {
                let bound = int_bound(kernel, param.value);
                TensorData::I32((0..n).map(|_| rng.below(bound) as i32).collect())
            }
            DType::Bool => TensorData::Bool((0..n).map(|_| rng.next_u64() & 1 == 1).collect()),
        };
        inputs.push(Tensor {
            dtype: ty.dtype,
            shape,
            data,
        });
    }
    Ok(inputs)
}
