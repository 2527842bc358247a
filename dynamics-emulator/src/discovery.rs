//! Global Discovery: `/api/discovery/v2.0/Instances` lists the one environment this emulator is.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::webapi::ApiError;

/// The discovery service of one emulated environment.
pub(crate) struct Discovery {
    base_url: String,
    instance: Value,
}

impl Discovery {
    pub(crate) fn new(base_url: &str, organization_id: Uuid, tenant: &str) -> Self {
        let instance = json!({
            "Id": organization_id,
            "UniqueName": "emulator",
            "UrlName": "emulator",
            "FriendlyName": "Dataverse emulator",
            "State": 0,
            "Version": "9.2.0.0",
            "Url": base_url,
            "ApiUrl": base_url,
            "LastUpdated": "2024-01-01T00:00:00Z",
            "EnvironmentId": organization_id,
            "Region": "local",
            "TenantId": tenant,
            "Purpose": "",
            "TrialExpirationDate": null,
            "IsUserSysAdmin": true,
            "OrganizationType": 0,
        });
        Self {
            base_url: base_url.to_owned(),
            instance,
        }
    }

    pub(crate) fn handle(&self, uri: &Uri) -> Response {
        let path = uri.path().trim_start_matches("/api/discovery/v2.0/");
        let context = format!("{}/api/discovery/v2.0/$metadata#Instances", self.base_url);
        let body = if path == "Instances" {
            json!({"@odata.context": context, "value": [self.instance]})
        } else if let Some(key) = path
            .strip_prefix("Instances(")
            .and_then(|k| k.strip_suffix(')'))
        {
            if !self.matches(key) {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "0x80040217",
                    format!("No instance matches the key ({key})."),
                )
                .into_response();
            }
            let mut one = self.instance.clone();
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

    /// `Instances(<guid>)` or `Instances(UniqueName='...')`.
    fn matches(&self, key: &str) -> bool {
        let field = |name: &str| {
            self.instance
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        if let Some(name) = key
            .strip_prefix("UniqueName='")
            .and_then(|k| k.strip_suffix('\''))
        {
            return name.eq_ignore_ascii_case(field("UniqueName"));
        }
        Uuid::parse_str(key.trim_start_matches("Id=")).is_ok_and(|id| id.to_string() == field("Id"))
    }
}
