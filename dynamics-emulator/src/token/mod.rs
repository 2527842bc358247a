//! The emulator's one token service, standing in for Entra ID's v2 endpoints:
//! `/{tenant}/oauth2/v2.0/token` serves the client-credentials grant (with a certificate or a
//! secret), the device code grant and refresh tokens, and `/{tenant}/oauth2/v2.0/devicecode`
//! starts a device sign-in. Every application comes from the directory's one registry
//! ([`crate::identity`]), whether given to the builder or created through Microsoft Graph.
//!
//! It signs every access token with one key, and [`TokenService::authenticate`] is the one check
//! of a bearer token, with [`TokenService::unauthorized`] the one 401 it answers.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>.

mod client_credentials;
pub(crate) mod core;
mod device_code;
pub(crate) mod federated;
pub(crate) mod managed_identity;

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use self::core::{Rejection, SeenAssertions, SigningKey, bearer, now, reject, token_reply};
use crate::Error;
use crate::identity::Identity;
use crate::jws::Jws;
use crate::server::json_response;

/// The grant type of a device code redemption.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The `kid` of every token the service signs.
const KID: &str = "emulator-identity";

/// The identity behind a valid access token, as the Web API sees it.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The user's `systemuserid` (an application user's for an app-only token).
    pub(crate) user_id: Uuid,
}

/// Who a valid bearer token belongs to.
#[derive(Clone, Debug)]
pub(crate) enum Principal {
    /// A signed-in directory user.
    User { object_id: Uuid },
    /// An application (client credentials), with its `appId`.
    App { app_id: String },
}

/// What the builder sets for the token service.
pub(crate) struct Settings {
    pub(crate) tenant: String,
    pub(crate) base_url: String,
    /// `expires_in` of every access token.
    pub(crate) lifetime: Duration,
    /// The longest `exp - nbf` a client assertion may span; `None` for no limit.
    pub(crate) max_assertion_lifetime: Option<Duration>,
    /// The `interval` a device code response asks clients to poll at.
    pub(crate) poll_interval: Duration,
}

/// Issues and checks tokens for one tenant and one environment.
pub(crate) struct TokenService {
    settings: Settings,
    key: SigningKey,
    /// The `jti` of every client assertion accepted, so none is accepted twice.
    seen: SeenAssertions,
}

impl TokenService {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        Ok(Self {
            settings,
            key: SigningKey::generate()?,
            seen: SeenAssertions::default(),
        })
    }

    /// The token endpoint's URL, which client assertions must name as `aud`.
    pub(crate) fn endpoint(&self) -> String {
        core::token_endpoint(&self.settings.base_url, &self.settings.tenant)
    }

    /// `POST /{tenant}/oauth2/v2.0/token`: `tenant` from the path, `body` the form.
    pub(crate) fn token(&self, directory: &Identity, tenant: &str, body: &Bytes) -> Response {
        let form = Form::parse(body);
        let reply = match form.get("grant_type") {
            None => Err(core::missing("grant_type")),
            Some("client_credentials") => client_credentials::grant(self, directory, tenant, &form),
            Some(DEVICE_CODE_GRANT) => device_code::redeem(self, directory, tenant, &form),
            Some("refresh_token") => device_code::refresh(self, directory, tenant, &form),
            Some(grant) => Err(reject(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant}'."),
            )),
        };
        token_reply(reply)
    }

    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    pub(crate) fn device_code(&self, directory: &Identity, tenant: &str, body: &Bytes) -> Response {
        match device_code::start(self, directory, tenant, &Form::parse(body)) {
            Ok(reply) => json_response(StatusCode::OK, &reply),
            Err(rejection) => rejection.into_response(),
        }
    }

    /// Signs an access, id or app token: `claims` plus the issuer, times and tenant.
    fn sign(&self, mut claims: Value) -> Result<String, Rejection> {
        let now = now();
        let Settings {
            tenant,
            base_url,
            lifetime,
            ..
        } = &self.settings;
        if let Some(map) = claims.as_object_mut() {
            map.insert("iss".into(), json!(format!("{base_url}/{tenant}/v2.0")));
            map.insert("iat".into(), json!(now));
            map.insert("nbf".into(), json!(now));
            map.insert("exp".into(), json!(now + lifetime.as_secs() as i64));
            map.insert("tid".into(), json!(tenant));
        }
        self.key
            .sign(&json!({"alg": "RS256", "typ": "JWT", "kid": KID}), &claims)
    }

    /// Refuses a tenant other than the emulator's; `organizations` and `common` pass where a
    /// multi-tenant sign-in allows them.
    fn check_tenant(&self, tenant: &str, allow_common: bool) -> Result<(), Rejection> {
        let ours = tenant.eq_ignore_ascii_case(&self.settings.tenant)
            || (allow_common
                && ["organizations", "common"]
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(tenant)));
        if ours {
            return Ok(());
        }
        Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found."),
        ))
    }

    /// The one check of a bearer token (Web API, discovery and Graph calls): signed by this
    /// service, for this environment, not expired. The error is the 401 to send.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Box<Response>> {
        let Some(token) = bearer(headers) else {
            return Err(self.unauthorized(None));
        };
        let jws = Jws::parse(token).ok_or_else(|| self.unauthorized(Some("malformed token")))?;
        if !self.key.signed(&jws) {
            return Err(self.unauthorized(Some("invalid signature")));
        }
        if jws.claim_str("aud") != Some(self.settings.base_url.as_str()) {
            return Err(self.unauthorized(Some("the token is for another environment")));
        }
        match jws.claim_time("exp") {
            Some(exp) if exp > now() => {}
            _ => return Err(self.unauthorized(Some("the token is expired"))),
        }
        let malformed = || self.unauthorized(Some("malformed token"));
        if jws.claim_str("idtyp") == Some("app") {
            let app_id = jws.claim_str("appid").ok_or_else(malformed)?;
            return Ok(Principal::App {
                app_id: app_id.to_owned(),
            });
        }
        let object_id = jws
            .claim_str("oid")
            .and_then(|oid| Uuid::parse_str(oid).ok())
            .ok_or_else(malformed)?;
        Ok(Principal::User { object_id })
    }

    /// The 401 with Dataverse's `WWW-Authenticate` challenge, saying why when there was a token.
    pub(crate) fn unauthorized(&self, why: Option<&str>) -> Box<Response> {
        let Settings {
            tenant, base_url, ..
        } = &self.settings;
        let mut challenge = format!(
            "Bearer authorization_uri={base_url}/{tenant}/oauth2/authorize, resource_id={base_url}"
        );
        if let Some(why) = why {
            challenge.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{why}\""
            ));
        }
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        Box::new(response)
    }
}

/// A token request's form fields.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field, absent when empty (as Entra treats an empty field).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A field the request must have (AADSTS900144 otherwise).
    fn require(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name).ok_or_else(|| core::missing(name))
    }
}

/// The resource of a scope: `https://x/.default` → `https://x`.
fn resource_of(scope: &str) -> Option<&str> {
    scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(|r| r.trim_end_matches('/'))
}

/// An injected token-endpoint failure, in Entra's shape.
pub(crate) fn injected_failure(status: StatusCode) -> Response {
    reject(
        status,
        "temporarily_unavailable",
        50000,
        format!("Injected failure with status {}.", status.as_u16()),
    )
    .into_response()
}
