//! Writes: create, update and upsert (with `If-Match`/`If-None-Match`), delete and single
//! properties; Dataverse's own columns (timestamps, owner, version) are filled in here.

use std::collections::HashMap;

use axum::http::{HeaderName, Method, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::protocol::{ApiRequest, ApiResponse};
use super::read::View;
use super::relate::apply_lookups;
use super::validate::guid;
use super::{ApiError, Target, WebApi, json_object};
use crate::odata::filter::Literal;
use crate::odata::path::Key;
use crate::odata::query::{self};
use crate::schema::Table;
use crate::store::{LookupRef, Tables};
use crate::token::Caller;

impl WebApi {
    pub(super) fn write(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        self.write_at(caller, request, self.target(&request.path)?, tables)
    }

    /// [`WebApi::write`] to a target already resolved from the request's path.
    pub(super) fn write_at(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        target: Target<'_>,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        match (&request.method, target) {
            (&Method::POST, Target::Collection(table)) => {
                let body = json_object(request)?;
                // A deep insert is one transaction: all its records or none.
                let id = tables.atomically(|tables| {
                    let id = self.create(caller, table, body, tables)?;
                    self.detect_duplicates_of(request, table, id, tables)?;
                    Ok::<_, ApiError>(id)
                })?;
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
                let value = self.checked_value(table, column, &value)?;
                if table
                    .alternate_keys
                    .iter()
                    .any(|key| key.iter().any(|(_, property)| *property == column.name))
                {
                    // The key index holds one record per value: keep the values unique.
                    let mut fields = tables
                        .get(&table.set, &id)
                        .map(|r| r.fields.clone())
                        .unwrap_or_default();
                    fields.insert(column.name.clone(), value.clone());
                    self.check_alternate_keys(table, id, &fields, tables)?;
                }
                let name = column.name.clone();
                tables.update(&table.set, &id, |r| {
                    r.fields.insert(name, value);
                    touch(table, &mut r.fields);
                });
                Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
            }
            (
                _,
                Target::Navigation {
                    table,
                    key,
                    nav,
                    reference: true,
                    target_key,
                },
            ) => {
                let id = self.existing(tables, table, &key)?;
                self.reference_write(request, table, id, nav, target_key, tables)
            }
            (_, Target::Operation(addressed)) => match self.builtin_bulk(&addressed) {
                Some(message) => self.bulk(caller, request, addressed, message, tables),
                None => self.invoke(caller, request, addressed, Some(tables)),
            },
            (method, _) => Err(ApiError::method_not_allowed(method.as_str())),
        }
    }

    pub(super) fn upsert(
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
                            .values
                            .into_iter()
                            .map(|(p, l)| (p.to_owned(), l.to_json()))
                            .collect(),
                    ),
                },
            };
            tables.atomically(|tables| {
                self.insert(caller, table, id, &body, &preset, tables)?;
                self.detect_duplicates_of(request, table, id, tables)
            })?;
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
        self.detect_duplicates(request, table, id, &fields, tables)?;
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
    /// (`status`: 201 for creates, 200 for updates) with `Prefer: return=representation`.
    pub(super) fn written(
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
            // Only renders records: no `$filter` of the caller's request reads the user here.
            user: Uuid::nil(),
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
    pub(super) fn check_etag(
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

    /// Creates a record from a `POST` body, nested records (deep insert) first.
    fn create(
        &self,
        caller: &Caller,
        table: &Table,
        body: Map<String, Value>,
        tables: &mut Tables,
    ) -> Result<Uuid, ApiError> {
        let body = self.deep_insert(caller, table, body, tables)?;
        let id = match body.get(&table.key).or_else(|| body.get(&table.primary_id)) {
            Some(value) => guid(table, value)?,
            None => Uuid::new_v4(),
        };
        if tables.contains(&table.set, &id) {
            return Err(duplicate());
        }
        self.insert(caller, table, id, &body, &[], tables)?;
        Ok(id)
    }

    /// Creates the records nested under navigation properties and puts binds in their place:
    /// an object for a single-valued one, an array of objects for a collection.
    fn deep_insert(
        &self,
        caller: &Caller,
        table: &Table,
        body: Map<String, Value>,
        tables: &mut Tables,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut out = Map::new();
        for (name, value) in body {
            let Some(nav) = table
                .navs
                .get(&name)
                .filter(|_| value.is_object() || value.is_array())
            else {
                out.insert(name, value);
                continue;
            };
            let target = self.schema.set_of_type(&nav.target).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Deep insert through '{name}' needs a target table with an entity set."
                ))
            })?;
            let records = match (nav.collection, value) {
                (false, Value::Object(record)) => vec![Value::Object(record)],
                (true, Value::Array(records)) => records,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Deep insert through '{name}' takes {}.",
                        if nav.collection {
                            "an array of objects"
                        } else {
                            "an object"
                        }
                    )));
                }
            };
            let mut references = Vec::with_capacity(records.len());
            for record in records {
                let Value::Object(record) = record else {
                    return Err(ApiError::bad_request(format!(
                        "Deep insert through '{name}' takes objects."
                    )));
                };
                let id = self.create(caller, target, record, tables)?;
                references.push(json!(format!("/{}({id})", target.set)));
            }
            let bind = if nav.collection {
                Value::Array(references)
            } else {
                references.pop().unwrap_or(Value::Null)
            };
            out.insert(format!("{name}@odata.bind"), bind);
        }
        Ok(out)
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
    pub(super) fn defaults(
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
            ("_createdby_value", "systemuser", caller.user_id),
            ("_modifiedby_value", "systemuser", caller.user_id),
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

    /// [`WebApi::detect_duplicates`] for a record already written to `tables`.
    fn detect_duplicates_of(
        &self,
        request: &ApiRequest,
        table: &Table,
        id: Uuid,
        tables: &Tables,
    ) -> Result<(), ApiError> {
        match tables.get(&table.set, &id) {
            Some(record) => self.detect_duplicates(request, table, id, &record.fields, tables),
            None => Ok(()),
        }
    }

    /// Alternate keys are unique, as Dataverse enforces.
    pub(super) fn check_alternate_keys(
        &self,
        table: &Table,
        id: Uuid,
        fields: &Map<String, Value>,
        tables: &Tables,
    ) -> Result<(), ApiError> {
        for key in 0..table.alternate_keys.len() {
            if tables.key_holder(&table.set, key, fields, id).is_some() {
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
}

/// What every write updates: `modifiedon`, a computed `fullname`, `versionnumber` (which the
/// store then sets to the new version).
pub(super) fn touch(table: &Table, fields: &mut Map<String, Value>) {
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

pub(super) fn now_text() -> String {
    utc_text(OffsetDateTime::now_utc())
}

/// Dataverse's date-time form: UTC, whole seconds, `Z`.
pub(super) fn utc_text(t: OffsetDateTime) -> String {
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

pub(super) fn duplicate() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "0x80040237",
        "A record with matching key values already exists.",
    )
}
