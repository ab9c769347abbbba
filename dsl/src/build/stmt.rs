//! Statements and the returned values.

use moge_lower::graph::{names, Hint, OpKind, Output};
use moge_lower::kir::names::check_c_name;
use moge_lower::{DType, TensorType, Type};

use super::{Builder, Val};
use crate::ast::{KernelFn, Stmt};
use crate::diagnostic::Diagnostic;

impl Builder<'_> {
    /// Evaluates a `let` statement and binds its names; attaches its schedule hints to its ops.
    pub(crate) fn stmt(&mut self, stmt: &Stmt) {
        let first_op = self.kernel.order.len();
        let errors_before = self.diags.len();
        if stmt.tuple {
            let items = self.eval_multi(&stmt.value);
            let failed = items.len() == 1 && matches!(items[0].val, Val::Error);
            if failed || stmt.names.is_empty() {
                for name in &stmt.names {
                    self.bind(name, Val::Error);
                }
            } else if items.len() != stmt.names.len() {
                self.error(Diagnostic::new(
                    stmt.value.span,
                    format!(
                        "expected {} values to unpack, but this expression gives {}",
                        stmt.names.len(),
                        items.len()
                    ),
                ));
                for name in &stmt.names {
                    self.bind(name, Val::Error);
                }
            } else {
                for (name, item) in stmt.names.iter().zip(items) {
                    self.bind(name, item.val);
                }
            }
        } else {
            let val = self.eval(&stmt.value);
            if let Some(name) = stmt.names.first() {
                self.bind(name, val);
            }
        }

        if stmt.hints.is_empty() {
            return;
        }
        let ops: Vec<_> = self.kernel.order[first_op..]
            .iter()
            .copied()
            .filter(|op| !matches!(self.kernel.ops[*op].kind, OpKind::Const { .. }))
            .collect();
        if ops.is_empty() {
            if self.diags.len() == errors_before {
                for hint in &stmt.hints {
                    self.error(Diagnostic::new(
                        hint.span,
                        format!(
                            "the `{}` hint applies to no op: this statement computes nothing",
                            hint.name
                        ),
                    ));
                }
            }
            return;
        }
        for op in ops {
            for hint in &stmt.hints {
                self.kernel.hints[op].push(Hint {
                    name: hint.name.clone(),
                    args: hint.args.clone(),
                });
            }
        }
    }

    /// Evaluates the returned expression and checks it against the declared results.
    pub(crate) fn ret(&mut self, ast: &KernelFn, declared: Option<Vec<TensorType>>) {
        let Some(expr) = &ast.ret else {
            self.error(
                Diagnostic::new(
                    ast.body_end,
                    "the kernel body must end with the returned tensor or tuple of tensors",
                )
                .with_help(
                    "end the body with an expression such as `(weight, expert)`, without `;`",
                ),
            );
            return;
        };
        let items = self.eval_multi(expr);
        if items.len() == 1 && matches!(items[0].val, Val::Error) {
            return;
        }
        if let Some(declared) = &declared {
            if declared.len() != items.len() {
                let shown: Vec<String> = declared.iter().map(|t| self.show_tensor(t)).collect();
                let plural = |n: usize| if n == 1 { "value" } else { "values" };
                self.error(
                    Diagnostic::new(
                        expr.span,
                        format!(
                            "the kernel returns {} {} but its signature declares {}",
                            items.len(),
                            plural(items.len()),
                            declared.len()
                        ),
                    )
                    .with_note(format!("the signature declares `({})`", shown.join(", "))),
                );
                return;
            }
        }
        let single = items.len() == 1;
        let mut natural: Vec<String> = Vec::new();
        let mut values = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let want = declared.as_ref().and_then(|d| d.get(i));
            let value = match item.val {
                Val::Error => continue,
                Val::Lit(lit) => {
                    let dtype =
                        want.map_or(if lit.float { DType::F32 } else { DType::I32 }, |t| t.dtype);
                    let Some(value) = self.materialize(lit, dtype, item.span) else {
                        continue;
                    };
                    value
                }
                Val::Value(value) => value,
            };
            let which = if single {
                String::new()
            } else {
                format!(" as result {i}")
            };
            let ty = self.kernel.ty(value).clone();
            let shown = self.show_ty(&ty);
            match &ty {
                Type::Routes(_) => {
                    self.error(
                        Diagnostic::new(
                            item.span,
                            format!("a kernel cannot return a routing table (`{shown}`)"),
                        )
                        .with_help(
                            "return tensors computed from it, e.g. with `dispatch` or `combine`",
                        ),
                    );
                    continue;
                }
                Type::Tensor(t) if t.dtype == DType::Bool => {
                    self.error(
                        Diagnostic::new(
                            item.span,
                            format!("a kernel cannot return a bool mask (`{shown}`)"),
                        )
                        .with_help(
                            "convert it with `cast::<i32>(..)`, or use it in `select(cond, a, b)`",
                        ),
                    );
                    continue;
                }
                Type::Tensor(t) => {
                    if let Some(want) = want {
                        let declared_shown = self.show_tensor(want);
                        if t.dtype != want.dtype {
                            self.error(
                                Diagnostic::new(
                                    item.span,
                                    format!(
                                        "dtype mismatch: the kernel returns `{shown}`{which} but its signature declares `{declared_shown}`"
                                    ),
                                )
                                .with_help(format!("convert it with `cast::<{}>(..)`", want.dtype)),
                            );
                            continue;
                        }
                        if t.shape != want.shape {
                            self.error(Diagnostic::new(
                                item.span,
                                format!(
                                    "shape mismatch: the kernel returns `{shown}`{which} but its signature declares `{declared_shown}`"
                                ),
                            ));
                            continue;
                        }
                    }
                }
            }
            natural.push(names::natural_output_name(item.name, i));
            // A returned parameter's name was checked with the signature.
            let binding = item
                .name
                .is_some_and(|n| !self.kernel.params.iter().any(|p| p.name == n));
            values.push((value, item.span, binding));
        }
        let params: Vec<&str> = self.kernel.params.iter().map(|p| p.name.as_str()).collect();
        let names = names::output_names(&params, &natural);
        for (name, (value, span, binding)) in names.into_iter().zip(values) {
            // The output's name is emitted verbatim (a C parameter, a manifest tensor, a file name).
            // Generated names (`out<i>`, suffixes of a checked name) are always valid.
            if binding {
                if let Err(problem) = check_c_name(&name) {
                    self.error(
                        Diagnostic::new(span, format!("the result `{name}` cannot be emitted under its binding's name: {problem}"))
                            .with_help("results are named after the binding they return: rename the binding"),
                    );
                    continue;
                }
            }
            self.kernel.outputs.push(Output { name, value });
        }
    }
}
