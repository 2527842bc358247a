//! The Entra ID token endpoint over HTTP: both accepted assertion forms, every rejection with
//! its AADSTS code, and the access token check on the Web API.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{CLIENT_ID, Fixture, claims, form, post_form, start, start_with};
use dynamics_emulator::{SigningAlgorithm, TestCertificate};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_entra_error(
    (status, body): &(StatusCode, Value),
    want_status: StatusCode,
    error: &str,
    code: u64,
) {
    assert_eq!(*status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert_eq!(body["error_codes"], json!([code]));
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
}

async fn with_claims(
    f: &Fixture,
    alg: SigningAlgorithm,
    edit: impl FnOnce(&mut Value),
) -> (StatusCode, Value) {
    let mut claims = claims(&f.emulator);
    edit(&mut claims);
    let assertion = f.cert.sign_assertion(alg, &claims).unwrap();
    f.request_token(&assertion).await
}

#[tokio::test]
async fn rs256_with_x5t_and_ps256_with_x5t_s256_get_tokens() {
    let f = start().await;
    for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
        let (status, body) = with_claims(&f, alg, |_| {}).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3599);
        assert_eq!(body["ext_expires_in"], 3599);
        let token = body["access_token"].as_str().unwrap();
        let who = f
            .http
            .get(f.api("WhoAmI()"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status(), StatusCode::OK);
        let who: Value = who.json().await.unwrap();
        assert!(who["UserId"].as_str().is_some());
        assert!(who["OrganizationId"].as_str().is_some());
    }
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let f = start_with(|b| b.token_lifetime(Duration::from_secs(120))).await;
    let (status, body) = with_claims(&f, SigningAlgorithm::Rs256, |_| {}).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 120);
}

#[tokio::test]
async fn unknown_client_is_700016() {
    let f = start().await;
    let assertion = f
        .cert
        .sign_assertion(SigningAlgorithm::Rs256, &claims(&f.emulator))
        .unwrap();
    let reply = f
        .request_token_as(
            "00000000-1111-2222-3333-444444444444",
            &f.emulator.scope(),
            &assertion,
        )
        .await;
    assert_entra_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
}

#[tokio::test]
async fn unregistered_certificate_is_700027() {
    let f = start().await;
    let stranger = TestCertificate::generate("stranger").unwrap();
    for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
        let assertion = stranger.sign_assertion(alg, &claims(&f.emulator)).unwrap();
        let reply = f.request_token(&assertion).await;
        assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
        assert!(
            reply.1["error_description"]
                .as_str()
                .unwrap()
                .contains(&match alg {
                    SigningAlgorithm::Rs256 => stranger.x5t(),
                    _ => stranger.x5t_s256(),
                })
        );
    }
}

#[tokio::test]
async fn bad_signature_is_700027() {
    let f = start().await;
    // The registered thumbprint, but signed by another key.
    let stranger = TestCertificate::generate("stranger").unwrap();
    let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": f.cert.x5t_s256()});
    let forged = stranger
        .sign_with_header(SigningAlgorithm::Ps256, &header, &claims(&f.emulator))
        .unwrap();
    let reply = f.request_token(&forged).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);

    // A genuine assertion whose payload was edited after signing.
    let genuine = f
        .cert
        .sign_assertion(SigningAlgorithm::Rs256, &claims(&f.emulator))
        .unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut edited = claims(&f.emulator);
    edited["exp"] = json!(common::now() + 500);
    let payload = base64_url(&edited.to_string());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    let reply = f.request_token(&tampered).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn thumbprint_must_match_the_algorithm_and_be_unpadded_base64url() {
    let f = start().await;
    let claims = claims(&f.emulator);
    let cases = [
        // RS256 names its key by SHA-1 `x5t`; a SHA-256 header alone does not do.
        json!({"alg": "RS256", "typ": "JWT", "x5t#S256": f.cert.x5t_s256()}),
        // PS256 needs `x5t#S256`.
        json!({"alg": "PS256", "typ": "JWT", "x5t": f.cert.x5t()}),
        // Padded base64 is not base64url as JOSE defines it.
        json!({"alg": "RS256", "typ": "JWT", "x5t": format!("{}=", f.cert.x5t())}),
        // A SHA-256 digest in `x5t` is a known client mistake.
        json!({"alg": "RS256", "typ": "JWT", "x5t": f.cert.x5t_s256()}),
        // HS256 and friends are not certificate algorithms.
        json!({"alg": "HS256", "typ": "JWT", "x5t": f.cert.x5t()}),
    ];
    for header in cases {
        let alg = if header["alg"] == "PS256" {
            SigningAlgorithm::Ps256
        } else {
            SigningAlgorithm::Rs256
        };
        let assertion = f.cert.sign_with_header(alg, &header, &claims).unwrap();
        let reply = f.request_token(&assertion).await;
        assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    }
}

#[tokio::test]
async fn time_range_violations_are_700024() {
    let f = start().await;
    let now = common::now();
    let edits: [fn(&mut Value, i64); 3] = [
        |c, now| {
            c["nbf"] = json!(now - 900);
            c["exp"] = json!(now - 600);
        },
        |c, now| {
            c["nbf"] = json!(now + 600);
            c["exp"] = json!(now + 900);
        },
        // Eleven minutes between nbf and exp: over the 10-minute policy.
        |c, now| c["exp"] = json!(now + 660),
    ];
    for edit in edits {
        let reply = with_claims(&f, SigningAlgorithm::Ps256, |c| edit(c, now)).await;
        assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700024);
    }
}

#[tokio::test]
async fn long_assertions_pass_when_the_limit_is_relaxed() {
    let f = start_with(|b| b.max_assertion_lifetime(None)).await;
    let reply = with_claims(&f, SigningAlgorithm::Ps256, |c| {
        c["exp"] = json!(common::now() + 3600)
    })
    .await;
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
}

#[tokio::test]
async fn bad_audience_is_rejected() {
    let f = start().await;
    for aud in [
        json!("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
        json!(format!(
            "{}/other-tenant/oauth2/v2.0/token",
            f.emulator.base_url()
        )),
    ] {
        let reply = with_claims(&f, SigningAlgorithm::Rs256, |c| c["aud"] = aud).await;
        assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 50013);
    }
}

#[tokio::test]
async fn replayed_jti_is_rejected() {
    let f = start().await;
    let assertion = f
        .cert
        .sign_assertion(SigningAlgorithm::Ps256, &claims(&f.emulator))
        .unwrap();
    assert_eq!(f.request_token(&assertion).await.0, StatusCode::OK);
    let reply = f.request_token(&assertion).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 50013);
    assert!(
        reply.1["error_description"]
            .as_str()
            .unwrap()
            .contains("jti")
    );
}

#[tokio::test]
async fn issuer_and_subject_must_be_the_client() {
    let f = start().await;
    for claim in ["iss", "sub"] {
        let reply = with_claims(&f, SigningAlgorithm::Rs256, |c| {
            c[claim] = json!("someone-else")
        })
        .await;
        assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700021);
    }
}

#[tokio::test]
async fn missing_claims_and_garbage_are_malformed() {
    let f = start().await;
    for claim in ["jti", "exp", "nbf", "aud"] {
        let reply = with_claims(&f, SigningAlgorithm::Rs256, |c| {
            c.as_object_mut().unwrap().remove(claim);
        })
        .await;
        assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 50027);
    }
    let reply = f.request_token("not-a-jwt").await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 50027);
}

#[tokio::test]
async fn bad_scope_is_70011() {
    let f = start().await;
    let assertion = f
        .cert
        .sign_assertion(SigningAlgorithm::Rs256, &claims(&f.emulator))
        .unwrap();
    for scope in [
        "https://contoso.crm.dynamics.com/.default".to_owned(),
        format!("{}/user_impersonation", f.emulator.base_url()),
    ] {
        let reply = f.request_token_as(CLIENT_ID, &scope, &assertion).await;
        assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope", 70011);
    }
}

#[tokio::test]
async fn unsupported_grant_missing_parameters_and_unknown_tenant() {
    let f = start().await;
    let endpoint = f.emulator.token_endpoint();
    let body = form(&[("grant_type", "password"), ("client_id", CLIENT_ID)]);
    let reply = post_form(&f.http, &endpoint, body).await;
    assert_entra_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    );

    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
    ]);
    let reply = post_form(&f.http, &endpoint, body).await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 900144);

    let other = format!("{}/another-tenant/oauth2/v2.0/token", f.emulator.base_url());
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
    ]);
    let reply = post_form(&f.http, &other, body).await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 90002);
}

#[tokio::test]
async fn the_web_api_demands_a_valid_access_token() {
    let f = start().await;
    let url = f.api("WhoAmI()");
    let challenge = |r: &reqwest::Response| {
        r.headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let missing = f.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let header = challenge(&missing);
    assert!(header.starts_with("Bearer authorization_uri="), "{header}");
    assert!(header.contains(&format!("resource_id={}", f.emulator.base_url())));

    for bad in ["garbage", "a.b.c", "Basic dXNlcjpwYXNz"] {
        let r = f.http.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(challenge(&r).starts_with("Bearer"));
    }

    // A token another environment issued is refused here.
    let elsewhere = start().await;
    let foreign = elsewhere.access_token().await;
    let r = f.http.get(&url).bearer_auth(foreign).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // So is an expired one.
    let short = start_with(|b| b.token_lifetime(Duration::ZERO)).await;
    let expired = short.access_token().await;
    let r = short
        .http
        .get(short.api("WhoAmI()"))
        .bearer_auth(expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("expired"));

    let good = f.access_token().await;
    let r = f.http.get(&url).bearer_auth(good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn test_certificate_debug_hides_the_key() {
    let cert = TestCertificate::generate("CN=debug").unwrap();
    let shown = format!("{cert:?}");
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains("PRIVATE"));
    assert!(!shown.contains(&cert.key_pem()[40..80]));
}

/// The client-credentials grant with a client secret: the right secret gets a token the Web API
/// takes, a wrong one is AADSTS7000215 (`invalid_client`, 401), and a request with neither a
/// secret nor an assertion is AADSTS900144.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow#first-case-access-token-request-with-a-shared-secret>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>.
#[tokio::test]
async fn client_secrets_authenticate_apps_as_certificates_do() {
    const SECRET_APP: &str = "0b7c1a5e-8d2f-4e61-9a3c-5f4e2d1c0b9a";
    let f = start_with(|b| b.register_app_secret(SECRET_APP, "s3cr3t~value")).await;
    let endpoint = f.emulator.token_endpoint();
    let scope = f.emulator.scope();
    let with_secret = |secret: &str| {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SECRET_APP),
            ("scope", &scope),
            ("client_secret", secret),
        ])
    };
    let (status, body) = post_form(&f.http, &endpoint, with_secret("s3cr3t~value")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let who = f.get("WhoAmI()", token).await;
    assert_eq!(who.status(), StatusCode::OK);

    let reply = post_form(&f.http, &endpoint, with_secret("s3cr3t~valuE")).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
    assert!(
        !reply.1.to_string().contains("s3cr3t"),
        "the reply names no secret: {}",
        reply.1
    );
    // The certificate app has no secret, so no secret is right for it.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("scope", &scope),
        ("client_secret", "s3cr3t~value"),
    ]);
    let reply = post_form(&f.http, &endpoint, body).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);

    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", SECRET_APP),
        ("scope", &scope),
    ]);
    let reply = post_form(&f.http, &endpoint, body).await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 900144);
}

/// The builder's apps live in the directory's one registry, so Graph shows them beside the apps
/// registered through it.
#[tokio::test]
async fn the_builders_apps_are_in_the_directory() {
    let f = start().await;
    let apps = f.emulator.identity().applications();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].app_id, CLIENT_ID);
    assert_eq!(
        apps[0].certificate_thumbprints,
        [f.cert.sha1_thumbprint_hex()]
    );
}
