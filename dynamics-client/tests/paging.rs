//! Paging streams against dynamics-emulator: every record of a large table read page by page,
//! with the number of records alive at once measured.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use dynamics_client::{Column, Entity, Query};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use support::emulated::start;
use uuid::Uuid;

/// Records of [`Tracked`] alive right now, and the most ever alive at once.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Counts itself in [`LIVE`] from creation (deserializing a record makes one) to drop.
#[derive(Debug)]
struct Alive;

impl Default for Alive {
    fn default() -> Self {
        let now = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An `account` record type that counts how many of its records are alive.
#[derive(Debug, Serialize, Deserialize)]
struct Tracked {
    #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip)]
    _alive: Alive,
}

impl Tracked {
    const NAME: Column<Tracked, String> = Column::new("name");
}

impl Entity for Tracked {
    const LOGICAL_NAME: &'static str = "account";
    const ENTITY_SET_NAME: &'static str = "accounts";
    const PRIMARY_KEY: &'static str = "accountid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
}

const RECORDS: usize = 100_000;
const PAGE: u32 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_hundred_thousand_records_one_page_at_a_time() {
    let env = start().await;
    let accounts: Vec<serde_json::Value> = (0..RECORDS)
        .map(|i| serde_json::json!({ "name": format!("N{i:06}") }))
        .collect();
    env.emulator
        .seed(&serde_json::json!({ "accounts": accounts }))
        .unwrap();
    let (client, _) = env.client();
    env.emulator.controls().reset_counts();

    let query = Query::<Tracked>::new()
        .select(Tracked::NAME)
        .page_size(PAGE);
    let mut stream = std::pin::pin!(client.entity_set::<Tracked>().stream(query));
    let mut seen = 0usize;
    let mut last_number = String::new();
    while let Some(record) = stream.try_next().await.unwrap() {
        let number = record.name.clone().unwrap();
        // Creation order (the emulator's order without `$orderby`), with nothing skipped or
        // read twice across page boundaries.
        assert_eq!(number, format!("N{seen:06}"));
        last_number = number;
        seen += 1;
    }
    assert_eq!(seen, RECORDS, "last record {last_number}");
    let peak = PEAK.load(Ordering::SeqCst);
    println!("streamed {seen} records; peak records alive at once: {peak} (page size {PAGE})");
    assert!(peak <= PAGE as usize, "peak {peak} exceeds one page");
    assert!(
        peak >= PAGE as usize / 2,
        "peak {peak}: pages were not full"
    );
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    let counts = env.emulator.controls().request_counts();
    assert_eq!(counts.api, (RECORDS / PAGE as usize) as u64);

    // Counting past the 5,000 cap of `$count`.
    let counted = client
        .entity_set::<Tracked>()
        .count_all(Query::new().page_size(5000))
        .await
        .unwrap();
    assert_eq!(counted, RECORDS as u64);
}

#[tokio::test]
async fn untyped_stream_resends_the_page_size_and_stops_early_when_dropped() {
    let env = start().await;
    let accounts: Vec<serde_json::Value> = (0..25)
        .map(|i| serde_json::json!({ "name": format!("Row {i:02}") }))
        .collect();
    env.emulator
        .seed(&serde_json::json!({ "accounts": accounts }))
        .unwrap();
    let (client, _) = env.client();
    env.emulator.controls().reset_counts();
    let pages: Vec<_> = client
        .pages_raw::<support::Account>("$select=name&$orderby=name", Some(10))
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(env.emulator.controls().request_counts().api, 3);

    // Taking 12 records fetches two pages, not three.
    env.emulator.controls().reset_counts();
    let first: Vec<_> = client
        .stream_raw::<support::Account>("$select=name&$orderby=name", Some(10))
        .take(12)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first.len(), 12);
    assert_eq!(first[11].name.as_deref(), Some("Row 11"));
    assert_eq!(env.emulator.controls().request_counts().api, 2);
}

/// The next link is sent back byte for byte (its paging cookie stays as encoded), with the same
/// `Prefer: odata.maxpagesize`; links leaving the Web API, or repeating themselves, stop the
/// stream with an error.
#[tokio::test]
async fn next_links_are_followed_exactly_and_checked() {
    use dynamics_client::Error;
    use support::stub::{Reply, Stub};

    const TOKEN: &str = "$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253c%252fcookie%253e%22%20/%3E";
    let stub = Stub::start(|request| {
        let next = match request.query.as_deref() {
            Some(q) if q.contains("skiptoken") => None,
            _ => Some(format!(
                "{{\"@odata.nextLink\":\"http://{}/api/data/v9.2/accounts?$select=name&{TOKEN}\",",
                request.header("host").unwrap_or_default()
            )),
        };
        let body = format!(
            "{}\"value\":[{{\"name\":\"x\"}}]}}",
            next.unwrap_or_else(|| "{".to_owned())
        );
        Reply::json(200, body)
    })
    .await;
    let client = stub.client();
    let all: Vec<support::Account> = client
        .stream_raw("$select=name", Some(7))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let requests = stub.requests();
    assert_eq!(
        requests[1].query.as_deref(),
        Some(&*format!("$select=name&{TOKEN}"))
    );
    for request in &requests {
        assert_eq!(request.header("Prefer"), Some("odata.maxpagesize=7"));
    }

    // A next link to another host is never followed (the token would go with it).
    let elsewhere = Stub::start(|_| {
        Reply::json(
            200,
            r#"{"@odata.nextLink":"http://203.0.113.9/api/data/v9.2/accounts?$skiptoken=1","value":[]}"#,
        )
    })
    .await;
    let client = elsewhere.client();
    let err = client
        .pages_raw::<support::Account>("", None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(elsewhere.requests().len(), 1);

    // A server that answers a next link with the same link again.
    let looping = Stub::start(|request| {
        Reply::json(
            200,
            format!(
                r#"{{"@odata.nextLink":"http://{}/api/data/v9.2/accounts?$skiptoken=same","value":[]}}"#,
                request.header("host").unwrap_or_default()
            ),
        )
    })
    .await;
    let client = looping.client();
    let err = client
        .pages_raw::<support::Account>("", None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already followed"), "{err}");
    assert_eq!(looping.requests().len(), 2);
}
