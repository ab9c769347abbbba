//! Expansion tests on token streams (the proc-macro entry point itself is exercised by the trybuild
//! tests of the `moge` crate).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, Item};

use crate::{args, expand};

/// Expands `#[moge::kernel(args)] input` and parses the result as a file.
fn expand(args: TokenStream, input: TokenStream) -> syn::File {
    syn::parse2(expand::kernel(args, input)).expect("the expansion is valid Rust")
}

/// The `compile_error!` messages of an expansion, in order.
fn compile_errors(file: &syn::File) -> Vec<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            Item::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "compile_error") =>
            {
                let lit: syn::LitStr = m.mac.parse_body().expect("a string literal");
                Some(lit.value())
            }
            _ => None,
        })
        .collect()
}

fn gate() -> TokenStream {
    quote! {
        /// MoGE router.
        pub fn moge_gate<const E: usize, const G: usize>(
            logits: Tensor<f32, (T, E)>,
            router_scale: Tensor<f32, (E,)>,
        ) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
            let probs = softmax(logits, -1);
            let (top, expert) = group_topk(probs, G, 1);
            (top * gather(router_scale, expert), expert)
        }
    }
}

#[test]
fn arguments() {
    assert!(!args::parse(quote!()).expect("no arguments").debug);
    assert!(args::parse(quote!(debug)).expect("debug").debug);
    assert!(args::parse(quote!(debug,)).expect("trailing comma").debug);
    let error = args::parse(quote!(debg)).expect_err("unknown argument");
    assert_eq!(
        error.to_string(),
        "unknown argument `debg` of `#[moge::kernel]`: expected `debug`"
    );
}

#[test]
fn a_good_kernel_becomes_a_struct_with_two_impls() {
    let file = expand(quote!(), gate());
    assert!(compile_errors(&file).is_empty());
    assert_eq!(file.items.len(), 3);
    let Item::Struct(s) = &file.items[0] else {
        panic!("expected the struct first")
    };
    assert_eq!(s.ident, "moge_gate");
    assert!(matches!(s.vis, syn::Visibility::Public(_)));
    assert_eq!(
        s.generics
            .const_params()
            .map(|c| c.ident.to_string())
            .collect::<Vec<_>>(),
        ["E", "G"]
    );
    assert!(
        s.attrs.iter().any(|a| a.path().is_ident("doc")),
        "the doc comment is kept"
    );

    let Item::Impl(inherent) = &file.items[1] else {
        panic!("expected the inherent impl")
    };
    assert!(inherent.trait_.is_none());
    let names: Vec<String> = inherent
        .items
        .iter()
        .map(|item| match item {
            ImplItem::Const(c) => c.ident.to_string(),
            ImplItem::Fn(f) => f.sig.ident.to_string(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(names, ["NAME", "GRAPH_TEXT", "graph", "eval"]);
    // `eval` takes one tensor per parameter, named like the parameters.
    let eval = inherent
        .items
        .iter()
        .find_map(|item| match item {
            ImplItem::Fn(f) if f.sig.ident == "eval" => Some(f),
            _ => None,
        })
        .expect("eval");
    let params: Vec<String> = eval
        .sig
        .inputs
        .iter()
        .map(|input| match input {
            syn::FnArg::Typed(pt) => quote!(#pt).to_string(),
            syn::FnArg::Receiver(_) => String::new(),
        })
        .collect();
    assert_eq!(
        params,
        [
            "logits : & :: moge :: __private :: Tensor",
            "router_scale : & :: moge :: __private :: Tensor"
        ]
    );

    let Item::Impl(def) = &file.items[2] else {
        panic!("expected the KernelDef impl")
    };
    let path = def
        .trait_
        .as_ref()
        .map(|(_, path, _)| quote!(#path).to_string());
    assert_eq!(path.as_deref(), Some(":: moge :: __private :: KernelDef"));
}

#[test]
fn the_graph_text_is_the_printed_kernel() {
    let file = expand(quote!(), gate());
    let Item::Impl(inherent) = &file.items[1] else {
        panic!("expected the inherent impl")
    };
    let text = inherent
        .items
        .iter()
        .find_map(|item| match item {
            ImplItem::Const(c) if c.ident == "GRAPH_TEXT" => match &c.expr {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .expect("GRAPH_TEXT is a string literal");
    let item: syn::ItemFn = syn::parse2(gate()).expect("a function");
    let kernel = moge_dsl::check_fn(&item).expect("checks");
    assert_eq!(text, moge_lower::graph::write::kernel_to_string(&kernel));
    assert!(text.starts_with("kernel moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E])"));
}

#[test]
fn a_bad_kernel_gives_one_error_each_and_a_fallback() {
    let input = quote! {
        pub fn gate<const E: usize>(x: Tensor<f32, (T, E)>, unused: Tensor<f32, (E,)>) -> Tensor<f32, (T, E)> {
            sofmax(x, -1)
        }
    };
    let file = expand(quote!(), input);
    let errors = compile_errors(&file);
    // Tokens made by `quote!` have no source positions, so the errors stay in the order found.
    assert_eq!(
        errors,
        [
            "unknown op `sofmax`\n= help: did you mean `softmax`?",
            "unused parameter `unused`\n= help: remove it, or name it `_unused` if the kernel must take it",
        ]
    );
    let structs: Vec<&syn::ItemStruct> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Struct(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(structs.len(), 1);
    assert_eq!(structs[0].ident, "gate");
    assert_eq!(structs[0].generics.const_params().count(), 1);
    let impls = file
        .items
        .iter()
        .filter(|item| matches!(item, Item::Impl(_)))
        .count();
    assert_eq!(impls, 2);
}

#[test]
fn a_bad_argument_is_an_error_next_to_the_kernel() {
    let file = expand(quote!(debg), gate());
    assert_eq!(
        compile_errors(&file),
        ["unknown argument `debg` of `#[moge::kernel]`: expected `debug`"]
    );
    assert!(file
        .items
        .iter()
        .any(|item| matches!(item, Item::Struct(s) if s.ident == "moge_gate")));
}

#[test]
fn other_items_are_kept_with_an_error() {
    let file = expand(
        quote!(),
        quote!(
            struct NotAKernel;
        ),
    );
    assert_eq!(
        compile_errors(&file),
        ["`#[moge::kernel]` applies to a function written in the moge DSL"]
    );
    assert!(file
        .items
        .iter()
        .any(|item| matches!(item, Item::Struct(s) if s.ident == "NotAKernel")));
}

/// A kernel `k(a)` whose body is `body`, as tokens parsed from text (so that `body` can be any
/// shape).
fn kernel_with_body(body: &str) -> TokenStream {
    format!("fn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{ {body} }}")
        .parse()
        .expect("lexes")
}

#[test]
fn deep_input_is_an_error_not_a_stack_overflow() {
    let limit = moge_dsl::NESTING_LIMIT;
    for body in [
        format!("{}a{}", "(".repeat(20_000), ")".repeat(20_000)),
        format!("{}a", "-".repeat(20_000)),
        format!("{}a{}", "exp(".repeat(20_000), ")".repeat(20_000)),
    ] {
        let file = expand(quote!(), kernel_with_body(&body));
        assert_eq!(
            compile_errors(&file),
            [format!("nested too deeply (limit {limit})\n= note: each enclosing `(`, `[`, `{{`, prefix operator, `<` and assignment counts as one level\n= help: split the expression into `let` statements")]
        );
        // Only the error: the input could not be parsed safely, so there is no fallback item.
        assert_eq!(file.items.len(), 1);
    }
}

#[test]
fn long_chains_expand() {
    let body = vec!["a"; 20_000].join(" + ");
    let file = expand(quote!(), kernel_with_body(&body));
    assert!(compile_errors(&file).is_empty());
    // The kernel struct and its impls.
    assert!(file
        .items
        .iter()
        .any(|item| matches!(item, Item::Struct(s) if s.ident == "k")));
    // A long chain outside the DSL is a located error with the fallback item.
    let body = format!("a{}", ".exp()".repeat(20_000));
    let file = expand(quote!(), kernel_with_body(&body));
    let errors = compile_errors(&file);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("method calls (`.exp(..)`) are not supported in a kernel"));
}

#[test]
fn repeated_argument_is_refused() {
    let error = args::parse(quote!(debug, debug)).expect_err("repeated");
    assert_eq!(
        error.to_string(),
        "the argument `debug` of `#[moge::kernel]` is given twice"
    );
}

#[test]
fn repeated_errors_are_capped_as_mogec_caps_them() {
    let attrs = "#[allow(x)]".repeat(250);
    let input: TokenStream =
        format!("{attrs}\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{ a }}")
            .parse()
            .expect("tokens");
    let errors = compile_errors(&expand(quote!(), input));
    assert_eq!(errors.len(), moge_dsl::MAX_DIAGNOSTICS + 1);
    assert!(errors[..moge_dsl::MAX_DIAGNOSTICS]
        .iter()
        .all(|e| e.contains("is not supported on a kernel")));
    assert_eq!(
        errors[moge_dsl::MAX_DIAGNOSTICS],
        format!(
            "150 more errors not shown (the first {} are above)",
            moge_dsl::MAX_DIAGNOSTICS
        )
    );
}
