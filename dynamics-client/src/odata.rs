//! Dataverse Web API wire details: header names, error bodies, throttling codes, entity ids.

use reqwest::header::HeaderMap;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, ThrottleLimit, or_status_reason};

/// Header that names the created record's URL after a create.
pub(crate) const ODATA_ENTITY_ID: &str = "OData-EntityId";
/// Impersonation header: the Entra object id of the user to act as.
pub(crate) const CALLER_OBJECT_ID: &str = "CallerObjectId";
/// Optional parameter: skip custom synchronous and/or asynchronous business logic.
pub(crate) const BYPASS_BUSINESS_LOGIC: &str = "MSCRM.BypassBusinessLogicExecution";
/// Optional parameter: do not start the Power Automate flows a write would trigger.
pub(crate) const SUPPRESS_FLOWS: &str = "MSCRM.SuppressCallbackRegistrationExpanderJob";
/// Optional parameter: `false` turns duplicate detection on (the Web API skips it otherwise).
pub(crate) const SUPPRESS_DUPLICATE_DETECTION: &str = "MSCRM.SuppressDuplicateDetection";
/// Optional parameter: the solution that created or changed solution components go to.
pub(crate) const SOLUTION_UNIQUE_NAME: &str = "MSCRM.SolutionUniqueName";
/// The error code of a write refused by a duplicate detection rule.
pub(crate) const DUPLICATE_RECORD: &str = "0x80040333";
/// "Cannot insert duplicate key" (-2147220937): a key constraint, such as the one intersect row
/// of a many-to-many pair, was broken.
pub(crate) const DUPLICATE_KEY: &str = "0x80040237";
/// Request ids Dataverse puts on its answers, most specific first.
pub(crate) const REQUEST_ID_HEADERS: [&str; 2] = ["x-ms-service-request-id", "REQ_ID"];

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Builds an [`ApiError`] from an error answer, tolerating bodies that are not Dataverse JSON.
pub(crate) fn parse_api_error(status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => (envelope.error.code, envelope.error.message),
        Err(_) => (String::new(), String::new()),
    };
    let mut error = ApiError::new(status, code, or_status_reason(message, status));
    error.request_id = request_id(headers);
    error
}

/// The server's request id, if the answer carries one.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
}

/// A Dataverse error code as its 32-bit HRESULT, from hex (Web API, `0x80040333`) or decimal
/// (SDK, `-2147204301`: the signed reading of the same value).
fn hresult(code: &str) -> Option<u32> {
    let code = code.trim();
    if let Some(hex) = code.strip_prefix("0x").or_else(|| code.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else {
        Some(code.parse::<i32>().ok()? as u32)
    }
}

/// Recognises Dataverse's service-protection error codes, in hex (Web API) or decimal (SDK) form.
pub(crate) fn throttle_limit(code: &str) -> Option<ThrottleLimit> {
    match hresult(code)? {
        0x8007_2322 => Some(ThrottleLimit::Requests),
        0x8007_2321 => Some(ThrottleLimit::ExecutionTime),
        0x8007_2326 => Some(ThrottleLimit::ConcurrentRequests),
        _ => None,
    }
}

/// Whether a 5xx answer may go away if the request is sent again.
///
/// 502, 503 and 504 come from the gateway or a busy service: transient. A 500 is transient
/// only when it carries no Dataverse error code (nothing says what failed), or the code of a
/// SQL failure: a 500 with any other code is a business outcome, the same on every try. For
/// example a write refused by duplicate detection is a 500 with `0x80040333`
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update>).
/// Microsoft's own clients agree: the .NET `ServiceClient` resends a Web API 500 only for the
/// SQL codes `-2147204784` (`0x80044150`) and `-2146233087` (`0x80131501`) with "SQL" in the
/// message, besides 502 and throttling (`ConnectionService.ShouldRetryWebAPI` in
/// <https://github.com/microsoft/PowerPlatform-DataverseServiceClient>), and the Python client
/// counts 429, 502, 503 and 504 as transient, never 500 (`TRANSIENT_STATUS` in
/// <https://github.com/microsoft/PowerPlatform-DataverseClient-Python>).
pub(crate) fn is_transient_server_error(status: u16, code: &str, message: &str) -> bool {
    match status {
        502..=504 => true,
        500 => match hresult(code) {
            None => code.trim().is_empty(),
            Some(0x8004_4150) => true,
            Some(0x8013_1501) => message.contains("SQL"),
            Some(_) => false,
        },
        _ => false,
    }
}

/// Reads the record id from an `OData-EntityId` value such as `https://…/accounts(7eb6…)`.
pub(crate) fn entity_id_from_url(value: &str) -> Option<Uuid> {
    let inner = value.trim().strip_suffix(')')?;
    let start = inner.rfind('(')?;
    let key = &inner[start + 1..];
    // Keys may also be written `accountid=<guid>`.
    let key = key.rsplit('=').next().unwrap_or(key);
    Uuid::parse_str(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_dataverse_error_json() {
        let mut headers = HeaderMap::new();
        headers.insert("REQ_ID", HeaderValue::from_static("abc-123"));
        let body = br#"{"error":{"code":"0x80040265","message":"Account name is required.",
            "@Microsoft.PowerApps.CDS.TraceText":"x"}}"#;
        let e = parse_api_error(400, &headers, body);
        assert_eq!(e.status, 400);
        assert_eq!(e.code, "0x80040265");
        assert_eq!(e.message, "Account name is required.");
        assert_eq!(e.request_id.as_deref(), Some("abc-123"));
        assert_eq!(
            e.to_string(),
            "0x80040265: Account name is required. (request id abc-123)"
        );
    }

    #[test]
    fn empty_code_and_non_json_bodies() {
        let e = parse_api_error(
            404,
            &HeaderMap::new(),
            br#"{"error":{"code":"","message":"account With Id = 1 Does Not Exist"}}"#,
        );
        assert_eq!(e.code, "");
        assert_eq!(e.to_string(), "account With Id = 1 Does Not Exist");
        let e = parse_api_error(502, &HeaderMap::new(), b"<html>Bad Gateway</html>");
        assert_eq!(e.message, "Bad Gateway");
        let e = parse_api_error(599, &HeaderMap::new(), b"");
        assert_eq!(e.message, "error");
    }

    #[test]
    fn throttle_codes_hex_and_decimal() {
        assert_eq!(throttle_limit("0x80072322"), Some(ThrottleLimit::Requests));
        assert_eq!(throttle_limit("-2147015902"), Some(ThrottleLimit::Requests));
        assert_eq!(
            throttle_limit("0x80072321"),
            Some(ThrottleLimit::ExecutionTime)
        );
        assert_eq!(
            throttle_limit("-2147015903"),
            Some(ThrottleLimit::ExecutionTime)
        );
        assert_eq!(
            throttle_limit("0X80072326"),
            Some(ThrottleLimit::ConcurrentRequests)
        );
        assert_eq!(
            throttle_limit("-2147015898"),
            Some(ThrottleLimit::ConcurrentRequests)
        );
        assert_eq!(throttle_limit("0x80040265"), None);
        assert_eq!(throttle_limit(""), None);
        assert_eq!(throttle_limit("0xZZ"), None);
        assert_eq!(throttle_limit("99999999999999"), None);
    }

    #[test]
    fn entity_id_header() {
        let id = Uuid::parse_str("7eb682f1-ca75-e511-80d4-00155d2a68d1").unwrap();
        assert_eq!(
            entity_id_from_url(
                "https://org.crm.dynamics.com/api/data/v9.0/accounts(7eb682f1-ca75-e511-80d4-00155d2a68d1)"
            ),
            Some(id)
        );
        assert_eq!(
            entity_id_from_url("http://x/accounts(accountid=7eb682f1-ca75-e511-80d4-00155d2a68d1)"),
            Some(id)
        );
        assert_eq!(entity_id_from_url("http://x/accounts(nope)"), None);
        assert_eq!(entity_id_from_url("garbage"), None);
    }
}
