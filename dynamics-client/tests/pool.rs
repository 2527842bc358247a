//! The identity pool against a scripted server: a throttled identity drains while the others
//! carry on, every create lands exactly once, and the affinity cookie is kept only when asked.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dynamics_client::{
    AccessToken, BoxFuture, Client, ClientOptions, Clock as _, ManualClock, Result, Secret,
    TokenCredential, UpsertMode,
};
use futures::future::join_all;
use support::Account;
use support::stub::{Recorded, Reply, Stub};
use uuid::Uuid;

/// A credential whose token is its name, so the server can tell the identities apart.
#[derive(Debug)]
struct Named(&'static str);

impl TokenCredential for Named {
    fn get_token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            Ok(AccessToken::new(
                Secret::new(self.0),
                SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

fn identity(request: &Recorded) -> String {
    request
        .header("authorization")
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_owned()
}

fn pool(stub: &Stub, clock: Arc<ManualClock>, affinity: bool) -> Client {
    let credentials: Vec<Arc<dyn TokenCredential>> = vec![
        Arc::new(Named("a")),
        Arc::new(Named("b")),
        Arc::new(Named("c")),
    ];
    Client::with_identities(
        &stub.url,
        credentials,
        ClientOptions {
            clock,
            server_affinity: affinity,
            max_concurrent_requests: 4,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_throttled_identity_drains_while_the_others_carry_on() {
    // Identity `b` is over its service protection limit for a minute; `a` and `c` are not.
    let stub = Stub::start(|request| {
        if identity(request) == "b" {
            Reply::error(
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            )
            .header("Retry-After", "60")
        } else {
            Reply::new(204)
        }
    })
    .await;
    // Virtual time: every wait is recorded, none is spent.
    let clock = Arc::new(ManualClock::default());
    let client = pool(&stub, clock.clone(), false);
    assert_eq!(client.identity_count(), 3);

    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let creates = ids.iter().map(|id| {
        let account = Account {
            name: Some("Contoso".into()),
            ..Account::default()
        };
        let client = client.clone();
        async move { client.upsert(*id, &account, UpsertMode::CreateOnly).await }
    });
    for result in join_all(creates).await {
        result.unwrap();
    }
    let throttled_sends = stub
        .requests()
        .iter()
        .filter(|r| identity(r) == "b")
        .count();
    assert!(throttled_sends >= 1, "b was never tried");
    // `b` took at most its own slots before its first 429 closed its gate.
    assert!(
        throttled_sends <= 4,
        "b kept being sent to: {throttled_sends}"
    );

    // Every create landed once, on an identity that was not throttled.
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    for request in stub.requests().iter().filter(|r| identity(r) != "b") {
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.header("if-none-match"), Some("*"));
        *landed.entry(request.path.clone()).or_default() += 1;
    }
    assert_eq!(landed.len(), ids.len());
    assert!(landed.values().all(|&n| n == 1), "{landed:?}");

    // While `b` is held back, nothing more goes to it.
    for _ in 0..12 {
        client
            .upsert(Uuid::new_v4(), &Account::default(), UpsertMode::CreateOnly)
            .await
            .unwrap();
    }
    let after = stub
        .requests()
        .iter()
        .filter(|r| identity(r) == "b")
        .count();
    assert_eq!(after, throttled_sends);
    let used: Vec<String> = stub.requests().iter().map(identity).collect();
    assert!(used.contains(&"a".to_owned()) && used.contains(&"c".to_owned()));
    assert_eq!(client.throttled_for(), Duration::from_secs(60));
    // Nobody waited out `b`'s minute: the others carried the load.
    assert_eq!(clock.sleeps(), Vec::<Duration>::new());

    // One client per identity shares that identity's state: `b`'s alone waits its minute.
    let alone = client.identity_clients();
    assert_eq!(alone.len(), 3);
    assert!(alone.iter().all(|c| c.identity_count() == 1));
    assert_eq!(alone[1].throttled_for(), Duration::from_secs(60));
    alone[0]
        .upsert(Uuid::new_v4(), &Account::default(), UpsertMode::CreateOnly)
        .await
        .unwrap();
    assert_eq!(identity(stub.requests().last().unwrap()), "a");
    alone[1]
        .upsert(Uuid::new_v4(), &Account::default(), UpsertMode::CreateOnly)
        .await
        .unwrap_err();
    assert_eq!(clock.sleeps()[0], Duration::from_secs(60));
}

#[tokio::test]
async fn when_every_identity_is_throttled_the_request_waits_for_the_first_to_open() {
    let stub = Stub::start(|request| {
        let wait = match identity(request).as_str() {
            "a" => "30",
            "b" => "10",
            _ => "20",
        };
        if request.method == "PATCH" {
            Reply::error(429, "0x80072322", "Number of requests exceeded the limit.")
                .header("Retry-After", wait)
        } else {
            Reply::new(204)
        }
    })
    .await;
    let clock = Arc::new(ManualClock::default());
    let client = pool(&stub, clock.clone(), false);
    let started = clock.now();
    // Each identity refuses its first try: the request goes round all three, then waits for
    // the shortest Retry-After (b's 10 s) and is refused again there, and so on until the
    // retry budget is spent; what matters is that it waited 10 s, not 30 s, first.
    let error = client
        .upsert(Uuid::new_v4(), &Account::default(), UpsertMode::CreateOnly)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("0x80072322"), "{error}");
    let tried: Vec<String> = stub.requests().iter().map(identity).collect();
    let mut first_three = tried[..3].to_vec();
    first_three.sort();
    assert_eq!(first_three, ["a", "b", "c"], "{tried:?}");
    assert_eq!(
        tried[3], "b",
        "the identity that opens first is tried next: {tried:?}"
    );
    assert_eq!(
        clock.sleeps()[0],
        Duration::from_secs(10),
        "{:?}",
        clock.sleeps()
    );
    assert!(clock.now().duration_since(started).unwrap() >= Duration::from_secs(10));
}

#[tokio::test]
async fn the_affinity_cookie_is_sent_back_only_when_asked_for() {
    let answer = |_: &Recorded| {
        Reply::json(200, r#"{"value":[]}"#).header(
            "Set-Cookie",
            "ARRAffinity=server-7; Path=/; HttpOnly; Secure",
        )
    };
    for (affinity, expected) in [(false, None), (true, Some("ARRAffinity=server-7"))] {
        let stub = Stub::start(answer).await;
        let clock = Arc::new(ManualClock::default());
        let credentials: Vec<Arc<dyn TokenCredential>> = vec![Arc::new(Named("a"))];
        let client = Client::with_identities(
            &stub.url,
            credentials,
            ClientOptions {
                clock,
                server_affinity: affinity,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        for _ in 0..2 {
            let _: serde_json::Value = client.get("accounts?$select=name").await.unwrap();
        }
        let requests = stub.requests();
        assert_eq!(requests[0].header("cookie"), None);
        assert_eq!(
            requests[1].header("cookie"),
            expected,
            "affinity {affinity}"
        );
    }
}
