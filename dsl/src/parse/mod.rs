//! From syn's tree to the DSL's [AST](crate::ast): everything that is valid Rust but not part of the
//! DSL is rejected here, with a span on it and a message naming the construct.
//!
//! Parsing never stops at the first error: a rejected expression or statement becomes
//! [`ExprKind::Error`] (keeping the names it mentions, so they do not look unused), a rejected type
//! `None`, so that the checker can go on and report the other errors of the kernel without follow-on
//! errors.
//!
//! [`ExprKind::Error`]: crate::ast::ExprKind::Error

pub(crate) mod attr;
mod expr;
mod sig;
mod stmt;

use crate::ast::KernelFn;
use crate::diagnostic::{Diagnostic, SpanRange};

pub(crate) use attr::is_kernel_attr;
pub use attr::{parse_kernel_args, KernelArgs};

/// An identifier's name in the DSL: a raw identifier is the same name as the plain one (`r#fn` is
/// `fn`), as in Rust.
pub(crate) fn ident_text(ident: &proc_macro2::Ident) -> String {
    syn::ext::IdentExt::unraw(ident).to_string()
}

/// Parses a kernel function into the AST, pushing an error for every construct outside the DSL.
pub(crate) fn parse_kernel_fn(item: &syn::ItemFn, diags: &mut Vec<Diagnostic>) -> KernelFn {
    attr::check_fn_attrs(&item.attrs, diags);
    let sig = sig::parse_sig(&item.sig, diags);
    let body = stmt::parse_body(&item.block, diags);
    KernelFn {
        name: sig.name,
        statics: sig.statics,
        params: sig.params,
        results: sig.results,
        stmts: body.stmts,
        ret: body.ret,
        body_end: SpanRange::single(item.block.brace_token.span.close()),
    }
}

/// Every identifier in `tokens`, in order (the names a rejected construct mentions).
pub(crate) fn idents(tokens: &dyn quote::ToTokens) -> Vec<String> {
    fn walk(stream: proc_macro2::TokenStream, out: &mut Vec<String>) {
        for tree in stream {
            match tree {
                proc_macro2::TokenTree::Ident(ident) => out.push(ident_text(&ident)),
                proc_macro2::TokenTree::Group(group) => walk(group.stream(), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(tokens.to_token_stream(), &mut out);
    out
}

/// The tokens of `tokens` as source text, for messages (``found `Vec<f32>` ``).
pub(crate) fn show(tokens: &dyn quote::ToTokens) -> String {
    // `TokenStream` prints a space between every two tokens; drop the ones Rust code is not written
    // with: around `::`, `<`, `>`, `.`, after `&` and `(`, before `,`, `)`, `(` and `[`.
    let text = tokens.to_token_stream().to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = if i > 0 { chars[i - 1] } else { ' ' };
            let after = chars.get(i + 1).copied().unwrap_or(' ');
            let glue_after = matches!(before, ':' | '<' | '&' | '(' | '[' | '.' | '!');
            let glue_before = matches!(after, ':' | '<' | '>' | ',' | ')' | ']' | '.' | ';')
                || (matches!(after, '(' | '[')
                    && (before.is_alphanumeric() || before == '_' || before == '>'));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}
