//! The client-credentials grant, for every application of the directory's one registry: a
//! certificate (a client assertion it signed) or a client secret authenticates the app, and the
//! access token names the app (`idtyp` `app`, `appid`), which the Web API maps to its
//! application user.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials>.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::core::{JWT_BEARER, Rejection, missing, reject, verify_assertion};
use super::{Form, TokenService, federated};
use crate::identity::Identity;
use crate::jws::Jws;

pub(super) fn grant(
    service: &TokenService,
    directory: &Identity,
    tenant: &str,
    form: &Form,
) -> Result<Value, Rejection> {
    service.check_tenant(tenant, false)?;
    let client_id = form.require("client_id")?;
    let app = directory.app_credentials(client_id).ok_or_else(|| {
        reject(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                service.settings.tenant
            ),
        )
    })?;
    match (form.get("client_assertion_type"), form.get("client_secret")) {
        (Some(assertion_type), _) => {
            if assertion_type != JWT_BEARER {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    format!("Unsupported client_assertion_type '{assertion_type}'."),
                ));
            }
            let assertion = form.require("client_assertion")?;
            let federated = Jws::parse(assertion)
                .filter(|jws| !app.federated.is_empty() && federated::is_federated(jws, client_id));
            if let Some(jws) = federated {
                // A federated token is the issuer's, reused until it rotates: no replay ledger.
                federated::verify(&jws, &app.federated)?;
                check_scope(service, form.require("scope")?)?;
            } else {
                let jws = verify_assertion(
                    assertion,
                    client_id,
                    &app.certificates,
                    &service.endpoint(),
                    service.settings.max_assertion_lifetime,
                )?;
                check_scope(service, form.require("scope")?)?;
                service.seen.remember(&jws)?;
            }
        }
        (None, Some(secret)) => {
            // AADSTS7000215, as listed in
            // https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
            if !app.secrets.iter().any(|s| s.matches(secret)) {
                return Err(reject(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
            check_scope(service, form.require("scope")?)?;
        }
        (None, None) => return Err(missing("client_assertion' or 'client_secret")),
    }
    let access_token = service.sign(json!({
        "aud": service.settings.base_url,
        "appid": client_id,
        "azp": client_id,
        // The service principal's object id, in Entra's tokens.
        "oid": app.object_id,
        "sub": app.object_id,
        "idtyp": "app",
        "ver": "1.0",
    }))?;
    let lifetime = service.settings.lifetime.as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}

/// The client-credentials grant takes only the environment's `/.default` scope (with the
/// double slash some clients write after a URL ending in `/`).
fn check_scope(service: &TokenService, scope: &str) -> Result<(), Rejection> {
    let base_url = &service.settings.base_url;
    let accepted = [
        format!("{base_url}/.default"),
        format!("{base_url}//.default"),
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
