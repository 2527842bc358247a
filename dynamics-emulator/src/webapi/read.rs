//! Reads: retrieve, query with paging, navigation, `$ref` and `$count`, rendering records with
//! `$select`, `$expand` and the annotations `Prefer: odata.include-annotations` asks for.

use std::cmp::Ordering;

use axum::http::{HeaderName, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::protocol::{ApiRequest, ApiResponse, Prefer};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::relate::related;
use super::{ApiError, Target, WebApi};
use crate::odata::filter::{Comparable, Context, Row, Shape, comparable_json};
use crate::odata::query::{self, Query};
use crate::schema::{Column, Kind, Nav, Table};
use crate::store::{Record, Tables};
use crate::token::Caller;

/// Dataverse's page size ceiling and default, and the cap on `@odata.count`.
pub(super) const MAX_PAGE: usize = 5000;

pub(super) const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
const ASSOCIATED_NAVIGATION: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";
const TOTAL_COUNT: &str = "Microsoft.Dynamics.CRM.totalrecordcount";
const TOTAL_COUNT_EXCEEDED: &str = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded";

/// Characters a decoded path may hold that a next link must encode.
const PATH_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Renders records for one request.
pub(super) struct View<'a> {
    pub(super) api: &'a WebApi,
    pub(super) tables: &'a Tables,
    pub(super) prefer: &'a Prefer,
    /// The caller's `systemuserid`, which `EqualUserId` compares with.
    pub(super) user: Uuid,
}

impl WebApi {
    /// A `GET` of a target already resolved from the request's path.
    pub(super) fn read_at(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        target: Target<'_>,
        tables: &Tables,
    ) -> Result<ApiResponse, ApiError> {
        let query = query::parse(&request.query).map_err(ApiError::bad_request)?;
        let prefer = request.prefer();
        let view = View {
            api: self,
            tables,
            prefer: &prefer,
            user: caller.user_id,
        };
        let tracking = prefer.track_changes || query.delta_token.is_some() || query.sync.is_some();
        if !matches!(target, Target::Collection(_)) {
            // Change tracking is for entity sets; elsewhere `Prefer` is ignored, as other
            // preferences are, but a token is an error.
            if query.delta_token.is_some() {
                return Err(ApiError::bad_request(
                    "The query parameter $deltatoken is only supported on an entity set.",
                ));
            }
            if query.sync.is_some() {
                return Err(ApiError::bad_request(
                    "The $skiptoken is not valid here; follow @odata.nextLink unchanged.",
                ));
            }
        }
        match target {
            Target::ServiceDocument => Ok(self.service_document()),
            Target::Metadata => Ok(self.metadata()),
            Target::WhoAmI => Ok(self.who_am_i(caller)),
            Target::EntityDefinitions(key) => self.entity_definitions(key.as_deref(), &query),
            Target::ChoiceAttributes {
                definition,
                attribute,
                cast,
            } => self.choice_attributes(&definition, attribute.as_deref(), &cast, &query),
            Target::GlobalOptionSets(key) => self.global_option_sets(key.as_deref(), &query),
            Target::Operation(addressed) => self.invoke(caller, request, addressed, Some(tables)),
            Target::Batch => Err(ApiError::method_not_allowed("GET")),
            Target::Collection(table) if tracking => view.changes(table, &query),
            Target::Collection(table) => match (&query.apply, &query.fetch_xml) {
                (Some(apply), _) => view.apply(table, apply, &query),
                (None, Some(xml)) => {
                    // `$count=true` is the one option FetchXML takes: "You can append
                    // `&$count=true` to your FetchXml query"
                    // (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/count-rows).
                    if query.select.is_some()
                        || query.filter.is_some()
                        || !query.orderby.is_empty()
                        || query.top.is_some()
                        || !query.expand.is_empty()
                    {
                        return Err(ApiError::bad_request(
                            "fetchXml cannot be combined with other query options than $count.",
                        ));
                    }
                    view.fetch(table, xml, query.count)
                }
                (None, None) => {
                    view.collection(table, tables.rows(&table.set), &query, &request.path)
                }
            },
            Target::Count(table) => {
                let rows = view.query_rows(table, tables.rows(&table.set), &query)?;
                let count = rows.len().min(MAX_PAGE);
                Ok(ApiResponse::text(
                    StatusCode::OK,
                    count.to_string(),
                    "text/plain",
                ))
            }
            Target::Entity(table, key) => {
                let id = self.existing(tables, table, &key)?;
                let Some(record) = tables.get(&table.set, &id) else {
                    return Err(ApiError::record_missing(&table.logical_name, id));
                };
                // 304 is never given with $expand or annotations, as Dataverse documents.
                if query.expand.is_empty()
                    && prefer.annotations.is_none()
                    && request.header("If-None-Match") == Some(record.etag().as_str())
                {
                    return Ok(ApiResponse::empty(StatusCode::NOT_MODIFIED));
                }
                let mut body = view.entity(table, id, record, &query)?;
                body.insert(
                    "@odata.context".into(),
                    json!(self.context(&table.set, query.select.as_deref(), "/$entity")),
                );
                Ok(view.with_preferences(ApiResponse::json(StatusCode::OK, Value::Object(body))))
            }
            Target::PropertyValue(table, key, column) => {
                // "To retrieve the raw value of a primitive property rather than JSON, append
                // `/$value`" (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-the-raw-value-of-a-property).
                let (_, value) = self.property(tables, table, &key, column)?;
                let text = match value {
                    Value::Null => return Ok(ApiResponse::empty(StatusCode::NO_CONTENT)),
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                Ok(ApiResponse::text(StatusCode::OK, text, "text/plain"))
            }
            Target::Property(table, key, column) => {
                // `{"@odata.context": ..., "value": ...}` (same page, "Retrieve a single
                // property value"); a null value is `204 No Content`, as OData answers it.
                let (id, value) = self.property(tables, table, &key, column)?;
                if value.is_null() {
                    return Ok(ApiResponse::empty(StatusCode::NO_CONTENT));
                }
                Ok(ApiResponse::json(
                    StatusCode::OK,
                    json!({
                        "@odata.context": format!("{}$metadata#{}({id})/{}", self.root, table.set, column.name),
                        "value": value,
                    }),
                ))
            }
            Target::Navigation {
                table,
                key,
                nav,
                reference,
                target_key: None,
            } => {
                let id = self.existing(tables, table, &key)?;
                view.navigation(table, id, nav, reference, &query, &request.path)
            }
            Target::NavigationCount(table, key, nav) => {
                let id = self.existing(tables, table, &key)?;
                let (target, rows) = view.related(table, nav, id);
                let count = match target {
                    Some(target) => view.query_rows(target, rows, &query)?.len(),
                    None => 0,
                };
                // Dataverse starts this plain-text count with a byte-order mark.
                Ok(ApiResponse::text(
                    StatusCode::OK,
                    format!("\u{feff}{}", count.min(MAX_PAGE)),
                    "text/plain",
                ))
            }
            Target::Navigation { nav, .. } => Err(ApiError::bad_request(format!(
                "A key after '{}' is only valid with DELETE .../$ref.",
                nav.name
            ))),
        }
    }

    /// The id of the record `key` names and the value of one of its columns (`null` when it
    /// has none); a missing record is a 404.
    fn property(
        &self,
        tables: &Tables,
        table: &Table,
        key: &super::Key,
        column: &Column,
    ) -> Result<(Uuid, Value), ApiError> {
        let id = self.existing(tables, table, key)?;
        let value = tables
            .get(&table.set, &id)
            .and_then(|r| r.fields.get(&column.name))
            .cloned()
            .unwrap_or(Value::Null);
        Ok((id, value))
    }

    /// `{root}$metadata#set(select)suffix`.
    pub(super) fn context(&self, set: &str, select: Option<&[String]>, suffix: &str) -> String {
        match select {
            Some(columns) => format!(
                "{}$metadata#{set}({}){suffix}",
                self.root,
                columns.join(",")
            ),
            None => format!("{}$metadata#{set}{suffix}", self.root),
        }
    }
}

impl<'a> View<'a> {
    /// Adds `Preference-Applied` for the preferences this reply honoured.
    pub(super) fn with_preferences(&self, mut response: ApiResponse) -> ApiResponse {
        if let Some(annotations) = &self.prefer.annotations {
            response = response.with_header(
                HeaderName::from_static("preference-applied"),
                format!("odata.include-annotations=\"{annotations}\""),
            );
        }
        response
    }

    /// The records on one page: `odata.maxpagesize` when asked, within Dataverse's cap.
    pub(super) fn page_size(&self) -> usize {
        self.prefer
            .max_page_size
            .unwrap_or(MAX_PAGE)
            .clamp(1, MAX_PAGE)
    }

    /// `response` with `Preference-Applied: odata.maxpagesize=…` when a page size was asked.
    pub(super) fn with_page_size_applied(&self, response: ApiResponse) -> ApiResponse {
        match self.prefer.max_page_size {
            Some(size) => response.with_header(
                HeaderName::from_static("preference-applied"),
                format!("odata.maxpagesize={}", size.clamp(1, MAX_PAGE)),
            ),
            None => response,
        }
    }

    /// One record as the Web API shows it.
    pub(super) fn entity(
        &self,
        table: &Table,
        id: Uuid,
        record: &Record,
        query: &Query,
    ) -> Result<Map<String, Value>, ApiError> {
        let select = query.select.as_deref();
        if let Some(select) = select {
            for name in select {
                if table.column(name).is_none() {
                    return Err(unknown_property(table, name));
                }
            }
        }
        let mut out = Map::new();
        out.insert("@odata.etag".into(), json!(record.etag()));
        for column in &table.columns {
            let keep = select.is_none_or(|s| {
                s.contains(&column.name)
                    || column.name == table.key
                    || column.name == table.primary_id
            });
            if !keep {
                continue;
            }
            let value = record
                .fields
                .get(&column.name)
                .cloned()
                .unwrap_or(Value::Null);
            self.annotate(&mut out, table, column, record, &value);
            out.insert(column.name.clone(), value);
        }
        if !table.columns.iter().any(|c| c.name == table.primary_id) {
            out.insert(table.primary_id.clone(), json!(id));
        }
        for item in &query.expand {
            let nav = table
                .navs
                .get(&item.navigation)
                .ok_or_else(|| unknown_property(table, &item.navigation))?;
            let value = if nav.collection {
                let (target, rows) = self.related(table, nav, id);
                match target {
                    Some(target) => {
                        let mut rows = self.query_rows(target, rows, &item.query)?;
                        rows.truncate(item.query.top.unwrap_or(usize::MAX));
                        let mut items = Vec::with_capacity(rows.len());
                        for (rid, r) in rows {
                            items.push(Value::Object(self.entity(target, rid, r, &item.query)?));
                        }
                        Value::Array(items)
                    }
                    None => Value::Array(Vec::new()),
                }
            } else {
                match self.single(nav, record) {
                    Some((target, tid, t)) => {
                        let mut expanded = self.entity(target, tid, t, &item.query)?;
                        // A derived type behind a base-typed navigation property (an owner
                        // behind `principal`) names itself, as OData requires.
                        if target.qualified_name != nav.target {
                            expanded.insert(
                                "@odata.type".into(),
                                json!(format!("#{}", target.qualified_name)),
                            );
                        }
                        Value::Object(expanded)
                    }
                    None => Value::Null,
                }
            };
            out.insert(nav.name.clone(), value);
        }
        Ok(out)
    }

    /// The annotations of one value, as far as the request asked for them.
    fn annotate(
        &self,
        out: &mut Map<String, Value>,
        table: &Table,
        column: &Column,
        record: &Record,
        value: &Value,
    ) {
        if value.is_null() || self.prefer.annotations.is_none() {
            return;
        }
        let name = &column.name;
        if let Some(lookup) = record.lookups.get(name) {
            if self.prefer.wants(FORMATTED)
                && let Some(text) = self.lookup_name(lookup, value)
            {
                out.insert(format!("{name}@{FORMATTED}"), json!(text));
            }
            if self.prefer.wants(ASSOCIATED_NAVIGATION) {
                out.insert(
                    format!("{name}@{ASSOCIATED_NAVIGATION}"),
                    json!(lookup.navigation),
                );
            }
            if self.prefer.wants(LOOKUP_LOGICAL_NAME) {
                out.insert(
                    format!("{name}@{LOOKUP_LOGICAL_NAME}"),
                    json!(lookup.logical_name),
                );
            }
        } else if self.prefer.wants(FORMATTED)
            && let Some(text) = self
                .api
                .choice_label(table, name, value)
                .or_else(|| formatted(column.kind, value))
        {
            out.insert(format!("{name}@{FORMATTED}"), json!(text));
        }
    }

    /// The primary name of the record a lookup points at.
    fn lookup_name(&self, lookup: &crate::store::LookupRef, value: &Value) -> Option<String> {
        let table = self.api.schema.by_logical_name(&lookup.logical_name)?;
        let id = Uuid::parse_str(value.as_str()?).ok()?;
        let record = self.tables.get(&table.set, &id)?;
        primary_name(table).and_then(|c| record.fields.get(c)?.as_str().map(str::to_owned))
    }

    /// The record a single-valued navigation property points at.
    pub(super) fn single(
        &self,
        nav: &Nav,
        record: &Record,
    ) -> Option<(&'a Table, Uuid, &'a Record)> {
        let property = nav.lookup_property.as_deref()?;
        let id = Uuid::parse_str(record.fields.get(property)?.as_str()?).ok()?;
        let target = match record.lookups.get(property) {
            Some(lookup) => self.api.schema.by_logical_name(&lookup.logical_name)?,
            None => self.api.schema.set_of_type(&nav.target)?,
        };
        // A polymorphic lookup answers only through the navigation properties that fit its table.
        if !self
            .api
            .schema
            .derives_from(&target.qualified_name, &nav.target)
        {
            return None;
        }
        let found = self.tables.get(&target.set, &id)?;
        Some((target, id, found))
    }

    /// The records a collection-valued navigation property of record `id` holds.
    pub(super) fn related(
        &self,
        table: &Table,
        nav: &Nav,
        id: Uuid,
    ) -> (Option<&'a Table>, Vec<(Uuid, &'a Record)>) {
        related(self.api, self.tables, table, nav, id)
    }

    /// Filters and sorts `rows` by `query` (`$top` is left to the caller).
    pub(super) fn query_rows(
        &self,
        table: &Table,
        mut rows: Vec<(Uuid, &'a Record)>,
        query: &Query,
    ) -> Result<Vec<(Uuid, &'a Record)>, ApiError> {
        if let Some(filter) = &query.filter {
            // Worked out once, not per row: a path through a navigation property to an
            // abstract type (`ownerid/...`) searches the schema's tables for its column.
            let kinds: Vec<(String, Option<Kind>)> = filter
                .properties()
                .into_iter()
                .map(|p| {
                    let kind = path_kind(self.api, table, &p);
                    (p.into_owned(), kind)
                })
                .collect();
            let shape = TableShape {
                api: self.api,
                table,
                kinds: Some(&kinds),
            };
            filter.check(&shape).map_err(|e| {
                ApiError::bad_request(format!("{e} (type '{}')", table.qualified_name))
            })?;
            let context = Context {
                now: time::OffsetDateTime::now_utc(),
                user: self.user,
                business_unit: self.api.business_unit_id(),
            };
            rows.retain(|(id, record)| {
                filter.holds(&RecordRow {
                    view: self,
                    shape,
                    id: *id,
                    record,
                    context: &context,
                })
            });
        }
        for (property, _) in &query.orderby {
            if table.column(property).is_none() {
                return Err(unknown_property(table, property));
            }
        }
        if query.orderby.is_empty() {
            return Ok(rows);
        }
        let order = SortOrder::new(table, &query.orderby);
        let mut keyed: Vec<(Vec<Comparable>, (Uuid, &'a Record))> = rows
            .into_iter()
            .map(|row| (order.values(row.1), row))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| order.compare(a, b));
        Ok(keyed.into_iter().map(|(_, row)| row).collect())
    }

    /// `@odata.count` (when `counted`) and the total-count annotations (when asked for) of a
    /// collection of `total` records: counts stop at 5,000.
    pub(super) fn insert_count(&self, body: &mut Map<String, Value>, total: usize, counted: bool) {
        if self.prefer.wants(TOTAL_COUNT) {
            let count = if counted {
                total.min(MAX_PAGE) as i64
            } else {
                -1
            };
            body.insert(format!("@{TOTAL_COUNT}"), json!(count));
            body.insert(format!("@{TOTAL_COUNT_EXCEEDED}"), json!(total > MAX_PAGE));
        }
        if counted {
            body.insert("@odata.count".into(), json!(total.min(MAX_PAGE)));
        }
    }

    /// A collection reply: filtered, sorted, paged, with `@odata.count` and `@odata.nextLink`.
    pub(super) fn collection(
        &self,
        table: &Table,
        rows: Vec<(Uuid, &Record)>,
        query: &Query,
        path: &str,
    ) -> Result<ApiResponse, ApiError> {
        let mut rows = self.query_rows(table, rows, query)?;
        // @odata.count counts every match; $top then limits, unless a page size was asked for
        // (Dataverse ignores $top with odata.maxpagesize).
        let total = rows.len();
        if let Some(top) = query.top
            && self.prefer.max_page_size.is_none()
        {
            rows.truncate(top);
        }
        let page_size = self.page_size();
        let offset = query.skip.unwrap_or(0);
        let mut values = Vec::with_capacity(page_size.min(total));
        for (id, record) in rows.iter().skip(offset).take(page_size) {
            values.push(Value::Object(self.entity(table, *id, record, query)?));
        }
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(self.api.context(&table.set, query.select.as_deref(), "")),
        );
        self.insert_count(&mut body, total, query.count);
        body.insert("value".into(), Value::Array(values));
        if offset + page_size < rows.len() {
            let token = query::skiptoken(offset + page_size, (offset + page_size) / page_size + 1);
            let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
            let path = utf8_percent_encode(path, PATH_UNSAFE);
            let separator = if query.raw_without_skiptoken.is_empty() {
                ""
            } else {
                "&"
            };
            body.insert(
                "@odata.nextLink".into(),
                json!(format!(
                    "{}{path}?{}{separator}$skiptoken={token}",
                    self.api.root, query.raw_without_skiptoken
                )),
            );
        }
        Ok(self.with_page_size_applied(
            self.with_preferences(ApiResponse::json(StatusCode::OK, Value::Object(body))),
        ))
    }

    fn navigation(
        &self,
        table: &Table,
        id: Uuid,
        nav: &Nav,
        reference: bool,
        query: &Query,
        path: &str,
    ) -> Result<ApiResponse, ApiError> {
        let api = self.api;
        let record = self
            .tables
            .get(&table.set, &id)
            .ok_or_else(|| ApiError::record_missing(&table.logical_name, id))?;
        if nav.collection {
            let (target, rows) = self.related(table, nav, id);
            let Some(target) = target else {
                return Ok(ApiResponse::json(StatusCode::OK, json!({"value": []})));
            };
            if reference {
                let refs: Vec<Value> = self
                    .query_rows(target, rows, query)?
                    .iter()
                    .map(|(rid, _)| json!({"@odata.id": api.entity_url(&target.set, *rid)}))
                    .collect();
                return Ok(ApiResponse::json(
                    StatusCode::OK,
                    json!({"@odata.context": format!("{}$metadata#Collection($ref)", api.root), "value": refs}),
                ));
            }
            return self.collection(target, rows, query, path);
        }
        let Some((target, tid, found)) = self.single(nav, record) else {
            return Ok(ApiResponse::empty(StatusCode::NO_CONTENT));
        };
        let body = if reference {
            json!({"@odata.context": format!("{}$metadata#$ref", api.root), "@odata.id": api.entity_url(&target.set, tid)})
        } else {
            let mut body = self.entity(target, tid, found, query)?;
            body.insert(
                "@odata.context".into(),
                json!(api.context(&target.set, query.select.as_deref(), "/$entity")),
            );
            Value::Object(body)
        };
        Ok(self.with_preferences(ApiResponse::json(StatusCode::OK, body)))
    }
}

/// `(property, descending)` sort keys, as `$orderby` and FetchXML `<order>` give them, with
/// each property's kind worked out once.
pub(super) struct SortOrder<'k> {
    keys: Vec<(&'k str, Option<Kind>, bool)>,
}

impl<'k> SortOrder<'k> {
    pub(super) fn new(table: &Table, keys: &'k [(String, bool)]) -> Self {
        let keys = keys
            .iter()
            .map(|(property, descending)| {
                let kind = table.column(property).map(|c| c.kind);
                (property.as_str(), kind, *descending)
            })
            .collect();
        Self { keys }
    }

    /// A record's values for the keys: worked out once per record, so a sort compares
    /// without converting (and lowercasing) values on every comparison.
    pub(super) fn values(&self, record: &Record) -> Vec<Comparable> {
        self.keys
            .iter()
            .map(|(property, kind, _)| {
                comparable_json(record.fields.get(*property).unwrap_or(&Value::Null), *kind)
            })
            .collect()
    }

    /// Orders two records by their [`SortOrder::values`].
    pub(super) fn compare(&self, a: &[Comparable], b: &[Comparable]) -> Ordering {
        for (((_, _, descending), x), y) in self.keys.iter().zip(a).zip(b) {
            let order = x.partial_cmp(y).unwrap_or(Ordering::Equal);
            let order = if *descending { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

pub(super) fn unknown_property(table: &Table, name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Could not find a property named '{name}' on type '{}'.",
        table.qualified_name
    ))
}

/// The column Dataverse would use as the record's name, guessed from common names since the
/// CSDL does not say which one it is.
pub(super) fn primary_name(table: &Table) -> Option<&str> {
    ["name", "fullname", "subject", "title"]
        .into_iter()
        .find(|n| table.column(n).is_some())
        .or_else(|| {
            table
                .columns
                .iter()
                .find(|c| c.kind == Kind::String && c.name.ends_with("_name"))
                .map(|c| c.name.as_str())
        })
}

/// A formatted value in the en-US style Dataverse uses for a user with default settings.
pub(super) fn formatted(kind: Kind, value: &Value) -> Option<String> {
    match (kind, value) {
        (Kind::Boolean, Value::Bool(b)) => Some(if *b { "Yes" } else { "No" }.into()),
        (Kind::Integer(..), Value::Number(n)) => n.as_i64().map(|i| group(&i.to_string())),
        (Kind::Decimal | Kind::Double, Value::Number(n)) => n.as_f64().map(|f| {
            let fixed = format!("{f:.2}");
            let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, "00"));
            format!("{}.{frac}", group(int))
        }),
        (Kind::DateTimeOffset, Value::String(s)) => {
            let t = crate::odata::filter::parse_datetime(s)?;
            let (hour, am) = match t.hour() {
                0 => (12, "AM"),
                h @ 1..=11 => (h, "AM"),
                12 => (12, "PM"),
                h => (h - 12, "PM"),
            };
            Some(format!(
                "{}/{}/{} {hour}:{:02} {am}",
                u8::from(t.month()),
                t.day(),
                t.year(),
                t.minute()
            ))
        }
        (Kind::Date, Value::String(s)) => {
            let d = crate::odata::filter::parse_date(s)?;
            Some(format!("{}/{}/{}", u8::from(d.month()), d.day(), d.year()))
        }
        _ => None,
    }
}

/// `1234567` → `1,234,567` (keeps a leading minus sign).
fn group(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_dataverse_en_us() {
        let int = Kind::Integer(0, 1 << 30);
        assert_eq!(
            formatted(int, &json!(1234567)).as_deref(),
            Some("1,234,567")
        );
        assert_eq!(formatted(int, &json!(-12)).as_deref(), Some("-12"));
        assert_eq!(
            formatted(Kind::Decimal, &json!(20000)).as_deref(),
            Some("20,000.00")
        );
        assert_eq!(
            formatted(Kind::Boolean, &json!(true)).as_deref(),
            Some("Yes")
        );
        assert_eq!(
            formatted(Kind::DateTimeOffset, &json!("2024-03-05T15:04:00Z")).as_deref(),
            Some("3/5/2024 3:04 PM")
        );
        assert_eq!(
            formatted(Kind::Date, &json!("2024-12-01")).as_deref(),
            Some("12/1/2024")
        );
        assert_eq!(formatted(Kind::String, &json!("x")), None);
    }
}

/// The kind of a property, or of `nav/property` through a single-valued navigation property.
fn path_kind(api: &WebApi, table: &Table, path: &str) -> Option<Kind> {
    match path.split_once('/') {
        None => table.column(path).map(|c| c.kind),
        Some((nav, property)) => {
            let nav = table.navs.get(nav).filter(|n| !n.collection)?;
            api.schema
                .column_of_type(&nav.target, property)
                .map(|c| c.kind)
        }
    }
}

/// A table's properties for a filter: the kinds worked out once for the query's own table,
/// and the related tables lambdas reach.
#[derive(Clone, Copy)]
struct TableShape<'a> {
    api: &'a WebApi,
    table: &'a Table,
    kinds: Option<&'a [(String, Option<Kind>)]>,
}

impl Shape for TableShape<'_> {
    fn kind(&self, path: &str) -> Option<Kind> {
        match self
            .kinds
            .and_then(|kinds| kinds.iter().find(|(p, _)| p == path))
        {
            Some((_, kind)) => *kind,
            None => path_kind(self.api, self.table, path),
        }
    }

    fn related(&self, navigation: &str) -> Option<Box<dyn Shape + '_>> {
        let nav = self.table.navs.get(navigation).filter(|n| n.collection)?;
        let table = self.api.schema.set_of_type(&nav.target)?;
        Some(Box::new(TableShape {
            api: self.api,
            table,
            kinds: None,
        }))
    }
}

/// A stored record as a filter sees it.
struct RecordRow<'v, 's> {
    view: &'s View<'v>,
    shape: TableShape<'s>,
    id: Uuid,
    record: &'v Record,
    context: &'s Context,
}

impl<'v> Row<'v> for RecordRow<'v, '_> {
    fn value(&self, path: &str) -> Option<&'v Value> {
        match path.split_once('/') {
            None => self.record.fields.get(path),
            Some((nav, property)) => {
                let (_, _, target) = self
                    .view
                    .single(self.shape.table.navs.get(nav)?, self.record)?;
                target.fields.get(property)
            }
        }
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.shape.kind(path)
    }

    fn related(&self, navigation: &str) -> Vec<Box<dyn Row<'v> + '_>> {
        let table = self.shape.table;
        let Some(nav) = table.navs.get(navigation).filter(|n| n.collection) else {
            return Vec::new();
        };
        let (Some(target), rows) = self.view.related(table, nav, self.id) else {
            return Vec::new();
        };
        let shape = TableShape {
            api: self.view.api,
            table: target,
            kinds: None,
        };
        rows.into_iter()
            .map(|(id, record)| {
                Box::new(RecordRow {
                    view: self.view,
                    shape,
                    id,
                    record,
                    context: self.context,
                }) as Box<dyn Row<'v> + '_>
            })
            .collect()
    }

    fn parent(&self, id: Uuid) -> Option<Uuid> {
        let table = self.shape.table;
        let lookup = hierarchy_lookup(table)?;
        let record = self.view.tables.get(&table.set, &id)?;
        Uuid::parse_str(record.fields.get(lookup)?.as_str()?).ok()
    }

    fn context(&self) -> &Context {
        self.context
    }
}

/// The lookup that makes a table a hierarchy: a single-valued navigation property to the
/// table itself, the one named `parent…` when there are several (account's
/// `parentaccountid` rather than `masterid`).
fn hierarchy_lookup(table: &Table) -> Option<&str> {
    let mut own: Vec<(&str, &str)> = table
        .navs
        .values()
        .filter(|n| !n.collection && n.target == table.qualified_name)
        .filter_map(|n| Some((n.name.as_str(), n.lookup_property.as_deref()?)))
        .collect();
    own.sort_unstable();
    own.iter()
        .find(|(name, _)| name.starts_with("parent"))
        .or(own.first())
        .map(|(_, lookup)| *lookup)
}
