//! `/_emulator/`: the test controls over HTTP, for the binary and non-Rust tests (faults,
//! request counts, seeding and reading records, and the sign-ins of [`super::device_codes`]).
//! The server answers it on loopback connections only.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::device_codes;
use crate::controls::{FaultKind, FaultMix, ServiceProtectionLimit};
use crate::server::{Shared, json_response as json};
use crate::webapi::{ApiError, DuplicateRule};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/throttle", post(throttle))
        .route("/fail", post(fail))
        .route("/drop", post(drop_connections))
        .route("/latency", post(latency))
        .route("/fault-mix", post(fault_mix))
        .route("/reset", post(reset))
        .route("/requests", get(requests))
        .route("/requests", delete(reset_requests))
        .route("/seed", post(seed))
        .route("/duplicate-rules", post(duplicate_rules))
        .route("/records/{set}", get(records))
        .merge(device_codes::router())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Throttle {
    count: u64,
    #[serde(default = "one")]
    retry_after_seconds: u64,
    #[serde(default)]
    limit: ServiceProtectionLimit,
}

fn one() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Target {
    Api,
    Token,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fail {
    count: u64,
    status: u16,
    #[serde(default = "api")]
    target: Target,
}

fn api() -> Target {
    Target::Api
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Count {
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    milliseconds: u64,
}

/// `{"rate": 0.2, "seed": 7, "kinds": ["throttle", "drop_after"], "retry_after_seconds": 1,
/// "delay_milliseconds": 5000}`; all but `rate` and `seed` optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mix {
    rate: f64,
    seed: u64,
    kinds: Option<Vec<FaultKind>>,
    retry_after_seconds: Option<u64>,
    delay_milliseconds: Option<u64>,
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid control request: {e}")))
}

fn done() -> Response {
    json(StatusCode::OK, &json!({"ok": true}))
}

async fn throttle(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse::<Throttle>(&body) {
        Ok(t) => {
            shared.controls.throttle_next_with(
                t.count,
                Duration::from_secs(t.retry_after_seconds),
                t.limit,
            );
            done()
        }
        Err(error) => error.into_response(),
    }
}

async fn fail(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match parse::<Fail>(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let Ok(status) = StatusCode::from_u16(request.status) else {
        return ApiError::bad_request("status must be an HTTP status code").into_response();
    };
    match request.target {
        Target::Api => shared.controls.fail_next(request.count, status),
        Target::Token => shared
            .controls
            .fail_next_token_requests(request.count, status),
    }
    done()
}

async fn drop_connections(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse::<Count>(&body) {
        Ok(c) => {
            shared.controls.drop_next(c.count);
            done()
        }
        Err(error) => error.into_response(),
    }
}

async fn latency(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse::<Latency>(&body) {
        Ok(l) => {
            shared
                .controls
                .set_latency(Duration::from_millis(l.milliseconds));
            done()
        }
        Err(error) => error.into_response(),
    }
}

async fn fault_mix(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match parse::<Mix>(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let mut mix = FaultMix::new(request.rate, request.seed);
    if let Some(kinds) = request.kinds {
        mix = mix.kinds(kinds);
    }
    if let Some(seconds) = request.retry_after_seconds {
        mix = mix.retry_after(Duration::from_secs(seconds));
    }
    if let Some(ms) = request.delay_milliseconds {
        mix = mix.delay(Duration::from_millis(ms));
    }
    match shared.controls.set_fault_mix(mix) {
        Ok(()) => done(),
        Err(error) => ApiError::bad_request(error.to_string()).into_response(),
    }
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.controls.reset_faults();
    done()
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let counts = shared.controls.request_counts();
    json(StatusCode::OK, &json!(counts))
}

async fn seed(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = parse::<Value>(&body).and_then(|json| {
        shared
            .api
            .seed(&shared.system, &json)
            .map_err(ApiError::bad_request)
    });
    match result {
        Ok(()) => done(),
        Err(error) => error.into_response(),
    }
}

/// `[{"table": "lead", "columns": ["emailaddress1"]}]`: replaces the duplicate detection rules.
async fn duplicate_rules(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = parse::<Vec<DuplicateRule>>(&body).and_then(|rules| {
        shared
            .api
            .set_duplicate_rules(rules)
            .map_err(ApiError::bad_request)
    });
    match result {
        Ok(()) => done(),
        Err(error) => error.into_response(),
    }
}

async fn records(State(shared): State<Arc<Shared>>, Path(set): Path<String>) -> Response {
    match shared.api.snapshot(&set, None) {
        Some(records) => json(StatusCode::OK, &json!({ "value": records })),
        None => ApiError::no_segment(&set).into_response(),
    }
}

async fn reset_requests(State(shared): State<Arc<Shared>>) -> Response {
    shared.controls.reset_counts();
    done()
}
