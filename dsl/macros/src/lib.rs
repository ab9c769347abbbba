//! The `#[moge::kernel]` attribute macro.
//!
//! A thin shell over `moge-dsl`: the attribute's arguments are parsed (`args`), the function is
//! checked by `moge_dsl::check_fn`, and the result is expanded (`expand`) into a typed item that
//! carries the kernel's graph IR as text. When the kernel has errors, every error becomes a
//! `compile_error!` at the user's tokens and a fallback item with the same name and shape
//! is emitted, so code that uses the kernel keeps type-checking. Generated code names runtime items
//! only through the paths in `paths`.
//!
//! `#[moge::kernel(debug)]` prints the expansion to stderr at compile time.

mod args;
mod expand;
mod fallback;
mod paths;

use proc_macro::TokenStream;

/// Checks a kernel function written in the moge DSL and replaces it by a typed kernel item.
///
/// See the `moge` crate for the generated item and `moge_dsl` for the DSL.
#[proc_macro_attribute]
pub fn kernel(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::kernel(args.into(), input.into()).into()
}

#[cfg(test)]
mod tests;
