//! Runs a FetchXML query on an entity set: conditions evaluated with SQL's null semantics,
//! results in the Web API's JSON shape without null properties, and paging with the paging
//! cookie and `morerecords` annotations.

use std::cmp::Ordering;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiError;
use super::protocol::ApiResponse;
use super::read::{MAX_PAGE, View, compare_records};
use crate::odata::fetch::{Condition, Filter, Operator, PagingCookie};
use crate::odata::filter::{Comparable, comparable_json};
use crate::odata::query::Query;
use crate::schema::{Kind, Table};
use crate::store::Record;

const PAGING_COOKIE: &str = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie";
const MORE_RECORDS: &str = "Microsoft.Dynamics.CRM.morerecords";

/// Dataverse's code for an invalid FetchXML document.
const INVALID_FETCH: &str = "0x80040203";
/// Dataverse's code for an attribute the entity does not have.
const NO_ATTRIBUTE: &str = "0x80041103";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, INVALID_FETCH, message)
}

impl View<'_> {
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
        if let Some(filter) = &fetch.filter {
            check_filter(table, filter)?;
        }
        let mut rows: Vec<(Uuid, &Record)> = self
            .tables
            .rows(&table.set)
            .into_iter()
            .filter(|(_, r)| fetch.filter.as_ref().is_none_or(|f| matches(table, f, r)))
            .collect();
        // Ties keep the primary key's order, so pages never overlap.
        rows.sort_by(|(ia, a), (ib, b)| {
            compare_records(table, &orders, a, b).then_with(|| ia.cmp(ib))
        });
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
        let page: Vec<(Uuid, &Record)> = rows.into_iter().skip(skip).take(size).collect();
        let query = Query {
            select: select.clone(),
            ..Query::default()
        };
        let mut value = Vec::with_capacity(page.len());
        for (id, record) in &page {
            let mut entity = self.entity(table, *id, record, &query)?;
            // FetchXML results leave out null properties.
            entity.retain(|_, v| !v.is_null());
            value.push(Value::Object(entity));
        }
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(self.api.context(&table.set, select.as_deref(), "")),
        );
        body.insert("value".into(), Value::Array(value));
        if more {
            if self.prefer.wants(PAGING_COOKIE) {
                body.insert(
                    format!("@{PAGING_COOKIE}"),
                    json!(paging_cookie(table, fetch.page, &page)),
                );
            }
            if self.prefer.wants(MORE_RECORDS) {
                body.insert(format!("@{MORE_RECORDS}"), json!(true));
            }
        }
        Ok(self.with_preferences(ApiResponse::json(StatusCode::OK, Value::Object(body))))
    }
}

/// Where the page after a paging cookie starts: just after the cookie's last key, as the
/// service reads on from there (records added or removed before it do not shift the page).
/// `None` when that record is gone: then the page number counts. A cookie for another page
/// than the one before is refused.
fn after_cookie(
    cookie: &PagingCookie,
    page: usize,
    rows: &[(Uuid, &Record)],
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
    Ok(rows.iter().position(|(id, _)| *id == last).map(|i| i + 1))
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

fn check_filter(table: &Table, filter: &Filter) -> Result<(), ApiError> {
    for condition in &filter.conditions {
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
        .try_for_each(|f| check_filter(table, f))
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

fn matches(table: &Table, filter: &Filter, record: &Record) -> bool {
    let mut results = filter
        .conditions
        .iter()
        .map(|c| condition_holds(table, c, record))
        .chain(filter.filters.iter().map(|f| matches(table, f, record)));
    if filter.or {
        results.any(|r| r)
    } else {
        results.all(|r| r)
    }
}

fn condition_holds(table: &Table, condition: &Condition, record: &Record) -> bool {
    let Ok(column) = column_name(table, &condition.attribute) else {
        return false;
    };
    let kind = table.column(&column).map(|c| c.kind);
    let value = record.fields.get(&column).unwrap_or(&Value::Null);
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
fn paging_cookie(table: &Table, page: usize, rows: &[(Uuid, &Record)]) -> String {
    let key =
        |row: Option<&(Uuid, &Record)>| row.map(|(id, _)| format!("{{{id}}}")).unwrap_or_default();
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
