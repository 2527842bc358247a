//! The wire forms of Web API values that serde's defaults do not produce, for `Option` fields
//! of generated records: each module's functions serve `#[serde(with = "...::codec::decimal")]`
//! and its `Form` type the shared record reader and writer of [`super::record`].

/// `Form`: a module's functions as a [`super::record::Codec`] type.
macro_rules! form {
    ($value:ty) => {
        /// This wire form as a type, for generated records.
        #[derive(Debug)]
        pub enum Form {}

        impl crate::typed::record::Codec for Form {
            type Value = $value;

            fn serialize<S: serde::Serializer>(
                value: &Option<$value>,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                serialize(value, serializer)
            }

            fn deserialize<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<$value>, D::Error> {
                deserialize(deserializer)
            }
        }
    };
}

/// `Edm.Decimal` (money included): a JSON number with every digit kept, never through `f64`.
/// Numbers and numeric strings are both read.
pub mod decimal {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    form!(Decimal);

    /// Writes `Some` as a JSON number.
    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision_option::serialize(value, serializer)
    }

    /// Reads a number, a numeric string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        rust_decimal::serde::arbitrary_precision_option::deserialize(deserializer)
    }
}

/// `Edm.DateTimeOffset`: RFC 3339 (`2024-05-01T08:30:00Z`).
pub mod date_time {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    form!(OffsetDateTime);

    /// Writes `Some` as RFC 3339 text.
    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(value, serializer)
    }

    /// Reads RFC 3339 text or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(deserializer)
    }
}

/// `Edm.Date`: `YYYY-MM-DD`.
pub mod date {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    form!(Date);

    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]");

    /// Writes `Some` as `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(
        value: &Option<Date>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(date) => {
                let text = date.format(FORMAT).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(&text)
            }
            None => serializer.serialize_none(),
        }
    }

    /// Reads `YYYY-MM-DD` or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => Date::parse(&text, FORMAT)
                .map(Some)
                .map_err(|e| D::Error::custom(format!("invalid date `{text}`: {e}"))),
            None => Ok(None),
        }
    }
}

/// `Edm.Binary`: standard base64 text.
pub mod binary {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    form!(Vec<u8>);

    /// Writes `Some` as base64 text.
    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads base64 text or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(|e| D::Error::custom(format!("invalid base64: {e}"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};
    use time::macros::{date, datetime};

    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    struct Record {
        #[serde(
            default,
            with = "super::decimal",
            skip_serializing_if = "Option::is_none"
        )]
        money: Option<Decimal>,
        #[serde(
            default,
            with = "super::date_time",
            skip_serializing_if = "Option::is_none"
        )]
        at: Option<time::OffsetDateTime>,
        #[serde(default, with = "super::date", skip_serializing_if = "Option::is_none")]
        day: Option<time::Date>,
        #[serde(
            default,
            with = "super::binary",
            skip_serializing_if = "Option::is_none"
        )]
        bytes: Option<Vec<u8>>,
    }

    #[test]
    fn round_trips_exactly() {
        let json = r#"{"money":1234567890123.4567,"at":"2024-01-02T03:04:05Z","day":"2024-02-29","bytes":"AAEC"}"#;
        let record: Record = serde_json::from_str(json).unwrap();
        assert_eq!(record.money, Some("1234567890123.4567".parse().unwrap()));
        assert_eq!(record.at, Some(datetime!(2024-01-02 03:04:05 UTC)));
        assert_eq!(record.day, Some(date!(2024 - 02 - 29)));
        assert_eq!(record.bytes, Some(vec![0, 1, 2]));
        assert_eq!(serde_json::to_string(&record).unwrap(), json);
    }

    #[test]
    fn nulls_missing_and_strings() {
        let record: Record =
            serde_json::from_str(r#"{"money":null,"at":null,"day":null,"bytes":null}"#).unwrap();
        assert_eq!(record, Record::default());
        let record: Record = serde_json::from_str("{}").unwrap();
        assert_eq!(record, Record::default());
        let record: Record = serde_json::from_str(r#"{"money":"10.50"}"#).unwrap();
        assert_eq!(record.money, Some("10.50".parse().unwrap()));
        assert!(serde_json::from_str::<Record>(r#"{"day":"29/02/2024"}"#).is_err());
        assert!(serde_json::from_str::<Record>(r#"{"bytes":"***"}"#).is_err());
    }
}
