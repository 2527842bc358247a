//! The identity pool's throughput against service protection (issue 20): the same bulk load
//! through 1, 2 and 4 application users of one emulated environment, whose service protection
//! counts each user's requests apart. With the request-count limit the one that binds, `k`
//! identities should load `k` times as fast, until the server itself is the limit.
//!
//! Each identity may send `REQUESTS` requests per sliding window of `WINDOW` (Dataverse's window,
//! a twentieth of its request count so that a run stays small, the whole divided by the time
//! scale); a `$batch` counts as one request. Each run loads
//! `WINDOWS + 1` windows' worth of batches per identity: the first window's share goes at
//! once, each later share when the window has slid past the one before, so the fastest
//! possible run takes `WINDOWS` windows (the ceiling). The bench prints records/s, the ratio to
//! that ceiling, and the speed-up over one identity.
//!
//! `cargo bench -p dynamics-client --bench pool` (about three minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dynamics_client::{
    BulkOptions, Client, ClientCertificateCredential, ClientOptions, CredentialOptions, Entity,
    TokenCredential,
};
use dynamics_emulator::{Emulator, ServerCost, ServiceProtection, TestCertificate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const METADATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.xml"
);
/// Dataverse's 300 s window, run fifteen times faster, with 300 requests in it.
const TIME_SCALE: u32 = 15;
const REQUESTS: u32 = 300;
const WINDOW: Duration = Duration::from_secs(300);
/// Records per `$batch` request: the request count binds, not the execution time.
const BATCH: usize = 10;
/// Windows the fastest run takes.
const WINDOWS: u32 = 2;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accountnumber: Option<String>,
}

impl Entity for Account {
    const LOGICAL_NAME: &'static str = "account";
    const ENTITY_SET_NAME: &'static str = "accounts";
    const PRIMARY_KEY: &'static str = "accountid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
}

struct Run {
    identities: usize,
    records: usize,
    elapsed: Duration,
}

async fn run(identities: usize) -> Run {
    let apps: Vec<(String, TestCertificate)> = (0..identities)
        .map(|n| {
            (
                Uuid::new_v4().to_string(),
                TestCertificate::generate(&format!("CN=bench-{n}")).unwrap(),
            )
        })
        .collect();
    // The limits per identity: 300 requests and 1,200 s of execution per 300 s, 52 at once;
    // each request costs 2 ms plus 1 ms per record written, far under the execution budget.
    let mut builder = Emulator::builder()
        .metadata_file(METADATA)
        .service_protection(ServiceProtection::new(
            REQUESTS,
            Duration::from_secs(1200),
            WINDOW,
            52,
        ))
        .server_cost(ServerCost::new(
            Duration::from_millis(2),
            Duration::from_millis(1),
            Duration::from_micros(300),
        ))
        .time_scale(TIME_SCALE);
    for (client_id, cert) in &apps {
        builder = builder.register_app(client_id, cert);
    }
    let emulator = builder.start().await.unwrap();
    let credentials: Vec<Arc<dyn TokenCredential>> = apps
        .iter()
        .map(|(client_id, cert)| {
            Arc::new(
                ClientCertificateCredential::from_pem_parts(
                    emulator.tenant_id(),
                    client_id,
                    cert.cert_pem().as_bytes(),
                    cert.key_pem().as_bytes(),
                    None,
                    CredentialOptions {
                        authority_host: emulator.authority_host().to_owned(),
                        ..CredentialOptions::default()
                    },
                )
                .unwrap(),
            ) as Arc<dyn TokenCredential>
        })
        .collect();
    let client = Client::with_identities(
        emulator.environment_url(),
        credentials,
        ClientOptions::default(),
    )
    .unwrap();
    // Tokens first, so the run measures the load alone.
    for _ in 0..identities {
        let _: serde_json::Value = client.get("WhoAmI()").await.unwrap();
    }
    let per_window = (REQUESTS as usize - 1) * BATCH;
    let records = identities * per_window * (WINDOWS as usize + 1);
    let accounts = (0..records).map(|i| Account {
        name: Some(format!("Account {i}")),
        accountnumber: Some(format!("B-{i:07}")),
        ..Account::default()
    });
    let options = BulkOptions::default()
        .batch_size(BATCH)
        .concurrency(8 * identities);
    let started = Instant::now();
    let results = client.bulk_create(accounts, &options).await.unwrap();
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "every record is created");
    assert_eq!(emulator.records("accounts").unwrap().len(), records);
    emulator.shutdown().await;
    Run {
        identities,
        records,
        elapsed,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let window = WINDOW / TIME_SCALE;
    let ceiling_time = window * WINDOWS;
    println!(
        "service protection per identity: {REQUESTS} requests per {:?} (scaled 1/{TIME_SCALE}), \
         {BATCH} records per request; fastest run: {:?}",
        window, ceiling_time
    );
    let mut single = None;
    for identities in [1, 2, 4] {
        let run = runtime.block_on(run(identities));
        let rate = run.records as f64 / run.elapsed.as_secs_f64();
        let ceiling = run.records as f64 / ceiling_time.as_secs_f64();
        let base = *single.get_or_insert(rate);
        println!(
            "identities {}: {} records in {:.2} s = {:.0} records/s; ceiling {:.0}/s, ratio {:.3}; \
             speed-up over 1 identity {:.2} (target >= {:.1})",
            run.identities,
            run.records,
            run.elapsed.as_secs_f64(),
            rate,
            ceiling,
            rate / ceiling,
            rate / base,
            0.9 * run.identities as f64
        );
    }
}
