//! The JSON form of generated records, written once here for every table.
//!
//! serde's derives emit, per field, a variant of a field enum, match arms in three field
//! visitors, a local and a match arm in the map visitor and a length term and a call in the
//! serializer. For Dataverse tables with hundreds of columns that is most of the time it takes
//! to compile generated code. A generated record instead names its members in one sorted
//! table and gives one line per column to [`Fields::read`] and one to its `Serialize` impl;
//! the loop, the key lookup and the skipping of absent values live here.
//!
//! Not public API: used by generated code through `__private::record`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// A generated record's members, for the shared map visitor.
pub trait Fields: Default {
    /// The wire names the record reads, sorted by length and then bytewise (see [`by_length`]).
    /// A member's number in [`Fields::read`] is its index here.
    const FIELDS: &'static [&'static str];
    /// What a wrong JSON value is told it should have been, e.g. "a `task` record".
    const EXPECTING: &'static str;

    /// Reads the value of member number `field` from `map` into the record.
    fn read<'de, A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error>;
}

/// Reads a record from a JSON object: members it does not know are skipped, absent and
/// `null` ones stay `None`, and a member given twice keeps the last value.
pub fn deserialize<'de, R: Fields, D: Deserializer<'de>>(deserializer: D) -> Result<R, D::Error> {
    deserializer.deserialize_map(RecordVisitor(PhantomData))
}

struct RecordVisitor<R>(PhantomData<R>);

impl<'de, R: Fields> Visitor<'de> for RecordVisitor<R> {
    type Value = R;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<R, A::Error> {
        let mut record = R::default();
        while let Some(field) = map.next_key_seed(Key(R::FIELDS))? {
            match field {
                Some(field) => record.read(field, &mut map)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

/// A member name, looked up in a record's sorted names without being copied.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(find(self.0, name))
    }

    fn visit_bytes<E: serde::de::Error>(self, name: &[u8]) -> Result<Self::Value, E> {
        Ok(std::str::from_utf8(name)
            .ok()
            .and_then(|name| find(self.0, name)))
    }
}

/// The order of [`Fields::FIELDS`]: shorter names first, then bytewise. Most comparisons in
/// the search end at the lengths, without reading the names.
pub fn by_length(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn find(fields: &[&str], name: &str) -> Option<usize> {
    fields.binary_search_by(|probe| by_length(probe, name)).ok()
}

/// A wire form that serde's own does not produce (exact decimals, dates, base64), for an
/// `Option` member. Implemented by the marker types of [`super::codec`].
pub trait Codec {
    /// The Rust type of the member's value.
    type Value;
    /// Writes `Some` in the wire form.
    fn serialize<S: Serializer>(
        value: &Option<Self::Value>,
        serializer: S,
    ) -> Result<S::Ok, S::Error>;
    /// Reads the wire form or `null`.
    fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self::Value>, D::Error>;
}

/// Reads the current member's value through a codec.
pub fn read_coded<'de, C: Codec, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<C::Value>, A::Error> {
    map.next_value_seed(CodedSeed::<C>(PhantomData))
}

struct CodedSeed<C>(PhantomData<C>);

impl<'de, C: Codec> DeserializeSeed<'de> for CodedSeed<C> {
    type Value = Option<C::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        C::deserialize(deserializer)
    }
}

struct Coded<'a, C: Codec>(&'a Option<C::Value>);

impl<C: Codec> Serialize for Coded<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        C::serialize(self.0, serializer)
    }
}

/// Writes a record as a JSON object, leaving out members that are `None`.
pub struct Writer<M>(M);

/// Starts writing a record.
pub fn writer<S: Serializer>(serializer: S) -> Result<Writer<S::SerializeMap>, S::Error> {
    serializer.serialize_map(None).map(Writer)
}

impl<M: SerializeMap> Writer<M> {
    /// Writes `name: value` when the value is `Some`.
    pub fn field<T: Serialize>(
        &mut self,
        name: &'static str,
        value: &Option<T>,
    ) -> Result<(), M::Error> {
        match value {
            Some(value) => self.0.serialize_entry(name, value),
            None => Ok(()),
        }
    }

    /// Writes `name: value` through a codec when the value is `Some`.
    pub fn coded<C: Codec>(
        &mut self,
        name: &'static str,
        value: &Option<C::Value>,
    ) -> Result<(), M::Error> {
        match value {
            Some(_) => self.0.serialize_entry(name, &Coded::<C>(value)),
            None => Ok(()),
        }
    }

    /// Closes the object.
    pub fn end(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed::codec;
    use serde::Deserialize;

    /// What the generator writes for a small table, by hand.
    #[derive(Debug, Default, PartialEq)]
    struct Task {
        subject: Option<String>,
        due: Option<time::OffsetDateTime>,
        owner: Option<uuid::Uuid>,
        etag: Option<String>,
    }

    impl Fields for Task {
        const FIELDS: &'static [&'static str] =
            &["due", "subject", "@odata.etag", "_ownerid_value"];
        const EXPECTING: &'static str = "a `task` record";

        fn read<'de, A: MapAccess<'de>>(
            &mut self,
            field: usize,
            map: &mut A,
        ) -> Result<(), A::Error> {
            match field {
                0 => self.due = read_coded::<codec::date_time::Form, A>(map)?,
                1 => self.subject = map.next_value()?,
                2 => self.etag = map.next_value()?,
                3 => self.owner = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    impl<'de> Deserialize<'de> for Task {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserialize(deserializer)
        }
    }

    impl Serialize for Task {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut w = writer(serializer)?;
            w.field("subject", &self.subject)?;
            w.coded::<codec::date_time::Form>("due", &self.due)?;
            w.end()
        }
    }

    #[test]
    fn names_are_sorted() {
        assert!(
            Task::FIELDS
                .windows(2)
                .all(|w| by_length(w[0], w[1]).is_lt())
        );
    }

    #[test]
    fn reads_known_members_and_skips_the_rest() {
        let json = r#"{"@odata.etag":"W/\"7\"","subject":"Call","due":"2024-01-02T03:04:05Z",
            "_ownerid_value":"00000000-0000-0000-0000-000000000001",
            "subject@OData.Community.Display.V1.FormattedValue":"Call",
            "other":{"nested":[1,2,{"a":null}]},"zzz":null}"#;
        let task: Task = serde_json::from_str(json).unwrap();
        assert_eq!(task.subject.as_deref(), Some("Call"));
        assert_eq!(task.etag.as_deref(), Some("W/\"7\""));
        assert_eq!(
            task.due,
            Some(time::macros::datetime!(2024-01-02 03:04:05 UTC))
        );
        assert_eq!(task.owner, Some(uuid::Uuid::from_u128(1)));
    }

    #[test]
    fn nulls_and_absent_members_are_none() {
        let task: Task = serde_json::from_str(r#"{"subject":null,"due":null}"#).unwrap();
        assert_eq!(task, Task::default());
        let task: Task = serde_json::from_str("{}").unwrap();
        assert_eq!(task, Task::default());
    }

    #[test]
    fn escaped_names_are_found() {
        // serde_json hands over an unescaped copy, not a borrow, when the name has escapes.
        let task: Task = serde_json::from_str(r#"{"sub\u006aect":"x"}"#).unwrap();
        assert_eq!(task.subject.as_deref(), Some("x"));
    }

    #[test]
    fn wrong_values_are_errors_naming_the_place() {
        let error = serde_json::from_str::<Task>(r#"{"due":"yesterday"}"#).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
        let error = serde_json::from_str::<Task>("[1]").unwrap_err();
        assert!(error.to_string().contains("a `task` record"), "{error}");
        let mut de = serde_json::Deserializer::from_str(r#"{"subject":"a","due":5}"#);
        let error = serde_path_to_error::deserialize::<_, Task>(&mut de).unwrap_err();
        assert_eq!(error.path().to_string(), "due");
    }

    #[test]
    fn writes_only_present_members_and_never_read_only_ones() {
        let task = Task {
            subject: Some("Call".into()),
            due: None,
            owner: Some(uuid::Uuid::nil()),
            etag: Some("W/\"1\"".into()),
        };
        assert_eq!(
            serde_json::to_string(&task).unwrap(),
            r#"{"subject":"Call"}"#
        );
        let task = Task {
            due: Some(time::macros::datetime!(2024-01-02 03:04:05 UTC)),
            ..Task::default()
        };
        assert_eq!(
            serde_json::to_string(&task).unwrap(),
            r#"{"due":"2024-01-02T03:04:05Z"}"#
        );
        assert_eq!(serde_json::to_string(&Task::default()).unwrap(), "{}");
    }
}
