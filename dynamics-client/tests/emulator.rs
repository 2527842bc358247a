//! End to end against dynamics-emulator over real HTTP: certificate authentication, token
//! caching, typed auth failures, retries and CRUD.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use dynamics_client::{
    AssertionAlgorithm, Client, ClientCertificateCredential, ClientOptions, CredentialOptions,
    Error, ManualClock, RetryPolicy, Secret, ThrottleLimit,
};
use dynamics_emulator::{Emulator, TestCertificate};
use serde::Deserialize;
use uuid::Uuid;

const CLIENT_ID: &str = "3c5e1a2b-9f4d-4e61-8a7b-0c1d2e3f4a5b";

fn sample_metadata() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.xml"
    ))
}

struct Env {
    emulator: Emulator,
    cert: TestCertificate,
}

async fn start() -> Env {
    let cert = TestCertificate::generate("CN=dynamics-client e2e").unwrap();
    let emulator = Emulator::builder()
        .metadata_file(sample_metadata())
        .register_app(CLIENT_ID, &cert)
        .start()
        .await
        .unwrap();
    Env { emulator, cert }
}

impl Env {
    fn credential_options(&self) -> CredentialOptions {
        CredentialOptions {
            authority_host: self.emulator.authority_host().to_owned(),
            ..CredentialOptions::default()
        }
    }

    fn credential_with(
        &self,
        tenant: &str,
        client_id: &str,
        cert: &TestCertificate,
        options: CredentialOptions,
    ) -> ClientCertificateCredential {
        ClientCertificateCredential::from_pem_parts(
            tenant,
            client_id,
            cert.cert_pem().as_bytes(),
            cert.key_pem().as_bytes(),
            None,
            options,
        )
        .unwrap()
    }

    fn credential(&self) -> ClientCertificateCredential {
        self.credential_with(
            self.emulator.tenant_id(),
            CLIENT_ID,
            &self.cert,
            self.credential_options(),
        )
    }

    fn client_with(
        &self,
        credential: ClientCertificateCredential,
        options: ClientOptions,
    ) -> Client {
        Client::new(
            self.emulator.environment_url(),
            Arc::new(credential),
            options,
        )
        .unwrap()
    }

    fn client(&self) -> (Client, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let client = self.client_with(
            self.credential(),
            ClientOptions {
                clock: clock.clone(),
                ..ClientOptions::default()
            },
        );
        (client, clock)
    }

    fn token_requests(&self) -> u64 {
        self.emulator.controls().token_request_count()
    }
}

#[derive(Debug, Deserialize)]
struct WhoAmI {
    #[serde(rename = "UserId")]
    user_id: Uuid,
}

#[tokio::test]
async fn certificate_authentication_both_algorithms() {
    let env = start().await;
    let (client, _) = env.client();
    assert_eq!(client.scope(), env.emulator.scope());
    let me: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert!(!me.user_id.is_nil());

    let rs256 = env.credential().with_algorithm(AssertionAlgorithm::Rs256);
    let client = env.client_with(rs256, ClientOptions::default());
    let again: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(again.user_id, me.user_id, "same app, same application user");
    assert_eq!(env.token_requests(), 2);
}

#[tokio::test]
async fn one_token_for_many_requests() {
    let env = start().await;
    let (client, _) = env.client();
    for _ in 0..20 {
        let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    }
    assert_eq!(env.token_requests(), 1);
    assert_eq!(env.emulator.controls().request_counts().api, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_for_a_thousand_concurrent_first_calls() {
    let env = start().await;
    let (client, _) = env.client();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get::<WhoAmI>("WhoAmI()").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(env.token_requests(), 1);
    assert_eq!(env.emulator.controls().request_counts().api, 1000);
}

#[tokio::test]
async fn unauthorized_causes_exactly_one_refresh() {
    let env = start().await;
    let (client, _) = env.client();
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    env.emulator
        .controls()
        .fail_next(1, StatusCode::UNAUTHORIZED);
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(env.token_requests(), 2);
    assert_eq!(env.emulator.controls().request_counts().api, 3);

    env.emulator
        .controls()
        .fail_next(2, StatusCode::UNAUTHORIZED);
    let err = client.get::<WhoAmI>("WhoAmI()").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        env.token_requests(),
        3,
        "one refresh, then the second 401 surfaces"
    );
}

fn auth_error(err: Error) -> Box<dynamics_client::AuthError> {
    match err {
        Error::Auth(e) => e,
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[tokio::test]
async fn each_auth_failure_is_typed() {
    let env = start().await;

    // An app the tenant does not know.
    let unknown = env.credential_with(
        env.emulator.tenant_id(),
        "99999999-9999-9999-9999-999999999999",
        &env.cert,
        env.credential_options(),
    );
    let err = env
        .client_with(unknown, ClientOptions::default())
        .get::<WhoAmI>("WhoAmI()")
        .await
        .unwrap_err();
    let e = auth_error(err);
    assert_eq!(e.error, "unauthorized_client");
    assert_eq!(e.status, Some(400));
    assert!(!e.codes.is_empty());
    assert!(e.description.starts_with("AADSTS"), "{}", e.description);
    assert!(e.trace_id.is_some() && e.correlation_id.is_some());

    // A certificate the app was never registered with.
    let stranger = TestCertificate::generate("CN=stranger").unwrap();
    let wrong_cert = env.credential_with(
        env.emulator.tenant_id(),
        CLIENT_ID,
        &stranger,
        env.credential_options(),
    );
    let e = auth_error(
        env.client_with(wrong_cert, ClientOptions::default())
            .get::<WhoAmI>("WhoAmI()")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.error, "invalid_client");
    assert_eq!(e.status, Some(401));

    // Another tenant.
    let other_tenant = env.credential_with(
        "contoso.onmicrosoft.com",
        CLIENT_ID,
        &env.cert,
        env.credential_options(),
    );
    let e = auth_error(
        env.client_with(other_tenant, ClientOptions::default())
            .get::<WhoAmI>("WhoAmI()")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.status, Some(400));

    // An assertion signed with a clock an hour behind: outside its valid time range.
    let late = env.credential_with(
        env.emulator.tenant_id(),
        CLIENT_ID,
        &env.cert,
        CredentialOptions {
            clock: Arc::new(ManualClock::starting_at(
                SystemTime::now() - Duration::from_secs(3600),
            )),
            ..env.credential_options()
        },
    );
    let e = auth_error(
        env.client_with(late, ClientOptions::default())
            .get::<WhoAmI>("WhoAmI()")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.error, "invalid_client");
    assert!(e.codes.contains(&700024), "{:?}", e.codes);

    // A token for another environment: the scope does not match this one.
    let credential = env.credential();
    use dynamics_client::TokenCredential as _;
    let e = auth_error(
        credential
            .get_token("https://other.crm.dynamics.com/.default")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.error, "invalid_scope");

    assert_eq!(
        env.emulator.controls().request_counts().api,
        0,
        "no Web API request without a token"
    );
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried_once() {
    let env = start().await;
    let clock = Arc::new(ManualClock::default());
    let credential = env.credential_with(
        env.emulator.tenant_id(),
        CLIENT_ID,
        &env.cert,
        CredentialOptions {
            clock: clock.clone(),
            ..env.credential_options()
        },
    );
    env.emulator
        .controls()
        .fail_next_token_requests(1, StatusCode::SERVICE_UNAVAILABLE);
    let client = env.client_with(credential, ClientOptions::default());
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(env.token_requests(), 2);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
}

#[tokio::test]
async fn throttling_waits_retry_after_on_virtual_time() {
    let env = start().await;
    let (client, clock) = env.client();
    env.emulator
        .controls()
        .throttle_next(2, Duration::from_secs(12));
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(12); 2]);
    assert_eq!(env.emulator.controls().request_counts().api, 3);

    // Out of budget: the error says it was throttled, which limit, and how long it waited.
    let clock = Arc::new(ManualClock::default());
    let client = env.client_with(
        env.credential(),
        ClientOptions {
            clock: clock.clone(),
            retry: RetryPolicy {
                max_retries: 2,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        },
    );
    env.emulator.controls().throttle_next_with(
        10,
        Duration::from_secs(5),
        dynamics_emulator::ServiceProtectionLimit::ExecutionTime,
    );
    let err = client.get::<WhoAmI>("WhoAmI()").await.unwrap_err();
    let Error::Throttled(t) = &err else {
        panic!("expected Throttled, got {err:?}")
    };
    assert_eq!(t.attempts, 3);
    assert_eq!(t.waited, Duration::from_secs(10));
    assert_eq!(t.limit, Some(ThrottleLimit::ExecutionTime));
    assert!(err.to_string().contains("10.0s of waiting"), "{err}");
}

#[tokio::test]
async fn server_errors_retried_precondition_failures_not() {
    let env = start().await;
    let (client, clock) = env.client();
    env.emulator
        .controls()
        .fail_next(2, StatusCode::BAD_GATEWAY);
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(clock.sleeps().len(), 2);

    env.emulator
        .controls()
        .fail_next(1, StatusCode::GATEWAY_TIMEOUT);
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(clock.sleeps().len(), 3);

    env.emulator.controls().reset_counts();
    env.emulator
        .controls()
        .fail_next(1, StatusCode::PRECONDITION_FAILED);
    let err = client.get::<WhoAmI>("WhoAmI()").await.unwrap_err();
    assert!(matches!(err, Error::ConcurrencyConflict(_)), "{err:?}");
    assert_eq!(env.emulator.controls().request_counts().api, 1);
    assert_eq!(clock.sleeps().len(), 3);
}

#[tokio::test]
async fn pkcs12_with_password_authenticates() {
    let env = start().await;
    let key = openssl::pkey::PKey::private_key_from_pem(env.cert.key_pem().as_bytes()).unwrap();
    let cert = openssl::x509::X509::from_pem(env.cert.cert_pem().as_bytes()).unwrap();
    let der = openssl::pkcs12::Pkcs12::builder()
        .pkey(&key)
        .cert(&cert)
        .build2("pfx-password")
        .unwrap()
        .to_der()
        .unwrap();
    let credential = ClientCertificateCredential::from_pkcs12(
        env.emulator.tenant_id(),
        CLIENT_ID,
        &der,
        &Secret::new("pfx-password"),
        env.credential_options(),
    )
    .unwrap();
    let client = env.client_with(credential, ClientOptions::default());
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
}
