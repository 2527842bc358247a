//! FetchXML aggregate queries (`<fetch aggregate="true">`): the rows grouped by the
//! `groupby` attributes, each group one result of its aliases, and SQL's aggregate functions
//! over each group's values.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{ApiError, Link, Row, Same, column_name};
use crate::odata::fetch::{Aggregate, Attribute as FetchAttribute, DateGrouping, Fetch};
use crate::odata::filter::{Comparable, comparable_json};
use crate::schema::{Kind, Table};
use crate::webapi::protocol::ApiResponse;
use crate::webapi::read::{MAX_PAGE, View};

/// An attribute of an aggregate query: the name it answers under, where its value comes from
/// (`None`: the entity; `Some(i)`: link `i`), its column and kind.
pub(super) struct Measure<'a> {
    /// The name the attribute answers under.
    pub(super) alias: &'a str,
    attribute: &'a FetchAttribute,
    source: Option<usize>,
    column: String,
    kind: Option<Kind>,
}

impl View<'_> {
    /// An aggregate query: the rows grouped by the `groupby` attributes (one group without
    /// any), each group one result of its aliases.
    pub(super) fn aggregate(
        &self,
        table: &Table,
        fetch: &Fetch,
        columns: &[Measure<'_>],
        rows: &[Row<'_>],
    ) -> Result<ApiResponse, ApiError> {
        let value_of = |row: &Row<'_>, c: &Measure<'_>| -> Value {
            let record = match c.source {
                None => Some(row.record),
                Some(i) => row.links[i].map(|(_, r)| r),
            };
            let value = record
                .and_then(|r| r.fields.get(&c.column))
                .cloned()
                .unwrap_or(Value::Null);
            match c.attribute.date_grouping {
                Some(part) => date_part(part, &value),
                None => value,
            }
        };
        let grouped: Vec<&Measure<'_>> = columns.iter().filter(|c| c.attribute.groupby).collect();
        // Groups in the order first seen; keys compared as the Web API compares values, each
        // row's key looked up once instead of compared with every group's.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<Vec<Same>, usize> = HashMap::new();
        for (r, row) in rows.iter().enumerate() {
            let key: Vec<Same> = grouped
                .iter()
                .map(|c| Same::of(comparable_json(&value_of(row, c), c.kind)))
                .collect();
            let next = groups.len();
            let group = *group_of.entry(key).or_insert(next);
            match groups.get_mut(group) {
                Some(members) => members.push(r),
                None => groups.push(vec![r]),
            }
        }
        if grouped.is_empty() && groups.is_empty() {
            groups.push(Vec::new());
        }
        let mut results: Vec<Map<String, Value>> = Vec::with_capacity(groups.len());
        for members in &groups {
            let mut result = Map::new();
            for c in columns {
                let values: Vec<Value> = members.iter().map(|&r| value_of(&rows[r], c)).collect();
                let value = match c.attribute.aggregate {
                    None => values.first().cloned().unwrap_or(Value::Null),
                    Some(function) => {
                        aggregate_values(function, c.attribute.distinct, &values, c.kind)
                    }
                };
                if !value.is_null() {
                    result.insert(c.alias.to_owned(), value);
                }
            }
            results.push(result);
        }
        // Ordered by the `<order alias>`es, then by the grouped values: each result's values
        // worked out once, not on every comparison.
        let kind_of = |alias: &str| {
            columns
                .iter()
                .find(|c| c.alias == alias)
                .and_then(|c| c.kind)
        };
        let sort_keys: Vec<(&str, Option<Kind>, bool)> = fetch
            .alias_orders
            .iter()
            .map(|(alias, descending)| (alias.as_str(), *descending))
            .chain(grouped.iter().map(|c| (c.alias, false)))
            .map(|(alias, descending)| (alias, kind_of(alias), descending))
            .collect();
        let mut results = sorted(results, &sort_keys);
        if let Some(top) = fetch.top {
            results.truncate(top);
        }
        let size = fetch.count.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let skip = (fetch.page - 1).saturating_mul(size);
        let more = results.len() > skip.saturating_add(size);
        let value: Vec<Value> = results
            .into_iter()
            .skip(skip)
            .take(size)
            .map(Value::Object)
            .collect();
        let context = self.api.context(&table.set, None, "");
        Ok(self.page_body(context, value, more, None, None))
    }
}

/// The attributes of an aggregate query, the entity's first, then each link's.
pub(super) fn measures<'a>(
    table: &'a Table,
    fetch: &'a crate::odata::fetch::Fetch,
    links: &[Link<'a>],
) -> Result<Vec<Measure<'a>>, ApiError> {
    let mut columns: Vec<Measure<'_>> = Vec::new();
    let sources = std::iter::once((table, None, fetch.columns.as_slice())).chain(
        links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.table, Some(i), l.attributes)),
    );
    for (from, source, attributes) in sources {
        for attribute in attributes {
            let column = column_name(from, &attribute.name)?;
            columns.push(Measure {
                alias: attribute.alias.as_deref().unwrap_or(&attribute.name),
                attribute,
                source,
                kind: from.column(&column).map(|c| c.kind),
                column,
            });
        }
    }
    Ok(columns)
}

/// Result rows ordered by `keys` (name, kind, descending), each row's values read once;
/// nulls sort first, as SQL Server sorts them. `$apply` shares it.
pub(in crate::webapi) fn sorted(
    results: Vec<Map<String, Value>>,
    keys: &[(&str, Option<Kind>, bool)],
) -> Vec<Map<String, Value>> {
    let mut keyed: Vec<(Vec<Comparable>, Map<String, Value>)> = results
        .into_iter()
        .map(|result| {
            let values = keys
                .iter()
                .map(|(name, kind, _)| {
                    comparable_json(result.get(*name).unwrap_or(&Value::Null), *kind)
                })
                .collect();
            (values, result)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let mut order = Ordering::Equal;
        for (((_, _, descending), x), y) in keys.iter().zip(a).zip(b) {
            // `Comparable::Null` orders before every other value.
            let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
            order = order.then(if *descending { o.reverse() } else { o });
        }
        order
    });
    keyed.into_iter().map(|(_, result)| result).collect()
}

/// One aggregate over a group's values; nulls are left out, as SQL leaves them out. `null`
/// when nothing is left (and the property is then left out). `$apply` shares it.
pub(in crate::webapi) fn aggregate_values(
    function: Aggregate,
    distinct: bool,
    values: &[Value],
    kind: Option<Kind>,
) -> Value {
    let present: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    match function {
        Aggregate::Count => json!(values.len()),
        Aggregate::CountColumn if distinct => {
            let seen: HashSet<Same> = present
                .iter()
                .map(|value| Same::of(comparable_json(value, kind)))
                .collect();
            json!(seen.len())
        }
        Aggregate::CountColumn => json!(present.len()),
        Aggregate::Sum | Aggregate::Avg => {
            if present.is_empty() {
                return Value::Null;
            }
            let integers: Option<Vec<i64>> = present.iter().map(|v| v.as_i64()).collect();
            let total: f64 = present.iter().filter_map(|v| v.as_f64()).sum();
            match (function, integers) {
                (Aggregate::Sum, Some(integers)) => json!(integers.iter().sum::<i64>()),
                (Aggregate::Sum, None) => json!(total),
                _ => json!(total / present.len() as f64),
            }
        }
        Aggregate::Min | Aggregate::Max => {
            // The best so far is kept with its comparable form, read once.
            let mut best: Option<(&Value, Comparable)> = None;
            for value in present {
                let read = comparable_json(value, kind);
                let better = best.as_ref().is_none_or(|(_, b)| {
                    let order = read.partial_cmp(b);
                    if function == Aggregate::Min {
                        order == Some(Ordering::Less)
                    } else {
                        order == Some(Ordering::Greater)
                    }
                });
                if better {
                    best = Some((value, read));
                }
            }
            best.map_or(Value::Null, |(value, _)| value.clone())
        }
    }
}

/// The part of a date a `dategrouping` groups by, as a number (day of the month, week of the
/// year, month, quarter, year), read in UTC: Dataverse reads it in the user's time zone
/// unless the query sets `usertimezone="false"`
/// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/reference/fetch>).
/// Weeks are numbered as SQL Server's `DATEPART(week, ...)`: week 1 holds 1 January and
/// weeks start on Sunday, which gives the documented example's week 12 for 25 March 2023.
fn date_part(part: DateGrouping, value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return Value::Null;
    };
    let Some(date) = crate::odata::filter::parse_datetime(text)
        .map(|t| t.date())
        .or_else(|| crate::odata::filter::parse_date(text))
    else {
        return Value::Null;
    };
    let number = match part {
        DateGrouping::Day => i32::from(date.day()),
        DateGrouping::Week => {
            let january_first = date.replace_ordinal(1).unwrap_or(date);
            let offset = i32::from(january_first.weekday().number_days_from_sunday());
            (i32::from(date.ordinal()) - 1 + offset) / 7 + 1
        }
        DateGrouping::Month => i32::from(u8::from(date.month())),
        DateGrouping::Quarter => (i32::from(u8::from(date.month())) - 1) / 3 + 1,
        DateGrouping::Year => date.year(),
    };
    json!(number)
}
