//! Finding the kernels of a file, with the rules the macro and rustc would apply to it.
//!
//! A kernel is a free function carrying `#[moge::kernel]` or `#[kernel]`, at the top of the file or
//! in an inline module. The same attribute on anything else (a struct, a method in an `impl` or a
//! trait, a module, a foreign function) is an error: cargo would not make a kernel of it either.
//! A kernel declared inside a function body is an error too (only that function could use it, and
//! `mogec` cannot build it). Two kernels of the same name in one module are an error (the macro turns each into a struct of
//! that name, which Rust refuses); kernels in different modules may share a name and are told apart
//! by their path, `inner::name`.

use std::collections::HashMap;

use moge_lower::Kernel;
use syn::{Attribute, ImplItem, Item, TraitItem};

use crate::diagnostic::{Diagnostic, SpanRange};
use crate::parse::is_kernel_attr;

/// The result of checking every kernel of a file.
#[derive(Debug)]
pub struct FileCheck {
    /// The kernels, in source order.
    pub kernels: Vec<KernelCheck>,
    /// Errors of the file outside any kernel: a kernel attribute on something that is not a free
    /// function. A file with such errors would not compile as a kernel crate.
    pub errors: Vec<Diagnostic>,
}

/// The result of checking one kernel.
#[derive(Debug)]
pub struct KernelCheck {
    /// The kernel function's name.
    pub name: String,
    /// Its path in the file: the names of the enclosing inline modules and its own, joined by
    /// `::` (`name` at the top of the file, `inner::name` in `mod inner`).
    pub path: String,
    /// The span of the function's name.
    pub span: SpanRange,
    /// Its graph IR, or every error found in it.
    pub result: Result<Kernel, Vec<Diagnostic>>,
}

/// Checks every kernel among `items` (recursing into inline modules) with `check`.
pub(crate) fn check_items(
    items: &[Item],
    check: impl Fn(&syn::ItemFn) -> Result<Kernel, Vec<Diagnostic>>,
) -> FileCheck {
    let mut out = FileCheck {
        kernels: Vec::new(),
        errors: Vec::new(),
    };
    walk(items, &mut Vec::new(), &check, &mut out);
    out
}

fn walk(
    items: &[Item],
    module: &mut Vec<String>,
    check: &dyn Fn(&syn::ItemFn) -> Result<Kernel, Vec<Diagnostic>>,
    out: &mut FileCheck,
) {
    // Recursion over inline modules: as deep as the source's braces, bounded by the nesting limit.
    // The kernels of this module by name, to find duplicates in constant time.
    let mut in_module: HashMap<String, SpanRange> = HashMap::new();
    for item in items {
        match item {
            Item::Fn(f) if f.attrs.iter().any(is_kernel_attr) => {
                let name = crate::parse::ident_text(&f.sig.ident);
                let span = SpanRange::single(f.sig.ident.span());
                let mut result = check(f);
                if let Some(earlier) = in_module.get(&name) {
                    let start = earlier.start.start();
                    let diag = Diagnostic::new(
                        span,
                        format!("the kernel `{name}` is defined twice in this module"),
                    )
                    .with_note(format!(
                        "the first definition is at line {}, column {}",
                        start.line,
                        start.column + 1
                    ))
                    .with_help("rename one of them; kernels in different modules may share a name");
                    let mut diags = result.err().unwrap_or_default();
                    diags.insert(0, diag);
                    result = Err(diags);
                } else {
                    in_module.insert(name.clone(), span);
                }
                let mut path = module.clone();
                path.push(name.clone());
                out.kernels.push(KernelCheck {
                    name,
                    path: path.join("::"),
                    span,
                    result,
                });
            }
            Item::Fn(f) => local_items(&f.block, out),
            Item::Mod(m) => {
                misplaced(&m.attrs, "a module", out);
                if let Some((_, items)) = &m.content {
                    module.push(crate::parse::ident_text(&m.ident));
                    walk(items, module, check, out);
                    module.pop();
                }
            }
            Item::Impl(i) => {
                misplaced(&i.attrs, "an `impl` block", out);
                for item in &i.items {
                    let (attrs, what) = match item {
                        ImplItem::Fn(f) => (&f.attrs, "a method or associated function"),
                        ImplItem::Const(c) => (&c.attrs, "an associated constant"),
                        ImplItem::Type(t) => (&t.attrs, "an associated type"),
                        ImplItem::Macro(m) => (&m.attrs, "a macro invocation"),
                        _ => continue,
                    };
                    misplaced(attrs, what, out);
                }
            }
            Item::Trait(t) => {
                misplaced(&t.attrs, "a trait", out);
                for item in &t.items {
                    let (attrs, what) = match item {
                        TraitItem::Fn(f) => (&f.attrs, "a trait method"),
                        TraitItem::Const(c) => (&c.attrs, "an associated constant"),
                        TraitItem::Type(t) => (&t.attrs, "an associated type"),
                        TraitItem::Macro(m) => (&m.attrs, "a macro invocation"),
                        _ => continue,
                    };
                    misplaced(attrs, what, out);
                }
            }
            Item::ForeignMod(f) => {
                misplaced(&f.attrs, "an `extern` block", out);
                for item in &f.items {
                    let (attrs, what) = match item {
                        syn::ForeignItem::Fn(f) => (&f.attrs, "a foreign function"),
                        syn::ForeignItem::Static(s) => (&s.attrs, "a foreign static"),
                        syn::ForeignItem::Type(t) => (&t.attrs, "a foreign type"),
                        syn::ForeignItem::Macro(m) => (&m.attrs, "a macro invocation"),
                        _ => continue,
                    };
                    misplaced(attrs, what, out);
                }
            }
            Item::Struct(x) => misplaced(&x.attrs, "a struct", out),
            Item::Enum(x) => misplaced(&x.attrs, "an enum", out),
            Item::Union(x) => misplaced(&x.attrs, "a union", out),
            Item::Const(x) => misplaced(&x.attrs, "a constant", out),
            Item::Static(x) => misplaced(&x.attrs, "a static", out),
            Item::Type(x) => misplaced(&x.attrs, "a type alias", out),
            Item::Use(x) => misplaced(&x.attrs, "a `use` declaration", out),
            Item::ExternCrate(x) => misplaced(&x.attrs, "an `extern crate` declaration", out),
            Item::Macro(x) => misplaced(&x.attrs, "a macro", out),
            Item::TraitAlias(x) => misplaced(&x.attrs, "a trait alias", out),
            _ => {}
        }
    }
}

/// Reports kernel attributes on the items declared in the statements of a function body: the
/// macro would make a kernel visible only inside that function, which `mogec` cannot build.
fn local_items(block: &syn::Block, out: &mut FileCheck) {
    for stmt in &block.stmts {
        let syn::Stmt::Item(item) = stmt else {
            continue;
        };
        match item {
            Item::Fn(f) => {
                misplaced(&f.attrs, "a function declared inside another function", out);
                local_items(&f.block, out);
            }
            Item::Struct(x) => misplaced(&x.attrs, "a struct", out),
            Item::Enum(x) => misplaced(&x.attrs, "an enum", out),
            Item::Const(x) => misplaced(&x.attrs, "a constant", out),
            Item::Static(x) => misplaced(&x.attrs, "a static", out),
            Item::Mod(x) => misplaced(&x.attrs, "a module inside a function", out),
            Item::Impl(x) => misplaced(&x.attrs, "an `impl` block", out),
            Item::Trait(x) => misplaced(&x.attrs, "a trait", out),
            _ => {}
        }
    }
}

/// Reports a kernel attribute among `attrs` of something that is not a free function (`what`).
fn misplaced(attrs: &[Attribute], what: &str, out: &mut FileCheck) {
    for attr in attrs.iter().filter(|a| is_kernel_attr(a)) {
        out.errors.push(
            Diagnostic::spanned(
                attr,
                format!("`#[moge::kernel]` applies to a free function, not to {what}"),
            )
            .with_help(
                "write the kernel as a function at the top of the file or of an inline module",
            ),
        );
    }
}
