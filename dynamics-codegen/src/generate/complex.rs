//! The complex and enum types the selected tables need, in modules of their own so that their
//! names never clash with the tables' (`solution` the table, `Solution` the complex type).

use proc_macro2::TokenStream;
use quote::quote;

use super::ident::{self, Names};
use super::{Context, doc_lines};
use crate::csdl::TypeRef;

impl Context<'_> {
    /// Whether complex type `from` holds a `to` through single-valued complex properties
    /// (itself included), so that holding `from` in `to` by value would make it infinite.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut pending = vec![from];
        while let Some(name) = pending.pop() {
            if name == to {
                return true;
            }
            if !seen.insert(name) {
                continue;
            }
            if let Some(t) = self.metadata.complex_type(name) {
                pending.extend(t.properties.iter().filter_map(|p| match &p.ty {
                    TypeRef::Complex(inner) => Some(inner.as_str()),
                    _ => None,
                }));
            }
        }
        false
    }

    pub(crate) fn complex_types(&self) -> TokenStream {
        if !self.has_complex_module() {
            return TokenStream::new();
        }
        let serde_crate = &self.serde_crate;
        let rt = &self.runtime;
        let mut items = TokenStream::new();
        for t in &self.selection.complex_types {
            let Some(name) = self.complex_names.get(&t.qualified_name()) else {
                continue;
            };
            let name = ident::ident(name);
            let mut fields = Names::default();
            let mut field_tokens = TokenStream::new();
            for p in &t.properties {
                let field_name = fields.unique(ident::field_name(&p.name));
                let field = ident::ident(&field_name);
                let rust = self.rust_type(&p.ty);
                let ty = &rust.ty;
                // A type holding itself, directly or not, needs a box to have a size.
                let ty = match &p.ty {
                    TypeRef::Complex(inner) if self.reaches(inner, &t.qualified_name()) => {
                        quote!(::std::boxed::Box<#ty>)
                    }
                    _ => ty.clone(),
                };
                let wire = &p.name;
                let codec = rust
                    .codec
                    .map(|c| format!("{}::__private::codec::{c}", self.runtime_path));
                let serde = super::field_serde(
                    &field_name,
                    wire,
                    codec.as_deref(),
                    quote!(skip_serializing_if = "::core::option::Option::is_none"),
                );
                let doc = super::Doc(format!(" `{wire}`: `{}`.", p.type_name));
                field_tokens.extend(quote! {
                    #[doc = #doc]
                    #serde
                    pub #field: ::core::option::Option<#ty>,
                });
            }
            let doc = super::Doc(format!(" The `{}` complex type.", t.name));
            items.extend(quote! {
                #[doc = #doc]
                #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::default::Default, ::core::cmp::PartialEq,
                    #rt::__private::serde::Serialize, #rt::__private::serde::Deserialize)]
                #[serde(crate = #serde_crate)]
                pub struct #name {
                    #field_tokens
                }
            });
        }
        quote! {
            /// Complex types used by the generated tables and operations.
            #[allow(dead_code)]
            pub mod complex_types {
                #[allow(unused_imports)]
                use super::{complex_types, enum_types};
                #items
            }
        }
    }

    pub(crate) fn enum_types(&self) -> TokenStream {
        let serde_crate = &self.serde_crate;
        let rt = &self.runtime;
        let mut items = TokenStream::new();
        for t in &self.selection.enum_types {
            let Some(name) = self.enum_names.get(&t.qualified_name()) else {
                continue;
            };
            let name = ident::ident(name);
            let mut variants = Names::camel_reserving(&[]);
            let mut variant_tokens = TokenStream::new();
            for m in &t.members {
                let variant = ident::ident(&variants.unique(ident::type_name(&m.name)));
                let wire = &m.name;
                let doc = super::Doc(format!(" `{wire}` ({}).", m.value));
                variant_tokens.extend(quote! {
                    #[doc = #doc]
                    #[serde(rename = #wire)]
                    #variant,
                });
            }
            let docs = doc_lines(&[format!("The `{}` enum type.", t.name)]);
            items.extend(quote! {
                #docs
                #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash,
                    #rt::__private::serde::Serialize, #rt::__private::serde::Deserialize)]
                #[serde(crate = #serde_crate)]
                pub enum #name {
                    #variant_tokens
                }
            });
        }
        if !self.has_enum_module() {
            return TokenStream::new();
        }
        quote! {
            /// Enum types used by the generated tables and operations.
            #[allow(dead_code)]
            pub mod enum_types {
                #items
            }
        }
    }
}
