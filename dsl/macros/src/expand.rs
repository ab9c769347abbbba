//! The expansion: a checked kernel becomes a unit struct named after the function, generic over its
//! static dims, with the graph IR text, `graph()`, `eval()` and a `KernelDef` impl.

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::write::kernel_to_string;
use moge_lower::Kernel;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::{args, fallback, paths};

/// Expands `#[moge::kernel(args)] input`.
///
/// Input of any shape is safe: its nesting is bounded before syn parses it, everything runs on the
/// frontend's own stack, and the parsed function is dismantled rather than dropped recursively.
pub(crate) fn kernel(args: TokenStream, input: TokenStream) -> TokenStream {
    if let Err(diag) = moge_dsl::check_nesting(input.clone()) {
        // The tokens cannot be parsed safely: no fallback item, only the error.
        return diag.to_syn_error().to_compile_error();
    }
    moge_dsl::with_frontend_stack(|| expand(args, input))
}

fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            // Another item (a struct, say) is kept as it is, with an error on the attribute; tokens
            // that are not an item at all (rustc has reported its own syntax error already) are
            // dropped, since re-emitting them would only add errors.
            return match syn::parse2::<syn::Item>(input.clone()) {
                Ok(other) => {
                    moge_dsl::dismantle_item(other);
                    let error = syn::Error::new(
                        Span::call_site(),
                        "`#[moge::kernel]` applies to a function written in the moge DSL",
                    )
                    .to_compile_error();
                    quote!(#error #input)
                }
                Err(_) => {
                    let message = format!("the kernel is not valid Rust syntax: {error}");
                    syn::Error::new(error.span(), message).to_compile_error()
                }
            };
        }
    };
    let (args, arg_error) = match args::parse(args) {
        Ok(args) => (args, None),
        Err(error) => (args::Args::default(), Some(error.to_compile_error())),
    };
    let expanded = match moge_dsl::check_fn(&item) {
        Ok(kernel) => match expand_kernel(&item, &kernel) {
            Ok(tokens) => tokens,
            Err(error) => {
                let error = error.to_compile_error();
                let fallback = fallback::fallback(&item);
                quote!(#error #fallback)
            }
        },
        Err(diags) => {
            // As `mogec` shows them: the first MAX_DIAGNOSTICS, then one error counting the rest.
            let shown = diags.iter().take(moge_dsl::MAX_DIAGNOSTICS);
            let errors = shown.map(|d| d.to_syn_error().to_compile_error());
            let more = diags.get(moge_dsl::MAX_DIAGNOSTICS).map(|first_hidden| {
                let hidden = diags.len() - moge_dsl::MAX_DIAGNOSTICS;
                let message = moge_dsl::more_errors(hidden);
                let message = message.strip_prefix("error: ").unwrap_or(&message);
                syn::Error::new(first_hidden.to_syn_error().span(), message).to_compile_error()
            });
            let fallback = fallback::fallback(&item);
            quote!(#(#errors)* #more #fallback)
        }
    };
    let out = quote!(#arg_error #expanded);
    if args.debug {
        eprintln!("#[moge::kernel] expansion of `{}`:\n{out}", item.sig.ident);
    }
    moge_dsl::dismantle_fn(item);
    out
}

/// Whether the function's return type is a tuple (the generated `eval` then returns a tuple).
pub(crate) fn returns_tuple(item: &ItemFn) -> bool {
    fn is_tuple(ty: &Type) -> bool {
        match ty {
            Type::Paren(p) => is_tuple(&p.elem),
            Type::Group(g) => is_tuple(&g.elem),
            Type::Tuple(_) => true,
            _ => false,
        }
    }
    matches!(&item.sig.output, ReturnType::Type(_, ty) if is_tuple(ty))
}

/// The names of the parameters that are plain identifiers.
pub(crate) fn param_idents(item: &ItemFn) -> Vec<syn::Ident> {
    item.sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) => Some(pi.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// The `eval` signature's return type and the expression building it from `results` idents.
pub(crate) fn eval_results(
    count: usize,
    tuple: bool,
) -> (TokenStream, Vec<syn::Ident>, TokenStream) {
    let tensor = paths::tensor();
    let names: Vec<syn::Ident> = (0..count)
        .map(|i| format_ident!("result{}", i, span = Span::mixed_site()))
        .collect();
    if tuple {
        let types = names.iter().map(|_| tensor.clone());
        (quote!((#(#types,)*)), names.clone(), quote!((#(#names,)*)))
    } else {
        let first = names
            .first()
            .cloned()
            .unwrap_or_else(|| format_ident!("result0", span = Span::mixed_site()));
        (tensor, names, quote!(#first))
    }
}

fn expand_kernel(item: &ItemFn, kernel: &Kernel) -> Result<TokenStream, syn::Error> {
    let text = kernel_to_string(kernel);
    // The text form must give back the same kernel; anything else is a bug in the printer or parser.
    match parse_kernel(&text) {
        Ok(parsed) if parsed == *kernel => {}
        Ok(_) => {
            return Err(syn::Error::new(
                item.sig.ident.span(),
                "internal error: the graph IR text of this kernel does not parse back to the same kernel",
            ))
        }
        Err(error) => {
            return Err(syn::Error::new(
                item.sig.ident.span(),
                format!("internal error: the graph IR text of this kernel does not parse: {error}"),
            ))
        }
    }

    let private = paths::private();
    let tensor = paths::tensor();
    let error = paths::error();
    let graph_kernel = paths::graph_kernel();
    let kernel_def = paths::kernel_def();
    let result = paths::result();

    let name = &item.sig.ident;
    let name_str = syn::ext::IdentExt::unraw(name).to_string();
    let vis = &item.vis;
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let generics = &item.sig.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let statics: Vec<&syn::Ident> = generics.const_params().map(|c| &c.ident).collect();
    let def_items = kernel_def_items(&name_str, &text, &statics);

    let params = param_idents(item);
    let (ret_ty, result_names, ret_value) = eval_results(kernel.outputs.len(), returns_tuple(item));
    let count = kernel.outputs.len();
    let graph_var = format_ident!("graph", span = Span::mixed_site());

    Ok(quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #vis struct #name #generics;

        #[allow(dead_code)]
        impl #impl_generics #name #ty_generics {
            /// The kernel's name.
            pub const NAME: &'static str = #name_str;

            /// The kernel's graph IR in text form, before specialization.
            pub const GRAPH_TEXT: &'static str = #text;

            /// The checked graph IR, specialized with the values of the const generics.
            pub fn graph() -> #result<#graph_kernel, #error> {
                <Self as #kernel_def>::graph()
            }

            /// Evaluates the kernel with the reference interpreter, one tensor per parameter.
            pub fn eval(#(#params: &#tensor),*) -> #result<#ret_ty, #error> {
                let #graph_var = <Self as #kernel_def>::graph()?;
                let [#(#result_names),*] =
                    #private::eval::<#count>(Self::NAME, &#graph_var, &[#(#params),*])?;
                #result::Ok(#ret_value)
            }
        }

        impl #impl_generics #kernel_def for #name #ty_generics {
            #def_items
        }
    })
}

/// The `KernelDef` items a kernel struct always has, whether its kernel checked or not: its name, its
/// graph IR text (`text`) and the bindings of its const generics `statics`.
pub(crate) fn kernel_def_items(name: &str, text: &str, statics: &[&syn::Ident]) -> TokenStream {
    let private = paths::private();
    let vec = paths::vec();
    let static_names = statics.iter().map(|s| s.to_string());
    quote! {
        const NAME: &'static str = #name;
        const GRAPH_TEXT: &'static str = #text;

        fn bindings() -> #vec<(&'static str, i64)> {
            #private::bindings(&[#((#static_names, #statics)),*])
        }
    }
}
