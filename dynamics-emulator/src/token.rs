//! The Entra ID v2 token endpoint (`/{tenant}/oauth2/v2.0/token`) for certificate client
//! credentials, and the emulator's own access tokens that every Web API call must present.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Error;
use crate::cert::Certificate;
use crate::jws::{self, Jws, SigningAlgorithm};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on `nbf`/`exp`, in seconds, like Entra's few minutes of leeway.
const CLOCK_SKEW: i64 = 60;

/// One registered application: its certificates and the id of its Dataverse application user.
#[derive(Clone, Debug)]
pub(crate) struct RegisteredApp {
    pub(crate) certificates: Vec<Certificate>,
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
    signing_key: PKey<Private>,
    verify_key: PKey<Public>,
    /// `jti` → `exp` of every accepted assertion, to refuse replays until they would expire anyway.
    seen_jti: Mutex<HashMap<String, i64>>,
}

/// A rejection in Entra's shape.
struct Rejection {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

fn reject(status: StatusCode, error: &'static str, code: u32, description: String) -> Rejection {
    Rejection {
        status,
        error,
        code,
        description,
    }
}

impl TokenService {
    pub(crate) fn new(
        tenant: String,
        base_url: String,
        apps: HashMap<String, RegisteredApp>,
        lifetime: Duration,
        max_assertion_lifetime: Option<Duration>,
    ) -> Result<Self, Error> {
        let crypto = |e: openssl::error::ErrorStack| Error::Certificate(e.to_string());
        let rsa = Rsa::generate(2048).map_err(crypto)?;
        let signing_key = PKey::from_rsa(rsa.clone()).map_err(crypto)?;
        let public = Rsa::from_public_components(
            rsa.n().to_owned().map_err(crypto)?,
            rsa.e().to_owned().map_err(crypto)?,
        )
        .map_err(crypto)?;
        Ok(Self {
            tenant,
            base_url,
            apps,
            lifetime,
            max_assertion_lifetime,
            signing_key,
            verify_key: PKey::from_rsa(public).map_err(crypto)?,
            seen_jti: Mutex::new(HashMap::new()),
        })
    }

    /// The URL client assertions must name as `aud`.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url, self.tenant)
    }

    /// Serves one token request: `tenant` from the path, `body` the form.
    pub(crate) fn handle(&self, tenant: &str, body: &Bytes) -> Response {
        match self.issue(tenant, body) {
            Ok(reply) => {
                let mut response = Response::new(Body::from(reply.to_string()));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, json_type());
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(rejection) => entra_error(rejection),
        }
    }

    fn issue(&self, tenant: &str, body: &Bytes) -> Result<Value, Rejection> {
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let missing = |name: &str| {
            reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{name}'."),
            )
        };
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
        let jws = self.verify_assertion(client_id, app, assertion)?;
        let scope = field("scope").ok_or_else(|| missing("scope"))?;
        self.check_scope(scope)?;
        self.remember_jti(&jws)?;
        let lifetime = self.lifetime.as_secs();
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.access_token(client_id, app.user_id)?,
        }))
    }

    fn verify_assertion(
        &self,
        client_id: &str,
        app: &RegisteredApp,
        assertion: &str,
    ) -> Result<Jws, Rejection> {
        let invalid = |why: &str| {
            reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                format!("JWT token is invalid or malformed: {why}."),
            )
        };
        let bad_signature = |why: String| {
            reject(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                format!("Client assertion failed signature validation. {why}"),
            )
        };
        let jws = Jws::parse(assertion).ok_or_else(|| invalid("not a compact JWS"))?;
        let alg_name = jws.header_str("alg").unwrap_or_default();
        let alg = SigningAlgorithm::from_name(alg_name).ok_or_else(|| {
            bad_signature(format!("[Reason - Unsupported algorithm '{alg_name}'.]"))
        })?;
        // RS256 is identified by its SHA-1 `x5t`, PS256 by its SHA-256 `x5t#S256`.
        let (thumb_name, thumb_of): (&str, fn(&Certificate) -> String) = match alg {
            SigningAlgorithm::Rs256 => ("x5t", Certificate::x5t),
            SigningAlgorithm::Ps256 => ("x5t#S256", Certificate::x5t_s256),
        };
        let thumbprint = jws.header_str(thumb_name).ok_or_else(|| {
            bad_signature(format!(
                "[Reason - The '{thumb_name}' header is required with {alg_name}.]"
            ))
        })?;
        let cert = app
            .certificates
            .iter()
            .find(|c| thumb_of(c) == thumbprint)
            .ok_or_else(|| {
                bad_signature(format!(
                    "[Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']"
                ))
            })?;
        if !jws.verify(alg, cert.public_key()) {
            return Err(bad_signature(
                "[Reason - The signature does not verify with the registered certificate.]".into(),
            ));
        }
        for claim in ["aud", "iss", "sub", "jti"] {
            if jws.claim_str(claim).is_none_or(str::is_empty) {
                return Err(invalid(&format!("the '{claim}' claim is missing")));
            }
        }
        let (Some(exp), Some(nbf)) = (jws.claim_time("exp"), jws.claim_time("nbf")) else {
            return Err(invalid("the 'exp' and 'nbf' claims are required"));
        };
        if jws.claim_str("iss") != Some(client_id) || jws.claim_str("sub") != Some(client_id) {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter."
                    .into(),
            ));
        }
        let audience = self.endpoint();
        if jws.claim_str("aud") != Some(audience.as_str()) {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                50013,
                format!("Assertion audience claim does not match the required value '{audience}'."),
            ));
        }
        let now = now();
        let out_of_range = |why: String| {
            reject(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700024,
                format!("Client assertion is not within its valid time range. {why}"),
            )
        };
        if exp + CLOCK_SKEW <= now {
            return Err(out_of_range(format!(
                "Current time: {now}, assertion expired at: {exp}."
            )));
        }
        if nbf - CLOCK_SKEW > now {
            return Err(out_of_range(format!(
                "Current time: {now}, assertion not valid before: {nbf}."
            )));
        }
        if let Some(max) = self.max_assertion_lifetime
            && exp - nbf > max.as_secs() as i64
        {
            return Err(out_of_range(format!(
                "The assertion is valid for {} s after nbf; this emulator allows at most {} s.",
                exp - nbf,
                max.as_secs()
            )));
        }
        Ok(jws)
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

    fn remember_jti(&self, jws: &Jws) -> Result<(), Rejection> {
        let jti = jws.claim_str("jti").unwrap_or_default().to_owned();
        let exp = jws.claim_time("exp").unwrap_or_default();
        let now = now();
        let mut seen = self
            .seen_jti
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired assertions are refused on time anyway, so their jti need not be kept.
        if seen.len() > 10_000 {
            seen.retain(|_, e| *e + CLOCK_SKEW > now);
        }
        if seen.insert(jti.clone(), exp).is_some() {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                50013,
                format!(
                    "Assertion is invalid: the jti '{jti}' has already been used (replayed assertion)."
                ),
            ));
        }
        Ok(())
    }

    fn access_token(&self, client_id: &str, user_id: Uuid) -> Result<String, Rejection> {
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
        let header = json!({"alg": "RS256", "typ": "JWT"});
        jws::sign(SigningAlgorithm::Rs256, &self.signing_key, &header, &claims).map_err(|_| {
            reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token.".into(),
            )
        })
    }

    /// Checks the `Authorization` header of a Web API call; the error is the 401 to send.
    pub(crate) fn check_bearer(&self, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(token) = token else {
            return Err(self.unauthorized(None));
        };
        let jws = Jws::parse(token).ok_or_else(|| self.unauthorized(Some("malformed token")))?;
        if jws.header_str("alg") != Some("RS256")
            || !jws.verify(SigningAlgorithm::Rs256, &self.verify_key)
        {
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

    fn unauthorized(&self, why: Option<&str>) -> Box<Response> {
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

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json; charset=utf-8")
}

/// Builds the Entra error reply: the AADSTS code leads `error_description`, which also carries
/// the trace and correlation ids and the timestamp, as Entra's does.
fn entra_error(rejection: Rejection) -> Response {
    let timestamp = OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let (trace_id, correlation_id) = (Uuid::new_v4(), Uuid::new_v4());
    let body = json!({
        "error": rejection.error,
        "error_description": format!(
            "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
            rejection.code, rejection.description
        ),
        "error_codes": [rejection.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = rejection.status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, json_type());
    response
}

/// An injected token-endpoint failure, in Entra's shape.
pub(crate) fn injected_failure(status: StatusCode) -> Response {
    entra_error(reject(
        status,
        "temporarily_unavailable",
        50000,
        format!("Injected failure with status {}.", status.as_u16()),
    ))
}
