//! From the [AST](crate::ast) to graph IR, checking names, arities, shapes and dtypes on the way.
//!
//! The builder walks the kernel once, in source order: it declares the static dims (const generics)
//! and the parameters (declaring each dynamic dim at its first appearance), evaluates every `let`
//! statement into graph-IR ops, then checks the returned values against the signature and reports
//! unused parameters and bindings. Shape and dtype rules come from `moge_lower::graph::infer`, so the
//! frontend and the verifier agree; its errors are mapped to the span of the operand they blame.
//!
//! Every error is recorded and the walk goes on. A failed expression evaluates to [`Val::Error`],
//! which every consumer passes through silently, so one mistake is reported once.

mod call;
mod dim;
mod expr;
mod stmt;

use std::collections::HashMap;

use moge_lower::graph::infer::infer;
use moge_lower::graph::{Constraint, ConstraintKind, OpKind, Sym, SymKind};
use moge_lower::{DType, Dim, Kernel, TensorType, Type, Value};

use crate::ast::{KernelFn, Name};
use crate::diagnostic::{Diagnostic, SpanRange};

pub(crate) use dim::DimMode;

/// What an expression evaluates to.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Val {
    /// A graph value: a tensor or a routing table.
    Value(Value),
    /// A number literal that has no dtype yet: it takes the dtype of the tensor it is combined with.
    Lit(Lit),
    /// The expression failed (already reported).
    Error,
}

/// A number literal, or literal arithmetic folded at check time.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Lit {
    /// The value.
    pub value: f64,
    /// Whether it was written as a float (`2.0`) rather than an integer (`2`).
    pub float: bool,
}

impl Lit {
    /// The literal as written back in messages (`2.0`, `-1`).
    fn show(self) -> String {
        if self.float {
            format!("{:?}", self.value)
        } else {
            format!("{}", self.value)
        }
    }
}

/// A name in scope.
pub(crate) struct Binding {
    name: String,
    span: SpanRange,
    val: Val,
    used: bool,
    param: bool,
}

/// Builds the graph IR of one kernel, collecting diagnostics.
pub(crate) struct Builder<'d> {
    kernel: Kernel,
    diags: &'d mut Vec<Diagnostic>,
    /// Every binding ever made, in order.
    bindings: Vec<Binding>,
    /// The index in `bindings` of the latest binding of each name (later ones shadow): lookups
    /// take constant time however many bindings a kernel has.
    latest: HashMap<String, usize>,
    /// The kernel's dim symbols by name (the kernel's own lookup is a linear search).
    syms: HashMap<String, Sym>,
    /// Whether some parameter type was rejected, so that some dynamic dims may be undeclared.
    incomplete_signature: bool,
}

/// How many terms the product of `dims` has at most once multiplied out (saturating).
fn product_terms(dims: &[Dim]) -> usize {
    dims.iter()
        .map(|d| {
            let terms = d.terms().len();
            crate::work::tick(terms as u64);
            terms.max(1)
        })
        .fold(1usize, usize::saturating_mul)
}

/// Whether a dim of `ty` is over [`dim::DERIVED_DIM_LIMIT`] terms or operators.
fn oversized_dim(ty: &Type, kernel: &Kernel) -> bool {
    let dims: Vec<&Dim> = match ty {
        Type::Tensor(t) => t.shape.iter().collect(),
        Type::Routes(r) => vec![&r.tokens, &r.k, &r.experts],
    };
    dims.into_iter().any(|d| dim::too_large_for_text(d, kernel))
}

/// Builds the kernel's graph IR. Errors are pushed to `diags`; the kernel is only meaningful when
/// there are none.
pub(crate) fn build_kernel(ast: &KernelFn, diags: &mut Vec<Diagnostic>) -> Kernel {
    let mut builder = Builder {
        kernel: Kernel::new(ast.name.text.clone()),
        diags,
        bindings: Vec::new(),
        latest: HashMap::new(),
        syms: HashMap::new(),
        incomplete_signature: ast.params.iter().any(|p| p.ty.is_none()),
    };
    builder.declare_statics(&ast.statics);
    builder.declare_params(ast);
    let declared = ast.results.as_ref().and_then(|results| {
        let types: Vec<Option<TensorType>> = results
            .iter()
            .map(|t| builder.tensor_type(t, DimMode::Known, "return type"))
            .collect();
        types.into_iter().collect::<Option<Vec<_>>>()
    });
    for stmt in &ast.stmts {
        builder.stmt(stmt);
    }
    builder.ret(ast, declared);
    builder.check_unused();
    builder.kernel
}

impl Builder<'_> {
    fn error(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    fn show_ty(&self, ty: &Type) -> String {
        ty.display(&self.kernel.syms).to_string()
    }

    fn show_tensor(&self, t: &TensorType) -> String {
        self.show_ty(&Type::Tensor(t.clone()))
    }

    fn declare_statics(&mut self, statics: &[Name]) {
        for name in statics {
            if self.syms.contains_key(&name.text) {
                self.error(Diagnostic::new(
                    name.span,
                    format!("the static dim `{}` is declared twice", name.text),
                ));
                continue;
            }
            self.add_sym(&name.text, SymKind::Static);
        }
    }

    fn declare_params(&mut self, ast: &KernelFn) {
        for param in &ast.params {
            if let Some(previous) = self.bindings.iter_mut().find(|b| b.name == param.name.text) {
                // Reported as a duplicate, not as unused.
                previous.used = true;
                let previous = previous.span;
                self.error(
                    Diagnostic::new(
                        param.name.span,
                        format!("the parameter `{}` is declared twice", param.name.text),
                    )
                    .with_note(format!("first declared at {}", show_loc(previous))),
                );
            }
            let ty = param
                .ty
                .as_ref()
                .and_then(|t| self.tensor_type(t, DimMode::Declare, "parameter type"));
            let val = match ty {
                Some(ty) => {
                    let span = param
                        .name
                        .span
                        .to(param.ty.as_ref().map_or(param.name.span, |t| t.span));
                    Val::Value(self.kernel.add_param(
                        param.name.text.clone(),
                        Type::Tensor(ty),
                        span.loc(),
                    ))
                }
                None => Val::Error,
            };
            self.push_binding(Binding {
                name: param.name.text.clone(),
                span: param.name.span,
                val,
                used: false,
                param: true,
            });
        }
    }

    /// Binds `name` to `val` (a later binding of the same name shadows it).
    fn bind(&mut self, name: &Name, val: Val) {
        if name.text == "_" {
            return;
        }
        self.push_binding(Binding {
            name: name.text.clone(),
            span: name.span,
            val,
            used: false,
            param: false,
        });
    }

    /// Declares the dim symbol `name`.
    pub(crate) fn add_sym(&mut self, name: &str, kind: SymKind) -> Sym {
        let sym = self.kernel.add_sym(name.to_string(), kind);
        self.syms.insert(name.to_string(), sym);
        sym
    }

    /// The dim symbol called `name`, if there is one.
    pub(crate) fn sym(&self, name: &str) -> Option<Sym> {
        self.syms.get(name).copied()
    }

    fn push_binding(&mut self, binding: Binding) {
        crate::work::tick(1);
        self.latest
            .insert(binding.name.clone(), self.bindings.len());
        self.bindings.push(binding);
    }

    /// The binding `name` refers to here, if any.
    pub(crate) fn binding_mut(&mut self, name: &str) -> Option<&mut Binding> {
        crate::work::tick(1);
        let index = *self.latest.get(name)?;
        self.bindings.get_mut(index)
    }

    /// Appends an op after checking its operands with `infer`; `shown` is the op's name as the user
    /// wrote it (`+`, `max`), substituted for the IR name in messages. `None` after reporting an
    /// error.
    fn apply(
        &mut self,
        kind: OpKind,
        args: &[(Value, SpanRange)],
        at: SpanRange,
        shown: &str,
    ) -> Option<Vec<Value>> {
        crate::work::tick(1 + args.len() as u64);
        if let OpKind::Reshape { shape } = &kind {
            // The reshape rule multiplies out the element counts: a product of sums grows
            // exponentially with the rank. Refuse before it is computed.
            let input = args.first().and_then(|(v, span)| {
                let tensor = self.kernel.ty(*v).as_tensor()?;
                Some((product_terms(&tensor.shape), *span))
            });
            let target = (product_terms(shape), at);
            if let Some((_, span)) = input
                .into_iter()
                .chain([target])
                .find(|(terms, _)| *terms > dim::DERIVED_DIM_LIMIT)
            {
                self.error(
                    Diagnostic::new(
                        span,
                        format!(
                            "the element count of this shape multiplies out to more than {} terms, too many to compare symbolically",
                            dim::DERIVED_DIM_LIMIT
                        ),
                    )
                    .with_help("give the dims of the shape names (dims of the signature)"),
                );
                return None;
            }
        }
        let types: Vec<&Type> = args.iter().map(|(v, _)| self.kernel.ty(*v)).collect();
        match infer(&kind, &types, &self.kernel.syms) {
            Ok(inferred) => {
                let constraint_dims = inferred.constraints.iter().flat_map(|(c, _)| match c {
                    ConstraintKind::Divides { dim, divisor } => vec![dim, divisor],
                    ConstraintKind::LessEq { small, large } => vec![small, large],
                    ConstraintKind::Positive { dim } => vec![dim],
                });
                let oversized = inferred
                    .results
                    .iter()
                    .any(|ty| oversized_dim(ty, &self.kernel))
                    || constraint_dims
                        .into_iter()
                        .any(|d| dim::too_large_for_text(d, &self.kernel));
                if oversized {
                    // Dims that grow from op to op (`concat` of `concat` of ...) would make every
                    // later shape rule slower; refuse them while they are still small.
                    self.error(
                        Diagnostic::new(
                            at,
                            format!(
                                "the shapes of `{shown}` give a dim of more than {} terms or operators",
                                dim::DERIVED_DIM_LIMIT
                            ),
                        )
                        .with_help("give the size a name: reshape to a dim of the signature, or split the kernel"),
                    );
                    return None;
                }
                let loc = at.loc();
                for (constraint, reason) in inferred.constraints {
                    let known = self
                        .kernel
                        .constraints
                        .iter()
                        .any(|c| c.kind == constraint && c.reason == reason);
                    if !known {
                        self.kernel.constraints.push(Constraint {
                            kind: constraint,
                            loc,
                            reason,
                        });
                    }
                }
                Some(
                    self.kernel
                        .push_op(
                            kind,
                            args.iter().map(|(v, _)| *v).collect(),
                            inferred.results,
                            loc,
                        )
                        .to_vec(),
                )
            }
            Err(error) => {
                let span = error
                    .operand
                    .and_then(|i| args.get(i))
                    .map_or(at, |(_, s)| *s);
                let ir_name = format!("`{}`", kind.name());
                let message = if shown != kind.name() {
                    error.message.replace(&ir_name, &format!("`{shown}`"))
                } else {
                    error.message.clone()
                };
                let mut diag = Diagnostic::new(span, message);
                if error.message.starts_with("dtype mismatch") {
                    if let Some(help) = self.cast_help(args, error.operand) {
                        diag = diag.with_help(help);
                    }
                }
                self.error(diag);
                None
            }
        }
    }

    /// For a dtype mismatch blamed on operand `blamed`: which conversion would fix it.
    fn cast_help(&self, args: &[(Value, SpanRange)], blamed: Option<usize>) -> Option<String> {
        let dtype = |v: Value| self.kernel.ty(v).as_tensor().map(|t| t.dtype);
        let blamed = blamed?;
        let this = dtype(args.get(blamed)?.0)?;
        let other = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != blamed)
            .filter_map(|(_, (v, _))| dtype(*v))
            .find(|d| *d != this && *d != DType::Bool)?;
        // Convert the integer side to the float dtype; between floats, the blamed side to the other.
        let (from, to) = if other == DType::I32 && this.is_float() {
            (other, this)
        } else {
            (this, other)
        };
        Some(format!(
            "convert the `{from}` operand with `cast::<{to}>(..)`"
        ))
    }

    /// Looks up a tensor name, marking it used.
    fn lookup(&mut self, name: &str, span: SpanRange) -> Val {
        if let Some(binding) = self.binding_mut(name) {
            binding.used = true;
            return binding.val;
        }
        let diag = if self.syms.contains_key(name) {
            Diagnostic::new(span, format!("`{name}` is a dimension, not a tensor"))
                .with_help("dims can be used in shapes and as op arguments such as `k` or `size`, not as values")
        } else if let Some(b) = crate::builtins::builtin(name) {
            Diagnostic::new(span, format!("`{name}` is an op, not a tensor"))
                .with_help(format!("call it: `{name}{}`", b.signature))
        } else {
            let mut diag = Diagnostic::new(span, format!("cannot find `{name}` in this kernel"));
            let names: Vec<&str> = self.bindings.iter().map(|b| b.name.as_str()).collect();
            if let Some(near) = crate::suggest::closest(name, names).map(str::to_string) {
                // The suggested name was most likely meant: do not also report it as unused.
                self.mark_name_used(&near);
                diag = diag.with_help(format!(
                    "a parameter or binding with a similar name exists: `{near}`"
                ));
            }
            diag
        };
        self.error(diag);
        Val::Error
    }

    /// Marks the binding `name` in scope used, if there is one.
    fn mark_name_used(&mut self, name: &str) {
        if let Some(binding) = self.binding_mut(name) {
            binding.used = true;
        }
    }

    /// Marks every name in `e` used, without evaluating it (for arguments of a call that failed).
    fn mark_used(&mut self, e: &crate::ast::Expr) {
        crate::stack::ensure_stack(|| self.mark_used_here(e));
    }

    fn mark_used_here(&mut self, e: &crate::ast::Expr) {
        use crate::ast::ExprKind;
        match &e.kind {
            ExprKind::Ident(name) => self.mark_name_used(name),
            ExprKind::Neg(inner) => self.mark_used(inner),
            ExprKind::Binary(_, a, b) => {
                self.mark_used(a);
                self.mark_used(b);
            }
            ExprKind::Call { args, .. } | ExprKind::Tuple(args) => {
                for arg in args {
                    self.mark_used(arg);
                }
            }
            ExprKind::Error(names) => {
                for name in names {
                    self.mark_name_used(name);
                }
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) => {}
        }
    }

    fn check_unused(&mut self) {
        let mut unused = Vec::new();
        for binding in &self.bindings {
            if binding.used || binding.name.starts_with('_') || matches!(binding.val, Val::Error) {
                continue;
            }
            let diag = if binding.param {
                Diagnostic::new(binding.span, format!("unused parameter `{}`", binding.name))
                    .with_help(format!(
                        "remove it, or name it `_{}` if the kernel must take it",
                        binding.name
                    ))
            } else {
                Diagnostic::new(binding.span, format!("unused binding `{}`", binding.name))
                    .with_help("use or return the value, or remove the statement")
            };
            unused.push(diag);
        }
        self.diags.extend(unused);
    }
}

/// `line:col` of a span, for notes.
fn show_loc(span: SpanRange) -> String {
    let loc = span.loc();
    format!("{}:{}", loc.line, loc.col)
}
