//! The managed identity endpoints (App Service and IMDS styles) and federated credentials, on
//! the wire.
//!
//! - App Service: <https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference>
//! - IMDS: <https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>
//! - Federation: <https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation>
#![allow(clippy::unwrap_used)]

mod common;

use dynamics_emulator::{
    FederatedCredential, ManagedIdentity, SigningAlgorithm, TOKEN_EXCHANGE_AUDIENCE,
    TestCertificate,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SYSTEM: &str = "11111111-2222-4333-8444-555555555555";
const USER: &str = "99999999-8888-4777-8666-555555555555";
const RESOURCE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u";

async fn host() -> common::Fixture {
    common::start_with(|b| {
        b.managed_identity(ManagedIdentity::system_assigned(SYSTEM))
            .managed_identity(ManagedIdentity::user_assigned(USER, RESOURCE))
            .identity_header("hdr")
    })
    .await
}

async fn get(url: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(url::Url::parse_with_params(url, query).unwrap());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn imds_answers_with_string_numbers_and_requires_its_header() {
    let f = host().await;
    let url = format!(
        "{}/metadata/identity/oauth2/token",
        f.emulator.imds_authority()
    );
    let resource = f.emulator.environment_url().to_owned();
    let query = [
        ("api-version", "2018-02-01"),
        ("resource", resource.as_str()),
    ];
    let (status, body) = get(&url, &query, &[("Metadata", "true")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in ["expires_in", "expires_on", "not_before"] {
        let text = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {body}"));
        text.parse::<u64>().unwrap();
    }
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], resource.as_str());
    // The token works against the Web API, as the identity's application user.
    let token = body["access_token"].as_str().unwrap();
    let who = f.get("WhoAmI()", token).await;
    assert_eq!(who.status(), StatusCode::OK);

    let (status, body) = get(&url, &query, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error_description"],
        "Required metadata header not specified"
    );
    let (status, _) = get(
        &url,
        &query,
        &[("Metadata", "true"), ("X-Forwarded-For", "10.0.0.1")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get(
        &url,
        &[("api-version", "2018-02-01"), ("scope", "x/.default")],
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("'resource'"),
        "{body}"
    );
    let (status, body) = get(
        &url,
        &[
            ("api-version", "2018-02-01"),
            ("resource", &resource),
            ("client_id", USER),
            ("msi_res_id", RESOURCE),
        ],
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = get(
        &url,
        &[("api-version", "2019-08-01"), ("resource", &resource)],
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn app_service_style_checks_the_secret_header() {
    let f = host().await;
    let url = f.emulator.identity_endpoint();
    let resource = f.emulator.environment_url().to_owned();
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", resource.as_str()),
        ("mi_res_id", RESOURCE),
    ];
    let (status, body) = get(&url, &query, &[("X-IDENTITY-HEADER", "hdr")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["client_id"], USER);
    body["expires_on"].as_str().unwrap().parse::<u64>().unwrap();
    let (status, body) = get(&url, &query, &[("X-IDENTITY-HEADER", "wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["message"].as_str().is_some(), "{body}");
    // IMDS's parameter name is not App Service's.
    let (status, _) = get(
        &url,
        &[
            ("api-version", "2019-08-01"),
            ("resource", &resource),
            ("msi_res_id", RESOURCE),
        ],
        &[("X-IDENTITY-HEADER", "hdr")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unknown parameters are ignored: system-assigned"
    );
}

#[tokio::test]
async fn federated_token_is_exchanged_and_not_treated_as_a_certificate_assertion() {
    let issuer = TestCertificate::generate("CN=issuer").unwrap();
    let f = common::start_with(|b| {
        b.federated_credential(
            "fed-app",
            FederatedCredential::new("https://issuer.example", "sub-1", &issuer),
        )
    })
    .await;
    let now = common::now();
    let external = issuer
        .sign_with_header(
            SigningAlgorithm::Rs256,
            &json!({"alg": "RS256", "kid": issuer.x5t_s256()}),
            &json!({"iss": "https://issuer.example", "sub": "sub-1",
                    "aud": TOKEN_EXCHANGE_AUDIENCE, "nbf": now, "exp": now + 600}),
        )
        .unwrap();
    let scope = f.emulator.scope();
    // The same federated token may be exchanged more than once (no jti ledger).
    for _ in 0..2 {
        let (status, reply) = f.request_token_as("fed-app", &scope, &external).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    // An assertion the app issued about itself takes the certificate path, and the app has none.
    let own = f
        .cert
        .sign_assertion(
            SigningAlgorithm::Ps256,
            &json!({"aud": f.emulator.token_endpoint(), "iss": "fed-app", "sub": "fed-app",
                    "jti": "x", "nbf": now, "exp": now + 300}),
        )
        .unwrap();
    let (status, reply) = f.request_token_as("fed-app", &scope, &own).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
    assert_eq!(reply["error_codes"][0], 700027);
    // Certificate apps are untouched.
    let (status, reply) = f
        .request_token(
            &f.cert
                .sign_assertion(SigningAlgorithm::Ps256, &common::claims(&f.emulator))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}
