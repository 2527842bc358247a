//! EDM types → Rust types, and the serde codec a field needs on the wire.

use proc_macro2::TokenStream;
use quote::quote;

use super::Context;
use crate::csdl::{Primitive, TypeRef};

/// The Rust type of a value (without `Option`), and the runtime codec module that reads and
/// writes an `Option` of it when serde's own form is not the Web API's.
pub(crate) struct RustType {
    pub ty: TokenStream,
    pub codec: Option<&'static str>,
}

impl Context<'_> {
    pub(crate) fn rust_type(&self, ty: &TypeRef) -> RustType {
        let rt = &self.runtime;
        let plain = |ty: TokenStream| RustType { ty, codec: None };
        match ty {
            TypeRef::Primitive(p) => self.primitive(*p),
            TypeRef::Definition(name) => match self.metadata.type_definition(name) {
                Some(d) => self.primitive(d.underlying_type),
                None => plain(quote!(#rt::__private::serde_json::Value)),
            },
            TypeRef::Complex(name) => match self.complex_path(name) {
                Some(path) => plain(path),
                None => plain(quote!(#rt::__private::serde_json::Value)),
            },
            TypeRef::Enum(name) => match self.enum_path(name) {
                Some(path) => plain(path),
                // Flags enums travel as "A,B" strings.
                None => plain(quote!(::std::string::String)),
            },
            TypeRef::Entity(_) => plain(quote!(#rt::__private::serde_json::Value)),
            TypeRef::Collection(inner) => {
                let element = self.rust_type(inner);
                if element.codec.is_some() {
                    // Collections of these are rare in Dataverse; keep them as JSON, losslessly.
                    plain(quote!(::std::vec::Vec<#rt::__private::serde_json::Value>))
                } else {
                    let ty = element.ty;
                    plain(quote!(::std::vec::Vec<#ty>))
                }
            }
        }
    }

    fn primitive(&self, p: Primitive) -> RustType {
        let rt = &self.runtime;
        let plain = |ty: TokenStream| RustType { ty, codec: None };
        let coded = |ty: TokenStream, codec: &'static str| RustType {
            ty,
            codec: Some(codec),
        };
        match p {
            Primitive::Guid => plain(quote!(#rt::__private::uuid::Uuid)),
            Primitive::String => plain(quote!(::std::string::String)),
            Primitive::Boolean => plain(quote!(bool)),
            Primitive::Byte => plain(quote!(u8)),
            Primitive::SByte => plain(quote!(i8)),
            Primitive::Int16 => plain(quote!(i16)),
            Primitive::Int32 => plain(quote!(i32)),
            Primitive::Int64 => plain(quote!(i64)),
            Primitive::Single => plain(quote!(f32)),
            Primitive::Double => plain(quote!(f64)),
            // Money and decimals: exact, never through f64.
            Primitive::Decimal => coded(quote!(#rt::__private::rust_decimal::Decimal), "decimal"),
            Primitive::DateTimeOffset => {
                coded(quote!(#rt::__private::time::OffsetDateTime), "date_time")
            }
            Primitive::Date => coded(quote!(#rt::__private::time::Date), "date"),
            Primitive::Binary => coded(quote!(::std::vec::Vec<u8>), "binary"),
            // ISO 8601 text on the wire; kept as written.
            Primitive::Duration | Primitive::TimeOfDay => plain(quote!(::std::string::String)),
            _ => plain(quote!(#rt::__private::serde_json::Value)),
        }
    }
}
