//! Expressions: names, number literals, `-`, `+ - * /`, comparisons, parentheses, tuples and calls of
//! built-in ops. Everything else is rejected with a message naming the construct.

use syn::{BinOp as SynBinOp, GenericArgument, Lit, PathArguments, UnOp};

use super::show;
use super::sig::parse_dtype;
use crate::ast::{BinOp, Expr, ExprKind, Name};
use crate::builtins::builtin;
use crate::diagnostic::{Diagnostic, SpanRange};

/// Converts a syn expression, reporting constructs outside the DSL (which become
/// [`ExprKind::Error`] with the names they mention).
///
/// Spans are computed from the node's own first and last tokens or joined from its operands', never
/// by printing the subtree: that would make a long expression quadratic.
pub(crate) fn parse_expr(e: &syn::Expr, diags: &mut Vec<Diagnostic>) -> Expr {
    if let Some(chain) = parse_chain(e, diags) {
        return chain;
    }
    // Recursion over the syn tree: as deep as the nesting (bounded), or along the right operands.
    crate::stack::ensure_stack(|| match parse_kind(e, diags) {
        Parsed::Node(expr) => expr,
        // A rejected node (its operands were not parsed): the names it mentions, once.
        Parsed::Rejected(kind) => Expr {
            kind: match kind {
                ExprKind::Error(names) if names.is_empty() => ExprKind::Error(super::idents(e)),
                kind => kind,
            },
            span: SpanRange::of(e),
        },
    })
}

/// The DSL's operator for a syn binary operator, if it has one.
fn dsl_binop(op: &SynBinOp) -> Option<BinOp> {
    Some(match op {
        SynBinOp::Add(_) => BinOp::Add,
        SynBinOp::Sub(_) => BinOp::Sub,
        SynBinOp::Mul(_) => BinOp::Mul,
        SynBinOp::Div(_) => BinOp::Div,
        SynBinOp::Eq(_) => BinOp::Eq,
        SynBinOp::Ne(_) => BinOp::Ne,
        SynBinOp::Lt(_) => BinOp::Lt,
        SynBinOp::Le(_) => BinOp::Le,
        SynBinOp::Gt(_) => BinOp::Gt,
        SynBinOp::Ge(_) => BinOp::Ge,
        _ => return None,
    })
}

/// A chain of DSL binary operators (`a + b * c - d` is a left-deep tree as long as the chain),
/// converted along its left spine in a loop rather than by recursion; `None` when `e` is not a DSL
/// binary operation.
fn parse_chain(e: &syn::Expr, diags: &mut Vec<Diagnostic>) -> Option<Expr> {
    let mut spine: Vec<(&syn::ExprBinary, BinOp)> = Vec::new();
    let mut leftmost = e;
    while let syn::Expr::Binary(b) = leftmost {
        let Some(op) = dsl_binop(&b.op).filter(|_| b.attrs.is_empty()) else {
            break;
        };
        spine.push((b, op));
        leftmost = &b.left;
    }
    if spine.is_empty() {
        return None;
    }
    // Left to right, as the recursion would: the leftmost operand, then each right operand.
    let mut acc = parse_expr(leftmost, diags);
    for (b, op) in spine.into_iter().rev() {
        let rhs = parse_expr(&b.right, diags);
        let span = acc.span.to(rhs.span);
        acc = Expr {
            kind: ExprKind::Binary(op, Box::new(acc), Box::new(rhs)),
            span,
        };
    }
    Some(acc)
}

/// What [`parse_kind`] made of a node: an expression with its span, or a kind whose span (and, for
/// an error, whose names) [`parse_expr`] takes from the whole node.
enum Parsed {
    Node(Expr),
    Rejected(ExprKind),
}

fn node(kind: ExprKind, span: SpanRange) -> Parsed {
    Parsed::Node(Expr { kind, span })
}

/// The range of a delimited group's tokens, delimiters included.
fn delimited(span: &proc_macro2::extra::DelimSpan) -> SpanRange {
    SpanRange {
        start: span.open(),
        end: span.close(),
    }
}

fn reject(
    diags: &mut Vec<Diagnostic>,
    tokens: &dyn quote::ToTokens,
    what: &str,
    help: Option<String>,
) -> ExprKind {
    let mut diag = Diagnostic::spanned(tokens, format!("{what} not supported in a kernel"));
    if let Some(help) = help {
        diag = diag.with_help(help);
    }
    diags.push(diag);
    ExprKind::Error(Vec::new())
}

fn parse_kind(e: &syn::Expr, diags: &mut Vec<Diagnostic>) -> Parsed {
    use syn::Expr as E;
    crate::work::tick(1);
    if let Some(attr) = expr_attrs(e).first() {
        return Parsed::Rejected(reject(
            diags,
            attr,
            "attributes on expressions are",
            Some("schedule hints go on `let` statements".into()),
        ));
    }
    let kind = match e {
        E::Paren(p) => {
            let inner = parse_expr(&p.expr, diags);
            return node(inner.kind, delimited(&p.paren_token.span));
        }
        E::Group(g) => return Parsed::Node(parse_expr(&g.expr, diags)),
        E::Lit(lit) => {
            let kind = parse_lit(&lit.lit, diags);
            return node(kind, SpanRange::single(lit.lit.span()));
        }
        E::Path(p) => {
            if p.qself.is_none() {
                if let Some(ident) = p.path.get_ident() {
                    if ident == "self" {
                        return Parsed::Rejected(reject(diags, p, "`self` is", None));
                    }
                    return node(
                        ExprKind::Ident(super::ident_text(ident)),
                        SpanRange::single(ident.span()),
                    );
                }
            }
            reject(
                diags,
                p,
                &format!("paths with `::` (`{}`) are", show(p)),
                Some("refer to parameters and bindings by name, and call ops by their bare name".into()),
            )
        }
        E::Unary(u) => match u.op {
            UnOp::Neg(minus) => {
                let inner = parse_expr(&u.expr, diags);
                let span = SpanRange::single(minus.span).to(inner.span);
                return node(ExprKind::Neg(Box::new(inner)), span);
            }
            UnOp::Not(_) => reject(
                diags,
                &u.op,
                "the `!` operator is",
                Some("compare instead, e.g. `x == 0.0`, and choose with `select(cond, a, b)`".into()),
            ),
            UnOp::Deref(_) => reject(diags, u, "dereferencing (`*x`) is", Some("tensors are used by name".into())),
            _ => reject(diags, u, "this unary operator is", None),
        },
        E::Binary(b) => {
            let op = match b.op {
                SynBinOp::Add(_) => BinOp::Add,
                SynBinOp::Sub(_) => BinOp::Sub,
                SynBinOp::Mul(_) => BinOp::Mul,
                SynBinOp::Div(_) => BinOp::Div,
                SynBinOp::Eq(_) => BinOp::Eq,
                SynBinOp::Ne(_) => BinOp::Ne,
                SynBinOp::Lt(_) => BinOp::Lt,
                SynBinOp::Le(_) => BinOp::Le,
                SynBinOp::Gt(_) => BinOp::Gt,
                SynBinOp::Ge(_) => BinOp::Ge,
                SynBinOp::AddAssign(_)
                | SynBinOp::SubAssign(_)
                | SynBinOp::MulAssign(_)
                | SynBinOp::DivAssign(_)
                | SynBinOp::RemAssign(_)
                | SynBinOp::BitXorAssign(_)
                | SynBinOp::BitAndAssign(_)
                | SynBinOp::BitOrAssign(_)
                | SynBinOp::ShlAssign(_)
                | SynBinOp::ShrAssign(_) => {
                    return Parsed::Rejected(reject(
                        diags,
                        e,
                        &format!("compound assignment (`{}`) is", show(&b.op)),
                        Some("bindings are immutable; write `let x = x + y;` instead".into()),
                    ))
                }
                SynBinOp::And(_) | SynBinOp::Or(_) => {
                    return Parsed::Rejected(reject(
                        diags,
                        &b.op,
                        &format!("the logical operator `{}` is", show(&b.op)),
                        Some("combine masks with `select(cond, a, b)`".into()),
                    ))
                }
                SynBinOp::Rem(_) => {
                    return Parsed::Rejected(reject(diags, &b.op, "the `%` operator is", None))
                }
                _ => {
                    let what = format!("the bitwise operator `{}` is", show(&b.op));
                    return Parsed::Rejected(reject(diags, &b.op, &what, None));
                }
            };
            let lhs = parse_expr(&b.left, diags);
            let rhs = parse_expr(&b.right, diags);
            let span = lhs.span.to(rhs.span);
            return node(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span);
        }
        E::Call(call) => {
            let kind = parse_call(call, diags);
            if matches!(kind, ExprKind::Error(_)) {
                return Parsed::Rejected(kind);
            }
            let start = match &*call.func {
                E::Path(p) if p.qself.is_none() => match (&p.path.leading_colon, p.path.segments.first()) {
                    (Some(colon), _) => colon.spans[0],
                    (None, Some(segment)) => segment.ident.span(),
                    (None, None) => SpanRange::of(&call.func).start,
                },
                other => SpanRange::of(other).start,
            };
            let span = SpanRange {
                start,
                end: call.paren_token.span.close(),
            };
            return node(kind, span);
        }
        E::Tuple(t) => {
            let items = t.elems.iter().map(|x| parse_expr(x, diags)).collect();
            return node(ExprKind::Tuple(items), delimited(&t.paren_token.span));
        }
        E::Array(a) => {
            let items = a.elems.iter().map(|x| parse_expr(x, diags)).collect();
            return node(ExprKind::Tuple(items), delimited(&a.bracket_token.span));
        }
        E::MethodCall(m) => {
            let method = m.method.to_string();
            let help = if builtin(&method).is_some() {
                let mut args = vec![show(&m.receiver)];
                args.extend(m.args.iter().map(|a| show(a)));
                format!("call the op as a function: `{method}({})`", args.join(", "))
            } else {
                "call built-in ops as functions, e.g. `exp(x)`".to_string()
            };
            reject(diags, e, &format!("method calls (`.{method}(..)`) are"), Some(help))
        }
        E::Closure(_) => reject(diags, e, "closures are", Some("write the computation inline with `let` bindings".into())),
        E::Reference(r) => reject(
            diags,
            e,
            "references (`&`) are",
            Some(format!("tensors are passed by name: write `{}`", show(&r.expr))),
        ),
        E::RawAddr(_) => reject(diags, e, "raw references (`&raw`) are", None),
        E::ForLoop(_) | E::While(_) | E::Loop(_) => reject(
            diags,
            loop_head(e),
            "loops are",
            Some("express the computation with whole-tensor ops (elementwise arithmetic, reductions along an axis)".into()),
        ),
        E::If(i) => reject(
            diags,
            &i.if_token,
            "`if` expressions are",
            Some("choose elementwise with `select(cond, a, b)`".into()),
        ),
        E::Match(m) => reject(diags, &m.match_token, "`match` expressions are", Some("choose elementwise with `select(cond, a, b)`".into())),
        E::Macro(m) => reject(diags, e, &format!("macro invocations (`{}!`) are", show(&m.mac.path)), None),
        E::Index(_) => reject(
            diags,
            e,
            "indexing (`x[i]`) is",
            Some("use `slice(x, axis, start, end)` for a range or `gather(table, index)` for a lookup".into()),
        ),
        E::Field(_) => reject(diags, e, "field access is", Some("bind the results of a two-result op with `let (a, b) = ...`".into())),
        E::Block(_) => reject(diags, e, "block expressions are", Some("use `let` statements in the kernel body".into())),
        E::Unsafe(u) => reject(diags, &u.unsafe_token, "`unsafe` blocks are", None),
        E::Const(c) => reject(diags, &c.const_token, "`const` blocks are", None),
        E::Async(a) => reject(diags, &a.async_token, "`async` blocks are", None),
        E::Await(_) => reject(diags, e, "`.await` is", None),
        E::TryBlock(_) => reject(diags, e, "`try` blocks are", None),
        E::Try(_) => reject(diags, e, "the `?` operator is", None),
        E::Assign(_) => reject(diags, e, "assignments are", Some("bindings are immutable; shadow with a new `let`".into())),
        E::Cast(c) => reject(
            diags,
            e,
            "`as` casts are",
            Some(format!("convert a tensor with `cast::<{}>({})`", show(&c.ty), show(&c.expr))),
        ),
        E::Range(_) => reject(diags, e, "ranges are", Some("take a range of an axis with `slice(x, axis, start, end)`".into())),
        E::Repeat(_) => reject(diags, e, "array repeat expressions are", None),
        E::Struct(_) => reject(diags, e, "struct literals are", None),
        E::Return(_) => reject(diags, e, "`return` inside an expression is", Some("return at the end of the kernel".into())),
        E::Break(_) | E::Continue(_) => reject(diags, e, "`break` and `continue` are", None),
        E::Let(_) => reject(diags, e, "`let` expressions are", None),
        E::Yield(_) => reject(diags, e, "`yield` is", None),
        E::Infer(_) => reject(diags, e, "the `_` placeholder is", None),
        _ => reject(diags, e, "this expression is", None),
    };
    Parsed::Rejected(kind)
}

/// The keyword of a loop, where a loop error points.
fn loop_head(e: &syn::Expr) -> &dyn quote::ToTokens {
    match e {
        syn::Expr::ForLoop(f) => &f.for_token,
        syn::Expr::While(w) => &w.while_token,
        syn::Expr::Loop(l) => &l.loop_token,
        other => other,
    }
}

fn expr_attrs(e: &syn::Expr) -> &[syn::Attribute] {
    use syn::Expr as E;
    match e {
        E::Array(x) => &x.attrs,
        E::Binary(x) => &x.attrs,
        E::Call(x) => &x.attrs,
        E::Lit(x) => &x.attrs,
        E::Paren(x) => &x.attrs,
        E::Path(x) => &x.attrs,
        E::Tuple(x) => &x.attrs,
        E::Unary(x) => &x.attrs,
        E::MethodCall(x) => &x.attrs,
        _ => &[],
    }
}

fn parse_lit(lit: &Lit, diags: &mut Vec<Diagnostic>) -> ExprKind {
    match lit {
        Lit::Int(int) => {
            if !int.suffix().is_empty() {
                return reject(
                    diags,
                    int,
                    &format!("literal suffixes (`{}`) are", int.suffix()),
                    Some(format!(
                        "write `{}`: a literal takes the dtype of the other operand",
                        int.base10_digits()
                    )),
                );
            }
            match int.base10_parse::<i64>() {
                Ok(v) => ExprKind::Int(v),
                Err(_) => {
                    diags.push(Diagnostic::spanned(int, "integer literal is too large"));
                    ExprKind::Error(Vec::new())
                }
            }
        }
        Lit::Float(float) => {
            if !float.suffix().is_empty() {
                return reject(
                    diags,
                    float,
                    &format!("literal suffixes (`{}`) are", float.suffix()),
                    Some(format!(
                        "write `{}`: a literal takes the dtype of the other operand",
                        float.base10_digits()
                    )),
                );
            }
            match float.base10_parse::<f64>() {
                Ok(v) if v.is_finite() => ExprKind::Float(v),
                _ => {
                    diags.push(Diagnostic::spanned(float, "float literal is out of range"));
                    ExprKind::Error(Vec::new())
                }
            }
        }
        Lit::Bool(b) => ExprKind::Bool(b.value),
        Lit::Str(_) | Lit::ByteStr(_) | Lit::CStr(_) => {
            reject(diags, lit, "string literals are", None)
        }
        Lit::Char(_) | Lit::Byte(_) => reject(diags, lit, "character literals are", None),
        _ => reject(diags, lit, "this literal is", None),
    }
}

fn parse_call(call: &syn::ExprCall, diags: &mut Vec<Diagnostic>) -> ExprKind {
    let args: Vec<Expr> = call.args.iter().map(|a| parse_expr(a, diags)).collect();
    let syn::Expr::Path(path) = strip(&call.func) else {
        return reject(
            diags,
            &call.func,
            "calling a computed function is",
            Some("only built-in ops can be called, by name".into()),
        );
    };
    let segments = &path.path.segments;
    if path.qself.is_some() || path.path.leading_colon.is_some() || segments.len() != 1 {
        return reject(
            diags,
            &call.func,
            &format!("paths with `::` (`{}`) are", show(&call.func)),
            Some("call ops by their bare name, e.g. `softmax(x, -1)`".into()),
        );
    }
    let segment = &segments[0];
    let func = Name {
        text: super::ident_text(&segment.ident),
        span: SpanRange::of(&segment.ident),
    };
    let turbofish = match &segment.arguments {
        PathArguments::None => None,
        PathArguments::AngleBracketed(generic) => {
            let [GenericArgument::Type(syn::Type::Path(tp))] =
                generic.args.iter().collect::<Vec<_>>()[..]
            else {
                diags.push(Diagnostic::spanned(
                    generic,
                    format!("expected one dtype in `::<...>`, found `{}`", show(generic)),
                ));
                return ExprKind::Error(Vec::new());
            };
            let Some(ident) = tp.path.get_ident().filter(|_| tp.qself.is_none()) else {
                diags.push(Diagnostic::spanned(
                    tp,
                    format!("expected a dtype, found `{}`", show(tp)),
                ));
                return ExprKind::Error(Vec::new());
            };
            match parse_dtype(&ident.to_string()) {
                Ok(dtype) => Some((dtype, SpanRange::of(ident))),
                Err((message, help)) => {
                    let mut diag = Diagnostic::spanned(ident, message);
                    if let Some(help) = help {
                        diag = diag.with_help(help);
                    }
                    diags.push(diag);
                    return ExprKind::Error(Vec::new());
                }
            }
        }
        PathArguments::Parenthesized(p) => {
            return reject(diags, p, "parenthesized generic arguments are", None);
        }
    };
    ExprKind::Call {
        func,
        turbofish,
        args,
    }
}

fn strip(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Group(g) => strip(&g.expr),
        syn::Expr::Paren(p) => strip(&p.expr),
        other => other,
    }
}
