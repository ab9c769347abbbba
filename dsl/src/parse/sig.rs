//! The kernel's signature: const generics (static dims), parameters and the return type.

use moge_lower::kir::names;
use moge_lower::DType;
use syn::{FnArg, GenericArgument, GenericParam, Pat, PathArguments, ReturnType, Signature, Type};

use super::attr::quoted;
use super::expr::parse_expr;
use super::{ident_text, show};
use crate::ast::{Expr, ExprKind, Name, ParamDecl, TypeExpr};
use crate::diagnostic::{Diagnostic, SpanRange};
use crate::suggest::closest;

/// The parsed parts of a signature.
pub(crate) struct Sig {
    pub name: Name,
    pub statics: Vec<Name>,
    pub params: Vec<ParamDecl>,
    pub results: Option<Vec<TypeExpr>>,
}

/// The dtypes a kernel parameter or result may have.
const TENSOR_DTYPES: [DType; 4] = [DType::BF16, DType::F16, DType::F32, DType::I32];

/// Parses `name` as one of the dtypes of [`TENSOR_DTYPES`]; on failure, the error message and a help
/// line.
pub(crate) fn parse_dtype(name: &str) -> Result<DType, (String, Option<String>)> {
    let names: Vec<&str> = TENSOR_DTYPES.iter().map(|d| d.name()).collect();
    match DType::from_name(name) {
        Some(DType::Bool) => Err((
            "`bool` is not a tensor dtype here: masks come only from comparisons".to_string(),
            Some(format!("use one of {}", quoted(&names))),
        )),
        Some(d) => Ok(d),
        None => {
            let help = closest(name, names.iter().copied())
                .map(|near| format!("did you mean `{near}`?"))
                .or_else(|| match name {
                    "f64" | "fp32" | "float" | "float32" => Some("use `f32`".to_string()),
                    "i64" | "u32" | "u64" | "int" | "i8" | "i16" | "u8" | "int32" => {
                        Some("use `i32`".to_string())
                    }
                    "fp16" | "half" | "float16" => Some("use `f16`".to_string()),
                    "bfloat16" => Some("use `bf16`".to_string()),
                    _ => None,
                });
            Err((
                format!("unknown dtype `{name}`: expected one of {}", quoted(&names)),
                help,
            ))
        }
    }
}

pub(crate) fn parse_sig(sig: &Signature, diags: &mut Vec<Diagnostic>) -> Sig {
    let name = Name {
        text: ident_text(&sig.ident),
        span: SpanRange::of(&sig.ident),
    };
    let qualifiers: [(Option<&dyn quote::ToTokens>, &str); 4] = [
        (
            sig.constness.as_ref().map(|t| t as &dyn quote::ToTokens),
            "`const fn` kernels",
        ),
        (
            sig.asyncness.as_ref().map(|t| t as &dyn quote::ToTokens),
            "`async` kernels",
        ),
        (
            sig.unsafety.as_ref().map(|t| t as &dyn quote::ToTokens),
            "`unsafe` kernels",
        ),
        (
            sig.abi.as_ref().map(|t| t as &dyn quote::ToTokens),
            "`extern` kernels",
        ),
    ];
    for (tokens, what) in qualifiers {
        if let Some(tokens) = tokens {
            diags.push(Diagnostic::spanned(
                tokens,
                format!("{what} are not supported"),
            ));
        }
    }
    if let Some(variadic) = &sig.variadic {
        diags.push(Diagnostic::spanned(
            variadic,
            "variadic kernels are not supported",
        ));
    }

    let mut statics = Vec::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Const(c) => {
                let is_usize =
                    matches!(&c.ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("usize"));
                if !is_usize {
                    diags.push(
                        Diagnostic::spanned(
                            &c.ty,
                            format!(
                                "the static dim `{}` must have type `usize`, found `{}`",
                                c.ident,
                                show(&c.ty)
                            ),
                        )
                        .with_help(format!("write `const {}: usize`", c.ident)),
                    );
                }
                if let Some(default) = &c.default {
                    diags.push(Diagnostic::spanned(
                        default,
                        format!("the static dim `{}` cannot have a default value", c.ident),
                    ));
                }
                if !c.attrs.is_empty() {
                    diags.push(Diagnostic::spanned(
                        &c.attrs[0],
                        "attributes on generic parameters are not supported",
                    ));
                }
                statics.push(Name {
                    text: ident_text(&c.ident),
                    span: SpanRange::of(&c.ident),
                });
            }
            GenericParam::Type(t) => diags.push(
                Diagnostic::spanned(
                    t,
                    format!(
                        "type parameter `{}` is not supported: a kernel is generic only over dims",
                        t.ident
                    ),
                )
                .with_help(format!("for a static dim write `const {}: usize`", t.ident)),
            ),
            GenericParam::Lifetime(l) => diags.push(Diagnostic::spanned(
                l,
                format!(
                    "lifetime parameter `{}` is not supported: kernels take no references",
                    l.lifetime
                ),
            )),
        }
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        diags.push(Diagnostic::spanned(
            where_clause,
            "`where` clauses are not supported on a kernel",
        ));
    }

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => diags.push(Diagnostic::spanned(
                r,
                "a kernel cannot take `self`: it is a free function",
            )),
            FnArg::Typed(pt) => {
                if let Some(attr) = pt.attrs.first() {
                    diags.push(Diagnostic::spanned(
                        attr,
                        "attributes on kernel parameters are not supported",
                    ));
                }
                let name = match &*pt.pat {
                    Pat::Ident(pi) => {
                        if pi.by_ref.is_some() || pi.mutability.is_some() || pi.subpat.is_some() {
                            diags.push(
                                Diagnostic::spanned(
                                    &pt.pat,
                                    format!(
                                        "parameter patterns are not supported, found `{}`",
                                        show(&pt.pat)
                                    ),
                                )
                                .with_help(format!("write just the name: `{}`", pi.ident)),
                            );
                        }
                        Some(Name {
                            text: ident_text(&pi.ident),
                            span: SpanRange::of(&pi.ident),
                        })
                    }
                    other => {
                        diags.push(
                            Diagnostic::spanned(
                                other,
                                format!(
                                    "parameter patterns are not supported, found `{}`",
                                    show(other)
                                ),
                            )
                            .with_help("name each tensor parameter with one identifier"),
                        );
                        None
                    }
                };
                let ty = parse_tensor_type(&pt.ty, "parameter", diags);
                if let Some(name) = name {
                    params.push(ParamDecl { name, ty });
                }
            }
        }
    }

    let results = match &sig.output {
        ReturnType::Default => {
            let span = SpanRange::single(sig.paren_token.span.close());
            diags.push(
                Diagnostic::new(span, "a kernel must return a tensor or a tuple of tensors")
                    .with_help("add a return type such as `-> Tensor<f32, (T, E)>`"),
            );
            None
        }
        ReturnType::Type(_, ty) => parse_results(ty, diags),
    };
    check_names(&name, &statics, &params, results.as_deref(), diags);
    Sig {
        name,
        statics,
        params,
        results,
    }
}

/// Checks the names that reach the emitted code: the kernel's name (its device kernels are exported as
/// `<name>_k<i>`), parameter names (the GM parameters of the emitted kernels and the manifest's tensor
/// names, verbatim) and dim names (in the manifest's expressions). See
/// [`moge_lower::kir::names`] for the rules.
fn check_names(
    name: &Name,
    statics: &[Name],
    params: &[ParamDecl],
    results: Option<&[TypeExpr]>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Err(problem) = names::check_program_name(&name.text) {
        diags.push(
            Diagnostic::new(
                name.span,
                format!(
                    "the kernel name `{}` cannot be emitted: {problem}",
                    name.text
                ),
            )
            .with_help("its device kernels are exported as `<name>_k0`, ...: rename the kernel"),
        );
    }
    for param in params {
        if let Err(problem) = names::check_c_name(&param.name.text) {
            diags.push(
                Diagnostic::new(
                    param.name.span,
                    format!(
                        "the parameter name `{}` cannot be emitted: {problem}",
                        param.name.text
                    ),
                )
                .with_help(
                    "parameters are the emitted kernel's C parameters and the manifest's tensor names: rename it",
                ),
            );
        }
    }
    let mut dims: Vec<Name> = statics.to_vec();
    let types = params
        .iter()
        .filter_map(|p| p.ty.as_ref())
        .chain(results.unwrap_or_default());
    for ty in types {
        for dim in &ty.dims {
            dim_names(dim, &mut dims);
        }
    }
    for (i, dim) in dims.iter().enumerate() {
        if dims[..i].iter().any(|d| d.text == dim.text) {
            continue;
        }
        if let Err(problem) = names::check_dim_name(&dim.text) {
            diags.push(Diagnostic::new(
                dim.span,
                format!("the dim name `{}` cannot be emitted: {problem}", dim.text),
            ));
        }
    }
}

/// The names in a dim expression, with their spans (iterative: expressions may be deep).
fn dim_names(expr: &Expr, out: &mut Vec<Name>) {
    let mut stack = vec![expr];
    while let Some(expr) = stack.pop() {
        match &expr.kind {
            ExprKind::Ident(text) => out.push(Name {
                text: text.clone(),
                span: expr.span,
            }),
            ExprKind::Neg(inner) => stack.push(inner),
            ExprKind::Binary(_, a, b) => stack.extend([&**b, &**a]),
            ExprKind::Tuple(items) | ExprKind::Call { args: items, .. } => {
                stack.extend(items.iter().rev())
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Error(_) => {}
        }
    }
}

fn parse_results(ty: &Type, diags: &mut Vec<Diagnostic>) -> Option<Vec<TypeExpr>> {
    match ty {
        Type::Paren(p) => parse_results(&p.elem, diags),
        Type::Tuple(t) if t.elems.is_empty() => {
            diags.push(
                Diagnostic::spanned(t, "a kernel must return at least one tensor, found `()`")
                    .with_help("return a tensor or a tuple of tensors"),
            );
            None
        }
        Type::Tuple(t) => {
            let results: Vec<Option<TypeExpr>> = t
                .elems
                .iter()
                .map(|e| parse_tensor_type(e, "return", diags))
                .collect();
            results.into_iter().collect()
        }
        other => parse_tensor_type(other, "return", diags).map(|t| vec![t]),
    }
}

/// Parses `Tensor<DTYPE, SHAPE>`; `what` says where it is (`parameter`, `return`) for messages.
pub(crate) fn parse_tensor_type(
    ty: &Type,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<TypeExpr> {
    let span = SpanRange::of(ty);
    let not_tensor = |diags: &mut Vec<Diagnostic>| {
        diags.push(
            Diagnostic::spanned(
                ty,
                format!(
                    "expected a tensor type `Tensor<DTYPE, SHAPE>` as the {what} type, found `{}`",
                    show(ty)
                ),
            )
            .with_help("write e.g. `Tensor<f32, (T, E)>`; kernels take and return only tensors"),
        );
        None
    };
    let Type::Path(tp) = ty else {
        return not_tensor(diags);
    };
    if tp.qself.is_some() || tp.path.leading_colon.is_some() || tp.path.segments.len() != 1 {
        return not_tensor(diags);
    }
    let segment = &tp.path.segments[0];
    if segment.ident != "Tensor" {
        return not_tensor(diags);
    }
    let PathArguments::AngleBracketed(generic) = &segment.arguments else {
        diags.push(
            Diagnostic::spanned(
                ty,
                "`Tensor` needs a dtype and a shape: `Tensor<DTYPE, SHAPE>`",
            )
            .with_help("write e.g. `Tensor<f32, (T, E)>`"),
        );
        return None;
    };
    if generic.args.len() != 2 {
        diags.push(
            Diagnostic::spanned(
                generic,
                format!(
                    "`Tensor` takes 2 arguments (a dtype and a shape), found {}",
                    generic.args.len()
                ),
            )
            .with_help("write e.g. `Tensor<f32, (T, E)>`"),
        );
        return None;
    }
    let dtype = parse_dtype_arg(&generic.args[0], diags);
    let dims = parse_shape_arg(&generic.args[1], diags);
    Some(TypeExpr {
        dtype,
        dims: dims?,
        span,
    })
}

fn parse_dtype_arg(arg: &GenericArgument, diags: &mut Vec<Diagnostic>) -> Option<DType> {
    let name = match arg {
        GenericArgument::Type(Type::Path(tp)) if tp.qself.is_none() => {
            tp.path.get_ident().map(|i| i.to_string())
        }
        _ => None,
    };
    let Some(name) = name else {
        diags.push(Diagnostic::spanned(
            arg,
            format!(
                "expected a dtype (`bf16`, `f16`, `f32` or `i32`), found `{}`",
                show(arg)
            ),
        ));
        return None;
    };
    match parse_dtype(&name) {
        Ok(dtype) => Some(dtype),
        Err((message, help)) => {
            let mut diag = Diagnostic::spanned(arg, message);
            if let Some(help) = help {
                diag = diag.with_help(help);
            }
            diags.push(diag);
            None
        }
    }
}

/// The help for shapes that need braces.
const BRACES_HELP: &str =
    "a shape with literal or expression dims must be in braces, e.g. `Tensor<f32, {(T, 2 * I, 64)}>`";

fn parse_shape_arg(arg: &GenericArgument, diags: &mut Vec<Diagnostic>) -> Option<Vec<Expr>> {
    match arg {
        GenericArgument::Type(Type::Tuple(tuple)) => {
            let mut dims = Vec::new();
            let mut ok = true;
            for elem in &tuple.elems {
                match type_as_dim(elem) {
                    Some(dim) => dims.push(dim),
                    None => {
                        diags.push(
                            Diagnostic::spanned(
                                elem,
                                format!("expected a dim, found `{}`", show(elem)),
                            )
                            .with_help(BRACES_HELP),
                        );
                        ok = false;
                    }
                }
            }
            ok.then_some(dims)
        }
        GenericArgument::Type(Type::Paren(paren)) => {
            diags.push(
                Diagnostic::spanned(
                    arg,
                    format!("expected a shape tuple, found `{}`", show(arg)),
                )
                .with_help(format!(
                    "a shape with one dim needs a trailing comma: `({},)`",
                    show(&paren.elem)
                )),
            );
            None
        }
        GenericArgument::Const(syn::Expr::Block(block))
            if block.block.stmts.len() == 1 && block.attrs.is_empty() && block.label.is_none() =>
        {
            let syn::Stmt::Expr(inner, None) = &block.block.stmts[0] else {
                diags.push(Diagnostic::spanned(
                    arg,
                    "expected a shape tuple in the braces, such as `{(T, 2 * I)}`",
                ));
                return None;
            };
            let mut parse_diags = Vec::new();
            let expr = parse_expr(inner, &mut parse_diags);
            diags.extend(parse_diags.iter().cloned());
            if !parse_diags.is_empty() {
                return None;
            }
            match expr.kind {
                ExprKind::Tuple(dims) if matches!(strip_group(inner), syn::Expr::Tuple(_)) => {
                    Some(dims)
                }
                _ => {
                    diags.push(
                        Diagnostic::spanned(inner, format!("expected a shape tuple, found `{}`", show(inner)))
                            .with_help(format!(
                                "a shape is a tuple of dims; with one dim it needs a trailing comma: `{{({},)}}`",
                                show(strip_paren(inner))
                            )),
                    );
                    None
                }
            }
        }
        other => {
            diags.push(
                Diagnostic::spanned(other, format!("expected a shape tuple such as `(T, E)`, found `{}`", show(other)))
                    .with_help("write `(T,)` for one dim, `()` for a scalar, and literal or expression dims in braces: `{(T, 2 * I)}`"),
            );
            None
        }
    }
}

/// A dim written as a type inside a tuple type: a single identifier (`T`).
fn type_as_dim(ty: &Type) -> Option<Expr> {
    match ty {
        Type::Paren(p) => type_as_dim(&p.elem),
        Type::Path(tp) if tp.qself.is_none() => {
            let ident = tp.path.get_ident()?;
            Some(Expr {
                kind: ExprKind::Ident(ident_text(ident)),
                span: SpanRange::of(ident),
            })
        }
        _ => None,
    }
}

fn strip_group(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Group(g) => strip_group(&g.expr),
        other => other,
    }
}

fn strip_paren(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip_paren(&p.expr),
        syn::Expr::Group(g) => strip_paren(&g.expr),
        other => other,
    }
}
