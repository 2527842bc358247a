//! EDM types → Rust types, and the serde codec a field needs on the wire.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

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
        let Some(edm) = EDM_TYPES.iter().find(|t| t.edm == p) else {
            return RustType {
                ty: quote!(#rt::__private::serde_json::Value),
                codec: None,
            };
        };
        let ty = match edm.rust {
            Rust::Primitive(name) => {
                let name = format_ident!("{name}");
                quote!(#name)
            }
            Rust::Std(path) => {
                let path = path.iter().map(|s| format_ident!("{s}"));
                quote!(::std #(::#path)*)
            }
            Rust::Runtime(path) => {
                let path = path.iter().map(|s| format_ident!("{s}"));
                quote!(#rt::__private #(::#path)*)
            }
            Rust::Bytes => quote!(::std::vec::Vec<u8>),
        };
        RustType {
            ty,
            codec: edm.codec,
        }
    }
}

/// Where a generated field's Rust type comes from.
enum Rust {
    /// A primitive type of the language (`bool`, `i32`).
    Primitive(&'static str),
    /// A path under `::std`.
    Std(&'static [&'static str]),
    /// A path under the runtime's `__private` re-exports (`uuid::Uuid`).
    Runtime(&'static [&'static str]),
    /// `::std::vec::Vec<u8>`.
    Bytes,
}

/// Each Edm type the generator maps (`Decimal`), with the Rust type it generates
/// (`rust_decimal::Decimal`, paths under the runtime without its `__private` prefix) and the
/// client codec it names: for the test that keeps the generator's, the client's and the
/// emulator's tables in step (`tests/tests/edm_tables.rs`).
pub fn edm_types() -> Vec<(String, String, Option<&'static str>)> {
    EDM_TYPES
        .iter()
        .map(|t| {
            let rust = match t.rust {
                Rust::Primitive(name) => name.to_owned(),
                Rust::Std(path) => path.last().copied().unwrap_or_default().to_owned(),
                Rust::Runtime(path) => path.join("::"),
                Rust::Bytes => "Vec<u8>".to_owned(),
            };
            (format!("{:?}", t.edm), rust, t.codec)
        })
        .collect()
}

/// How one Edm primitive type is generated.
struct EdmType {
    edm: Primitive,
    rust: Rust,
    /// The module of `dynamics-client/src/typed/codec.rs` (re-exported as
    /// `__private::codec`) that reads and writes an `Option` of the type when serde's own form
    /// is not the Web API's; `None` when serde's is.
    codec: Option<&'static str>,
}

/// Each Edm primitive type the generator knows, with its Rust type and codec; any other
/// (`Edm.Stream`, spatial types, `Edm.Untyped`) is kept as JSON. Adding a type is one coherent
/// change across the tables that point at each other: this one, the client's `EDM_FORMS`
/// (`dynamics-client/src/typed/edm.rs`: codecs, required-parameter codecs and literals), and the
/// emulator's `EDM_KINDS` (`dynamics-emulator/src/schema.rs`). `tests/tests/edm_tables.rs`
/// checks that the three agree.
const EDM_TYPES: &[EdmType] = &[
    EdmType {
        edm: Primitive::Guid,
        rust: Rust::Runtime(&["uuid", "Uuid"]),
        codec: None,
    },
    EdmType {
        edm: Primitive::String,
        rust: Rust::Std(&["string", "String"]),
        codec: None,
    },
    EdmType {
        edm: Primitive::Boolean,
        rust: Rust::Primitive("bool"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Byte,
        rust: Rust::Primitive("u8"),
        codec: None,
    },
    EdmType {
        edm: Primitive::SByte,
        rust: Rust::Primitive("i8"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Int16,
        rust: Rust::Primitive("i16"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Int32,
        rust: Rust::Primitive("i32"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Int64,
        rust: Rust::Primitive("i64"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Single,
        rust: Rust::Primitive("f32"),
        codec: None,
    },
    EdmType {
        edm: Primitive::Double,
        rust: Rust::Primitive("f64"),
        codec: None,
    },
    // Money and decimals: exact, never through f64.
    EdmType {
        edm: Primitive::Decimal,
        rust: Rust::Runtime(&["rust_decimal", "Decimal"]),
        codec: Some("decimal"),
    },
    EdmType {
        edm: Primitive::DateTimeOffset,
        rust: Rust::Runtime(&["time", "OffsetDateTime"]),
        codec: Some("date_time"),
    },
    EdmType {
        edm: Primitive::Date,
        rust: Rust::Runtime(&["time", "Date"]),
        codec: Some("date"),
    },
    EdmType {
        edm: Primitive::Binary,
        rust: Rust::Bytes,
        codec: Some("binary"),
    },
    // ISO 8601 text on the wire; kept as written.
    EdmType {
        edm: Primitive::Duration,
        rust: Rust::Std(&["string", "String"]),
        codec: None,
    },
    EdmType {
        edm: Primitive::TimeOfDay,
        rust: Rust::Std(&["string", "String"]),
        codec: None,
    },
];
