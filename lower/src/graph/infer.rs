//! Type inference for graph-IR ops: the shape and dtype rules of every [`OpKind`], shared by the
//! frontend (which maps errors to the user's tokens) and the verifier (which re-derives every result
//! type).
//!
//! [`infer`] checks an op's operands against the semantics documented in [`super::ops`] and returns the
//! result types. Dims are compared in canonical form ([`Dim`]): two dims match when they are canonically
//! equal. A condition between dims that cannot be decided yet because it depends on unbound symbols
//! (`G` divides `E`, `k <= E/G`) is not an error: it is returned as a constraint, checked when the
//! symbols are bound (see [`super::Kernel::specialize`]).
//!
//! Deciding a condition works on the difference of the two sides (see [`decide`]): a condition whose
//! sides differ by a literal, or by a multiple of one product of symbols with only non-negative or only
//! non-positive coefficients, is decided now, since dims are never negative. Such a difference that is
//! only satisfied when the symbols are zero counts as violated.

use cranelift_entity::PrimaryMap;

use super::dim::Dim;
use super::entities::Sym;
use super::ops::{CmpOp, OpKind, ReduceOp, UnaryOp};
use super::types::{DType, RoutesType, Shape, TensorType, Type};
use super::{ConstraintKind, SymData};

/// The result of [`infer`]: the result types of the op and the conditions it needs that could not be
/// decided yet.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Inferred {
    /// One type per result of the op, in result order.
    pub results: Vec<Type>,
    /// Undecided conditions, each with a reason sentence saying what it is for (e.g. "the group count
    /// of `group_topk` must divide the last dim").
    pub constraints: Vec<(ConstraintKind, String)>,
}

/// Why an op's operands do not fit it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InferError {
    /// The operand to blame (an index into the op's arguments), or `None` for the whole op (wrong
    /// operand count, bad attribute).
    pub operand: Option<usize>,
    /// A lowercase sentence saying what was expected and what was found, dims and types printed with
    /// symbol names.
    pub message: String,
}

/// The outcome of deciding a condition between dims.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Decision {
    /// The condition holds for every value of the symbols.
    Holds,
    /// The condition is violated (or holds only when symbols are zero).
    Violated,
    /// The condition depends on the values of the symbols.
    Unknown,
}

/// Infers the result types of an op of kind `kind` applied to operands of types `args`.
///
/// `syms` is only used to print dims and types in messages. `param` ops cannot be inferred (their type
/// comes from the kernel's signature) and give an error; `const` gives a rank-0 tensor of its dtype.
pub fn infer(
    kind: &OpKind,
    args: &[&Type],
    syms: &PrimaryMap<Sym, SymData>,
) -> Result<Inferred, InferError> {
    let mut cx = Cx {
        kind,
        args,
        syms,
        constraints: Vec::new(),
    };
    let results = cx.infer()?;
    Ok(Inferred {
        results,
        constraints: cx.constraints,
    })
}

/// NumPy-style broadcast of two shapes: aligned at the trailing axis, a missing leading axis or a
/// literal 1 stretches, otherwise the dims must be canonically equal. `None` when they do not
/// broadcast.
pub fn broadcast_shapes(a: &[Dim], b: &[Dim]) -> Option<Shape> {
    broadcast_detail(a, b).ok()
}

/// Decides `kind` now if possible, without symbol values (see the module documentation).
pub fn decide(kind: &ConstraintKind) -> Decision {
    match kind {
        ConstraintKind::LessEq { small, large } => decide_nonneg(&Dim::sub(large, small)),
        ConstraintKind::Positive { dim } => decide_nonneg(&Dim::sub(dim, &Dim::lit(1))),
        ConstraintKind::Divides { dim, divisor } => decide_divides(dim, divisor),
    }
}

/// Whether `d >= 0` for all (non-negative) symbol values.
fn decide_nonneg(d: &Dim) -> Decision {
    let terms = d.terms();
    if terms.iter().all(|(c, _)| *c >= 0) {
        Decision::Holds
    } else if terms.iter().all(|(c, _)| *c <= 0) {
        Decision::Violated
    } else {
        Decision::Unknown
    }
}

fn decide_divides(dim: &Dim, divisor: &Dim) -> Decision {
    if let Some(d) = divisor.as_int() {
        if d <= 0 {
            return Decision::Violated;
        }
        if let Some(n) = dim.as_int() {
            return if n % d == 0 {
                Decision::Holds
            } else {
                Decision::Violated
            };
        }
        if dim.terms().iter().all(|(c, _)| c % d == 0) {
            return Decision::Holds;
        }
        return Decision::Unknown;
    }
    // A literal ratio `c*m` over `c2*m`: decided by the coefficients (assuming `m` is non-zero).
    let (top, bottom) = (dim.terms(), divisor.terms());
    if let ([(c1, m1)], [(c2, m2)]) = (top.as_slice(), bottom.as_slice()) {
        if m1 == m2 && *c2 > 0 {
            return if c1 % c2 == 0 {
                Decision::Holds
            } else {
                Decision::Violated
            };
        }
    }
    Decision::Unknown
}

/// Where two shapes fail to broadcast: the result axis and the two dims.
struct Mismatch {
    axis: usize,
    a: Dim,
    b: Dim,
}

fn broadcast_detail(a: &[Dim], b: &[Dim]) -> Result<Shape, Mismatch> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for axis in 0..rank {
        let da = (axis + a.len()).checked_sub(rank).map(|i| &a[i]);
        let db = (axis + b.len()).checked_sub(rank).map(|i| &b[i]);
        let d = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if x.as_int() == Some(1) => y.clone(),
            (Some(x), Some(y)) if y.as_int() == Some(1) => x.clone(),
            (Some(x), Some(y)) => {
                return Err(Mismatch {
                    axis,
                    a: x.clone(),
                    b: y.clone(),
                })
            }
            (None, None) => Dim::lit(1),
        };
        out.push(d);
    }
    Ok(out)
}

/// Which dtypes an operand may have.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Allow {
    /// Any dtype.
    Any,
    /// Anything but `bool`.
    Numeric,
    /// A floating-point dtype.
    Float,
    /// Exactly this dtype.
    Only(DType),
}

struct Cx<'a> {
    kind: &'a OpKind,
    args: &'a [&'a Type],
    syms: &'a PrimaryMap<Sym, SymData>,
    constraints: Vec<(ConstraintKind, String)>,
}

impl<'a> Cx<'a> {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn err<T>(&self, operand: Option<usize>, message: String) -> Result<T, InferError> {
        Err(InferError { operand, message })
    }

    fn show_ty(&self, ty: &Type) -> String {
        ty.display(self.syms).to_string()
    }

    fn show_tensor(&self, t: &TensorType) -> String {
        self.show_ty(&Type::Tensor(t.clone()))
    }

    fn show_dim(&self, d: &Dim) -> String {
        d.display(self.syms).to_string()
    }

    fn show_shape(&self, shape: &[Dim]) -> String {
        let dims: Vec<String> = shape.iter().map(|d| self.show_dim(d)).collect();
        format!("[{}]", dims.join(", "))
    }

    /// Checks the operand count against `min..=max`.
    fn count(&self, min: usize, max: usize) -> Result<(), InferError> {
        let n = self.args.len();
        if (min..=max).contains(&n) {
            return Ok(());
        }
        let expected = if min == max {
            format!("{min} operand{}", if min == 1 { "" } else { "s" })
        } else if max == usize::MAX {
            format!("at least {min} operands")
        } else {
            format!("{min} or {max} operands")
        };
        self.err(
            None,
            format!("`{}` takes {expected}, found {n}", self.name()),
        )
    }

    /// Operand `i` as a tensor whose dtype is allowed by `allow`.
    fn tensor(&self, i: usize, allow: Allow) -> Result<&'a TensorType, InferError> {
        let ty = self.args[i];
        let t = match ty {
            Type::Tensor(t) => t,
            Type::Routes(_) => {
                return self.err(
                    Some(i),
                    format!(
                        "`{}` expects a tensor as operand {i}, found the routing table `{}`",
                        self.name(),
                        self.show_ty(ty)
                    ),
                )
            }
        };
        let (ok, what) = match allow {
            Allow::Any => (true, String::new()),
            Allow::Numeric => (t.dtype != DType::Bool, "a numeric".to_string()),
            Allow::Float => (t.dtype.is_float(), "a floating-point".to_string()),
            Allow::Only(d) => (t.dtype == d, format!("an `{d}`")),
        };
        if !ok {
            return self.err(
                Some(i),
                format!(
                    "`{}` expects {what} tensor as operand {i}, found `{}`",
                    self.name(),
                    self.show_ty(ty)
                ),
            );
        }
        Ok(t)
    }

    /// Operand `i` as a routing table.
    fn routes(&self, i: usize) -> Result<&'a RoutesType, InferError> {
        match self.args[i] {
            Type::Routes(r) => Ok(r),
            ty => self.err(
                Some(i),
                format!(
                    "`{}` expects a routing table (made by `route`) as operand {i}, found `{}`",
                    self.name(),
                    self.show_ty(ty)
                ),
            ),
        }
    }

    /// Checks that operand `i` has exactly `rank` axes.
    fn rank(&self, i: usize, t: &TensorType, rank: usize) -> Result<(), InferError> {
        if t.rank() == rank {
            return Ok(());
        }
        self.err(
            Some(i),
            format!(
                "`{}` expects operand {i} of rank {rank}, found `{}` of rank {}",
                self.name(),
                self.show_tensor(t),
                t.rank()
            ),
        )
    }

    /// Checks that operand `i` has at least one axis.
    fn nonscalar(&self, i: usize, t: &TensorType) -> Result<(), InferError> {
        if t.rank() >= 1 {
            return Ok(());
        }
        self.err(
            Some(i),
            format!(
                "`{}` expects operand {i} to have at least one axis, found the scalar `{}`",
                self.name(),
                self.show_tensor(t)
            ),
        )
    }

    /// Checks that operand `i` has the dtype of operand `first`.
    fn same_dtype(&self, first: usize, i: usize) -> Result<(), InferError> {
        let (a, b) = (self.args[first], self.args[i]);
        if let (Type::Tensor(x), Type::Tensor(y)) = (a, b) {
            if x.dtype != y.dtype {
                return self.err(
                    Some(i),
                    format!(
                        "dtype mismatch: `{}` needs operands {first} and {i} of the same dtype, found `{}` and `{}`",
                        self.name(),
                        self.show_ty(a),
                        self.show_ty(b)
                    ),
                );
            }
        }
        Ok(())
    }

    /// Checks an axis attribute against the rank of operand `i`.
    fn axis(&self, i: usize, t: &TensorType, axis: u32) -> Result<usize, InferError> {
        let axis_idx = axis as usize;
        if axis_idx < t.rank() {
            return Ok(axis_idx);
        }
        self.err(
            Some(i),
            format!(
                "`{}` axis {axis} is out of range for `{}` of rank {}",
                self.name(),
                self.show_tensor(t),
                t.rank()
            ),
        )
    }

    /// Checks that a dim attribute is not a negative literal.
    fn attr_dim(&self, attr: &str, d: &Dim) -> Result<(), InferError> {
        match d.as_int() {
            Some(c) if c < 0 => self.err(
                None,
                format!(
                    "`{}` needs `{attr}` to be non-negative, found {c}",
                    self.name()
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Checks that dim `a` (of operand `i`, described by `what`) equals `b` canonically.
    fn dims_equal(
        &self,
        operand: usize,
        a: &Dim,
        b: &Dim,
        what: impl FnOnce() -> String,
    ) -> Result<(), InferError> {
        if a == b {
            return Ok(());
        }
        self.err(
            Some(operand),
            format!(
                "shape mismatch: {}: expected `{}`, found `{}`",
                what(),
                self.show_dim(b),
                self.show_dim(a)
            ),
        )
    }

    /// Requires `kind`: decided now (an error from `violated` when it fails) or recorded as a
    /// constraint with `reason`.
    fn require(
        &mut self,
        kind: ConstraintKind,
        operand: Option<usize>,
        reason: &str,
        violated: impl FnOnce(&Self) -> String,
    ) -> Result<(), InferError> {
        match decide(&kind) {
            Decision::Holds => Ok(()),
            Decision::Violated => {
                let message = violated(self);
                self.err(operand, message)
            }
            Decision::Unknown => {
                if !self.constraints.iter().any(|(k, _)| *k == kind) {
                    self.constraints.push((kind, reason.to_string()));
                }
                Ok(())
            }
        }
    }

    /// Broadcasts operand `j`'s shape into `acc` (the broadcast of the operands before it, `acc_ty`
    /// describing it), blaming operand `j` on a mismatch.
    fn broadcast(
        &self,
        acc: &[Dim],
        acc_ty: String,
        j: usize,
        t: &TensorType,
    ) -> Result<Shape, InferError> {
        broadcast_detail(acc, &t.shape).or_else(|m| {
            self.err(
                Some(j),
                format!(
                    "shape mismatch: `{}` cannot broadcast `{acc_ty}` with `{}`: axis {} is `{}` in one and `{}` in the other",
                    self.name(),
                    self.show_tensor(t),
                    m.axis,
                    self.show_dim(&m.a),
                    self.show_dim(&m.b)
                ),
            )
        })
    }

    fn infer(&mut self) -> Result<Vec<Type>, InferError> {
        let tensor = |dtype, shape| Type::Tensor(TensorType::new(dtype, shape));
        match self.kind {
            OpKind::Param { index } => self.err(
                None,
                format!(
                    "the type of `param {index}` comes from the kernel signature and cannot be inferred"
                ),
            ),
            OpKind::Const { value, dtype } => {
                self.count(0, 0)?;
                let ok = match dtype {
                    DType::I32 => {
                        value.fract() == 0.0 && (i32::MIN as f64..=i32::MAX as f64).contains(value)
                    }
                    DType::Bool => *value == 0.0 || *value == 1.0,
                    _ => true,
                };
                if !ok {
                    return self.err(
                        None,
                        format!("`const` value {value:?} is not a valid `{dtype}`"),
                    );
                }
                Ok(vec![tensor(*dtype, Vec::new())])
            }
            OpKind::Unary(op) => {
                self.count(1, 1)?;
                let float_only = !matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu);
                let x = self.tensor(0, if float_only { Allow::Float } else { Allow::Numeric })?;
                Ok(vec![Type::Tensor(x.clone())])
            }
            OpKind::Binary(_) => {
                self.count(2, 2)?;
                let a = self.tensor(0, Allow::Numeric)?;
                let b = self.tensor(1, Allow::Numeric)?;
                self.same_dtype(0, 1)?;
                let shape = self.broadcast(&a.shape, self.show_tensor(a), 1, b)?;
                Ok(vec![tensor(a.dtype, shape)])
            }
            OpKind::Cast { to } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Any)?;
                if *to == DType::Bool {
                    return self.err(
                        None,
                        format!(
                            "`cast` cannot convert `{}` to `bool`; compare with zero instead",
                            self.show_tensor(x)
                        ),
                    );
                }
                Ok(vec![tensor(*to, x.shape.clone())])
            }
            OpKind::Compare(op) => {
                self.count(2, 2)?;
                let allow = if matches!(op, CmpOp::Eq | CmpOp::Ne) { Allow::Any } else { Allow::Numeric };
                let a = self.tensor(0, allow)?;
                let b = self.tensor(1, allow)?;
                self.same_dtype(0, 1)?;
                let shape = self.broadcast(&a.shape, self.show_tensor(a), 1, b)?;
                Ok(vec![tensor(DType::Bool, shape)])
            }
            OpKind::Select => {
                self.count(3, 3)?;
                let cond = self.tensor(0, Allow::Only(DType::Bool))?;
                let a = self.tensor(1, Allow::Any)?;
                let b = self.tensor(2, Allow::Any)?;
                self.same_dtype(1, 2)?;
                let shape = self.broadcast(&cond.shape, self.show_tensor(cond), 1, a)?;
                let acc_ty = self.show_tensor(&TensorType::new(a.dtype, shape.clone()));
                let shape = self.broadcast(&shape, acc_ty, 2, b)?;
                Ok(vec![tensor(a.dtype, shape)])
            }
            OpKind::Reduce { op, axis, keep_dim } => {
                self.count(1, 1)?;
                let allow = if *op == ReduceOp::Mean { Allow::Float } else { Allow::Numeric };
                let x = self.tensor(0, allow)?;
                let axis = self.axis(0, x, *axis)?;
                Ok(vec![tensor(x.dtype, reduced(&x.shape, axis, *keep_dim))])
            }
            OpKind::ArgReduce { axis, keep_dim, .. } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Numeric)?;
                let axis = self.axis(0, x, *axis)?;
                Ok(vec![tensor(DType::I32, reduced(&x.shape, axis, *keep_dim))])
            }
            OpKind::Softmax { axis } | OpKind::LogSoftmax { axis } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Float)?;
                self.axis(0, x, *axis)?;
                Ok(vec![Type::Tensor(x.clone())])
            }
            OpKind::RmsNorm { eps } => {
                self.count(2, 2)?;
                if !(eps.is_finite() && *eps >= 0.0) {
                    return self.err(
                        None,
                        format!("`rms_norm` needs a finite non-negative `eps`, found {eps:?}"),
                    );
                }
                let x = self.tensor(0, Allow::Float)?;
                self.nonscalar(0, x)?;
                let w = self.tensor(1, Allow::Float)?;
                self.same_dtype(0, 1)?;
                let last = &x.shape[x.rank() - 1];
                if w.rank() != 1 || w.shape[0] != *last {
                    return self.err(
                        Some(1),
                        format!(
                            "shape mismatch: `rms_norm` needs a weight of shape `[{}]` (the last dim of `{}`), found `{}`",
                            self.show_dim(last),
                            self.show_tensor(x),
                            self.show_tensor(w)
                        ),
                    );
                }
                Ok(vec![Type::Tensor(x.clone())])
            }
            OpKind::Reshape { shape } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Any)?;
                for d in shape {
                    self.attr_dim("shape", d)?;
                }
                // `G` times `E/G` counts as `E`, given that `G` divides `E`.
                let (from, from_quotients) = product_cancelling(&x.shape);
                let (to, to_quotients) = product_cancelling(shape);
                for (dim, divisor) in from_quotients.into_iter().chain(to_quotients) {
                    let kind = ConstraintKind::Divides { dim: dim.clone(), divisor: divisor.clone() };
                    let reason = "a quotient in the shape of `reshape` must be exact";
                    self.require(kind, None, reason, |cx| {
                        format!(
                            "`reshape` cannot use `{}/{}`: it is not a whole number",
                            cx.show_dim(&dim),
                            cx.show_dim(&divisor)
                        )
                    })?;
                }
                if from != to {
                    let message = format!(
                        "`reshape` must keep the element count: `{}` has `{}` elements but the shape `{}` has `{}`",
                        self.show_tensor(x),
                        self.show_dim(&from),
                        self.show_shape(shape),
                        self.show_dim(&to)
                    );
                    let differ = decide_nonneg(&Dim::sub(&from, &to)) != Decision::Unknown
                        && decide_nonneg(&Dim::sub(&to, &from)) != Decision::Unknown;
                    if differ || !(from.has_quotient() || to.has_quotient()) {
                        return self.err(None, message);
                    }
                    // Equal counts written with quotients (`E` as `G * (E/G)`) cannot be compared
                    // canonically: require equality as two inequalities.
                    let reason = "`reshape` must keep the element count";
                    for (small, large) in [(&from, &to), (&to, &from)] {
                        let kind = ConstraintKind::LessEq { small: small.clone(), large: large.clone() };
                        self.require(kind, None, reason, |_| message.clone())?;
                    }
                }
                Ok(vec![tensor(x.dtype, shape.clone())])
            }
            OpKind::Slice { axis, start, end } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Any)?;
                let axis_idx = self.axis(0, x, *axis)?;
                self.attr_dim("start", start)?;
                self.attr_dim("end", end)?;
                let size = &x.shape[axis_idx];
                let kind = ConstraintKind::LessEq { small: start.clone(), large: end.clone() };
                self.require(kind, None, "the start of `slice` must not be after its end", |cx| {
                    format!(
                        "`slice` start `{}` is after its end `{}`",
                        cx.show_dim(start),
                        cx.show_dim(end)
                    )
                })?;
                let kind = ConstraintKind::LessEq { small: end.clone(), large: size.clone() };
                self.require(kind, Some(0), "the end of `slice` must be within the sliced axis", |cx| {
                    format!(
                        "`slice` end `{}` is past the size `{}` of axis {axis} of `{}`",
                        cx.show_dim(end),
                        cx.show_dim(size),
                        cx.show_tensor(x)
                    )
                })?;
                let mut shape = x.shape.clone();
                shape[axis_idx] = Dim::sub(end, start);
                Ok(vec![tensor(x.dtype, shape)])
            }
            OpKind::Concat { axis } => {
                self.count(2, usize::MAX)?;
                let first = self.tensor(0, Allow::Any)?;
                let axis_idx = self.axis(0, first, *axis)?;
                let mut joined = first.shape[axis_idx].clone();
                for i in 1..self.args.len() {
                    let t = self.tensor(i, Allow::Any)?;
                    self.same_dtype(0, i)?;
                    if t.rank() != first.rank() {
                        return self.err(
                            Some(i),
                            format!(
                                "`concat` needs operands of equal rank: operand 0 is `{}` but operand {i} is `{}`",
                                self.show_tensor(first),
                                self.show_tensor(t)
                            ),
                        );
                    }
                    for (ax, (a, b)) in t.shape.iter().zip(&first.shape).enumerate() {
                        if ax != axis_idx {
                            self.dims_equal(i, a, b, || {
                                format!(
                                    "`concat` along axis {axis} needs equal dims elsewhere, but axis {ax} of operand {i} (`{}`) differs from operand 0 (`{}`)",
                                    self.show_tensor(t),
                                    self.show_tensor(first)
                                )
                            })?;
                        }
                    }
                    joined = Dim::add(&joined, &t.shape[axis_idx]);
                }
                let mut shape = first.shape.clone();
                shape[axis_idx] = joined;
                Ok(vec![tensor(first.dtype, shape)])
            }
            OpKind::Transpose { perm } => {
                self.count(1, 1)?;
                let x = self.tensor(0, Allow::Any)?;
                let mut seen = vec![false; x.rank()];
                let valid = perm.len() == x.rank()
                    && perm.iter().all(|&p| {
                        let fresh = seen.get(p as usize).is_some_and(|s| !s);
                        if fresh {
                            seen[p as usize] = true;
                        }
                        fresh
                    });
                if !valid {
                    let shown: Vec<String> = perm.iter().map(|p| p.to_string()).collect();
                    return self.err(
                        None,
                        format!(
                            "`transpose` needs a permutation of 0..{} for `{}`, found [{}]",
                            x.rank(),
                            self.show_tensor(x),
                            shown.join(", ")
                        ),
                    );
                }
                let shape = perm.iter().map(|&p| x.shape[p as usize].clone()).collect();
                Ok(vec![tensor(x.dtype, shape)])
            }
            OpKind::TopK { k } => {
                self.count(1, 1)?;
                self.attr_dim("k", k)?;
                let x = self.tensor(0, Allow::Numeric)?;
                self.nonscalar(0, x)?;
                let last = &x.shape[x.rank() - 1];
                let kind = ConstraintKind::LessEq { small: k.clone(), large: last.clone() };
                self.require(kind, Some(0), "the `k` of `topk` must not exceed the last dim", |cx| {
                    format!(
                        "`topk` keeps `{}` elements but the last axis of `{}` has only `{}`",
                        cx.show_dim(k),
                        cx.show_tensor(x),
                        cx.show_dim(last)
                    )
                })?;
                let mut shape = x.shape.clone();
                let n = shape.len();
                shape[n - 1] = k.clone();
                Ok(vec![tensor(x.dtype, shape.clone()), tensor(DType::I32, shape)])
            }
            OpKind::GroupTopK { groups, k } => {
                self.count(1, 1)?;
                self.attr_dim("groups", groups)?;
                self.attr_dim("k", k)?;
                let x = self.tensor(0, Allow::Numeric)?;
                self.nonscalar(0, x)?;
                let last = &x.shape[x.rank() - 1];
                let kind = ConstraintKind::Divides { dim: last.clone(), divisor: groups.clone() };
                let reason = "the group count of `group_topk` must divide the last dim";
                self.require(kind, Some(0), reason, |cx| {
                    format!(
                        "`group_topk` cannot split the last axis `{}` of `{}` into `{}` equal groups",
                        cx.show_dim(last),
                        cx.show_tensor(x),
                        cx.show_dim(groups)
                    )
                })?;
                let Some(size) = exact_div(last, groups) else {
                    return self.err(
                        Some(0),
                        format!(
                            "`group_topk` cannot split the last axis `{}` of `{}` into `{}` equal groups",
                            self.show_dim(last),
                            self.show_tensor(x),
                            self.show_dim(groups)
                        ),
                    );
                };
                let kind = ConstraintKind::LessEq { small: k.clone(), large: size.clone() };
                let reason = "the `k` of `group_topk` must not exceed the group size";
                self.require(kind, Some(0), reason, |cx| {
                    format!(
                        "`group_topk` keeps `{}` elements per group but the groups of `{}` have only `{}`",
                        cx.show_dim(k),
                        cx.show_tensor(x),
                        cx.show_dim(&size)
                    )
                })?;
                let mut shape = x.shape.clone();
                let n = shape.len();
                shape[n - 1] = Dim::mul(groups, k);
                Ok(vec![tensor(x.dtype, shape.clone()), tensor(DType::I32, shape)])
            }
            OpKind::Gather => {
                self.count(2, 2)?;
                let table = self.tensor(0, Allow::Any)?;
                self.nonscalar(0, table)?;
                let index = self.tensor(1, Allow::Only(DType::I32))?;
                let mut shape = index.shape.clone();
                shape.extend(table.shape[1..].iter().cloned());
                Ok(vec![tensor(table.dtype, shape)])
            }
            OpKind::ScatterAdd { size } => {
                self.count(2, 2)?;
                self.attr_dim("size", size)?;
                let src = self.tensor(0, Allow::Float)?;
                let index = self.tensor(1, Allow::Only(DType::I32))?;
                if index.rank() > src.rank() || index.shape[..] != src.shape[..index.rank()] {
                    return self.err(
                        Some(1),
                        format!(
                            "shape mismatch: `scatter_add` needs an index shaped like the leading axes of the source `{}`, found `{}`",
                            self.show_tensor(src),
                            self.show_tensor(index)
                        ),
                    );
                }
                let mut shape = vec![size.clone()];
                shape.extend(src.shape[index.rank()..].iter().cloned());
                Ok(vec![tensor(src.dtype, shape)])
            }
            OpKind::MatMul => {
                self.count(2, 2)?;
                let a = self.tensor(0, Allow::Float)?;
                self.rank(0, a, 2)?;
                let b = self.tensor(1, Allow::Float)?;
                self.rank(1, b, 2)?;
                self.same_dtype(0, 1)?;
                self.dims_equal(1, &b.shape[0], &a.shape[1], || {
                    format!(
                        "`matmul` of `{}` and `{}` needs the rows of the right operand to equal the columns of the left",
                        self.show_tensor(a),
                        self.show_tensor(b)
                    )
                })?;
                Ok(vec![tensor(a.dtype, vec![a.shape[0].clone(), b.shape[1].clone()])])
            }
            OpKind::Route { experts } => {
                self.count(1, 1)?;
                self.attr_dim("experts", experts)?;
                let ids = self.tensor(0, Allow::Only(DType::I32))?;
                self.rank(0, ids, 2)?;
                Ok(vec![Type::Routes(RoutesType {
                    tokens: ids.shape[0].clone(),
                    k: ids.shape[1].clone(),
                    experts: experts.clone(),
                })])
            }
            OpKind::Dispatch => {
                self.count(2, 2)?;
                let x = self.tensor(0, Allow::Numeric)?;
                self.rank(0, x, 2)?;
                let routes = self.routes(1)?;
                self.dims_equal(0, &x.shape[0], &routes.tokens, || {
                    format!(
                        "`dispatch` needs one row of `{}` per token of `{}`",
                        self.show_tensor(x),
                        self.show_ty(self.args[1])
                    )
                })?;
                let rows = Dim::mul(&routes.tokens, &routes.k);
                Ok(vec![tensor(x.dtype, vec![rows, x.shape[1].clone()])])
            }
            OpKind::GroupedMatmul => {
                self.count(3, 3)?;
                let a = self.tensor(0, Allow::Float)?;
                self.rank(0, a, 2)?;
                let w = self.tensor(1, Allow::Float)?;
                self.rank(1, w, 3)?;
                self.same_dtype(0, 1)?;
                let routes = self.routes(2)?;
                let rows = Dim::mul(&routes.tokens, &routes.k);
                self.dims_equal(0, &a.shape[0], &rows, || {
                    format!(
                        "`grouped_matmul` needs one row of `{}` per routed slot of `{}`",
                        self.show_tensor(a),
                        self.show_ty(self.args[2])
                    )
                })?;
                self.dims_equal(1, &w.shape[0], &routes.experts, || {
                    format!(
                        "`grouped_matmul` needs one weight matrix in `{}` per expert of `{}`",
                        self.show_tensor(w),
                        self.show_ty(self.args[2])
                    )
                })?;
                self.dims_equal(1, &w.shape[1], &a.shape[1], || {
                    format!(
                        "`grouped_matmul` of `{}` and `{}` needs the rows of each weight matrix to equal the columns of the left operand",
                        self.show_tensor(a),
                        self.show_tensor(w)
                    )
                })?;
                Ok(vec![tensor(a.dtype, vec![rows, w.shape[2].clone()])])
            }
            OpKind::Swiglu => {
                self.count(1, 2)?;
                let x = self.tensor(0, Allow::Float)?;
                self.nonscalar(0, x)?;
                if self.args.len() == 2 {
                    let up = self.tensor(1, Allow::Float)?;
                    self.same_dtype(0, 1)?;
                    if up.shape != x.shape {
                        return self.err(
                            Some(1),
                            format!(
                                "shape mismatch: `swiglu` needs gate and up of the same shape, found `{}` and `{}`",
                                self.show_tensor(x),
                                self.show_tensor(up)
                            ),
                        );
                    }
                    return Ok(vec![Type::Tensor(x.clone())]);
                }
                let last = &x.shape[x.rank() - 1];
                let two = Dim::lit(2);
                let kind = ConstraintKind::Divides { dim: last.clone(), divisor: two.clone() };
                let reason = "the last dim of a fused `swiglu` input must be even";
                self.require(kind, Some(0), reason, |cx| {
                    format!(
                        "`swiglu` needs an even last dim to split into gate and up, found `{}`",
                        cx.show_tensor(x)
                    )
                })?;
                let Some(half) = Dim::div(last, &two) else {
                    return self.err(
                        Some(0),
                        format!(
                            "`swiglu` needs an even last dim to split into gate and up, found `{}`",
                            self.show_tensor(x)
                        ),
                    );
                };
                let mut shape = x.shape.clone();
                let n = shape.len();
                shape[n - 1] = half;
                Ok(vec![tensor(x.dtype, shape)])
            }
            OpKind::Combine => {
                self.count(3, 3)?;
                let y = self.tensor(0, Allow::Float)?;
                self.rank(0, y, 2)?;
                let routes = self.routes(1)?;
                let weights = self.tensor(2, Allow::Float)?;
                self.rank(2, weights, 2)?;
                let rows = Dim::mul(&routes.tokens, &routes.k);
                self.dims_equal(0, &y.shape[0], &rows, || {
                    format!(
                        "`combine` needs one row of `{}` per routed slot of `{}`",
                        self.show_tensor(y),
                        self.show_ty(self.args[1])
                    )
                })?;
                let expected = [routes.tokens.clone(), routes.k.clone()];
                if weights.shape[..] != expected[..] {
                    return self.err(
                        Some(2),
                        format!(
                            "shape mismatch: `combine` needs weights of shape `{}` (tokens by slots of `{}`), found `{}`",
                            self.show_shape(&expected),
                            self.show_ty(self.args[1]),
                            self.show_tensor(weights)
                        ),
                    );
                }
                Ok(vec![tensor(y.dtype, vec![routes.tokens.clone(), y.shape[1].clone()])])
            }
        }
    }
}

/// The shape after reducing `axis`.
fn reduced(shape: &[Dim], axis: usize, keep_dim: bool) -> Shape {
    let mut out = shape.to_vec();
    if keep_dim {
        out[axis] = Dim::lit(1);
    } else {
        out.remove(axis);
    }
    out
}

/// `a / b` like [`Dim::div`], also simplifying a literal ratio (`8*G / G` is `8`).
fn exact_div(a: &Dim, b: &Dim) -> Option<Dim> {
    if let ([(c1, m1)], [(c2, m2)]) = (a.terms().as_slice(), b.terms().as_slice()) {
        if m1 == m2 && c1.checked_rem(*c2) == Some(0) {
            return c1.checked_div(*c2).map(Dim::lit);
        }
    }
    Dim::div(a, b)
}

/// The canonical product of a shape's dims (1 for a scalar), where a dim `b` and a quotient `a/b`
/// elsewhere in the shape cancel to `a`. Also returns the cancelled quotients as `(a, b)`: the product
/// is only right when they are exact.
fn product_cancelling(shape: &[Dim]) -> (Dim, Vec<(Dim, Dim)>) {
    let mut dims: Vec<Option<Dim>> = shape.iter().cloned().map(Some).collect();
    let mut quotients = Vec::new();
    let mut factors = Vec::new();
    for i in 0..dims.len() {
        if let Some(Dim::Div(a, b)) = dims[i].clone() {
            let partner = (0..dims.len()).find(|&j| j != i && dims[j].as_ref() == Some(&*b));
            if let Some(j) = partner {
                dims[i] = None;
                dims[j] = None;
                factors.push((*a).clone());
                quotients.push(((*a).clone(), (*b).clone()));
            }
        }
    }
    factors.extend(dims.into_iter().flatten());
    (product(&factors), quotients)
}

/// The canonical product of a shape's dims (1 for a scalar).
fn product(shape: &[Dim]) -> Dim {
    shape.iter().fold(Dim::lit(1), |acc, d| Dim::mul(&acc, d))
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // Tests spell shapes as literal arrays.
mod tests {
    use super::*;
    use crate::graph::ops::{ArgOp, BinaryOp, UnaryOp};
    use crate::graph::SymKind;

    /// Symbols used by the tests: `T` dynamic; `E`, `G`, `H`, `N`, `I` static.
    struct Syms {
        map: PrimaryMap<Sym, SymData>,
        t: Dim,
        e: Dim,
        g: Dim,
        h: Dim,
        n: Dim,
        i: Dim,
    }

    fn syms() -> Syms {
        let mut map = PrimaryMap::new();
        let mut add = |name: &str, kind| {
            Dim::sym(map.push(SymData {
                name: crate::Symbol::intern(name),
                kind,
            }))
        };
        let e = add("E", SymKind::Static);
        let g = add("G", SymKind::Static);
        let h = add("H", SymKind::Static);
        let n = add("N", SymKind::Static);
        let i = add("I", SymKind::Static);
        let t = add("T", SymKind::Dynamic);
        Syms {
            map,
            t,
            e,
            g,
            h,
            n,
            i,
        }
    }

    fn lit(c: i64) -> Dim {
        Dim::lit(c)
    }

    fn ten(dtype: DType, shape: &[Dim]) -> Type {
        Type::Tensor(TensorType::new(dtype, shape.to_vec()))
    }

    fn f32t(shape: &[Dim]) -> Type {
        ten(DType::F32, shape)
    }

    fn i32t(shape: &[Dim]) -> Type {
        ten(DType::I32, shape)
    }

    fn routes(tokens: &Dim, k: &Dim, experts: &Dim) -> Type {
        Type::Routes(RoutesType {
            tokens: tokens.clone(),
            k: k.clone(),
            experts: experts.clone(),
        })
    }

    fn run(s: &Syms, kind: OpKind, args: &[Type]) -> Result<Inferred, InferError> {
        let refs: Vec<&Type> = args.iter().collect();
        infer(&kind, &refs, &s.map)
    }

    /// Infers and expects success with no constraints.
    fn ok(s: &Syms, kind: OpKind, args: &[Type]) -> Vec<Type> {
        match run(s, kind, args) {
            Ok(inf) => {
                assert!(
                    inf.constraints.is_empty(),
                    "unexpected constraints {:?}",
                    inf.constraints
                );
                inf.results
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// Infers and expects an error blaming `operand` whose message contains `needle`.
    fn bad(s: &Syms, kind: OpKind, args: &[Type], operand: Option<usize>, needle: &str) {
        match run(s, kind, args) {
            Ok(inf) => panic!("expected an error, got {:?}", inf.results),
            Err(e) => {
                assert!(
                    e.message.contains(needle),
                    "message {:?} lacks {:?}",
                    e.message,
                    needle
                );
                assert_eq!(
                    e.operand, operand,
                    "wrong operand blamed in {:?}",
                    e.message
                );
            }
        }
    }

    #[test]
    fn broadcast_rules() {
        let s = syms();
        let (t, e, g) = (&s.t, &s.e, &s.g);
        let b = |a: &[Dim], b: &[Dim]| broadcast_shapes(a, b);
        assert_eq!(
            b(&[t.clone(), e.clone()], &[e.clone()]),
            Some(vec![t.clone(), e.clone()])
        );
        assert_eq!(
            b(&[t.clone(), lit(1)], &[lit(1), e.clone()]),
            Some(vec![t.clone(), e.clone()])
        );
        assert_eq!(b(&[], &[lit(3)]), Some(vec![lit(3)]));
        assert_eq!(b(&[lit(1)], &[lit(1)]), Some(vec![lit(1)]));
        assert_eq!(b(&[lit(0)], &[lit(1)]), Some(vec![lit(0)]));
        // `2*I` and `I + I` are the same dim.
        let two_i = Dim::mul(&lit(2), &s.i);
        assert_eq!(
            b(&[two_i.clone()], &[Dim::add(&s.i, &s.i)]),
            Some(vec![two_i])
        );
        assert_eq!(b(&[t.clone(), e.clone()], &[t.clone(), g.clone()]), None);
        assert_eq!(b(&[e.clone()], &[lit(64)]), None);
        assert_eq!(b(&[lit(3)], &[lit(4)]), None);
    }

    #[test]
    fn decisions() {
        let s = syms();
        let le = |a: &Dim, b: &Dim| {
            decide(&ConstraintKind::LessEq {
                small: a.clone(),
                large: b.clone(),
            })
        };
        let dv = |a: &Dim, b: &Dim| {
            decide(&ConstraintKind::Divides {
                dim: a.clone(),
                divisor: b.clone(),
            })
        };
        let pos = |a: &Dim| decide(&ConstraintKind::Positive { dim: a.clone() });
        assert_eq!(le(&lit(3), &lit(4)), Decision::Holds);
        assert_eq!(le(&lit(4), &lit(4)), Decision::Holds);
        assert_eq!(le(&lit(5), &lit(4)), Decision::Violated);
        assert_eq!(le(&s.e, &s.e), Decision::Holds);
        assert_eq!(le(&s.e, &Dim::mul(&lit(2), &s.e)), Decision::Holds);
        assert_eq!(
            le(&Dim::mul(&lit(3), &s.e), &Dim::mul(&lit(2), &s.e)),
            Decision::Violated
        );
        assert_eq!(le(&s.g, &s.e), Decision::Unknown);
        assert_eq!(le(&lit(1), &s.e), Decision::Unknown);
        assert_eq!(dv(&lit(64), &lit(8)), Decision::Holds);
        assert_eq!(dv(&lit(64), &lit(7)), Decision::Violated);
        assert_eq!(dv(&lit(64), &lit(0)), Decision::Violated);
        assert_eq!(dv(&Dim::mul(&lit(4), &s.e), &lit(2)), Decision::Holds);
        assert_eq!(
            dv(&Dim::mul(&lit(6), &s.e), &Dim::mul(&lit(3), &s.e)),
            Decision::Holds
        );
        assert_eq!(
            dv(&Dim::mul(&lit(3), &s.e), &Dim::mul(&lit(2), &s.e)),
            Decision::Violated
        );
        assert_eq!(dv(&s.e, &lit(2)), Decision::Unknown);
        assert_eq!(dv(&s.e, &s.g), Decision::Unknown);
        assert_eq!(pos(&lit(1)), Decision::Holds);
        assert_eq!(pos(&lit(0)), Decision::Violated);
        assert_eq!(pos(&Dim::add(&s.e, &lit(1))), Decision::Holds);
        assert_eq!(pos(&s.e), Decision::Unknown);
    }

    #[test]
    fn param_and_const() {
        let s = syms();
        bad(
            &s,
            OpKind::Param { index: 0 },
            &[],
            None,
            "comes from the kernel signature",
        );
        let c = |value, dtype| OpKind::Const { value, dtype };
        assert_eq!(ok(&s, c(1.5, DType::F32), &[]), vec![f32t(&[])]);
        assert_eq!(
            ok(&s, c(f64::NEG_INFINITY, DType::BF16), &[]),
            vec![ten(DType::BF16, &[])]
        );
        assert_eq!(ok(&s, c(-7.0, DType::I32), &[]), vec![i32t(&[])]);
        assert_eq!(
            ok(&s, c(1.0, DType::Bool), &[]),
            vec![ten(DType::Bool, &[])]
        );
        bad(
            &s,
            c(1.5, DType::I32),
            &[],
            None,
            "`const` value 1.5 is not a valid `i32`",
        );
        bad(&s, c(3e9, DType::I32), &[], None, "not a valid `i32`");
        bad(&s, c(2.0, DType::Bool), &[], None, "not a valid `bool`");
        bad(
            &s,
            c(1.0, DType::F32),
            &[f32t(&[])],
            None,
            "`const` takes 0 operands, found 1",
        );
    }

    #[test]
    fn unary() {
        let s = syms();
        let x = f32t(&[s.t.clone(), s.e.clone()]);
        for &op in UnaryOp::ALL {
            assert_eq!(
                ok(&s, OpKind::Unary(op), &[x.clone()]),
                vec![x.clone()],
                "{op}"
            );
            bad(
                &s,
                OpKind::Unary(op),
                &[ten(DType::Bool, &[s.t.clone()])],
                Some(0),
                "tensor as operand 0",
            );
        }
        let xi = i32t(&[s.t.clone()]);
        for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Relu] {
            assert_eq!(ok(&s, OpKind::Unary(op), &[xi.clone()]), vec![xi.clone()]);
        }
        bad(
            &s,
            OpKind::Unary(UnaryOp::Exp),
            &[xi.clone()],
            Some(0),
            "`exp` expects a floating-point tensor as operand 0, found `i32[T]`",
        );
        bad(
            &s,
            OpKind::Unary(UnaryOp::Exp),
            &[],
            None,
            "`exp` takes 1 operand, found 0",
        );
        bad(
            &s,
            OpKind::Unary(UnaryOp::Exp),
            &[x.clone(), x.clone()],
            None,
            "takes 1 operand, found 2",
        );
        bad(
            &s,
            OpKind::Unary(UnaryOp::Sqrt),
            &[routes(&s.t, &lit(2), &s.e)],
            Some(0),
            "`sqrt` expects a tensor as operand 0, found the routing table `routes[T, 2, E]`",
        );
    }

    #[test]
    fn binary() {
        let s = syms();
        let (t, e, g) = (&s.t, &s.e, &s.g);
        let add = OpKind::Binary(BinaryOp::Add);
        assert_eq!(
            ok(
                &s,
                add.clone(),
                &[f32t(&[t.clone(), e.clone()]), f32t(&[e.clone()])]
            ),
            vec![f32t(&[t.clone(), e.clone()])]
        );
        assert_eq!(
            ok(
                &s,
                OpKind::Binary(BinaryOp::Max),
                &[i32t(&[t.clone(), lit(1)]), i32t(&[lit(4)])]
            ),
            vec![i32t(&[t.clone(), lit(4)])]
        );
        bad(
            &s,
            add.clone(),
            &[f32t(&[t.clone(), e.clone()]), f32t(&[t.clone(), g.clone()])],
            Some(1),
            "shape mismatch: `add` cannot broadcast `f32[T, E]` with `f32[T, G]`: axis 1 is `E` in one and `G` in the other",
        );
        bad(
            &s,
            add.clone(),
            &[f32t(&[e.clone()]), f32t(&[lit(64)])],
            Some(1),
            "axis 0 is `E` in one and `64` in the other",
        );
        bad(
            &s,
            OpKind::Binary(BinaryOp::Mul),
            &[f32t(&[e.clone()]), i32t(&[e.clone()])],
            Some(1),
            "dtype mismatch: `mul` needs operands 0 and 1 of the same dtype, found `f32[E]` and `i32[E]`",
        );
        bad(
            &s,
            add.clone(),
            &[f32t(&[])],
            None,
            "`add` takes 2 operands, found 1",
        );
        bad(
            &s,
            add,
            &[ten(DType::Bool, &[]), ten(DType::Bool, &[])],
            Some(0),
            "numeric",
        );
    }

    #[test]
    fn cast() {
        let s = syms();
        let x = f32t(&[s.t.clone()]);
        assert_eq!(
            ok(&s, OpKind::Cast { to: DType::BF16 }, &[x.clone()]),
            vec![ten(DType::BF16, &[s.t.clone()])]
        );
        let m = ten(DType::Bool, &[s.t.clone()]);
        assert_eq!(
            ok(&s, OpKind::Cast { to: DType::I32 }, &[m]),
            vec![i32t(&[s.t.clone()])]
        );
        bad(
            &s,
            OpKind::Cast { to: DType::Bool },
            &[x],
            None,
            "cannot convert `f32[T]` to `bool`",
        );
    }

    #[test]
    fn compare_and_select() {
        let s = syms();
        let (t, e) = (&s.t, &s.e);
        let x = f32t(&[t.clone(), e.clone()]);
        let row = f32t(&[e.clone()]);
        let mask = ten(DType::Bool, &[t.clone(), e.clone()]);
        for &op in CmpOp::ALL {
            assert_eq!(
                ok(&s, OpKind::Compare(op), &[x.clone(), row.clone()]),
                vec![mask.clone()]
            );
        }
        assert_eq!(
            ok(
                &s,
                OpKind::Compare(CmpOp::Eq),
                &[mask.clone(), mask.clone()]
            ),
            vec![mask.clone()]
        );
        bad(
            &s,
            OpKind::Compare(CmpOp::Lt),
            &[mask.clone(), mask.clone()],
            Some(0),
            "numeric",
        );
        bad(
            &s,
            OpKind::Compare(CmpOp::Gt),
            &[x.clone(), i32t(&[])],
            Some(1),
            "dtype mismatch",
        );
        let col = f32t(&[t.clone(), lit(1)]);
        assert_eq!(
            ok(&s, OpKind::Select, &[mask.clone(), col, row.clone()]),
            vec![x.clone()]
        );
        let scalar_mask = ten(DType::Bool, &[]);
        assert_eq!(
            ok(&s, OpKind::Select, &[scalar_mask, row.clone(), f32t(&[])]),
            vec![row.clone()]
        );
        bad(
            &s,
            OpKind::Select,
            &[x.clone(), x.clone(), x.clone()],
            Some(0),
            "expects an `bool` tensor",
        );
        bad(
            &s,
            OpKind::Select,
            &[mask.clone(), x.clone(), i32t(&[])],
            Some(2),
            "dtype mismatch",
        );
        bad(
            &s,
            OpKind::Select,
            &[mask.clone(), x.clone(), f32t(&[s.g.clone()])],
            Some(2),
            "`select` cannot broadcast `f32[T, E]` with `f32[G]`: axis 1 is `E` in one and `G` in the other",
        );
        bad(
            &s,
            OpKind::Select,
            &[mask, x],
            None,
            "`select` takes 3 operands, found 2",
        );
    }

    #[test]
    fn reductions() {
        let s = syms();
        let (t, e) = (&s.t, &s.e);
        let x = f32t(&[t.clone(), e.clone()]);
        for &op in ReduceOp::ALL {
            let k = OpKind::Reduce {
                op,
                axis: 1,
                keep_dim: false,
            };
            assert_eq!(ok(&s, k, &[x.clone()]), vec![f32t(&[t.clone()])]);
            let k = OpKind::Reduce {
                op,
                axis: 0,
                keep_dim: true,
            };
            assert_eq!(ok(&s, k, &[x.clone()]), vec![f32t(&[lit(1), e.clone()])]);
        }
        let xi = i32t(&[t.clone(), e.clone()]);
        let sum = OpKind::Reduce {
            op: ReduceOp::Sum,
            axis: 1,
            keep_dim: false,
        };
        assert_eq!(ok(&s, sum, &[xi.clone()]), vec![i32t(&[t.clone()])]);
        let mean = OpKind::Reduce {
            op: ReduceOp::Mean,
            axis: 1,
            keep_dim: false,
        };
        bad(&s, mean, &[xi.clone()], Some(0), "floating-point");
        let k = OpKind::Reduce {
            op: ReduceOp::Max,
            axis: 2,
            keep_dim: false,
        };
        bad(
            &s,
            k,
            &[x.clone()],
            Some(0),
            "`max` axis 2 is out of range for `f32[T, E]` of rank 2",
        );
        for &op in ArgOp::ALL {
            let k = OpKind::ArgReduce {
                op,
                axis: 1,
                keep_dim: true,
            };
            assert_eq!(ok(&s, k, &[x.clone()]), vec![i32t(&[t.clone(), lit(1)])]);
            let k = OpKind::ArgReduce {
                op,
                axis: 0,
                keep_dim: false,
            };
            assert_eq!(ok(&s, k, &[xi.clone()]), vec![i32t(&[e.clone()])]);
            let k = OpKind::ArgReduce {
                op,
                axis: 0,
                keep_dim: false,
            };
            bad(&s, k, &[f32t(&[])], Some(0), "axis 0 is out of range");
        }
    }

    #[test]
    fn softmax_family() {
        let s = syms();
        let x = ten(DType::BF16, &[s.t.clone(), s.e.clone()]);
        for kind in [OpKind::Softmax { axis: 1 }, OpKind::LogSoftmax { axis: 0 }] {
            assert_eq!(ok(&s, kind, &[x.clone()]), vec![x.clone()]);
        }
        bad(
            &s,
            OpKind::Softmax { axis: 2 },
            &[x.clone()],
            Some(0),
            "axis 2 is out of range",
        );
        bad(
            &s,
            OpKind::LogSoftmax { axis: 0 },
            &[i32t(&[s.e.clone()])],
            Some(0),
            "floating-point",
        );
    }

    #[test]
    fn rms_norm() {
        let s = syms();
        let x = f32t(&[s.t.clone(), s.h.clone()]);
        let w = f32t(&[s.h.clone()]);
        assert_eq!(
            ok(&s, OpKind::RmsNorm { eps: 1e-6 }, &[x.clone(), w.clone()]),
            vec![x.clone()]
        );
        bad(
            &s,
            OpKind::RmsNorm { eps: 1e-6 },
            &[x.clone(), f32t(&[s.e.clone()])],
            Some(1),
            "`rms_norm` needs a weight of shape `[H]` (the last dim of `f32[T, H]`), found `f32[E]`",
        );
        bad(
            &s,
            OpKind::RmsNorm { eps: 1e-6 },
            &[x.clone(), ten(DType::BF16, &[s.h.clone()])],
            Some(1),
            "dtype mismatch",
        );
        bad(
            &s,
            OpKind::RmsNorm { eps: -1.0 },
            &[x.clone(), w.clone()],
            None,
            "finite non-negative `eps`, found -1.0",
        );
        bad(
            &s,
            OpKind::RmsNorm { eps: f64::NAN },
            &[x.clone(), w.clone()],
            None,
            "found NaN",
        );
        bad(
            &s,
            OpKind::RmsNorm { eps: 1e-6 },
            &[f32t(&[]), w],
            Some(0),
            "found the scalar `f32[]`",
        );
    }

    #[test]
    fn reshape() {
        let s = syms();
        let (t, e, g) = (&s.t, &s.e, &s.g);
        let x = f32t(&[t.clone(), e.clone()]);
        let te = Dim::mul(t, e);
        let r = |shape: Vec<Dim>| OpKind::Reshape { shape };
        assert_eq!(
            ok(&s, r(vec![te.clone()]), &[x.clone()]),
            vec![f32t(&[te.clone()])]
        );
        assert_eq!(
            ok(&s, r(vec![lit(2), lit(3)]), &[f32t(&[lit(6)])]),
            vec![f32t(&[lit(2), lit(3)])]
        );
        assert_eq!(
            ok(&s, r(vec![]), &[f32t(&[lit(1), lit(1)])]),
            vec![f32t(&[])]
        );
        bad(
            &s,
            r(vec![t.clone(), g.clone()]),
            &[x.clone()],
            None,
            "`reshape` must keep the element count: `f32[T, E]` has `E*T` elements but the shape `[T, G]` has `G*T`",
        );
        bad(
            &s,
            r(vec![lit(7)]),
            &[f32t(&[lit(2), lit(3)])],
            None,
            "has `6` elements but the shape `[7]` has `7`",
        );
        bad(
            &s,
            r(vec![Dim::mul(&lit(2), t)]),
            &[f32t(&[t.clone()])],
            None,
            "must keep the element count",
        );
        bad(
            &s,
            r(vec![lit(-6)]),
            &[f32t(&[lit(6)])],
            None,
            "`reshape` needs `shape` to be non-negative, found -6",
        );
        // `E` as `G` groups of `E/G`: the quotient cancels, given that `G` divides `E`.
        let per_group = Dim::div(e, g).expect("symbolic quotient");
        let inf = run(
            &s,
            r(vec![g.clone(), per_group.clone()]),
            &[f32t(&[e.clone()])],
        )
        .expect("valid");
        assert_eq!(inf.results, vec![f32t(&[g.clone(), per_group.clone()])]);
        assert_eq!(
            inf.constraints,
            vec![(
                ConstraintKind::Divides {
                    dim: e.clone(),
                    divisor: g.clone()
                },
                "a quotient in the shape of `reshape` must be exact".to_string()
            )]
        );
        // A quotient that does not cancel: equal counts become a pair of constraints.
        let h_per_g = Dim::div(&s.h, g).expect("symbolic quotient");
        let inf = run(&s, r(vec![h_per_g.clone()]), &[f32t(&[e.clone()])]).expect("valid");
        assert_eq!(
            inf.constraints,
            vec![
                (
                    ConstraintKind::LessEq {
                        small: e.clone(),
                        large: h_per_g.clone()
                    },
                    "`reshape` must keep the element count".to_string()
                ),
                (
                    ConstraintKind::LessEq {
                        small: h_per_g,
                        large: e.clone()
                    },
                    "`reshape` must keep the element count".to_string()
                ),
            ]
        );
        // Literal quotients cancel too, and an inexact one is an error.
        bad(
            &s,
            r(vec![lit(8)]),
            &[f32t(&[
                Dim::Div(Box::new(lit(7)), Box::new(lit(2))),
                lit(2),
                lit(4),
            ])],
            None,
            "`reshape` cannot use `7/2`: it is not a whole number",
        );
    }

    #[test]
    fn slice() {
        let s = syms();
        let (t, e) = (&s.t, &s.e);
        let x = f32t(&[t.clone(), lit(10)]);
        let sl = |axis, start: Dim, end: Dim| OpKind::Slice { axis, start, end };
        assert_eq!(
            ok(&s, sl(1, lit(2), lit(5)), &[x.clone()]),
            vec![f32t(&[t.clone(), lit(3)])]
        );
        assert_eq!(
            ok(&s, sl(1, lit(4), lit(4)), &[x.clone()]),
            vec![f32t(&[t.clone(), lit(0)])]
        );
        bad(
            &s,
            sl(1, lit(5), lit(2)),
            &[x.clone()],
            None,
            "`slice` start `5` is after its end `2`",
        );
        bad(
            &s,
            sl(1, lit(2), lit(11)),
            &[x.clone()],
            Some(0),
            "`slice` end `11` is past the size `10` of axis 1 of `f32[T, 10]`",
        );
        bad(
            &s,
            sl(2, lit(0), lit(1)),
            &[x.clone()],
            Some(0),
            "axis 2 is out of range",
        );
        bad(
            &s,
            sl(1, lit(-1), lit(1)),
            &[x],
            None,
            "`start` to be non-negative",
        );
        // Slicing a symbolic axis: `0..E` of `E` is fine, `0..G` of `E` is a constraint.
        let y = f32t(&[e.clone()]);
        assert_eq!(
            ok(&s, sl(0, lit(0), e.clone()), &[y.clone()]),
            vec![y.clone()]
        );
        let inf = run(&s, sl(0, lit(1), s.g.clone()), &[y]).expect("valid");
        assert_eq!(inf.results, vec![f32t(&[Dim::sub(&s.g, &lit(1))])]);
        let kinds: Vec<ConstraintKind> = inf.constraints.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            vec![
                ConstraintKind::LessEq {
                    small: lit(1),
                    large: s.g.clone()
                },
                ConstraintKind::LessEq {
                    small: s.g.clone(),
                    large: e.clone()
                },
            ]
        );
    }

    #[test]
    fn concat() {
        let s = syms();
        let (t, e, g) = (&s.t, &s.e, &s.g);
        let c = |axis| OpKind::Concat { axis };
        assert_eq!(
            ok(
                &s,
                c(1),
                &[
                    f32t(&[t.clone(), e.clone()]),
                    f32t(&[t.clone(), g.clone()]),
                    f32t(&[t.clone(), lit(2)])
                ]
            ),
            vec![f32t(&[t.clone(), Dim::add(&Dim::add(e, g), &lit(2))])]
        );
        bad(
            &s,
            c(0),
            &[f32t(&[t.clone()])],
            None,
            "`concat` takes at least 2 operands, found 1",
        );
        bad(&s, c(1), &[f32t(&[t.clone(), e.clone()]), f32t(&[e.clone(), e.clone()])], Some(1), "axis 0 of operand 1 (`f32[E, E]`) differs from operand 0 (`f32[T, E]`): expected `T`, found `E`");
        bad(
            &s,
            c(0),
            &[f32t(&[t.clone(), e.clone()]), f32t(&[t.clone()])],
            Some(1),
            "equal rank",
        );
        bad(
            &s,
            c(0),
            &[f32t(&[t.clone()]), i32t(&[t.clone()])],
            Some(1),
            "dtype mismatch",
        );
        bad(
            &s,
            c(1),
            &[f32t(&[t.clone()]), f32t(&[t.clone()])],
            Some(0),
            "axis 1 is out of range",
        );
    }

    #[test]
    fn transpose() {
        let s = syms();
        let (t, e, h) = (&s.t, &s.e, &s.h);
        let x = f32t(&[t.clone(), e.clone(), h.clone()]);
        let tr = |perm: Vec<u32>| OpKind::Transpose { perm };
        assert_eq!(
            ok(&s, tr(vec![2, 0, 1]), &[x.clone()]),
            vec![f32t(&[h.clone(), t.clone(), e.clone()])]
        );
        assert_eq!(ok(&s, tr(vec![]), &[f32t(&[])]), vec![f32t(&[])]);
        bad(
            &s,
            tr(vec![0, 0, 1]),
            &[x.clone()],
            None,
            "needs a permutation of 0..3 for `f32[T, E, H]`, found [0, 0, 1]",
        );
        bad(&s, tr(vec![0, 1]), &[x.clone()], None, "permutation");
        bad(&s, tr(vec![0, 1, 3]), &[x], None, "permutation");
    }

    #[test]
    fn topk() {
        let s = syms();
        let (t, e) = (&s.t, &s.e);
        let x = f32t(&[t.clone(), lit(16)]);
        assert_eq!(
            ok(&s, OpKind::TopK { k: lit(4) }, &[x.clone()]),
            vec![f32t(&[t.clone(), lit(4)]), i32t(&[t.clone(), lit(4)])]
        );
        bad(
            &s,
            OpKind::TopK { k: lit(17) },
            &[x.clone()],
            Some(0),
            "`topk` keeps `17` elements but the last axis of `f32[T, 16]` has only `16`",
        );
        bad(&s, OpKind::TopK { k: lit(-1) }, &[x], None, "non-negative");
        bad(
            &s,
            OpKind::TopK { k: lit(1) },
            &[f32t(&[])],
            Some(0),
            "scalar",
        );
        let inf = run(
            &s,
            OpKind::TopK { k: s.g.clone() },
            &[f32t(&[t.clone(), e.clone()])],
        )
        .expect("valid");
        assert_eq!(
            inf.constraints,
            vec![(
                ConstraintKind::LessEq {
                    small: s.g.clone(),
                    large: e.clone()
                },
                "the `k` of `topk` must not exceed the last dim".to_string()
            )]
        );
    }

    #[test]
    fn group_topk() {
        let s = syms();
        let (t, e, g) = (&s.t, &s.e, &s.g);
        let gt = |groups: Dim, k: Dim| OpKind::GroupTopK { groups, k };
        assert_eq!(
            ok(&s, gt(lit(8), lit(2)), &[f32t(&[t.clone(), lit(64)])]),
            vec![f32t(&[t.clone(), lit(16)]), i32t(&[t.clone(), lit(16)])]
        );
        bad(
            &s,
            gt(lit(7), lit(1)),
            &[f32t(&[t.clone(), lit(64)])],
            Some(0),
            "cannot split the last axis `64` of `f32[T, 64]` into `7` equal groups",
        );
        bad(
            &s,
            gt(lit(0), lit(1)),
            &[f32t(&[t.clone(), lit(64)])],
            Some(0),
            "into `0` equal groups",
        );
        bad(
            &s,
            gt(lit(8), lit(9)),
            &[f32t(&[t.clone(), lit(64)])],
            Some(0),
            "keeps `9` elements per group but the groups of `f32[T, 64]` have only `8`",
        );
        // Symbolic: `G` divides `E` and `1 <= E/G` are constraints.
        let inf = run(&s, gt(g.clone(), lit(1)), &[f32t(&[t.clone(), e.clone()])]).expect("valid");
        assert_eq!(
            inf.results,
            vec![f32t(&[t.clone(), g.clone()]), i32t(&[t.clone(), g.clone()])]
        );
        assert_eq!(
            inf.constraints,
            vec![
                (
                    ConstraintKind::Divides {
                        dim: e.clone(),
                        divisor: g.clone()
                    },
                    "the group count of `group_topk` must divide the last dim".to_string()
                ),
                (
                    ConstraintKind::LessEq {
                        small: lit(1),
                        large: Dim::div(e, g).expect("quotient")
                    },
                    "the `k` of `group_topk` must not exceed the group size".to_string()
                ),
            ]
        );
        // `8*G` split in `G` groups of 8: decided.
        let eight_g = Dim::mul(&lit(8), g);
        assert_eq!(
            ok(&s, gt(g.clone(), lit(2)), &[f32t(&[eight_g])]),
            vec![f32t(&[Dim::mul(&lit(2), g)]), i32t(&[Dim::mul(&lit(2), g)])]
        );
    }

    #[test]
    fn gather_and_scatter_add() {
        let s = syms();
        let (t, e, h, g) = (&s.t, &s.e, &s.h, &s.g);
        let table = f32t(&[e.clone(), h.clone()]);
        let idx = i32t(&[t.clone(), g.clone()]);
        assert_eq!(
            ok(&s, OpKind::Gather, &[table.clone(), idx.clone()]),
            vec![f32t(&[t.clone(), g.clone(), h.clone()])]
        );
        assert_eq!(
            ok(&s, OpKind::Gather, &[f32t(&[e.clone()]), idx.clone()]),
            vec![f32t(&[t.clone(), g.clone()])]
        );
        bad(
            &s,
            OpKind::Gather,
            &[table.clone(), f32t(&[t.clone()])],
            Some(1),
            "expects an `i32` tensor as operand 1, found `f32[T]`",
        );
        bad(
            &s,
            OpKind::Gather,
            &[f32t(&[]), idx.clone()],
            Some(0),
            "scalar",
        );
        let sa = OpKind::ScatterAdd { size: e.clone() };
        let src = f32t(&[t.clone(), g.clone(), h.clone()]);
        assert_eq!(
            ok(&s, sa.clone(), &[src.clone(), idx.clone()]),
            vec![f32t(&[e.clone(), h.clone()])]
        );
        bad(
            &s,
            sa.clone(),
            &[src.clone(), i32t(&[g.clone(), t.clone()])],
            Some(1),
            "index shaped like the leading axes of the source `f32[T, G, H]`, found `i32[G, T]`",
        );
        bad(
            &s,
            sa.clone(),
            &[f32t(&[t.clone()]), idx.clone()],
            Some(1),
            "leading axes",
        );
        bad(
            &s,
            sa,
            &[i32t(&[t.clone()]), i32t(&[t.clone()])],
            Some(0),
            "floating-point",
        );
        bad(
            &s,
            OpKind::ScatterAdd { size: lit(-2) },
            &[src, idx],
            None,
            "`size` to be non-negative",
        );
    }

    #[test]
    fn matmul() {
        let s = syms();
        let (t, h, n) = (&s.t, &s.h, &s.n);
        let a = f32t(&[t.clone(), h.clone()]);
        let b = f32t(&[h.clone(), n.clone()]);
        assert_eq!(
            ok(&s, OpKind::MatMul, &[a.clone(), b.clone()]),
            vec![f32t(&[t.clone(), n.clone()])]
        );
        bad(&s, OpKind::MatMul, &[a.clone(), f32t(&[n.clone(), h.clone()])], Some(1), "needs the rows of the right operand to equal the columns of the left: expected `H`, found `N`");
        bad(
            &s,
            OpKind::MatMul,
            &[a.clone(), f32t(&[h.clone()])],
            Some(1),
            "rank 2, found `f32[H]` of rank 1",
        );
        bad(
            &s,
            OpKind::MatMul,
            &[a, ten(DType::BF16, &[h.clone(), n.clone()])],
            Some(1),
            "dtype mismatch",
        );
        bad(
            &s,
            OpKind::MatMul,
            &[i32t(&[t.clone(), h.clone()]), b],
            Some(0),
            "floating-point",
        );
    }

    #[test]
    fn moe_family() {
        let s = syms();
        let (t, e, h, n, g) = (&s.t, &s.e, &s.h, &s.n, &s.g);
        let tk = Dim::mul(t, g);
        let r = routes(t, g, e);
        // route
        let ids = i32t(&[t.clone(), g.clone()]);
        assert_eq!(
            ok(&s, OpKind::Route { experts: e.clone() }, &[ids.clone()]),
            vec![r.clone()]
        );
        bad(
            &s,
            OpKind::Route { experts: e.clone() },
            &[f32t(&[t.clone(), g.clone()])],
            Some(0),
            "`i32`",
        );
        bad(
            &s,
            OpKind::Route { experts: e.clone() },
            &[i32t(&[t.clone()])],
            Some(0),
            "rank 2",
        );
        bad(
            &s,
            OpKind::Route { experts: lit(-3) },
            &[ids],
            None,
            "`experts` to be non-negative",
        );
        // dispatch
        let x = ten(DType::BF16, &[t.clone(), h.clone()]);
        assert_eq!(
            ok(&s, OpKind::Dispatch, &[x.clone(), r.clone()]),
            vec![ten(DType::BF16, &[tk.clone(), h.clone()])]
        );
        bad(&s, OpKind::Dispatch, &[ten(DType::BF16, &[e.clone(), h.clone()]), r.clone()], Some(0), "`dispatch` needs one row of `bf16[E, H]` per token of `routes[T, G, E]`: expected `T`, found `E`");
        bad(
            &s,
            OpKind::Dispatch,
            &[x.clone(), x.clone()],
            Some(1),
            "expects a routing table (made by `route`) as operand 1, found `bf16[T, H]`",
        );
        bad(
            &s,
            OpKind::Dispatch,
            &[r.clone(), r.clone()],
            Some(0),
            "expects a tensor",
        );
        // grouped_matmul
        let a = ten(DType::BF16, &[tk.clone(), h.clone()]);
        let w = ten(DType::BF16, &[e.clone(), h.clone(), n.clone()]);
        let gm = OpKind::GroupedMatmul;
        assert_eq!(
            ok(&s, gm.clone(), &[a.clone(), w.clone(), r.clone()]),
            vec![ten(DType::BF16, &[tk.clone(), n.clone()])]
        );
        bad(
            &s,
            gm.clone(),
            &[x.clone(), w.clone(), r.clone()],
            Some(0),
            "per routed slot of `routes[T, G, E]`: expected `G*T`, found `T`",
        );
        bad(
            &s,
            gm.clone(),
            &[
                a.clone(),
                ten(DType::BF16, &[g.clone(), h.clone(), n.clone()]),
                r.clone(),
            ],
            Some(1),
            "one weight matrix in `bf16[G, H, N]` per expert",
        );
        bad(
            &s,
            gm.clone(),
            &[
                a.clone(),
                ten(DType::BF16, &[e.clone(), n.clone(), n.clone()]),
                r.clone(),
            ],
            Some(1),
            "expected `H`, found `N`",
        );
        bad(
            &s,
            gm.clone(),
            &[
                a.clone(),
                f32t(&[e.clone(), h.clone(), n.clone()]),
                r.clone(),
            ],
            Some(1),
            "dtype mismatch",
        );
        bad(
            &s,
            gm.clone(),
            &[a.clone(), w.clone()],
            None,
            "`grouped_matmul` takes 3 operands, found 2",
        );
        bad(&s, gm, &[a.clone(), w, a.clone()], Some(2), "routing table");
        // swiglu
        let two_i = Dim::mul(&lit(2), &s.i);
        let fused = f32t(&[tk.clone(), two_i]);
        assert_eq!(
            ok(&s, OpKind::Swiglu, &[fused]),
            vec![f32t(&[tk.clone(), s.i.clone()])]
        );
        let gate = f32t(&[tk.clone(), s.i.clone()]);
        assert_eq!(
            ok(&s, OpKind::Swiglu, &[gate.clone(), gate.clone()]),
            vec![gate.clone()]
        );
        bad(
            &s,
            OpKind::Swiglu,
            &[f32t(&[lit(5)])],
            Some(0),
            "even last dim to split into gate and up, found `f32[5]`",
        );
        bad(
            &s,
            OpKind::Swiglu,
            &[gate.clone(), f32t(&[tk.clone(), h.clone()])],
            Some(1),
            "gate and up of the same shape",
        );
        bad(
            &s,
            OpKind::Swiglu,
            &[gate.clone(), gate.clone(), gate],
            None,
            "`swiglu` takes 1 or 2 operands, found 3",
        );
        let inf = run(&s, OpKind::Swiglu, &[f32t(&[h.clone()])]).expect("valid");
        assert_eq!(
            inf.results,
            vec![f32t(&[Dim::div(h, &lit(2)).expect("quotient")])]
        );
        assert_eq!(inf.constraints.len(), 1);
        assert_eq!(
            inf.constraints[0].0,
            ConstraintKind::Divides {
                dim: h.clone(),
                divisor: lit(2)
            }
        );
        // combine
        let y = ten(DType::BF16, &[tk.clone(), h.clone()]);
        let wts = f32t(&[t.clone(), g.clone()]);
        assert_eq!(
            ok(&s, OpKind::Combine, &[y.clone(), r.clone(), wts.clone()]),
            vec![ten(DType::BF16, &[t.clone(), h.clone()])]
        );
        bad(&s, OpKind::Combine, &[y.clone(), r.clone(), f32t(&[g.clone(), t.clone()])], Some(2), "needs weights of shape `[T, G]` (tokens by slots of `routes[T, G, E]`), found `f32[G, T]`");
        bad(
            &s,
            OpKind::Combine,
            &[x, r.clone(), wts.clone()],
            Some(0),
            "expected `G*T`, found `T`",
        );
        bad(
            &s,
            OpKind::Combine,
            &[y.clone(), wts.clone(), r.clone()],
            Some(1),
            "routing table",
        );
        bad(
            &s,
            OpKind::Combine,
            &[y, r, i32t(&[t.clone(), g.clone()])],
            Some(2),
            "floating-point",
        );
    }
}
