//! The runtime's one table of Edm primitive types, [`EDM_FORMS`]: for each, the Rust type a
//! generated record holds, the codec that reads and writes it when serde's own form is not the
//! Web API's ([`codec`](super::codec), and `operations::required_codec` for required operation
//! parameters), and how it is written as an OData literal ([`Literal`]).
//!
//! It is one of three tables that point at each other; adding a type is one coherent change
//! across them:
//! - the generator's `EDM_TYPES` (`dynamics-codegen/src/generate/types.rs`): which Rust type and
//!   codec generated code names;
//! - this one: what the runtime does with that type;
//! - the emulator's `EDM_KINDS` (`dynamics-emulator/src/schema.rs`): how the stand-in service
//!   checks a value of it.
//!
//! `tests/tests/edm_tables.rs` checks that the three name the same types, and that the generator
//! and this table name the same codecs; the unit test below checks each row's wire form and
//! literal against the runtime's codecs.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::codec;
use super::literal::Literal;
use super::record::Codec;

/// What the runtime does with one Edm primitive type.
pub(crate) struct EdmForm {
    /// The Edm type, without the `Edm.` prefix (`Decimal`).
    pub(crate) edm: &'static str,
    /// The Rust type of a generated record's member.
    pub(crate) rust: &'static str,
    /// The module of [`codec`] (and the function of `operations::required_codec`) for the
    /// type's wire form; `None` when serde's own form is the Web API's.
    pub(crate) codec: Option<&'static str>,
    /// A value as the Web API writes it in JSON. This field and the two after it are the row's
    /// evidence, read by the unit test that checks each row against the codecs.
    #[cfg_attr(not(test), allow(dead_code))]
    sample: &'static str,
    /// `sample` as an OData literal in `$filter`; `None` for a type the typed query builder has
    /// no literal for.
    #[cfg_attr(not(test), allow(dead_code))]
    literal: Option<&'static str>,
    /// Reads a JSON value through the type's codec: the JSON it writes back, and its literal.
    #[cfg_attr(not(test), allow(dead_code))]
    read: fn(&str) -> Reading,
}

/// What reading a sample gives: the JSON written back and the literal, or why it failed.
type Reading = Result<(String, Option<String>), String>;

/// Each Edm primitive type generated records hold. The generator keeps any other (`Edm.Stream`,
/// spatial types, `Edm.Untyped`) as JSON.
pub(crate) const EDM_FORMS: &[EdmForm] = &[
    EdmForm {
        edm: "Guid",
        rust: "uuid::Uuid",
        codec: None,
        sample: r#""6f2c1a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b""#,
        // Unquoted, as the Web API filters on ids:
        // https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
        literal: Some("6f2c1a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
        read: read_literal::<Plain<Uuid>>,
    },
    EdmForm {
        edm: "String",
        rust: "String",
        codec: None,
        sample: r#""O'Neil""#,
        literal: Some("'O''Neil'"),
        read: read_literal::<Plain<String>>,
    },
    EdmForm {
        edm: "Boolean",
        rust: "bool",
        codec: None,
        sample: "true",
        literal: Some("true"),
        read: read_literal::<Plain<bool>>,
    },
    EdmForm {
        edm: "Byte",
        rust: "u8",
        codec: None,
        sample: "255",
        literal: Some("255"),
        read: read_literal::<Plain<u8>>,
    },
    EdmForm {
        edm: "SByte",
        rust: "i8",
        codec: None,
        sample: "-128",
        literal: Some("-128"),
        read: read_literal::<Plain<i8>>,
    },
    EdmForm {
        edm: "Int16",
        rust: "i16",
        codec: None,
        sample: "-32768",
        literal: Some("-32768"),
        read: read_literal::<Plain<i16>>,
    },
    EdmForm {
        edm: "Int32",
        rust: "i32",
        codec: None,
        sample: "2147483647",
        literal: Some("2147483647"),
        read: read_literal::<Plain<i32>>,
    },
    EdmForm {
        edm: "Int64",
        rust: "i64",
        codec: None,
        // Past what an f64 holds exactly: read as an integer, never through a float.
        sample: "9007199254740993",
        literal: Some("9007199254740993"),
        read: read_literal::<Plain<i64>>,
    },
    EdmForm {
        edm: "Single",
        rust: "f32",
        codec: None,
        sample: "1.5",
        literal: Some("1.5"),
        read: read_literal::<Plain<f32>>,
    },
    EdmForm {
        edm: "Double",
        rust: "f64",
        codec: None,
        sample: "0.1",
        literal: Some("0.1"),
        read: read_literal::<Plain<f64>>,
    },
    EdmForm {
        edm: "Decimal",
        rust: "rust_decimal::Decimal",
        codec: Some("decimal"),
        // Money and decimals: every digit kept, never through f64.
        sample: "1234567890123.4567",
        literal: Some("1234567890123.4567"),
        read: read_literal::<codec::decimal::Form>,
    },
    EdmForm {
        edm: "DateTimeOffset",
        rust: "time::OffsetDateTime",
        codec: Some("date_time"),
        sample: r#""2024-01-02T03:04:05Z""#,
        literal: Some("2024-01-02T03:04:05Z"),
        read: read_literal::<codec::date_time::Form>,
    },
    EdmForm {
        edm: "Date",
        rust: "time::Date",
        codec: Some("date"),
        sample: r#""2024-02-29""#,
        literal: Some("2024-02-29"),
        read: read_literal::<codec::date::Form>,
    },
    EdmForm {
        edm: "Binary",
        rust: "Vec<u8>",
        codec: Some("binary"),
        sample: r#""AAEC""#,
        literal: None,
        read: read::<codec::binary::Form>,
    },
    // ISO 8601 text, kept as written. No column of the metadata corpus has either type, and
    // the typed query builder writes no literal for them.
    EdmForm {
        edm: "Duration",
        rust: "String",
        codec: None,
        sample: r#""PT1H30M""#,
        literal: None,
        read: read::<Plain<String>>,
    },
    EdmForm {
        edm: "TimeOfDay",
        rust: "String",
        codec: None,
        sample: r#""08:30:00""#,
        literal: None,
        read: read::<Plain<String>>,
    },
];

/// Each Edm type of the runtime's table (`EDM_FORMS`) with its Rust type and codec, for the test that keeps the
/// three tables in step.
pub fn edm_forms() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    EDM_FORMS
        .iter()
        .map(|form| (form.edm, form.rust, form.codec))
        .collect()
}

/// serde's own form of `T`, as a [`Codec`].
struct Plain<T>(std::marker::PhantomData<T>);

impl<T: Serialize + DeserializeOwned> Codec for Plain<T> {
    type Value = T;

    fn serialize<S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(deserializer)
    }
}

/// A value written through a codec.
struct Coded<'a, C: Codec>(&'a Option<C::Value>);

impl<C: Codec> Serialize for Coded<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        C::serialize(self.0, serializer)
    }
}

fn decode<C: Codec>(wire: &str) -> Result<C::Value, String> {
    let mut reader = serde_json::Deserializer::from_str(wire);
    C::deserialize(&mut reader)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("`{wire}` read as null"))
}

fn encode<C: Codec>(value: C::Value) -> Result<String, String> {
    serde_json::to_string(&Coded::<C>(&Some(value))).map_err(|e| e.to_string())
}

fn read<C: Codec>(wire: &str) -> Reading {
    Ok((encode::<C>(decode::<C>(wire)?)?, None))
}

fn read_literal<C: Codec>(wire: &str) -> Reading
where
    C::Value: Literal,
{
    let value = decode::<C>(wire)?;
    let literal = super::literal::literal(&value);
    Ok((encode::<C>(value)?, Some(literal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_reads_writes_back_and_quotes_its_sample_as_the_table_says() {
        for form in EDM_FORMS {
            let (wire, literal) =
                (form.read)(form.sample).unwrap_or_else(|e| panic!("Edm.{}: {e}", form.edm));
            assert_eq!(wire, form.sample, "Edm.{}: written back", form.edm);
            assert_eq!(
                literal.as_deref(),
                form.literal,
                "Edm.{}: literal",
                form.edm
            );
        }
    }

    #[test]
    fn each_type_has_one_row() {
        let mut names: Vec<&str> = EDM_FORMS.iter().map(|form| form.edm).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "{names:?}");
    }

    #[test]
    fn a_codec_named_in_the_table_reads_what_serde_alone_would_get_wrong() {
        // Without its codec, a decimal goes through f64 and loses digits: the reason the row
        // names one.
        let through_f64: f64 = serde_json::from_str("1234567890123.4567").unwrap();
        assert_ne!(through_f64.to_string(), "1234567890123.4567");
        let (exact, _) = read_literal::<codec::decimal::Form>("1234567890123.4567").unwrap();
        assert_eq!(exact, "1234567890123.4567");
    }
}
