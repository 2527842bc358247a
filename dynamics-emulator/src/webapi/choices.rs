//! Choice columns from a choices document (what the metadata API answers): the attribute and
//! global option set endpoints, the check of choice values on write, and their labels.
//!
//! `$metadata` types every choice as a plain integer (or a string for multi-select choices),
//! so without a choices document none of this applies and choice columns stay plain numbers.

use axum::http::StatusCode;
use dynamics_codegen::choices::{ChoiceColumn, ChoiceKind, Choices};
use serde_json::{Map, Value, json};

use super::meta::metadata_id;
use super::protocol::ApiResponse;
use super::{ApiError, WebApi};
use crate::odata::query::Query;
use crate::schema::{Column, Table};

/// The language labels are given in: English, the base language of most environments.
const LANGUAGE: i32 = 1033;

/// Dataverse's code for a choice value outside the column's options.
const OUT_OF_RANGE: &str = "0x8004431a";

/// The attribute metadata casts this module answers, and the kind each stands for.
const CASTS: [(&str, ChoiceKind); 5] = [
    ("PicklistAttributeMetadata", ChoiceKind::Picklist),
    ("StateAttributeMetadata", ChoiceKind::State),
    ("StatusAttributeMetadata", ChoiceKind::Status),
    (
        "MultiSelectPicklistAttributeMetadata",
        ChoiceKind::MultiSelect,
    ),
    ("BooleanAttributeMetadata", ChoiceKind::Boolean),
];

/// A loaded choices document: read through the codegen reader for values and labels, and kept
/// as JSON so the metadata API can answer every property the document holds.
pub(crate) struct ChoiceCatalog {
    choices: Choices,
    document: Value,
}

impl ChoiceCatalog {
    /// Reads a choices document.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let choices = Choices::parse(text).map_err(|e| e.to_string())?;
        let document = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self { choices, document })
    }

    fn column(&self, table: &Table, column: &str) -> Option<&ChoiceColumn> {
        self.choices.column(&table.logical_name, column)
    }

    /// The raw attributes of a table in the document.
    fn attributes(&self, logical_name: &str) -> Vec<&Map<String, Value>> {
        self.document["EntityDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["LogicalName"].as_str() == Some(logical_name))
            .flat_map(|e| e["Attributes"].as_array().into_iter().flatten())
            .filter_map(Value::as_object)
            .collect()
    }

    /// The raw global option set definitions.
    fn globals(&self) -> Vec<&Map<String, Value>> {
        self.document["GlobalOptionSetDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .collect()
    }

    fn global(&self, name: &str) -> Option<&Map<String, Value>> {
        self.globals()
            .into_iter()
            .find(|g| g.get("Name").and_then(Value::as_str) == Some(name))
    }
}

/// The label of one option value of a column.
fn label(column: &ChoiceColumn, value: i64) -> Option<&str> {
    column
        .option_set
        .options
        .iter()
        .find(|o| i64::from(o.value) == value)
        .and_then(|o| o.label(LANGUAGE))
}

/// The integers of a multi-select value (`"1,2"`), or `None` when one part is not a number.
fn multi_values(text: &str) -> Option<Vec<i64>> {
    if text.trim().is_empty() {
        return Some(Vec::new());
    }
    text.split(',').map(|p| p.trim().parse().ok()).collect()
}

impl WebApi {
    /// Checks a stored value of a choice column against its options.
    pub(super) fn check_choice(
        &self,
        table: &Table,
        column: &Column,
        value: &Value,
    ) -> Result<(), ApiError> {
        let Some(choice) = self
            .choices
            .as_ref()
            .and_then(|c| c.column(table, &column.name))
        else {
            return Ok(());
        };
        let values = match (choice.kind, value) {
            (ChoiceKind::Boolean, _) | (_, Value::Null) => return Ok(()),
            (ChoiceKind::MultiSelect, Value::String(text)) => {
                multi_values(text).ok_or_else(|| {
                    ApiError::bad_payload(
                        &table.set,
                        format!(
                            "The value '{text}' of '{}' is not a comma-separated list of option values.",
                            column.name
                        ),
                    )
                })?
            }
            (_, Value::Number(n)) => n.as_i64().into_iter().collect(),
            _ => return Ok(()),
        };
        for v in values {
            if !choice
                .option_set
                .options
                .iter()
                .any(|o| i64::from(o.value) == v)
            {
                let accepted: Vec<String> = choice
                    .option_set
                    .options
                    .iter()
                    .map(|o| o.value.to_string())
                    .collect();
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    OUT_OF_RANGE,
                    format!(
                        "A validation error occurred. The value {v} of '{}' on record of type '{}' is outside the valid range. Accepted Values: {}",
                        column.name,
                        table.logical_name,
                        accepted.join(",")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The label(s) of a choice column's value, as its formatted value; `None` for other columns.
    pub(super) fn choice_label(
        &self,
        table: &Table,
        column: &str,
        value: &Value,
    ) -> Option<String> {
        let choice = self.choices.as_ref()?.column(table, column)?;
        match (choice.kind, value) {
            (ChoiceKind::Boolean, Value::Bool(b)) => {
                label(choice, i64::from(*b)).map(str::to_owned)
            }
            (ChoiceKind::MultiSelect, Value::String(text)) => {
                let labels: Option<Vec<&str>> = multi_values(text)?
                    .into_iter()
                    .map(|v| label(choice, v))
                    .collect();
                // Dataverse joins the labels of a multi-select value with "; ".
                labels.map(|l| l.join("; "))
            }
            (_, Value::Number(n)) => label(choice, n.as_i64()?).map(str::to_owned),
            _ => None,
        }
    }

    /// `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.<Cast>`, optionally
    /// narrowed to `Attributes(LogicalName='y')`, with `$select` and
    /// `$expand=OptionSet,GlobalOptionSet`.
    pub(super) fn choice_attributes(
        &self,
        definition_key: &str,
        attribute_key: Option<&str>,
        cast: &str,
        query: &Query,
    ) -> Result<ApiResponse, ApiError> {
        let logical_name = logical_name_key(definition_key)?;
        let table = self.schema.by_logical_name(logical_name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "0x80040217",
                format!("Could not find an entity with LogicalName = {logical_name}."),
            )
        })?;
        let short = cast.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(cast);
        if !CASTS.iter().any(|(name, _)| *name == short) {
            return Err(ApiError::no_segment(cast));
        }
        let expand: Vec<&str> = query.expand.iter().map(|e| e.navigation.as_str()).collect();
        if let Some(other) = expand
            .iter()
            .find(|n| !matches!(**n, "OptionSet" | "GlobalOptionSet"))
        {
            return Err(ApiError::bad_request(format!(
                "Could not find a property named '{other}' on type 'Microsoft.Dynamics.CRM.{short}'."
            )));
        }
        let wanted_attribute = attribute_key.map(logical_name_key).transpose()?;
        let catalog = self.choices.as_ref();
        let attributes: Vec<Map<String, Value>> = catalog
            .map(|c| c.attributes(&table.logical_name))
            .unwrap_or_default()
            .into_iter()
            .filter(|a| {
                a.get("@odata.type").and_then(Value::as_str)
                    == Some(&format!("#Microsoft.Dynamics.CRM.{short}"))
            })
            .filter(|a| {
                wanted_attribute
                    .is_none_or(|w| a.get("LogicalName").and_then(Value::as_str) == Some(w))
            })
            .map(|a| self.attribute_view(&table.logical_name, a, query, &expand))
            .collect::<Result<_, _>>()?;
        let context = format!(
            "{}$metadata#EntityDefinitions('{logical_name}')/Attributes/Microsoft.Dynamics.CRM.{short}",
            self.root
        );
        if let Some(wanted) = wanted_attribute {
            let mut one = attributes.into_iter().next().ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "0x80040217",
                    format!(
                        "Could not find an attribute with LogicalName = {wanted} of type {short}."
                    ),
                )
            })?;
            one.insert("@odata.context".into(), json!(format!("{context}/$entity")));
            return Ok(ApiResponse::json(StatusCode::OK, Value::Object(one)));
        }
        Ok(ApiResponse::json(
            StatusCode::OK,
            json!({"@odata.context": context, "value": attributes}),
        ))
    }

    /// One attribute as the metadata API shows it: selected properties and `MetadataId`, and
    /// the option sets only when expanded (they are navigation properties there).
    fn attribute_view(
        &self,
        table: &str,
        attribute: &Map<String, Value>,
        query: &Query,
        expand: &[&str],
    ) -> Result<Map<String, Value>, ApiError> {
        let catalog = self.choices.as_ref();
        let mut out = Map::new();
        out.insert(
            "@odata.type".into(),
            attribute.get("@odata.type").cloned().unwrap_or(Value::Null),
        );
        let logical = attribute
            .get("LogicalName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.insert(
            "MetadataId".into(),
            attribute
                .get("MetadataId")
                .cloned()
                .unwrap_or_else(|| json!(metadata_id(&format!("{table}.{logical}")))),
        );
        match &query.select {
            Some(names) => {
                for name in names {
                    if matches!(name.as_str(), "OptionSet" | "GlobalOptionSet") {
                        continue;
                    }
                    let value = attribute.get(name).cloned().ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.AttributeMetadata'."
                        ))
                    })?;
                    out.insert(name.clone(), value);
                }
            }
            None => {
                for (name, value) in attribute {
                    if !matches!(
                        name.as_str(),
                        "OptionSet" | "GlobalOptionSet" | "@odata.type"
                    ) {
                        out.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        // A column on a global choice refers to it by name; the full definition comes from
        // the global list, and Dataverse shows it under both names.
        let global = attribute
            .get("GlobalOptionSet")
            .and_then(|g| g.get("Name"))
            .and_then(Value::as_str)
            .and_then(|name| catalog?.global(name))
            .map(|g| Value::Object(g.clone()))
            .or_else(|| attribute.get("GlobalOptionSet").cloned())
            .unwrap_or(Value::Null);
        if expand.contains(&"OptionSet") {
            let local = attribute.get("OptionSet").cloned().unwrap_or(Value::Null);
            let value = if local.is_null() {
                global.clone()
            } else {
                local
            };
            out.insert("OptionSet".into(), value);
        }
        if expand.contains(&"GlobalOptionSet") {
            out.insert("GlobalOptionSet".into(), global);
        }
        Ok(out)
    }

    /// `GlobalOptionSetDefinitions` or `GlobalOptionSetDefinitions(Name='x')`, with `$select`.
    pub(super) fn global_option_sets(
        &self,
        key: Option<&str>,
        query: &Query,
    ) -> Result<ApiResponse, ApiError> {
        let all = self
            .choices
            .as_ref()
            .map(ChoiceCatalog::globals)
            .unwrap_or_default();
        let pick = |set: &Map<String, Value>| -> Map<String, Value> {
            match &query.select {
                Some(names) => {
                    let mut out: Map<String, Value> = names
                        .iter()
                        .map(|n| (n.clone(), set.get(n).cloned().unwrap_or(Value::Null)))
                        .collect();
                    for always in ["@odata.type", "MetadataId"] {
                        if let Some(v) = set.get(always) {
                            out.insert(always.into(), v.clone());
                        }
                    }
                    out
                }
                None => set.clone(),
            }
        };
        let context = format!("{}$metadata#GlobalOptionSetDefinitions", self.root);
        let Some(key) = key else {
            let value: Vec<Value> = all.into_iter().map(|s| Value::Object(pick(s))).collect();
            return Ok(ApiResponse::json(
                StatusCode::OK,
                json!({"@odata.context": context, "value": value}),
            ));
        };
        let name = key
            .strip_prefix("Name='")
            .and_then(|k| k.strip_suffix('\''))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The key '{key}' is not valid for GlobalOptionSetDefinitions."
                ))
            })?;
        let set = all
            .into_iter()
            .find(|s| s.get("Name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "0x80040217",
                    format!("Could not find optionset with name: {name}."),
                )
            })?;
        let mut one = pick(set);
        one.insert("@odata.context".into(), json!(format!("{context}/$entity")));
        Ok(ApiResponse::json(StatusCode::OK, Value::Object(one)))
    }
}

/// The name in a `LogicalName='x'` key.
fn logical_name_key(key: &str) -> Result<&str, ApiError> {
    key.strip_prefix("LogicalName='")
        .and_then(|k| k.strip_suffix('\''))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "The key '{key}' is not valid here; use LogicalName='...'."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_select_values() {
        assert_eq!(multi_values("1, 2,3"), Some(vec![1, 2, 3]));
        assert_eq!(multi_values(""), Some(vec![]));
        assert_eq!(multi_values("1,x"), None);
    }
}
