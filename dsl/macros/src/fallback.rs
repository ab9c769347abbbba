//! The item emitted next to the errors of a kernel that does not check: the same struct, `eval`
//! signature and `KernelDef` impl as a good kernel, so code using the kernel keeps type-checking and
//! only the kernel's own errors are reported. Its functions return `Error::NotCompiled`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{GenericParam, ItemFn, ReturnType, Type};

use crate::expand::{eval_results, kernel_def_items, param_idents, returns_tuple};
use crate::paths;

/// The fallback item for `item`, built from whatever parts of its signature are usable.
pub(crate) fn fallback(item: &ItemFn) -> TokenStream {
    let private = paths::private();
    let tensor = paths::tensor();
    let error = paths::error();
    let graph_kernel = paths::graph_kernel();
    let kernel_def = paths::kernel_def();
    let result = paths::result();

    let name = &item.sig.ident;
    let name_str = name.to_string();
    let vis = &item.vis;
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    // Every const generic, whatever type it was given, so `name::<64, 8>` still names the struct.
    let statics: Vec<&syn::Ident> = item
        .sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Const(c) => Some(&c.ident),
            _ => None,
        })
        .collect();
    let (decl, args) = if statics.is_empty() {
        (quote!(), quote!())
    } else {
        (
            quote!(<#(const #statics: usize),*>),
            quote!(<#(#statics),*>),
        )
    };
    let def_items = kernel_def_items(&name_str, "", &statics);
    // A repeated parameter name (already reported) would be a second error here: rename it.
    let mut params: Vec<syn::Ident> = Vec::new();
    for (i, param) in param_idents(item).into_iter().enumerate() {
        if params.contains(&param) {
            params.push(format_ident!("param{}", i, span = Span::mixed_site()));
        } else {
            params.push(param);
        }
    }
    let count = match &item.sig.output {
        ReturnType::Type(_, ty) => match strip(ty) {
            Type::Tuple(t) => t.elems.len().max(1),
            _ => 1,
        },
        ReturnType::Default => 1,
    };
    let (ret_ty, _, _) = eval_results(count, returns_tuple(item));

    quote! {
        #(#docs)*
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name #decl;

        #[allow(dead_code, unused_variables)]
        impl #decl #name #args {
            /// The kernel's name.
            pub const NAME: &'static str = #name_str;

            /// Empty: the kernel did not compile.
            pub const GRAPH_TEXT: &'static str = "";

            /// Fails: the kernel did not compile.
            pub fn graph() -> #result<#graph_kernel, #error> {
                <Self as #kernel_def>::graph()
            }

            /// Fails: the kernel did not compile.
            pub fn eval(#(#params: &#tensor),*) -> #result<#ret_ty, #error> {
                #result::Err(#private::not_compiled(Self::NAME))
            }
        }

        impl #decl #kernel_def for #name #args {
            #def_items

            fn graph() -> #result<#graph_kernel, #error> {
                #result::Err(#private::not_compiled(Self::NAME))
            }
        }
    }
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip(&p.elem),
        Type::Group(g) => strip(&g.elem),
        other => other,
    }
}
