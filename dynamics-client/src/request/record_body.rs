//! A record's request body, written in one pass.
//!
//! The record is serialised field by field straight into JSON text; fields Dataverse refuses on
//! write are never serialised at all, and lookups set with [`Binds`](crate::entity::Binds) (or
//! `$n` references inside a change set) join the same object. No JSON value tree is built.

use std::collections::BTreeMap;

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::value::RawValue;

use crate::entity::Entity;
use crate::error::{Error, Result};

/// Writes `record` for a create (`drop_key` `None`) or a `PATCH` (`drop_key` the primary key,
/// which the URL carries), adding each `(name, value)` of `extra` as a string field (an
/// `@odata.bind` to a record created earlier in the same change set).
///
/// Drops what Dataverse refuses on write: instance annotations (`@odata.etag`), property
/// annotations (`name@OData.Community.Display.V1.FormattedValue`), read-only lookup values
/// (`_parentaccountid_value`) and, for `PATCH`, the primary key. `nav@odata.bind` entries are
/// kept: they are how lookups are set. The record's binds, then `extra`, win over a field of
/// the same name. Fields are written in name order.
pub(crate) fn write_record<T: Entity>(
    record: &T,
    drop_key: Option<&str>,
    extra: &[(String, String)],
) -> Result<Vec<u8>> {
    let mut fields = Fields {
        kept: BTreeMap::new(),
        drop_key,
    };
    record.serialize(&mut fields).map_err(|e| {
        Error::invalid_input(format!(
            "could not serialize {} record: {e}",
            T::ENTITY_SET_NAME
        ))
    })?;
    let mut kept = fields.kept;
    let binds = record.binds().into_iter().flat_map(|b| b.iter());
    let added = binds
        .map(|bind| (bind.key(), bind.value()))
        .chain(extra.iter().cloned());
    for (name, value) in added {
        kept.insert(name, raw(&value)?);
    }
    serde_json::to_vec(&kept)
        .map_err(|e| Error::invalid_input(format!("could not serialize record: {e}")))
}

/// A field Dataverse takes on write.
fn is_writable(name: &str) -> bool {
    if name.ends_with("@odata.bind") {
        return true;
    }
    let lookup_value = name.starts_with('_') && name.ends_with("_value");
    !name.contains('@') && !lookup_value
}

fn raw<V: Serialize + ?Sized>(value: &V) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| Error::invalid_input(format!("could not serialize record: {e}")))
}

/// The writable fields of the record being written, each already JSON text.
struct Fields<'k> {
    kept: BTreeMap<String, Box<RawValue>>,
    drop_key: Option<&'k str>,
}

impl Fields<'_> {
    fn field<V: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &V,
    ) -> Result<(), serde_json::Error> {
        if is_writable(name) && Some(name) != self.drop_key {
            let value = serde_json::value::to_raw_value(value)?;
            self.kept.insert(name.to_owned(), value);
        }
        Ok(())
    }
}

fn not_an_object<T>() -> Result<T, serde_json::Error> {
    Err(ser::Error::custom(
        "a record must serialize as a JSON object",
    ))
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            not_an_object()
        })*
    };
}

impl<'a, 'k> Serializer for &'a mut Fields<'k> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<(), serde_json::Error>;
    type SerializeTuple = Impossible<(), serde_json::Error>;
    type SerializeTupleStruct = Impossible<(), serde_json::Error>;
    type SerializeTupleVariant = Impossible<(), serde_json::Error>;
    type SerializeMap = MapFields<'a, 'k>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), serde_json::Error>;

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<(), Self::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &V,
    ) -> Result<(), Self::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<(), Self::Error> {
        not_an_object()
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        not_an_object()
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        not_an_object()
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        not_an_object()
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        not_an_object()
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Ok(MapFields {
            fields: self,
            key: None,
        })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Self::Error> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        not_an_object()
    }
}

impl SerializeStruct for &mut Fields<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &V,
    ) -> Result<(), Self::Error> {
        self.field(name, value)
    }

    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A record written as a map (a `#[serde(flatten)]` field makes serde do so).
struct MapFields<'a, 'k> {
    fields: &'a mut Fields<'k>,
    key: Option<String>,
}

impl SerializeMap for MapFields<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), Self::Error> {
        match serde_json::to_value(key)? {
            serde_json::Value::String(name) => {
                self.key = Some(name);
                Ok(())
            }
            _ => Err(ser::Error::custom("a record's field names must be strings")),
        }
    }

    fn serialize_value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Self::Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| <serde_json::Error as ser::Error>::custom("a value without a key"))?;
        self.fields.field(&key, value)
    }

    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    #[derive(Serialize, Deserialize)]
    struct Account {
        #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
        id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        revenue: Option<f64>,
        #[serde(rename = "@odata.etag", skip_serializing_if = "Option::is_none")]
        etag: Option<String>,
        #[serde(
            rename = "_parentaccountid_value",
            skip_serializing_if = "Option::is_none"
        )]
        parent: Option<Uuid>,
        #[serde(
            rename = "parentaccountid@odata.bind",
            skip_serializing_if = "Option::is_none"
        )]
        parent_bind: Option<String>,
    }

    impl Entity for Account {
        const LOGICAL_NAME: &'static str = "account";
        const ENTITY_SET_NAME: &'static str = "accounts";
        const PRIMARY_KEY: &'static str = "accountid";
        fn id(&self) -> Option<Uuid> {
            self.id
        }
    }

    #[test]
    fn a_patch_has_exactly_the_set_writable_fields() {
        let a = Account {
            id: Some(Uuid::nil()),
            name: Some("Contoso".into()),
            revenue: None,
            etag: Some("W/\"1\"".into()),
            parent: Some(Uuid::nil()),
            parent_bind: Some("/accounts(00000000-0000-0000-0000-000000000000)".into()),
        };
        let body = write_record(&a, Some(Account::PRIMARY_KEY), &[]).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"name":"Contoso","parentaccountid@odata.bind":"/accounts(00000000-0000-0000-0000-000000000000)"}"#
        );
        let body = write_record(&a, None, &[]).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(r#""accountid":"00000000-0000-0000-0000-000000000000""#));
    }

    #[test]
    fn extra_fields_join_the_object_and_win_over_the_record() {
        let a = Account {
            id: Some(Uuid::nil()),
            name: Some("Contoso".into()),
            revenue: Some(1.5),
            etag: None,
            parent: None,
            parent_bind: None,
        };
        let extra = [
            (
                "@odata.type".to_owned(),
                "Microsoft.Dynamics.CRM.account".to_owned(),
            ),
            ("name".to_owned(), "Fabrikam".to_owned()),
        ];
        let body = String::from_utf8(write_record(&a, Some("accountid"), &extra).unwrap()).unwrap();
        assert_eq!(
            body,
            r#"{"@odata.type":"Microsoft.Dynamics.CRM.account","name":"Fabrikam","revenue":1.5}"#
        );
    }

    #[test]
    fn a_record_that_is_not_an_object_is_refused() {
        #[derive(Deserialize)]
        struct Scalar;
        impl Serialize for Scalar {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u32(7)
            }
        }
        impl Entity for Scalar {
            const LOGICAL_NAME: &'static str = "account";
            const ENTITY_SET_NAME: &'static str = "accounts";
            const PRIMARY_KEY: &'static str = "accountid";
            fn id(&self) -> Option<Uuid> {
                None
            }
        }
        let err = write_record(&Scalar, None, &[]).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
    }
}
