//! Calls of built-in ops: arity, argument kinds, axes, literals, then the graph-IR op.

use moge_lower::graph::OpKind;
use moge_lower::{DType, Dim, Type, Value};

use super::dim::describe;
use super::{Builder, DimMode, Val};
use crate::ast::{Expr, ExprKind, Name};
use crate::builtins::{resolve, Arg, Builtin, Kind, ALIASES, BUILTINS};
use crate::diagnostic::{Diagnostic, SpanRange};

/// An evaluated argument.
enum ArgVal {
    Tensor(Val, SpanRange),
    Axis(i64, SpanRange),
    Dim(Dim),
    Dims(Vec<Dim>),
    Tensors(Vec<(Val, SpanRange)>),
    Perm(Vec<u32>),
    Flag(bool),
    Float(f64),
}

/// The most tensors one call takes in a tuple (`concat`): the result's dim is the sum of theirs.
const MAX_TENSORS: usize = 64;

impl Builder<'_> {
    /// Evaluates a call; returns one value per result of the op (errors on failure).
    pub(crate) fn call(
        &mut self,
        e: &Expr,
        func: &Name,
        turbofish: &Option<(DType, SpanRange)>,
        args: &[Expr],
    ) -> Vec<Val> {
        let Some(builtin) = resolve(&func.text, args) else {
            self.unknown_op(func);
            for arg in args {
                self.mark_used(arg);
            }
            return vec![Val::Error];
        };
        let failed = vec![Val::Error; builtin.num_results()];
        let shown = func.text.as_str();

        match (builtin.kind, turbofish) {
            (Kind::Cast, None) => {
                self.error(
                    Diagnostic::new(func.span, "`cast` needs the target dtype")
                        .with_help("write it with a turbofish: `cast::<f32>(x)`"),
                );
                args.iter().for_each(|a| self.mark_used(a));
                return failed;
            }
            (Kind::Cast, Some(_)) | (_, None) => {}
            (_, Some((_, span))) => {
                self.error(Diagnostic::new(
                    *span,
                    format!("`{shown}` takes no `::<...>` type argument"),
                ));
                args.iter().for_each(|a| self.mark_used(a));
                return failed;
            }
        }

        let max = builtin.args.len();
        if args.len() < builtin.required || args.len() > max {
            let count = if builtin.required == max {
                format!("{max} argument{}", if max == 1 { "" } else { "s" })
            } else {
                format!("{} or {max} arguments", builtin.required)
            };
            self.error(Diagnostic::new(
                e.span,
                format!(
                    "`{shown}` takes {count} {}, found {}",
                    builtin.signature,
                    args.len()
                ),
            ));
            args.iter().for_each(|a| self.mark_used(a));
            return failed;
        }

        let mut values = Vec::with_capacity(args.len());
        let mut ok = true;
        for (arg, kind) in args.iter().zip(builtin.args) {
            match self.arg(builtin, shown, arg, *kind) {
                Some(v) => values.push(v),
                None => ok = false,
            }
        }
        if !ok {
            return failed;
        }
        match self.build_call(builtin, shown, e.span, turbofish.map(|(d, _)| d), values) {
            Some(results) => results.into_iter().map(Val::Value).collect(),
            None => failed,
        }
    }

    fn unknown_op(&mut self, func: &Name) {
        let name = &func.text;
        if let Some(binding) = self.binding_mut(name) {
            binding.used = true;
            if matches!(binding.val, Val::Error) {
                // A failed binding (a rejected closure, say) was reported already.
                return;
            }
            self.error(
                Diagnostic::new(func.span, format!("`{name}` is a tensor, not an op"))
                    .with_help("only built-in ops can be called"),
            );
            return;
        }
        let mut diag = Diagnostic::new(func.span, format!("unknown op `{name}`"));
        // A known name from another library first: `add` is not a typo of `abs`.
        if let Some((_, alias)) = ALIASES.iter().find(|(alias, _)| alias == name) {
            diag = diag.with_help(format!("the DSL writes this as {alias}"));
        } else if let Some(near) = crate::suggest::closest(name, BUILTINS.iter().map(|b| b.name)) {
            diag = diag.with_help(format!("did you mean `{near}`?"));
        }
        self.error(diag);
    }

    /// Evaluates one argument as `kind`; `None` after reporting an error.
    fn arg(&mut self, builtin: &Builtin, shown: &str, arg: &Expr, kind: Arg) -> Option<ArgVal> {
        if !matches!(kind, Arg::Tensor(_)) {
            // Names in a malformed argument are not unused.
            self.mark_used(arg);
        }
        match kind {
            Arg::Tensor(_) => match self.eval(arg) {
                Val::Error => None,
                val => Some(ArgVal::Tensor(val, arg.span)),
            },
            Arg::Axis => match arg.as_int() {
                Some(axis) => Some(ArgVal::Axis(axis, arg.span)),
                None => {
                    self.mark_used(arg);
                    if !matches!(arg.kind, ExprKind::Error(_)) {
                        self.error(Diagnostic::new(
                            arg.span,
                            format!(
                                "`{shown}` expects an axis (an integer literal such as `-1`), found {}",
                                describe(arg)
                            ),
                        ));
                    }
                    None
                }
            },
            Arg::Dim(name) => {
                let what = format!("`{name}` of `{shown}`");
                self.dim(arg, DimMode::Known, &what).map(ArgVal::Dim)
            }
            Arg::Dims(_) => match &arg.kind {
                ExprKind::Tuple(items) => {
                    if !self.rank_ok(items.len(), arg.span) {
                        self.mark_used(arg);
                        return None;
                    }
                    let what = format!("shape of `{shown}`");
                    let dims: Vec<Option<Dim>> = items
                        .iter()
                        .map(|d| self.dim(d, DimMode::Known, &what))
                        .collect();
                    dims.into_iter()
                        .collect::<Option<Vec<_>>>()
                        .map(ArgVal::Dims)
                }
                ExprKind::Error(_) => None,
                _ => {
                    self.mark_used(arg);
                    self.error(
                        Diagnostic::new(
                            arg.span,
                            format!(
                                "`{shown}` expects a shape tuple such as `(T, E)`, found {}",
                                describe(arg)
                            ),
                        )
                        .with_help("write `(D,)` for one dim and `()` for a scalar"),
                    );
                    None
                }
            },
            Arg::Tensors(_) => {
                match &arg.kind {
                    ExprKind::Tuple(items) if items.len() > MAX_TENSORS => {
                        self.mark_used(arg);
                        self.error(
                            Diagnostic::new(
                                arg.span,
                                format!(
                                    "`{shown}` takes at most {MAX_TENSORS} tensors, found {}",
                                    items.len()
                                ),
                            )
                            .with_help(format!("combine them in steps of at most {MAX_TENSORS}")),
                        );
                        None
                    }
                    ExprKind::Tuple(items) => {
                        let vals: Vec<(Val, SpanRange)> = items
                            .iter()
                            .map(|item| (self.eval(item), item.span))
                            .collect();
                        if vals.iter().any(|(v, _)| matches!(v, Val::Error)) {
                            return None;
                        }
                        Some(ArgVal::Tensors(vals))
                    }
                    ExprKind::Error(_) => None,
                    _ => {
                        self.mark_used(arg);
                        self.error(
                        Diagnostic::new(
                            arg.span,
                            format!("`{shown}` expects a tuple of tensors such as `(a, b)`, found {}", describe(arg)),
                        )
                        .with_help(format!("write `{shown}{}`", builtin.signature)),
                    );
                        None
                    }
                }
            }
            Arg::Perm => {
                let items = match &arg.kind {
                    ExprKind::Tuple(items) => Some(items),
                    _ => None,
                };
                let perm: Option<Vec<u32>> = items.and_then(|items| {
                    items
                        .iter()
                        .map(|i| i.as_int().and_then(|v| u32::try_from(v).ok()))
                        .collect()
                });
                if perm.is_none() && !matches!(arg.kind, ExprKind::Error(_)) {
                    self.mark_used(arg);
                    self.error(Diagnostic::new(
                        arg.span,
                        format!(
                            "`{shown}` expects a permutation of the axes as a tuple of integer literals such as `(1, 0)`, found {}",
                            describe(arg)
                        ),
                    ));
                }
                perm.map(ArgVal::Perm)
            }
            Arg::Flag(name) => match arg.kind {
                ExprKind::Bool(b) => Some(ArgVal::Flag(b)),
                ExprKind::Error(_) => None,
                _ => {
                    self.mark_used(arg);
                    self.error(Diagnostic::new(
                        arg.span,
                        format!(
                            "`{shown}` expects `true` or `false` for `{name}`, found {}",
                            describe(arg)
                        ),
                    ));
                    None
                }
            },
            Arg::Float(name) => {
                let value = match &arg.kind {
                    ExprKind::Float(v) => Some(*v),
                    ExprKind::Int(v) => Some(*v as f64),
                    ExprKind::Neg(inner) => match inner.kind {
                        ExprKind::Float(v) => Some(-v),
                        ExprKind::Int(v) => Some(-(v as f64)),
                        _ => None,
                    },
                    _ => None,
                };
                if value.is_none() && !matches!(arg.kind, ExprKind::Error(_)) {
                    self.mark_used(arg);
                    self.error(Diagnostic::new(
                        arg.span,
                        format!("`{shown}` expects a number literal for `{name}` (such as `1e-6`), found {}", describe(arg)),
                    ));
                }
                value.map(ArgVal::Float)
            }
        }
    }

    /// Builds the op from evaluated arguments.
    fn build_call(
        &mut self,
        builtin: &Builtin,
        shown: &str,
        at: SpanRange,
        cast_to: Option<DType>,
        values: Vec<ArgVal>,
    ) -> Option<Vec<Value>> {
        // Split the arguments into operands (in op order) and attributes.
        let mut operands: Vec<(Val, SpanRange)> = Vec::new();
        let mut axis: Option<(i64, SpanRange)> = None;
        let mut dims: Vec<Dim> = Vec::new();
        let mut shape: Option<Vec<Dim>> = None;
        let mut perm: Option<Vec<u32>> = None;
        let mut flag = false;
        let mut float = 0.0;
        for value in values {
            match value {
                ArgVal::Tensor(v, span) => operands.push((v, span)),
                ArgVal::Tensors(items) => operands.extend(items),
                ArgVal::Axis(a, span) => axis = Some((a, span)),
                ArgVal::Dim(d) => dims.push(d),
                ArgVal::Dims(d) => shape = Some(d),
                ArgVal::Perm(p) => perm = Some(p),
                ArgVal::Flag(b) => flag = b,
                ArgVal::Float(f) => float = f,
            }
        }
        let operands = self.operand_values(builtin, shown, &operands)?;
        let first_rank = operands
            .first()
            .and_then(|(v, _)| self.kernel.ty(*v).as_tensor())
            .map(|t| t.rank());
        let mut resolved_axis = || -> Option<u32> {
            let (a, span) = axis?;
            self.resolve_axis(a, span, operands.first().map(|(v, _)| *v), shown)
        };
        let kind = match builtin.kind {
            Kind::Unary(op) => OpKind::Unary(op),
            Kind::Binary(op) => OpKind::Binary(op),
            Kind::Cast => OpKind::Cast { to: cast_to? },
            Kind::Select => OpKind::Select,
            Kind::Reduce(op) => OpKind::Reduce {
                op,
                axis: resolved_axis()?,
                keep_dim: flag,
            },
            Kind::ArgReduce(op) => OpKind::ArgReduce {
                op,
                axis: resolved_axis()?,
                keep_dim: flag,
            },
            Kind::Softmax => OpKind::Softmax {
                axis: resolved_axis()?,
            },
            Kind::LogSoftmax => OpKind::LogSoftmax {
                axis: resolved_axis()?,
            },
            Kind::RmsNorm => OpKind::RmsNorm { eps: float },
            Kind::Reshape => OpKind::Reshape { shape: shape? },
            Kind::Slice => {
                let axis = resolved_axis()?;
                let [start, end] = <[Dim; 2]>::try_from(dims).ok()?;
                OpKind::Slice { axis, start, end }
            }
            Kind::Concat => OpKind::Concat {
                axis: resolved_axis()?,
            },
            Kind::Transpose => match perm {
                Some(perm) => OpKind::Transpose { perm },
                None if first_rank == Some(2) || first_rank.is_none() => {
                    OpKind::Transpose { perm: vec![1, 0] }
                }
                None => {
                    let &(v, span) = operands.first()?;
                    let shown_ty = self.show_ty(&self.kernel.ty(v).clone());
                    self.error(
                        Diagnostic::new(span, format!("`transpose(x)` without a permutation needs a rank-2 tensor, found `{shown_ty}`"))
                            .with_help("give the permutation: `transpose(x, (2, 0, 1))`"),
                    );
                    return None;
                }
            },
            Kind::TopK => OpKind::TopK {
                k: dims.first()?.clone(),
            },
            Kind::GroupTopK => {
                let [groups, k] = <[Dim; 2]>::try_from(dims).ok()?;
                OpKind::GroupTopK { groups, k }
            }
            Kind::Gather => OpKind::Gather,
            Kind::ScatterAdd => OpKind::ScatterAdd {
                size: dims.first()?.clone(),
            },
            Kind::MatMul => OpKind::MatMul,
            Kind::Route => OpKind::Route {
                experts: dims.first()?.clone(),
            },
            Kind::Dispatch => OpKind::Dispatch,
            Kind::GroupedMatmul => OpKind::GroupedMatmul,
            Kind::Swiglu => OpKind::Swiglu,
            Kind::Combine => OpKind::Combine,
        };
        self.apply(kind, &operands, at, shown)
    }

    /// Turns the operands into graph values: literals become constants where the op is elementwise
    /// (taking the dtype of the other value operands) and are errors elsewhere.
    fn operand_values(
        &mut self,
        builtin: &Builtin,
        shown: &str,
        operands: &[(Val, SpanRange)],
    ) -> Option<Vec<(Value, SpanRange)>> {
        // Operands whose literals take the dtype of the others (`select`'s condition is a mask).
        let elementwise_from = match builtin.kind {
            Kind::Binary(_) => Some(0),
            Kind::Select => Some(1),
            _ => None,
        };
        let like = elementwise_from.and_then(|from| {
            operands.iter().skip(from).find_map(|(v, span)| match v {
                Val::Value(v) => Some((*v, *span)),
                _ => None,
            })
        });
        // With literals only (`select(mask, 1.0, 0.0)`), they default to `f32`, or `i32` if all are
        // integers.
        let default_dtype = if operands
            .iter()
            .any(|(v, _)| matches!(v, Val::Lit(l) if l.float))
        {
            DType::F32
        } else {
            DType::I32
        };
        let names: Vec<&str> = builtin
            .args
            .iter()
            .filter_map(|a| match a {
                Arg::Tensor(n) | Arg::Tensors(n) => Some(*n),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(operands.len());
        let mut ok = true;
        for (i, (val, span)) in operands.iter().enumerate() {
            let value = match val {
                Val::Value(v) => Some(*v),
                Val::Lit(lit) => match (elementwise_from.is_some_and(|from| i >= from), like) {
                    (true, Some((other, other_span))) => {
                        self.lit_like(*lit, *span, other, other_span, shown)
                    }
                    (true, None) => self.materialize(*lit, default_dtype, *span),
                    (false, _) => {
                        // `concat` has one tuple argument for all its operands.
                        let name = names.get(i).or(names.last()).copied().unwrap_or("x");
                        self.error(Diagnostic::new(
                            *span,
                            format!(
                                "`{shown}` expects a tensor for `{name}`, found the literal `{}`",
                                lit.show()
                            ),
                        ));
                        None
                    }
                },
                Val::Error => None,
            };
            match value {
                Some(v) => out.push((v, *span)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Normalizes an axis against the rank of `operand` (a negative axis counts from the end).
    fn resolve_axis(
        &mut self,
        axis: i64,
        span: SpanRange,
        operand: Option<Value>,
        shown: &str,
    ) -> Option<u32> {
        let Some(Type::Tensor(t)) = operand.map(|v| self.kernel.ty(v).clone()) else {
            // `infer` reports the routing table; any axis will do until then.
            return Some(0);
        };
        let rank = t.rank() as i64;
        let normalized = if axis < 0 { axis + rank } else { axis };
        if (0..rank).contains(&normalized) {
            return u32::try_from(normalized).ok();
        }
        let shown_ty = self.show_tensor(&t);
        let diag = if rank == 0 {
            Diagnostic::new(span, format!("`{shown}` axis {axis} is out of range: `{shown_ty}` is a scalar and has no axes"))
        } else {
            Diagnostic::new(
                span,
                format!("`{shown}` axis {axis} is out of range for `{shown_ty}` of rank {rank}"),
            )
            .with_help(format!(
                "an axis of a rank-{rank} tensor is in {}..={}",
                -rank,
                rank - 1
            ))
        };
        self.error(diag);
        None
    }
}
