//! Attributes: the kernel attribute itself, doc comments, and schedule hints on statements.

use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Lit, Meta, MetaNameValue, Token};

use crate::ast::HintAttr;
use crate::diagnostic::{Diagnostic, SpanRange};
use crate::suggest::closest;

/// The schedule hints the DSL knows, with the keys each accepts. Values are positive integers.
pub(crate) static HINTS: &[(&str, &[&str], &str)] = &[
    (
        "tile",
        &["m", "n", "k", "rows", "cols"],
        "tile sizes for the op's loop nest",
    ),
    (
        "block_dim",
        &["n"],
        "the number of cores to spread the op over",
    ),
    (
        "buffer_num",
        &["n"],
        "how many buffers each queue of the op rotates through",
    ),
];

/// Whether `attr` is `#[kernel]`, `#[moge::kernel]` or `#[::moge::kernel]` (with or without
/// arguments).
pub(crate) fn is_kernel_attr(attr: &Attribute) -> bool {
    let path = attr.path();
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match names.as_slice() {
        [one] => one == "kernel" && path.leading_colon.is_none(),
        [crate_name, one] => crate_name == "moge" && one == "kernel",
        _ => false,
    }
}

/// The arguments of the kernel attribute: `#[moge::kernel]` or `#[moge::kernel(debug)]`.
#[derive(Copy, Clone, Default, Debug, PartialEq, Eq)]
pub struct KernelArgs {
    /// `debug`: the macro prints its expansion to stderr.
    pub debug: bool,
}

/// Parses the arguments of a kernel attribute (the tokens inside its parentheses), the same way in
/// the macro and in `mogec`: a comma-separated list of the known arguments (`debug`), each at most
/// once. Unknown or repeated arguments are errors.
pub fn parse_kernel_args(tokens: proc_macro2::TokenStream) -> Result<KernelArgs, Diagnostic> {
    use syn::parse::Parser;
    let idents = Punctuated::<syn::Ident, Token![,]>::parse_terminated
        .parse2(tokens)
        .map_err(|error| {
            Diagnostic::from_syn(&error).with_help("the kernel attribute takes `debug` or nothing")
        })?;
    let mut args = KernelArgs::default();
    for ident in idents {
        if ident != "debug" {
            return Err(Diagnostic::spanned(
                &ident,
                format!("unknown argument `{ident}` of `#[moge::kernel]`: expected `debug`"),
            ));
        }
        if args.debug {
            return Err(Diagnostic::spanned(
                &ident,
                "the argument `debug` of `#[moge::kernel]` is given twice",
            ));
        }
        args.debug = true;
    }
    Ok(args)
}

/// The arguments of the kernel attribute `attr` (see [`parse_kernel_args`]); `#[kernel = ..]` is an
/// error.
pub(crate) fn kernel_attr_args(attr: &Attribute) -> Result<KernelArgs, Diagnostic> {
    match &attr.meta {
        Meta::Path(_) => Ok(KernelArgs::default()),
        Meta::List(list) => parse_kernel_args(list.tokens.clone()),
        Meta::NameValue(nv) => Err(Diagnostic::spanned(
            &nv.value,
            "the kernel attribute takes arguments in parentheses: `#[moge::kernel(debug)]`",
        )),
    }
}

/// Checks the attributes of the kernel function: doc comments and the kernel attribute are fine,
/// anything else is an error.
pub(crate) fn check_fn_attrs(attrs: &[Attribute], diags: &mut Vec<Diagnostic>) {
    for attr in attrs {
        if attr.path().is_ident("doc") {
            continue;
        }
        if is_kernel_attr(attr) {
            // The same validation as the macro's, so that `mogec` refuses what cargo would.
            if let Err(diag) = kernel_attr_args(attr) {
                diags.push(diag);
            }
            continue;
        }
        diags.push(
            Diagnostic::spanned(
                attr,
                format!(
                    "attribute `#[{}]` is not supported on a kernel",
                    super::show(attr.path())
                ),
            )
            .with_help("a kernel takes only doc comments and `#[moge::kernel]`"),
        );
    }
}

/// Parses the attributes of a `let` statement as schedule hints.
/// A hint may appear once per statement: a second `#[tile]` would otherwise silently replace the
/// first's keys further down.
pub(crate) fn parse_hints(attrs: &[Attribute], diags: &mut Vec<Diagnostic>) -> Vec<HintAttr> {
    let mut out: Vec<HintAttr> = Vec::new();
    for attr in attrs {
        let Some(hint) = parse_hint(attr, diags) else {
            continue;
        };
        if out.iter().any(|h| h.name == hint.name) {
            let name = &hint.name;
            diags.push(
                Diagnostic::spanned(
                    attr,
                    format!("the `{name}` hint is given twice on this statement"),
                )
                .with_help(format!(
                    "write all its keys in one `#[{name}(...)]`, each once"
                )),
            );
            continue;
        }
        out.push(hint);
    }
    out
}

fn parse_hint(attr: &Attribute, diags: &mut Vec<Diagnostic>) -> Option<HintAttr> {
    let span = SpanRange::of(attr);
    let known: Vec<&str> = HINTS.iter().map(|(name, _, _)| *name).collect();
    let Some(ident) = attr.path().get_ident() else {
        diags.push(unknown_hint(attr, &super::show(attr.path()), &known));
        return None;
    };
    let name = ident.to_string();
    let Some((_, keys, _)) = HINTS.iter().find(|(n, _, _)| *n == name) else {
        diags.push(unknown_hint(attr, &name, &known));
        return None;
    };
    let usage = format!("#[{name}({} = ...)]", keys.join(" = ..., "));
    let Meta::List(list) = &attr.meta else {
        diags.push(
            Diagnostic::spanned(attr, format!("the `{name}` hint needs arguments"))
                .with_help(format!("write it as `{usage}`")),
        );
        return None;
    };
    let args = match list.parse_args_with(Punctuated::<MetaNameValue, Token![,]>::parse_terminated)
    {
        Ok(args) => args,
        Err(error) => {
            diags.push(
                Diagnostic::spanned(
                    &list.tokens,
                    format!("cannot parse the arguments of the `{name}` hint: {error}"),
                )
                .with_help(format!("write it as `{usage}`")),
            );
            return None;
        }
    };
    if args.is_empty() {
        diags.push(
            Diagnostic::spanned(
                attr,
                format!("the `{name}` hint needs at least one argument"),
            )
            .with_help(format!("write it as `{usage}`")),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for arg in &args {
        let key = match arg.path.get_ident() {
            Some(key) if keys.contains(&key.to_string().as_str()) => key.to_string(),
            _ => {
                let found = super::show(&arg.path);
                let mut diag = Diagnostic::spanned(
                    &arg.path,
                    format!(
                        "unknown key `{found}` for the `{name}` hint: expected one of {}",
                        quoted(keys)
                    ),
                );
                if let Some(near) = closest(&found, keys.iter().copied()) {
                    diag = diag.with_help(format!("did you mean `{near}`?"));
                }
                diags.push(diag);
                ok = false;
                continue;
            }
        };
        if out.iter().any(|(k, _): &(String, i64)| *k == key) {
            diags.push(Diagnostic::spanned(
                &arg.path,
                format!("the key `{key}` is given twice in the `{name}` hint"),
            ));
            ok = false;
            continue;
        }
        let value = match &arg.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(lit), ..
            }) if lit.suffix().is_empty() => lit.base10_parse::<i64>().ok().filter(|v| *v > 0),
            _ => None,
        };
        match value {
            Some(v) => out.push((key, v)),
            None => {
                diags.push(Diagnostic::spanned(
                    &arg.value,
                    format!(
                        "the `{key}` of the `{name}` hint must be a positive integer literal, found `{}`",
                        super::show(&arg.value)
                    ),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(HintAttr {
        name,
        args: out,
        span,
    })
}

fn unknown_hint(attr: &Attribute, name: &str, known: &[&str]) -> Diagnostic {
    let mut diag = Diagnostic::spanned(
        attr,
        format!(
            "unknown schedule hint `#[{name}]`: expected one of {}",
            quoted(known)
        ),
    );
    if let Some(near) = closest(name, known.iter().copied()) {
        diag = diag.with_help(format!("did you mean `{near}`?"));
    }
    diag
}

/// `` `a`, `b` or `c` ``.
pub(crate) fn quoted(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
