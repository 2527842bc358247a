#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod args;
mod cache;

use proc_macro::TokenStream;

/// Generates typed Rust for the named tables of a `$metadata` document; see the crate docs.
#[proc_macro]
pub fn dynamics_entities(input: TokenStream) -> TokenStream {
    match args::expand(input.into()) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}
