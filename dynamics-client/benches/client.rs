//! The client's own cost beside its baselines, each ratio taken in the same run
//! (issue 10; results and commands in `BENCHMARKS.md` at the repository root).
//!
//! `cargo bench -p dynamics-client --bench client -- --warm-up-time 1 --measurement-time 5`
//!
//! - `retrieve`: one record with 10 columns through [`Client::retrieve`], token cached, beside
//!   raw reqwest with a fixed bearer token on the same emulator route (body read; and body
//!   read then decoded into the same generated struct).
//! - `decode 5000`: one 5,000-record page into generated structs beside `serde_json::Value`:
//!   with plain `serde_json` (how the client decodes), and with `serde_path_to_error` (the
//!   second pass the client makes only when decoding failed, to name the field).
//! - `batch 1000 creates`: building the batch (each record encoded), and building, sending
//!   and reading it back ([`Client::execute_batch`] and the 1,000 ids) against a loopback stub
//!   that replays the emulator's answer, beside raw reqwest posting the same-sized body to the
//!   same stub. The difference is the client's encoding and parsing.
//! - Printed before the timings: token requests made for 1,000 concurrent first calls on a
//!   fresh client (the figure; a test checks it elsewhere).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use dynamics_client::{AccessToken, BoxFuture, Client, Secret, TokenCredential, batch::Batch};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use uuid::Uuid;

/// Generated types for the sample metadata.
mod generated {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account, contact],
    }
}
use generated::Account;

/// The 10 columns read by the retrieve benchmark.
const COLUMNS: [&str; 10] = [
    "name",
    "accountnumber",
    "telephone1",
    "emailaddress1",
    "websiteurl",
    "address1_city",
    "address1_country",
    "description",
    "revenue",
    "numberofemployees",
];

/// A credential that always answers the same token, as a caller that supplies its own does.
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

/// The emulator, an app registered on it, and a seeded account.
struct Setup {
    emulated: dynamics_test_support::emulated::Env,
    account: Uuid,
}

impl Setup {
    async fn start() -> Self {
        let emulated = dynamics_test_support::emulated::start()
            .await
            .expect("emulator starts");
        let account = Uuid::new_v4();
        emulated
            .emulator
            .seed(&json!({"accounts": [record(account, 0)]}))
            .expect("seed");
        Setup { emulated, account }
    }

    /// A client with a certificate credential of its own (so an empty token cache).
    fn client(&self) -> Client {
        self.emulated.client().expect("client")
    }
}

/// The baseline: plain reqwest with a fixed bearer token on the route the client's retrieve uses.
struct RawRoute {
    http: reqwest::Client,
    url: String,
    bearer: String,
}

impl RawRoute {
    async fn new(setup: &Setup) -> Self {
        RawRoute {
            http: reqwest::Client::new(),
            url: format!(
                "{}accounts({})?$select={}",
                setup.emulated.emulator.web_api_url(),
                setup.account,
                COLUMNS.join(",")
            ),
            bearer: format!("Bearer {}", client_token(setup).await),
        }
    }

    /// One GET, its body read.
    async fn get(&self) -> impl AsRef<[u8]> {
        let response = self
            .http
            .get(&self.url)
            .header("Authorization", &self.bearer)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success());
        response.bytes().await.expect("body")
    }
}

/// An account record with the 10 benchmark columns and the system columns a page carries.
fn record(id: Uuid, i: usize) -> Value {
    json!({
        "accountid": id,
        "name": format!("Contoso Pharmaceuticals {i}"),
        "accountnumber": format!("AC-{i:06}"),
        "telephone1": "+1 425 555 0100",
        "emailaddress1": format!("info{i}@contoso.example"),
        "websiteurl": "https://contoso.example",
        "address1_city": "Redmond",
        "address1_country": "United States",
        "description": "A customer used by the benchmarks of dynamics-rs, with a description of typical length.",
        "revenue": 1_250_000.5,
        "numberofemployees": 250 + i as i64,
    })
}

/// A 5,000-record page as Dataverse writes it: annotations, system columns, nulls.
fn page_of_5000() -> Vec<u8> {
    let value: Vec<Value> = (0..5000)
        .map(|i| {
            let mut r = record(Uuid::new_v4(), i);
            let fields = r.as_object_mut().expect("object");
            fields.insert(
                "@odata.etag".into(),
                json!(format!("W/\"{}\"", 4_000_000 + i)),
            );
            fields.insert("createdon".into(), json!("2026-03-14T09:26:53Z"));
            fields.insert("modifiedon".into(), json!("2026-11-02T17:45:10Z"));
            fields.insert("versionnumber".into(), json!(4_000_000 + i));
            fields.insert("statecode".into(), json!(0));
            fields.insert("statuscode".into(), json!(1));
            fields.insert("creditonhold".into(), json!(false));
            fields.insert("_ownerid_value".into(), json!(Uuid::new_v4()));
            fields.insert("_parentaccountid_value".into(), Value::Null);
            fields.insert("lastonholdtime".into(), Value::Null);
            r
        })
        .collect();
    serde_json::to_vec(&json!({
        "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#accounts",
        "value": value,
    }))
    .expect("page encodes")
}

/// The wire form of a collection answer, as the client reads it.
#[derive(Deserialize)]
struct PageOf<T> {
    value: Vec<T>,
}

/// Token requests made by a fresh client for `calls` concurrent first calls.
async fn token_requests_for(setup: &Setup, calls: usize) -> (u64, Duration) {
    let client = setup.client();
    setup.emulated.emulator.controls().reset_counts();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..calls {
        let client = client.clone();
        let id = setup.account;
        tasks.spawn(async move { client.retrieve::<Account>(id, &["name"]).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("retrieve");
    }
    (
        setup.emulated.emulator.controls().token_request_count(),
        start.elapsed(),
    )
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn retrieve(c: &mut Criterion) {
    let runtime = runtime();
    let setup = runtime.block_on(Setup::start());

    for round in 1..=3 {
        let (tokens, took) = runtime.block_on(token_requests_for(&setup, 1000));
        println!(
            "token requests for 1000 concurrent first calls (round {round}): {tokens} ({took:.0?} for the 1000 calls)"
        );
    }

    let client = setup.client();
    let raw = runtime.block_on(async {
        // Warms the client's token cache.
        client
            .retrieve::<Account>(setup.account, &COLUMNS)
            .await
            .expect("retrieve");
        RawRoute::new(&setup).await
    });

    let mut group = c.benchmark_group("retrieve");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw reqwest, body read", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw.get().await) })
    });
    group.bench_function("raw reqwest, decoded into Account", |b| {
        b.to_async(&runtime).iter(|| async {
            let body = raw.get().await;
            black_box(serde_json::from_slice::<Account>(body.as_ref()).expect("account"));
        })
    });
    group.bench_function("client, token cached", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                client
                    .retrieve::<Account>(setup.account, &COLUMNS)
                    .await
                    .expect("retrieve"),
            );
        })
    });
    group.finish();
    runtime.block_on(setup.emulated.emulator.shutdown());
}

fn decode(c: &mut Criterion) {
    let page = page_of_5000();
    println!("decode 5000: page of {} bytes", page.len());
    let mut group = c.benchmark_group("decode 5000");
    group.throughput(Throughput::Elements(5000));
    group.sample_size(20);
    group.bench_function("serde_json::Value", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&page)).expect("value")))
    });
    group.bench_function(
        "generated, path tracking (the client only on failure)",
        |b| {
            b.iter(|| {
                let mut de = serde_json::Deserializer::from_slice(black_box(&page));
                let page: PageOf<Account> =
                    serde_path_to_error::deserialize(&mut de).expect("page");
                black_box(page.value)
            })
        },
    );
    group.bench_function("generated, plain serde_json (as the client)", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<PageOf<Account>>(black_box(&page))
                    .expect("page")
                    .value,
            )
        })
    });
    group.finish();
}

/// A hand-written `$batch` body of `count` account creates, as any client would send it.
fn raw_batch_body(root: &str, count: usize) -> (String, Vec<u8>) {
    let boundary = format!("batch_{}", Uuid::new_v4().simple());
    let mut body = String::new();
    for i in 0..count {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST {root}accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n",
            serde_json::to_string(&{
                // Account numbers are an alternate key: none may repeat the seeded one's.
                let mut r = record(Uuid::new_v4(), i);
                r["accountnumber"] = json!(format!("BT-{i:06}"));
                r
            })
            .expect("record")
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/mixed; boundary={boundary}"),
        body.into_bytes(),
    )
}

/// Serves `reply` (with `content_type`) to every request, on loopback; returns its base URL.
async fn canned_server(content_type: String, reply: Vec<u8>) -> String {
    use axum::body::Bytes;
    let reply = Bytes::from(reply);
    let app = axum::Router::new().fallback(move |_body: Bytes| {
        let reply = reply.clone();
        let content_type = content_type.clone();
        async move { ([("Content-Type", content_type)], reply) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn batch(c: &mut Criterion) {
    let runtime = runtime();
    let setup = runtime.block_on(Setup::start());
    let client = setup.client();
    let records: Vec<Account> = (0..1000)
        .map(|i| {
            serde_json::from_value::<Account>(record(Uuid::new_v4(), i)).map(|mut a| {
                a.accountid = None;
                a
            })
        })
        .collect::<Result<_, _>>()
        .expect("records");

    // The emulator's answer to 1,000 creates, replayed by a stub so that only the client and
    // the loopback connection are timed.
    let root = client.web_api_url().path().to_owned();
    let (content_type, body) = raw_batch_body(&root, 1000);
    let (reply_type, reply) = runtime.block_on(async {
        let token = client_token(&setup).await;
        let response = reqwest::Client::new()
            .post(format!("{}$batch", setup.emulated.emulator.web_api_url()))
            .bearer_auth(token)
            .header("Content-Type", &content_type)
            .header("Accept", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("batch");
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            panic!("emulator answered the batch with {status}: {text}");
        }
        let reply_type = response
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .expect("reply content type")
            .to_owned();
        (reply_type, response.bytes().await.expect("reply").to_vec())
    });
    println!(
        "batch 1000 creates: request {} bytes, reply {} bytes",
        body.len(),
        reply.len()
    );
    let stub = runtime.block_on(canned_server(reply_type, reply));
    let stub_client = Client::builder(&stub)
        .credential(Arc::new(FixedToken("bench".into())))
        .build()
        .expect("stub client");
    let raw = reqwest::Client::new();
    let stub_batch = format!("{}$batch", stub_client.web_api_url());

    let mut group = c.benchmark_group("batch 1000 creates");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(20);
    group.bench_function("build (encode records)", |b| {
        b.iter(|| {
            let mut batch = Batch::new();
            for r in &records {
                black_box(batch.create(r).expect("create"));
            }
            batch
        })
    });
    group.bench_function(BenchmarkId::new("raw reqwest, same body", "stub"), |b| {
        b.to_async(&runtime).iter(|| async {
            let response = raw
                .post(&stub_batch)
                .header("Authorization", "Bearer bench")
                .header("Content-Type", &content_type)
                .body(body.clone())
                .send()
                .await
                .expect("request");
            black_box(response.bytes().await.expect("reply"));
        })
    });
    group.bench_function(
        BenchmarkId::new("client: build, execute_batch, read ids", "stub"),
        |b| {
            b.to_async(&runtime).iter(|| async {
                let mut batch = Batch::new();
                let handles: Vec<_> = records
                    .iter()
                    .map(|r| batch.create(r).expect("create"))
                    .collect();
                let reply = stub_client.execute_batch(&batch).await.expect("batch");
                for h in handles {
                    black_box(reply.get(h).expect("id"));
                }
            })
        },
    );
    group.finish();
    runtime.block_on(setup.emulated.emulator.shutdown());
}

/// A token for the bench app, straight from the emulator's token endpoint.
async fn client_token(setup: &Setup) -> String {
    let credential = setup.emulated.credential().expect("credential");
    credential
        .get_token(&setup.emulated.emulator.scope())
        .await
        .expect("token")
        .token
        .expose()
        .to_owned()
}

/// Separates the phases of [`retrieve_loop`]: callgrind, run with
/// `--dump-before=*retrieve_phase_boundary*`, writes one profile per phase.
#[inline(never)]
fn retrieve_phase_boundary(phase: &str) {
    black_box(phase);
}

/// `RETRIEVE_LOOP=<count>`: after the setup, two rounds of `count` retrieves of each kind (raw
/// reqwest with the body read, the same decoded into `Account`, the client), each kind a phase
/// of its own, for counting instructions under callgrind: machine load changes times, not
/// instruction counts. `tools/retrieve-instructions.sh` runs it and reads the phases.
fn retrieve_loop(count: &str) {
    let count: usize = count.parse().expect("RETRIEVE_LOOP is a count");
    let runtime = runtime();
    runtime.block_on(async {
        let setup = Setup::start().await;
        let client = setup.client();
        let account = client
            .retrieve::<Account>(setup.account, &COLUMNS)
            .await
            .expect("retrieve");
        black_box(account);
        let raw = RawRoute::new(&setup).await;
        for _round in 0..2 {
            for kind in ["raw", "decoded", "client"] {
                retrieve_phase_boundary(kind);
                for _ in 0..count {
                    match kind {
                        "client" => {
                            let account = client.retrieve::<Account>(setup.account, &COLUMNS).await;
                            black_box(account.expect("retrieve"));
                        }
                        "decoded" => {
                            let body = raw.get().await;
                            black_box(
                                serde_json::from_slice::<Account>(body.as_ref()).expect("account"),
                            );
                        }
                        _ => {
                            black_box(raw.get().await);
                        }
                    }
                }
            }
        }
        retrieve_phase_boundary("end");
        setup.emulated.emulator.shutdown().await;
    });
}

criterion_group!(benches, retrieve, decode, batch);

fn main() {
    if let Ok(spec) = std::env::var("RETRIEVE_LOOP") {
        retrieve_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
