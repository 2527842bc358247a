//! Duplicate detection: rules that say when two records of a table are duplicates, applied to
//! creates and updates that ask for them (`MSCRM.SuppressDuplicateDetection: false`), answered
//! as Dataverse does: HTTP 500 with code `0x80040333`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update>).
//!
//! A rule here is Dataverse's simplest kind: every listed column must have a value, and the
//! same value as the other record (text compared without regard to case, as Dataverse's
//! "exact match" condition on a case-insensitive collation does); blank values never match.

use std::sync::{PoisonError, RwLock};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::protocol::ApiRequest;
use super::{ApiError, WebApi};
use crate::schema::{Schema, Table};
use crate::store::Tables;

/// The request header that turns detection on with `false` (it is off without it).
const SUPPRESS: &str = "MSCRM.SuppressDuplicateDetection";

/// A duplicate detection rule: two records of `table` (a logical name, such as `lead`) are
/// duplicates when each of `columns` has a value, the same in both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRule {
    /// The table's logical name.
    pub table: String,
    /// The columns compared (logical names); at least one.
    pub columns: Vec<String>,
}

impl DuplicateRule {
    /// A rule on `table` comparing `columns`.
    pub fn new(
        table: impl Into<String>,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            table: table.into(),
            columns: columns.into_iter().map(Into::into).collect(),
        }
    }

    /// Reads a rules file: a JSON array of `{"table": "lead", "columns": ["emailaddress1"]}`.
    pub fn parse_list(json: &str) -> Result<Vec<DuplicateRule>, String> {
        serde_json::from_str(json).map_err(|e| {
            format!(
                "duplicate rules: {e} (expected a JSON array of {{\"table\": \"lead\", \"columns\": [\"emailaddress1\"]}})"
            )
        })
    }
}

/// The rules in force, replaced whole.
#[derive(Debug, Default)]
pub(crate) struct DuplicateRules(RwLock<Vec<DuplicateRule>>);

impl DuplicateRules {
    /// Replaces the rules, after checking that each names a table and columns of `schema`.
    pub(crate) fn set(&self, schema: &Schema, rules: Vec<DuplicateRule>) -> Result<(), String> {
        for rule in &rules {
            let table = schema.by_logical_name(&rule.table).ok_or_else(|| {
                format!(
                    "duplicate rule: no table with the logical name '{}'",
                    rule.table
                )
            })?;
            if rule.columns.is_empty() {
                return Err(format!(
                    "duplicate rule on '{}': it names no column",
                    rule.table
                ));
            }
            if let Some(missing) = rule.columns.iter().find(|c| table.column(c).is_none()) {
                return Err(format!(
                    "duplicate rule on '{}': the table has no column '{missing}'",
                    rule.table
                ));
            }
        }
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = rules;
        Ok(())
    }

    fn for_table(&self, table: &Table) -> Vec<DuplicateRule> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.table == table.logical_name)
            .cloned()
            .collect()
    }
}

impl WebApi {
    /// Refuses a write whose record (`fields`, with id `id`) duplicates another record of
    /// `table` under a rule, when the request asked for detection.
    pub(super) fn detect_duplicates(
        &self,
        request: &ApiRequest,
        table: &Table,
        id: Uuid,
        fields: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<(), ApiError> {
        let asked = request
            .header(SUPPRESS)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        if !asked {
            return Ok(());
        }
        for rule in self.duplicate_rules.for_table(table) {
            let Some(values) = rule
                .columns
                .iter()
                .map(|c| fields.get(c).filter(|v| !is_blank(v)))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let found = tables.rows(&table.set).into_iter().any(|(other, record)| {
                other != id
                    && rule
                        .columns
                        .iter()
                        .zip(&values)
                        .all(|(c, v)| record.fields.get(c).is_some_and(|o| same(o, v)))
            });
            if found {
                return Err(duplicate_found());
            }
        }
        Ok(())
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.trim().to_lowercase() == b.trim().to_lowercase(),
        _ => a == b,
    }
}

/// Dataverse's answer, as documented (status, code and message).
fn duplicate_found() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "0x80040333",
        "A record was not created or updated because a duplicate of the current record already exists.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_files_are_read_strictly() {
        let rules =
            DuplicateRule::parse_list(r#"[{"table": "lead", "columns": ["emailaddress1"]}]"#)
                .unwrap();
        assert_eq!(rules, [DuplicateRule::new("lead", ["emailaddress1"])]);
        let e = DuplicateRule::parse_list(r#"[{"table": "lead", "cols": []}]"#).unwrap_err();
        assert!(e.contains("expected a JSON array"), "{e}");
    }

    #[test]
    fn blanks_never_match_and_text_ignores_case() {
        assert!(is_blank(&Value::Null));
        assert!(is_blank(&Value::String("  ".into())));
        assert!(same(&Value::from("A@x.com"), &Value::from("a@X.com ")));
        assert!(!same(&Value::from(1), &Value::from("1")));
    }
}
