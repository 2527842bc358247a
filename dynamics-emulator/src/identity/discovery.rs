//! Global Discovery with several instances: the emulator's own (from [`crate::discovery`]) and
//! those registered with the builder, which stand for other environments of the tenant.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::json_response;
use crate::server::Shared;

/// A stable id per instance URL: the first 16 bytes of its SHA-256.
fn id_of(url: &str) -> uuid::Uuid {
    let digest = openssl::sha::sha256(url.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn instance_json(instance: &super::DiscoveryInstance, tenant: &str) -> Value {
    let id = id_of(&instance.url);
    json!({
        "Id": id,
        "UniqueName": instance.unique_name,
        "UrlName": instance.unique_name,
        "FriendlyName": instance.friendly_name,
        "State": 0,
        "Version": instance.version,
        "Url": instance.url,
        "ApiUrl": instance.url,
        "LastUpdated": "2024-01-01T00:00:00Z",
        "EnvironmentId": id,
        "Region": instance.region,
        "TenantId": tenant,
        "Purpose": "",
        "TrialExpirationDate": null,
        "IsUserSysAdmin": true,
        "OrganizationType": 0,
    })
}

/// `GET /api/discovery/v2.0/...`: the emulator's answer, with the extra instances appended to
/// the `Instances` list.
pub(crate) async fn handle(shared: &Shared, request: Request<Body>) -> Response {
    let own = shared.discovery.handle(request.uri());
    let path = request.uri().path();
    let extras = shared.identity.state().instances.clone();
    if extras.is_empty() || !path.ends_with("/Instances") || own.status() != StatusCode::OK {
        return own;
    }
    let Ok(bytes) = axum::body::to_bytes(own.into_body(), 16 << 20).await else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"code": "0x80040216", "message": "Discovery failed."}}),
        );
    };
    let mut body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"value": []}));
    if let Some(list) = body.get_mut("value").and_then(Value::as_array_mut) {
        list.extend(
            extras
                .iter()
                .map(|i| instance_json(i, &shared.identity.tenant)),
        );
    }
    let mut response = json_response(StatusCode::OK, &body);
    if let Ok(value) = "application/json; odata.metadata=minimal".parse() {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, value);
    }
    response
}
