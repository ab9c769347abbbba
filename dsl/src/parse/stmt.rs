//! The kernel body: `let` statements, then the returned expression.

use syn::{Block, Pat};

use super::attr::parse_hints;
use super::expr::parse_expr;
use super::{idents, show};
use crate::ast::{Expr, ExprKind, Name, Stmt};
use crate::diagnostic::{Diagnostic, SpanRange};

/// The parsed body.
pub(crate) struct Body {
    pub stmts: Vec<Stmt>,
    pub ret: Option<Expr>,
}

pub(crate) fn parse_body(block: &Block, diags: &mut Vec<Diagnostic>) -> Body {
    let mut stmts = Vec::new();
    let mut ret = None;
    let count = block.stmts.len();
    for (i, stmt) in block.stmts.iter().enumerate() {
        let last = i + 1 == count;
        let errors_before = diags.len();
        let stmts_before = stmts.len();
        match stmt {
            syn::Stmt::Local(local) => stmts.push(parse_let(local, diags)),
            syn::Stmt::Expr(syn::Expr::Return(r), _) => {
                if !last {
                    diags.push(
                        Diagnostic::spanned(r, "early `return` is not supported in a kernel")
                            .with_help("return the result at the end of the kernel"),
                    );
                } else {
                    match &r.expr {
                        Some(value) => ret = Some(parse_expr(value, diags)),
                        None => diags.push(Diagnostic::spanned(
                            r,
                            "`return` needs a value: the kernel's tensor or tuple of tensors",
                        )),
                    }
                }
            }
            syn::Stmt::Expr(expr, semi) => {
                let value = parse_expr(expr, diags);
                let rejected = diags.len() > errors_before;
                match semi {
                    // The returned expression (even a rejected one: the error is reported already).
                    None if last => ret = Some(value),
                    Some(semi) if last && !rejected => {
                        diags.push(
                            Diagnostic::spanned(
                                semi,
                                "the returned expression must not end with `;`",
                            )
                            .with_help("remove the `;` so the kernel returns the value"),
                        );
                        ret = Some(Expr {
                            kind: ExprKind::Error(idents(expr)),
                            span: value.span,
                        });
                    }
                    Some(_) if last => ret = Some(value),
                    _ if rejected => {}
                    _ => diags.push(
                        Diagnostic::spanned(expr, "the value of this expression is not used")
                            .with_help("bind it with `let`, or return it at the end of the kernel"),
                    ),
                }
            }
            syn::Stmt::Item(item) => diags.push(Diagnostic::spanned(
                item,
                "items (`fn`, `use`, `struct`, ...) inside a kernel are not supported",
            )),
            syn::Stmt::Macro(mac) => diags.push(Diagnostic::spanned(
                mac,
                format!(
                    "macro invocations (`{}!`) are not supported in a kernel",
                    show(&mac.mac.path)
                ),
            )),
        }
        // A rejected statement still mentions names: keep them so they do not look unused.
        if diags.len() > errors_before && stmts.len() == stmts_before && ret.is_none() {
            let kind = ExprKind::Error(idents(stmt));
            let value = Expr {
                kind,
                span: SpanRange::of(stmt),
            };
            stmts.push(Stmt {
                names: Vec::new(),
                tuple: false,
                value,
                hints: Vec::new(),
            });
        }
    }
    Body { stmts, ret }
}

fn parse_let(local: &syn::Local, diags: &mut Vec<Diagnostic>) -> Stmt {
    // From the first attribute or `let` to the `;`, without printing the value (linear time).
    let start = local
        .attrs
        .first()
        .map_or(local.let_token.span, |attr| attr.pound_token.span);
    let span = SpanRange {
        start,
        end: local.semi_token.span,
    };
    let hints = parse_hints(&local.attrs, diags);
    let (names, tuple) = parse_pattern(&local.pat, diags);
    let value = match &local.init {
        Some(init) => {
            if let Some((else_token, _)) = &init.diverge {
                diags.push(Diagnostic::spanned(
                    else_token,
                    "`let ... else` is not supported in a kernel",
                ));
            }
            parse_expr(&init.expr, diags)
        }
        None => {
            diags.push(
                Diagnostic::spanned(local, "`let` without a value is not supported in a kernel")
                    .with_help("write `let name = expression;`"),
            );
            Expr {
                kind: ExprKind::Error(Vec::new()),
                span,
            }
        }
    };
    Stmt {
        names,
        tuple,
        value,
        hints,
    }
}

/// The names a pattern binds: one identifier, or a tuple of identifiers (`_` skips a result).
fn parse_pattern(pat: &Pat, diags: &mut Vec<Diagnostic>) -> (Vec<Name>, bool) {
    match pat {
        Pat::Ident(_) => (ident_name(pat, diags).into_iter().collect(), false),
        Pat::Tuple(tuple) => {
            let names: Option<Vec<Name>> = tuple
                .elems
                .iter()
                .map(|p| match p {
                    Pat::Wild(w) => Some(Name {
                        text: "_".to_string(),
                        span: SpanRange::of(w),
                    }),
                    other => ident_name(other, diags),
                })
                .collect();
            (names.unwrap_or_default(), true)
        }
        Pat::Wild(_) => {
            diags.push(
                Diagnostic::spanned(pat, "`let _ = ...` discards its value")
                    .with_help("bind the value to a name and use it, or remove the statement"),
            );
            (Vec::new(), false)
        }
        Pat::Type(t) => {
            diags.push(
                Diagnostic::spanned(
                    &t.ty,
                    "type annotations on `let` are not supported in a kernel",
                )
                .with_help("types are inferred; remove the annotation"),
            );
            parse_pattern(&t.pat, &mut Vec::new())
        }
        other => {
            diags.push(Diagnostic::spanned(
                other,
                format!(
                    "this pattern is not supported in a kernel, found `{}`",
                    show(other)
                ),
            ));
            (Vec::new(), false)
        }
    }
}

fn ident_name(pat: &Pat, diags: &mut Vec<Diagnostic>) -> Option<Name> {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
            if let Some(mutability) = &pi.mutability {
                diags.push(
                    Diagnostic::spanned(
                        mutability,
                        "mutable bindings are not supported in a kernel",
                    )
                    .with_help("bindings are immutable; shadow with a new `let` instead"),
                );
            }
            Some(Name {
                text: super::ident_text(&pi.ident),
                span: SpanRange::of(&pi.ident),
            })
        }
        other => {
            diags.push(Diagnostic::spanned(
                other,
                format!(
                    "expected a name in the `let` pattern, found `{}`",
                    show(other)
                ),
            ));
            None
        }
    }
}
