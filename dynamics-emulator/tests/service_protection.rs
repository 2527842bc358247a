//! The service protection model over HTTP: each limit's answer (status, Dataverse's code and
//! message, `Retry-After`), the `x-ms-ratelimit-*` headers, the per-identity windows and the
//! server cost model.
//!
//! Source of the limits, codes and messages: Microsoft Learn, "Service protection API limits",
//! <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, start_with};
use dynamics_emulator::{ServerCost, ServiceProtection, SigningAlgorithm, TestCertificate};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn who_am_i(f: &Fixture, token: &str) -> common::Reply {
    f.call(Method::GET, "WhoAmI", token).await
}

#[tokio::test]
async fn the_request_count_limit_answers_429_with_its_code_message_and_retry_after() {
    let f = start_with(|b| {
        b.service_protection(ServiceProtection::new(
            3,
            Duration::from_secs(1200),
            Duration::from_secs(300),
            52,
        ))
    })
    .await;
    let token = f.access_token().await;
    for left in [2, 1, 0] {
        let ok = who_am_i(&f, &token).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(
            ok.header("x-ms-ratelimit-burst-remaining-xrm-requests"),
            Some(left.to_string().as_str())
        );
        assert_eq!(
            ok.header("x-ms-ratelimit-time-remaining-xrm-requests"),
            Some("1,200.00")
        );
    }
    let refused = who_am_i(&f, &token).await;
    let message = refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "0x80072322");
    assert_eq!(
        message,
        "Number of requests exceeded the limit of 3 over time window of 300 seconds."
    );
    let retry: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((299..=300).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        refused.header("x-ms-ratelimit-burst-remaining-xrm-requests"),
        Some("0")
    );
}

#[tokio::test]
async fn the_execution_time_limit_answers_429_once_the_budget_is_spent() {
    // 2 s of execution per 300 s window; each write costs 1.5 s; scaled by 10, 150 ms.
    let f = start_with(|b| {
        b.service_protection(ServiceProtection::new(
            6000,
            Duration::from_secs(2),
            Duration::from_secs(300),
            52,
        ))
        .server_cost(ServerCost::new(
            Duration::from_millis(500),
            Duration::from_millis(1000),
            Duration::from_millis(10),
        ))
        .time_scale(10)
    })
    .await;
    let token = f.access_token().await;
    let started = Instant::now();
    let first = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "a"})),
            &[],
        )
        .await;
    // Held for its simulated (scaled) execution time.
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.body);
    assert_eq!(
        first.header("x-ms-ratelimit-time-remaining-xrm-requests"),
        Some("0.50")
    );
    let second = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "b"})),
            &[],
        )
        .await;
    assert_eq!(second.status, StatusCode::NO_CONTENT, "{}", second.body);
    let refused = who_am_i(&f, &token).await;
    let message = refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "0x80072321");
    assert_eq!(
        message,
        "Combined execution time of incoming requests exceeded limit of 2,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
    );
    // The window is 30 s once scaled; the first write leaves it about 30 s after it ended.
    let retry: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 2);
}

#[tokio::test]
async fn the_concurrency_limit_answers_429_at_once() {
    // Each request is held 400 ms (4 s scaled by 10); two may run at once.
    let f = start_with(|b| {
        b.service_protection(ServiceProtection::new(
            6000,
            Duration::from_secs(1200),
            Duration::from_secs(300),
            2,
        ))
        .server_cost(ServerCost::new(
            Duration::from_secs(4),
            Duration::ZERO,
            Duration::ZERO,
        ))
        .time_scale(10)
    })
    .await;
    let token = f.access_token().await;
    let (a, b) = tokio::join!(who_am_i(&f, &token), who_am_i(&f, &token));
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let (a, b, c) = tokio::join!(who_am_i(&f, &token), who_am_i(&f, &token), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let reply = who_am_i(&f, &token).await;
        (reply, started.elapsed())
    });
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let (refused, took) = c;
    let message = refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "0x80072326");
    assert_eq!(
        message,
        "Number of concurrent requests exceeded the limit of 2."
    );
    assert_eq!(refused.header("Retry-After"), Some("1"));
    assert!(took < Duration::from_millis(300), "answered after {took:?}");
}

#[tokio::test]
async fn each_identity_has_its_own_window_and_the_default_is_off() {
    const OTHER_APP: &str = "0b7e4c1a-95d2-4f63-8a0e-3c2d1b6f9e87";
    let cert = TestCertificate::generate("CN=second-app").unwrap();
    let other_cert = cert.certificate();
    let f = start_with(|b| {
        b.service_protection(ServiceProtection::new(
            1,
            Duration::from_secs(1200),
            Duration::from_secs(300),
            52,
        ))
        .register_app(OTHER_APP, other_cert)
    })
    .await;
    let token = f.access_token().await;
    assert_eq!(who_am_i(&f, &token).await.status, StatusCode::OK);
    assert_eq!(
        who_am_i(&f, &token).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A second token of the same app is the same identity.
    let again = f.access_token().await;
    assert_eq!(
        who_am_i(&f, &again).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another app (another application user) has a window of its own.
    let mut claims = common::claims(&f.emulator);
    claims["iss"] = json!(OTHER_APP);
    claims["sub"] = json!(OTHER_APP);
    let assertion = cert
        .sign_assertion(SigningAlgorithm::Ps256, &claims)
        .unwrap();
    let (status, body) = f
        .request_token_as(OTHER_APP, &f.emulator.scope(), &assertion)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = body["access_token"].as_str().unwrap();
    assert_eq!(who_am_i(&f, other).await.status, StatusCode::OK);

    let off = common::start().await;
    let token = off.access_token().await;
    for _ in 0..5 {
        let reply = who_am_i(&off, &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header("x-ms-ratelimit-burst-remaining-xrm-requests"),
            None
        );
    }
}
