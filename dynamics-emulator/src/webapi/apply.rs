//! Runs an `$apply` on an entity set, as Dataverse documents it
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>):
//! rows grouped by their values (UTC for dates), nulls left out of aggregates and of the
//! results, at most 50,000 records aggregated, no `groupby` on a date-time column and no
//! `$orderby` on an aggregate.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiError;
use super::fetch::Same;
use super::fetch::aggregate::{aggregate_values, sorted};
use super::protocol::ApiResponse;
use super::read::{FORMATTED, View, formatted};
use crate::odata::apply::Apply;
use crate::odata::fetch::Aggregate;
use crate::odata::filter::comparable_json;
use crate::odata::query::Query;
use crate::schema::{Kind, Table};
use crate::store::Record;

/// Dataverse's cap on the records an aggregate reads
/// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/aggregate-data#limitations>).
pub(super) const AGGREGATE_RECORD_LIMIT: usize = 50_000;

/// The error past [`AGGREGATE_RECORD_LIMIT`] (or a FetchXML query's lower `aggregatelimit`):
/// code `0x8004E023`, as the FetchXML aggregation page documents it.
pub(super) fn record_limit_exceeded() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "0x8004E023",
        "AggregateQueryRecordLimit exceeded. Cannot perform this operation.",
    )
}

/// A grouped property: its path, the name it answers under and its kind.
struct Group {
    path: String,
    name: String,
    kind: Option<Kind>,
}

impl<'v> View<'v> {
    /// `GET /{set}?$apply=...` (with `$orderby` on grouped properties only).
    pub(super) fn apply(
        &self,
        table: &Table,
        apply: &Apply,
        query: &Query,
    ) -> Result<ApiResponse, ApiError> {
        if query.select.is_some()
            || query.filter.is_some()
            || query.top.is_some()
            || query.count
            || !query.expand.is_empty()
            || query.fetch_xml.is_some()
        {
            return Err(ApiError::bad_request(
                "$apply can be combined with $orderby only; filter inside $apply with filter(...).",
            ));
        }
        let mut rows = self.tables.rows(&table.set);
        for condition in &apply.filters {
            let step = Query {
                filter: Some(condition.clone()),
                ..Query::default()
            };
            rows = self.query_rows(table, rows, &step)?;
        }
        if rows.len() > AGGREGATE_RECORD_LIMIT {
            return Err(record_limit_exceeded());
        }
        let groups = apply
            .group_by
            .iter()
            .map(|path| self.group(table, path))
            .collect::<Result<Vec<_>, _>>()?;
        let measures = apply
            .measures
            .iter()
            .map(|m| {
                let kind = match &m.property {
                    Some(p) => Some(table.column(p).ok_or_else(|| unknown(table, p))?.kind),
                    None => None,
                };
                Ok((m, kind))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        for (property, _) in &query.orderby {
            if apply.measures.iter().any(|m| &m.alias == property) {
                // The documented error for `$orderby` on an aggregate value.
                return Err(ApiError::bad_request(
                    "The query node SingleValueOpenPropertyAccess is not supported",
                ));
            }
            if !groups.iter().any(|g| &g.name == property) {
                return Err(unknown(table, property));
            }
        }
        let value_at = |record: &'v Record, path: &str| -> Value {
            let found = match path.split_once('/') {
                None => record.fields.get(path),
                Some((nav, property)) => table
                    .navs
                    .get(nav)
                    .and_then(|nav| self.single(nav, record))
                    .and_then(|(_, _, target)| target.fields.get(property)),
            };
            found.cloned().unwrap_or(Value::Null)
        };
        // Groups in the order first seen, keyed as the Web API compares values.
        let mut members: Vec<Vec<(Uuid, &'v Record)>> = Vec::new();
        let mut group_of: HashMap<Vec<Same>, usize> = HashMap::new();
        for row in rows {
            let key: Vec<Same> = groups
                .iter()
                .map(|g| Same::of(comparable_json(&value_at(row.1, &g.path), g.kind)))
                .collect();
            let next = members.len();
            let index = *group_of.entry(key).or_insert(next);
            match members.get_mut(index) {
                Some(list) => list.push(row),
                None => members.push(vec![row]),
            }
        }
        if groups.is_empty() && members.is_empty() {
            members.push(Vec::new());
        }
        // Formatted values when asked for, as the documented examples show them beside each
        // grouped value and aggregate (`statuscode@OData.Community.Display.V1.FormattedValue`):
        // https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data
        let format = self.prefer.wants(FORMATTED);
        let label = |path: &str, kind: Option<Kind>, value: &Value| -> Option<String> {
            let choice = (!path.contains('/'))
                .then(|| self.api.choice_label(table, path, value))
                .flatten();
            choice.or_else(|| kind.and_then(|kind| formatted(kind, value)))
        };
        let mut results: Vec<Map<String, Value>> = Vec::with_capacity(members.len());
        for list in &members {
            let mut result = Map::new();
            for group in &groups {
                let value = list
                    .first()
                    .map_or(Value::Null, |(_, r)| value_at(r, &group.path));
                if !value.is_null() {
                    if format && let Some(text) = label(&group.path, group.kind, &value) {
                        result.insert(format!("{}@{FORMATTED}", group.name), json!(text));
                    }
                    result.insert(group.name.clone(), value);
                }
            }
            for (measure, kind) in &measures {
                let values: Vec<Value> = match &measure.property {
                    Some(p) => list.iter().map(|(_, r)| value_at(r, p)).collect(),
                    None => vec![Value::Null; list.len()],
                };
                let value = aggregate_values(measure.function, measure.distinct, &values, *kind);
                if !value.is_null() {
                    // A count is a whole number whatever it counted; the other aggregates have
                    // their column's kind.
                    let counted = measure.distinct || measure.function == Aggregate::Count;
                    let result_kind = if counted {
                        Some(Kind::Integer(0, i64::MAX))
                    } else {
                        *kind
                    };
                    if format && let Some(text) = result_kind.and_then(|k| formatted(k, &value)) {
                        result.insert(format!("{}@{FORMATTED}", measure.alias), json!(text));
                    }
                    result.insert(measure.alias.clone(), value);
                }
            }
            results.push(result);
        }
        // Ordered by `$orderby`, then by every grouped value, each result's keys read once.
        let keys: Vec<(&str, Option<Kind>, bool)> = query
            .orderby
            .iter()
            .map(|(name, descending)| (name.as_str(), *descending))
            .chain(groups.iter().map(|g| (g.name.as_str(), false)))
            .map(|(name, descending)| {
                let kind = groups.iter().find(|g| g.name == name).and_then(|g| g.kind);
                (name, kind, descending)
            })
            .collect();
        let value: Vec<Value> = sorted(results, &keys)
            .into_iter()
            .map(Value::Object)
            .collect();
        Ok(ApiResponse::json(
            StatusCode::OK,
            json!({
                "@odata.context": self.api.context(&table.set, None, ""),
                "value": value,
            }),
        ))
    }

    /// A grouped property: a column, or `lookup/column` through a single-valued navigation
    /// property, which answers as `<target>_<column>` (`contact_fullname`, as the documented
    /// example shows). Date-times are refused, as Dataverse refuses them.
    fn group(&self, table: &Table, path: &str) -> Result<Group, ApiError> {
        let (name, kind) = match path.split_once('/') {
            None => (
                path.to_owned(),
                table.column(path).ok_or_else(|| unknown(table, path))?.kind,
            ),
            Some((nav, property)) => {
                let target = table
                    .navs
                    .get(nav)
                    .filter(|n| !n.collection)
                    .and_then(|n| self.api.schema.set_of_type(&n.target))
                    .ok_or_else(|| unknown(table, nav))?;
                let column = target
                    .column(property)
                    .ok_or_else(|| unknown(target, property))?;
                (format!("{}_{property}", target.logical_name), column.kind)
            }
        };
        if kind == Kind::DateTimeOffset {
            return Err(ApiError::bad_request(format!(
                "groupby with datetime values is not supported ('{path}')."
            )));
        }
        Ok(Group {
            path: path.to_owned(),
            name,
            kind: Some(kind),
        })
    }
}

fn unknown(table: &Table, property: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Could not find a property named '{property}' on type '{}'.",
        table.qualified_name
    ))
}
