//! `$batch`: requests run in order; a change set runs under one write guard and is rolled back
//! whole when one of its requests fails; `$n` refers to what the request with `Content-ID: n`
//! created; without `Prefer: odata.continue-on-error` the batch stops at the first failure.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use uuid::Uuid;

use super::protocol::{ApiRequest, ApiResponse};
use super::{ApiError, WebApi};
use crate::odata::batch::{self, Item, Part, ReplyItem, ReplyPart};
use crate::token::Caller;

/// Dataverse's limit on requests per batch.
const MAX_REQUESTS: usize = 1000;

impl WebApi {
    pub(super) fn batch(&self, caller: &Caller, request: &ApiRequest) -> ApiResponse {
        self.run_batch(caller, request)
            .unwrap_or_else(ApiError::into_api)
    }

    fn run_batch(&self, caller: &Caller, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        if request.method != Method::POST {
            return Err(ApiError::method_not_allowed(request.method.as_str()));
        }
        let body = std::str::from_utf8(&request.body)
            .map_err(|_| ApiError::bad_request("The $batch body is not UTF-8."))?;
        let items = batch::parse(request.header("Content-Type").unwrap_or_default(), body)
            .map_err(ApiError::bad_request)?;
        let count: usize = items
            .iter()
            .map(|i| match i {
                Item::Single(_) => 1,
                Item::ChangeSet(parts) => parts.len(),
            })
            .sum();
        if count > MAX_REQUESTS {
            return Err(ApiError::bad_request(format!(
                "The number of requests in the batch ({count}) exceeds the maximum of {MAX_REQUESTS}."
            )));
        }
        let continue_on_error = request.prefer().continue_on_error;
        let mut created: HashMap<String, String> = HashMap::new();
        let mut replies = Vec::new();
        let mut failed = false;
        for item in items {
            let ok = match item {
                Item::Single(part) => {
                    let reply = self.single(caller, &part, &created);
                    let ok = reply.status.is_success() || reply.status == StatusCode::NOT_MODIFIED;
                    replies.push(ReplyItem::Single(reply));
                    ok
                }
                Item::ChangeSet(parts) => match self.change_set(caller, &parts, &mut created) {
                    Ok(parts) => {
                        replies.push(ReplyItem::ChangeSet(parts));
                        true
                    }
                    // A failed change set answers with a change set holding the failing
                    // response alone, with its Content-ID; the rolled-back requests get no
                    // reply. ASP.NET OData, which Dataverse's $batch is:
                    // https://github.com/OData/WebApi/blob/master/src/Microsoft.AspNetCore.OData/Batch/ChangeSetRequestItem.cs
                    // and a real reply in https://github.com/MicrosoftDocs/powerapps-docs/issues/2843
                    Err(reply) => {
                        replies.push(ReplyItem::ChangeSet(vec![reply]));
                        false
                    }
                },
            };
            if !ok {
                failed = true;
                if !continue_on_error {
                    break;
                }
            }
        }
        let boundary = format!("batchresponse_{}", Uuid::new_v4());
        let status = if failed && !continue_on_error {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let mut response =
            ApiResponse::text(status, batch::write(&replies, &boundary), "multipart/mixed")
                .with_header(
                    HeaderName::from_static("content-type"),
                    format!("multipart/mixed; boundary={boundary}"),
                );
        if continue_on_error {
            response = response.with_header(
                HeaderName::from_static("preference-applied"),
                "odata.continue-on-error",
            );
        }
        Ok(response)
    }

    fn single(&self, caller: &Caller, part: &Part, created: &HashMap<String, String>) -> ReplyPart {
        let response = match self.inner_request(part, created) {
            Ok(request) if request.path == "$batch" => {
                ApiError::bad_request("A $batch cannot be nested in another.").into_api()
            }
            // A part may impersonate on its own (no store lock is held here).
            Ok(request) => match self.acting_as(caller, &request.headers) {
                Ok(acting) => self.execute(&acting, &request),
                Err(error) => error.into_api(),
            },
            Err(error) => error.into_api(),
        };
        reply_part(part, response)
    }

    /// Runs a change set atomically; on failure the store is restored and the failing reply
    /// is returned.
    fn change_set(
        &self,
        caller: &Caller,
        parts: &[Part],
        created: &mut HashMap<String, String>,
    ) -> Result<Vec<ReplyPart>, ReplyPart> {
        if let Some(get) = parts.iter().find(|p| p.method == "GET") {
            return Err(reply_part(
                get,
                ApiError::bad_request("A change set cannot contain a GET request.").into_api(),
            ));
        }
        let mut tables = self.store.write();
        tables.atomically(|tables| {
            let mut replies = Vec::with_capacity(parts.len());
            for part in parts {
                let response = match self.inner_request(part, created) {
                    Ok(request) => self
                        .write(caller, &request, tables)
                        .unwrap_or_else(|error| error.into_api_for(&request.prefer())),
                    Err(error) => error.into_api(),
                };
                if !response.status.is_success() {
                    return Err(reply_part(part, response));
                }
                if let (Some(id), Some(url)) = (&part.content_id, entity_id(&response)) {
                    created.insert(id.clone(), url);
                }
                replies.push(reply_part(part, response));
            }
            Ok(replies)
        })
    }

    /// Turns a batch part into a request, resolving `$n` references in its URL and body.
    fn inner_request(
        &self,
        part: &Part,
        created: &HashMap<String, String>,
    ) -> Result<ApiRequest, ApiError> {
        let url = resolve_reference(&part.url, created)?;
        let relative = match url.find("/api/data/") {
            Some(at) => url[at + "/api/data/".len()..]
                .split_once('/')
                .map_or("", |(_, r)| r)
                .to_owned(),
            None => url.trim_start_matches('/').to_owned(),
        };
        let (path, query) = relative.split_once('?').unwrap_or((&relative, ""));
        let mut headers = HeaderMap::new();
        for (name, value) in &part.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        let body = if part.body.trim().is_empty() {
            Bytes::new()
        } else {
            match serde_json::from_str::<Value>(&part.body) {
                Ok(mut json) => {
                    resolve_body(&mut json, created)?;
                    Bytes::from(json.to_string())
                }
                // Left as is: the request itself reports the bad JSON.
                Err(_) => Bytes::from(part.body.clone()),
            }
        };
        let request = ApiRequest {
            method: Method::from_bytes(part.method.as_bytes())
                .map_err(|_| ApiError::bad_request(format!("Unknown method '{}'.", part.method)))?,
            path: percent_decode_str(path).decode_utf8_lossy().into_owned(),
            query: query.to_owned(),
            headers,
            body,
        };
        if self
            .file_call(&request)
            .is_some_and(|call| !call.is_image_delete())
        {
            return Err(ApiError::bad_request(
                "File and image column uploads, downloads and deletes are not supported inside a $batch: send each as a request of its own.",
            ));
        }
        Ok(request)
    }
}

/// `$1/...` → `accounts(<id>)/...`.
fn resolve_reference(text: &str, created: &HashMap<String, String>) -> Result<String, ApiError> {
    let Some(rest) = text.strip_prefix('$') else {
        return Ok(text.to_owned());
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Ok(text.to_owned());
    }
    let target = created.get(&digits).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Content-ID Reference: '${digits}' does not exist in the batch context."
        ))
    })?;
    Ok(format!("{target}{}", &rest[digits.len()..]))
}

/// Replaces `"$n"` values (in `@odata.bind` and `@odata.id`) with the entity they name.
fn resolve_body(json: &mut Value, created: &HashMap<String, String>) -> Result<(), ApiError> {
    let Value::Object(map) = json else {
        return Ok(());
    };
    for (name, value) in map.iter_mut() {
        if !(name.ends_with("@odata.bind") || name == "@odata.id") {
            continue;
        }
        let references = match value {
            Value::Array(items) => items.iter_mut().collect::<Vec<_>>(),
            other => vec![other],
        };
        for reference in references {
            if let Value::String(text) = reference
                && text.starts_with('$')
            {
                *text = format!("/{}", resolve_reference(text, created)?);
            }
        }
    }
    Ok(())
}

/// `set(id)` from a reply's `OData-EntityId`, for later `$n` references.
fn entity_id(response: &ApiResponse) -> Option<String> {
    let (_, url) = response
        .headers
        .iter()
        .find(|(name, _)| name.as_str() == "odata-entityid")?;
    let at = url.find("/api/data/")?;
    Some(url[at + "/api/data/".len()..].split_once('/')?.1.to_owned())
}

fn reply_part(part: &Part, response: ApiResponse) -> ReplyPart {
    let mut headers = vec![("OData-Version".to_owned(), "4.0".to_owned())];
    if let Some(content_type) = response.content_type() {
        headers.push(("Content-Type".into(), content_type.into()));
    }
    for (name, value) in &response.headers {
        if name.as_str() == "odata-entityid" {
            // Batch replies carry the new record's URL as Location too.
            headers.push(("Location".into(), value.clone()));
            headers.push(("OData-EntityId".into(), value.clone()));
        } else {
            headers.push((name.as_str().to_owned(), value.clone()));
        }
    }
    ReplyPart {
        content_id: part.content_id.clone(),
        status: response.status,
        headers,
        body: response.body_text(),
    }
}
