//! Simple retrieves per second on loopback, so we know the emulator is never the bottleneck
//! of the SDK's own benchmarks: one request at a time, and 16 in flight.

mod common;

use common::client_token;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynamics_emulator::{Emulator, TestCertificate};
use serde_json::json;
use tokio::task::JoinSet;

const CLIENT_ID: &str = "0b6f7f3e-4d2c-4a8e-9d1f-5c3b2a190e77";

struct Setup {
    // Kept alive for the whole run.
    _emulator: Emulator,
    http: reqwest::Client,
    url: String,
    token: String,
}

async fn setup() -> Setup {
    let cert = TestCertificate::generate("CN=bench").expect("certificate");
    let emulator = Emulator::builder()
        .metadata_file(common::SAMPLE_METADATA)
        .register_app(CLIENT_ID, &cert)
        .start()
        .await
        .expect("emulator starts");
    let id = uuid::Uuid::new_v4();
    emulator
        .seed(&json!({"accounts": [{"accountid": id, "name": "Bench", "revenue": 1000}]}))
        .expect("seed");
    let http = reqwest::Client::new();
    let token = client_token(&http, &emulator, &cert, CLIENT_ID).await;
    Setup {
        url: format!(
            "{}accounts({id})?$select=name,revenue",
            emulator.web_api_url()
        ),
        _emulator: emulator,
        http,
        token,
    }
}

async fn retrieve(http: reqwest::Client, url: String, token: String) {
    common::get(&http, &url, &token).await;
}

fn retrieves(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let setup = runtime.block_on(setup());
    let mut group = c.benchmark_group("retrieve");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one at a time", |b| {
        b.to_async(&runtime)
            .iter(|| retrieve(setup.http.clone(), setup.url.clone(), setup.token.clone()))
    });
    const IN_FLIGHT: u64 = 16;
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("16 in flight", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut set = JoinSet::new();
            for _ in 0..IN_FLIGHT {
                set.spawn(retrieve(
                    setup.http.clone(),
                    setup.url.clone(),
                    setup.token.clone(),
                ));
            }
            while set.join_next().await.is_some() {}
        })
    });
    group.finish();
}

criterion_group!(benches, retrieves);
criterion_main!(benches);
