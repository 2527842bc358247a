//! HTTP for the CLI's own calls (Entra, Graph, Discovery, the Web API with the user's token)
//! under the library's transport rules, and the reading of their error bodies.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::error::{CliError, Result};

/// An HTTP client for calls to `url`'s service, under the library's rules (see
/// `dynamics_client::transport`): `https`, or `http` to a loopback host only; no redirects;
/// no proxy for plain `http`.
pub(crate) fn client_for(url: &str) -> Result<reqwest::Client> {
    let parsed = checked(url)?;
    dynamics_client::transport::client_builder(&parsed)
        .timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("dynamics-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::Transport {
            url: url.to_owned(),
            reason: e.to_string(),
        })
}

/// `url`, refused unless it is `https` or `http` to a loopback host: a token or a refresh
/// token never crosses the network in plain text.
pub(crate) fn checked(url: &str) -> Result<url::Url> {
    dynamics_client::transport::secure_url("URL", url).map_err(|e| match e {
        dynamics_client::Error::InvalidInput(reason) => CliError::Usage(reason),
        other => CliError::Usage(other.to_string()),
    })
}

/// Sends, after checking the URL; a transport failure names the URL (never a token: those
/// travel in headers). A redirect is never followed: it comes back as an error naming where
/// it pointed.
pub(crate) async fn send(request: RequestBuilder, url: &str) -> Result<Response> {
    checked(url)?;
    let response = request.send().await.map_err(|e| CliError::Transport {
        url: url.to_owned(),
        reason: e.without_url().to_string(),
    })?;
    let status = response.status();
    if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
        return Err(CliError::Redirected {
            url: url.to_owned(),
            status: status.as_u16(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        });
    }
    Ok(response)
}

/// The message of a Graph, Dataverse or Entra error body.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(300).collect();
    };
    if let Some(description) = json.get("error_description").and_then(Value::as_str) {
        return description.to_owned();
    }
    let error = json.get("error").unwrap_or(&json);
    let code = error.get("code").and_then(Value::as_str).unwrap_or("");
    let message = error.get("message").and_then(Value::as_str).unwrap_or(body);
    if code.is_empty() {
        message.to_owned()
    } else {
        format!("{code}: {message}")
    }
}

/// Sends a bearer request and reads a JSON reply; 403 is a refusal, other errors are typed.
pub(crate) async fn call(
    http: &reqwest::Client,
    service: &'static str,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<(u16, Value, reqwest::header::HeaderMap)> {
    let mut request = http
        .request(method, url)
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("OData-MaxVersion", "4.0")
        .header("OData-Version", "4.0");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = send(request, url).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|e| CliError::Transport {
        url: url.to_owned(),
        reason: e.without_url().to_string(),
    })?;
    if status == 403 {
        return Err(CliError::Refused(format!(
            "{service}: {}",
            error_message(&text)
        )));
    }
    if status == 404 {
        return Err(CliError::NotFound(format!(
            "{service}: {}",
            error_message(&text)
        )));
    }
    if status >= 400 {
        return Err(CliError::Service {
            service,
            status,
            message: error_message(&text),
        });
    }
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| CliError::Service {
            service,
            status,
            message: format!("unreadable reply: {e}"),
        })?
    };
    Ok((status, json, headers))
}
