//! Posting a client-credentials request to an Entra ID v2 token endpoint and reading the answer.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tracing::Instrument as _;
use url::Url;

use super::{AccessToken, CredentialOptions, default_http_client};
use crate::clock::Clock;
use crate::error::{AuthError, Error, Result, or_status_reason};
use crate::retry::parse_retry_after;
use crate::secret::Secret;

/// A token endpoint plus the client and clock used to reach it.
#[derive(Clone)]
pub(crate) struct TokenEndpoint {
    pub url: Url,
    http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
}

/// Pause before the single retry of a token request that failed with 5xx or a transport error.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Longest `Retry-After` waited out inside a token request; longer ones surface as errors.
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(60);

/// Longest token lifetime believed; Entra issues 60 to 90 minutes.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: Seconds,
}

/// A count of seconds: a number from Entra, a string from older authorities and from managed
/// identity endpoints.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Seconds {
    Number(u64),
    Text(String),
}

impl Seconds {
    /// The number; the error names `field` and quotes the text.
    pub(crate) fn value(&self, field: &str) -> Result<u64, String> {
        match self {
            Seconds::Number(n) => Ok(*n),
            Seconds::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("`{field}` is not a number of seconds: `{t}`")),
        }
    }
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default, alias = "correlationId")]
    correlation_id: Option<String>,
    /// App Service's identity endpoint says what went wrong here instead.
    #[serde(default)]
    message: String,
}

impl TokenEndpoint {
    pub fn new(tenant_id: &str, options: &CredentialOptions) -> Result<Self> {
        let host = crate::endpoint::parse_secure_url("authority host", &options.authority_host)?;
        let url = crate::endpoint::token_endpoint(&host, tenant_id)?;
        let http = match &options.http_client {
            Some(client) => client.clone(),
            None => default_http_client(&url)?,
        };
        Ok(Self {
            url,
            http,
            clock: options.clock.clone(),
        })
    }

    /// Requests a token. `form` is built per try, so each try can carry a freshly signed assertion.
    pub async fn request(&self, mut form: impl FnMut() -> Result<String>) -> Result<AccessToken> {
        let span = tracing::debug_span!(
            "dynamics.token",
            endpoint = %self.url,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
        );
        async {
            let mut attempt = 1;
            loop {
                tracing::Span::current().record("attempt", attempt);
                let mut retry_after = None;
                let result = self.try_once(form()?, &mut retry_after).await;
                // One more try: after a 5xx or a transport error (as MSAL does), or after a
                // 429 whose Retry-After is short (Entra's answer to too many token requests).
                let pause = match &result {
                    Err(Error::Auth(e)) if e.status == Some(429) => {
                        retry_after.filter(|d| *d <= MAX_THROTTLE_PAUSE)
                    }
                    Err(Error::Auth(e)) if matches!(e.status, Some(500..=599)) => Some(RETRY_PAUSE),
                    Err(Error::Transport(_)) => Some(RETRY_PAUSE),
                    _ => None,
                };
                match pause {
                    Some(pause) if attempt == 1 => {
                        attempt += 1;
                        self.clock.sleep(pause).await;
                    }
                    _ => return result,
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One token request; on an error answer, `retry_after` receives its `Retry-After`.
    async fn try_once(
        &self,
        body: String,
        retry_after: &mut Option<Duration>,
    ) -> Result<AccessToken> {
        let started = self.clock.now();
        let response = self
            .http
            .post(self.url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(Error::Transport)?;
        tracing::Span::current().record("status", response.status().as_u16());
        let (status, bytes) = read_reply(response, self.clock.as_ref(), retry_after).await?;
        let parsed: TokenResponse = Error::decode_secret_json("token response", &bytes)?;
        if let Some(kind) = &parsed.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(Error::from(AuthError {
                status: Some(status),
                error: "unsupported_token_type".into(),
                description: format!("expected a Bearer token, got `{kind}`"),
                codes: Vec::new(),
                trace_id: None,
                correlation_id: None,
            }));
        }
        let seconds = parsed
            .expires_in
            .value("expires_in")
            .map_err(|description| {
                Error::from(AuthError {
                    status: Some(status),
                    error: "invalid_response".into(),
                    description,
                    codes: Vec::new(),
                    trace_id: None,
                    correlation_id: None,
                })
            })?;
        // Expiry counts from when the request was sent, so network time only shortens it.
        // An absurd lifetime is capped rather than trusted (or allowed to overflow).
        let lifetime = Duration::from_secs(seconds.min(MAX_TOKEN_LIFETIME.as_secs()));
        let expires_on = started.checked_add(lifetime).unwrap_or(started);
        Ok(AccessToken::new(parsed.access_token, expires_on))
    }
}

/// A token service's answer read: its status and body when it is a success; otherwise the error
/// it carries, with the wait its `Retry-After` asks for put in `retry_after`. The one reader of
/// Entra ID's and the managed identity endpoints' answers.
pub(super) async fn read_reply(
    response: reqwest::Response,
    clock: &dyn Clock,
    retry_after: &mut Option<Duration>,
) -> Result<(u16, Vec<u8>)> {
    let status = response.status().as_u16();
    let wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.map_err(Error::Transport)?.to_vec();
    if !(200..300).contains(&status) {
        *retry_after = wait.and_then(|v| parse_retry_after(&v, clock.now()));
        return Err(parse_error(status, &bytes));
    }
    Ok((status, bytes))
}

/// Reads an Entra error body; a body that is not one still gives a typed error with the status.
pub(crate) fn parse_error(status: u16, body: &[u8]) -> Error {
    let parsed: ErrorResponse = serde_json::from_slice(body).unwrap_or_default();
    let error = or_status_reason(parsed.error, status);
    Error::from(AuthError {
        status: Some(status),
        error,
        description: if parsed.error_description.is_empty() {
            parsed.message
        } else {
            parsed.error_description
        },
        codes: parsed.error_codes,
        trace_id: parsed.trace_id,
        correlation_id: parsed.correlation_id,
    })
}

/// Form-encodes key/value pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_error_is_typed() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\n","error_codes":[7000215],"timestamp":"2025-01-01 00:00:00Z","trace_id":"0b3d-trace","correlation_id":"9f1c-corr","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let Error::Auth(e) = parse_error(401, body) else {
            panic!("expected Auth")
        };
        assert_eq!(e.status, Some(401));
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.codes, vec![7000215]);
        assert!(e.description.starts_with("AADSTS7000215"));
        assert_eq!(e.trace_id.as_deref(), Some("0b3d-trace"));
        assert_eq!(e.correlation_id.as_deref(), Some("9f1c-corr"));
    }

    #[test]
    fn non_json_error_keeps_status() {
        let Error::Auth(e) = parse_error(503, b"<html>down</html>") else {
            panic!("expected Auth")
        };
        assert_eq!(e.status, Some(503));
        assert_eq!(e.error, "Service Unavailable");
        assert!(e.codes.is_empty());
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form(&[
                ("scope", "https://o.crm.dynamics.com/.default"),
                ("a", "b c")
            ]),
            "scope=https%3A%2F%2Fo.crm.dynamics.com%2F.default&a=b+c"
        );
    }
}
