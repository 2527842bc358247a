//! Delegated sign-in and the directory around it: the device code flow with refresh tokens,
//! directory users (administrators or not), the Microsoft Graph subset that registers
//! applications and their certificates, and app-only tokens for those applications.
//!
//! The tokens issued here carry their own key id, so [`check_bearer`] tells them apart from the
//! client-credential tokens of [`crate::token`] and checks each with the right key.

mod apps;
mod device;
mod directory;
mod graph;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Error;
use crate::jws::Jws;
use crate::server::Shared;
use crate::token::Caller;
pub(crate) use crate::token::core::{Rejection, now, reject};
use crate::token::core::{SeenAssertions, SigningKey, bearer, token_reply};

pub(crate) use device::device_code;
pub use directory::{DeviceCodeInfo, GraphApplication, UserRights};
pub(crate) use graph::router as graph_router;

/// The `kid` of every token this module signs.
const KID: &str = "emulator-identity";

/// What the builder collects for the directory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) users: Vec<(String, UserRights)>,
    pub(crate) poll_interval: Option<Duration>,
}

/// The emulated directory: users, device codes, refresh tokens, registered applications.
///
/// Reached through [`crate::Emulator::identity`]; tests approve device codes with it and read
/// back what the Graph calls registered.
pub struct Identity {
    tenant: String,
    base_url: String,
    key: Arc<SigningKey>,
    seen: Arc<SeenAssertions>,
    max_assertion_lifetime: Option<Duration>,
    token_lifetime: Duration,
    poll_interval: Duration,
    state: Mutex<directory::Directory>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub(crate) fn new(
        config: Config,
        tenant: &str,
        base_url: &str,
        token_lifetime: Duration,
        max_assertion_lifetime: Option<Duration>,
        key: Arc<SigningKey>,
        seen: Arc<SeenAssertions>,
    ) -> Self {
        let mut state = directory::Directory::default();
        for (upn, rights) in config.users {
            state.add_user(&upn, rights);
        }
        Self {
            tenant: tenant.to_owned(),
            base_url: base_url.to_owned(),
            key,
            seen,
            max_assertion_lifetime,
            token_lifetime,
            poll_interval: config.poll_interval.unwrap_or(Duration::from_secs(1)),
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, directory::Directory> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory users as `(object id, user principal name)`, for seeding `systemusers`.
    pub(crate) fn user_records(&self) -> Vec<(Uuid, String)> {
        self.state()
            .users
            .values()
            .map(|u| (u.object_id, u.upn.clone()))
            .collect()
    }

    /// The user codes of the device codes waiting for a sign-in, oldest first.
    pub fn pending_device_codes(&self) -> Vec<DeviceCodeInfo> {
        self.state().pending_device_codes()
    }

    /// Signs `user_principal_name` in on the device showing `user_code`, as the user would on
    /// the verification page. Fails for an unknown user or code.
    pub fn approve_device_code(
        &self,
        user_code: &str,
        user_principal_name: &str,
    ) -> Result<(), Error> {
        self.state()
            .approve(user_code, user_principal_name)
            .map_err(Error::Directory)
    }

    /// Declines the sign-in on the device showing `user_code`.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), Error> {
        self.state().decline(user_code).map_err(Error::Directory)
    }

    /// The applications registered through Microsoft Graph.
    pub fn applications(&self) -> Vec<GraphApplication> {
        self.state().applications()
    }

    /// The `appId`s that have a service principal.
    pub fn service_principals(&self) -> Vec<String> {
        self.state().service_principals.keys().cloned().collect()
    }

    /// Signs a token of this module: `claims` plus the issuer, times and tenant.
    fn sign(&self, mut claims: Value) -> Result<String, Rejection> {
        let now = now();
        if let Some(map) = claims.as_object_mut() {
            map.insert(
                "iss".into(),
                json!(format!("{}/{}/v2.0", self.base_url, self.tenant)),
            );
            map.insert("iat".into(), json!(now));
            map.insert("nbf".into(), json!(now));
            map.insert(
                "exp".into(),
                json!(now + self.token_lifetime.as_secs() as i64),
            );
            map.insert("tid".into(), json!(self.tenant));
        }
        self.key
            .sign(&json!({"alg": "RS256", "typ": "JWT", "kid": KID}), &claims)
    }

    fn tenant_matches(&self, tenant: &str, allow_common: bool) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant)
            || (allow_common
                && ["organizations", "common"]
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(tenant)))
    }
}

/// Gives every directory user a `systemusers` record (when the metadata has the table), so
/// `WhoAmI` and owner lookups of a signed-in user point at a real record.
pub(crate) fn seed_users(shared: &Shared) -> Result<(), String> {
    if shared.api.snapshot("systemusers", None).is_none() {
        return Ok(());
    }
    let business_unit = shared.api.business_unit_id();
    let users: Vec<Value> = shared
        .identity
        .user_records()
        .into_iter()
        .map(|(object_id, upn)| {
            json!({
                "systemuserid": object_id,
                "fullname": upn,
                "internalemailaddress": upn,
                "azureactivedirectoryobjectid": object_id,
                "businessunitid@odata.bind": format!("/businessunits({business_unit})"),
            })
        })
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    shared
        .api
        .seed(&shared.system, &json!({ "systemusers": users }))
}

/// Serves the grants this module owns (device code, refresh token, and client credentials of
/// applications registered through Graph); `None` leaves the request to [`crate::token`].
pub(crate) fn token(shared: &Shared, tenant: &str, body: &Bytes) -> Option<Response> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let identity = &shared.identity;
    let reply = match form.get("grant_type").map(String::as_str) {
        Some(device::DEVICE_CODE_GRANT) => device::redeem(identity, tenant, &form),
        Some("refresh_token") => device::refresh(identity, tenant, &form),
        Some("client_credentials") => {
            let client_id = form.get("client_id")?;
            if !identity.state().applications.contains_key(client_id) {
                return None;
            }
            apps::client_credentials(identity, tenant, &form)
        }
        _ => return None,
    };
    Some(token_reply(reply))
}

/// Who a bearer token of this module belongs to.
#[derive(Clone, Debug)]
pub(crate) enum Principal {
    /// A signed-in directory user.
    User { object_id: Uuid },
    /// An application registered through Graph, with its `appId`.
    App { app_id: String },
}

/// Checks the bearer token of a Web API or discovery call: tokens of this module here, the
/// others by the client-credential token service.
pub(crate) fn check_bearer(shared: &Shared, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    let Some(token) = bearer(headers) else {
        return Err(shared.tokens.unauthorized(None));
    };
    let Some(jws) = Jws::parse(token) else {
        return Err(shared.tokens.unauthorized(Some("malformed token")));
    };
    match shared.identity.principal_of(&jws) {
        None => shared.tokens.check(&jws),
        Some(Err(response)) => Err(response),
        Some(Ok(Principal::User { object_id })) => Ok(Caller { user_id: object_id }),
        Some(Ok(Principal::App { app_id })) => shared.api.application_user(&app_id).map(|user_id| Caller { user_id }).ok_or_else(|| {
            Box::new(crate::webapi::ApiError::new(
                StatusCode::FORBIDDEN,
                "0x80072560",
                format!("The user is not a member of the organization. No application user has the application id {app_id}."),
            )
            .into_response())
        }),
    }
}

impl Identity {
    /// `None` when the request has no token of this module.
    pub(crate) fn principal(
        &self,
        headers: &HeaderMap,
    ) -> Option<Result<Principal, Box<Response>>> {
        let jws = Jws::parse(bearer(headers)?)?;
        self.principal_of(&jws)
    }

    /// `None` when `jws` is not a token of this module (its `kid` says whose it is).
    fn principal_of(&self, jws: &Jws) -> Option<Result<Principal, Box<Response>>> {
        if jws.header_str("kid") != Some(KID) {
            return None;
        }
        Some(self.check(jws))
    }

    fn check(&self, jws: &Jws) -> Result<Principal, Box<Response>> {
        if !self.key.signed(jws) {
            return Err(self.unauthorized("invalid signature"));
        }
        if jws.claim_str("aud") != Some(self.base_url.as_str()) {
            return Err(self.unauthorized("the token is for another resource"));
        }
        match jws.claim_time("exp") {
            Some(exp) if exp > now() => {}
            _ => return Err(self.unauthorized("the token is expired")),
        }
        if jws.claim_str("idtyp") == Some("app") {
            let app_id = jws
                .claim_str("appid")
                .ok_or_else(|| self.unauthorized("malformed token"))?;
            return Ok(Principal::App {
                app_id: app_id.to_owned(),
            });
        }
        let object_id = jws
            .claim_str("oid")
            .and_then(|oid| Uuid::parse_str(oid).ok())
            .ok_or_else(|| self.unauthorized("malformed token"))?;
        Ok(Principal::User { object_id })
    }

    fn unauthorized(&self, why: &str) -> Box<Response> {
        let challenge = format!(
            "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}, error=\"invalid_token\", error_description=\"{why}\"",
            self.base_url, self.tenant, self.base_url
        );
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

/// A JSON reply with a status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The resource of a scope: `https://x/.default` → `https://x`.
pub(crate) fn resource_of(scope: &str) -> Option<&str> {
    scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(|r| r.trim_end_matches('/'))
}
