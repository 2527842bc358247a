//! The token core shared by the emulator's grants: one signing key, one check of client
//! assertions, one ledger of the assertion ids already used, Entra's error replies, and the bearer
//! token of a request. The client-credential endpoint of [`crate::token`] (apps given at start)
//! and the identity module's grants (apps registered through Graph, signed-in users) use it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
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

/// `client_assertion_type` of a certificate credential.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on `nbf`/`exp`, in seconds, like Entra's few minutes of leeway.
pub(crate) const CLOCK_SKEW: i64 = 60;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The token endpoint's address for a tenant: what client assertions must name as `aud`.
pub(crate) fn token_endpoint(base_url: &str, tenant: &str) -> String {
    format!("{base_url}/{tenant}/oauth2/v2.0/token")
}

fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json; charset=utf-8")
}

/// A token endpoint's answer: the tokens (never cached by the caller), or Entra's error.
pub(crate) fn token_reply(reply: Result<Value, Rejection>) -> Response {
    match reply {
        Ok(body) => {
            let mut response = Response::new(Body::from(body.to_string()));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, json_type());
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// A form field the token request lacks (AADSTS900144).
pub(crate) fn missing(name: &str) -> Rejection {
    reject(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// A refusal in Entra's shape: HTTP status, OAuth `error`, and the AADSTS code and text.
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) description: String,
}

pub(crate) fn reject(
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: impl Into<String>,
) -> Rejection {
    Rejection {
        status,
        error,
        code,
        description: description.into(),
    }
}

impl Rejection {
    /// Entra's error reply: the AADSTS code leads `error_description`, which also carries the
    /// trace and correlation ids and the timestamp, as Entra's does.
    pub(crate) fn into_response(self) -> Response {
        let timestamp = OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        let (trace_id, correlation_id) = (Uuid::new_v4(), Uuid::new_v4());
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, json_type());
        response
    }
}

/// The RSA key every access token of one emulator is signed with (RS256).
pub(crate) struct SigningKey {
    private: PKey<Private>,
    public: PKey<Public>,
}

impl SigningKey {
    pub(crate) fn generate() -> Result<Self, Error> {
        let crypto = |e: openssl::error::ErrorStack| Error::Certificate(e.to_string());
        let rsa = Rsa::generate(2048).map_err(crypto)?;
        let public = Rsa::from_public_components(
            rsa.n().to_owned().map_err(crypto)?,
            rsa.e().to_owned().map_err(crypto)?,
        )
        .map_err(crypto)?;
        Ok(Self {
            private: PKey::from_rsa(rsa).map_err(crypto)?,
            public: PKey::from_rsa(public).map_err(crypto)?,
        })
    }

    /// A compact JWS of `claims` under `header`.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> Result<String, Rejection> {
        jws::sign(SigningAlgorithm::Rs256, &self.private, header, claims).map_err(|_| {
            reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token.",
            )
        })
    }

    /// Whether `jws` is RS256 and signed with this key.
    pub(crate) fn signed(&self, jws: &Jws) -> bool {
        jws.header_str("alg") == Some("RS256") && jws.verify(SigningAlgorithm::Rs256, &self.public)
    }
}

/// The bearer token of a request's `Authorization` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// Checks a client assertion as Entra does: signed by one of `certificates` (RS256 found by its
/// `x5t`, PS256 by its `x5t#S256`), issued by and about `client_id`, for `audience`, with a
/// `jti`, and valid now for no longer than `max_lifetime`.
pub(crate) fn verify_assertion(
    assertion: &str,
    client_id: &str,
    certificates: &[Certificate],
    audience: &str,
    max_lifetime: Option<Duration>,
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
    let alg = SigningAlgorithm::from_name(alg_name)
        .ok_or_else(|| bad_signature(format!("[Reason - Unsupported algorithm '{alg_name}'.]")))?;
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
    let cert = certificates
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
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    if jws.claim_str("aud") != Some(audience) {
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
    if let Some(max) = max_lifetime
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

/// The `jti` of every accepted assertion, with its `exp`: an assertion is accepted once,
/// whichever app registry knows its client, until it would have expired anyway.
#[derive(Default)]
pub(crate) struct SeenAssertions(Mutex<HashMap<String, i64>>);

impl SeenAssertions {
    /// Records an accepted assertion's `jti`; refuses one already used.
    pub(crate) fn remember(&self, jws: &Jws) -> Result<(), Rejection> {
        let jti = jws.claim_str("jti").unwrap_or_default().to_owned();
        let exp = jws.claim_time("exp").unwrap_or_default();
        let now = now();
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
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
}
