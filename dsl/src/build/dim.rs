//! Dim expressions (`E`, `2 * I`, `E / G`, `64`) and tensor types.

use moge_lower::graph::SymKind;
use moge_lower::{Dim, TensorType};

use super::Builder;
use crate::ast::{BinOp, Expr, ExprKind, TypeExpr};
use crate::diagnostic::Diagnostic;

/// How far from 0 a parameter's dim of one dynamic dim is searched for a value that makes it a
/// size: the dim solver's range (`moge_lower::interp::solve`).
const DOMAIN_SCAN: i64 = 1 << 16;

/// How unknown names in a dim expression are treated.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum DimMode {
    /// In a parameter type: an unknown name declares a dynamic dim.
    Declare,
    /// Elsewhere: every name must be a declared dim.
    Known,
}

impl Builder<'_> {
    /// The tensor type written as `ty`; `what` says where it is, for messages. The dims are
    /// evaluated (and dynamic ones declared) even when the dtype was rejected.
    pub(crate) fn tensor_type(
        &mut self,
        ty: &TypeExpr,
        mode: DimMode,
        what: &str,
    ) -> Option<TensorType> {
        // The dims are evaluated (and dynamic ones declared) even past the rank limit, so that
        // other types naming them get no follow-on errors.
        let dims: Vec<Option<Dim>> = ty.dims.iter().map(|d| self.dim(d, mode, what)).collect();
        if !self.rank_ok(ty.dims.len(), ty.span) {
            return None;
        }
        let dims = dims.into_iter().collect::<Option<Vec<_>>>()?;
        if mode == DimMode::Declare {
            for (dim, e) in dims.iter().zip(&ty.dims) {
                self.check_dim_has_values(dim, e);
            }
        }
        Some(TensorType::new(ty.dtype?, dims))
    }

    /// Reports a parameter's dim of one dynamic dim and no static one that no value of the dim
    /// makes a size (`(4 * T + 5) / 4` is never an exact quotient): no input could have that shape,
    /// and the dim solver, which scans the same range, could never bind it.
    fn check_dim_has_values(&mut self, dim: &Dim, e: &Expr) {
        let syms = dim.syms();
        let [sym] = syms.as_slice() else {
            return;
        };
        let Some(data) = self.kernel.syms.get(*sym) else {
            return;
        };
        if data.kind != SymKind::Dynamic {
            return;
        }
        let defined = (0..DOMAIN_SCAN).any(|x| {
            dim.eval(&|s| (s == *sym).then_some(x), &self.kernel.syms)
                .is_ok()
        });
        if !defined {
            let name = data.name;
            self.error(
                Diagnostic::new(
                    e.span,
                    format!(
                        "no value of `{name}` below {DOMAIN_SCAN} makes this dim a size (its divisions are never exact or its value never in 0..2^40), so no input fits it"
                    ),
                )
                .with_help("a quotient in a dim must divide exactly: write the dim so that some value of the dynamic dim gives a whole size"),
            );
        }
    }

    /// Whether a shape of `rank` dims (written at `span`) is within [`MAX_RANK`]; reports it if not.
    pub(crate) fn rank_ok(&mut self, rank: usize, span: crate::diagnostic::SpanRange) -> bool {
        if rank <= MAX_RANK {
            return true;
        }
        self.error(
            Diagnostic::new(
                span,
                format!("this shape has {rank} dims, more than the limit of {MAX_RANK}"),
            )
            .with_help("NumPy allows at most 64 dims too; merge dims with `reshape`"),
        );
        false
    }

    /// Evaluates a dim expression; `None` after reporting an error.
    pub(crate) fn dim(&mut self, e: &Expr, mode: DimMode, what: &str) -> Option<Dim> {
        if too_large(e) {
            self.mark_used(e);
            self.error(
                Diagnostic::new(
                    e.span,
                    format!("this dim expression is too large (limit {DIM_LIMIT} names, literals and operators)"),
                )
                .with_help("a dim is a short expression such as `2 * I` or `E / G`"),
            );
            return None;
        }
        let dim = self.dim_inner(e, mode, what)?;
        if let Some(c) = dim.as_int() {
            if c < 0 {
                self.error(Diagnostic::new(
                    e.span,
                    format!("this dim is {c}, but dims cannot be negative"),
                ));
                return None;
            }
        }
        Some(dim)
    }

    fn dim_inner(&mut self, e: &Expr, mode: DimMode, what: &str) -> Option<Dim> {
        crate::work::tick(1);
        match &e.kind {
            ExprKind::Int(v) => Some(Dim::lit(*v)),
            ExprKind::Ident(name) => {
                if let Some(sym) = self.sym(name) {
                    return Some(Dim::sym(sym));
                }
                if mode == DimMode::Declare {
                    return Some(Dim::sym(self.add_sym(name, SymKind::Dynamic)));
                }
                let is_tensor = self.latest.contains_key(name.as_str());
                if !is_tensor && self.incomplete_signature {
                    // The name may be a dynamic dim of a parameter type that was rejected.
                    return None;
                }
                self.mark_name_used(name);
                let diag = if is_tensor {
                    Diagnostic::new(e.span, format!("`{name}` is a tensor, not a dimension"))
                        .with_help("a dim is a const generic, a dim named in a parameter type, a literal, or `+ - * /` of those")
                } else {
                    let mut diag =
                        Diagnostic::new(e.span, format!("unknown dim `{name}` in the {what}"));
                    let names: Vec<&str> =
                        self.kernel.syms.values().map(|s| s.name.as_str()).collect();
                    if let Some(near) = crate::suggest::closest(name, names) {
                        diag = diag.with_help(format!("did you mean `{near}`?"));
                    } else {
                        diag = diag.with_help(
                            "dims are the kernel's const generics (static) and the names in its parameter types (dynamic)",
                        );
                    }
                    diag
                };
                self.error(diag);
                None
            }
            ExprKind::Binary(op, a, b) if !op.is_comparison() => {
                let lhs = self.dim_inner(a, mode, what);
                let rhs = self.dim_inner(b, mode, what);
                let (lhs, rhs) = (lhs?, rhs?);
                let combined = match op {
                    BinOp::Add => Some(Dim::add(&lhs, &rhs)),
                    BinOp::Sub => Some(Dim::sub(&lhs, &rhs)),
                    BinOp::Mul => Some(Dim::mul(&lhs, &rhs)),
                    _ => match Dim::div(&lhs, &rhs) {
                        Some(q) => Some(q),
                        None => {
                            let message = if rhs.as_int() == Some(0) {
                                "division by zero in a dim".to_string()
                            } else {
                                format!(
                                    "`{}` is not divisible by `{}`",
                                    lhs.display(&self.kernel.syms),
                                    rhs.display(&self.kernel.syms)
                                )
                            };
                            self.error(Diagnostic::new(e.span, message));
                            None
                        }
                    },
                }?;
                // The canonical form multiplies out products of sums, which can grow
                // exponentially (`(A + B) * (C + D) * ...`): stop as soon as it is too large.
                if too_large_for_text(&combined, &self.kernel) {
                    self.error(Diagnostic::new(
                        e.span,
                        format!("this dim expression expands to more than {DERIVED_DIM_LIMIT} terms or operators"),
                    )
                    .with_help("a dim is a short expression such as `2 * I` or `E / G`"));
                    return None;
                }
                Some(combined)
            }
            ExprKind::Neg(_) => {
                self.error(Diagnostic::new(e.span, "dims cannot be negative"));
                None
            }
            ExprKind::Error(_) => None,
            _ => {
                self.error(
                    Diagnostic::new(e.span, format!("expected a dim, found {}", describe(e)))
                        .with_help("a dim is a const generic, a dim named in a parameter type, an integer literal, or `+ - * /` of those"),
                );
                None
            }
        }
    }
}

/// The most terms a dim may have in canonical form, and the most operators in its text form,
/// written or derived by the shape rules. The graph IR's text parser
/// (`moge_lower::graph::parse`) refuses larger dims, so every kernel the frontend accepts must
/// stay within it (the fuzz test prints and parses back every kernel that checks).
pub(crate) const DERIVED_DIM_LIMIT: usize = 64;

/// Whether `dim` has more than [`DERIVED_DIM_LIMIT`] terms or operators in its text form.
pub(crate) fn too_large_for_text(dim: &Dim, kernel: &moge_lower::Kernel) -> bool {
    // A dim of at most that many nodes has fewer operators and terms: no need to print it.
    if dim_size(dim, DERIVED_DIM_LIMIT + 1) <= DERIVED_DIM_LIMIT {
        return false;
    }
    // The canonical form's terms and the text are work proportional to their size.
    let terms = dim.terms().len();
    crate::work::tick(terms as u64);
    if terms > DERIVED_DIM_LIMIT {
        return true;
    }
    // Count as the text parser does: every `+ - * /` (`-` of `->` aside; dims print none).
    let text = dim.display(&kernel.syms).to_string();
    crate::work::tick(text.len() as u64);
    text.chars()
        .filter(|c| matches!(c, '+' | '-' | '*' | '/'))
        .count()
        > DERIVED_DIM_LIMIT
}

/// The most dims a shape may have (as in NumPy). Shape rules multiply and compare all dims of a
/// shape, so a shape of thousands of dims would make checking slow.
pub(crate) const MAX_RANK: usize = 64;

/// The most names, literals and operators a dim expression may have. Dims are canonicalized as
/// polynomials, whose size can grow with the product of the factors' sizes, and the graph IR's dim
/// code is recursive: this keeps both small.
pub(crate) const DIM_LIMIT: usize = 64;

/// The number of nodes of `dim`, counting at most to `cap` (an explicit stack: a derived dim may
/// be a long chain).
pub(crate) fn dim_size(dim: &Dim, cap: usize) -> usize {
    let mut stack = vec![dim];
    let mut count = 0;
    while let Some(node) = stack.pop() {
        crate::work::tick(1);
        count += 1;
        if count >= cap {
            break;
        }
        if let Some((a, b)) = node.operands() {
            stack.push(a);
            stack.push(b);
        }
    }
    count
}

/// Whether `e` has more than [`DIM_LIMIT`] nodes (an explicit stack: `e` may be a long chain).
fn too_large(e: &Expr) -> bool {
    let mut stack = vec![e];
    let mut count = 0;
    while let Some(node) = stack.pop() {
        crate::work::tick(1);
        count += 1;
        if count > DIM_LIMIT {
            return true;
        }
        match &node.kind {
            ExprKind::Neg(inner) => stack.push(inner),
            ExprKind::Binary(_, a, b) => {
                stack.push(b);
                stack.push(a);
            }
            ExprKind::Call { args, .. } | ExprKind::Tuple(args) => stack.extend(args.iter().rev()),
            _ => {}
        }
    }
    false
}

/// What an expression is, for "expected ..., found ..." messages.
pub(crate) fn describe(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Ident(name) => format!("`{name}`"),
        ExprKind::Int(v) => format!("the integer `{v}`"),
        ExprKind::Float(v) => format!("the float literal `{v:?}`"),
        ExprKind::Bool(b) => format!("`{b}`"),
        ExprKind::Neg(inner) if inner.is_literal() => match inner.kind {
            ExprKind::Int(v) => format!("the integer `-{v}`"),
            ExprKind::Float(v) => format!("the float literal `-{v:?}`"),
            _ => "a negation".to_string(),
        },
        ExprKind::Neg(_) => "a negation".to_string(),
        ExprKind::Binary(op, ..) => {
            if op.is_comparison() {
                format!("a comparison (`{}`)", op.symbol())
            } else {
                format!("an arithmetic expression (`{}`)", op.symbol())
            }
        }
        ExprKind::Call { func, .. } => format!("a call to `{}`", func.text),
        ExprKind::Tuple(items) => format!("a tuple of {} elements", items.len()),
        ExprKind::Error(_) => "an invalid expression".to_string(),
    }
}
