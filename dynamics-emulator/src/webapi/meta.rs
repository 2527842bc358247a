//! The service document, `$metadata`, `WhoAmI()` and the basics of `EntityDefinitions`.

use std::collections::HashMap;

use axum::http::StatusCode;
use openssl::hash::{MessageDigest, hash};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::protocol::ApiResponse;
use super::{ApiError, WebApi};
use crate::odata::query::Query;
use crate::schema::{Kind, Table};
use crate::token::Caller;

/// The `EntityDefinitions` properties the CSDL can supply.
const DEFINITION_FIELDS: [&str; 6] = [
    "MetadataId",
    "LogicalName",
    "SchemaName",
    "EntitySetName",
    "PrimaryIdAttribute",
    "PrimaryNameAttribute",
];

impl WebApi {
    pub(super) fn service_document(&self) -> ApiResponse {
        let sets: Vec<Value> = self
            .schema
            .set_order
            .iter()
            .map(|s| json!({"name": s, "kind": "EntitySet", "url": s}))
            .collect();
        ApiResponse::json(
            StatusCode::OK,
            json!({"@odata.context": format!("{}$metadata", self.root), "value": sets}),
        )
    }

    pub(super) fn metadata(&self) -> ApiResponse {
        ApiResponse::text(StatusCode::OK, self.metadata_xml.clone(), "application/xml")
    }

    pub(super) fn who_am_i(&self, caller: &Caller) -> ApiResponse {
        ApiResponse::json(
            StatusCode::OK,
            json!({
                "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", self.root),
                "BusinessUnitId": self.business_unit_id,
                "UserId": caller.user_id,
                "OrganizationId": self.organization_id,
            }),
        )
    }

    /// `EntityDefinitions`, `EntityDefinitions(LogicalName='x')` or `EntityDefinitions(<id>)`,
    /// with `$select` and `$filter`.
    pub(super) fn entity_definitions(
        &self,
        key: Option<&str>,
        query: &Query,
    ) -> Result<ApiResponse, ApiError> {
        let select: Vec<&str> = match &query.select {
            Some(names) => {
                for name in names {
                    if !DEFINITION_FIELDS.contains(&name.as_str()) {
                        return Err(ApiError::bad_request(format!(
                            "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.EntityMetadata'."
                        )));
                    }
                }
                names.iter().map(String::as_str).collect()
            }
            None => DEFINITION_FIELDS.to_vec(),
        };
        let mut definitions: Vec<Map<String, Value>> = self
            .schema
            .set_order
            .iter()
            .filter_map(|set| self.schema.table(set))
            .map(definition)
            .collect();
        let context = format!("{}$metadata#EntityDefinitions", self.root);
        if let Some(key) = key {
            let wanted = key
                .strip_prefix("LogicalName='")
                .and_then(|k| k.strip_suffix('\''))
                .map(|name| ("LogicalName", name.to_owned()))
                .or_else(|| {
                    Uuid::parse_str(key.trim_start_matches("MetadataId="))
                        .ok()
                        .map(|id| ("MetadataId", id.to_string()))
                })
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "The key '{key}' is not valid for EntityDefinitions."
                    ))
                })?;
            let found = definitions
                .into_iter()
                .find(|d| d.get(wanted.0).and_then(Value::as_str) == Some(wanted.1.as_str()))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "0x80040217",
                        format!("Could not find an entity with {} = {}.", wanted.0, wanted.1),
                    )
                })?;
            let mut one = pick(&found, &select);
            one.insert("@odata.context".into(), json!(format!("{context}/$entity")));
            return Ok(ApiResponse::json(StatusCode::OK, Value::Object(one)));
        }
        if let Some(filter) = &query.filter {
            let kind_of = |p: &str| match p {
                "MetadataId" => Some(Kind::Guid),
                p if DEFINITION_FIELDS.contains(&p) => Some(Kind::String),
                _ => None,
            };
            filter.check(&kind_of).map_err(|e| {
                ApiError::bad_request(format!(
                    "{e} (type 'Microsoft.Dynamics.CRM.EntityMetadata')"
                ))
            })?;
            definitions.retain(|d| filter.matches(&|p| d.get(p), &kind_of));
        }
        let value: Vec<Value> = definitions
            .iter()
            .map(|d| Value::Object(pick(d, &select)))
            .collect();
        Ok(ApiResponse::json(
            StatusCode::OK,
            json!({"@odata.context": context, "value": value}),
        ))
    }
}

fn pick(definition: &Map<String, Value>, select: &[&str]) -> Map<String, Value> {
    let mut out: Map<String, Value> = select
        .iter()
        .map(|name| {
            (
                name.to_string(),
                definition.get(*name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    // Like Dataverse, the key comes back whether selected or not.
    out.insert(
        "MetadataId".into(),
        definition.get("MetadataId").cloned().unwrap_or(Value::Null),
    );
    out
}

/// What the CSDL says about a table. `SchemaName` is the type name, which is the logical name:
/// the real schema name's casing is not in the CSDL.
fn definition(table: &Table) -> Map<String, Value> {
    let fields: HashMap<&str, Value> = HashMap::from([
        ("MetadataId", json!(metadata_id(&table.logical_name))),
        ("LogicalName", json!(table.logical_name)),
        ("SchemaName", json!(table.logical_name)),
        ("EntitySetName", json!(table.set)),
        ("PrimaryIdAttribute", json!(table.primary_id)),
        (
            "PrimaryNameAttribute",
            json!(super::read::primary_name(table)),
        ),
    ]);
    DEFINITION_FIELDS
        .iter()
        .map(|name| {
            (
                name.to_string(),
                fields.get(name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// A stable id per logical name, so `MetadataId` is the same in every run.
pub(super) fn metadata_id(logical_name: &str) -> Uuid {
    let digest = hash(MessageDigest::sha1(), logical_name.as_bytes()).map(|d| d.to_vec());
    let mut bytes = [0u8; 16];
    if let Ok(digest) = digest {
        bytes.copy_from_slice(&digest[..16]);
    }
    uuid::Builder::from_bytes(bytes).into_uuid()
}
