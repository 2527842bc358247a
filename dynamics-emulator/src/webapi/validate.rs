//! Checking a request body against the schema: property names and types, lengths, and
//! `@odata.bind` references to records of a fitting table.

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::write::utc_text;
use super::{ApiError, WebApi};
use crate::odata::filter::{parse_date, parse_datetime};
use crate::odata::path::{self};
use crate::schema::{Column, Kind, Table};
use crate::store::{LookupRef, Tables};

/// What a body asks to change, checked but not applied yet.
#[derive(Default)]
pub(super) struct Changes {
    pub(super) fields: Vec<(String, Value)>,
    /// (`_x_value` property, new target) — `None` clears the lookup.
    pub(super) lookups: Vec<(String, Option<(LookupRef, Uuid)>)>,
    /// Collection-valued binds on create: (navigation property, target set, target id).
    pub(super) associations: Vec<(String, String, Uuid)>,
}

impl WebApi {
    /// Checks a body against the table's schema.
    pub(super) fn changes(
        &self,
        table: &Table,
        body: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<Changes, ApiError> {
        let mut changes = Changes::default();
        for (name, value) in body {
            if let Some(nav_name) = name.strip_suffix("@odata.bind") {
                let nav = table
                    .navs
                    .get(nav_name)
                    .ok_or_else(|| undeclared(nav_name))?;
                if nav.collection {
                    let refs = value.as_array().ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "'{name}' binds a collection-valued navigation property and needs an array of references."
                        ))
                    })?;
                    for r in refs {
                        let text = r.as_str().ok_or_else(|| not_a_reference(r))?;
                        let (target, id) = self.reference(tables, text, &nav.target)?;
                        changes
                            .associations
                            .push((nav.name.clone(), target.set.clone(), id));
                    }
                    continue;
                }
                let property = nav.lookup_property.clone().ok_or_else(|| {
                    ApiError::bad_request(format!("'{nav_name}' cannot be set with @odata.bind."))
                })?;
                if value.is_null() {
                    changes.lookups.push((property, None));
                    continue;
                }
                let text = value.as_str().ok_or_else(|| not_a_reference(value))?;
                let (target, id) = self.reference(tables, text, &nav.target)?;
                let lookup = LookupRef {
                    logical_name: target.logical_name.clone(),
                    navigation: nav.name.clone(),
                };
                changes.lookups.push((property, Some((lookup, id))));
                continue;
            }
            // Instance and property annotations (`@odata.type`, `x@OData.Community...`) carry no data.
            if name.contains('@') {
                continue;
            }
            if let Some(nav) = table.navs.get(name) {
                match (&nav.lookup_property, value) {
                    (Some(property), Value::Null) => changes.lookups.push((property.clone(), None)),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "'{name}' holds a related record, which only a create (deep insert) accepts; bind an existing record with '{name}@odata.bind'."
                        )));
                    }
                }
                continue;
            }
            let column = table.column(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The property '{name}' does not exist on type '{}'. Make sure to only use property names that are defined by the type.",
                    table.qualified_name
                ))
            })?;
            if column.lookup {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "0x80048d19",
                    "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.",
                ));
            }
            if column.computed || column.name == table.key || column.name == table.primary_id {
                continue;
            }
            changes
                .fields
                .push((name.clone(), self.checked_value(table, column, value)?));
        }
        Ok(changes)
    }

    /// Resolves an entity reference (`/accounts(id)`) to an existing record of a type that fits
    /// the navigation property's target.
    pub(super) fn reference<'a>(
        &'a self,
        tables: &Tables,
        text: &str,
        expected: &str,
    ) -> Result<(&'a Table, Uuid), ApiError> {
        let (set, key) = path::entity_reference(text).map_err(ApiError::bad_request)?;
        let table = self
            .schema
            .table(&set)
            .ok_or_else(|| ApiError::no_segment(&set))?;
        if !self.schema.derives_from(&table.qualified_name, expected) {
            return Err(ApiError::bad_request(format!(
                "The entity set '{set}' holds '{}' records, which do not fit a navigation property of type '{expected}'.",
                table.qualified_name
            )));
        }
        Ok((table, self.existing(tables, table, &key)?))
    }
}

impl WebApi {
    /// [`check_value`], then the choice options when the column is a choice.
    pub(super) fn checked_value(
        &self,
        table: &Table,
        column: &Column,
        value: &Value,
    ) -> Result<Value, ApiError> {
        let stored = check_value(table, column, value)?;
        self.check_choice(table, column, &stored)?;
        Ok(stored)
    }
}

pub(super) fn guid(table: &Table, value: &Value) -> Result<Uuid, ApiError> {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            ApiError::bad_payload(
                &table.set,
                format!("Cannot convert the literal '{value}' to the expected type 'Edm.Guid'."),
            )
        })
}

/// Whether a JSON value is a valid value of a primitive kind: the one rule for columns and for
/// operation parameters (`null` is checked by the caller).
pub(super) fn accepts(kind: Kind, value: &Value) -> bool {
    let text = value.as_str();
    match kind {
        Kind::String => text.is_some(),
        Kind::Guid => text.is_some_and(|s| Uuid::parse_str(s).is_ok()),
        Kind::Boolean => value.is_boolean(),
        Kind::Integer(min, max) => value.as_i64().is_some_and(|i| (min..=max).contains(&i)),
        Kind::Decimal | Kind::Double => value.as_f64().is_some(),
        Kind::Date => text.and_then(parse_date).is_some(),
        Kind::DateTimeOffset => text.and_then(parse_datetime).is_some(),
        Kind::Binary => {
            text.is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok())
        }
        Kind::Other => true,
    }
}

/// Checks one value against its column and returns it as stored.
pub(super) fn check_value(
    table: &Table,
    column: &Column,
    value: &Value,
) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || {
        ApiError::bad_payload(
            &table.set,
            format!(
                "Cannot convert the literal '{value}' to the expected type '{}'.",
                column.kind.edm_name()
            ),
        )
    };
    let stored = match column.kind {
        // Parsed once, and stored in one spelling: lower-case GUIDs, UTC times.
        Kind::Guid => json!(
            value
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(mismatch)?
        ),
        Kind::DateTimeOffset => json!(utc_text(
            value
                .as_str()
                .and_then(parse_datetime)
                .ok_or_else(mismatch)?
        )),
        kind if !accepts(kind, value) => return Err(mismatch()),
        Kind::String => {
            if let (Some(max), Some(s)) = (column.max_length, value.as_str())
                && s.chars().count() as u64 > max
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "0x80044331",
                    format!(
                        "A validation error occurred. The length of the '{}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
                        column.name, table.logical_name
                    ),
                ));
            }
            value.clone()
        }
        _ => value.clone(),
    };
    Ok(stored)
}

/// Dataverse's answer to a bind whose navigation property name is unknown or wrongly cased.
pub(super) fn undeclared(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "An undeclared property '{name}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
    ))
}

pub(super) fn not_a_reference(value: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "'{value}' is not an entity reference such as '/accounts(00000000-0000-0000-0000-000000000000)'."
    ))
}
