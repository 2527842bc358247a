//! The Web API's request and reply in a transport-neutral form, so a `$batch` part runs
//! through the same code as a plain HTTP request; and the `Prefer` header.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// A Web API request, its path decoded and relative to the service root.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The raw, still-encoded query string.
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl ApiRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn prefer(&self) -> Prefer {
        Prefer::parse(&self.headers)
    }
}

/// A reply body.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Empty,
    Json(Value),
    Text(String, &'static str),
}

/// A Web API reply.
#[derive(Clone, Debug)]
pub(crate) struct ApiResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, String)>,
    pub(crate) payload: Payload,
}

pub(crate) const JSON_TYPE: &str = "application/json; odata.metadata=minimal";

impl ApiResponse {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            payload: Payload::Json(body),
        }
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    pub(crate) fn text(status: StatusCode, text: String, content_type: &'static str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            payload: Payload::Text(text, content_type),
        }
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn content_type(&self) -> Option<&'static str> {
        match &self.payload {
            Payload::Empty => None,
            Payload::Json(_) => Some(JSON_TYPE),
            Payload::Text(_, content_type) => Some(content_type),
        }
    }

    pub(crate) fn body_text(&self) -> String {
        match &self.payload {
            Payload::Empty => String::new(),
            Payload::Json(value) => value.to_string(),
            Payload::Text(text, _) => text.clone(),
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body_text()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert("OData-Version", HeaderValue::from_static("4.0"));
        if let Some(content_type) = self.content_type() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        for (name, value) in self.headers {
            let Ok(value) = HeaderValue::from_str(&value) else {
                continue;
            };
            // An explicit content type (a multipart boundary) replaces the default one.
            if name == header::CONTENT_TYPE {
                headers.insert(name, value);
            } else {
                headers.append(name, value);
            }
        }
        response
    }
}

/// What the client asked for in `Prefer` headers (one or several, comma-separated).
#[derive(Clone, Debug, Default)]
pub(crate) struct Prefer {
    pub(crate) return_representation: bool,
    pub(crate) max_page_size: Option<usize>,
    /// The `odata.include-annotations` value, unquoted.
    pub(crate) annotations: Option<String>,
    pub(crate) continue_on_error: bool,
    /// `odata.track-changes`: answer with a delta link (change tracking).
    pub(crate) track_changes: bool,
}

impl Prefer {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut prefer = Prefer::default();
        for value in headers.get_all("Prefer") {
            let Ok(value) = value.to_str() else { continue };
            for item in split_quoted(value) {
                let (name, arg) = item.split_once('=').unwrap_or((item, ""));
                let arg = arg.trim().trim_matches('"');
                match name.trim() {
                    "return" => prefer.return_representation = arg == "representation",
                    "odata.maxpagesize" => prefer.max_page_size = arg.parse().ok(),
                    "odata.include-annotations" => prefer.annotations = Some(arg.to_owned()),
                    "odata.continue-on-error" => prefer.continue_on_error = true,
                    "odata.track-changes" => prefer.track_changes = true,
                    _ => {}
                }
            }
        }
        prefer
    }

    /// Whether the annotation `term` was asked for (`*`, `Prefix.*` or the exact name).
    pub(crate) fn wants(&self, term: &str) -> bool {
        let Some(list) = &self.annotations else {
            return false;
        };
        list.split(',').map(str::trim).any(|pattern| {
            pattern == "*"
                || pattern == term
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| term.starts_with(prefix))
        })
    }
}

/// Splits a header value on commas outside double quotes.
fn split_quoted(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_and_combined_prefer_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            "Prefer",
            HeaderValue::from_static(
                "return=representation, odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*\"",
            ),
        );
        headers.append("Prefer", HeaderValue::from_static("odata.maxpagesize=3"));
        let prefer = Prefer::parse(&headers);
        assert!(prefer.return_representation);
        assert_eq!(prefer.max_page_size, Some(3));
        assert!(!prefer.track_changes);
        // Change tracking, alone in its header (as the client sends it) or with others.
        for values in [
            &["odata.track-changes", "odata.maxpagesize=7"][..],
            &["odata.maxpagesize=7, odata.track-changes"][..],
        ] {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append("Prefer", HeaderValue::from_static(value));
            }
            let prefer = Prefer::parse(&headers);
            assert!(prefer.track_changes, "{values:?}");
            assert_eq!(prefer.max_page_size, Some(7), "{values:?}");
        }
        assert!(prefer.wants("OData.Community.Display.V1.FormattedValue"));
        assert!(prefer.wants("Microsoft.Dynamics.CRM.lookuplogicalname"));
        assert!(!prefer.wants("Other.Term"));
        assert!(!Prefer::default().wants("x"));
    }
}
