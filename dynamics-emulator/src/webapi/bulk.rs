//! The bulk operation messages bound to an entity set: `CreateMultiple`, `UpdateMultiple`,
//! `UpsertMultiple` and `DeleteMultiple`, served for the tables whose metadata binds them.
//!
//! As Microsoft Learn describes them ("Use bulk operation messages",
//! <https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>, and the
//! action references under
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/createmultiple>):
//! `POST {set}/Microsoft.Dynamics.CRM.CreateMultiple` with `{"Targets": [...]}`, every target
//! carrying `@odata.type`; `CreateMultiple` answers `200` with the created `Ids` in order, the
//! other three `204`. On a standard table "all operations roll back on error", so the targets
//! are written as one transaction and the first failure is the answer. `UpsertMultiple` finds a
//! record by the primary key in the body or by `@odata.id` naming a key
//! (`sample_examples(sample_keyattribute='1')`).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::operations::Addressed;
use super::protocol::{ApiRequest, ApiResponse};
use super::validate::guid;
use super::{ApiError, WebApi};
use crate::schema::Table;
use crate::store::Tables;
use crate::token::Caller;

/// One of the four messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Message {
    Create,
    Update,
    Upsert,
    Delete,
}

impl Message {
    /// The message an operation name stands for.
    pub(super) fn named(name: &str) -> Option<Self> {
        Some(match name {
            "CreateMultiple" => Message::Create,
            "UpdateMultiple" => Message::Update,
            "UpsertMultiple" => Message::Upsert,
            "DeleteMultiple" => Message::Delete,
            _ => return None,
        })
    }
}

impl WebApi {
    /// Runs a bulk message on `tables`, all targets or none.
    pub(super) fn bulk(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        addressed: Addressed<'_>,
        message: Message,
        tables: &mut Tables,
    ) -> Result<ApiResponse, ApiError> {
        // The binding and the parameters are checked as for any declared action.
        let parameters = self.checked_action(request, &addressed)?;
        let table = addressed
            .table
            .ok_or_else(|| ApiError::bad_request("A bulk message is bound to an entity set."))?;
        let Some(Value::Array(targets)) = parameters.get("Targets") else {
            return Err(ApiError::bad_request(
                "Request message has unresolved parameters: 'Targets' must be a collection.",
            ));
        };
        let expected = format!("Microsoft.Dynamics.CRM.{}", table.logical_name);
        let ids = tables.atomically(|tables| {
            let mut ids = Vec::with_capacity(targets.len());
            for (index, target) in targets.iter().enumerate() {
                let Value::Object(target) = target else {
                    return Err(ApiError::bad_request(format!(
                        "Targets[{index}] is not an entity."
                    )));
                };
                let ty = target.get("@odata.type").and_then(Value::as_str);
                let ty = ty.map(|t| {
                    t.trim_start_matches('#')
                        .replace("mscrm.", "Microsoft.Dynamics.CRM.")
                });
                if ty.as_deref() != Some(expected.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "Targets[{index}] must carry \"@odata.type\": \"{expected}\"."
                    )));
                }
                ids.push(self.bulk_one(caller, table, message, target, tables)?);
            }
            Ok(ids)
        })?;
        if message != Message::Create {
            return Ok(ApiResponse::empty(StatusCode::NO_CONTENT));
        }
        Ok(ApiResponse::json(
            StatusCode::OK,
            json!({
                "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", self.root),
                "Ids": ids,
            }),
        ))
    }

    /// One target, written as the single request it stands for.
    fn bulk_one(
        &self,
        caller: &Caller,
        table: &Table,
        message: Message,
        target: &Map<String, Value>,
        tables: &mut Tables,
    ) -> Result<Uuid, ApiError> {
        let mut body = target.clone();
        body.remove("@odata.type");
        let named = body
            .remove("@odata.id")
            .and_then(|v| v.as_str().map(str::to_owned));
        let id = match body.get(&table.key).or_else(|| body.get(&table.primary_id)) {
            Some(value) => Some(guid(table, value)?),
            None => None,
        };
        let mut headers = HeaderMap::new();
        let (method, path) = match (message, id, &named) {
            (Message::Create, _, _) => (Method::POST, table.set.clone()),
            (_, Some(id), _) => (patch_or_delete(message), format!("{}({id})", table.set)),
            (Message::Upsert, None, Some(url)) => (Method::PATCH, relative(url, &table.set)?),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Each target needs its primary key '{}'.",
                    table.key
                )));
            }
        };
        if message == Message::Update {
            // An update never creates: a missing record is an error.
            headers.insert("if-match", HeaderValue::from_static("*"));
        }
        if message == Message::Delete {
            body.clear();
        }
        let request = ApiRequest {
            method,
            path,
            query: String::new(),
            headers,
            body: serde_json::to_vec(&Value::Object(body))
                .unwrap_or_default()
                .into(),
        };
        let response = self.write(caller, &request, tables)?;
        if !response.status.is_success() {
            return Err(ApiError::new(
                response.status,
                "0x80040216",
                "A target of the bulk message failed.",
            ));
        }
        match id {
            Some(id) => Ok(id),
            None => response
                .headers
                .iter()
                .find(|(name, _)| name.as_str() == "odata-entityid")
                .and_then(|(_, url)| {
                    url.rsplit_once('(')
                        .map(|(_, rest)| rest.trim_end_matches(')').to_owned())
                })
                .and_then(|text| Uuid::parse_str(&text).ok())
                .ok_or_else(|| ApiError::bad_request("The created record's id is unknown.")),
        }
    }
}

fn patch_or_delete(message: Message) -> Method {
    if message == Message::Delete {
        Method::DELETE
    } else {
        Method::PATCH
    }
}

/// `@odata.id` as a path under the Web API root: `accounts(accountnumber='A1')`, relative or
/// absolute, naming this entity set.
fn relative(url: &str, set: &str) -> Result<String, ApiError> {
    let path = match url.find("/api/data/") {
        Some(at) => url[at + "/api/data/".len()..]
            .split_once('/')
            .map_or("", |(_, rest)| rest),
        None => url.trim_start_matches('/'),
    };
    if !path.starts_with(&format!("{set}(")) {
        return Err(ApiError::bad_request(format!(
            "The @odata.id '{url}' does not name a record of '{set}'."
        )));
    }
    Ok(path.to_owned())
}
