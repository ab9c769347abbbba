//! The attribute's arguments: `#[moge::kernel]` or `#[moge::kernel(debug)]`, validated by
//! [`moge_dsl::parse_kernel_args`], the same function `mogec` uses.

use proc_macro2::TokenStream;

/// The parsed arguments.
pub(crate) type Args = moge_dsl::KernelArgs;

/// Parses the arguments; unknown or repeated ones are errors.
pub(crate) fn parse(tokens: TokenStream) -> Result<Args, syn::Error> {
    moge_dsl::parse_kernel_args(tokens).map_err(|diag| diag.to_syn_error())
}
