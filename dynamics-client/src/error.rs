//! The error type of every fallible operation in this crate.

pub use crate::connection::ConnectionError;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Dataverse.
///
/// Secrets (keys, passwords, assertions, tokens) never appear in any variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Dataverse answered with an error status not covered by a more specific variant.
    #[error("Dataverse request failed with HTTP {}: {}", .0.status, .0)]
    Api(Box<ApiError>),
    /// The token endpoint refused to issue a token.
    #[error(transparent)]
    Auth(Box<AuthError>),
    /// A credential could not be built from the given certificate, key, password or settings.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// Dataverse kept throttling the request until the retry budget ran out.
    #[error(transparent)]
    Throttled(Box<ThrottledError>),
    /// HTTP 412: an `If-Match` or `If-None-Match` condition did not hold.
    #[error("concurrency conflict (HTTP 412): {0}")]
    ConcurrencyConflict(Box<ApiError>),
    /// HTTP 404: the record or resource does not exist.
    #[error("not found (HTTP 404): {0}")]
    NotFound(Box<ApiError>),
    /// The request could not be sent or its answer not read (connection, TLS, timeout).
    #[error("HTTP transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A response body did not have the expected shape.
    #[error("could not decode {what}: at `{path}`: {source}; body starts with: {excerpt}")]
    Decode {
        /// What was being decoded, e.g. `"accounts record"`.
        what: String,
        /// JSON path of the value that failed, e.g. `value[3].revenue` (`.` for the root).
        path: String,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
        /// The first characters of the body, or a placeholder where the body may hold secrets.
        excerpt: String,
    },
    /// An argument or setting was rejected before any request was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The service answered with a redirect (`3xx`). Redirects are never followed: the
    /// request's body and the answer would come from a host nobody chose.
    #[error("the service answered HTTP {status} pointing at {}; redirects are not followed", .location.as_deref().unwrap_or("nowhere (no Location header)"))]
    Redirected {
        /// The status (301, 302, 303, 307, 308, ...).
        status: u16,
        /// Its `Location` header, as sent.
        location: Option<String>,
    },
    /// A response body was longer than
    /// [`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes); reading
    /// stopped there and nothing of it was used.
    #[error(
        "the answer to {what} is larger than the limit of {limit} bytes; reading stopped there (raise ClientBuilder::max_response_bytes if it is expected)"
    )]
    ResponseTooLarge {
        /// The request, as method and path.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A query's pages did not end: the server sent a next link already followed (a loop), or
    /// more pages than [`ClientBuilder::max_pages`](crate::ClientBuilder::max_pages) allows.
    #[error("paging stopped after {pages} pages: {reason}")]
    Paging {
        /// Pages read before stopping.
        pages: u64,
        /// What the server did.
        reason: String,
    },
    /// A `$batch` reply could not be read, or holds no answer for a request.
    #[error(transparent)]
    Batch(Box<BatchError>),
}

impl Error {
    /// The HTTP status behind this error, if there is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::ConcurrencyConflict(e) | Error::NotFound(e) => Some(e.status),
            Error::Auth(e) => e.status,
            Error::Throttled(e) => Some(e.status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::Redirected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a duplicate detection rule refused the write: Dataverse answers HTTP 500 with
    /// code `0x80040333`, only when the rules were asked for (see
    /// [`Client::detecting_duplicates`](crate::Client::detecting_duplicates) and
    /// <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update>).
    pub fn is_duplicate(&self) -> bool {
        match self {
            Error::Api(e) => e.code.eq_ignore_ascii_case(crate::odata::DUPLICATE_RECORD),
            _ => false,
        }
    }

    /// Whether trying the same request again later may succeed.
    ///
    /// True for throttling, 502/503/504, a 500 that names no business outcome (no Dataverse
    /// error code, or a SQL failure's), timeouts and connection failures. A 500 carrying a
    /// business error code, such as a duplicate refused (`0x80040333`), is false: it is the
    /// same answer on every try.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled(_) => true,
            Error::Api(e) => {
                e.status == 429
                    || crate::odata::is_transient_server_error(e.status, &e.code, &e.message)
            }
            Error::Auth(e) => matches!(e.status, Some(429 | 500..=599)),
            Error::Transport(e) => e.is_timeout() || e.is_connect(),
            _ => false,
        }
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }

    /// Decodes JSON, naming the failing path and quoting the start of the body on error.
    pub(crate) fn decode_json<'de, T: serde::Deserialize<'de>>(
        what: &str,
        body: &'de [u8],
    ) -> Result<T> {
        decode_with_excerpt(what, body, true)
    }

    /// [`decode_json`](Self::decode_json), reading a blank body (`204 No Content`, or only
    /// whitespace) as `null`.
    pub(crate) fn decode_json_or_null<T: serde::de::DeserializeOwned>(
        what: &str,
        body: &[u8],
    ) -> Result<T> {
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            b"null".as_slice()
        } else {
            body
        };
        Self::decode_json(what, body)
    }

    /// Decodes JSON whose body may hold secrets (token responses): no excerpt is kept.
    pub(crate) fn decode_secret_json<T: serde::de::DeserializeOwned>(
        what: &str,
        body: &[u8],
    ) -> Result<T> {
        decode_with_excerpt(what, body, false)
    }
}

fn decode_with_excerpt<'de, T: serde::Deserialize<'de>>(
    what: &str,
    body: &'de [u8],
    with_excerpt: bool,
) -> Result<T> {
    // The common case decodes at full speed; only a failure pays for locating the field that
    // failed (a second pass that tracks the path) and for the excerpt.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let failure = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => return Ok(value),
        Err(failure) => failure,
    };
    let path = failure.path().to_string();
    Err(Error::Decode {
        what: what.to_owned(),
        path,
        source: failure.into_inner(),
        excerpt: if with_excerpt {
            excerpt(body)
        } else {
            "<withheld: may contain credentials>".to_owned()
        },
    })
}

/// `text`, or the status's reason phrase (e.g. `Bad Gateway`) when the server sent none.
pub(crate) fn or_status_reason(text: String, status: u16) -> String {
    if !text.is_empty() {
        return text;
    }
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_owned()
}

/// Characters of a body quoted in decode errors.
const EXCERPT_CHARS: usize = 200;

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// An error answer from the Dataverse Web API.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Dataverse error code such as `0x80040265`; often empty.
    pub code: String,
    /// Human-readable message from Dataverse (or the status text when the body had none).
    pub message: String,
    /// Server request id (`x-ms-service-request-id` or `REQ_ID`), for support cases.
    pub request_id: Option<String>,
}

impl ApiError {
    /// Builds an API error from its parts.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.code.is_empty() {
            write!(f, "{}: ", self.code)?;
        }
        f.write_str(&self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// What went wrong with a `$batch` as a whole, or with one of its requests apart from the
/// service's own answer to it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The reply is not a well-formed `multipart/mixed` batch reply.
    #[error("malformed $batch reply at line {line} of its body: {message}")]
    Malformed {
        /// 1-based line of the reply body where the defect was found.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The reply does not fit the request: more items, or replies in the wrong place.
    #[error("$batch reply does not match the request: {0}")]
    Mismatch(String),
    /// The service did not run this request: the batch stopped at an earlier failure
    /// (no `continue-on-error`).
    #[error("request {request} of the batch was not run: {reason}")]
    NotRun {
        /// Position of the request in the batch, from 0.
        request: usize,
        /// Why.
        reason: String,
    },
    /// Another request of this request's change set failed, so the service rolled the whole
    /// change set back: this one left nothing behind. The failing request's handle gives the
    /// service's error. Dataverse (ASP.NET OData) answers such a change set with the failing
    /// response alone; the others get no reply
    /// (`ChangeSetRequestItem.SendRequestAsync` in
    /// <https://github.com/OData/WebApi/blob/master/src/Microsoft.AspNetCore.OData/Batch/ChangeSetRequestItem.cs>).
    #[error(
        "request {request} of the batch was rolled back: request {failed} of its change set failed"
    )]
    RolledBack {
        /// Position of this request in the batch, from 0.
        request: usize,
        /// Position of the request whose failure rolled the change set back, from 0.
        failed: usize,
    },
    /// The batch holding this request failed as a whole (bulk operations report this for
    /// each of its requests).
    #[error("the batch holding this request failed: {0}")]
    Failed(String),
}

/// A refusal from the Microsoft Entra ID token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthError {
    /// HTTP status of the token response, when there was one.
    pub status: Option<u16>,
    /// OAuth error code, e.g. `invalid_client`.
    pub error: String,
    /// `error_description`, e.g. `AADSTS700027: Client assertion contains an invalid signature…`.
    pub description: String,
    /// The `AADSTS` numbers from `error_codes`. Diagnostic only: Microsoft changes them over time.
    pub codes: Vec<u64>,
    /// Entra trace id, for support cases.
    pub trace_id: Option<String>,
    /// Entra correlation id, for support cases.
    pub correlation_id: Option<String>,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("token request failed")?;
        if let Some(status) = self.status {
            write!(f, " with HTTP {status}")?;
        }
        write!(f, ": {}", self.error)?;
        for code in &self.codes {
            write!(f, " AADSTS{code}")?;
        }
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        if let Some(id) = &self.trace_id {
            write!(f, " (trace id {id}")?;
            match &self.correlation_id {
                Some(c) => write!(f, ", correlation id {c})")?,
                None => f.write_str(")")?,
            }
        } else if let Some(c) = &self.correlation_id {
            write!(f, " (correlation id {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthError {}

/// Which Dataverse service-protection limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleLimit {
    /// Too many requests in the sliding window (`0x80072322`).
    Requests,
    /// Too much combined execution time in the sliding window (`0x80072321`).
    ExecutionTime,
    /// Too many concurrent requests (`0x80072326`).
    ConcurrentRequests,
}

/// The request was throttled and the retry budget ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottledError {
    /// Status of the last answer (429, or 503).
    pub status: u16,
    /// How many times the request was sent.
    pub attempts: u32,
    /// Total time spent waiting between attempts.
    pub waited: Duration,
    /// The last `Retry-After` the server asked for.
    pub retry_after: Option<Duration>,
    /// The service-protection limit named by the last answer, if recognised.
    pub limit: Option<ThrottleLimit>,
    /// The last error answer.
    pub last: ApiError,
}

impl fmt::Display for ThrottledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "throttled by Dataverse (HTTP {}): gave up after {} attempt(s) and {:.1?} of waiting",
            self.status, self.attempts, self.waited
        )?;
        if let Some(after) = self.retry_after {
            write!(f, "; server last asked to wait {after:?}")?;
        }
        if let Some(limit) = self.limit {
            write!(f, "; limit: {limit:?}")?;
        }
        write!(f, "; last error: {}", self.last)
    }
}

impl std::error::Error for ThrottledError {}

/// A credential could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The private key is encrypted and no password was given.
    #[error("the private key is encrypted but no password was given")]
    PasswordRequired,
    /// The password did not decrypt the key or the PKCS#12 archive.
    #[error("wrong password for the {what}")]
    BadPassword {
        /// `"private key"` or `"PKCS#12 archive"`.
        what: &'static str,
    },
    /// The key is not an RSA key (PS256 and RS256 need RSA).
    #[error("unsupported private key type {key_type}: client assertions need an RSA key")]
    UnsupportedKey {
        /// The key type as OpenSSL names it.
        key_type: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// The certificate's validity period has ended.
    #[error("the certificate expired on {not_after}")]
    Expired {
        /// End of validity as written in the certificate.
        not_after: String,
    },
    /// The certificate's validity period has not started.
    #[error("the certificate is not valid before {not_before}")]
    NotYetValid {
        /// Start of validity as written in the certificate.
        not_before: String,
    },
    /// A certificate, key or archive could not be parsed.
    #[error("could not read the {what}: {source}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The OpenSSL error (names the failing routine, never key material).
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// Signing the client assertion failed.
    #[error("could not sign the client assertion: {0}")]
    Signing(#[source] openssl::error::ErrorStack),
    /// A certificate file could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A required setting (such as an environment variable) is missing or malformed.
    #[error("{0}")]
    Configuration(String),
    /// The credential cannot work here: the place it gets tokens from is not set up (no managed
    /// identity endpoint answers, `az` is not installed or not signed in, a variable is not
    /// set). [`DefaultCredential`](crate::DefaultCredential) moves on to the next credential.
    #[error("{credential} is unavailable: {reason}")]
    Unavailable {
        /// The credential, e.g. `"ManagedIdentityCredential"`.
        credential: &'static str,
        /// Why it does not apply.
        reason: String,
    },
    /// No credential of a [`DefaultCredential`](crate::DefaultCredential) could get a token.
    #[error("no credential could get a token:{}", Attempts(.0))]
    NoneApplied(Vec<CredentialAttempt>),
}

/// One credential a [`DefaultCredential`](crate::DefaultCredential) tried, and why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialAttempt {
    /// The credential, e.g. `"WorkloadIdentityCredential"`.
    pub credential: &'static str,
    /// Why it did not give a token (never contains a secret).
    pub reason: String,
}

/// Lists attempts one per line, for [`CredentialError::NoneApplied`].
struct Attempts<'a>(&'a [CredentialAttempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for attempt in self.0 {
            write!(f, "\n- {}: {}", attempt.credential, attempt.reason)?;
        }
        Ok(())
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(Box::new(e))
    }
}

impl From<BatchError> for Error {
    fn from(e: BatchError) -> Self {
        Error::Batch(Box::new(e))
    }
}

impl From<ThrottledError> for Error {
    fn from(e: ThrottledError) -> Self {
        Error::Throttled(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Row {
        name: String,
        revenue: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Rows {
        value: Vec<Row>,
    }

    #[test]
    fn decode_error_names_path_and_quotes_body() {
        let body = br#"{"value":[{"name":"a","revenue":1.0},{"name":"b","revenue":"lots"}]}"#;
        let err = Error::decode_json::<Rows>("accounts page", body).unwrap_err();
        match &err {
            Error::Decode { path, excerpt, .. } => {
                assert_eq!(path, "value[1].revenue");
                assert!(excerpt.starts_with(r#"{"value":[{"name":"a""#));
            }
            other => panic!("expected Decode, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("accounts page"), "{text}");
        assert!(text.contains("value[1].revenue"), "{text}");
    }

    #[test]
    fn decode_excerpt_is_bounded() {
        let body = format!("[{}]", "1,".repeat(500));
        let err = Error::decode_json::<Rows>("page", body.as_bytes()).unwrap_err();
        let Error::Decode { excerpt, .. } = err else {
            panic!("expected Decode")
        };
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn a_blank_body_decodes_as_null() {
        for blank in [&b""[..], b" \r\n\t"] {
            let value: serde_json::Value = Error::decode_json_or_null("answer", blank).unwrap();
            assert_eq!(value, serde_json::Value::Null);
            let none: Option<Rows> = Error::decode_json_or_null("answer", blank).unwrap();
            assert!(none.is_none());
            // A type that cannot be null still fails, naming what was read.
            let err = Error::decode_json_or_null::<Rows>("answer", blank).unwrap_err();
            assert!(err.to_string().contains("answer"), "{err}");
        }
        let rows: Rows = Error::decode_json_or_null("answer", br#" {"value":[]} "#).unwrap();
        assert!(rows.value.is_empty());
    }

    #[test]
    fn secret_decode_has_no_excerpt() {
        let body = br#"{"access_token": 5, "token_type": "SENTINEL-TOKEN"}"#;
        let err = Error::decode_secret_json::<Rows>("token response", body).unwrap_err();
        assert!(!err.to_string().contains("SENTINEL"), "{err}");
    }

    #[test]
    fn status_and_retryable() {
        let api = |s| Error::Api(Box::new(ApiError::new(s, "", "x")));
        assert_eq!(api(502).status(), Some(502));
        assert!(api(502).is_retryable());
        assert!(api(503).is_retryable());
        assert!(!api(400).is_retryable());
        let conflict = Error::ConcurrencyConflict(Box::new(ApiError::new(412, "", "x")));
        assert_eq!(conflict.status(), Some(412));
        assert!(!conflict.is_retryable());
        assert!(!Error::invalid_input("bad").is_retryable());
        assert_eq!(Error::invalid_input("bad").status(), None);
    }

    #[test]
    fn auth_error_display_has_codes_and_ids() {
        let e = AuthError {
            status: Some(401),
            error: "invalid_client".into(),
            description: "AADSTS700027: bad signature".into(),
            codes: vec![700027],
            trace_id: Some("t-1".into()),
            correlation_id: Some("c-2".into()),
        };
        assert_eq!(
            e.to_string(),
            "token request failed with HTTP 401: invalid_client AADSTS700027: \
             AADSTS700027: bad signature (trace id t-1, correlation id c-2)"
        );
    }

    #[test]
    fn throttled_display_says_how_long_it_waited() {
        let e = ThrottledError {
            status: 429,
            attempts: 3,
            waited: Duration::from_secs(40),
            retry_after: Some(Duration::from_secs(20)),
            limit: Some(ThrottleLimit::Requests),
            last: ApiError::new(429, "0x80072322", "Number of requests exceeded"),
        };
        let text = Error::from(e).to_string();
        assert!(text.contains("throttled"), "{text}");
        assert!(text.contains("40.0s of waiting"), "{text}");
        assert!(text.contains("3 attempt"), "{text}");
    }
}
