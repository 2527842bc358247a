//! A table's columns as `$metadata` (read through dynamics-codegen's model) and the choices
//! document describe them, and the conversion of one cell to the JSON Dataverse takes, with
//! the reason when it cannot be converted. Nothing here sends anything: every row is checked
//! before the first request goes out.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use dynamics_codegen::choices::{ChoiceKind, Choices};
use dynamics_codegen::csdl::{EntityType, Metadata, Primitive, TypeRef};
use rust_decimal::Decimal;
use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

/// Labels are matched in this language first (the choices document may carry several).
const ENGLISH: i32 = 1033;

/// What a column of the input file is.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The primary key: the record's id.
    Key,
    /// A column written as itself.
    Property { name: String, kind: Kind },
    /// A lookup by its name (`parentaccountid`), each cell `table:id`.
    Lookup { targets: Vec<LookupTarget> },
    /// A lookup by its navigation property (`parentaccountid@odata.bind`), each cell
    /// `/accounts(id)` (or without the slash).
    Bind {
        navigation: String,
        entity_sets: Vec<String>,
    },
    /// Not something that can be written: the reason.
    Refused(String),
}

/// One table a lookup may point at.
#[derive(Debug, Clone)]
pub(crate) struct LookupTarget {
    pub logical_name: String,
    pub entity_set: String,
    pub navigation: String,
}

/// A property's type, as far as converting a cell goes.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Text {
        max_length: Option<u32>,
    },
    Boolean {
        labels: Vec<(String, bool)>,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Decimal,
    Double,
    Date,
    DateTime,
    Guid,
    Choice {
        options: Vec<(i32, Vec<String>)>,
    },
    MultiChoice {
        options: Vec<(i32, Vec<String>)>,
    },
    /// A type this tool does not write (binary, geography, ...).
    Other(String),
}

/// The table being imported or exported.
#[derive(Debug)]
pub(crate) struct Schema {
    pub logical_name: String,
    pub entity_set: String,
    pub primary_key: String,
    /// Readable columns in `$metadata` order, for an export without `--select`.
    pub readable: Vec<String>,
    /// Lookup names to their value property (`parentaccountid` → `_parentaccountid_value`).
    pub lookups: BTreeMap<String, String>,
    entity: EntityType,
    choices: Option<Choices>,
}

impl Schema {
    /// The table named `table` (logical name or entity set name) of `metadata`.
    pub fn new(metadata: &Metadata, table: &str, choices: Option<Choices>) -> Result<Self, String> {
        let entity = metadata
            .entity_type(table)
            .filter(|e| e.entity_set.is_some())
            .or_else(|| metadata.entity_type_by_set(table))
            .ok_or_else(|| format!("`{table}` is neither a table nor an entity set of $metadata"))?
            .clone();
        let entity_set = entity
            .entity_set
            .clone()
            .ok_or_else(|| format!("table `{table}` has no entity set"))?;
        let primary_key = entity
            .primary_key()
            .ok_or_else(|| format!("table `{table}` has no single-column key"))?
            .to_owned();
        let lookups = entity
            .lookups
            .iter()
            .map(|l| (l.name.clone(), l.property.clone()))
            .collect();
        let readable = entity
            .properties
            .iter()
            .filter(|p| !p.is_lookup_value() && !matches!(p.ty, TypeRef::Collection(_)))
            .map(|p| p.name.clone())
            .collect();
        Ok(Schema {
            logical_name: entity.name.clone(),
            entity_set,
            primary_key,
            readable,
            lookups,
            entity,
            choices,
        })
    }

    /// What the file column `name` writes.
    pub fn target(&self, metadata: &Metadata, name: &str) -> Target {
        if name == self.primary_key {
            return Target::Key;
        }
        if let Some(navigation) = name.strip_suffix("@odata.bind") {
            return self.bind(metadata, navigation);
        }
        if let Some(lookup) = self.entity.lookups.iter().find(|l| l.name == name) {
            let targets = lookup
                .targets
                .iter()
                .filter_map(|t| {
                    Some(LookupTarget {
                        logical_name: t.logical_name.clone(),
                        entity_set: t.entity_set.clone()?,
                        navigation: t.navigation_property.clone(),
                    })
                })
                .collect();
            return Target::Lookup { targets };
        }
        let Some(property) = self.entity.property(name) else {
            return Target::Refused(format!(
                "unknown column `{name}`: {} has no such column",
                self.logical_name
            ));
        };
        if property.is_lookup_value() {
            let lookup = self
                .entity
                .lookup(name)
                .map_or_else(|| name.to_owned(), |l| l.name.clone());
            return Target::Refused(format!(
                "column `{name}` is the read-only value of lookup `{lookup}`: write `{lookup}` \
                 (cells `table:id`) or `<navigation>@odata.bind` instead"
            ));
        }
        if property.is_computed() {
            return Target::Refused(format!("column `{name}` is read-only"));
        }
        Target::Property {
            name: name.to_owned(),
            kind: self.kind(name, &property.ty, property.facets.max_length.as_ref()),
        }
    }

    fn bind(&self, metadata: &Metadata, navigation: &str) -> Target {
        let Some(nav) = self.entity.navigation_property(navigation) else {
            return Target::Refused(format!(
                "unknown column `{navigation}@odata.bind`: {} has no navigation property \
                 `{navigation}` (names are case-sensitive)",
                self.logical_name
            ));
        };
        if nav.collection {
            return Target::Refused(format!(
                "`{navigation}` is a collection; only single-valued lookups are set by a column"
            ));
        }
        // The target type and every type derived from it may be bound.
        let entity_sets = metadata
            .entity_types()
            .iter()
            .filter(|t| metadata.derives_from(&t.qualified_name(), &nav.target))
            .filter_map(|t| t.entity_set.clone())
            .collect();
        Target::Bind {
            navigation: navigation.to_owned(),
            entity_sets,
        }
    }

    fn kind(
        &self,
        column: &str,
        ty: &TypeRef,
        max_length: Option<&dynamics_codegen::csdl::MaxLength>,
    ) -> Kind {
        let choice = self
            .choices
            .as_ref()
            .and_then(|c| c.column(&self.logical_name, column));
        let labelled = |choice: &dynamics_codegen::choices::ChoiceColumn| {
            choice
                .option_set
                .options
                .iter()
                .map(|o| {
                    let mut labels: Vec<String> =
                        o.label(ENGLISH).into_iter().map(str::to_owned).collect();
                    labels.extend(
                        o.labels
                            .values()
                            .filter(|l| !labels.contains(l))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                    (o.value, labels)
                })
                .collect::<Vec<_>>()
        };
        let TypeRef::Primitive(primitive) = ty else {
            return Kind::Other(format!("{ty:?}"));
        };
        match primitive {
            Primitive::String => match choice {
                Some(c) if c.kind == ChoiceKind::MultiSelect => Kind::MultiChoice {
                    options: labelled(c),
                },
                _ => Kind::Text {
                    max_length: match max_length {
                        Some(dynamics_codegen::csdl::MaxLength::Length(n)) => {
                            u32::try_from(*n).ok()
                        }
                        _ => None,
                    },
                },
            },
            Primitive::Boolean => Kind::Boolean {
                labels: choice
                    .map(|c| {
                        labelled(c)
                            .into_iter()
                            .flat_map(|(value, labels)| {
                                labels.into_iter().map(move |l| (l, value != 0))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            Primitive::Int32 | Primitive::Int16 | Primitive::Byte | Primitive::SByte
                if choice.is_some() =>
            {
                let c = choice.expect("checked just above");
                if c.kind == ChoiceKind::MultiSelect {
                    Kind::MultiChoice {
                        options: labelled(c),
                    }
                } else {
                    Kind::Choice {
                        options: labelled(c),
                    }
                }
            }
            Primitive::Byte => Kind::Integer { min: 0, max: 255 },
            Primitive::SByte => Kind::Integer {
                min: -128,
                max: 127,
            },
            Primitive::Int16 => Kind::Integer {
                min: i16::MIN.into(),
                max: i16::MAX.into(),
            },
            Primitive::Int32 => Kind::Integer {
                min: i32::MIN.into(),
                max: i32::MAX.into(),
            },
            Primitive::Int64 => Kind::Integer {
                min: i64::MIN,
                max: i64::MAX,
            },
            Primitive::Decimal => Kind::Decimal,
            Primitive::Double | Primitive::Single => Kind::Double,
            Primitive::Date => Kind::Date,
            Primitive::DateTimeOffset => Kind::DateTime,
            Primitive::Guid => Kind::Guid,
            other => Kind::Other(format!("Edm.{other:?}")),
        }
    }
}

/// Converts one cell's text to the JSON value of a column of this kind.
pub(crate) fn convert(kind: &Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Text { max_length } => {
            let length = text.chars().count();
            match max_length {
                Some(max) if length > *max as usize => Err(format!(
                    "text of {length} characters is longer than the column's {max}"
                )),
                _ => Ok(Value::String(text.to_owned())),
            }
        }
        Kind::Boolean { labels } => {
            let lower = text.trim().to_ascii_lowercase();
            match lower.as_str() {
                "true" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "0" | "no" => Ok(Value::Bool(false)),
                _ => labels
                    .iter()
                    .find(|(label, _)| label.eq_ignore_ascii_case(text.trim()))
                    .map(|(_, value)| Value::Bool(*value))
                    .ok_or_else(|| format!("`{text}` is not a yes/no value (true, false, 1, 0)")),
            }
        }
        Kind::Integer { min, max } => {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number"))?;
            if n < *min || n > *max {
                return Err(format!("{n} is outside the column's range {min}..={max}"));
            }
            Ok(Value::from(n))
        }
        Kind::Decimal => {
            let trimmed = text.trim();
            // rust_decimal reads the text exactly; the number goes out with the same digits.
            let value = Decimal::from_str_exact(trimmed)
                .or_else(|_| Decimal::from_scientific(trimmed))
                .map_err(|_| format!("`{text}` is not a decimal number"))?;
            Number::from_str(&value.to_string())
                .map(Value::Number)
                .map_err(|e| format!("`{text}`: {e}"))
        }
        Kind::Double => {
            let n: f64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number"))?;
            Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| format!("`{text}` is not a finite number"))
        }
        Kind::Date => Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)")),
        Kind::DateTime => date_time(text.trim()).map(Value::String),
        Kind::Guid => Uuid::parse_str(text.trim())
            .map(|id| Value::String(id.hyphenated().to_string()))
            .map_err(|_| format!("`{text}` is not a GUID")),
        Kind::Choice { options } => choice(options, text.trim()).map(Value::from),
        Kind::MultiChoice { options } => {
            let values = text
                .split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| choice(options, t).map(|v| v.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::String(values.join(",")))
        }
        Kind::Other(ty) => Err(format!("columns of type {ty} cannot be imported")),
    }
}

/// A date and time with its offset (RFC 3339), or a date alone (midnight UTC), as UTC text.
fn date_time(text: &str) -> Result<String, String> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            PrimitiveDateTime::parse(
                text,
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"),
            )
            .map(|t| t.assume_utc())
        })
        .or_else(|_| {
            Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc())
        })
        .map_err(|_| {
            format!("`{text}` is not a date and time with an offset (e.g. 2024-05-01T08:30:00Z) or a date")
        })?;
    parsed
        .to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| format!("`{text}`: {e}"))
}

/// A choice's value from its number or one of its labels (case does not matter).
fn choice(options: &[(i32, Vec<String>)], text: &str) -> Result<i32, String> {
    if let Ok(value) = text.parse::<i32>() {
        if options.is_empty() || options.iter().any(|(v, _)| *v == value) {
            return Ok(value);
        }
        return Err(format!("{value} is not one of the choice's values"));
    }
    options
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l.eq_ignore_ascii_case(text)))
        .map(|(value, _)| *value)
        .ok_or_else(|| {
            let known: Vec<&str> = options
                .iter()
                .filter_map(|(_, labels)| labels.first().map(String::as_str))
                .collect();
            if known.is_empty() {
                format!(
                    "unknown choice label `{text}`: no labels are known for this column (give the \
                     value, or the choices document with --metadata)"
                )
            } else {
                format!(
                    "unknown choice label `{text}` (known: {})",
                    known.join(", ")
                )
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits() {
        assert_eq!(
            convert(&Kind::Decimal, "12345678901234567890.1234500")
                .unwrap()
                .to_string(),
            "12345678901234567890.1234500"
        );
        assert_eq!(
            convert(&Kind::Decimal, "-0.10").unwrap().to_string(),
            "-0.10"
        );
        assert!(convert(&Kind::Decimal, "12,5").is_err());
        assert!(convert(&Kind::Decimal, "NaN").is_err());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            convert(&Kind::DateTime, "2024-05-01T10:30:00+02:00").unwrap(),
            "2024-05-01T08:30:00Z"
        );
        assert_eq!(
            convert(&Kind::DateTime, "2024-05-01").unwrap(),
            "2024-05-01T00:00:00Z"
        );
        assert!(convert(&Kind::DateTime, "01/05/2024").is_err());
        assert_eq!(convert(&Kind::Date, "2024-02-29").unwrap(), "2024-02-29");
        assert!(convert(&Kind::Date, "2023-02-29").is_err());
    }

    #[test]
    fn numbers_and_ranges() {
        let int = Kind::Integer { min: 0, max: 255 };
        assert_eq!(convert(&int, " 12 ").unwrap(), 12);
        assert!(convert(&int, "256").unwrap_err().contains("outside"));
        assert!(convert(&int, "1.5").unwrap_err().contains("whole number"));
        assert!(convert(&Kind::Double, "inf").is_err());
        let text = Kind::Text {
            max_length: Some(3),
        };
        assert!(convert(&text, "abcd").unwrap_err().contains("longer"));
        assert_eq!(convert(&text, "été").unwrap(), "été");
    }

    #[test]
    fn choices_by_value_or_label() {
        let options = vec![
            (1, vec!["Accounting".to_owned()]),
            (2, vec!["Agriculture".to_owned()]),
        ];
        let single = Kind::Choice {
            options: options.clone(),
        };
        assert_eq!(convert(&single, "2").unwrap(), 2);
        assert_eq!(convert(&single, "accounting").unwrap(), 1);
        assert!(
            convert(&single, "Banking")
                .unwrap_err()
                .contains("unknown choice label `Banking`")
        );
        assert!(convert(&single, "9").unwrap_err().contains("not one of"));
        let multi = Kind::MultiChoice { options };
        assert_eq!(convert(&multi, "Agriculture; 1").unwrap(), "2,1");
    }
}
