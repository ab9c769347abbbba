//! Every path the generated code uses, in one place: runtime items are reached only through
//! `::moge::__private`, so the expansion does not depend on what the user has imported.

use proc_macro2::TokenStream;
use quote::quote;

/// `::moge::__private`.
pub(crate) fn private() -> TokenStream {
    quote!(::moge::__private)
}

/// The runtime tensor type.
pub(crate) fn tensor() -> TokenStream {
    let p = private();
    quote!(#p::Tensor)
}

/// The facade's error type.
pub(crate) fn error() -> TokenStream {
    let p = private();
    quote!(#p::Error)
}

/// The graph-IR kernel type.
pub(crate) fn graph_kernel() -> TokenStream {
    let p = private();
    quote!(#p::Kernel)
}

/// The `KernelDef` trait.
pub(crate) fn kernel_def() -> TokenStream {
    let p = private();
    quote!(#p::KernelDef)
}

/// `Result`.
pub(crate) fn result() -> TokenStream {
    let p = private();
    quote!(#p::Result)
}

/// `Vec`.
pub(crate) fn vec() -> TokenStream {
    let p = private();
    quote!(#p::Vec)
}
