//! What the benches share: the sample metadata, client-credential tokens and a checked `GET`.

use std::time::{SystemTime, UNIX_EPOCH};

use dynamics_emulator::{Emulator, SigningAlgorithm, TestCertificate};
use serde_json::{Value, json};

/// The sample metadata of the codegen tests.
pub const SAMPLE_METADATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.xml"
);

/// Posts a form and reads the JSON reply.
pub async fn post_form(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Value {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http.post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("form post")
        .json()
        .await
        .expect("form reply")
}

/// A client-credential token for `client_id`, whose assertion `cert` signs.
pub async fn client_token(
    http: &reqwest::Client,
    emulator: &Emulator,
    cert: &TestCertificate,
    client_id: &str,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let assertion = cert
        .sign_assertion(
            SigningAlgorithm::Ps256,
            &json!({"aud": emulator.token_endpoint(), "iss": client_id, "sub": client_id,
                    "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 300}),
        )
        .expect("assertion");
    let reply = post_form(
        http,
        &emulator.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", &emulator.scope()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    reply["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// A `GET` that must succeed, its body read.
pub async fn get(http: &reqwest::Client, url: &str, token: &str) {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status();
    assert!(status.is_success(), "{url}: {status}");
    response.bytes().await.expect("body");
}
