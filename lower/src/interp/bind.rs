//! Binding dims: static dims from specialization, dynamic dims from the input shapes, and the input
//! checks that come with it.

use cranelift_entity::SecondaryMap;

use std::fmt;

use cranelift_entity::{EntityRef, PrimaryMap};

use super::solve::{solve, AxisExpr, InputShape, SymTable};
use super::tensor::fmt_shape;
use super::{quoted_list, EvalError, Tensor};
use crate::graph::{
    ConstraintKind, Dim, DimEvalError, Kernel, OpKind, Sym, SymData, SymKind, Type,
};

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

        // One solver for the interpreter and the launch: bare symbols, then linear expressions of one
        // unbound symbol, then every axis checked.
        let mut table = SymTable::new();
        for (sym, data) in kernel.syms.iter() {
            // `statics` bound every static dim (or failed).
            match (data.kind, env.values[sym]) {
                (SymKind::Static, Some(value)) => table.push_static(data.name, value),
                _ => table.push_dynamic(data.name),
            };
        }
        let axes: Vec<Vec<GraphAxis<'_>>> = shapes
            .iter()
            .map(|shape| {
                shape
                    .iter()
                    .map(|dim| GraphAxis {
                        dim,
                        syms: &kernel.syms,
                    })
                    .collect()
            })
            .collect();
        let solver_inputs: Vec<InputShape<'_, GraphAxis<'_>>> = kernel
            .params
            .iter()
            .zip(inputs)
            .zip(&axes)
            .map(|((param, input), axes)| InputShape {
                name: &param.name,
                axes,
                shape: &input.shape,
            })
            .collect();
        let solution = solve(&table, &solver_inputs)?;
        for (sym, _) in kernel.syms.iter() {
            env.values[sym] = solution.values.get(sym.index()).copied();
        }
        env.check_all_bound()?;
        Ok(env)
    }

    /// Errors with the first dynamic dim that has no value.
    pub(crate) fn check_all_bound(&self) -> Result<(), EvalError> {
        for (sym, data) in self.kernel.syms.iter() {
            if self.values[sym].is_none() {
                return Err(EvalError::UnboundDim { sym: data.name });
            }
        }
        Ok(())
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

/// A graph IR dim as an axis of the [dim solver](super::solve): symbol `i` of the solver's table is
/// the kernel's symbol `sym{i}` (the table is built in symbol order).
struct GraphAxis<'k> {
    dim: &'k Dim,
    syms: &'k PrimaryMap<Sym, SymData>,
}

impl fmt::Display for GraphAxis<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dim.display(self.syms).fmt(f)
    }
}

impl AxisExpr for GraphAxis<'_> {
    fn syms(&self, table: &SymTable) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for sym in self.dim.syms() {
            if sym.index() < table.len() && !out.contains(&sym.index()) {
                out.push(sym.index());
            }
        }
        out
    }

    fn eval(&self, _table: &SymTable, value: &dyn Fn(usize) -> Option<i64>) -> Result<i64, String> {
        self.dim
            .eval(&|s| value(s.index()), self.syms)
            .map_err(|err| err.to_string())
    }

    fn is_bare(&self) -> bool {
        self.dim.as_sym().is_some()
    }
}
