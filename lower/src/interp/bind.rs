//! Binding dims: static dims from specialization, dynamic dims from the input shapes, and the input
//! checks that come with it.

use cranelift_entity::SecondaryMap;

use super::tensor::fmt_shape;
use super::{quoted_list, sym_name, EvalError, Tensor};
use crate::graph::{ConstraintKind, Dim, DimEvalError, Kernel, OpKind, Sym, SymKind, Type};

/// Evaluates `dim` to a size with `value` giving each symbol's value.
pub(crate) fn eval_size(
    kernel: &Kernel,
    dim: &Dim,
    value: &dyn Fn(Sym) -> Option<i64>,
) -> Result<usize, DimEvalError> {
    let v = dim.eval(value, &kernel.syms)?;
    usize::try_from(v).map_err(|_| DimEvalError::OutOfRange(i128::from(v)))
}

/// Binds the dynamic dims of `kernel` from the shapes of `inputs` and checks the inputs against the
/// parameter types (count, dtype, rank, every axis). Returns each dynamic dim with its value, in
/// declaration order.
///
/// A dim written as a bare symbol (`T`) binds it directly; a dim that is an expression of a single
/// still-unbound symbol (`2*T`, `T + 1`) is solved for it when it is linear. Every axis is then
/// checked against what its dim evaluates to.
pub fn bind_dims(kernel: &Kernel, inputs: &[Tensor]) -> Result<Vec<(Sym, i64)>, EvalError> {
    let env = Env::bind(kernel, inputs)?;
    Ok(kernel
        .syms
        .iter()
        .filter(|(_, d)| d.kind == SymKind::Dynamic)
        .filter_map(|(s, _)| env.values[s].map(|v| (s, v)))
        .collect())
}

/// A kernel with every symbol it uses bound to a value.
pub(crate) struct Env<'k> {
    pub(crate) kernel: &'k Kernel,
    pub(crate) values: SecondaryMap<Sym, Option<i64>>,
}

/// Where a dynamic dim got its value.
#[derive(Clone)]
struct Origin {
    param: String,
    axis: usize,
}

impl<'k> Env<'k> {
    /// Binds the static dims recorded by specialization; errors if some static dim has no value.
    pub(crate) fn statics(kernel: &'k Kernel) -> Result<Env<'k>, EvalError> {
        check_syms_declared(kernel)?;
        let mut values: SecondaryMap<Sym, Option<i64>> = SecondaryMap::new();
        let mut unbound = Vec::new();
        for (sym, data) in kernel.syms.iter() {
            if data.kind != SymKind::Static {
                continue;
            }
            match kernel.bound.iter().find(|(name, _)| *name == data.name) {
                Some(&(_, value)) => values[sym] = Some(value),
                None => unbound.push(data.name.as_str()),
            }
        }
        if !unbound.is_empty() {
            return Err(EvalError::NotSpecialized {
                kernel: kernel.name.clone(),
                names: quoted_list(unbound),
            });
        }
        Ok(Env { kernel, values })
    }

    /// Binds every dim from specialization and from the input shapes, checking the inputs.
    pub(crate) fn bind(kernel: &'k Kernel, inputs: &[Tensor]) -> Result<Env<'k>, EvalError> {
        let mut env = Env::statics(kernel)?;
        if inputs.len() != kernel.params.len() {
            return Err(EvalError::InputCount {
                kernel: kernel.name.clone(),
                expected: kernel.params.len(),
                found: inputs.len(),
            });
        }

        // Dtypes, ranks and data lengths first.
        let mut shapes: Vec<&[Dim]> = Vec::with_capacity(inputs.len());
        for (index, (param, input)) in kernel.params.iter().zip(inputs).enumerate() {
            let input_data = |message: String| EvalError::InputData {
                index,
                param: param.name.clone(),
                message,
            };
            let ty = match kernel.values.get(param.value).map(|v| &v.ty) {
                Some(Type::Tensor(ty)) => ty,
                Some(Type::Routes(_)) => {
                    return Err(EvalError::Malformed {
                        kernel: kernel.name.clone(),
                        message: format!("parameter `{}` is a routing table", param.name),
                    })
                }
                None => {
                    return Err(EvalError::Malformed {
                        kernel: kernel.name.clone(),
                        message: format!("parameter `{}` has no value {}", param.name, param.value),
                    })
                }
            };
            if !input.is_consistent() {
                return Err(input_data(format!(
                    "holds {} {} values, which does not fit dtype {} and shape {}",
                    input.len(),
                    data_kind(input),
                    input.dtype,
                    fmt_shape(&input.shape)
                )));
            }
            if input.dtype != ty.dtype {
                return Err(EvalError::InputDType {
                    index,
                    param: param.name.clone(),
                    expected: ty.dtype,
                    found: input.dtype,
                });
            }
            if input.rank() != ty.rank() {
                return Err(EvalError::InputRank {
                    index,
                    param: param.name.clone(),
                    declared: Type::Tensor(ty.clone()).display(&kernel.syms).to_string(),
                    expected: ty.rank(),
                    found: input.rank(),
                    shape: fmt_shape(&input.shape),
                });
            }
            shapes.push(&ty.shape);
        }

        // Bare symbols bind directly.
        let mut origins: SecondaryMap<Sym, Option<Origin>> = SecondaryMap::new();
        for (index, (param, input)) in kernel.params.iter().zip(inputs).enumerate() {
            for (axis, (dim, &size)) in shapes[index].iter().zip(&input.shape).enumerate() {
                let Some(sym) = dim.as_sym() else { continue };
                if kernel.syms.get(sym).is_none() {
                    continue; // Reported by the evaluation below.
                }
                match (env.values[sym], origins[sym].clone()) {
                    (None, _) => {
                        env.values[sym] = Some(size as i64);
                        origins[sym] = Some(Origin {
                            param: param.name.clone(),
                            axis,
                        });
                    }
                    (Some(value), Some(first)) if value != size as i64 => {
                        return Err(EvalError::DimConflict {
                            sym: sym_name(kernel, sym),
                            first_param: first.param,
                            first_axis: first.axis,
                            first_value: value,
                            second_param: param.name.clone(),
                            second_axis: axis,
                            second_value: size,
                        });
                    }
                    _ => {}
                }
            }
        }

        // Linear expressions of one unbound symbol are solved for it, until nothing changes.
        loop {
            let mut progress = false;
            for (index, input) in inputs.iter().enumerate() {
                for (dim, &size) in shapes[index].iter().zip(&input.shape) {
                    let unbound: Vec<Sym> = dim
                        .syms()
                        .into_iter()
                        .filter(|&s| env.values.get(s).copied().flatten().is_none())
                        .collect();
                    if let [sym] = unbound[..] {
                        if kernel.syms.get(sym).is_some() {
                            if let Some(value) = env.solve(dim, sym, size) {
                                env.values[sym] = Some(value);
                                progress = true;
                            }
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }

        // Every axis must now evaluate to the input's size.
        for (index, (param, input)) in kernel.params.iter().zip(inputs).enumerate() {
            for (axis, (dim, &size)) in shapes[index].iter().zip(&input.shape).enumerate() {
                let dim_text = dim.display(&kernel.syms).to_string();
                match dim.eval(&|s| env.values.get(s).copied().flatten(), &kernel.syms) {
                    Ok(value) if value == size as i64 => {}
                    Ok(value) => {
                        return Err(EvalError::InputDim {
                            index,
                            param: param.name.clone(),
                            axis,
                            dim: dim_text,
                            expected: value,
                            found: size,
                        })
                    }
                    Err(DimEvalError::Unbound(sym)) => return Err(EvalError::UnboundDim { sym }),
                    Err(source) => {
                        return Err(EvalError::InputDimEval {
                            index,
                            param: param.name.clone(),
                            axis,
                            dim: dim_text,
                            source,
                        })
                    }
                }
            }
        }
        env.check_all_bound()?;
        Ok(env)
    }

    /// Errors with the first dynamic dim that has no value.
    pub(crate) fn check_all_bound(&self) -> Result<(), EvalError> {
        for (sym, data) in self.kernel.syms.iter() {
            if self.values[sym].is_none() {
                return Err(EvalError::UnboundDim {
                    sym: data.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The value of `dim` with `sym` set to `x` and everything else as bound.
    fn eval_with(&self, dim: &Dim, sym: Sym, x: i64) -> Option<i64> {
        dim.eval(
            &|s| {
                if s == sym {
                    Some(x)
                } else {
                    self.values.get(s).copied().flatten()
                }
            },
            &self.kernel.syms,
        )
        .ok()
    }

    /// Solves `dim(sym) = size` for a dim linear in `sym`: reads the slope off two points, then checks
    /// the candidate exactly (so a nonlinear dim is never solved wrongly).
    fn solve(&self, dim: &Dim, sym: Sym, size: usize) -> Option<i64> {
        let f1 = self.eval_with(dim, sym, 1)?;
        let f2 = self.eval_with(dim, sym, 2)?;
        let slope = f2 - f1;
        let offset = f1 - slope;
        let target = size as i64 - offset;
        if slope == 0 || target % slope != 0 {
            return None;
        }
        let x = target / slope;
        (x >= 0 && self.eval_with(dim, sym, x) == Some(size as i64)).then_some(x)
    }

    /// Evaluates a dim with the bound values.
    pub(crate) fn eval_dim(&self, dim: &Dim) -> Result<usize, DimEvalError> {
        eval_size(self.kernel, dim, &|s| self.values.get(s).copied().flatten())
    }

    /// Checks every constraint of the kernel with the bound values.
    pub(crate) fn check_constraints(&self) -> Result<(), EvalError> {
        self.kernel
            .check_constraints(&|s| self.values.get(s).copied().flatten())
            .map_err(|e| EvalError::Constraint(Box::new(e)))
    }
}

/// Errors if some dim of the kernel mentions a symbol the kernel does not declare (dims could not be
/// evaluated then).
fn check_syms_declared(kernel: &Kernel) -> Result<(), EvalError> {
    let mut dims: Vec<&Dim> = Vec::new();
    for value in kernel.values.values() {
        match &value.ty {
            Type::Tensor(t) => dims.extend(&t.shape),
            Type::Routes(r) => dims.extend([&r.tokens, &r.k, &r.experts]),
        }
    }
    for op in kernel.ops.values() {
        match &op.kind {
            OpKind::Reshape { shape } => dims.extend(shape),
            OpKind::Slice { start, end, .. } => dims.extend([start, end]),
            OpKind::TopK { k } => dims.push(k),
            OpKind::GroupTopK { groups, k } => dims.extend([groups, k]),
            OpKind::ScatterAdd { size } => dims.push(size),
            OpKind::Route { experts } => dims.push(experts),
            _ => {}
        }
    }
    for constraint in &kernel.constraints {
        match &constraint.kind {
            ConstraintKind::Divides { dim, divisor } => dims.extend([dim, divisor]),
            ConstraintKind::LessEq { small, large } => dims.extend([small, large]),
            ConstraintKind::Positive { dim } => dims.push(dim),
        }
    }
    for dim in dims {
        if let Some(sym) = dim
            .syms()
            .into_iter()
            .find(|&s| kernel.syms.get(s).is_none())
        {
            return Err(EvalError::Malformed {
                kernel: kernel.name.clone(),
                message: format!("a dim mentions {sym}, which is not a symbol of the kernel"),
            });
        }
    }
    Ok(())
}

fn data_kind(t: &Tensor) -> &'static str {
    match &t.data {
        super::TensorData::F32(_) => "f32",
        super::TensorData::I32(_) => "i32",
        super::TensorData::Bool(_) => "bool",
    }
}
