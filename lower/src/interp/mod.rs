//! The reference interpreter over the graph IR: the numeric oracle every later stage is tested against.
//!
//! [`eval`] runs a specialized [`Kernel`] on concrete [`Tensor`]s, following the op semantics documented
//! in [`crate::graph::ops`] exactly:
//!
//! - values of the 16-bit float types are held as `f32` already rounded to their dtype; every op computes
//!   in `f32` and rounds its result to the result dtype (round to nearest, ties to even), except that the
//!   composites (`softmax`, `log_softmax`, `rms_norm`, `swiglu`, `matmul`, `grouped_matmul`, `combine`,
//!   and the accumulation of `sum`, `mean` and `scatter_add`) keep their internals in `f32` and round
//!   once at the end;
//! - sums accumulate in `f32` in index order, so results are deterministic;
//! - selections (`topk`, `group_topk`, `argmax`, `argmin`) break ties by the lowest index; a NaN counts
//!   as the extremum (as NumPy's `argmax` and `torch.topk` treat it);
//! - `i32` arithmetic wraps, integer division truncates towards zero and a division by zero gives 0;
//! - a `gather` index out of range is clamped into the table (the rule the emitted kernels follow); a
//!   `scatter_add` index or a `route` expert id out of range is an evaluation error;
//! - float to 16-bit float overflow gives an infinity (IEEE 754, the Atlas A2 INF/NaN mode); float to
//!   `i32` truncates, saturates and maps NaN to 0 (README "Numeric rules").
//!
//! [`eval_with_bounds`] also returns, for every output element, a bound on its distance from the exact
//! result that holds for any `f32` implementation of the ops, the emitted kernels included (module
//! `bound`); device results are compared within twice that bound.
//!
//! Before evaluating, [`eval`] checks the inputs against the parameter types and binds the dynamic
//! dims from the input shapes ([`bind_dims`]); every op's results are checked against their declared
//! types, so a kernel whose types are wrong is reported rather than silently evaluated.
//! [`random_inputs`] makes deterministic inputs for tests.

mod bind;
mod bound;
mod elementwise;
mod index;
mod layout;
mod linalg;
mod moe;
mod random;
mod reduce;
pub mod solve;
mod tensor;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use cranelift_entity::SecondaryMap;

use crate::graph::specialize::SpecializeError;
use crate::graph::{DType, Dim, DimEvalError, Kernel, Op, OpKind, SrcLoc, Type, Value};

pub use bind::bind_dims;
pub use bound::{half_ulp, ulp, Bound, F32_UNIT};
pub use moe::{route, Routes};
pub use random::{int_bound, random_inputs, zero_inputs, SplitMix64};
pub use tensor::{round_f64_to, round_to, Tensor, TensorData, TensorError};

use bind::Env;
use tensor::fmt_shape;

/// Why a kernel could not be evaluated.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum EvalError {
    /// Some static dims of the kernel have not been bound by specialization.
    #[error("kernel `{kernel}` is not specialized: static dims {names} have no value (specialize it first)")]
    NotSpecialized {
        /// The kernel's name.
        kernel: String,
        /// The unbound static dims, as a list of quoted names.
        names: String,
    },
    /// The number of inputs does not match the number of parameters.
    #[error("kernel `{kernel}` takes {}, found {found}", counted(*expected, "input"))]
    InputCount {
        /// The kernel's name.
        kernel: String,
        /// Number of parameters.
        expected: usize,
        /// Number of inputs given.
        found: usize,
    },
    /// An input's data does not match its own dtype or shape.
    #[error("input {index} (`{param}`): {message}")]
    InputData {
        /// Position of the input.
        index: usize,
        /// The parameter's name.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// An input's dtype differs from its parameter's.
    #[error("input {index} (`{param}`): expected dtype {expected}, found {found}")]
    InputDType {
        /// Position of the input.
        index: usize,
        /// The parameter's name.
        param: String,
        /// The parameter's dtype.
        expected: DType,
        /// The input's dtype.
        found: DType,
    },
    /// An input's rank differs from its parameter's.
    #[error("input {index} (`{param}`): expected rank {expected} (`{declared}`), found rank {found} (shape {shape})")]
    InputRank {
        /// Position of the input.
        index: usize,
        /// The parameter's name.
        param: String,
        /// The parameter's type, with symbol names.
        declared: String,
        /// The parameter's rank.
        expected: usize,
        /// The input's rank.
        found: usize,
        /// The input's shape.
        shape: String,
    },
    /// The dims could not be bound from the input shapes, or an input axis does not have the size
    /// its dim gives (the [dim solver](solve)'s error, shared with the launch; boxed to keep
    /// `EvalError` small).
    #[error(transparent)]
    Dims(Box<solve::DimError>),
    /// A parameter's dim could not be evaluated.
    #[error(
        "input {index} (`{param}`): axis {axis} is `{dim}`, which cannot be evaluated: {source}"
    )]
    InputDimEval {
        /// Position of the input.
        index: usize,
        /// The parameter's name.
        param: String,
        /// The axis.
        axis: usize,
        /// The declared dim, with symbol names.
        dim: String,
        /// Why it could not be evaluated.
        source: DimEvalError,
    },
    /// A dynamic dim that no input shape determines.
    #[error("dynamic dim `{sym}` is not determined by any input shape")]
    UnboundDim {
        /// The dim.
        sym: crate::sym::Symbol,
    },
    /// A dim binding given to [`random_inputs`] names no dynamic dim of the kernel.
    #[error("kernel `{kernel}` has no dynamic dim `{name}` (its dynamic dims: {known})")]
    UnknownDim {
        /// The kernel's name.
        kernel: String,
        /// The name given.
        name: String,
        /// The kernel's dynamic dims, as a list of quoted names.
        known: String,
    },
    /// A dim binding given to [`random_inputs`] is negative or bound twice.
    #[error("dynamic dim `{name}`: {message}")]
    BadDimValue {
        /// The dim's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A constraint of the kernel does not hold for the bound dims (boxed to keep `EvalError` small).
    #[error("{0}")]
    Constraint(Box<SpecializeError>),
    /// The kernel's structure is broken (a dangling reference, a use before definition, a routing
    /// table as a parameter or output); the verifier reports these in detail.
    #[error("kernel `{kernel}` is malformed: {message}")]
    Malformed {
        /// The kernel's name.
        kernel: String,
        /// What is wrong.
        message: String,
    },
    /// An op failed.
    #[error("in `{name}` ({op}{}): {error}", fmt_at(loc))]
    Op {
        /// The failing op.
        op: Op,
        /// Its name in the text form.
        name: &'static str,
        /// Its location in the DSL source (unknown if all zero).
        loc: SrcLoc,
        /// What went wrong (boxed to keep `EvalError` small).
        error: Box<OpError>,
    },
}

impl From<solve::DimError> for EvalError {
    fn from(err: solve::DimError) -> EvalError {
        EvalError::Dims(Box::new(err))
    }
}

/// An operand of an op, for messages: `operand 1 (`index`)`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Operand {
    /// Its position among the op's operands.
    pub index: usize,
    /// Its name in the op's documentation (`x`, `table`, `index`, ...).
    pub name: &'static str,
}

impl Operand {
    /// Operand `index`, called `name`.
    pub const fn new(index: usize, name: &'static str) -> Operand {
        Operand { index, name }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operand {} (`{}`)", self.index, self.name)
    }
}

/// What went wrong inside one op (wrapped in [`EvalError::Op`] with the op's name and location).
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum OpError {
    /// Wrong number of operands.
    #[error("expected {expected} operands, found {found}")]
    Arity {
        /// How many the op takes.
        expected: &'static str,
        /// How many it has.
        found: usize,
    },
    /// A routing table where a tensor is needed.
    #[error("{operand} is a routing table, expected a tensor")]
    ExpectedTensor {
        /// The operand.
        operand: Operand,
    },
    /// A tensor where a routing table is needed.
    #[error("{operand} is a tensor, expected a routing table made by `route`")]
    ExpectedRoutes {
        /// The operand.
        operand: Operand,
    },
    /// An operand of the wrong dtype.
    #[error("{operand} has dtype {found}, expected {expected}")]
    DType {
        /// The operand.
        operand: Operand,
        /// What was expected, e.g. `f32 (the dtype of operand 0)` or `a float dtype`.
        expected: String,
        /// Its dtype.
        found: DType,
    },
    /// An operand of the wrong shape.
    #[error("{operand} has shape {}, expected {expected}", fmt_shape(found))]
    Shape {
        /// The operand.
        operand: Operand,
        /// What was expected.
        expected: String,
        /// Its shape.
        found: Vec<usize>,
    },
    /// Operand shapes that do not broadcast.
    #[error("cannot broadcast {} with {}: axis {axis} of the result would be {first} in one and {second} in the other", fmt_shape(a), fmt_shape(b))]
    Broadcast {
        /// One shape.
        a: Vec<usize>,
        /// The other shape.
        b: Vec<usize>,
        /// The clashing axis of the result (aligned at the trailing axis).
        axis: usize,
        /// The size in `a`.
        first: usize,
        /// The size in `b`.
        second: usize,
    },
    /// An attribute out of range for the operands (an axis, `k`, a slice bound, a permutation).
    #[error("attribute `{attr}`: {message}")]
    Attribute {
        /// The attribute's name.
        attr: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An index operand holds a value out of range.
    #[error(
        "{operand}: index {index} at position {} is outside 0..{bound}",
        fmt_shape(position)
    )]
    IndexOutOfRange {
        /// The index operand.
        operand: Operand,
        /// The offending index.
        index: i32,
        /// Its position in the index tensor.
        position: Vec<usize>,
        /// The exclusive upper bound.
        bound: usize,
    },
    /// An expert id of `route` out of range.
    #[error("{operand}: expert id {id} of token {token}, slot {slot} is outside 0..{experts}")]
    ExpertOutOfRange {
        /// The expert-id operand.
        operand: Operand,
        /// The offending id.
        id: i32,
        /// The token (row).
        token: usize,
        /// The slot (column).
        slot: usize,
        /// The number of experts.
        experts: usize,
    },
    /// A dim of an attribute or a result type could not be evaluated.
    #[error("cannot evaluate `{dim}` ({what}): {source}")]
    Dim {
        /// Which dim it is (e.g. `attribute k`, `result 0 axis 1`).
        what: String,
        /// The dim, with symbol names.
        dim: String,
        /// Why.
        source: DimEvalError,
    },
    /// A result does not match the op's declared result type.
    #[error("result {index} is {found}, but its declared type `{declared}` is {expected}")]
    ResultType {
        /// Which result.
        index: usize,
        /// The declared type, with symbol names.
        declared: String,
        /// The declared type with dims evaluated.
        expected: String,
        /// What the op computed.
        found: String,
    },
}

/// A runtime value: a tensor or a routing table.
#[derive(Clone, Debug)]
pub(crate) enum Rt<'a> {
    /// A dense tensor: borrowed for a parameter that needs no rounding, so that an input as large as
    /// a layer's expert weights is not copied.
    Tensor(Cow<'a, Tensor>),
    /// A routing table made by `route`.
    Routes(Routes),
}

/// Evaluates a specialized kernel on `inputs` (one per parameter, in order) and returns its outputs in
/// the order of [`Kernel::outputs`].
///
/// Inputs of a 16-bit float dtype are rounded to it on entry (a [`Tensor`] built with
/// [`Tensor::from_f32`] already is).
pub fn eval(kernel: &Kernel, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    eval_observed(kernel, inputs, &mut |_, _, _| {})
}

/// [`eval`], and for every output a bound on the distance of each element from the exact result (see
/// the module `bound` for the rules): any implementation of the ops in `f32` arithmetic, the emitted
/// kernels included, stays within it, so two of them differ by at most twice the bound.
pub fn eval_with_bounds(
    kernel: &Kernel,
    inputs: &[Tensor],
) -> Result<(Vec<Tensor>, Vec<Bound>), EvalError> {
    let mut bounds = bound::Bounds::new(kernel);
    let outputs = eval_observed(kernel, inputs, &mut |op, args, results| {
        bounds.observe(kernel, op, args, results)
    })?;
    let output_bounds = kernel
        .outputs
        .iter()
        .zip(&outputs)
        .map(|(o, t)| bounds.get(o.value, t.len()))
        .collect();
    Ok((outputs, output_bounds))
}

/// Called after every op with the op, its operands and its results.
type Observer<'a> = dyn FnMut(Op, &[&Rt<'_>], &[Rt<'_>]) + 'a;

/// [`eval`], calling `observe(op, operands, results)` after every op.
fn eval_observed<'i>(
    kernel: &Kernel,
    inputs: &'i [Tensor],
    observe: &mut Observer<'_>,
) -> Result<Vec<Tensor>, EvalError> {
    let env = Env::bind(kernel, inputs)?;
    env.check_constraints()?;
    let malformed = |message: String| EvalError::Malformed {
        kernel: kernel.name.clone(),
        message,
    };

    let keep: Vec<Value> = kernel.outputs.iter().map(|o| o.value).collect();
    let last_use = last_uses(kernel);
    let mut slots: SecondaryMap<Value, Option<Rt<'i>>> = SecondaryMap::new();

    for (position, &op) in kernel.order.iter().enumerate() {
        let data = kernel
            .ops
            .get(op)
            .ok_or_else(|| malformed(format!("{op} is not an op of the kernel")))?;
        let results: Vec<Rt<'i>> = match &data.kind {
            OpKind::Param { index } => {
                let input = inputs.get(*index as usize).ok_or_else(|| {
                    malformed(format!(
                        "{op} is `param {index}`, but the kernel has {} parameters",
                        inputs.len()
                    ))
                })?;
                vec![Rt::Tensor(tensor::rounded(input))]
            }
            kind => {
                let mut args: Vec<&Rt<'i>> = Vec::with_capacity(data.args.len());
                for &arg in &data.args {
                    let rt = slots.get(arg).and_then(Option::as_ref).ok_or_else(|| {
                        malformed(format!("{op} uses {arg} before it is defined"))
                    })?;
                    args.push(rt);
                }
                eval_op(&env, kind, &args).map_err(|error| op_error(kernel, op, error))?
            }
        };
        if results.len() != data.results.len() {
            return Err(malformed(format!(
                "{op} (`{}`) declares {} results, but the op makes {}",
                data.kind.name(),
                data.results.len(),
                results.len()
            )));
        }
        for (index, (&value, rt)) in data.results.iter().zip(&results).enumerate() {
            let declared = kernel.values.get(value).ok_or_else(|| {
                malformed(format!(
                    "{op} defines {value}, which is not a value of the kernel"
                ))
            })?;
            env.check_result(index, &declared.ty, rt)
                .map_err(|error| op_error(kernel, op, error))?;
        }
        let operands: Vec<&Rt<'i>> = data
            .args
            .iter()
            .filter_map(|&arg| slots.get(arg).and_then(Option::as_ref))
            .collect();
        observe(op, &operands, &results);
        for (&value, rt) in data.results.iter().zip(results) {
            slots[value] = Some(rt);
        }
        // Free the operands this op was the last user of.
        for &arg in &data.args {
            if last_use.get(arg).copied() == Some(position) && !keep.contains(&arg) {
                slots[arg] = None;
            }
        }
    }

    let mut outputs = Vec::with_capacity(kernel.outputs.len());
    for output in &kernel.outputs {
        match slots.get(output.value).and_then(Option::as_ref) {
            Some(Rt::Tensor(t)) => outputs.push(t.as_ref().clone()),
            Some(Rt::Routes(_)) => {
                return Err(malformed(format!(
                    "output `{}` ({}) is a routing table, not a tensor",
                    output.name, output.value
                )))
            }
            None => {
                return Err(malformed(format!(
                    "output `{}` ({}) is not defined by any op",
                    output.name, output.value
                )))
            }
        }
    }
    Ok(outputs)
}

/// For every value, the position in [`Kernel::order`] of the last op that uses it.
fn last_uses(kernel: &Kernel) -> SecondaryMap<Value, usize> {
    let mut last = SecondaryMap::with_default(usize::MAX);
    for (position, &op) in kernel.order.iter().enumerate() {
        if let Some(data) = kernel.ops.get(op) {
            for &arg in &data.args {
                last[arg] = position;
            }
        }
    }
    last
}

fn op_error(kernel: &Kernel, op: Op, error: OpError) -> EvalError {
    let name = kernel.ops.get(op).map_or("?", |d| d.kind.name());
    let loc = kernel.locs.get(op).copied().unwrap_or_default();
    EvalError::Op {
        op,
        name,
        loc,
        error: Box::new(error),
    }
}

/// Evaluates one op (not `param`) on its operands.
fn eval_op<'r>(env: &Env<'_>, kind: &OpKind, args: &[&Rt<'_>]) -> Result<Vec<Rt<'r>>, OpError> {
    let a = Args(args);
    let one = |t: Tensor| Ok(vec![Rt::Tensor(Cow::Owned(t))]);
    match kind {
        OpKind::Param { .. } => Err(OpError::Arity {
            expected: "no",
            found: args.len(),
        }),
        OpKind::Const { value, dtype } => {
            a.count("no", 0)?;
            one(elementwise::constant(*value, *dtype)?)
        }
        OpKind::Unary(op) => {
            a.count("1", 1)?;
            one(elementwise::unary(*op, a.tensor(0, "x")?)?)
        }
        OpKind::Binary(op) => {
            a.count("2", 2)?;
            one(elementwise::binary(
                *op,
                a.tensor(0, "a")?,
                a.tensor(1, "b")?,
            )?)
        }
        OpKind::Cast { to } => {
            a.count("1", 1)?;
            one(elementwise::cast(*to, a.tensor(0, "x")?))
        }
        OpKind::Compare(op) => {
            a.count("2", 2)?;
            one(elementwise::compare(
                *op,
                a.tensor(0, "a")?,
                a.tensor(1, "b")?,
            )?)
        }
        OpKind::Select => {
            a.count("3", 3)?;
            one(elementwise::select(
                a.tensor(0, "cond")?,
                a.tensor(1, "a")?,
                a.tensor(2, "b")?,
            )?)
        }
        OpKind::Reduce { op, axis, keep_dim } => {
            a.count("1", 1)?;
            one(reduce::reduce(*op, a.tensor(0, "x")?, *axis, *keep_dim)?)
        }
        OpKind::ArgReduce { op, axis, keep_dim } => {
            a.count("1", 1)?;
            one(reduce::arg_reduce(
                *op,
                a.tensor(0, "x")?,
                *axis,
                *keep_dim,
            )?)
        }
        OpKind::Softmax { axis } => {
            a.count("1", 1)?;
            one(reduce::softmax(a.tensor(0, "x")?, *axis, false)?)
        }
        OpKind::LogSoftmax { axis } => {
            a.count("1", 1)?;
            one(reduce::softmax(a.tensor(0, "x")?, *axis, true)?)
        }
        OpKind::RmsNorm { eps } => {
            a.count("2", 2)?;
            one(reduce::rms_norm(
                a.tensor(0, "x")?,
                a.tensor(1, "weight")?,
                *eps,
            )?)
        }
        OpKind::Reshape { shape } => {
            a.count("1", 1)?;
            let mut dims = Vec::with_capacity(shape.len());
            for (axis, dim) in shape.iter().enumerate() {
                dims.push(env.dim(dim, &format!("attribute shape, axis {axis}"))?);
            }
            one(layout::reshape(a.tensor(0, "x")?, dims)?)
        }
        OpKind::Slice { axis, start, end } => {
            a.count("1", 1)?;
            let start = env.dim(start, "attribute start")?;
            let end = env.dim(end, "attribute end")?;
            one(layout::slice(a.tensor(0, "x")?, *axis, start, end)?)
        }
        OpKind::Concat { axis } => {
            if args.is_empty() {
                return Err(OpError::Arity {
                    expected: "at least 1",
                    found: 0,
                });
            }
            let mut parts = Vec::with_capacity(args.len());
            for index in 0..args.len() {
                parts.push(a.tensor(index, "x")?);
            }
            one(layout::concat(&parts, *axis)?)
        }
        OpKind::Transpose { perm } => {
            a.count("1", 1)?;
            one(layout::transpose(a.tensor(0, "x")?, perm)?)
        }
        OpKind::TopK { k } => {
            a.count("1", 1)?;
            let k = env.dim(k, "attribute k")?;
            let (values, indices) = index::topk(a.tensor(0, "x")?, k)?;
            Ok(vec![
                Rt::Tensor(Cow::Owned(values)),
                Rt::Tensor(Cow::Owned(indices)),
            ])
        }
        OpKind::GroupTopK { groups, k } => {
            a.count("1", 1)?;
            let groups = env.dim(groups, "attribute groups")?;
            let k = env.dim(k, "attribute k")?;
            let (values, indices) = index::group_topk(a.tensor(0, "x")?, groups, k)?;
            Ok(vec![
                Rt::Tensor(Cow::Owned(values)),
                Rt::Tensor(Cow::Owned(indices)),
            ])
        }
        OpKind::Gather => {
            a.count("2", 2)?;
            one(index::gather(a.tensor(0, "table")?, a.tensor(1, "index")?)?)
        }
        OpKind::ScatterAdd { size } => {
            a.count("2", 2)?;
            let size = env.dim(size, "attribute size")?;
            one(index::scatter_add(
                a.tensor(0, "src")?,
                a.tensor(1, "index")?,
                size,
            )?)
        }
        OpKind::MatMul => {
            a.count("2", 2)?;
            one(linalg::matmul(a.tensor(0, "a")?, a.tensor(1, "b")?)?)
        }
        OpKind::Route { experts } => {
            a.count("1", 1)?;
            let experts = env.dim(experts, "attribute experts")?;
            Ok(vec![Rt::Routes(moe::route(
                a.tensor(0, "expert_ids")?,
                experts,
            )?)])
        }
        OpKind::Dispatch => {
            a.count("2", 2)?;
            one(moe::dispatch(a.tensor(0, "x")?, a.routes(1, "routes")?)?)
        }
        OpKind::GroupedMatmul => {
            a.count("3", 3)?;
            one(moe::grouped_matmul(
                a.tensor(0, "a")?,
                a.tensor(1, "w")?,
                a.routes(2, "routes")?,
            )?)
        }
        OpKind::Swiglu => match args.len() {
            1 => one(moe::swiglu_fused(a.tensor(0, "x")?)?),
            2 => one(moe::swiglu_pair(a.tensor(0, "gate")?, a.tensor(1, "up")?)?),
            found => Err(OpError::Arity {
                expected: "1 or 2",
                found,
            }),
        },
        OpKind::Combine => {
            a.count("3", 3)?;
            one(moe::combine(
                a.tensor(0, "y")?,
                a.routes(1, "routes")?,
                a.tensor(2, "weights")?,
            )?)
        }
    }
}

/// An op's operands, with typed accessors that report the operand on error.
struct Args<'a, 'r>(&'a [&'a Rt<'r>]);

impl<'a> Args<'a, '_> {
    fn count(&self, expected: &'static str, n: usize) -> Result<(), OpError> {
        if self.0.len() != n {
            return Err(OpError::Arity {
                expected,
                found: self.0.len(),
            });
        }
        Ok(())
    }

    fn tensor(&self, index: usize, name: &'static str) -> Result<&'a Tensor, OpError> {
        match self.0.get(index) {
            Some(Rt::Tensor(t)) => Ok(t.as_ref()),
            Some(Rt::Routes(_)) => Err(OpError::ExpectedTensor {
                operand: Operand::new(index, name),
            }),
            None => Err(OpError::Arity {
                expected: "more",
                found: self.0.len(),
            }),
        }
    }

    fn routes(&self, index: usize, name: &'static str) -> Result<&'a Routes, OpError> {
        match self.0.get(index) {
            Some(Rt::Routes(r)) => Ok(r),
            Some(Rt::Tensor(_)) => Err(OpError::ExpectedRoutes {
                operand: Operand::new(index, name),
            }),
            None => Err(OpError::Arity {
                expected: "more",
                found: self.0.len(),
            }),
        }
    }
}

impl Env<'_> {
    /// Evaluates an attribute dim to a size.
    fn dim(&self, dim: &Dim, what: &str) -> Result<usize, OpError> {
        self.eval_dim(dim).map_err(|source| OpError::Dim {
            what: what.to_string(),
            dim: dim.display(&self.kernel.syms).to_string(),
            source,
        })
    }

    /// Checks a computed result against its declared type.
    fn check_result(&self, index: usize, declared: &Type, rt: &Rt<'_>) -> Result<(), OpError> {
        let declared_text = declared.display(&self.kernel.syms).to_string();
        let mismatch = |expected: String, found: String| OpError::ResultType {
            index,
            declared: declared_text.clone(),
            expected,
            found,
        };
        match (declared, rt) {
            (Type::Tensor(ty), Rt::Tensor(t)) => {
                let mut dims = Vec::with_capacity(ty.shape.len());
                for (axis, dim) in ty.shape.iter().enumerate() {
                    dims.push(self.dim(dim, &format!("result {index}, axis {axis}"))?);
                }
                if ty.dtype != t.dtype || dims != t.shape {
                    return Err(mismatch(
                        format!("{}{}", ty.dtype, fmt_shape(&dims)),
                        format!("{}{}", t.dtype, fmt_shape(&t.shape)),
                    ));
                }
                Ok(())
            }
            (Type::Routes(ty), Rt::Routes(r)) => {
                let tokens = self.dim(&ty.tokens, &format!("result {index}, tokens"))?;
                let k = self.dim(&ty.k, &format!("result {index}, k"))?;
                let experts = self.dim(&ty.experts, &format!("result {index}, experts"))?;
                if (tokens, k, experts) != (r.tokens, r.k, r.experts) {
                    return Err(mismatch(
                        format!("routes{}", fmt_shape(&[tokens, k, experts])),
                        format!("routes{}", fmt_shape(&[r.tokens, r.k, r.experts])),
                    ));
                }
                Ok(())
            }
            (_, Rt::Tensor(t)) => Err(mismatch(
                "a routing table".to_string(),
                format!("a tensor {}{}", t.dtype, fmt_shape(&t.shape)),
            )),
            (_, Rt::Routes(_)) => Err(mismatch(
                "a tensor".to_string(),
                "a routing table".to_string(),
            )),
        }
    }
}

/// ` at LINE:COL` when the location is known, else nothing.
fn fmt_at(loc: &SrcLoc) -> String {
    if loc.is_unknown() {
        String::new()
    } else {
        format!(" at {}:{}", loc.line, loc.col)
    }
}

/// `n` and `noun`, plural unless `n` is 1: `1 input`, `2 inputs`, `0 inputs`.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Quoted, comma-separated names: `` `E`, `G` ``.
fn quoted_list<T: std::fmt::Display>(names: impl IntoIterator<Item = T>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if quoted.is_empty() {
        "none".to_string()
    } else {
        quoted.join(", ")
    }
}
