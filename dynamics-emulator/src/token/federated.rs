//! Federated identity credentials: an app trusts tokens of an external issuer (a Kubernetes
//! cluster, GitHub Actions) for one subject, and exchanges them for access tokens. The external
//! token comes as the `client_assertion` of a client-credentials request, and is checked the way
//! Entra checks it: issuer, subject and audience (`api://AzureADTokenExchange`) against the
//! app's federated credentials, then the signature against the issuer's keys and the validity
//! period.
//! <https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation#how-it-works>
//! <https://learn.microsoft.com/en-us/graph/api/resources/federatedidentitycredentials-overview>
//! Error codes: <https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>
//! (AADSTS700211/700212/700213 no matching federated credential for the issuer, audience or
//! subject; AADSTS700024 outside the validity period).

use axum::http::StatusCode;

use super::core::{CLOCK_SKEW, Rejection, now, reject};
use crate::cert::Certificate;
use crate::jws::{Jws, SigningAlgorithm};

/// The audience Entra expects in federated tokens unless a credential says otherwise.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A federated identity credential of an app: tokens from `issuer` about `subject`, for
/// `audience`, signed by one of the issuer's keys.
///
/// Entra reads the issuer's keys from its OpenID configuration (`{issuer}/.well-known/openid-configuration`
/// and its `jwks_uri`); the emulator has no network, so the keys are given here as certificates.
/// A token's `kid` picks the key whose `x5t#S256` it names; without a `kid`, any key may verify it.
#[derive(Clone, Debug)]
pub struct FederatedCredential {
    issuer: String,
    subject: String,
    audience: String,
    keys: Vec<Certificate>,
}

impl FederatedCredential {
    /// Trusts tokens from `issuer` about `subject`, signed by the key of `issuer_key`, for the
    /// audience [`TOKEN_EXCHANGE_AUDIENCE`].
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        issuer_key: impl Into<Certificate>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: TOKEN_EXCHANGE_AUDIENCE.to_owned(),
            keys: vec![issuer_key.into()],
        }
    }

    /// Adds another key of the issuer (as after a key rotation).
    pub fn with_key(mut self, key: impl Into<Certificate>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Expects this audience instead of [`TOKEN_EXCHANGE_AUDIENCE`].
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The trusted issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The trusted subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Whether `assertion` is a federated token rather than a certificate assertion: certificate
/// assertions are issued by the app itself (`iss` = client id).
pub(crate) fn is_federated(jws: &Jws, client_id: &str) -> bool {
    jws.claim_str("iss").is_some_and(|iss| iss != client_id)
}

/// Checks a federated token against an app's federated credentials.
pub(crate) fn verify(jws: &Jws, credentials: &[FederatedCredential]) -> Result<(), Rejection> {
    let claim = |name| jws.claim_str(name).unwrap_or_default();
    let (issuer, subject) = (claim("iss"), claim("sub"));
    let audiences = audiences(jws);
    let no_match = |code, what: &str, value: &str| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            format!(
                "No matching federated identity record found for presented assertion {what} '{value}'. \
                 Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        )
    };
    let by_issuer: Vec<_> = credentials.iter().filter(|c| c.issuer == issuer).collect();
    if by_issuer.is_empty() {
        return Err(no_match(700211, "issuer", issuer));
    }
    let by_subject: Vec<_> = by_issuer
        .into_iter()
        .filter(|c| c.subject == subject)
        .collect();
    if by_subject.is_empty() {
        return Err(no_match(700213, "subject", subject));
    }
    let Some(credential) = by_subject
        .into_iter()
        .find(|c| audiences.contains(&c.audience))
    else {
        return Err(no_match(700212, "audience", &audiences.join(",")));
    };
    let alg = jws
        .header_str("alg")
        .and_then(SigningAlgorithm::from_name)
        .ok_or_else(|| {
            reject(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed: unsupported signing algorithm.",
            )
        })?;
    let kid = jws.header_str("kid");
    let verified = credential
        .keys
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.x5t_s256() == kid))
        .any(|key| jws.verify(alg, key.public_key()));
    if !verified {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation: no key of the issuer verifies it.",
        ));
    }
    let now = now();
    let out_of_range = |why: String| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            format!("Client assertion is not within its valid time range. {why}"),
        )
    };
    match jws.claim_time("exp") {
        Some(exp) if exp + CLOCK_SKEW > now => {}
        Some(exp) => {
            return Err(out_of_range(format!(
                "Current time: {now}, assertion expired at: {exp}."
            )));
        }
        None => return Err(out_of_range("The assertion has no 'exp' claim.".into())),
    }
    if let Some(nbf) = jws.claim_time("nbf")
        && nbf - CLOCK_SKEW > now
    {
        return Err(out_of_range(format!(
            "Current time: {now}, assertion not valid before: {nbf}."
        )));
    }
    Ok(())
}

/// `aud` is a string or an array of strings.
fn audiences(jws: &Jws) -> Vec<String> {
    match jws.claims.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
