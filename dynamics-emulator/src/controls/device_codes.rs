//! `/_emulator/identity/devicecodes...`: the directory's test controls over HTTP (loopback
//! only, as all of `/_emulator/`): list pending device codes, approve or decline one, as a
//! user would on the verification page.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::server::{Shared, json_response};

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/identity/devicecodes", get(pending))
        .route("/identity/devicecodes/approve", post(approve))
        .route("/identity/devicecodes/decline", post(decline))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approve {
    user_code: String,
    user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decline {
    user_code: String,
}

fn bad(message: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"code": "0x80040203", "message": message}}),
    )
}

async fn pending(State(shared): State<Arc<Shared>>) -> Response {
    let codes: Vec<_> = shared
        .identity
        .pending_device_codes()
        .into_iter()
        .map(|c| json!({"user_code": c.user_code, "client_id": c.client_id}))
        .collect();
    json_response(StatusCode::OK, &json!({ "value": codes }))
}

async fn approve(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Approve = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("Invalid control request: {e}")),
    };
    match shared
        .identity
        .approve_device_code(&request.user_code, &request.user)
    {
        Ok(()) => json_response(StatusCode::OK, &json!({"ok": true})),
        Err(e) => bad(e.to_string()),
    }
}

async fn decline(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Decline = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("Invalid control request: {e}")),
    };
    match shared.identity.decline_device_code(&request.user_code) {
        Ok(()) => json_response(StatusCode::OK, &json!({"ok": true})),
        Err(e) => bad(e.to_string()),
    }
}
