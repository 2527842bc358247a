//! Runs a FetchXML query on an entity set: conditions evaluated with SQL's null semantics,
//! results in the Web API's JSON shape without null properties, and paging with the paging
//! cookie and `morerecords` annotations.

use std::cmp::Ordering;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiError;
use super::protocol::ApiResponse;
use super::read::{MAX_PAGE, SortOrder, View};
use crate::odata::fetch::{
    Aggregate, Attribute as FetchAttribute, Condition, Filter, LinkEntity, Operator, PagingCookie,
};
use crate::odata::filter::{Comparable, comparable_json};
use crate::odata::query::Query;
use crate::schema::{Kind, Table};
use crate::store::{Record, Tables};

const PAGING_COOKIE: &str = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie";
const MORE_RECORDS: &str = "Microsoft.Dynamics.CRM.morerecords";

/// Dataverse's code for an invalid FetchXML document.
const INVALID_FETCH: &str = "0x80040203";
/// Dataverse's code for an attribute the entity does not have.
const NO_ATTRIBUTE: &str = "0x80041103";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, INVALID_FETCH, message)
}

/// One link-entity, resolved against the schema, in the document's order (parents first).
struct Link<'a> {
    table: &'a Table,
    /// The column of the linked table matched against the parent's.
    from: String,
    /// The column of the parent (the entity, or the link at `parent`).
    to: String,
    parent: Option<usize>,
    outer: bool,
    alias: &'a str,
    /// (attribute as written, column, its `alias`), or `None` for all columns.
    columns: Option<Vec<(&'a str, String, Option<&'a str>)>>,
    attributes: &'a [FetchAttribute],
    filter: Option<&'a Filter>,
}

/// An attribute of an aggregate query: the name it answers under, where its value comes from
/// (`None`: the entity; `Some(i)`: link `i`), its column and kind.
struct Measure<'a> {
    alias: &'a str,
    attribute: &'a FetchAttribute,
    source: Option<usize>,
    column: String,
    kind: Option<Kind>,
}

/// One result row: a record of the entity and, per link, the linked record (`None` for an
/// outer link without a match).
struct Row<'r> {
    id: Uuid,
    record: &'r Record,
    links: Vec<Option<(Uuid, &'r Record)>>,
}

impl<'v> View<'v> {
    /// `GET /{set}?fetchXml=...`.
    pub(super) fn fetch(&self, table: &Table, xml: &str) -> Result<ApiResponse, ApiError> {
        let fetch = crate::odata::fetch::parse(xml).map_err(invalid)?;
        if fetch.entity != table.logical_name {
            return Err(invalid(format!(
                "The FetchXML entity '{}' does not match the entity set '{}' ('{}').",
                fetch.entity, table.set, table.logical_name
            )));
        }
        let column = |name: &str| column_name(table, name);
        let select: Option<Vec<String>> = fetch
            .attributes
            .as_ref()
            .map(|names| names.iter().map(|n| column(n)).collect::<Result<_, _>>())
            .transpose()?;
        let orders: Vec<(String, bool)> = fetch
            .orders
            .iter()
            .map(|(n, d)| Ok((column(n)?, *d)))
            .collect::<Result<_, ApiError>>()?;
        let mut links = Vec::new();
        self.resolve_links(table, None, &fetch.links, &mut links)?;
        let scope = |condition: &Condition| -> Result<(&Table, Option<usize>), ApiError> {
            match condition.entityname.as_deref() {
                None => Ok((table, None)),
                Some(alias) => links
                    .iter()
                    .position(|l| l.alias == alias)
                    .map(|i| (links[i].table, Some(i)))
                    .ok_or_else(|| {
                        invalid(format!(
                            "The condition's entityname '{alias}' names no link-entity of the query."
                        ))
                    }),
            }
        };
        if let Some(filter) = &fetch.filter {
            check_filter(filter, &|c| scope(c).map(|(t, _)| t))?;
        }
        for link in &links {
            if let Some(filter) = link.filter {
                check_filter(filter, &|_| Ok(link.table))?;
            }
        }

        let mut rows: Vec<Row<'_>> = self
            .tables
            .rows(&table.set)
            .into_iter()
            .map(|(id, record)| Row {
                id,
                record,
                links: Vec::new(),
            })
            .collect();
        for (i, link) in links.iter().enumerate() {
            rows = self.join(table, &links, i, link, rows);
        }
        if let Some(filter) = &fetch.filter {
            rows.retain(|row| {
                matches(filter, &|c| match scope(c) {
                    Ok((t, None)) => (t, Some(row.record)),
                    Ok((t, Some(i))) => (t, row.links[i].map(|(_, r)| r)),
                    Err(_) => (table, None),
                })
            });
        }
        if fetch.aggregate {
            return self.aggregate(table, &fetch, &links, &rows);
        }
        // Ties keep the primary key's order (and the linked keys'), so pages never overlap.
        // Each row's keys are worked out once, not on every comparison.
        let order = SortOrder::new(table, &orders);
        type Keys = (Vec<Comparable>, Vec<Option<Uuid>>);
        let mut keyed: Vec<(Keys, Row<'_>)> = rows
            .into_iter()
            .map(|row| {
                let linked = row.links.iter().map(|l| l.map(|(id, _)| id)).collect();
                ((order.values(row.record), linked), row)
            })
            .collect();
        keyed.sort_by(|((a, a_links), a_row), ((b, b_links), b_row)| {
            order
                .compare(a, b)
                .then_with(|| a_row.id.cmp(&b_row.id))
                .then_with(|| a_links.cmp(b_links))
        });
        let mut rows: Vec<Row<'_>> = keyed.into_iter().map(|(_, row)| row).collect();
        if let Some(top) = fetch.top {
            rows.truncate(top);
        }
        let size = fetch.count.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let skip = match &fetch.paging_cookie {
            Some(cookie) => after_cookie(cookie, fetch.page, &rows)?,
            None => None,
        }
        .unwrap_or_else(|| (fetch.page - 1).saturating_mul(size));
        let more = rows.len() > skip.saturating_add(size);
        let page: Vec<Row<'_>> = rows.into_iter().skip(skip).take(size).collect();
        let query = Query {
            select: select.clone(),
            ..Query::default()
        };
        let mut value = Vec::with_capacity(page.len());
        for row in &page {
            let mut entity = self.entity(table, row.id, row.record, &query)?;
            for (link, linked) in links.iter().zip(&row.links) {
                if let Some((id, record)) = linked {
                    self.linked_columns(link, *id, record, &mut entity)?;
                }
            }
            // FetchXML results leave out null properties.
            entity.retain(|_, v| !v.is_null());
            value.push(Value::Object(entity));
        }
        let context = self.api.context(&table.set, select.as_deref(), "");
        let cookie = more.then(|| paging_cookie(table, fetch.page, &page));
        Ok(self.page_body(context, value, more, cookie))
    }

    /// A page of results: the context, the rows and, when more follow and the caller asked for
    /// them, the paging cookie (queries that have one) and `morerecords`.
    fn page_body(
        &self,
        context: String,
        value: Vec<Value>,
        more: bool,
        cookie: Option<String>,
    ) -> ApiResponse {
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        body.insert("value".into(), Value::Array(value));
        if let Some(cookie) = cookie.filter(|_| self.prefer.wants(PAGING_COOKIE)) {
            body.insert(format!("@{PAGING_COOKIE}"), json!(cookie));
        }
        if more && self.prefer.wants(MORE_RECORDS) {
            body.insert(format!("@{MORE_RECORDS}"), json!(true));
        }
        self.with_preferences(ApiResponse::json(StatusCode::OK, Value::Object(body)))
    }

    /// Resolves link-entities (and theirs, depth first) against the schema.
    fn resolve_links<'a>(
        &self,
        parent_table: &Table,
        parent: Option<usize>,
        fetched: &'a [LinkEntity],
        out: &mut Vec<Link<'a>>,
    ) -> Result<(), ApiError>
    where
        'v: 'a,
    {
        let api: &'v super::WebApi = self.api;
        for link in fetched {
            let table = api.schema.by_logical_name(&link.name).ok_or_else(|| {
                invalid(format!(
                    "The link-entity '{}' names no table of the environment.",
                    link.name
                ))
            })?;
            let columns = if link.all_attributes {
                None
            } else {
                Some(
                    link.columns
                        .iter()
                        .map(|c| {
                            Ok((
                                c.name.as_str(),
                                column_name(table, &c.name)?,
                                c.alias.as_deref(),
                            ))
                        })
                        .collect::<Result<Vec<_>, ApiError>>()?,
                )
            };
            out.push(Link {
                from: column_name(table, &link.from)?,
                to: column_name(parent_table, &link.to)?,
                table,
                parent,
                outer: link.outer,
                alias: &link.alias,
                columns,
                attributes: &link.columns,
                filter: link.filter.as_ref(),
            });
            let index = out.len() - 1;
            self.resolve_links(table, Some(index), &link.links, out)?;
        }
        Ok(())
    }

    /// Joins link `i` onto the rows: each row once per matching record of the linked table
    /// (passing the link's own filter); a row without one is dropped, or kept with nothing
    /// linked for an outer link.
    fn join<'r>(
        &self,
        table: &Table,
        links: &[Link<'_>],
        i: usize,
        link: &Link<'_>,
        rows: Vec<Row<'r>>,
    ) -> Vec<Row<'r>>
    where
        'v: 'r,
    {
        let tables: &'v Tables = self.tables;
        let candidates: Vec<(Uuid, &'r Record)> = tables
            .rows(&link.table.set)
            .into_iter()
            .filter(|(_, r)| {
                link.filter
                    .is_none_or(|f| matches(f, &|_| (link.table, Some(*r))))
            })
            .collect();
        let from_kind = link.table.column(&link.from).map(|c| c.kind);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (parent_table, parent) = match link.parent {
                None => (table, Some(row.record)),
                Some(p) => (links[p].table, row.links[p].map(|(_, r)| r)),
            };
            let to_kind = parent_table.column(&link.to).map(|c| c.kind);
            let wanted = parent
                .and_then(|r| r.fields.get(&link.to))
                .map_or(Comparable::Null, |v| comparable_json(v, to_kind));
            let found: Vec<(Uuid, &'r Record)> = if wanted == Comparable::Null {
                Vec::new()
            } else {
                candidates
                    .iter()
                    .filter(|(_, r)| {
                        let value = r.fields.get(&link.from).unwrap_or(&Value::Null);
                        same(&comparable_json(value, from_kind), &wanted)
                    })
                    .copied()
                    .collect()
            };
            debug_assert_eq!(row.links.len(), i);
            if found.is_empty() {
                if link.outer {
                    let mut row = row;
                    row.links.push(None);
                    out.push(row);
                }
                continue;
            }
            for linked in found {
                let mut links = row.links.clone();
                links.push(Some(linked));
                out.push(Row {
                    id: row.id,
                    record: row.record,
                    links,
                });
            }
        }
        out
    }

    /// A linked record's columns, as `alias.column` (or as the attribute's own alias).
    fn linked_columns(
        &self,
        link: &Link<'_>,
        id: Uuid,
        record: &Record,
        into: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let select = link
            .columns
            .as_ref()
            .map(|columns| columns.iter().map(|(_, c, _)| c.clone()).collect());
        if select.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let query = Query {
            select,
            ..Query::default()
        };
        let rendered = self.entity(link.table, id, record, &query)?;
        for (property, value) in rendered {
            if property.starts_with('@') {
                continue;
            }
            let (column, annotation) = match property.split_once('@') {
                Some((c, a)) => (c, format!("@{a}")),
                None => (property.as_str(), String::new()),
            };
            let name = match &link.columns {
                Some(columns) => match columns.iter().find(|(_, c, _)| c == column) {
                    Some((_, _, Some(alias))) => (*alias).to_owned(),
                    Some((written, _, None)) => format!("{}.{written}", link.alias),
                    None => continue,
                },
                None => format!("{}.{column}", link.alias),
            };
            into.insert(format!("{name}{annotation}"), value);
        }
        Ok(())
    }

    /// An aggregate query: the rows grouped by the `groupby` attributes (one group without
    /// any), each group one result of its aliases.
    fn aggregate(
        &self,
        table: &Table,
        fetch: &crate::odata::fetch::Fetch,
        links: &[Link<'_>],
        rows: &[Row<'_>],
    ) -> Result<ApiResponse, ApiError> {
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
        let value_of = |row: &Row<'_>, source: Option<usize>, column: &str| -> Value {
            let record = match source {
                None => Some(row.record),
                Some(i) => row.links[i].map(|(_, r)| r),
            };
            record
                .and_then(|r| r.fields.get(column))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let grouped: Vec<&Measure<'_>> = columns.iter().filter(|c| c.attribute.groupby).collect();
        // Groups in the order first seen; keys compared as the Web API compares values.
        let mut groups: Vec<(Vec<Comparable>, Vec<usize>)> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let key: Vec<Comparable> = grouped
                .iter()
                .map(|c| comparable_json(&value_of(row, c.source, &c.column), c.kind))
                .collect();
            match groups
                .iter_mut()
                .find(|(k, _)| k.iter().zip(&key).all(|(x, y)| same(x, y)))
            {
                Some((_, members)) => members.push(r),
                None => groups.push((key, vec![r])),
            }
        }
        if grouped.is_empty() && groups.is_empty() {
            groups.push((Vec::new(), Vec::new()));
        }
        let mut results: Vec<Map<String, Value>> = Vec::with_capacity(groups.len());
        for (_, members) in &groups {
            let mut result = Map::new();
            for c in &columns {
                let values: Vec<Value> = members
                    .iter()
                    .map(|&r| value_of(&rows[r], c.source, &c.column))
                    .collect();
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
        // Ordered by the `<order alias>`es, then by the grouped values.
        let kind_of = |alias: &str| {
            columns
                .iter()
                .find(|c| c.alias == alias)
                .and_then(|c| c.kind)
        };
        for (alias, _) in &fetch.alias_orders {
            if !columns.iter().any(|c| c.alias == alias) {
                return Err(invalid(format!(
                    "The order alias '{alias}' names no attribute of the query."
                )));
            }
        }
        let by = |result: &Map<String, Value>, alias: &str| {
            comparable_json(result.get(alias).unwrap_or(&Value::Null), kind_of(alias))
        };
        results.sort_by(|a, b| {
            let mut order = Ordering::Equal;
            for (alias, descending) in &fetch.alias_orders {
                let o = by(a, alias)
                    .partial_cmp(&by(b, alias))
                    .unwrap_or(Ordering::Equal);
                order = order.then(if *descending { o.reverse() } else { o });
            }
            for c in &grouped {
                order = order.then(
                    by(a, c.alias)
                        .partial_cmp(&by(b, c.alias))
                        .unwrap_or(Ordering::Equal),
                );
            }
            order
        });
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
        Ok(self.page_body(context, value, more, None))
    }
}

/// Where the page after a paging cookie starts: just after the cookie's last key, as the
/// service reads on from there (records added or removed before it do not shift the page).
/// `None` when that record is gone: then the page number counts. A cookie for another page
/// than the one before is refused.
fn after_cookie(
    cookie: &PagingCookie,
    page: usize,
    rows: &[Row<'_>],
) -> Result<Option<usize>, ApiError> {
    if cookie.page.checked_add(1) != Some(page) {
        return Err(invalid(format!(
            "The paging cookie is for page {}, so the query must ask for page {}, not {page}.",
            cookie.page,
            cookie.page.saturating_add(1)
        )));
    }
    let Some(last) = cookie
        .last
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        return Ok(None);
    };
    // With one-to-many links a record spans several rows: read on after the last of them.
    Ok(rows.iter().rposition(|row| row.id == last).map(|i| i + 1))
}

/// The Web API property for a FetchXML attribute: the column, or `_x_value` for a lookup.
fn column_name(table: &Table, name: &str) -> Result<String, ApiError> {
    if let Some(column) = table.column(name) {
        return Ok(column.name.clone());
    }
    let lookup = format!("_{name}_value");
    if table.column(&lookup).is_some() {
        return Ok(lookup);
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        NO_ATTRIBUTE,
        format!(
            "'{}' entity doesn't contain attribute with Name = '{name}' and NameMapping = 'Logical'.",
            table.logical_name
        ),
    ))
}

/// Every condition names a column of its table (the entity's, or its link-entity's).
fn check_filter<'t>(
    filter: &Filter,
    table_of: &dyn Fn(&Condition) -> Result<&'t Table, ApiError>,
) -> Result<(), ApiError> {
    for condition in &filter.conditions {
        let table = table_of(condition)?;
        let column = column_name(table, &condition.attribute)?;
        let kind = table.column(&column).map(|c| c.kind);
        for value in &condition.values {
            if matches!(condition.operator, Operator::Like | Operator::NotLike) {
                continue;
            }
            if comparable(value, kind) == Comparable::Null {
                return Err(invalid(format!(
                    "The value '{value}' of the condition on '{}' is not valid for its type.",
                    condition.attribute
                )));
            }
        }
    }
    filter
        .filters
        .iter()
        .try_for_each(|f| check_filter(f, table_of))
}

/// A condition value read as the column's type.
fn comparable(text: &str, kind: Option<Kind>) -> Comparable {
    let json = match kind {
        Some(Kind::Integer(..) | Kind::Decimal | Kind::Double) => {
            text.trim().parse::<f64>().map_or(Value::Null, |n| json!(n))
        }
        Some(Kind::Boolean) => match text.trim() {
            "1" | "true" => json!(true),
            "0" | "false" => json!(false),
            _ => Value::Null,
        },
        Some(Kind::Guid) => Uuid::parse_str(text.trim().trim_matches(['{', '}']))
            .map_or(Value::Null, |id| json!(id)),
        _ => json!(text),
    };
    comparable_json(&json, kind)
}

/// Whether a filter holds; `scope` gives each condition its table and record (none for an
/// outer link without a match).
fn matches<'t>(
    filter: &Filter,
    scope: &dyn Fn(&Condition) -> (&'t Table, Option<&'t Record>),
) -> bool {
    let mut results = filter
        .conditions
        .iter()
        .map(|c| {
            let (table, record) = scope(c);
            condition_holds(table, c, record)
        })
        .chain(filter.filters.iter().map(|f| matches(f, scope)));
    if filter.or {
        results.any(|r| r)
    } else {
        results.all(|r| r)
    }
}

fn condition_holds(table: &Table, condition: &Condition, record: Option<&Record>) -> bool {
    let Ok(column) = column_name(table, &condition.attribute) else {
        return false;
    };
    let kind = table.column(&column).map(|c| c.kind);
    let value = record
        .and_then(|r| r.fields.get(&column))
        .unwrap_or(&Value::Null);
    let actual = comparable_json(value, kind);
    let is_null = actual == Comparable::Null;
    let first = condition
        .values
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    match condition.operator {
        Operator::Null => is_null,
        Operator::NotNull => !is_null,
        // Like SQL, a comparison with a missing value is never true.
        _ if is_null => false,
        Operator::Like | Operator::NotLike => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let like = wildcard(&first.to_lowercase(), &text.to_lowercase());
            like == (condition.operator == Operator::Like)
        }
        Operator::In => condition
            .values
            .iter()
            .any(|v| same(&actual, &comparable(v, kind))),
        operator => {
            let wanted = comparable(first, kind);
            let order = actual.partial_cmp(&wanted);
            match operator {
                Operator::Eq => same(&actual, &wanted),
                Operator::Ne => !same(&actual, &wanted),
                Operator::Gt => order == Some(Ordering::Greater),
                Operator::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                Operator::Lt => order == Some(Ordering::Less),
                Operator::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
    }
}

/// One aggregate over a group's values; nulls are left out, as SQL leaves them out. `null`
/// when nothing is left (and the property is then left out).
fn aggregate_values(
    function: Aggregate,
    distinct: bool,
    values: &[Value],
    kind: Option<Kind>,
) -> Value {
    let present: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    match function {
        Aggregate::Count => json!(values.len()),
        Aggregate::CountColumn if distinct => {
            let mut seen: Vec<Comparable> = Vec::new();
            for value in &present {
                let c = comparable_json(value, kind);
                if !seen.iter().any(|s| same(s, &c)) {
                    seen.push(c);
                }
            }
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
            let mut best: Option<&Value> = None;
            for value in present {
                let better = best.is_none_or(|b| {
                    let order = comparable_json(value, kind).partial_cmp(&comparable_json(b, kind));
                    if function == Aggregate::Min {
                        order == Some(Ordering::Less)
                    } else {
                        order == Some(Ordering::Greater)
                    }
                });
                if better {
                    best = Some(value);
                }
            }
            best.cloned().unwrap_or(Value::Null)
        }
    }
}

/// Equality; text compares without regard to case, as Dataverse's default collation does.
fn same(x: &Comparable, y: &Comparable) -> bool {
    match (x, y) {
        (Comparable::Text(a), Comparable::Text(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => x == y,
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point, linear in practice and never recursive.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// The `<cookie pagenumber pagingcookie istracking />` annotation for the next page; the inner
/// cookie names the page's first and last keys and is URL-encoded twice, as Dataverse does.
fn paging_cookie(table: &Table, page: usize, rows: &[Row<'_>]) -> String {
    let key = |row: Option<&Row<'_>>| row.map(|r| format!("{{{}}}", r.id)).unwrap_or_default();
    let inner = format!(
        "<cookie page=\"{page}\"><{0} last=\"{1}\" first=\"{2}\" /></cookie>",
        table.primary_id,
        key(rows.last()),
        key(rows.first())
    );
    let once = url::form_urlencoded::byte_serialize(inner.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let twice = url::form_urlencoded::byte_serialize(once.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!(
        "<cookie pagenumber=\"{}\" pagingcookie=\"{twice}\" istracking=\"False\" />",
        page.saturating_add(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_patterns() {
        assert!(wildcard("%&x", "a&x"));
        assert!(wildcard("a_c%", "abcdef"));
        assert!(wildcard("%", ""));
        assert!(!wildcard("a%c", "abd"));
        assert!(wildcard("%b%b%", "abxbz"));
    }
}
