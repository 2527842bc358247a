//! Client credentials for applications registered through Graph: the certificate uploaded as a
//! key credential authenticates at once, checked as the token endpoint checks built-in apps.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{CLOCK_SKEW, Identity, Rejection, now, reject, resource_of};
use crate::cert::Certificate;
use crate::jws::{Jws, SigningAlgorithm};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn missing(name: &str) -> Rejection {
    reject(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

pub(crate) fn client_credentials(
    identity: &Identity,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Value, Rejection> {
    let field = |name: &str| {
        form.get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(name))
    };
    if !identity.tenant_matches(tenant, false) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found."),
        ));
    }
    let client_id = field("client_id")?;
    if field("client_assertion_type")? != JWT_BEARER {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "Unsupported client_assertion_type.",
        ));
    }
    let assertion = field("client_assertion")?;
    let certificates = identity
        .state()
        .applications
        .get(client_id)
        .map(|a| a.certificates.clone())
        .unwrap_or_default();
    let jws = verify(identity, client_id, &certificates, assertion)?;
    let scope = field("scope")?;
    if resource_of(scope) != Some(identity.base_url.trim_end_matches('/')) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    }
    remember_jti(identity, &jws)?;
    let access_token = identity
        .sign(json!({
            "aud": identity.base_url,
            "appid": client_id,
            "azp": client_id,
            "sub": client_id,
            "idtyp": "app",
            "ver": "1.0",
        }))
        .map_err(|_| {
            reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token.",
            )
        })?;
    let lifetime = identity.token_lifetime.as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}

fn verify(
    identity: &Identity,
    client_id: &str,
    certificates: &[Certificate],
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
    let bad_signature = |why: &str| {
        reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            format!("Client assertion failed signature validation. [Reason - {why}]"),
        )
    };
    let jws = Jws::parse(assertion).ok_or_else(|| invalid("not a compact JWS"))?;
    let alg = jws
        .header_str("alg")
        .and_then(SigningAlgorithm::from_name)
        .ok_or_else(|| bad_signature("Unsupported algorithm."))?;
    let found = match alg {
        SigningAlgorithm::Rs256 => jws
            .header_str("x5t")
            .and_then(|t| certificates.iter().find(|c| c.x5t() == t)),
        SigningAlgorithm::Ps256 => jws
            .header_str("x5t#S256")
            .and_then(|t| certificates.iter().find(|c| c.x5t_s256() == t)),
    };
    let certificate = found.ok_or_else(|| bad_signature("The key was not found."))?;
    if !jws.verify(alg, certificate.public_key()) {
        return Err(bad_signature(
            "The signature does not verify with the registered certificate.",
        ));
    }
    if jws.claim_str("iss") != Some(client_id) || jws.claim_str("sub") != Some(client_id) {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let audience = format!(
        "{}/{}/oauth2/v2.0/token",
        identity.base_url, identity.tenant
    );
    if jws.claim_str("aud") != Some(audience.as_str()) {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            50013,
            format!("Assertion audience claim does not match the required value '{audience}'."),
        ));
    }
    if jws.claim_str("jti").is_none_or(str::is_empty) {
        return Err(invalid("the 'jti' claim is missing"));
    }
    let (Some(exp), Some(nbf)) = (jws.claim_time("exp"), jws.claim_time("nbf")) else {
        return Err(invalid("the 'exp' and 'nbf' claims are required"));
    };
    let now = now();
    if exp + CLOCK_SKEW <= now || nbf - CLOCK_SKEW > now || exp - nbf > 600 {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, nbf: {nbf}, exp: {exp}."
            ),
        ));
    }
    Ok(jws)
}

fn remember_jti(identity: &Identity, jws: &Jws) -> Result<(), Rejection> {
    let jti = jws.claim_str("jti").unwrap_or_default().to_owned();
    let exp = jws.claim_time("exp").unwrap_or_default();
    let now = now();
    let mut state = identity.state();
    if state.seen_jti.len() > 10_000 {
        state.seen_jti.retain(|_, e| *e + CLOCK_SKEW > now);
    }
    if state.seen_jti.insert(jti.clone(), exp).is_some() {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            50013,
            format!("Assertion is invalid: the jti '{jti}' has already been used."),
        ));
    }
    Ok(())
}
