//! Peak heap memory of streaming records through paging, at several totals, to show it stays
//! flat as the total grows (issue 10; results in `BENCHMARKS.md` at the repository root).
//!
//! `cargo bench -p dynamics-client --bench paging`
//!
//! The pages come from a loopback stub in a child process (this same executable, started
//! again with `DYNAMICS_BENCH_EMULATOR` set), so that only the client's memory is counted
//! here. Each total is read with [`EntitySet::stream`] and 5,000-record pages
//! (`$filter=numberofemployees lt TOTAL`), one record at a time, and nothing is kept. Peak heap
//! bytes above the level before the stream are measured with a counting global allocator.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dynamics_client::{
    AccessToken, BoxFuture, Client, Query, Secret, TokenCredential, entity::EntitySet,
};
use dynamics_test_support::heap::{self, CountingAllocator};
use futures::TryStreamExt as _;
use serde_json::json;

/// Generated types for the sample metadata.
mod generated {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account, contact],
    }
}
use generated::Account;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const PAGE_SIZE: u32 = 5000;
const TOTALS: [usize; 4] = [10_000, 25_000, 50_000, 100_000];

/// A credential that always answers the same token.
#[derive(Debug)]
struct FixedToken(String);

impl TokenCredential for FixedToken {
    fn get_token<'a>(
        &'a self,
        _scope: &'a str,
    ) -> BoxFuture<'a, dynamics_client::Result<AccessToken>> {
        Box::pin(async move {
            Ok(AccessToken::new(
                Secret::new(self.0.clone()),
                SystemTime::now() + Duration::from_secs(24 * 3600),
            ))
        })
    }
}

/// The child: a loopback server that answers `GET accounts` with pages of `PAGE_SIZE`
/// Dataverse-shaped account records, `@odata.nextLink` after each page until the total named
/// by the query's `$filter=numberofemployees lt TOTAL`; prints its URL, then serves until its
/// standard input closes. (The emulator's seeding is too slow for 100,000 records.)
fn serve_pages() {
    use axum::extract::RawQuery;
    use axum::http::HeaderMap;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let records: Vec<String> = (0..PAGE_SIZE as usize)
            .map(|i| {
                json!({
                    "@odata.etag": format!("W/\"{}\"", 4_000_000 + i),
                    "accountid": uuid::Uuid::new_v4(),
                    "name": format!("Contoso Pharmaceuticals {i}"),
                    "accountnumber": format!("AC-{i:06}"),
                    "telephone1": "+1 425 555 0100",
                    "emailaddress1": format!("info{i}@contoso.example"),
                    "address1_city": "Redmond",
                    "revenue": 1_250_000.5,
                    "numberofemployees": i,
                    "createdon": "2026-03-14T09:26:53Z",
                    "_ownerid_value": uuid::Uuid::new_v4(),
                })
                .to_string()
            })
            .collect();
        let page = Arc::new(records.join(","));
        let page_bytes = page.len() + 200;
        let next_base = format!("{base}/api/data/v9.2/accounts");
        let app = axum::Router::new().fallback(move |RawQuery(query): RawQuery, _h: HeaderMap| {
            let page = page.clone();
            let next_base = next_base.clone();
            async move {
                let query = query.unwrap_or_default();
                let mut total = 0usize;
                let mut done = 0usize;
                for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                    match &*k {
                        "$filter" => {
                            total = v.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
                        }
                        "total" => total = v.parse().unwrap_or(0),
                        "$skiptoken" => done = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
                done += PAGE_SIZE as usize;
                let next = if done < total {
                    format!(",\"@odata.nextLink\":\"{next_base}?total={total}&$skiptoken={done}\"")
                } else {
                    String::new()
                };
                let body = format!(
                    "{{\"@odata.context\":\"{next_base}/$metadata#accounts\",\"value\":[{page}]{next}}}"
                );
                ([("Content-Type", "application/json; odata.metadata=minimal")], body)
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        // The size of one page's body, for scale (the next link adds a few bytes).
        println!("{base} {page_bytes}");
        std::io::stdout().flush().expect("flush");
        // Serve until the parent closes our standard input.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .expect("wait");
    });
}

/// Streams every account with `numberofemployees < total`; returns the count, the peak heap
/// bytes above the starting level and the time taken.
async fn stream(accounts: EntitySet<'_, Account>, total: usize) -> (usize, usize, Duration) {
    let query = Query::<Account>::new()
        .filter(Account::NUMBEROFEMPLOYEES.lt(total as i32))
        .page_size(PAGE_SIZE);
    let start = Instant::now();
    let base = heap::live_bytes();
    let mut records = std::pin::pin!(accounts.stream(query));
    let mut count = 0usize;
    while let Some(account) = records.try_next().await.expect("page") {
        std::hint::black_box(&account);
        count += 1;
    }
    let peak = heap::peak_bytes_since(base);
    (count, peak, start.elapsed())
}

fn main() {
    if std::env::var_os("DYNAMICS_BENCH_EMULATOR").is_some() {
        serve_pages();
        return;
    }
    // `cargo test --benches` runs bench targets with `--test`: nothing to check here.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("DYNAMICS_BENCH_EMULATOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("emulator process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("emulator line");
    let (url, page_bytes) = line.trim().split_once(' ').expect("URL and page size");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::builder(url)
        .credential(Arc::new(FixedToken("bench".to_owned())))
        .build()
        .expect("client");
    let accounts = client.entity_set::<Account>();
    // One page first, so the connection and the token are in place before measuring.
    let (_, one_page, _) = runtime.block_on(stream(accounts, PAGE_SIZE as usize));
    println!(
        "stream through paging, pages of {PAGE_SIZE} records, ~{page_bytes} bytes of JSON each (peak heap above the level before the stream)"
    );
    println!(
        "{:>9} {:>6} {:>12} {:>10} {:>9}",
        "records", "pages", "peak bytes", "vs 1 page", "time"
    );
    println!(
        "{:>9} {:>6} {:>12} {:>10.2} {:>9}",
        PAGE_SIZE, 1, one_page, 1.0, "-"
    );
    for total in TOTALS {
        let (count, peak, took) = runtime.block_on(stream(accounts, total));
        assert_eq!(count, total, "records streamed");
        println!(
            "{:>9} {:>6} {:>12} {:>10.2} {:>8.2}s",
            count,
            total.div_ceil(PAGE_SIZE as usize),
            peak,
            peak as f64 / one_page as f64,
            took.as_secs_f64()
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
