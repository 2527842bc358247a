//! Managed identity endpoints: the host-local token services an app in Azure asks instead of
//! Entra, in both flavours, issuing the emulator's own access tokens for configured identities.
//!
//! - App Service / Functions, `GET {base}/msi/token` (the value of `IDENTITY_ENDPOINT`):
//!   api-version 2019-08-01, `X-IDENTITY-HEADER` must carry `IDENTITY_HEADER`, a user-assigned
//!   identity is picked by `client_id`, `principal_id` or `mi_res_id`.
//!   <https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! - IMDS, `GET {base}/metadata/identity/oauth2/token` (`{base}` is what
//!   `AZURE_POD_IDENTITY_AUTHORITY_HOST` names): api-version 2018-02-01, `Metadata: true`
//!   required, `client_id`, `object_id` or `msi_res_id`.
//!   <https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>
//!
//! Both take the environment URL as `resource` (not an OAuth `scope`), and answer with string
//! numbers (`expires_on`, and for IMDS `expires_in`), as the services do.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::TokenService;
use super::core::now;

/// The App Service flavour's path under the base URL (its `IDENTITY_ENDPOINT`).
pub(crate) const APP_SERVICE_PATH: &str = "/msi/token";
/// The IMDS flavour's path under the base URL.
pub(crate) const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

/// A managed identity the emulated host has: system-assigned (at most one) or user-assigned.
/// Each gets an application user, so its tokens work against the Web API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedIdentity {
    client_id: String,
    object_id: Uuid,
    resource_id: Option<String>,
}

impl ManagedIdentity {
    /// The host's system-assigned identity, with this client (application) id.
    pub fn system_assigned(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            object_id: Uuid::new_v4(),
            resource_id: None,
        }
    }

    /// A user-assigned identity, with this client id and Azure resource id
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME`).
    pub fn user_assigned(client_id: impl Into<String>, resource_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            object_id: Uuid::new_v4(),
            resource_id: Some(resource_id.into()),
        }
    }

    /// Sets the object (principal) id, random otherwise.
    pub fn with_object_id(mut self, object_id: Uuid) -> Self {
        self.object_id = object_id;
        self
    }

    /// The client (application) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The object (principal) id.
    pub fn object_id(&self) -> Uuid {
        self.object_id
    }

    /// The Azure resource id of a user-assigned identity; `None` for the system-assigned one.
    pub fn resource_id(&self) -> Option<&str> {
        self.resource_id.as_deref()
    }

    fn is_system_assigned(&self) -> bool {
        self.resource_id.is_none()
    }
}

/// The host's identities, each with its application user, and the App Service secret header.
pub(crate) struct ManagedIdentities {
    identities: Vec<(ManagedIdentity, Uuid)>,
    header: String,
}

/// Which flavour a request came in through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    AppService,
    Imds,
}

impl Flavour {
    fn api_version(self) -> &'static str {
        match self {
            Flavour::AppService => "2019-08-01",
            Flavour::Imds => "2018-02-01",
        }
    }

    /// The query parameters naming a user-assigned identity by client id, object id and
    /// resource id.
    fn id_parameters(self) -> [&'static str; 3] {
        match self {
            Flavour::AppService => ["client_id", "principal_id", "mi_res_id"],
            Flavour::Imds => ["client_id", "object_id", "msi_res_id"],
        }
    }
}

/// A refusal, in the flavour's error shape.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn refuse(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
    }
}

impl ManagedIdentities {
    pub(crate) fn new(identities: Vec<ManagedIdentity>, header: String) -> Self {
        Self {
            identities: identities
                .into_iter()
                .map(|identity| (identity, Uuid::new_v4()))
                .collect(),
            header,
        }
    }

    /// `(client id, application user id)` of every identity, to seed their application users.
    pub(crate) fn principals(&self) -> impl Iterator<Item = (String, Uuid)> + '_ {
        self.identities
            .iter()
            .map(|(identity, user)| (identity.client_id.clone(), *user))
    }

    pub(crate) fn header(&self) -> &str {
        &self.header
    }

    /// Serves one token request of either flavour.
    pub(crate) fn handle(
        &self,
        flavour: Flavour,
        tokens: &TokenService,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Response {
        match self.issue(flavour, tokens, query, headers) {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(refusal) => {
                let body = match flavour {
                    // https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling
                    Flavour::Imds => json!({
                        "error": refusal.error,
                        "error_description": refusal.description,
                    }),
                    Flavour::AppService => json!({
                        "statusCode": refusal.status.as_u16(),
                        "message": refusal.description,
                        "correlationId": Uuid::new_v4(),
                    }),
                };
                json_response(refusal.status, &body)
            }
        }
    }

    fn issue(
        &self,
        flavour: Flavour,
        tokens: &TokenService,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Value, Refusal> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match flavour {
            Flavour::Imds => {
                if header("metadata") != Some("true") {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Required metadata header not specified",
                    ));
                }
                // IMDS refuses requests that went through a proxy.
                if headers.contains_key("x-forwarded-for") {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Request contains X-Forwarded-For header",
                    ));
                }
            }
            Flavour::AppService => {
                if header("x-identity-header") != Some(self.header.as_str()) {
                    return Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
                    ));
                }
            }
        }
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        match param("api-version") {
            Some(v) if v == flavour.api_version() => {}
            other => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!(
                        "api-version '{}' is not supported here; use {}",
                        other.unwrap_or_default(),
                        flavour.api_version()
                    ),
                ));
            }
        }
        if query.contains_key("scope") && !query.contains_key("resource") {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Managed identity takes 'resource', not 'scope'",
            ));
        }
        let resource = param("resource").ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required audience parameter not specified",
            )
        })?;
        let base = tokens.settings.base_url.as_str();
        if resource.trim_end_matches('/') != base {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                format!(
                    "AADSTS500011: The resource principal named {resource} was not found in the tenant."
                ),
            ));
        }
        let (identity, _) = self.select(flavour, &param)?;
        let lifetime = tokens.settings.lifetime.as_secs();
        let now = now();
        let expires_on = (now + lifetime as i64).to_string();
        // An app-only token, as Entra issues for a managed identity: `oid` is its object id.
        let access_token = tokens
            .sign(json!({
                "aud": base,
                "appid": identity.client_id,
                "azp": identity.client_id,
                "oid": identity.object_id,
                "sub": identity.object_id,
                "idtyp": "app",
                "ver": "1.0",
            }))
            .map_err(|_| {
                refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "There was an error issuing a token.",
                )
            })?;
        Ok(match flavour {
            Flavour::AppService => json!({
                "access_token": access_token,
                "expires_on": expires_on,
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }),
            Flavour::Imds => json!({
                "access_token": access_token,
                "refresh_token": "",
                "expires_in": lifetime.to_string(),
                "expires_on": expires_on,
                "not_before": now.to_string(),
                "resource": resource,
                "token_type": "Bearer",
            }),
        })
    }

    /// The identity the request names, or the system-assigned one when it names none.
    fn select<'a>(
        &'a self,
        flavour: Flavour,
        param: &dyn Fn(&str) -> Option<&'a str>,
    ) -> Result<&'a (ManagedIdentity, Uuid), Refusal> {
        let [by_client, by_object, by_resource] = flavour.id_parameters();
        let asked: Vec<_> = [by_client, by_object, by_resource]
            .into_iter()
            .filter_map(|name| param(name).map(|value| (name, value)))
            .collect();
        let not_found = |what: String| {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Identity not found: {what}"),
            )
        };
        match asked.as_slice() {
            [] => self
                .identities
                .iter()
                .find(|(identity, _)| identity.is_system_assigned())
                .ok_or_else(|| not_found("no system-assigned identity on this host".into())),
            [(name, value)] => self
                .identities
                .iter()
                .find(|(identity, _)| match *name {
                    n if n == by_client => identity.client_id.eq_ignore_ascii_case(value),
                    n if n == by_object => {
                        identity.object_id.to_string().eq_ignore_ascii_case(value)
                    }
                    _ => identity
                        .resource_id
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(value)),
                })
                .ok_or_else(|| not_found(format!("{name}={value}"))),
            _ => Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Only one of {by_client}, {by_object} or {by_resource} may be given"),
            )),
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
