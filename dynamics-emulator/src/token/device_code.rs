//! The OAuth 2.0 device authorization grant (RFC 8628) as Entra serves it:
//! `/{tenant}/oauth2/v2.0/devicecode`, then the device code and refresh token grants on the
//! token endpoint.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens>.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::core::{Rejection, now, reject};
use super::{Form, TokenService, resource_of};
use crate::identity::Identity;
use crate::identity::directory::{Approval, DeviceCode, RefreshGrant, random_token};

/// How long a device code may wait for its user, as Entra's 15 minutes.
const DEVICE_CODE_LIFETIME: i64 = 900;

/// `POST /{tenant}/oauth2/v2.0/devicecode`: a device code, and the user code to enter.
pub(super) fn start(
    service: &TokenService,
    identity: &Identity,
    tenant: &str,
    form: &Form,
) -> Result<Value, Rejection> {
    service.check_tenant(tenant, true)?;
    let client_id = form.require("client_id")?;
    let scope = form.require("scope")?;
    let device_code = random_token(32);
    let mut state = identity.state();
    let serial = state.next();
    // Nine characters like Entra's, unique by construction.
    let user_code = format!("EMU{serial:06}");
    state.device_codes.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            expires_at: now() + DEVICE_CODE_LIFETIME,
            approval: Approval::Pending,
            created: serial,
        },
    );
    let verification_uri = format!("{}/devicelogin", service.settings.base_url);
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": service.settings.poll_interval.as_secs().max(1),
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
    }))
}

/// The device code grant: `authorization_pending` until a test approves the code.
pub(super) fn redeem(
    service: &TokenService,
    identity: &Identity,
    tenant: &str,
    form: &Form,
) -> Result<Value, Rejection> {
    service.check_tenant(tenant, true)?;
    let code = form.require("device_code")?;
    let client_id = form.require("client_id")?;
    let mut state = identity.state();
    let Some(entry) = state.device_codes.get(code).cloned() else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "The provided value for the 'device_code' is not valid.",
        ));
    };
    if entry.client_id != client_id {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "The device code was issued to another client.",
        ));
    }
    if entry.expires_at <= now() {
        state.device_codes.remove(code);
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70019,
            "Verification code expired.",
        ));
    }
    let upn = match entry.approval {
        Approval::Pending => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ));
        }
        Approval::Declined => {
            state.device_codes.remove(code);
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "authorization_declined",
                70020,
                "The user declined the authorization request.",
            ));
        }
        Approval::Approved(upn) => upn,
    };
    // A device code is redeemed once.
    state.device_codes.remove(code);
    drop(state);
    user_tokens(service, identity, &upn, client_id, &entry.scope)
}

/// The refresh token grant: a new access token for any resource, and a rotated refresh token.
pub(super) fn refresh(
    service: &TokenService,
    identity: &Identity,
    tenant: &str,
    form: &Form,
) -> Result<Value, Rejection> {
    service.check_tenant(tenant, true)?;
    let token = form.require("refresh_token")?;
    let client_id = form.require("client_id")?;
    let scope = form.require("scope")?;
    let grant = identity.state().refresh_tokens.remove(token);
    let Some(RefreshGrant {
        upn,
        client_id: issued_to,
    }) = grant
    else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700082,
            "The refresh token has expired or was revoked.",
        ));
    };
    if issued_to != client_id {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "The refresh token was issued to another client.",
        ));
    }
    user_tokens(service, identity, &upn, client_id, scope)
}

/// Access, refresh and id tokens for a signed-in user.
fn user_tokens(
    service: &TokenService,
    identity: &Identity,
    upn: &str,
    client_id: &str,
    scope: &str,
) -> Result<Value, Rejection> {
    let Some(resource) = resource_of(scope) else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        ));
    };
    let user = identity.state().user(upn).cloned().ok_or_else(|| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!("The user account {upn} does not exist in the directory."),
        )
    })?;
    let access_token = service.sign(json!({
        "aud": resource,
        "oid": user.object_id,
        "sub": user.object_id,
        "upn": user.upn,
        "name": user.upn,
        "appid": client_id,
        "azp": client_id,
        "idtyp": "user",
        "scp": "user_impersonation",
        "ver": "2.0",
    }))?;
    let id_token = service.sign(json!({
        "aud": client_id,
        "oid": user.object_id,
        "sub": user.object_id,
        "preferred_username": user.upn,
        "name": user.upn,
        "ver": "2.0",
    }))?;
    let refresh_token = random_token(48);
    identity.state().refresh_tokens.insert(
        refresh_token.clone(),
        RefreshGrant {
            upn: user.upn.clone(),
            client_id: client_id.to_owned(),
        },
    );
    let lifetime = service.settings.lifetime.as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token,
    }))
}
