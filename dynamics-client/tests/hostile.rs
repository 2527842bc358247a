//! Issue 22: what a hostile or broken server on loopback can no longer make the client do.
//! Each test reproduced the weakness before its fix.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dynamics_client::retry::RetryPolicy;
use dynamics_client::{Client, ClientBuilder, Error, clock::ManualClock};
use futures::TryStreamExt as _;
use support::stub::{Reply, Stub};
use support::{Account, WhoAmI};

fn client_with(stub: &Stub, configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    configure(Client::builder(&stub.url).credential(support::CountingCredential::new()))
        .build()
        .unwrap()
}

const WHO: &str = r#"{"UserId":"00000000-0000-0000-0000-000000000001","BusinessUnitId":"00000000-0000-0000-0000-000000000002","OrganizationId":"00000000-0000-0000-0000-000000000003"}"#;

/// Item 4: after one 429 with `Retry-After: 1000000000`, every later call of the client failed
/// at once ("wait 999999999.99 s") until the process restarted. The gate now closes for at
/// most the policy's budget: calls fail fast within it, and go again once it has passed.
#[tokio::test]
async fn a_huge_retry_after_holds_the_client_back_for_the_budget_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let stub = Stub::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::error(429, "0x80072322", "Number of requests exceeded the limit")
                .header("Retry-After", "1000000000")
        } else {
            Reply::json(200, WHO)
        }
    })
    .await;
    let clock = Arc::new(ManualClock::default());
    let client = client_with(&stub, |b| b.clock(clock.clone()));
    let budget = client_options_budget();
    let first = client.get::<WhoAmI>("WhoAmI()").await.unwrap_err();
    assert!(matches!(first, Error::Throttled(_)), "{first}");
    // A clone shares the gate: within the budget it fails without sending...
    let Err(Error::Throttled(held)) = client.clone().get::<WhoAmI>("WhoAmI()").await else {
        panic!("expected a throttling error")
    };
    assert!(held.retry_after.is_some_and(|w| w > budget), "{held:?}");
    assert_eq!(stub.requests().len(), 1);
    // ...and once the budget has passed, it goes.
    clock.advance(budget);
    client.clone().get::<WhoAmI>("WhoAmI()").await.unwrap();
    assert_eq!(stub.requests().len(), 2);
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
}

fn client_options_budget() -> Duration {
    RetryPolicy::default().max_elapsed
}

/// Item 5: a 1 GiB reply was read whole, then copied. Reading now stops at the limit, whether
/// the reply announces its length or streams without one.
#[tokio::test]
async fn an_answer_past_the_size_limit_is_refused() {
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            format!(r#"{{"value":[],"pad":"{}"}}"#, "x".repeat(4096)),
        )
    })
    .await;
    let client = client_with(&stub, |b| b.max_response_bytes(1024));
    let err = client
        .get::<serde_json::Value>("accounts")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 1024, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("GET /api/data/v9.2/accounts"),
        "{err}"
    );
    // Within the limit, the same answer is read.
    let roomy = client_with(&stub, |b| b);
    assert!(roomy.get::<serde_json::Value>("accounts").await.is_ok());
}

/// Item 5: `download_file` trusted `x-ms-file-size`: a server announcing a huge file kept
/// being asked for more. A file larger than the limit is refused at the first part.
#[tokio::test]
async fn a_download_announcing_more_than_the_limit_is_refused() {
    let stub = Stub::start(|_| {
        Reply::new(206)
            .header("x-ms-file-size", "1099511627776")
            .header("x-ms-file-name", "big.bin")
            .body("0123")
    })
    .await;
    let client = client_with(&stub, |b| b.max_response_bytes(1 << 20));
    let err = client
        .download_file::<Account>(uuid::Uuid::nil(), "new_contract")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
    assert_eq!(stub.requests().len(), 1);
}

/// Item 6: an alternating A → B → A next link ran 1,000 pages with no error.
#[tokio::test]
async fn a_next_link_cycle_is_caught_and_pages_can_be_limited() {
    let cycling = Stub::start(|request| {
        let host = request.header("host").unwrap_or_default().to_owned();
        let next = match request.query.as_deref() {
            Some(q) if q.contains("skiptoken=A") => "B",
            _ => "A",
        };
        Reply::json(
            200,
            format!(
                r#"{{"@odata.nextLink":"http://{host}/api/data/v9.2/accounts?$skiptoken={next}","value":[]}}"#
            ),
        )
    })
    .await;
    let err = cycling
        .client()
        .pages_raw::<Account>("", None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Paging { pages: 3, .. }), "{err}");
    assert!(err.to_string().contains("skiptoken=A"), "{err}");
    assert_eq!(cycling.requests().len(), 3);

    // New links forever: stopped by the page limit.
    let counter = AtomicUsize::new(0);
    let endless = Stub::start(move |request| {
        let host = request.header("host").unwrap_or_default().to_owned();
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Reply::json(
            200,
            format!(
                r#"{{"@odata.nextLink":"http://{host}/api/data/v9.2/accounts?$skiptoken={n}x","value":[]}}"#
            ),
        )
    })
    .await;
    let limited = client_with(&endless, |b| b.max_pages(5));
    let err = limited
        .pages_raw::<Account>("", None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Paging { pages: 5, .. }), "{err}");
    assert_eq!(endless.requests().len(), 5);
}

/// Item 7: a `307` re-sent a create's record data to another host, and that host's answer was
/// taken as Dataverse's. A redirect is now an error naming where it pointed; nothing follows.
#[tokio::test]
async fn a_redirect_is_an_error_and_the_body_goes_nowhere_else() {
    let elsewhere = Stub::start(|_| {
        Reply::new(204).header(
            "OData-EntityId",
            "http://127.0.0.1/api/data/v9.2/accounts(00000000-0000-0000-0000-0000000000ee)",
        )
    })
    .await;
    let target = format!("{}/api/data/v9.2/accounts", elsewhere.url);
    let redirecting = Stub::start(move |_| Reply::new(307).header("Location", &target)).await;
    let err = redirecting
        .client()
        .create(&support::named("Secret Corp"))
        .await
        .unwrap_err();
    match &err {
        Error::Redirected { status, location } => {
            assert_eq!(*status, 307);
            assert_eq!(
                location.as_deref(),
                Some(format!("{}/api/data/v9.2/accounts", elsewhere.url).as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(307));
    assert!(elsewhere.requests().is_empty(), "the record went elsewhere");
    assert_eq!(redirecting.requests().len(), 1, "a redirect is not retried");
}

/// Item 11: with `http_proxy` set, a bearer token meant for `http://127.0.0.1` went to the
/// proxy. The child process below runs with the variable set; the proxy must see nothing.
#[tokio::test]
async fn plain_http_never_goes_through_a_proxy() {
    let proxy = Stub::start(|_| Reply::json(200, WHO)).await;
    let service = Stub::start(|_| Reply::json(200, WHO)).await;
    let (proxy_url, target) = (proxy.url.clone(), service.url.clone());
    // Run beside the stubs, which this runtime keeps serving meanwhile.
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "proxy_child", "--ignored", "--nocapture"])
            .env("http_proxy", &proxy_url)
            .env("HTTP_PROXY", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .env("all_proxy", &proxy_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env("HOSTILE_PROXY_TARGET", &target)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success());
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert_eq!(service.requests().len(), 1);
}

/// The half of `plain_http_never_goes_through_a_proxy` that runs with the proxy variables set.
#[tokio::test]
#[ignore = "run by plain_http_never_goes_through_a_proxy in a child process"]
async fn proxy_child() {
    let target = std::env::var("HOSTILE_PROXY_TARGET").unwrap();
    let client = Client::builder(&target)
        .credential(support::CountingCredential::new())
        .build()
        .unwrap();
    client.get::<WhoAmI>("WhoAmI()").await.unwrap();
}
