//! Runs a FetchXML query on an entity set: conditions evaluated with SQL's null semantics,
//! results in the Web API's JSON shape without null properties, and paging with the paging
//! cookie and `morerecords` annotations.

pub(super) mod aggregate;

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use self::aggregate::measures;
use super::ApiError;
use super::apply::{AGGREGATE_RECORD_LIMIT, record_limit_exceeded};
use super::protocol::ApiResponse;
use super::read::{MAX_PAGE, SortOrder, View};
use crate::odata::fetch::{
    Attribute as FetchAttribute, Condition, Filter, LinkEntity, Operator, PagingCookie,
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
    /// The `<attribute>`s as written, which aggregates read.
    attributes: &'a [FetchAttribute],
    /// How a linked record is rendered: the columns of its attributes (all with
    /// `<all-attributes/>`), worked out once per query rather than per row.
    shown: Query,
    /// The name each column of `shown` comes back under, at the same positions (`None` with
    /// `<all-attributes/>`: `alias.column`).
    names: Option<Vec<String>>,
    filter: Option<&'a Filter>,
}

/// One result row: a record of the entity and, per link, the linked record (`None` for an
/// outer link without a match).
struct Row<'r> {
    id: Uuid,
    record: &'r Record,
    links: Vec<Option<(Uuid, &'r Record)>>,
}

/// Whose column a condition names: its table, and the link it reads (`None`: the filter's own
/// record).
type Source<'t> = (&'t Table, Option<usize>);

/// A `<filter>` resolved once per query: each condition's column, kind and values, so rows
/// are tested without looking them up or parsing them again.
struct Check {
    or: bool,
    conditions: Vec<Test>,
    filters: Vec<Check>,
}

/// A `<condition>`, resolved.
struct Test {
    /// Whose value it reads: `None` the filter's own record (the entity's, or a link's own
    /// record in the link's filter), `Some(i)` link `i`'s.
    source: Option<usize>,
    column: String,
    kind: Option<Kind>,
    operator: Operator,
    /// The first value read as the column's kind (the empty text without one).
    first: Comparable,
    /// `first` as [`Same`] (`eq`, `ne`), or every value (`in`).
    wanted: Vec<Same>,
    /// `like`, `not-like`: the first value lowercased.
    pattern: String,
}

/// A [`Comparable`] in a form where equality is Dataverse's (text without regard to case, as
/// its default collation compares) and which a hash map can key on: text lowercased, once per
/// value rather than on every comparison; a number by its bits, `-0` as `0` (numbers read from
/// JSON are never NaN, so equal numbers have equal bits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Same {
    Null,
    Bool(bool),
    Number(u64),
    Text(String),
    Instant(i128),
}

impl Same {
    pub(super) fn of(value: Comparable) -> Self {
        match value {
            Comparable::Null => Same::Null,
            Comparable::Bool(b) => Same::Bool(b),
            Comparable::Number(n) => Same::Number(if n == 0.0 { 0.0f64 } else { n }.to_bits()),
            // Text comes from `comparable_json`, already lowercased.
            Comparable::Text(t) => Same::Text(t),
            Comparable::Instant(t) => Same::Instant(t),
        }
    }
}

impl<'v> View<'v> {
    /// `GET /{set}?fetchXml=...`.
    /// `$count=true` in the URL (`counted`) counts as `returntotalrecordcount="true"`.
    pub(super) fn fetch(
        &self,
        table: &Table,
        xml: &str,
        counted: bool,
    ) -> Result<ApiResponse, ApiError> {
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
        let scope = |condition: &Condition| -> Result<Source<'_>, ApiError> {
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
        let filter = fetch
            .filter
            .as_ref()
            .map(|filter| resolve_filter(filter, &scope))
            .transpose()?;
        let link_filters = links
            .iter()
            .map(|link| {
                link.filter
                    .map(|filter| resolve_filter(filter, &|_| Ok((link.table, None))))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // An aggregate query's attributes and order aliases are checked before any row is
        // read.
        let measures = if fetch.aggregate {
            let measures = measures(table, &fetch, &links)?;
            for (alias, _) in &fetch.alias_orders {
                if !measures.iter().any(|c| c.alias == alias) {
                    return Err(invalid(format!(
                        "The order alias '{alias}' names no attribute of the query."
                    )));
                }
            }
            Some(measures)
        } else {
            None
        };

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
        for (i, (link, link_filter)) in links.iter().zip(&link_filters).enumerate() {
            rows = self.join(table, &links, i, link, link_filter.as_ref(), rows);
        }
        if let Some(filter) = &filter {
            rows.retain(|row| {
                filter.holds(&|source| match source {
                    None => Some(row.record),
                    Some(i) => row.links[i].map(|(_, r)| r),
                })
            });
        }
        if let Some(measures) = &measures {
            let limit = fetch
                .aggregate_limit
                .map_or(AGGREGATE_RECORD_LIMIT, |l| l.min(AGGREGATE_RECORD_LIMIT));
            if rows.len() > limit {
                return Err(record_limit_exceeded());
            }
            return self.aggregate(table, &fetch, measures, &rows);
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
        let query = Query {
            select: select.clone(),
            ..Query::default()
        };
        let render = |row: &Row<'_>| -> Result<Map<String, Value>, ApiError> {
            let mut entity = self.entity(table, row.id, row.record, &query)?;
            for (link, linked) in links.iter().zip(&row.links) {
                if let Some((id, record)) = linked {
                    self.linked_columns(link, *id, record, &mut entity)?;
                }
            }
            // FetchXML results leave out null properties.
            entity.retain(|_, v| !v.is_null());
            Ok(entity)
        };
        let size = fetch.count.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let context = self.api.context(&table.set, select.as_deref(), "");
        let counted = counted || fetch.total_count;
        if fetch.distinct {
            // Rows with the same selected values once, the first kept: the key is only part
            // of a row when it is selected. Pages are numbered; there is no paging cookie.
            let selected =
                |name: &str| select.as_ref().is_some_and(|s| s.iter().any(|c| c == name));
            let mut seen = std::collections::HashSet::new();
            let mut distinct = Vec::new();
            for row in &rows {
                let mut entity = render(row)?;
                entity.remove("@odata.etag");
                if !selected(&table.primary_id) {
                    entity.remove(&table.primary_id);
                }
                if !selected(&table.key) {
                    entity.remove(&table.key);
                }
                if seen.insert(Value::Object(entity.clone()).to_string()) {
                    distinct.push(Value::Object(entity));
                }
            }
            let total = distinct.len();
            let skip = (fetch.page - 1).saturating_mul(size);
            let more = total > skip.saturating_add(size);
            let value = distinct.into_iter().skip(skip).take(size).collect();
            return Ok(self.page_body(context, value, more, None, counted.then_some(total)));
        }
        let total = rows.len();
        let skip = match &fetch.paging_cookie {
            Some(cookie) => after_cookie(cookie, fetch.page, &rows)?,
            None => None,
        }
        .unwrap_or_else(|| (fetch.page - 1).saturating_mul(size));
        let more = rows.len() > skip.saturating_add(size);
        let page: Vec<Row<'_>> = rows.into_iter().skip(skip).take(size).collect();
        let mut value = Vec::with_capacity(page.len());
        for row in &page {
            value.push(Value::Object(render(row)?));
        }
        let cookie = more.then(|| paging_cookie(table, fetch.page, &page));
        Ok(self.page_body(context, value, more, cookie, counted.then_some(total)))
    }

    /// A page of results: the context, the rows, the count of every matching row when
    /// `total` is given, and, when more follow and the caller asked for them, the paging
    /// cookie (queries that have one) and `morerecords`.
    fn page_body(
        &self,
        context: String,
        value: Vec<Value>,
        more: bool,
        cookie: Option<String>,
        total: Option<usize>,
    ) -> ApiResponse {
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        if let Some(total) = total {
            self.insert_count(&mut body, total, true);
        }
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
            let (select, names) = if link.all_attributes {
                (None, None)
            } else {
                let mut columns = Vec::with_capacity(link.columns.len());
                let mut names = Vec::with_capacity(link.columns.len());
                for attribute in &link.columns {
                    columns.push(column_name(table, &attribute.name)?);
                    names.push(match &attribute.alias {
                        Some(alias) => alias.clone(),
                        None => format!("{}.{}", link.alias, attribute.name),
                    });
                }
                (Some(columns), Some(names))
            };
            out.push(Link {
                from: column_name(table, &link.from)?,
                to: column_name(parent_table, &link.to)?,
                table,
                parent,
                outer: link.outer,
                alias: &link.alias,
                attributes: &link.columns,
                shown: Query {
                    select,
                    ..Query::default()
                },
                names,
                filter: link.filter.as_ref(),
            });
            let index = out.len() - 1;
            self.resolve_links(table, Some(index), &link.links, out)?;
        }
        Ok(())
    }

    /// Joins link `i` onto the rows: each row once per matching record of the linked table
    /// (passing the link's own filter), in the table's order; a row without one is dropped,
    /// or kept with nothing linked for an outer link. The linked records are keyed once by
    /// their `from` value, so each row finds its matches in one lookup.
    fn join<'r>(
        &self,
        table: &Table,
        links: &[Link<'_>],
        i: usize,
        link: &Link<'_>,
        filter: Option<&Check>,
        rows: Vec<Row<'r>>,
    ) -> Vec<Row<'r>>
    where
        'v: 'r,
    {
        let tables: &'v Tables = self.tables;
        let from_kind = link.table.column(&link.from).map(|c| c.kind);
        let mut by_key: HashMap<Same, Vec<(Uuid, &'r Record)>> = HashMap::new();
        for (id, record) in tables.rows(&link.table.set) {
            if filter.is_some_and(|f| !f.holds(&|_| Some(record))) {
                continue;
            }
            let value = record.fields.get(&link.from).unwrap_or(&Value::Null);
            // A null never matches, so it is not kept.
            match Same::of(comparable_json(value, from_kind)) {
                Same::Null => {}
                key => by_key.entry(key).or_default().push((id, record)),
            }
        }
        let parent_table = link.parent.map_or(table, |p| links[p].table);
        let to_kind = parent_table.column(&link.to).map(|c| c.kind);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let parent = match link.parent {
                None => Some(row.record),
                Some(p) => row.links[p].map(|(_, r)| r),
            };
            let wanted = parent
                .and_then(|r| r.fields.get(&link.to))
                .map_or(Same::Null, |v| Same::of(comparable_json(v, to_kind)));
            let found = match wanted {
                Same::Null => None,
                wanted => by_key.get(&wanted),
            };
            debug_assert_eq!(row.links.len(), i);
            let Some(found) = found else {
                if link.outer {
                    let mut row = row;
                    row.links.push(None);
                    out.push(row);
                }
                continue;
            };
            for linked in found {
                let mut links = row.links.clone();
                links.push(Some(*linked));
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
        if link.shown.select.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let rendered = self.entity(link.table, id, record, &link.shown)?;
        for (property, value) in rendered {
            if property.starts_with('@') {
                continue;
            }
            let (column, annotation) = match property.split_once('@') {
                Some((c, a)) => (c, Some(a)),
                None => (property.as_str(), None),
            };
            let name = match (&link.shown.select, &link.names) {
                (Some(columns), Some(names)) => {
                    // The first attribute of a column names it.
                    let at = columns.iter().position(|c| c == column);
                    match at.and_then(|at| names.get(at)) {
                        Some(name) => name.clone(),
                        None => continue,
                    }
                }
                _ => format!("{}.{column}", link.alias),
            };
            let name = match annotation {
                Some(annotation) => format!("{name}@{annotation}"),
                None => name,
            };
            into.insert(name, value);
        }
        Ok(())
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

/// Resolves a filter once per query, refusing a condition whose column is not one of its
/// table's (the entity's, or its link-entity's) or whose value does not fit the column.
fn resolve_filter<'t>(
    filter: &Filter,
    scope: &dyn Fn(&Condition) -> Result<Source<'t>, ApiError>,
) -> Result<Check, ApiError> {
    let mut conditions = Vec::with_capacity(filter.conditions.len());
    for condition in &filter.conditions {
        let (table, source) = scope(condition)?;
        let column = column_name(table, &condition.attribute)?;
        let kind = table.column(&column).map(|c| c.kind);
        let like = matches!(condition.operator, Operator::Like | Operator::NotLike);
        let mut values = Vec::with_capacity(condition.values.len());
        for value in &condition.values {
            let read = comparable(value, kind);
            if !like && read == Comparable::Null {
                return Err(invalid(format!(
                    "The value '{value}' of the condition on '{}' is not valid for its type.",
                    condition.attribute
                )));
            }
            values.push(read);
        }
        let first_text = condition
            .values
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let first = comparable(first_text, kind);
        let wanted = match condition.operator {
            Operator::In => values.into_iter().map(Same::of).collect(),
            _ => vec![Same::of(first.clone())],
        };
        conditions.push(Test {
            source,
            column,
            kind,
            operator: condition.operator,
            first,
            wanted,
            pattern: first_text.to_lowercase(),
        });
    }
    let filters = filter
        .filters
        .iter()
        .map(|f| resolve_filter(f, scope))
        .collect::<Result<_, _>>()?;
    Ok(Check {
        or: filter.or,
        conditions,
        filters,
    })
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

impl Check {
    /// Whether the filter holds; `record_of` gives each condition's record by its source
    /// (none for an outer link without a match).
    fn holds<'r>(&self, record_of: &dyn Fn(Option<usize>) -> Option<&'r Record>) -> bool {
        let mut results = self
            .conditions
            .iter()
            .map(|c| c.holds(record_of(c.source)))
            .chain(self.filters.iter().map(|f| f.holds(record_of)));
        if self.or {
            results.any(|r| r)
        } else {
            results.all(|r| r)
        }
    }
}

impl Test {
    fn holds(&self, record: Option<&Record>) -> bool {
        let value = record
            .and_then(|r| r.fields.get(&self.column))
            .unwrap_or(&Value::Null);
        let actual = comparable_json(value, self.kind);
        let is_null = actual == Comparable::Null;
        match self.operator {
            Operator::Null => is_null,
            Operator::NotNull => !is_null,
            // Like SQL, a comparison with a missing value is never true.
            _ if is_null => false,
            Operator::Like | Operator::NotLike => {
                // Text is lowercased already; dates and numbers are matched as written.
                let text = match (&actual, value) {
                    (Comparable::Text(t), _) => std::borrow::Cow::Borrowed(t.as_str()),
                    (_, Value::String(s)) => std::borrow::Cow::Owned(s.to_lowercase()),
                    (_, other) => std::borrow::Cow::Owned(other.to_string().to_lowercase()),
                };
                wildcard(&self.pattern, &text) == (self.operator == Operator::Like)
            }
            Operator::In | Operator::Eq => self.wanted.contains(&Same::of(actual)),
            Operator::Ne => !self.wanted.contains(&Same::of(actual)),
            operator => {
                let order = actual.partial_cmp(&self.first);
                match operator {
                    Operator::Gt => order == Some(Ordering::Greater),
                    Operator::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                    Operator::Lt => order == Some(Ordering::Less),
                    Operator::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                    _ => false,
                }
            }
        }
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
