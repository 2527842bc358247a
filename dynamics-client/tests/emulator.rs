//! End to end against dynamics-emulator over real HTTP: certificate authentication, token
//! caching, typed auth failures, retries and CRUD.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use dynamics_client::{
    AssertionAlgorithm, Client, ClientCertificateCredential, CredentialOptions, Entity, Error,
    Secret, clock::ManualClock, entity::UpsertMode, error::ThrottleLimit, retry::RetryPolicy,
};
use dynamics_emulator::TestCertificate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use support::{Account, Contact, named};
use uuid::Uuid;

use support::WhoAmI;
use support::emulated::{CLIENT_ID, start};

#[tokio::test]
async fn certificate_authentication_both_algorithms() {
    let env = start().await;
    let (client, _) = env.client();
    assert_eq!(client.scope(), env.emulator.scope());
    let me: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert!(!me.user_id.is_nil());

    let rs256 = env.credential().with_algorithm(AssertionAlgorithm::Rs256);
    let client = env.client_with(rs256, |b| b);
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

fn auth_error(err: Error) -> Box<dynamics_client::error::AuthError> {
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
        .client_with(unknown, |b| b)
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
        env.client_with(wrong_cert, |b| b)
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
        env.client_with(other_tenant, |b| b)
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
        env.client_with(late, |b| b)
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
    let client = env.client_with(credential, |b| b);
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
    let client = env.client_with(env.credential(), |b| {
        b.clock(clock.clone()).retry(RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        })
    });
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

/// The raw 429: `Retry-After` in whole seconds, which the client reads (the test above waits
/// 12 s, which exponential backoff from 1 s could not produce on the first two retries).
#[tokio::test]
async fn the_emulators_429_carries_retry_after() {
    let env = start().await;
    env.emulator
        .controls()
        .throttle_next(1, Duration::from_millis(2500));
    let response = reqwest::get(format!("{}WhoAmI()", env.emulator.web_api_url()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let header = response.headers().get("retry-after").unwrap();
    assert_eq!(header.to_str().unwrap(), "3");
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
    let client = env.client_with(credential, |b| b);
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
}

// ---- CRUD with hand-written entity types ----

#[tokio::test]
async fn full_crud() {
    let env = start().await;
    let (client, _) = env.client();

    // Create: the id comes from OData-EntityId.
    let id = client
        .create(&Account {
            name: Some("Contoso".into()),
            accountnumber: Some("C-1".into()),
            revenue: Some(Decimal::new(1_234_567, 2)),
            numberofemployees: Some(40),
            ..Account::default()
        })
        .await
        .unwrap();

    // Retrieve with a column selection.
    let got: Account = client.retrieve(id, &["name", "revenue"]).await.unwrap();
    assert_eq!(got.id, Some(id), "the key always comes back");
    assert_eq!(got.name.as_deref(), Some("Contoso"));
    assert_eq!(got.revenue, Some(Decimal::new(1_234_567, 2)));
    assert_eq!(got.numberofemployees, None, "not selected");
    let first_etag = got.etag.clone().unwrap();

    // Update sends only the fields that are set; the rest stays.
    client.update(id, &named("Contoso Ltd")).await.unwrap();
    let all: Account = client.retrieve(id, &[]).await.unwrap();
    assert_eq!(all.name.as_deref(), Some("Contoso Ltd"));
    assert_eq!(all.numberofemployees, Some(40));
    assert_eq!(all.accountnumber.as_deref(), Some("C-1"));
    let etag = all.etag.clone().unwrap();
    assert_ne!(etag, first_etag);

    // Optimistic concurrency.
    let err = client
        .update_if_match(id, &named("stale"), &first_etag)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConcurrencyConflict(_)), "{err:?}");
    client
        .update_if_match(id, &named("fresh"), &etag)
        .await
        .unwrap();

    // Reading back a whole record and sending it as an update is accepted: read-only
    // properties and annotations are left out.
    let mut round_trip: Account = client.retrieve(id, &[]).await.unwrap();
    round_trip.numberofemployees = Some(41);
    client.update(id, &round_trip).await.unwrap();

    // Delete, then it is gone.
    client.delete::<Account>(id).await.unwrap();
    let err = client.retrieve::<Account>(id, &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.status(), Some(404));
    let err = client.delete::<Account>(id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    // Update never creates.
    let err = client.update(id, &named("ghost")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn create_returning_the_record_and_with_a_chosen_id() {
    let env = start().await;
    let (client, _) = env.client();
    let created = client.create_and_return(&named("Fabrikam")).await.unwrap();
    assert!(created.id.is_some());
    assert!(created.etag.is_some());
    assert_eq!(created.name.as_deref(), Some("Fabrikam"));

    let chosen = Uuid::new_v4();
    let id = client
        .create(&Account {
            id: Some(chosen),
            ..named("Chosen")
        })
        .await
        .unwrap();
    assert_eq!(id, chosen);
}

#[tokio::test]
async fn upsert_variants() {
    let env = start().await;
    let (client, _) = env.client();
    let id = Uuid::new_v4();

    let err = client
        .upsert(id, &named("nobody"), UpsertMode::UpdateOnly)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(_)),
        "If-Match: * never creates: {err:?}"
    );

    client
        .upsert(id, &named("Upserted"), UpsertMode::CreateOrUpdate)
        .await
        .unwrap();
    let got: Account = client.retrieve(id, &["name"]).await.unwrap();
    assert_eq!(got.name.as_deref(), Some("Upserted"));

    let err = client
        .upsert(id, &named("again"), UpsertMode::CreateOnly)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ConcurrencyConflict(_)),
        "If-None-Match: * never updates: {err:?}"
    );

    client
        .upsert(id, &named("Updated"), UpsertMode::UpdateOnly)
        .await
        .unwrap();
    client
        .upsert(id, &named("Updated twice"), UpsertMode::CreateOrUpdate)
        .await
        .unwrap();
    let got: Account = client.retrieve(id, &["name"]).await.unwrap();
    assert_eq!(got.name.as_deref(), Some("Updated twice"));

    let fresh = Uuid::new_v4();
    client
        .upsert(fresh, &named("Brand new"), UpsertMode::CreateOnly)
        .await
        .unwrap();
    assert!(client.retrieve::<Account>(fresh, &[]).await.is_ok());
}

#[tokio::test]
async fn lookups_are_set_with_odata_bind() {
    let env = start().await;
    let (client, _) = env.client();
    let contact = client
        .create(&Contact {
            firstname: Some("Ada".into()),
            lastname: Some("Lovelace".into()),
            ..Contact::default()
        })
        .await
        .unwrap();
    let account = client
        .create(&Account {
            set_primary_contact: Some(format!("/contacts({contact})")),
            ..named("With contact")
        })
        .await
        .unwrap();
    let got: Account = client
        .retrieve(account, &["name", "_primarycontactid_value"])
        .await
        .unwrap();
    assert_eq!(got.primary_contact, Some(contact));
}

#[tokio::test]
async fn query_first_page_and_next_pages() {
    let env = start().await;
    let (client, _) = env.client();
    for i in 0..5 {
        client.create(&named(&format!("Paged {i}"))).await.unwrap();
    }
    client.create(&named("O'Neil")).await.unwrap();

    let page = client
        .query_raw::<Account>("$select=name&$filter=startswith(name,'Paged')&$orderby=name")
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().filter_map(|a| a.name.clone()).collect();
    assert_eq!(
        names,
        ["Paged 0", "Paged 1", "Paged 2", "Paged 3", "Paged 4"]
    );
    assert!(page.next_link.is_none());

    let quoted = client
        .query_raw::<Account>("$select=name&$filter=name eq 'O''Neil'")
        .await
        .unwrap();
    assert_eq!(quoted.items.len(), 1);

    let mut page = client
        .query_raw_with_page_size::<Account>("$select=name&$filter=startswith(name,'Paged')", 2)
        .await
        .unwrap();
    let mut seen = page.items.len();
    let mut pages = 1;
    while let Some(next) = client.next_page_raw(&page).await.unwrap() {
        assert!(next.items.len() <= 2);
        seen += next.items.len();
        pages += 1;
        page = next;
    }
    assert_eq!((seen, pages), (5, 3));
}

#[tokio::test]
async fn bad_data_is_a_decode_error_with_the_path() {
    #[derive(Debug, Serialize, Deserialize)]
    struct WrongAccount {
        #[serde(rename = "accountid")]
        id: Option<Uuid>,
        numberofemployees: Option<String>,
    }
    impl Entity for WrongAccount {
        const LOGICAL_NAME: &'static str = "account";
        const ENTITY_SET_NAME: &'static str = "accounts";
        const PRIMARY_KEY: &'static str = "accountid";
        fn id(&self) -> Option<Uuid> {
            self.id
        }
    }
    let env = start().await;
    let (client, _) = env.client();
    let id = client
        .create(&Account {
            numberofemployees: Some(7),
            ..named("Typed")
        })
        .await
        .unwrap();
    let err = client
        .retrieve::<WrongAccount>(id, &["numberofemployees"])
        .await
        .unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("expected Decode, got {err:?}")
    };
    assert_eq!(path, "numberofemployees");
    let err = client
        .query_raw::<WrongAccount>("$select=numberofemployees")
        .await
        .unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("expected Decode, got {err:?}")
    };
    assert_eq!(path, "value[0].numberofemployees");
}

#[tokio::test]
async fn dataverse_errors_are_typed() {
    let env = start().await;
    let (client, _) = env.client();
    let err = client
        .query_raw::<Account>("$filter=nosuchcolumn eq 1")
        .await
        .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("expected Api, got {err:?}")
    };
    assert_eq!(api.status, 400);
    assert!(!api.message.is_empty());
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn environment_credential_with_a_certificate_file() {
    let env = start().await;
    let dir = std::env::temp_dir().join(format!("dynamics-client-e2e-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.pem");
    std::fs::write(
        &path,
        format!("{}{}", env.cert.cert_pem(), env.cert.key_pem()),
    )
    .unwrap();
    let vars = [
        ("AZURE_TENANT_ID", env.emulator.tenant_id().to_owned()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            "AZURE_CLIENT_CERTIFICATE_PATH",
            path.to_string_lossy().into_owned(),
        ),
        (
            "AZURE_AUTHORITY_HOST",
            env.emulator.authority_host().to_owned(),
        ),
    ];
    let credential = dynamics_client::EnvironmentCredential::from_lookup(
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        },
        CredentialOptions::default(),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let client = Client::builder(env.emulator.environment_url())
        .credential(Arc::new(credential))
        .build()
        .unwrap();
    let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert_eq!(env.token_requests(), 1);
}

#[tokio::test]
async fn the_emulator_advises_a_parallelism_like_dataverse() {
    let env = start().await;
    let (client, _) = env.client();
    assert_eq!(client.recommended_parallelism(), None);
    client.query_raw::<Account>("$top=1").await.unwrap();
    assert_eq!(client.recommended_parallelism(), Some(4));
}
