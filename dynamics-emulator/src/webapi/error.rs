//! Dataverse-shaped errors: `{"error":{"code":"0x...","message":"..."}}` with a matching status.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// A Web API error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a request the schema or the protocol does not allow.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "0x80048d19", message)
    }

    /// 404 for a path segment that names nothing in the metadata.
    pub(crate) fn no_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80060888",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub(crate) fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        super::json_response(self.status, &body)
    }
}
