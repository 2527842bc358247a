//! The request pipeline against a scripted local server: headers, CRUD request shapes,
//! retries on virtual time, 401 refresh, error mapping.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dynamics_client::{
    Client, ClientBuilder, ClientSecretCredential, CredentialOptions, Error, Secret,
    clock::ManualClock, entity::UpsertMode, error::ThrottleLimit, retry::RetryPolicy,
};
use support::stub::{Recorded, Reply, Stub, token_json};
use support::{Account, CountingCredential};
use uuid::Uuid;

const ID: &str = "7eb682f1-ca75-e511-80d4-00155d2a68d1";

fn id() -> Uuid {
    Uuid::parse_str(ID).unwrap()
}

struct Setup {
    stub: Stub,
    client: Client,
    clock: Arc<ManualClock>,
    credential: Arc<CountingCredential>,
}

async fn setup(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> Setup {
    let stub = Stub::start(responder).await;
    let clock = Arc::new(ManualClock::default());
    let credential = CountingCredential::new();
    let client = configure(
        Client::builder(&stub.url)
            .credential(credential.clone())
            .clock(clock.clone()),
    )
    .build()
    .unwrap();
    Setup {
        stub,
        client,
        clock,
        credential,
    }
}

/// Answers the first `n` requests with `first`, then with `then`.
fn first_n(
    n: usize,
    first: impl Fn() -> Reply + Send + Sync + 'static,
    then: impl Fn() -> Reply + Send + Sync + 'static,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let count = AtomicUsize::new(0);
    move |_| {
        if count.fetch_add(1, Ordering::SeqCst) < n {
            first()
        } else {
            then()
        }
    }
}

fn record_json() -> String {
    format!(r#"{{"@odata.etag":"W/\"1\"","accountid":"{ID}","name":"Contoso","revenue":10.5}}"#)
}

#[tokio::test]
async fn standard_headers_and_create() {
    let s = setup(
        |b| b,
        |_| {
            Reply::new(204).header(
                "OData-EntityId",
                &format!("http://127.0.0.1/api/data/v9.2/accounts({ID})"),
            )
        },
    )
    .await;
    let created = s
        .client
        .create(&Account {
            name: Some("Contoso".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created, id());
    let requests = s.stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/data/v9.2/accounts");
    assert_eq!(r.body, r#"{"name":"Contoso"}"#);
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("odata-maxversion"), Some("4.0"));
    assert_eq!(r.header("odata-version"), Some("4.0"));
    assert_eq!(r.header("authorization"), Some("Bearer token-1"));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(r.header("user-agent").unwrap().starts_with("dynamics-rs/"));
    assert_eq!(r.header("callerobjectid"), None);
}

#[tokio::test]
async fn impersonation_header() {
    let caller = Uuid::new_v4();
    let s = setup(
        |b| b.impersonate(caller).user_agent("svc/1"),
        |_| Reply::json(200, record_json()),
    )
    .await;
    s.client.retrieve::<Account>(id(), &[]).await.unwrap();
    let r = &s.stub.requests()[0];
    assert_eq!(
        r.header("callerobjectid"),
        Some(caller.to_string().as_str())
    );
    assert_eq!(r.header("user-agent"), Some("svc/1"));
}

#[tokio::test]
async fn create_and_return_and_retrieve() {
    let s = setup(
        |b| b,
        |r| {
            if r.method == "POST" {
                Reply::json(201, record_json())
            } else {
                Reply::json(200, record_json())
            }
        },
    )
    .await;
    let created = s
        .client
        .create_and_return(&Account {
            name: Some("Contoso".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.id, Some(id()));
    assert_eq!(created.etag.as_deref(), Some("W/\"1\""));
    let got: Account = s.client.retrieve(id(), &["name", "revenue"]).await.unwrap();
    assert_eq!(got.revenue, Some(rust_decimal::Decimal::new(105, 1)));
    let requests = s.stub.requests();
    assert_eq!(requests[0].header("prefer"), Some("return=representation"));
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, format!("/api/data/v9.2/accounts({ID})"));
    assert_eq!(
        requests[1].query.as_deref(),
        Some("%24select=name%2Crevenue")
    );
    let err = s
        .client
        .retrieve::<Account>(id(), &["name&$expand=x"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert_eq!(s.stub.requests().len(), 2, "bad input sends nothing");
}

#[tokio::test]
async fn update_upsert_delete_shapes() {
    let s = setup(|b| b, |_| Reply::new(204)).await;
    let changes = Account {
        id: Some(id()),
        name: Some("New".into()),
        etag: Some("W/\"9\"".into()),
        ..Default::default()
    };
    s.client.update(id(), &changes).await.unwrap();
    s.client
        .update_if_match(id(), &changes, "W/\"9\"")
        .await
        .unwrap();
    s.client
        .upsert(id(), &changes, UpsertMode::CreateOrUpdate)
        .await
        .unwrap();
    s.client
        .upsert(id(), &changes, UpsertMode::CreateOnly)
        .await
        .unwrap();
    s.client
        .upsert(id(), &changes, UpsertMode::UpdateOnly)
        .await
        .unwrap();
    s.client.delete::<Account>(id()).await.unwrap();
    let r = s.stub.requests();
    let path = format!("/api/data/v9.2/accounts({ID})");
    for patch in &r[..5] {
        assert_eq!(patch.method, "PATCH");
        assert_eq!(patch.path, path);
        assert_eq!(
            patch.body, r#"{"name":"New"}"#,
            "only the set, writable fields"
        );
    }
    assert_eq!(r[0].header("if-match"), Some("*"));
    assert_eq!(r[1].header("if-match"), Some("W/\"9\""));
    assert_eq!(r[2].header("if-match"), None);
    assert_eq!(r[2].header("if-none-match"), None);
    assert_eq!(r[3].header("if-none-match"), Some("*"));
    assert_eq!(r[4].header("if-match"), Some("*"));
    assert_eq!(r[5].method, "DELETE");
    assert_eq!(r[5].path, path);
}

#[tokio::test]
async fn precondition_failed_is_a_conflict_and_not_retried() {
    let s = setup(
        |b| b,
        |_| {
            Reply::error(
                412,
                "0x80060882",
                "The version of the existing record doesn't match",
            )
        },
    )
    .await;
    let err = s
        .client
        .update_if_match(id(), &Account::default(), "W/\"1\"")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConcurrencyConflict(_)), "{err:?}");
    assert_eq!(err.status(), Some(412));
    assert!(!err.is_retryable());
    assert_eq!(s.stub.requests().len(), 1);
    assert!(s.clock.sleeps().is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried_and_are_typed() {
    for (status, check) in [
        (
            400,
            (|e: &Error| matches!(e, Error::Api(a) if a.code == "0x80040265"))
                as fn(&Error) -> bool,
        ),
        (403, |e| matches!(e, Error::Api(a) if a.status == 403)),
        (404, |e| matches!(e, Error::NotFound(_))),
    ] {
        let s = setup(
            |b| b,
            move |_| Reply::error(status, "0x80040265", "nope").header("REQ_ID", "req-42"),
        )
        .await;
        let err = s.client.delete::<Account>(id()).await.unwrap_err();
        assert!(check(&err), "status {status}: {err:?}");
        assert!(err.to_string().contains("req-42"), "{err}");
        assert_eq!(s.stub.requests().len(), 1, "status {status}");
    }
}

#[tokio::test]
async fn throttled_request_waits_retry_after_seconds() {
    let s = setup(
        |b| b,
        first_n(
            2,
            || {
                Reply::error(429, "0x80072322", "Number of requests exceeded")
                    .header("Retry-After", "7")
            },
            || Reply::json(200, record_json()),
        ),
    )
    .await;
    s.client.retrieve::<Account>(id(), &[]).await.unwrap();
    assert_eq!(
        s.clock.sleeps(),
        vec![Duration::from_secs(7), Duration::from_secs(7)]
    );
    assert_eq!(s.stub.requests().len(), 3);
    assert_eq!(
        s.credential.count(),
        1,
        "the token is reused across retries"
    );
}

#[tokio::test]
async fn throttled_request_waits_until_retry_after_date() {
    let clock_start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let retry_at = time::OffsetDateTime::from(clock_start + Duration::from_secs(42));
    let date = retry_at
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let stub = Stub::start(first_n(
        1,
        move || Reply::error(503, "", "busy").header("Retry-After", &date),
        || Reply::json(200, record_json()),
    ))
    .await;
    let clock = Arc::new(ManualClock::starting_at(clock_start));
    let client = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    client.retrieve::<Account>(id(), &[]).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(42)]);
}

#[tokio::test]
async fn throttling_budget_exhaustion_says_how_long_it_waited() {
    let s = setup(
        |b| {
            b.retry(RetryPolicy {
                max_retries: 10,
                max_elapsed: Duration::from_secs(100),
                ..RetryPolicy::default()
            })
        },
        |_| {
            Reply::error(429, "-2147015898", "Number of concurrent requests exceeded")
                .header("Retry-After", "30")
        },
    )
    .await;
    let err = s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    let Error::Throttled(t) = &err else {
        panic!("expected Throttled, got {err:?}")
    };
    assert_eq!(t.attempts, 4);
    assert_eq!(t.waited, Duration::from_secs(90));
    assert_eq!(t.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(t.limit, Some(ThrottleLimit::ConcurrentRequests));
    assert_eq!(err.status(), Some(429));
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("throttled"), "{text}");
    assert!(text.contains("90.0s of waiting"), "{text}");
    assert_eq!(s.clock.sleeps(), vec![Duration::from_secs(30); 3]);
}

#[tokio::test]
async fn gateway_errors_are_retried_with_backoff() {
    let s = setup(
        |b| b,
        first_n(2, || Reply::new(502), || Reply::json(200, record_json())),
    )
    .await;
    s.client.retrieve::<Account>(id(), &[]).await.unwrap();
    let sleeps = s.clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps[0] >= Duration::from_millis(500) && sleeps[0] <= Duration::from_secs(1));
    assert!(sleeps[1] >= Duration::from_secs(1) && sleeps[1] <= Duration::from_secs(2));
}

#[tokio::test]
async fn gateway_error_on_create_is_not_retried_unless_id_is_chosen() {
    let s = setup(|b| b, first_n(1, || Reply::new(504), || Reply::new(204))).await;
    let err = s.client.create(&Account::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(504));
    assert_eq!(s.stub.requests().len(), 1);

    let s = setup(|b| b, first_n(1, || Reply::new(504), || Reply::new(204))).await;
    let with_id = Account {
        id: Some(id()),
        ..Default::default()
    };
    assert_eq!(s.client.create(&with_id).await.unwrap(), id());
    assert_eq!(s.stub.requests().len(), 2);
    assert_eq!(
        s.stub.requests()[0].path,
        format!("/api/data/v9.2/accounts({ID})"),
        "client-chosen id is sent"
    );
}

/// A create under a chosen id, on its own or in a `$batch`, is the same create-only upsert:
/// the id in the URL, the body without it.
#[tokio::test]
async fn a_create_only_upsert_has_one_body_alone_and_in_a_batch() {
    let s = setup(|b| b, |_| Reply::new(204)).await;
    let record = Account {
        id: Some(id()),
        name: Some("Contoso".into()),
        ..Default::default()
    };
    s.client.create(&record).await.unwrap();
    let mut batch = dynamics_client::batch::Batch::new();
    batch.upsert(id(), &record, UpsertMode::CreateOnly).unwrap();
    // The stub's 204 is no batch reply: only the request matters here.
    let _ = s.client.execute_batch(&batch).await;
    let requests = s.stub.requests();
    let alone = &requests[0];
    assert_eq!(alone.method, "PATCH");
    assert_eq!(alone.path, format!("/api/data/v9.2/accounts({ID})"));
    assert_eq!(alone.header("if-none-match"), Some("*"));
    assert_eq!(alone.body, r#"{"name":"Contoso"}"#);
    let batched = &requests[1].body;
    assert!(
        batched.contains(&format!("PATCH /api/data/v9.2/accounts({ID}) HTTP/1.1")),
        "{batched}"
    );
    assert!(batched.contains("If-None-Match: *"), "{batched}");
    assert!(
        batched.contains(&format!("\r\n\r\n{}\r\n", alone.body)),
        "the batch carries the same body: {batched}"
    );
}

#[tokio::test]
async fn unauthorized_refreshes_the_token_once() {
    let s = setup(
        |b| b,
        first_n(1, || Reply::new(401), || Reply::json(200, record_json())),
    )
    .await;
    s.client.retrieve::<Account>(id(), &[]).await.unwrap();
    let r = s.stub.requests();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("authorization"), Some("Bearer token-1"));
    assert_eq!(r[1].header("authorization"), Some("Bearer token-2"));
    assert_eq!(s.credential.count(), 2);

    let s = setup(|b| b, |_| Reply::new(401)).await;
    let err = s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        s.stub.requests().len(),
        2,
        "one replay, then the 401 surfaces"
    );
    assert_eq!(s.credential.count(), 2);
}

#[tokio::test]
async fn one_token_for_many_requests() {
    let s = setup(|b| b, |_| Reply::json(200, record_json())).await;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let client = s.client.clone();
            tokio::spawn(async move { client.retrieve::<Account>(id(), &[]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.credential.count(), 1);
    assert_eq!(s.stub.requests().len(), 200);
}

#[tokio::test]
async fn query_pages_and_next_link() {
    let stub = Stub::start(|r| {
        if r.query.as_deref().unwrap_or("").contains("skiptoken") {
            Reply::json(200, format!(r#"{{"value":[{}]}}"#, record_json()))
        } else {
            Reply::json(
                200,
                format!(
                    r#"{{"@odata.context":"x","value":[{},{}],"@odata.nextLink":"http://{}/api/data/v9.2/accounts?$select=name&$skiptoken=%3Ccookie%20page=%222%22%3E"}}"#,
                    record_json(),
                    record_json(),
                    r.header("host").unwrap()
                ),
            )
        }
    })
    .await;
    let client = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .build()
        .unwrap();
    let page = client
        .query_raw_with_page_size::<Account>("$select=name&$filter=name eq 'O''Neil'", 2)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let next = client.next_page_raw(&page).await.unwrap().unwrap();
    assert_eq!(next.items.len(), 1);
    assert!(next.next_link.is_none());
    assert!(client.next_page_raw(&next).await.unwrap().is_none());
    let r = stub.requests();
    assert_eq!(r[0].path, "/api/data/v9.2/accounts");
    assert_eq!(
        r[0].query.as_deref(),
        Some("$select=name&$filter=name%20eq%20%27O%27%27Neil%27")
    );
    assert_eq!(
        r[1].query.as_deref(),
        Some("$select=name&$skiptoken=%3Ccookie%20page=%222%22%3E"),
        "next link followed unchanged"
    );
    assert_eq!(r[0].header("prefer"), Some("odata.maxpagesize=2"));
    assert_eq!(
        r[1].header("prefer"),
        Some("odata.maxpagesize=2"),
        "same page size on every page"
    );
    assert_eq!(page.into_iter().count(), 2);
    for bad in [0, 5001] {
        let err = client
            .query_raw_with_page_size::<Account>("", bad)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            r#"{"value":[],"@odata.nextLink":"https://evil.example.com/api/data/v9.2/accounts?x=1"}"#,
        )
    })
    .await;
    let client = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .build()
        .unwrap();
    let page = client.query_raw::<Account>("").await.unwrap();
    let err = client.next_page_raw(&page).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn decode_errors_name_the_field() {
    let s = setup(
        |b| b,
        |_| {
            Reply::json(
                200,
                r#"{"value":[{"name":"a"},{"name":"b","revenue":"lots"}]}"#,
            )
        },
    )
    .await;
    let err = s.client.query_raw::<Account>("").await.unwrap_err();
    let Error::Decode { path, excerpt, .. } = &err else {
        panic!("expected Decode, got {err:?}")
    };
    assert_eq!(path, "value[1].revenue");
    assert!(excerpt.contains("lots"));
}

#[tokio::test]
async fn connection_errors_are_retried_on_virtual_time() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = Arc::new(ManualClock::default());
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .credential(CountingCredential::new())
        .clock(clock.clone())
        .retry(RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let err = client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(clock.sleeps().len(), 2);
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    for url in ["http://contoso.crm.dynamics.com", "http://192.0.2.1:8080"] {
        let err = Client::builder(url)
            .credential(CountingCredential::new())
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("https is required"), "{err}");
    }
    assert!(
        Client::builder("https://contoso.crm.dynamics.com")
            .credential(CountingCredential::new())
            .build()
            .is_ok()
    );
    let err = Client::builder("https://contoso.crm.dynamics.com")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("credential is required"), "{err}");
}

#[tokio::test]
async fn secret_credential_token_request_and_entra_errors() {
    let stub = Stub::start(|r| {
        if r.body.contains("client_secret=good") {
            Reply::json(200, token_json("issued-token"))
        } else {
            Reply::json(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"tr-1","correlation_id":"co-2"}"#,
            )
        }
    })
    .await;
    let options = || CredentialOptions {
        authority_host: stub.url.clone(),
        ..CredentialOptions::default()
    };
    let good = ClientSecretCredential::new("tenant-1", "client-1", Secret::new("good"), options())
        .unwrap();
    let client = Client::builder("https://contoso.crm.dynamics.com")
        .credential(Arc::new(good))
        .build()
        .unwrap();
    use dynamics_client::TokenCredential as _;
    let token = ClientSecretCredential::new("tenant-1", "client-1", Secret::new("good"), options())
        .unwrap()
        .get_token(client.scope())
        .await
        .unwrap();
    assert_eq!(token.token.expose(), "issued-token");
    let r = &stub.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/tenant-1/oauth2/v2.0/token");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.body,
        "grant_type=client_credentials&client_id=client-1&scope=https%3A%2F%2Fcontoso.crm.dynamics.com%2F.default&client_secret=good"
    );

    let bad =
        ClientSecretCredential::new("tenant-1", "client-1", Secret::new("bad"), options()).unwrap();
    let err = bad.get_token("s/.default").await.unwrap_err();
    let Error::Auth(auth) = &err else {
        panic!("expected Auth, got {err:?}")
    };
    assert_eq!(auth.status, Some(401));
    assert_eq!(auth.error, "invalid_client");
    assert_eq!(auth.codes, vec![7000215]);
    assert_eq!(auth.trace_id.as_deref(), Some("tr-1"));
    assert_eq!(auth.correlation_id.as_deref(), Some("co-2"));
    assert!(!err.is_retryable());
    assert_eq!(stub.requests().len(), 2, "4xx token errors are not retried");
}

#[tokio::test]
async fn dropping_the_future_cancels_the_wait() {
    // The real clock: the request must be cut short, not waited out.
    let stub =
        Stub::start(|_| Reply::error(429, "0x80072322", "slow down").header("Retry-After", "60"))
            .await;
    let client = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_millis(300),
        client.retrieve::<Account>(id(), &[]),
    )
    .await;
    assert!(outcome.is_err(), "still waiting when dropped");
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stub.requests().len(), 1, "nothing is sent after the drop");
}

#[tokio::test]
async fn retry_after_beyond_the_budget_fails_at_once() {
    let s = setup(
        |b| b,
        |_| Reply::error(429, "0x80072322", "slow down").header("Retry-After", "3600"),
    )
    .await;
    let err = s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    let Error::Throttled(t) = &err else {
        panic!("expected Throttled, got {err:?}")
    };
    assert_eq!(t.attempts, 1);
    assert_eq!(t.waited, Duration::ZERO);
    assert_eq!(t.retry_after, Some(Duration::from_secs(3600)));
    assert!(s.clock.sleeps().is_empty());
}

#[tokio::test]
async fn other_requests_wait_out_a_retry_after() {
    // No retries: the throttled request fails at once, but the next one still waits.
    let s = setup(
        |b| b.retry(RetryPolicy::none()),
        first_n(
            1,
            || Reply::error(429, "0x80072322", "slow down").header("Retry-After", "10"),
            || Reply::json(200, record_json()),
        ),
    )
    .await;
    let err = s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    assert!(matches!(err, Error::Throttled(_)), "{err:?}");
    assert!(s.clock.sleeps().is_empty());
    s.client
        .clone()
        .retrieve::<Account>(id(), &[])
        .await
        .unwrap();
    assert_eq!(s.clock.sleeps(), vec![Duration::from_secs(10)]);
    // Once the time has passed, nothing more is waited.
    s.client.retrieve::<Account>(id(), &[]).await.unwrap();
    assert_eq!(s.clock.sleeps().len(), 1);
}

#[tokio::test]
async fn a_wait_longer_than_the_budget_fails_without_sending() {
    let s = setup(
        |b| {
            b.retry(RetryPolicy {
                max_retries: 0,
                max_elapsed: Duration::from_secs(30),
                ..RetryPolicy::default()
            })
        },
        |_| Reply::error(429, "0x80072321", "slow down").header("Retry-After", "60"),
    )
    .await;
    s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    let err = s.client.retrieve::<Account>(id(), &[]).await.unwrap_err();
    let Error::Throttled(t) = &err else {
        panic!("expected Throttled, got {err:?}")
    };
    assert_eq!(t.attempts, 0);
    assert_eq!(t.limit, Some(ThrottleLimit::ExecutionTime));
    assert_eq!(
        s.stub.requests().len(),
        1,
        "the second request was never sent"
    );
}

#[tokio::test]
async fn absurd_server_values_do_not_panic() {
    let stub = Stub::start(|r| {
        if r.path.ends_with("/oauth2/v2.0/token") {
            Reply::json(
                200,
                r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"t"}"#,
            )
        } else {
            Reply::error(429, "", "busy").header("Retry-After", "1000000000000000")
        }
    })
    .await;
    let credential = ClientSecretCredential::new(
        "tenant",
        "client",
        Secret::new("s"),
        CredentialOptions {
            authority_host: stub.url.clone(),
            ..CredentialOptions::default()
        },
    )
    .unwrap();
    let client = Client::builder(&stub.url)
        .credential(Arc::new(credential))
        .build()
        .unwrap();
    for _ in 0..2 {
        let err = client.retrieve::<Account>(id(), &[]).await.unwrap_err();
        assert!(matches!(err, Error::Throttled(_)), "{err:?}");
    }
    assert_eq!(
        stub.requests_to(&format!("accounts({ID})")).len(),
        1,
        "the second request waits for nothing it cannot afford"
    );
}

#[tokio::test]
async fn token_endpoint_throttling_is_waited_out_once() {
    let stub = Stub::start(first_n(
        1,
        || {
            Reply::json(
                429,
                r#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: too many requests"}"#,
            )
            .header("Retry-After", "45")
        },
        || Reply::json(200, token_json("after-wait")),
    ))
    .await;
    let clock = Arc::new(ManualClock::default());
    let options = || CredentialOptions {
        authority_host: stub.url.clone(),
        clock: clock.clone(),
        ..CredentialOptions::default()
    };
    use dynamics_client::TokenCredential as _;
    let credential = ClientSecretCredential::new("t", "c", Secret::new("s"), options()).unwrap();
    let token = credential.get_token("x/.default").await.unwrap();
    assert_eq!(token.token.expose(), "after-wait");
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(45)]);

    // A long Retry-After is not waited inside the credential: the caller sees it.
    let stub = Stub::start(|_| {
        Reply::json(429, r#"{"error":"temporarily_unavailable"}"#).header("Retry-After", "600")
    })
    .await;
    let credential = ClientSecretCredential::new(
        "t",
        "c",
        Secret::new("s"),
        CredentialOptions {
            authority_host: stub.url.clone(),
            clock: clock.clone(),
            ..CredentialOptions::default()
        },
    )
    .unwrap();
    let err = credential.get_token("x/.default").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.is_retryable());
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_capped() {
    let stub = Stub::start_slow(Duration::from_millis(20), |_| {
        Reply::json(200, record_json())
    })
    .await;
    let client = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .max_concurrent_requests(4)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.retrieve::<Account>(id(), &[]).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(stub.requests().len(), 40);
    assert_eq!(stub.max_in_flight(), 4);

    let err = Client::builder(&stub.url)
        .credential(CountingCredential::new())
        .max_concurrent_requests(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn create_id_without_the_header() {
    // A body with the key is enough.
    let s = setup(|b| b, |_| Reply::json(201, record_json())).await;
    assert_eq!(s.client.create(&Account::default()).await.unwrap(), id());
    // Nothing to go on: a decode error that says what was missing.
    let s = setup(|b| b, |_| Reply::new(204)).await;
    let err = s.client.create(&Account::default()).await.unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("expected Decode, got {err:?}")
    };
    assert_eq!(path, "OData-EntityId");
    assert!(err.to_string().contains("HTTP 204"), "{err}");
}

#[tokio::test]
async fn the_services_parallelism_hint_is_kept_and_shared_by_handles() {
    let hints = Arc::new(std::sync::Mutex::new(vec!["junk", "8", "", "0"]));
    let stub = Stub::start(move |_| {
        let mut hints = hints.lock().unwrap();
        let reply = Reply::json(200, r#"{"value":[]}"#);
        match hints.is_empty() {
            true => reply,
            false => reply.header("x-ms-dop-hint", hints.remove(0)),
        }
    })
    .await;
    let client = stub.client();
    assert_eq!(client.recommended_parallelism(), None, "no answer yet");
    client.query_raw::<Account>("").await.unwrap();
    assert_eq!(client.recommended_parallelism(), None, "not a number");
    client.query_raw::<Account>("").await.unwrap();
    assert_eq!(client.recommended_parallelism(), Some(8));
    let handle = client.impersonating(Uuid::from_u128(1));
    assert_eq!(
        handle.recommended_parallelism(),
        Some(8),
        "handles share it"
    );
    // Empty and zero hints, and answers without one, keep the last good hint.
    for _ in 0..3 {
        handle.query_raw::<Account>("").await.unwrap();
    }
    assert_eq!(client.recommended_parallelism(), Some(8));
}
