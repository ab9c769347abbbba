//! Expressions: names, literals, operators and tuples (calls are in `call.rs`).

use moge_lower::graph::{BinaryOp, CmpOp, OpKind, UnaryOp};
use moge_lower::{DType, Type, Value};

use super::{Builder, Lit, Val};
use crate::ast::{BinOp, Expr, ExprKind};
use crate::diagnostic::{Diagnostic, SpanRange};

/// One value of a multi-valued expression (a tuple, or a two-result op), with the span to blame and
/// the name it was written as (for output names).
pub(crate) struct Item<'e> {
    pub val: Val,
    pub span: SpanRange,
    pub name: Option<&'e str>,
}

impl Builder<'_> {
    /// Evaluates an expression that must give one value.
    pub(crate) fn eval(&mut self, e: &Expr) -> Val {
        // Recursion over the AST: as deep as the nesting, or as long as a left-deep chain.
        crate::stack::ensure_stack(|| self.eval_here(e))
    }

    fn eval_here(&mut self, e: &Expr) -> Val {
        crate::work::tick(1);
        match &e.kind {
            ExprKind::Ident(name) => self.lookup(name, e.span),
            ExprKind::Int(v) => Val::Lit(Lit {
                value: *v as f64,
                float: false,
            }),
            ExprKind::Float(v) => Val::Lit(Lit {
                value: *v,
                float: true,
            }),
            ExprKind::Bool(b) => {
                self.error(
                    Diagnostic::new(e.span, format!("`{b}` is not a tensor"))
                        .with_help("boolean literals are only the `keep_dim` argument of reductions; masks come from comparisons"),
                );
                Val::Error
            }
            ExprKind::Neg(inner) => match self.eval(inner) {
                Val::Lit(lit) => Val::Lit(Lit {
                    value: -lit.value,
                    float: lit.float,
                }),
                Val::Value(v) => self.unary_neg(v, inner.span, e.span),
                Val::Error => Val::Error,
            },
            ExprKind::Binary(op, a, b) => self.binary(e, *op, a, b),
            ExprKind::Call {
                func,
                turbofish,
                args,
            } => {
                let results = self.call(e, func, turbofish, args);
                match results.as_slice() {
                    [one] => *one,
                    _ => {
                        if results.iter().all(|r| !matches!(r, Val::Error)) {
                            let names = crate::builtins::resolve(&func.text, args)
                                .map_or("a, b", |b| b.result_names());
                            self.error(
                                Diagnostic::new(
                                    e.span,
                                    format!("`{}` returns {} tensors ({names}), but one is expected here", func.text, results.len()),
                                )
                                .with_help(format!("bind them first: `let ({names}) = {}(..);`", func.text)),
                            );
                        }
                        Val::Error
                    }
                }
            }
            ExprKind::Tuple(items) => {
                for item in items {
                    self.mark_used(item);
                }
                self.error(
                    Diagnostic::new(e.span, "expected a tensor, found a tuple")
                        .with_help("tuples are only returned, unpacked with `let (a, b) = ...`, or passed to `concat`, `reshape` and `transpose`"),
                );
                Val::Error
            }
            ExprKind::Error(_) => {
                self.mark_used(e);
                Val::Error
            }
        }
    }

    /// Evaluates an expression that may give several values: a tuple, or a call of a two-result op.
    pub(crate) fn eval_multi<'e>(&mut self, e: &'e Expr) -> Vec<Item<'e>> {
        match &e.kind {
            ExprKind::Tuple(items) => items
                .iter()
                .map(|item| Item {
                    val: self.eval(item),
                    span: item.span,
                    name: ident_name(item),
                })
                .collect(),
            ExprKind::Call {
                func,
                turbofish,
                args,
            } => self
                .call(e, func, turbofish, args)
                .into_iter()
                .map(|val| Item {
                    val,
                    span: e.span,
                    name: None,
                })
                .collect(),
            _ => vec![Item {
                val: self.eval(e),
                span: e.span,
                name: ident_name(e),
            }],
        }
    }

    fn unary_neg(&mut self, v: Value, operand: SpanRange, at: SpanRange) -> Val {
        first(self.apply(OpKind::Unary(UnaryOp::Neg), &[(v, operand)], at, "-"))
    }

    /// A chain of binary operators (`a + b * c - d`, a left-deep tree as long as the chain),
    /// evaluated along its left spine in a loop rather than by recursion.
    fn binary(&mut self, e: &Expr, op: BinOp, a: &Expr, b: &Expr) -> Val {
        let mut spine = vec![(e, op, a, b)];
        let mut leftmost = a;
        while let ExprKind::Binary(op, a, b) = &leftmost.kind {
            spine.push((leftmost, *op, a, b));
            leftmost = a;
        }
        let mut acc = self.eval(leftmost);
        for (e, op, a, b) in spine.into_iter().rev() {
            let rhs = self.eval(b);
            acc = self.combine(e, op, a, b, acc, rhs);
        }
        acc
    }

    /// `lhs <op> rhs`, the values of `a` and `b`, the operands of `e`.
    fn combine(&mut self, e: &Expr, op: BinOp, a: &Expr, b: &Expr, lhs: Val, rhs: Val) -> Val {
        let (lhs, rhs) = match (lhs, rhs) {
            (Val::Error, _) | (_, Val::Error) => return Val::Error,
            (Val::Lit(x), Val::Lit(y)) => return self.fold(e, op, x, y),
            (Val::Value(x), Val::Value(y)) => (x, y),
            (Val::Value(x), Val::Lit(y)) => {
                match self.lit_like(y, b.span, x, a.span, op.symbol()) {
                    Some(y) => (x, y),
                    None => return Val::Error,
                }
            }
            (Val::Lit(x), Val::Value(y)) => {
                match self.lit_like(x, a.span, y, b.span, op.symbol()) {
                    Some(x) => (x, y),
                    None => return Val::Error,
                }
            }
        };
        let kind = match op {
            BinOp::Add => OpKind::Binary(BinaryOp::Add),
            BinOp::Sub => OpKind::Binary(BinaryOp::Sub),
            BinOp::Mul => OpKind::Binary(BinaryOp::Mul),
            BinOp::Div => OpKind::Binary(BinaryOp::Div),
            BinOp::Eq => OpKind::Compare(CmpOp::Eq),
            BinOp::Ne => OpKind::Compare(CmpOp::Ne),
            BinOp::Lt => OpKind::Compare(CmpOp::Lt),
            BinOp::Le => OpKind::Compare(CmpOp::Le),
            BinOp::Gt => OpKind::Compare(CmpOp::Gt),
            BinOp::Ge => OpKind::Compare(CmpOp::Ge),
        };
        first(self.apply(kind, &[(lhs, a.span), (rhs, b.span)], e.span, op.symbol()))
    }

    /// Arithmetic on two literals, folded now.
    fn fold(&mut self, e: &Expr, op: BinOp, x: Lit, y: Lit) -> Val {
        if op.is_comparison() {
            self.error(
                Diagnostic::new(
                    e.span,
                    format!("comparison of two literals (`{}`)", op.symbol()),
                )
                .with_help("compare a tensor with a literal instead"),
            );
            return Val::Error;
        }
        if !x.float && !y.float {
            let (a, b) = (x.value as i64, y.value as i64);
            let value = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                _ => {
                    if b == 0 {
                        self.error(Diagnostic::new(
                            e.span,
                            "division by zero in integer literals",
                        ));
                        return Val::Error;
                    }
                    a.checked_div(b)
                }
            };
            return match value {
                Some(v) => Val::Lit(Lit {
                    value: v as f64,
                    float: false,
                }),
                None => {
                    self.error(Diagnostic::new(
                        e.span,
                        "integer literal arithmetic overflows",
                    ));
                    Val::Error
                }
            };
        }
        let value = match op {
            BinOp::Add => x.value + y.value,
            BinOp::Sub => x.value - y.value,
            BinOp::Mul => x.value * y.value,
            _ => x.value / y.value,
        };
        if !value.is_finite() {
            self.error(Diagnostic::new(
                e.span,
                "literal arithmetic gives a value that is not finite",
            ));
            return Val::Error;
        }
        Val::Lit(Lit { value, float: true })
    }

    /// A literal combined with the tensor `other` (by the op shown as `op`), as a constant of its
    /// dtype.
    pub(crate) fn lit_like(
        &mut self,
        lit: Lit,
        lit_span: SpanRange,
        other: Value,
        other_span: SpanRange,
        op: &str,
    ) -> Option<Value> {
        let dtype = match self.kernel.ty(other) {
            Type::Tensor(t) => t.dtype,
            ty => {
                let shown = self.show_ty(&ty.clone());
                self.error(Diagnostic::new(
                    other_span,
                    format!("`{op}` expects a tensor, found the routing table `{shown}`"),
                ));
                return None;
            }
        };
        self.materialize(lit, dtype, lit_span)
    }

    /// The literal as a rank-0 constant of `dtype`.
    pub(crate) fn materialize(&mut self, lit: Lit, dtype: DType, span: SpanRange) -> Option<Value> {
        match dtype {
            DType::Bool => {
                self.error(
                    Diagnostic::new(span, format!("the literal `{}` cannot be combined with a bool mask", lit.show()))
                        .with_help("convert the mask with `cast::<f32>(..)` or choose values with `select(cond, a, b)`"),
                );
                return None;
            }
            DType::I32 if lit.float => {
                self.error(
                    Diagnostic::new(
                        span,
                        format!("dtype mismatch: the float literal `{}` cannot be used with an `i32` tensor", lit.show()),
                    )
                    .with_help("write an integer literal, or convert the tensor with `cast::<f32>(..)`"),
                );
                return None;
            }
            DType::I32 if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&lit.value) => {
                self.error(Diagnostic::new(
                    span,
                    format!("the literal `{}` does not fit in `i32`", lit.show()),
                ));
                return None;
            }
            _ => {}
        }
        let kind = OpKind::Const {
            value: lit.value,
            dtype,
        };
        self.apply(kind, &[], span, "const")
            .and_then(|results| results.first().copied())
    }
}

/// The first result of an op, or an error value if it failed.
fn first(results: Option<Vec<Value>>) -> Val {
    match results.as_deref() {
        Some([value, ..]) => Val::Value(*value),
        _ => Val::Error,
    }
}

fn ident_name(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Ident(name) => Some(name),
        _ => None,
    }
}
