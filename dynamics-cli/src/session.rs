//! The user's own delegated sign-in: the device code flow, and access tokens per resource from
//! the cached refresh token. Tokens live only in the encrypted store.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dynamics_client::{
    Secret,
    connection::{CachedToken, ConnectionStore, UserSession},
};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::http;
use crate::output::progress;
use crate::settings::Settings;

#[derive(Deserialize)]
struct DeviceCode {
    device_code: Secret,
    message: String,
    #[serde(default = "five")]
    interval: u64,
    expires_in: u64,
}

fn five() -> u64 {
    5
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Secret,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    id_token: Option<Secret>,
    expires_in: i64,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The scope of a resource, with a refresh token.
fn scope_for(resource: &str) -> String {
    format!("{}/.default offline_access", resource.trim_end_matches('/'))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Signs the user in with the device code flow and caches the session, replacing any other.
pub(crate) async fn login(
    store: &ConnectionStore,
    settings: &Settings,
    tenant: Option<&str>,
) -> Result<UserSession> {
    let http = http::client_for(&settings.authority_host)?;
    let tenant = tenant.unwrap_or("organizations");
    let authority = format!("{}/{tenant}/oauth2/v2.0", settings.authority_host);
    let url = format!("{authority}/devicecode");
    let scope = format!("{} openid profile", scope_for(&settings.discovery_url));
    let form = [
        ("client_id", settings.client_id.as_str()),
        ("scope", &scope),
    ];
    let response = http::send(http.post(&url).form(&form), &url).await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(CliError::Auth(http::error_message(&text)));
    }
    let code: DeviceCode = serde_json::from_str(&text)
        .map_err(|e| CliError::Auth(format!("unreadable device code reply: {e}")))?;
    // The message tells the user where to go and which code to type; it holds no secret.
    eprintln!("{}", crate::output::clean(&code.message));
    let token_url = format!("{authority}/token");
    let mut interval = Duration::from_secs(code.interval.max(1));
    let deadline = now() + code.expires_in as i64;
    loop {
        tokio::time::sleep(interval).await;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", settings.client_id.as_str()),
            ("device_code", code.device_code.expose()),
        ];
        let response = http::send(http.post(&token_url).form(&form), &token_url).await?;
        let ok = response.status().is_success();
        let text = response.text().await.unwrap_or_default();
        if ok {
            let reply: TokenReply = serde_json::from_str(&text)
                .map_err(|e| CliError::Auth(format!("unreadable token reply: {e}")))?;
            return finish(store, settings, reply).await;
        }
        let error: TokenError =
            serde_json::from_str(&text).map_err(|_| CliError::Auth(http::error_message(&text)))?;
        match error.error.as_str() {
            "authorization_pending" => {
                if now() > deadline {
                    return Err(CliError::Auth("the device code expired".into()));
                }
            }
            "slow_down" => interval += Duration::from_secs(5),
            _ => return Err(CliError::Auth(error.error_description)),
        }
    }
}

/// The claims of a JWT, without checking it: only for naming the signed-in user, from a token
/// just received from the token endpoint over TLS.
fn claims(token: &str) -> HashMap<String, Value> {
    token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

async fn finish(
    store: &ConnectionStore,
    settings: &Settings,
    reply: TokenReply,
) -> Result<UserSession> {
    let id = reply
        .id_token
        .as_ref()
        .map(|t| claims(t.expose()))
        .unwrap_or_else(|| claims(reply.access_token.expose()));
    let text = |name: &str| {
        id.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let user = [text("preferred_username"), text("upn"), text("name")]
        .into_iter()
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown user".into());
    let refresh = reply
        .refresh_token
        .ok_or_else(|| CliError::Auth("no refresh token was issued".into()))?;
    let mut session = UserSession::new(
        text("tid"),
        settings.authority_host.clone(),
        settings.client_id.clone(),
        user,
        text("oid"),
        refresh,
    );
    session.access_tokens.insert(
        settings.discovery_url.clone(),
        CachedToken::new(reply.access_token, now() + reply.expires_in),
    );
    let saved = session.clone();
    store.update(|contents| {
        contents.session = Some(saved);
        Ok::<_, CliError>(())
    })?;
    Ok(session)
}

/// The signed-in session, or [`CliError::NotSignedIn`].
pub(crate) fn current(store: &ConnectionStore) -> Result<UserSession> {
    store.load()?.session.ok_or(CliError::NotSignedIn)
}

/// An access token of the signed-in user for `resource`, from the cache or by refreshing.
pub(crate) async fn token_for(store: &ConnectionStore, resource: &str) -> Result<Secret> {
    // The token is for calls to `resource`: refused before one is even asked for.
    http::checked(resource)?;
    let resource = resource.trim_end_matches('/').to_owned();
    let session = current(store)?;
    if let Some(cached) = session.access_tokens.get(&resource)
        && cached.expires_at > now() + 120
    {
        return Ok(cached.token.clone());
    }
    progress(&format!(
        "Getting a token for {resource} as {}",
        session.user
    ));
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        session.authority_host, session.tenant_id
    );
    let http = http::client_for(&url)?;
    let scope = scope_for(&resource);
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", session.client_id.as_str()),
        ("refresh_token", session.refresh_token.expose()),
        ("scope", scope.as_str()),
    ];
    let response = http::send(http.post(&url).form(&form), &url).await?;
    let ok = response.status().is_success();
    let text = response.text().await.unwrap_or_default();
    if !ok {
        return Err(CliError::Auth(format!(
            "{} (run `dynamics login` again)",
            http::error_message(&text)
        )));
    }
    let reply: TokenReply = serde_json::from_str(&text)
        .map_err(|e| CliError::Auth(format!("unreadable token reply: {e}")))?;
    let token = reply.access_token.clone();
    let signed_in_as = session.object_id.clone();
    store.update(|contents| {
        // Another run may have signed someone else in meanwhile: never mix their tokens.
        let Some(current) = contents.session.as_mut() else {
            return Err(CliError::NotSignedIn);
        };
        if current.object_id != signed_in_as {
            return Err(CliError::Auth(
                "another user signed in while this command ran; run it again".into(),
            ));
        }
        if let Some(refresh) = reply.refresh_token {
            current.refresh_token = refresh;
        }
        current.access_tokens.insert(
            resource.clone(),
            CachedToken::new(reply.access_token, now() + reply.expires_in),
        );
        Ok(())
    })?;
    Ok(token)
}
