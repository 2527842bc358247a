//! Test controls over HTTP: throttling, injected failures, dropped connections, latency,
//! request counts, both from Rust and through the loopback `/_emulator/` endpoint.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::start;
use dynamics_emulator::{ServiceProtectionLimit, SigningAlgorithm};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type")
    );

    let counts: Value = f
        .http
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
