//! The Entra ID v2 token endpoint (`/{tenant}/oauth2/v2.0/token`) for certificate client
//! credentials, and the emulator's own access tokens that every Web API call must present.

pub(crate) mod core;
pub(crate) mod federated;
pub(crate) mod managed_identity;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use self::core::{
    JWT_BEARER, Rejection, missing, now, reject, token_endpoint, token_reply, verify_assertion,
};
pub(crate) use self::core::{SeenAssertions, SigningKey};
use self::federated::FederatedCredential;
use crate::cert::Certificate;
use crate::jws::Jws;

/// One registered application: its certificates and the id of its Dataverse application user.
#[derive(Clone, Debug)]
pub(crate) struct RegisteredApp {
    pub(crate) certificates: Vec<Certificate>,
    /// External issuers whose tokens the app accepts as its client assertion.
    pub(crate) federated: Vec<FederatedCredential>,
    pub(crate) user_id: Uuid,
}

/// The identity behind a valid access token.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The application user's `systemuserid`.
    pub(crate) user_id: Uuid,
}

/// Issues and checks tokens for one tenant and one environment.
pub(crate) struct TokenService {
    tenant: String,
    base_url: String,
    apps: HashMap<String, RegisteredApp>,
    lifetime: Duration,
    max_assertion_lifetime: Option<Duration>,
    key: Arc<SigningKey>,
    seen: Arc<SeenAssertions>,
}

impl TokenService {
    pub(crate) fn new(
        tenant: String,
        base_url: String,
        apps: HashMap<String, RegisteredApp>,
        lifetime: Duration,
        max_assertion_lifetime: Option<Duration>,
        key: Arc<SigningKey>,
        seen: Arc<SeenAssertions>,
    ) -> Self {
        Self {
            tenant,
            base_url,
            apps,
            lifetime,
            max_assertion_lifetime,
            key,
            seen,
        }
    }

    /// The URL client assertions must name as `aud`.
    pub(crate) fn endpoint(&self) -> String {
        token_endpoint(&self.base_url, &self.tenant)
    }

    /// Serves one token request: `tenant` from the path, `body` the form.
    pub(crate) fn handle(&self, tenant: &str, body: &Bytes) -> Response {
        token_reply(self.issue(tenant, body))
    }

    fn issue(&self, tenant: &str, body: &Bytes) -> Result<Value, Rejection> {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let grant = field("grant_type").ok_or_else(|| missing("grant_type"))?;
        if grant != "client_credentials" {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant}'."),
            ));
        }
        if !tenant.eq_ignore_ascii_case(&self.tenant) {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found."),
            ));
        }
        let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
        let app = self.apps.get(client_id).ok_or_else(|| {
            reject(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'.",
                    self.tenant
                ),
            )
        })?;
        let assertion_type = field("client_assertion_type")
            .ok_or_else(|| missing("client_assertion' or 'client_secret"))?;
        if assertion_type != JWT_BEARER {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                format!("Unsupported client_assertion_type '{assertion_type}'."),
            ));
        }
        let assertion = field("client_assertion").ok_or_else(|| missing("client_assertion"))?;
        let federated = Jws::parse(assertion)
            .filter(|jws| !app.federated.is_empty() && federated::is_federated(jws, client_id));
        let certificate_assertion = match federated {
            // A federated token is the issuer's, reused until it rotates: no replay ledger.
            Some(jws) => {
                federated::verify(&jws, &app.federated)?;
                None
            }
            None => Some(verify_assertion(
                assertion,
                client_id,
                &app.certificates,
                &self.endpoint(),
                self.max_assertion_lifetime,
            )?),
        };
        let scope = field("scope").ok_or_else(|| missing("scope"))?;
        self.check_scope(scope)?;
        if let Some(jws) = &certificate_assertion {
            self.seen.remember(jws)?;
        }
        let lifetime = self.lifetime.as_secs();
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.access_token(client_id, app.user_id)?,
        }))
    }

    fn check_scope(&self, scope: &str) -> Result<(), Rejection> {
        let accepted = [
            format!("{}/.default", self.base_url),
            format!("{}//.default", self.base_url),
        ];
        if accepted.iter().any(|a| a == scope) {
            return Ok(());
        }
        Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Use '{}'.",
                accepted[0]
            ),
        ))
    }

    /// The environment URL, every access token's `aud`.
    pub(crate) fn audience(&self) -> &str {
        &self.base_url
    }

    /// How long issued access tokens last.
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// An access token for the app `client_id` acting as application user `user_id`.
    pub(crate) fn access_token(&self, client_id: &str, user_id: Uuid) -> Result<String, Rejection> {
        let now = now();
        let claims = json!({
            "aud": self.base_url,
            "iss": format!("{}/{}/v2.0", self.base_url, self.tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime.as_secs() as i64,
            "appid": client_id,
            "azp": client_id,
            "oid": user_id,
            "sub": user_id,
            "tid": self.tenant,
            "ver": "1.0",
        });
        self.key
            .sign(&json!({"alg": "RS256", "typ": "JWT"}), &claims)
    }

    /// Checks the access token of a Web API call, parsed once by the caller; the error is the
    /// 401 to send.
    pub(crate) fn check(&self, jws: &Jws) -> Result<Caller, Box<Response>> {
        if !self.key.signed(jws) {
            return Err(self.unauthorized(Some("invalid signature")));
        }
        if jws.claim_str("aud") != Some(self.base_url.as_str()) {
            return Err(self.unauthorized(Some("the token is for another environment")));
        }
        match jws.claim_time("exp") {
            Some(exp) if exp > now() => {}
            _ => return Err(self.unauthorized(Some("the token is expired"))),
        }
        let user_id = jws
            .claim_str("oid")
            .and_then(|oid| Uuid::parse_str(oid).ok())
            .ok_or_else(|| self.unauthorized(Some("malformed token")))?;
        Ok(Caller { user_id })
    }

    /// The 401 with Dataverse's `WWW-Authenticate` challenge, saying why when there was a token.
    pub(crate) fn unauthorized(&self, why: Option<&str>) -> Box<Response> {
        let mut challenge = format!(
            "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}",
            self.base_url, self.tenant, self.base_url
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
