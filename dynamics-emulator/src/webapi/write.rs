//! Writes: create, update and upsert (with `If-Match`/`If-None-Match`), delete, single
//! properties, lookups through `@odata.bind`, and associations through `$ref`; every value is
//! checked against the schema first.

use std::collections::HashMap;

use axum::http::{HeaderName, Method, StatusCode};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::protocol::{ApiRequest, ApiResponse};
use super::read::{View, related};
use super::{ApiError, Target, WebApi, json_object};
use crate::odata::filter::{Literal, comparable_json, parse_date, parse_datetime};
use crate::odata::path::{self, Key};
use crate::odata::query::{self, Query};
use crate::schema::{Column, Kind, Nav, Table};
use crate::store::{LookupRef, Tables};
use crate::token::Caller;

/// What a body asks to change, checked but not applied yet.
#[derive(Default)]
struct Changes {
    fields: Vec<(String, Value)>,
    /// (`_x_value` property, new target) — `None` clears the lookup.
    lookups: Vec<(String, Option<(LookupRef, Uuid)>)>,
    /// Collection-valued binds on create: (navigation property, target set, target id).
    associations: Vec<(String, String, Uuid)>,
}

impl WebApi {
    pub(super) fn write(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        let target = self.target(&request.path)?;
        match (&request.method, target) {
            (&Method::POST, Target::Collection(table)) => {
                let body = json_object(request)?;
                let id = match body.get(&table.key).or_else(|| body.get(&table.primary_id)) {
                    Some(value) => guid(table, value)?,
                    None => Uuid::new_v4(),
                };
                if tables.contains(&table.set, &id) {
                    return Err(duplicate());
                }
                self.insert(caller, table, id, &body, &[], tables)?;
                self.written(request, table, id, tables, StatusCode::CREATED)
            }
            (&Method::PATCH, Target::Entity(table, key)) => {
                self.upsert(caller, request, table, &key, tables)
            }
            (&Method::DELETE, Target::Entity(table, key)) => {
                let id = self.existing(tables, table, &key)?;
                self.check_etag(request, table, id, tables)?;
                self.delete(table, id, tables);
                Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
            }
            (&Method::PUT | &Method::DELETE, Target::Property(table, key, column)) => {
                let id = self.existing(tables, table, &key)?;
                let value = if request.method == Method::PUT {
                    json_object(request)?.remove("value").unwrap_or(Value::Null)
                } else {
                    Value::Null
                };
                if column.lookup || column.computed || column.name == table.key {
                    return Err(ApiError::bad_request(format!(
                        "The property '{}' cannot be set directly.",
                        column.name
                    )));
                }
                let value = check_value(table, column, &value)?;
                let name = column.name.clone();
                tables.update(&table.set, &id, |r| {
                    r.fields.insert(name, value);
                    touch(table, &mut r.fields);
                });
                Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
            }
            (
                method,
                Target::Navigation {
                    table,
                    key,
                    nav,
                    reference: true,
                    target_key,
                },
            ) => {
                let id = self.existing(tables, table, &key)?;
                self.reference_write(request, method, table, id, nav, target_key, tables)
            }
            (method, _) => Err(ApiError::method_not_allowed(method.as_str())),
        }
    }

    fn upsert(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        table: &Table,
        key: &Key,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        let body = json_object(request)?;
        let Some(id) = self.find(tables, table, key)? else {
            // `If-Match` (with `*` or an etag) forbids creating.
            if request.header("If-Match").is_some() {
                return Err(ApiError::record_missing(
                    &table.logical_name,
                    super::describe_key(key),
                ));
            }
            let (id, preset) = match key {
                Key::Id(id) => (*id, Vec::new()),
                Key::Named(parts) => match parts.as_slice() {
                    [(_, Literal::Guid(id))] => (*id, Vec::new()),
                    _ => (
                        Uuid::new_v4(),
                        super::alternate_key(table, parts)?
                            .into_iter()
                            .map(|(p, l)| (p.to_owned(), l.to_json()))
                            .collect(),
                    ),
                },
            };
            self.insert(caller, table, id, &body, &preset, tables)?;
            return self.written(request, table, id, tables, StatusCode::CREATED);
        };
        if request.header("If-None-Match") == Some("*") {
            return Err(duplicate());
        }
        self.check_etag(request, table, id, tables)?;
        if let Some(value) = body.get(&table.key).or_else(|| body.get(&table.primary_id))
            && guid(table, value)? != id
        {
            return Err(ApiError::bad_request(format!(
                "The value of '{}' in the body does not match the key in the URL.",
                table.key
            )));
        }
        let changes = self.changes(table, &body, tables)?;
        let mut fields = tables
            .get(&table.set, &id)
            .map(|r| r.fields.clone())
            .unwrap_or_default();
        for (name, value) in &changes.fields {
            fields.insert(name.clone(), value.clone());
        }
        self.check_alternate_keys(table, id, &fields, tables)?;
        tables.update(&table.set, &id, |r| {
            r.fields = fields;
            apply_lookups(&mut r.fields, &mut r.lookups, changes.lookups);
            touch(table, &mut r.fields);
        });
        for (nav, set, target) in changes.associations {
            self.associate_by_name(tables, table, id, &nav, &set, target)?;
        }
        self.written(request, table, id, tables, StatusCode::OK)
    }

    /// The reply to a successful create or update: 204 with `OData-EntityId`, or the record
    /// (`create_status` 201 for creates, 200 for updates) with `Prefer: return=representation`.
    fn written(
        &self,
        request: &ApiRequest,
        table: &Table,
        id: Uuid,
        tables: &Tables,
        status: StatusCode,
    ) -> Result<ApiResponse, ApiError> {
        let prefer = request.prefer();
        if !prefer.return_representation {
            return Ok(ApiResponse::empty(StatusCode::NO_CONTENT).with_header(
                HeaderName::from_static("odata-entityid"),
                self.entity_url(&table.set, id),
            ));
        }
        let mut query = query::parse(&request.query).map_err(ApiError::bad_request)?;
        if status == StatusCode::OK {
            // Dataverse ignores $expand on PATCH.
            query.expand.clear();
        }
        let record = tables
            .get(&table.set, &id)
            .ok_or_else(|| ApiError::record_missing(&table.logical_name, id))?;
        let view = View {
            api: self,
            tables,
            prefer: &prefer,
        };
        let mut body = view.entity(table, id, record, &query)?;
        body.insert(
            "@odata.context".into(),
            json!(self.context(&table.set, query.select.as_deref(), "/$entity")),
        );
        Ok(view
            .with_preferences(ApiResponse::json(status, Value::Object(body)))
            .with_header(
                HeaderName::from_static("preference-applied"),
                "return=representation",
            ))
    }

    /// `If-Match: <etag>` must name the current version.
    fn check_etag(
        &self,
        request: &ApiRequest,
        table: &Table,
        id: Uuid,
        tables: &Tables,
    ) -> Result<(), ApiError> {
        let Some(wanted) = request.header("If-Match") else {
            return Ok(());
        };
        let current = tables.get(&table.set, &id).map(|r| r.etag());
        if wanted.trim() == "*" || current.as_deref() == Some(wanted.trim()) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "0x80060882",
            "The version of the existing record doesn't match the RowVersion property provided.",
        ))
    }

    /// Creates a record from a checked body plus `preset` fields (from an alternate key).
    pub(super) fn insert(
        &self,
        caller: &Caller,
        table: &Table,
        id: Uuid,
        body: &Map<String, Value>,
        preset: &[(String, Value)],
        tables: &mut Tables,
    ) -> Result<(), ApiError> {
        let changes = self.changes(table, body, tables)?;
        let mut fields: Map<String, Value> = preset.iter().cloned().collect();
        let mut lookups = HashMap::new();
        fields.extend(changes.fields);
        apply_lookups(&mut fields, &mut lookups, changes.lookups);
        fields.insert(table.key.clone(), json!(id));
        if table.column(&table.primary_id).is_some() {
            fields.insert(table.primary_id.clone(), json!(id));
        }
        self.defaults(caller, table, &mut fields, &mut lookups);
        self.check_alternate_keys(table, id, &fields, tables)?;
        tables.insert(&table.set, id, fields, lookups);
        for (nav, set, target) in changes.associations {
            self.associate_by_name(tables, table, id, &nav, &set, target)?;
        }
        Ok(())
    }

    /// Values Dataverse fills in itself: timestamps, state, owner, business unit.
    fn defaults(
        &self,
        caller: &Caller,
        table: &Table,
        fields: &mut Map<String, Value>,
        lookups: &mut HashMap<String, LookupRef>,
    ) {
        let now = now_text();
        for (name, value) in [
            ("createdon", json!(now)),
            ("statecode", json!(0)),
            ("statuscode", json!(1)),
        ] {
            if table.column(name).is_some() && fields.get(name).is_none_or(Value::is_null) {
                fields.insert(name.into(), value);
            }
        }
        let principals = [
            ("_ownerid_value", "systemuser", caller.user_id),
            (
                "_owningbusinessunit_value",
                "businessunit",
                self.business_unit_id(),
            ),
        ];
        for (property, logical_name, id) in principals {
            let nav = table.navs_of_lookup(property).next();
            if let Some(nav) = nav
                && fields.get(property).is_none_or(Value::is_null)
                && self.schema.by_logical_name(logical_name).is_some()
            {
                fields.insert(property.into(), json!(id));
                lookups.insert(
                    property.into(),
                    LookupRef {
                        logical_name: logical_name.into(),
                        navigation: nav.name.clone(),
                    },
                );
            }
        }
        touch(table, fields);
    }

    /// Alternate keys are unique, as Dataverse enforces.
    fn check_alternate_keys(
        &self,
        table: &Table,
        id: Uuid,
        fields: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<(), ApiError> {
        for parts in &table.alternate_keys {
            let values: Vec<(&str, &Value)> = parts
                .iter()
                .filter_map(|(_, p)| Some((p.as_str(), fields.get(p).filter(|v| !v.is_null())?)))
                .collect();
            if values.len() != parts.len() {
                continue;
            }
            let clash = tables.rows(&table.set).into_iter().any(|(other, record)| {
                other != id
                    && values.iter().all(|(p, v)| {
                        let kind = table.column(p).map(|c| c.kind);
                        comparable_json(record.fields.get(*p).unwrap_or(&Value::Null), kind)
                            == comparable_json(v, kind)
                    })
            });
            if clash {
                return Err(duplicate());
            }
        }
        Ok(())
    }

    /// Deletes a record and unlinks every lookup that pointed at it.
    pub(super) fn delete(&self, table: &Table, id: Uuid, tables: &mut Tables) {
        tables.remove(&table.set, &id);
        for (set, other, property) in tables.referencing(&id) {
            tables.update(&set, &other, |r| {
                r.fields.insert(property.clone(), Value::Null);
                r.lookups.remove(&property);
            });
        }
    }

    /// Checks a body against the table's schema.
    fn changes(
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
                            "Deep insert through '{name}' is not supported by this emulator; create the related record and bind it with '{name}@odata.bind'."
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
                .push((name.clone(), check_value(table, column, value)?));
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

    #[allow(clippy::too_many_arguments)]
    fn reference_write(
        &self,
        request: &ApiRequest,
        method: &Method,
        table: &Table,
        id: Uuid,
        nav: &Nav,
        target_key: Option<Key>,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        let body_reference = |tables: &Tables| -> Result<(String, Uuid), ApiError> {
            let body = json_object(request)?;
            let text = body
                .get("@odata.id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("The body must be {\"@odata.id\": \"<entity URL>\"}.")
                })?;
            let (target, tid) = self.reference(tables, text, &nav.target)?;
            Ok((target.set.clone(), tid))
        };
        match (method, nav.collection) {
            (&Method::POST, true) => {
                let (set, target) = body_reference(tables)?;
                self.associate_by_name(tables, table, id, &nav.name, &set, target)?;
            }
            (&Method::PUT, false) => {
                let (set, target) = body_reference(tables)?;
                let logical_name = self
                    .schema
                    .table(&set)
                    .map(|t| t.logical_name.clone())
                    .unwrap_or_default();
                self.set_lookup(tables, table, id, nav, Some((logical_name, target)));
            }
            (&Method::DELETE, false) => self.set_lookup(tables, table, id, nav, None),
            (&Method::DELETE, true) => {
                let target_table = self
                    .schema
                    .set_of_type(&nav.target)
                    .ok_or_else(|| ApiError::no_segment(&nav.name))?;
                let target = match target_key {
                    Some(key) => self.existing(tables, target_table, &key)?,
                    None => {
                        let query: HashMap<String, String> =
                            url::form_urlencoded::parse(request.query.as_bytes())
                                .into_owned()
                                .collect();
                        let text = query.get("$id").ok_or_else(|| {
                            ApiError::bad_request("Disassociating needs $id=<entity URL> or a key after the navigation property.")
                        })?;
                        self.reference(tables, text, &nav.target)?.1
                    }
                };
                self.disassociate(tables, table, id, nav, target);
            }
            (method, _) => return Err(ApiError::method_not_allowed(method.as_str())),
        }
        Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
    }

    fn set_lookup(
        &self,
        tables: &mut Tables,
        table: &Table,
        id: Uuid,
        nav: &Nav,
        target: Option<(String, Uuid)>,
    ) {
        let Some(property) = nav.lookup_property.clone() else {
            return;
        };
        let change = target.map(|(logical_name, tid)| {
            let lookup = LookupRef {
                logical_name,
                navigation: nav.name.clone(),
            };
            (lookup, tid)
        });
        tables.update(&table.set, &id, |r| {
            apply_lookups(&mut r.fields, &mut r.lookups, vec![(property, change)]);
            touch(table, &mut r.fields);
        });
    }

    /// Adds `target` to the collection-valued navigation property `nav_name` of record `id`.
    fn associate_by_name(
        &self,
        tables: &mut Tables,
        table: &Table,
        id: Uuid,
        nav_name: &str,
        target_set: &str,
        target: Uuid,
    ) -> Result<(), ApiError> {
        let nav = table
            .navs
            .get(nav_name)
            .ok_or_else(|| undeclared(nav_name))?;
        let target_table = self
            .schema
            .table(target_set)
            .ok_or_else(|| ApiError::no_segment(target_set))?;
        match partner_lookup(target_table, nav) {
            Some((partner, property)) => {
                let lookup = LookupRef {
                    logical_name: table.logical_name.clone(),
                    navigation: partner.name.clone(),
                };
                tables.update(&target_table.set, &target, |r| {
                    apply_lookups(
                        &mut r.fields,
                        &mut r.lookups,
                        vec![(property, Some((lookup, id)))],
                    );
                    touch(target_table, &mut r.fields);
                });
            }
            None => {
                tables.link(&nav.name, id, target);
                if let Some(partner) = &nav.partner {
                    tables.link(partner, target, id);
                }
            }
        }
        Ok(())
    }

    fn disassociate(&self, tables: &mut Tables, table: &Table, id: Uuid, nav: &Nav, target: Uuid) {
        let Some(target_table) = self.schema.set_of_type(&nav.target) else {
            return;
        };
        let linked = {
            let view_rows = related(self, tables, table, nav, id).1;
            view_rows.iter().any(|(rid, _)| *rid == target)
        };
        if !linked {
            return;
        }
        match partner_lookup(target_table, nav) {
            Some((_, property)) => {
                tables.update(&target_table.set, &target, |r| {
                    apply_lookups(&mut r.fields, &mut r.lookups, vec![(property, None)]);
                    touch(target_table, &mut r.fields);
                });
            }
            None => {
                tables.unlink(&nav.name, id, target);
                if let Some(partner) = &nav.partner {
                    tables.unlink(partner, target, id);
                }
            }
        }
    }

    /// Loads seed records: `{"<set>": [{record}, ...]}`. Binds are applied after every record
    /// exists, so records may refer to each other in any order.
    pub(crate) fn seed(&self, caller: &Caller, json: &Value) -> Result<(), String> {
        let sets = json
            .as_object()
            .ok_or("seed data must be an object of entity sets")?;
        let mut tables = self.store.write();
        let mut binds = Vec::new();
        for (set, records) in sets {
            let table = self
                .schema
                .table(set)
                .ok_or_else(|| format!("unknown entity set '{set}'"))?;
            let records = records
                .as_array()
                .ok_or_else(|| format!("'{set}' must be an array of records"))?;
            for (i, record) in records.iter().enumerate() {
                let place = |e: ApiError| format!("{set}[{i}]: {}", e.message);
                let body = record
                    .as_object()
                    .ok_or_else(|| format!("{set}[{i}] is not an object"))?;
                let (plain, bind): (Map<String, Value>, Map<String, Value>) = body
                    .clone()
                    .into_iter()
                    .partition(|(k, _)| !k.ends_with("@odata.bind"));
                let id = match plain
                    .get(&table.key)
                    .or_else(|| plain.get(&table.primary_id))
                {
                    Some(value) => guid(table, value).map_err(place)?,
                    None => Uuid::new_v4(),
                };
                if tables.contains(&table.set, &id) {
                    return Err(format!("{set}[{i}]: a record with id {id} already exists"));
                }
                self.insert(caller, table, id, &plain, &[], &mut tables)
                    .map_err(place)?;
                binds.push((table, id, bind, format!("{set}[{i}]")));
            }
        }
        for (table, id, bind, place) in binds {
            let changes = self
                .changes(table, &bind, &tables)
                .map_err(|e| format!("{place}: {}", e.message))?;
            tables.update(&table.set, &id, |r| {
                apply_lookups(&mut r.fields, &mut r.lookups, changes.lookups);
            });
            for (nav, set, target) in changes.associations {
                self.associate_by_name(&mut tables, table, id, &nav, &set, target)
                    .map_err(|e| format!("{place}: {}", e.message))?;
            }
        }
        Ok(())
    }

    /// Creates the business unit and one application user per registered app, as an
    /// environment has them, so owner lookups and `WhoAmI` point at real records.
    pub(crate) fn seed_principals(
        &self,
        caller: &Caller,
        apps: &[(String, Uuid)],
    ) -> Result<(), String> {
        let mut sets = Map::new();
        let mut add = |logical: &str, fields: Vec<(&str, Value)>| {
            if let Some(table) = self.schema.by_logical_name(logical) {
                let record: Map<String, Value> = fields
                    .into_iter()
                    .filter(|(name, _)| table.column(name).is_some())
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect();
                if let Value::Array(records) = sets
                    .entry(table.set.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    records.push(Value::Object(record));
                }
            }
        };
        add(
            "businessunit",
            vec![
                ("businessunitid", json!(self.business_unit_id())),
                ("name", json!("emulator")),
            ],
        );
        for (client_id, user_id) in apps {
            let mut fields = vec![
                ("systemuserid", json!(user_id)),
                ("fullname", json!(format!("# {client_id}"))),
                ("azureactivedirectoryobjectid", json!(user_id)),
                ("isdisabled", json!(false)),
            ];
            if Uuid::parse_str(client_id).is_ok() {
                fields.push(("applicationid", json!(client_id)));
            }
            add("systemuser", fields);
        }
        self.seed(caller, &Value::Object(sets))
    }

    /// A record as `GET` would return it, for reading the store back in tests.
    pub(crate) fn snapshot(&self, set: &str, id: Option<Uuid>) -> Option<Vec<Value>> {
        let table = self.schema.table(set)?;
        let tables = self.store.read();
        let prefer = super::protocol::Prefer {
            annotations: Some("*".into()),
            ..Default::default()
        };
        let view = View {
            api: self,
            tables: &tables,
            prefer: &prefer,
        };
        let query = Query::default();
        let rows = tables.rows(&table.set);
        Some(
            rows.into_iter()
                .filter(|(rid, _)| id.is_none_or(|id| id == *rid))
                .filter_map(|(rid, r)| view.entity(table, rid, r, &query).ok().map(Value::Object))
                .collect(),
        )
    }
}

/// The single-valued partner of a collection nav on the target, and the lookup it sets.
fn partner_lookup<'t>(target: &'t Table, nav: &Nav) -> Option<(&'t Nav, String)> {
    let partner = target.navs.get(nav.partner.as_deref()?)?;
    Some((partner, partner.lookup_property.clone()?))
}

fn apply_lookups(
    fields: &mut Map<String, Value>,
    lookups: &mut HashMap<String, LookupRef>,
    changes: Vec<(String, Option<(LookupRef, Uuid)>)>,
) {
    for (property, change) in changes {
        match change {
            Some((lookup, id)) => {
                fields.insert(property.clone(), json!(id));
                lookups.insert(property, lookup);
            }
            None => {
                fields.insert(property.clone(), Value::Null);
                lookups.remove(&property);
            }
        }
    }
}

/// What every write updates: `modifiedon`, a computed `fullname`, `versionnumber` (which the
/// store then sets to the new version).
fn touch(table: &Table, fields: &mut Map<String, Value>) {
    if table.column("modifiedon").is_some() {
        fields.insert("modifiedon".into(), json!(now_text()));
    }
    if table.column("fullname").is_some_and(|c| c.computed) {
        let name: Vec<&str> = ["firstname", "lastname"]
            .iter()
            .filter_map(|n| fields.get(*n)?.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        fields.insert("fullname".into(), json!(name.join(" ")));
    }
    if table.column("versionnumber").is_some() {
        fields.insert("versionnumber".into(), json!(0));
    }
}

fn now_text() -> String {
    utc_text(OffsetDateTime::now_utc())
}

/// Dataverse's date-time form: UTC, whole seconds, `Z`.
fn utc_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn guid(table: &Table, value: &Value) -> Result<Uuid, ApiError> {
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

/// Checks one value against its column and returns it as stored.
fn check_value(table: &Table, column: &Column, value: &Value) -> Result<Value, ApiError> {
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
    let text = value.as_str();
    let stored = match column.kind {
        Kind::String => {
            let s = text.ok_or_else(mismatch)?;
            if let Some(max) = column.max_length
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
        Kind::Guid => json!(
            text.and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(mismatch)?
        ),
        Kind::Boolean => json!(value.as_bool().ok_or_else(mismatch)?),
        Kind::Integer(min, max) => {
            let i = value
                .as_i64()
                .filter(|i| (min..=max).contains(i))
                .ok_or_else(mismatch)?;
            json!(i)
        }
        Kind::Decimal | Kind::Double => {
            value.as_f64().ok_or_else(mismatch)?;
            value.clone()
        }
        Kind::Date => {
            text.and_then(parse_date).ok_or_else(mismatch)?;
            value.clone()
        }
        Kind::DateTimeOffset => {
            json!(utc_text(
                text.and_then(parse_datetime).ok_or_else(mismatch)?
            ))
        }
        Kind::Binary => {
            let s = text.ok_or_else(mismatch)?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| mismatch())?;
            value.clone()
        }
        Kind::Other => value.clone(),
    };
    Ok(stored)
}

fn duplicate() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "0x80040237",
        "A record with matching key values already exists.",
    )
}

/// Dataverse's answer to a bind whose navigation property name is unknown or wrongly cased.
fn undeclared(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "An undeclared property '{name}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
    ))
}

fn not_a_reference(value: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "'{value}' is not an entity reference such as '/accounts(00000000-0000-0000-0000-000000000000)'."
    ))
}
