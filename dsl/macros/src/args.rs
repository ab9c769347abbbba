//! The attribute's arguments: `#[moge::kernel]` or `#[moge::kernel(debug)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Token};

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// Print the expansion to stderr.
    pub debug: bool,
}

/// Parses the arguments; unknown ones are errors.
pub(crate) fn parse(tokens: TokenStream) -> Result<Args, syn::Error> {
    let idents = Punctuated::<Ident, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args = Args::default();
    for ident in idents {
        if ident == "debug" {
            args.debug = true;
        } else {
            return Err(syn::Error::new(
                ident.span(),
                format!("unknown argument `{ident}` of `#[moge::kernel]`: expected `debug`"),
            ));
        }
    }
    Ok(args)
}
