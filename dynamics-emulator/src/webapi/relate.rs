//! Relationships: `$ref` writes on single- and collection-valued navigation properties,
//! one-to-many through the partner lookup and many-to-many as links.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::protocol::{ApiRequest, ApiResponse};
use super::validate::undeclared;
use super::write::touch;
use super::{ApiError, WebApi, json_object};
use crate::odata::path::Key;
use crate::schema::{Nav, Table};
use crate::store::{LookupRef, Record, Tables};

impl WebApi {
    pub(super) fn reference_write(
        &self,
        request: &ApiRequest,
        table: &Table,
        id: Uuid,
        nav: &Nav,
        target_key: Option<Key>,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        if !nav.collection && nav.lookup_property.is_none() {
            return Err(ApiError::bad_request(format!(
                "'{}' has no lookup column and cannot be set through $ref.",
                nav.name
            )));
        }
        let body_reference = |tables: &Tables| -> Result<(&Table, Uuid), ApiError> {
            let body = json_object(request)?;
            let text = body
                .get("@odata.id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("The body must be {\"@odata.id\": \"<entity URL>\"}.")
                })?;
            self.reference(tables, text, &nav.target)
        };
        match (&request.method, nav.collection) {
            (&Method::POST, true) => {
                let (target_table, target) = body_reference(tables)?;
                self.associate_by_name(tables, table, id, &nav.name, &target_table.set, target)?;
            }
            (&Method::PUT, false) => {
                let (target_table, target) = body_reference(tables)?;
                let logical_name = target_table.logical_name.clone();
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

    pub(super) fn set_lookup(
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
    pub(super) fn associate_by_name(
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
                // Dataverse keeps one intersect row per pair: linking a linked pair again
                // breaks the key ("Cannot insert duplicate key", -2147220937 = 0x80040237,
                // https://learn.microsoft.com/troubleshoot/power-platform/dataverse/user-permissions/client-errors).
                if tables.linked(&nav.name, id).contains(&target) {
                    return Err(duplicate_link());
                }
                tables.link(&nav.name, id, target);
                if let Some(partner) = &nav.partner {
                    tables.link(partner, target, id);
                }
            }
        }
        Ok(())
    }

    pub(super) fn disassociate(
        &self,
        tables: &mut Tables,
        table: &Table,
        id: Uuid,
        nav: &Nav,
        target: Uuid,
    ) {
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
}

/// The single-valued partner of a collection nav on the target, and the lookup it sets.
pub(super) fn partner_lookup<'t>(target: &'t Table, nav: &Nav) -> Option<(&'t Nav, String)> {
    let partner = target.navs.get(nav.partner.as_deref()?)?;
    Some((partner, partner.lookup_property.clone()?))
}

pub(super) fn apply_lookups(
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

/// The records a collection-valued navigation property of record `id` of `table` holds: the
/// rows of the target whose partner lookup points back here, or the N:N links.
pub(super) fn related<'t>(
    api: &'t WebApi,
    tables: &'t Tables,
    table: &Table,
    nav: &Nav,
    id: Uuid,
) -> (Option<&'t Table>, Vec<(Uuid, &'t Record)>) {
    let Some(target) = api.schema.set_of_type(&nav.target) else {
        return (None, Vec::new());
    };
    let partner = nav
        .partner
        .as_deref()
        .and_then(|p| target.navs.get(p))
        .filter(|p| p.lookup_property.is_some());
    let rows = match partner {
        Some(partner) => {
            let property = partner.lookup_property.as_deref().unwrap_or_default();
            let wanted = id.to_string();
            tables
                .rows(&target.set)
                .into_iter()
                .filter(|(_, r)| {
                    r.fields.get(property).and_then(Value::as_str) == Some(wanted.as_str())
                        && r.lookups.get(property).is_none_or(|l| {
                            l.navigation == partner.name || l.logical_name == table.logical_name
                        })
                })
                .collect()
        }
        None => tables
            .linked(&nav.name, id)
            .into_iter()
            .filter_map(|rid| Some((rid, tables.get(&target.set, &rid)?)))
            .collect(),
    };
    (Some(target), rows)
}

/// The refusal of a many-to-many pair that is already linked. The code and message are
/// Microsoft's; the status is the emulator's choice for that code (Microsoft documents none).
fn duplicate_link() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "0x80040237",
        "Cannot insert duplicate key.",
    )
}
