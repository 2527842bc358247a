//! Global Discovery: `/api/discovery/v2.0/Instances` lists the environments of the tenant, the
//! emulator's own first, then those registered with
//! [`crate::EmulatorBuilder::discovery_instance`], which stand for other environments. Each is
//! also found by key, `Instances(<id>)` or `Instances(UniqueName='...')`, as the service allows
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/discovery-service>).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::webapi::ApiError;

/// An environment listed by Global Discovery beside the emulator's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryInstance {
    /// `UniqueName`, e.g. `org1a2b3c4d`.
    pub unique_name: String,
    /// `FriendlyName`, e.g. `Contoso (test)`.
    pub friendly_name: String,
    /// `Url`, e.g. `https://contoso-test.crm.dynamics.com`.
    pub url: String,
    /// `Region`, e.g. `EMEA`.
    pub region: String,
    /// `Version`, e.g. `9.2.24101.00000`.
    pub version: String,
}

/// The discovery service of one emulated tenant.
pub(crate) struct Discovery {
    base_url: String,
    /// The `Instance` entities, the emulator's own first.
    instances: Vec<Value>,
}

impl Discovery {
    pub(crate) fn new(
        base_url: &str,
        organization_id: Uuid,
        tenant: &str,
        others: &[DiscoveryInstance],
    ) -> Self {
        let own = DiscoveryInstance {
            unique_name: "emulator".into(),
            friendly_name: "Dataverse emulator".into(),
            url: base_url.to_owned(),
            region: "local".into(),
            version: "9.2.0.0".into(),
        };
        let instances = std::iter::once(instance_json(&own, organization_id, tenant))
            .chain(
                others
                    .iter()
                    .map(|i| instance_json(i, id_of(&i.url), tenant)),
            )
            .collect();
        Self {
            base_url: base_url.to_owned(),
            instances,
        }
    }

    /// `GET /api/discovery/v2.0/...`.
    pub(crate) fn handle(&self, uri: &Uri) -> Response {
        let path = uri.path().trim_start_matches("/api/discovery/v2.0/");
        let context = format!("{}/api/discovery/v2.0/$metadata#Instances", self.base_url);
        let body = if path == "Instances" {
            json!({"@odata.context": context, "value": self.instances})
        } else if let Some(key) = path
            .strip_prefix("Instances(")
            .and_then(|k| k.strip_suffix(')'))
        {
            let Some(found) = self.instances.iter().find(|i| matches(i, key)) else {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "0x80040217",
                    format!("No instance matches the key ({key})."),
                )
                .into_response();
            };
            let mut one = found.clone();
            if let Some(map) = one.as_object_mut() {
                map.insert("@odata.context".into(), json!(format!("{context}/$entity")));
            }
            one
        } else {
            return ApiError::no_segment(path).into_response();
        };
        let mut response = Response::new(Body::from(body.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; odata.metadata=minimal"),
        );
        response
    }
}

/// A stable id for an instance the builder registered: the first 16 bytes of its URL's SHA-256.
fn id_of(url: &str) -> Uuid {
    let digest = openssl::sha::sha256(url.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The `Instance` entity as Global Discovery returns it.
fn instance_json(instance: &DiscoveryInstance, id: Uuid, tenant: &str) -> Value {
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

/// Whether `instance` has the key `<guid>`, `Id=<guid>` or `UniqueName='...'`.
fn matches(instance: &Value, key: &str) -> bool {
    let field = |name: &str| instance.get(name).and_then(Value::as_str).unwrap_or("");
    if let Some(name) = key
        .strip_prefix("UniqueName='")
        .and_then(|k| k.strip_suffix('\''))
    {
        return name.eq_ignore_ascii_case(field("UniqueName"));
    }
    Uuid::parse_str(key.trim_start_matches("Id=")).is_ok_and(|id| id.to_string() == field("Id"))
}
