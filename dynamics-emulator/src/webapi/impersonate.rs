//! Impersonation: `CallerObjectId` (the user's Entra object id) and the legacy `MSCRMCallerID`
//! (a `systemuserid`) make a request act as another `systemusers` record.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, WebApi};
use crate::token::Caller;

/// The preferred header, naming the user by Entra object id.
const CALLER_OBJECT_ID: &str = "CallerObjectId";
/// The legacy header, naming the user by `systemuserid`.
const MSCRM_CALLER_ID: &str = "MSCRMCallerID";

impl WebApi {
    /// Who the request acts as: the impersonated user when a header names one, else `caller`.
    pub(super) fn acting_as(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
    ) -> Result<Caller, ApiError> {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().trim().to_owned())
        };
        let (by_object_id, text, name) = match (header(CALLER_OBJECT_ID), header(MSCRM_CALLER_ID)) {
            (Some(text), _) => (true, text, CALLER_OBJECT_ID),
            (None, Some(text)) => (false, text, MSCRM_CALLER_ID),
            (None, None) => return Ok(caller.clone()),
        };
        let id = Uuid::parse_str(text.trim_matches(|c| c == '{' || c == '}')).map_err(|_| {
            ApiError::bad_request(format!("The {name} header value '{text}' is not a GUID."))
        })?;
        let tables = self.store.read();
        let user = tables
            .rows("systemusers")
            .into_iter()
            .find_map(|(user_id, record)| {
                let matches = if by_object_id {
                    record
                        .fields
                        .get("azureactivedirectoryobjectid")
                        .and_then(Value::as_str)
                        == Some(id.to_string().as_str())
                } else {
                    user_id == id
                };
                matches.then_some(user_id)
            });
        match user {
            Some(user_id) => Ok(Caller { user_id }),
            None if by_object_id => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "0x80040217",
                format!("systemuser With azureactivedirectoryobjectid = {id} Does Not Exist"),
            )),
            None => Err(ApiError::record_missing("systemuser", id)),
        }
    }
}
