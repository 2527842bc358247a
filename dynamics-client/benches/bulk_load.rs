//! Issue 19's benchmark: load accounts through the bulk engine into an emulator with Dataverse's
//! service protection on and a stated cost model, and compare the records/s with the ceiling
//! those limits allow, worked out here. Run it with `benches/bulk/run.sh` at the repository
//! root (which also runs the peers, when their packages can be installed).
//!
//! The emulator runs in a child process (this executable again), so the peak heap measured here
//! is the client's alone. Settings (environment variables):
//! `BULK_RECORDS` (default 100000), `BULK_TIME_SCALE` (default 20),
//! `BULK_MEMORY_RECORDS` (default `10000,100000`: the runs whose peak heap is compared, with a
//! fixed chunk size and concurrency so that only the record count differs), and `BULK_PEERS`
//! (a file of `name command` lines to run against the same emulator settings, each given
//! `BULK_URL`, `BULK_TOKEN`, `BULK_RECORDS` and printing its elapsed seconds).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dynamics_client::{
    AccessToken, BoxFuture, Client, ClientCertificateCredential, CredentialOptions, Secret,
    TokenCredential, bulk::BulkEngine, bulk::EngineOptions,
};
use dynamics_emulator::{Emulator, ServerCost, ServiceProtection, TestCertificate};
use dynamics_test_support::heap::{self, CountingAllocator};
use futures::StreamExt as _;

mod generated {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account],
    }
}
use generated::Account;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CLIENT_ID: &str = "9b2d6f41-7c3e-4a58-b1e0-5d8c2f7a4e19";
/// The stated cost model, in Dataverse milliseconds (before the time scale): 100 ms per
/// request, 20 ms per record written by a single request, 50 ms per record of a bulk message.
const COST_MS: (u64, u64, u64) = (100, 20, 50);
/// Dataverse's limits: 1,200 s of execution per 300 s window, 52 concurrent.
const EXECUTION_S: f64 = 1200.0;
const WINDOW_S: f64 = 300.0;
const CONCURRENT: f64 = 52.0;
const REQUESTS: f64 = 6000.0;
/// The chunk size the engine starts from where `CreateMultiple` is bound.
const CHUNK: f64 = 1000.0;

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

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The child: an emulator with service protection and the cost model; prints its URL and a
/// token, then serves until its standard input closes.
fn serve(scale: u32) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let certificate = TestCertificate::generate("CN=dynamics-rs bulk bench").expect("cert");
        let emulator = Emulator::builder()
            .metadata_file(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../dynamics-codegen/tests/fixtures/sample.xml"
            ))
            .register_app(CLIENT_ID, &certificate)
            .service_protection(ServiceProtection::DATAVERSE)
            .server_cost(ServerCost::new(
                Duration::from_millis(COST_MS.0),
                Duration::from_millis(COST_MS.1),
                Duration::from_millis(COST_MS.2),
            ))
            .time_scale(scale)
            .token_lifetime(Duration::from_secs(24 * 3600))
            .start()
            .await
            .expect("emulator");
        let credential = ClientCertificateCredential::from_pem_parts(
            emulator.tenant_id(),
            CLIENT_ID,
            certificate.cert_pem().as_bytes(),
            certificate.key_pem().as_bytes(),
            None,
            CredentialOptions {
                authority_host: emulator.authority_host().to_owned(),
                ..CredentialOptions::default()
            },
        )
        .expect("credential");
        let token = credential
            .get_token(&emulator.scope())
            .await
            .expect("token");
        println!("{} {}", emulator.environment_url(), token.token.expose());
        std::io::stdout().flush().expect("flush");
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .expect("wait");
        emulator.shutdown().await;
    });
}

/// A fresh emulator process: its URL and a token.
fn start_emulator(scale: u32) -> (Child, String, String) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("DYNAMICS_BULK_EMULATOR", scale.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("emulator process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("emulator line");
    let (url, token) = line.trim().split_once(' ').expect("URL and token");
    (child, url.to_owned(), token.to_owned())
}

/// The shortest time the limits and the cost model allow for `records` records, in real
/// (scaled) seconds: the whole execution budget of a window spent at once, at 52 requests in
/// flight, then the next window's, and so on; the request count (100 requests of 1,000) never
/// binds. Each record costs `PER_BULK_RECORD + PER_REQUEST / 1000`.
fn ceiling_seconds(records: f64, scale: f64) -> f64 {
    let per_record = (COST_MS.2 as f64 + COST_MS.0 as f64 / CHUNK) / 1000.0;
    let work = records * per_record;
    let windows = (work / EXECUTION_S).ceil().max(1.0);
    let burst_at_full_concurrency = (work - (windows - 1.0) * EXECUTION_S) / CONCURRENT;
    let by_execution = (windows - 1.0) * WINDOW_S + burst_at_full_concurrency;
    let by_requests = ((records / CHUNK) / REQUESTS).floor() * WINDOW_S;
    by_execution.max(by_requests) / scale
}

/// Loads `records` accounts through the engine; returns the time taken, the peak heap above
/// the level before, and the engine's progress.
async fn load(
    url: &str,
    token: &str,
    records: usize,
    options: EngineOptions,
) -> (Duration, usize, dynamics_client::bulk::Progress) {
    let client = Client::builder(url)
        .credential(Arc::new(FixedToken(token.to_owned())))
        .build()
        .expect("client");
    let engine = BulkEngine::new(client).options(options).expect("options");
    // Whether each input was answered, a bit each: the check costs 1/8 byte per record.
    let mut answered = vec![0u8; records.div_ceil(8)];
    let base = heap::live_bytes();
    let started = Instant::now();
    {
        let input = futures::stream::iter((0..records).map(|i| Account {
            name: Some(format!("bulk {i}")),
            ..Account::default()
        }));
        let mut results = std::pin::pin!(engine.create(input));
        while let Some((index, result)) = results.next().await {
            if let Err(e) = result {
                panic!("record {index} failed: {e}");
            }
            let (byte, bit) = (index / 8, 1u8 << (index % 8));
            assert!(answered[byte] & bit == 0, "record {index} answered twice");
            answered[byte] |= bit;
        }
    }
    let took = started.elapsed();
    let peak = heap::peak_bytes_since(base);
    assert!((0..records).all(|i| answered[i / 8] & (1 << (i % 8)) != 0));
    (took, peak, engine.progress())
}

/// Every account in the emulator, read through the test controls: exactly `records`, each
/// name once.
fn verify(url: &str, records: usize) {
    let body = Command::new("curl")
        .args(["-sf", &format!("{url}/_emulator/records/accounts")])
        .output()
        .expect("curl");
    let all: serde_json::Value = serde_json::from_slice(&body.stdout).expect("records JSON");
    let all = all["value"].as_array().expect("array");
    assert_eq!(all.len(), records, "records in the emulator");
    let mut names: Vec<&str> = all.iter().filter_map(|r| r["name"].as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), records, "distinct names");
}

fn main() {
    if let Ok(scale) = std::env::var("DYNAMICS_BULK_EMULATOR") {
        serve(scale.parse().expect("scale"));
        return;
    }
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let records = env_number("BULK_RECORDS", 100_000) as usize;
    let scale = env_number("BULK_TIME_SCALE", 20) as u32;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ceiling = ceiling_seconds(records as f64, scale as f64);
    println!(
        "limits: 6,000 requests and 1,200 s execution per 300 s, 52 concurrent; cost {}/{}/{} ms \
         (request/record/bulk record); time scale {scale}",
        COST_MS.0, COST_MS.1, COST_MS.2
    );
    println!(
        "ceiling for {records} records: {ceiling:.1} s, {:.0} records/s",
        records as f64 / ceiling
    );

    let (mut child, url, token) = start_emulator(scale);
    let (took, peak, progress) =
        runtime.block_on(load(&url, &token, records, EngineOptions::default()));
    verify(&url, records);
    drop(child.stdin.take());
    let _ = child.wait();
    let rate = records as f64 / took.as_secs_f64();
    let pace = &progress.identities[0];
    println!(
        "dynamics-client: {records} records in {:.1} s, {rate:.0} records/s, {:.3} of the ceiling; \
         {} throttling answers ({} request count, {} execution time, {} concurrency), {:.1} s held \
         back; chunk {} x {} in flight at most (peak {}); peak heap {peak} bytes",
        took.as_secs_f64(),
        rate / (records as f64 / ceiling),
        progress.throttles,
        pace.throttles.requests,
        pace.throttles.execution_time,
        pace.throttles.concurrent_requests,
        progress.throttle_wait.as_secs_f64(),
        pace.chunk_size,
        pace.concurrency,
        pace.peak_in_flight,
    );

    // Peak heap at several record counts, the engine held to one chunk size and concurrency.
    let sizes: Vec<usize> = std::env::var("BULK_MEMORY_RECORDS")
        .unwrap_or_else(|_| "10000,100000".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for size in sizes {
        let (mut child, url, token) = start_emulator(scale * 10);
        let options = EngineOptions::default()
            .chunk_size_range(200, 200)
            .initial_concurrency(16)
            .max_concurrency(16);
        let (took, peak, _) = runtime.block_on(load(&url, &token, size, options));
        verify(&url, size);
        drop(child.stdin.take());
        let _ = child.wait();
        println!(
            "memory: {size} records (chunks of 200, 16 in flight, time scale {}) in {:.1} s, \
             peak heap {peak} bytes",
            scale * 10,
            took.as_secs_f64()
        );
    }

    // Peers: the same load against a fresh emulator with the same settings.
    let Ok(peers) = std::env::var("BULK_PEERS") else {
        return;
    };
    let list = std::fs::read_to_string(&peers).expect("peers file");
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (name, command) = line.split_once(' ').expect("name command");
        let (mut child, url, token) = start_emulator(scale);
        let started = Instant::now();
        let output = Command::new("sh")
            .args(["-c", command])
            .env("BULK_URL", &url)
            .env("BULK_TOKEN", &token)
            .env("BULK_RECORDS", records.to_string())
            .output()
            .expect("peer");
        let took = started.elapsed();
        let stored = Command::new("curl")
            .args(["-sf", &format!("{url}/_emulator/records/accounts")])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["value"].as_array().map(Vec::len))
            .unwrap_or(0);
        drop(child.stdin.take());
        let _ = child.wait();
        let rate = stored as f64 / took.as_secs_f64();
        println!(
            "{name}: exit {}, {stored} records stored in {:.1} s, {rate:.0} records/s, {:.3} of \
             the ceiling; stderr tail: {}",
            output.status,
            took.as_secs_f64(),
            rate / (records as f64 / ceiling),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}
