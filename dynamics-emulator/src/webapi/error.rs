//! Dataverse-shaped errors: `{"error":{"code":"0x...","message":"..."}}` with a matching status.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::protocol::{ApiResponse, Prefer};

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
        Self::new(StatusCode::BAD_REQUEST, "0x80060888", message)
    }

    /// 400 for a body value that does not fit its property.
    pub(crate) fn bad_payload(set: &str, inner: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80048d19",
            format!(
                "Error identified in Payload provided by the user for Entity :'{set}' ----> InnerException : Microsoft.OData.ODataException: {inner}"
            ),
        )
    }

    /// 404 for a path segment that names nothing in the metadata.
    pub(crate) fn no_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80060888",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 404 for a record that does not exist, in Dataverse's wording.
    pub(crate) fn record_missing(logical_name: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80040217",
            format!("{logical_name} With Id = {id} Does Not Exist"),
        )
    }

    /// 400 for `Prefer: odata.track-changes` (or a delta link) on a table whose entity set lacks
    /// the `ChangeTracking` capability, in Dataverse's words. The code is the emulator's choice
    /// (Dataverse's generic "invalid argument"): the message is what Dataverse documents.
    pub(crate) fn not_tracked(logical_name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80040203",
            format!("Entity: {logical_name} isn't enabled for change tracking."),
        )
    }

    /// 400 for a query option Dataverse refuses alongside change tracking (`$filter`, ...).
    pub(crate) fn not_with_tracking(option: &str) -> Self {
        Self::bad_request(format!(
            "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
        ))
    }

    /// 405 for a method the addressed resource does not take.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "0x80060888",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    /// The reply, with the `Microsoft.PowerApps.CDS` error annotations when `prefer` asks.
    pub(crate) fn into_api_for(self, prefer: &Prefer) -> ApiResponse {
        const PREFIX: &str = "Microsoft.PowerApps.CDS.";
        let terms = [
            "ErrorDetails.OperationStatus",
            "ErrorDetails.SubErrorCode",
            "HelpLink",
            "TraceText",
            "InnerError.Message",
        ];
        if !terms.iter().any(|t| prefer.wants(&format!("{PREFIX}{t}"))) {
            return self.into_api();
        }
        let hex = self.code.trim_start_matches("0x");
        let sub_code = i64::from_str_radix(hex, 16).map_or(0, |c| c - (1 << 32));
        let values = [
            json!("0"),
            json!(sub_code.to_string()),
            json!(format!(
                "http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a{hex}&client=platform"
            )),
            json!(self.message),
            json!(self.message),
        ];
        let mut error = json!({"code": self.code, "message": self.message});
        for (term, value) in terms.iter().zip(values) {
            let name = format!("{PREFIX}{term}");
            if prefer.wants(&name)
                && let Some(map) = error.as_object_mut()
            {
                map.insert(format!("@{name}"), value);
            }
        }
        ApiResponse::json(self.status, json!({ "error": error }))
    }

    pub(crate) fn into_api(self) -> ApiResponse {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        ApiResponse::json(self.status, body)
    }

    pub(crate) fn into_response(self) -> Response {
        self.into_api().into_response()
    }
}
