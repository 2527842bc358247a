//! Client credentials for applications registered through Graph: the certificate uploaded as a
//! key credential authenticates at once, checked as the token endpoint checks built-in apps.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Identity, Rejection, reject, resource_of};
use crate::token::core::{JWT_BEARER, missing, token_endpoint, verify_assertion};

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
    let jws = verify_assertion(
        assertion,
        client_id,
        &certificates,
        &token_endpoint(&identity.base_url, &identity.tenant),
        identity.max_assertion_lifetime,
    )?;
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
    identity.seen.remember(&jws)?;
    let access_token = identity.sign(json!({
        "aud": identity.base_url,
        "appid": client_id,
        "azp": client_id,
        "sub": client_id,
        "idtyp": "app",
        "ver": "1.0",
    }))?;
    let lifetime = identity.token_lifetime.as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}
