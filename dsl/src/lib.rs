//! moge's kernel frontend: checks `#[moge::kernel]` functions and builds their graph IR.
//!
//! The same frontend runs inside the `#[moge::kernel]` attribute macro (crate `moge-macros`, through
//! [`check_fn`]) and inside `mogec` on a whole file ([`check_source`]). Errors come back as
//! [`Diagnostic`]s with the span of the offending tokens; [`render_diagnostics`] prints them the way
//! rustc does.
//!
//! Pipeline: syn's tree → `parse` (rejects Rust that is not DSL, builds a small typed AST) →
//! `build` (names, arities, shapes and dtypes, with the rules of [`moge_lower::graph::infer`]) →
//! [`moge_lower::Kernel`]. Every error in a kernel is reported, not just the first: a failed
//! expression is marked as an error and everything that uses it is skipped silently.
//!
//! # The DSL
//!
//! ```text
//! use moge::prelude::*;
//!
//! /// MoGE router.
//! #[moge::kernel]
//! pub fn moge_gate<const E: usize, const G: usize>(
//!     logits: Tensor<f32, (T, E)>,        // T is not declared: a dynamic dim
//!     router_scale: Tensor<f32, (E,)>,    // E, G: static (const generics), bound at specialization
//! ) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
//!     let probs = softmax(logits, -1);
//!     let (top, expert) = group_topk(probs, G, 1);
//!     let weight = top * gather(router_scale, expert);
//!     (weight, expert)
//! }
//! ```
//!
//! A kernel is a Rust function whose input is valid Rust syntax but is not compiled as Rust: the
//! macro replaces it by a typed item (see `moge::KernelDef`).
//!
//! ## Signature
//!
//! - **Static dims** are const generics, `const E: usize` only; they are bound when the kernel is
//!   specialized. Type generics, lifetimes and `where` clauses are errors, as are `async`, `unsafe`,
//!   `const` and `extern` functions and `self`.
//! - **Parameters** are `name: Tensor<DTYPE, SHAPE>` with `DTYPE` one of `bf16`, `f16`, `f32`, `i32`.
//!   A name other than a plain identifier (`mut x`, `(a, b)`) is an error.
//! - **Shapes** are tuples of dims: `(T, E)`, `(E,)` for rank 1, `()` for a scalar. A dim is a static
//!   dim, an integer literal, a **dynamic dim** (any other name: declared by its first appearance in a
//!   parameter type, bound from the input shapes at launch) or `+ - * /` of those with parentheses
//!   (`2 * I`, `E / G`). Rust's grammar only accepts a tuple *type* of names in a generic argument, so
//!   a shape containing a literal or an expression is written in braces:
//!   `Tensor<f32, {(T, 2 * I)}>`, `Tensor<i32, {(T, 8)}>`.
//! - **Results**: one `Tensor<..>` or a tuple of them. The returned values must match in dtype and in
//!   shape (dims are compared in canonical form, so `2 * I` equals `I + I` but `E` differs from `G`).
//!   Dynamic dims in the return type must appear in a parameter type.
//!
//! ## Body
//!
//! `let NAME = EXPR;` and `let (A, B) = EXPR;` (for the two-result ops; `_` skips a result), then the
//! returned expression: a tensor expression or a tuple of them, as the tail expression or as a final
//! `return EXPR;`. Shadowing is allowed. `let _ = ...`, unused parameters and unused bindings are
//! errors (a name starting with `_` may stay unused).
//!
//! Expressions:
//! - names of parameters and bindings; parentheses;
//! - number literals (`2.0`, `1e-5`, `3`): rank-0 constants taking the dtype of the tensor they are
//!   combined with (a float literal with an `i32` tensor is a dtype error); arithmetic on literals
//!   alone is folded;
//! - unary `-`; binary `+ - * /` and comparisons `== != < <= > >=` (giving a `bool` mask), all
//!   elementwise with NumPy broadcasting; operands must have the same dtype (convert with `cast`);
//! - calls of the built-in ops:
//!
//! | op | arguments | notes |
//! |---|---|---|
//! | `exp log sqrt rsqrt recip sigmoid silu tanh` | `(x)` | float only |
//! | `abs relu` | `(x)` | |
//! | `maximum minimum` | `(a, b)` | elementwise; `max(a, b)` / `min(a, b)` too when `b` is not an integer literal |
//! | `cast::<DTYPE>` | `(x)` | to `bf16`, `f16`, `f32` or `i32` |
//! | `select` | `(cond, a, b)` | `cond` a `bool` mask |
//! | `sum mean max min argmax argmin` | `(x, axis[, keep_dim])` | `keep_dim` is `true`/`false`, default `false` |
//! | `softmax log_softmax` | `(x, axis)` | |
//! | `rms_norm` | `(x, weight, eps)` | `eps` a number literal |
//! | `reshape` | `(x, (D0, D1, ...))` | dims as in types |
//! | `slice` | `(x, axis, start, end)` | `start`, `end` dims |
//! | `concat` | `((a, b, ...), axis)` | a tuple or array of tensors |
//! | `transpose` | `(x, (1, 0))` or `(x)` | `(x)` swaps the axes of a rank-2 tensor |
//! | `topk` | `(x, k)` | two results: values, `i32` indices |
//! | `group_topk` | `(x, groups, k)` | two results: values, `i32` global indices |
//! | `gather` | `(table, index)` | |
//! | `scatter_add` | `(src, index, size)` | |
//! | `matmul` | `(a, b)` | |
//! | `route` | `(expert_ids, E)` | a routing table, only for the three ops below |
//! | `dispatch` | `(x, routes)` | |
//! | `grouped_matmul` | `(a, w, routes)` | |
//! | `swiglu` | `(x)` or `(gate, up)` | |
//! | `combine` | `(y, routes, weights)` | |
//!
//! An axis is an integer literal, negative counting from the end (`-1` is the last axis). Dim
//! arguments (`k`, `groups`, `size`, `E`, slice bounds, reshape dims) are dim expressions as in
//! types. The exact semantics of every op are documented in [`moge_lower::graph::OpKind`].
//!
//! Expressions may be as long as you like (a 100,000-term sum checks), but nesting is limited to
//! 128 levels ([`NESTING_LIMIT`]) (each enclosing parenthesis, bracket, brace, call, prefix `-` and generic `<` counts
//! one; deeper input is a located "nested too deeply" error), a dim expression to 64 names,
//! literals and operators (and any dim, written or derived, to 64 terms or operators once
//! multiplied out), a shape to 64 dims and a `concat` to 64 tensors.
//!
//! ## Schedule hints
//!
//! Attributes on a `let` statement are hints for the ops of that statement; they never change
//! results:
//!
//! ```text
//! #[tile(m = 128, n = 256, k = 64)]
//! let y = matmul(a, b);
//! ```
//!
//! | hint | keys |
//! |---|---|
//! | `tile` | `m n k rows cols` |
//! | `block_dim` | `n` |
//! | `buffer_num` | `n` |
//!
//! Values are positive integer literals; an unknown hint or key is an error.
//!
//! ## Not in the DSL
//!
//! Everything else that is valid Rust is an error pointing at it and naming it: closures,
//! references, loops, `if` and `match`, method calls, macros, indexing, field access, blocks,
//! `unsafe`, assignments, `as` casts, string literals, and paths with `::` other than
//! `cast::<DTYPE>`.
//!
//! ## Checks
//!
//! Unknown ops and names (with the closest known name suggested), arity, rank and shape (symbolic
//! dims included), dtype, axis range, group counts that do not divide a dim, `k` larger than a
//! group or a dim, returned values against the signature, and unused parameters and bindings.
//! Conditions that depend on static dims (`G` divides `E`) become the kernel's
//! [constraints](moge_lower::graph::Constraint), checked at specialization.
//!
//! ## Finding kernels in a file
//!
//! [`check_source`] applies the rules cargo would: the kernel attribute's arguments are validated
//! as the macro validates them ([`parse_kernel_args`]); the attribute on anything but a free
//! function (a struct, a method in an `impl` or a trait, a module, ...) is an error; two kernels of
//! the same name in one module are an error. Kernels of the same name in different inline modules
//! are fine and are told apart by their [path](KernelCheck::path) (`inner::name`): `mogec`'s
//! `--kernel` takes a name or such a path, and refuses a name shared by several kernels, listing
//! them with their locations.

mod ast;
mod build;
mod builtins;
mod diagnostic;
mod discover;
mod nesting;
mod parse;
mod render;
mod stack;
mod suggest;
pub mod work;

#[cfg(test)]
mod tests;

use moge_lower::Kernel;

pub use diagnostic::{Diagnostic, SpanRange};
pub use discover::{FileCheck, KernelCheck};
pub use nesting::{check_nesting, NESTING_LIMIT};
pub use parse::{parse_kernel_args, KernelArgs};
pub use render::{more_errors, render_diagnostics, MAX_DIAGNOSTICS};
pub use stack::{dismantle_fn, dismantle_item, with_frontend_stack, FRONTEND_STACK};

/// Checks one kernel function and builds its graph IR. The function may still carry its
/// `#[moge::kernel]` / `#[kernel]` attribute or not. On failure, every error found, in source order.
///
/// The caller parsed `item`; to be safe on any input it should have bounded the nesting of its
/// tokens with [`check_nesting`] first, parsed on [`with_frontend_stack`] and drop the item with
/// [`dismantle_fn`] (as the macro does). The check itself runs on the frontend's own stack.
pub fn check_fn(item: &syn::ItemFn) -> Result<Kernel, Vec<Diagnostic>> {
    with_frontend_stack(|| check_fn_here(item))
}

/// [`check_fn`] on the current stack (the caller is already on the frontend's stack).
fn check_fn_here(item: &syn::ItemFn) -> Result<Kernel, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let ast = parse::parse_kernel_fn(item, &mut diags);
    let kernel = build::build_kernel(&ast, &mut diags);
    if !diags.is_empty() {
        diags.sort_by_key(|d| {
            let start = d.span.start();
            (start.line, start.column)
        });
        return Err(diags);
    }
    // The graph must satisfy the verifier; a failure here is a bug in the frontend.
    if let Err(errors) = moge_lower::graph::verify::verify(&kernel) {
        return Err(vec![Diagnostic::new(
            ast.name.span,
            format!(
                "internal error: the graph IR built for kernel `{}` does not verify: {errors}",
                ast.name.text
            ),
        )]);
    }
    Ok(kernel)
}

/// Parses a whole Rust file and checks every function carrying `#[moge::kernel]` or `#[kernel]`
/// (also inside inline modules). `Err` when the file is not valid Rust syntax or nests deeper than
/// [`NESTING_LIMIT`]. A kernel attribute on anything but a free function, and two kernels of the
/// same name in one module, are errors of the file ([`FileCheck::errors`]); kernels of the same name
/// in different modules are told apart by their [`KernelCheck::path`].
pub fn check_source(src: &str) -> Result<FileCheck, Diagnostic> {
    with_frontend_stack(|| {
        let file = parse_file(src)?;
        let checked = discover::check_items(&file.items, check_fn_here);
        stack::dismantle_file(file);
        Ok(checked)
    })
}

/// Parses `src` as a file, as `syn::parse_file` does (a byte-order mark and a `#!` line are
/// skipped), after bounding its nesting.
fn parse_file(src: &str) -> Result<syn::File, Diagnostic> {
    let mut content = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut shebang = None;
    if content.starts_with("#!") && !content[2..].trim_start().starts_with('[') {
        // Keep the newline, so that lines are numbered as in the file.
        let end = content.find('\n').unwrap_or(content.len());
        shebang = Some(content[..end].to_string());
        content = &content[end..];
    }
    let tokens: proc_macro2::TokenStream = content
        .parse()
        .map_err(|error: proc_macro2::LexError| Diagnostic::from_syn(&syn::Error::from(error)))?;
    check_nesting(tokens.clone())?;
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| Diagnostic::from_syn(&e))?;
    file.shebang = shebang;
    Ok(file)
}

/// Whether `attr` is the kernel attribute (`#[kernel]`, `#[moge::kernel]`, with or without
/// arguments).
pub fn is_kernel_attr(attr: &syn::Attribute) -> bool {
    parse::is_kernel_attr(attr)
}
