//! Test controls over HTTP: throttling, injected failures, dropped connections, latency,
//! request counts, both from Rust and through the loopback `/_emulator/` endpoint.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, start};
use dynamics_emulator::{ServiceProtectionLimit, SigningAlgorithm};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn admin(f: &Fixture, path: &str) -> String {
    format!("{}/_emulator/{path}", f.emulator.base_url())
}

async fn admin_post(f: &Fixture, path: &str, body: Value) -> reqwest::Response {
    f.http
        .post(admin(f, path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST /_emulator/fault-mix`.
async fn fault_mix(f: &Fixture, body: Value) -> reqwest::Response {
    admin_post(f, "fault-mix", body).await
}

/// The message of a 400 answer.
async fn refused(r: reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// `GET /_emulator/requests`.
async fn admin_counts(f: &Fixture) -> Value {
    let r = f.http.get(admin(f, "requests")).send().await.unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_the_limit_code() {
    let f = start().await;
    let token = f.access_token().await;
    for (limit, code) in [
        (ServiceProtectionLimit::RequestCount, "0x80072322"),
        (ServiceProtectionLimit::ExecutionTime, "0x80072321"),
        (ServiceProtectionLimit::ConcurrentRequests, "0x80072326"),
    ] {
        f.emulator
            .controls()
            .throttle_next_with(2, Duration::from_millis(1500), limit);
        for _ in 0..2 {
            let r = f.get("WhoAmI()", &token).await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                r.headers()["Retry-After"],
                "2",
                "rounded up to whole seconds"
            );
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["message"].as_str().unwrap().contains("limit"));
        }
        let r = f.get("WhoAmI()", &token).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn injected_failures_hit_their_target_only() {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator
        .controls()
        .fail_next(1, StatusCode::SERVICE_UNAVAILABLE);
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["code"].as_str().unwrap().starts_with("0x"));
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::OK);

    f.emulator
        .controls()
        .fail_next_token_requests(1, StatusCode::INTERNAL_SERVER_ERROR);
    // Web API calls are untouched by a token-endpoint fault.
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let assertion = f
        .cert
        .sign_assertion(SigningAlgorithm::Rs256, &common::claims(&f.emulator))
        .unwrap();
    let (status, body) = f.request_token(&assertion).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    // The failed request did not consume the jti, so the next (fresh) assertion works.
    f.access_token().await;
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator.controls().drop_next(1);
    let err = f
        .http
        .get(f.api("WhoAmI()"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_replies() {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator
        .controls()
        .set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    f.emulator.controls().set_latency(Duration::ZERO);
}

#[tokio::test]
async fn requests_are_counted_by_route_with_tokens_apart() {
    let f = start().await;
    let token = f.access_token().await;
    for _ in 0..3 {
        f.get("WhoAmI()", &token).await;
    }
    f.get("accounts(00000000-0000-0000-0000-000000000001)", &token)
        .await;
    let controls = f.emulator.controls();
    assert_eq!(controls.token_request_count(), 1);
    assert_eq!(controls.request_count("GET /api/data/v9.2/WhoAmI()"), 3);
    assert_eq!(controls.request_count("GET /api/data/v9.2/accounts(..)"), 1);
    assert_eq!(
        controls.request_count("POST /{tenant}/oauth2/v2.0/token"),
        1
    );
    let counts = controls.request_counts();
    assert_eq!((counts.token, counts.api), (1, 4));
    controls.reset_counts();
    assert_eq!(controls.request_counts().api, 0);
}

#[tokio::test]
async fn the_admin_endpoint_drives_the_same_controls() {
    let f = start().await;
    let token = f.access_token().await;
    let admin = |path: &str| format!("{}/_emulator/{path}", f.emulator.base_url());
    let post = |path: &str, body: Value| f.http.post(admin(path)).json(&body).send();

    let r = post(
        "throttle",
        json!({"count": 1, "retry_after_seconds": 7, "limit": "concurrent_requests"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["Retry-After"], "7");

    post("fail", json!({"count": 1, "status": 502}))
        .await
        .unwrap();
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);

    post("fail", json!({"count": 5, "status": 503}))
        .await
        .unwrap();
    post("reset", json!({})).await.unwrap();
    let r = f.get("WhoAmI()", &token).await;
    assert_eq!(r.status(), StatusCode::OK);

    post("latency", json!({"milliseconds": 200})).await.unwrap();
    let started = Instant::now();
    assert_eq!(f.get("WhoAmI()", &token).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
    post("latency", json!({"milliseconds": 0})).await.unwrap();
    post("drop", json!({"count": 1})).await.unwrap();
    let dropped = f
        .http
        .get(f.api("WhoAmI()"))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(dropped.is_err(), "the connection was dropped");

    let r = post("throttle", json!({"count": "many"})).await.unwrap();
    assert!(refused(r).await.contains("invalid type"));

    let counts = admin_counts(&f).await;
    assert_eq!(counts["token"], 1);
    assert_eq!(counts["by_route"]["GET /api/data/v9.2/WhoAmI()"], 5);
    // Admin calls are never counted.
    assert_eq!(counts["api"], 5);

    let r = post("seed", json!({"accounts": [{"name": "Admin seeded"}]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let records: Value = f
        .http
        .get(admin("records/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records["value"][0]["name"], "Admin seeded");
    let r = post("seed", json!({"accounts": [{"bogus": 1}]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = f.http.get(admin("records/nosuch")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_fault_mix_can_lose_the_answer_to_a_committed_write() {
    let f = start().await;
    let token = f.access_token().await;
    let create = |name: &'static str| {
        f.http
            .post(f.api("accounts"))
            .bearer_auth(&token)
            .json(&json!({ "name": name }))
            .send()
    };

    // Every Web API request: processed, then the connection is closed without the answer.
    let r = fault_mix(&f, json!({"rate": 1.0, "seed": 1, "kinds": ["drop_after"]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(create("Lost answer").await.is_err(), "no answer");
    let stored = f.emulator.records("accounts").unwrap();
    assert_eq!(stored.len(), 1, "but the record was written");
    assert_eq!(stored[0]["name"], "Lost answer");

    // Processed, then the answer held back past this client's patience.
    fault_mix(
        &f,
        json!({"rate": 1.0, "seed": 1, "kinds": ["delay"], "delay_milliseconds": 2000}),
    )
    .await;
    let started = Instant::now();
    let timed_out = f
        .http
        .post(f.api("accounts"))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .json(&json!({ "name": "Slow answer" }))
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout(), "{timed_out}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 2);

    // Before processing: nothing is written.
    fault_mix(
        &f,
        json!({"rate": 1.0, "seed": 1, "kinds": ["drop_before", "bad_gateway"]}),
    )
    .await;
    for _ in 0..6 {
        if let Ok(r) = create("Never written").await {
            assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        }
    }
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 2);
    // The token endpoint is never hit.
    f.access_token().await;

    let counts = admin_counts(&f).await;
    assert_eq!(counts["faults"]["drop_after"], 1);
    assert_eq!(counts["faults"]["delay"], 1);
    let before = counts["faults"]["drop_before"].as_u64().unwrap();
    let gateway = counts["faults"]["bad_gateway"].as_u64().unwrap();
    assert_eq!(before + gateway, 6);
    assert!(before > 0 && gateway > 0, "{counts}");
    assert_eq!(f.emulator.controls().fault_counts().total(), 8);

    let r = fault_mix(&f, json!({"rate": 2.0, "seed": 1})).await;
    let message = refused(r).await;
    assert!(message.contains("between 0 and 1"), "{message}");
    let r = fault_mix(&f, json!({"rate": 0.5, "seed": 1, "kinds": ["meteor"]})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    admin_post(&f, "reset", json!({})).await;
    assert_eq!(
        create("After reset").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
}
