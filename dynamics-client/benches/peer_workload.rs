//! The peer comparison of issue 10: the same CRUD + query workload through dynamics-client and
//! through the `dynamics-web-api` npm package (Node), against one emulator, both given the
//! same bearer token. Run it with `benches/peer/run.sh` at the repository root, which installs
//! the npm package into a scratch folder and sets `PEER_NODE_MODULES`.
//!
//! The workload, `PEER_ITERATIONS` times (200 by default) after 20 untimed: create an account,
//! retrieve two of its columns, update it, query it back by its new name (`$top=5`), delete
//! it. The two sides run one after the other, three rounds each, alternating; the medians and
//! their ratio are printed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dynamics_client::{AccessToken, BoxFuture, Client, Page, Secret, TokenCredential};

/// Generated types for the sample metadata.
mod generated {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account, contact],
    }
}
use generated::Account;

const ROUNDS: usize = 3;
const WARM_UP: usize = 20;

/// A credential that always answers the same token, as the Node side is given it.
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

/// The workload through dynamics-client, `count` times.
async fn run(client: &Client, label: &str, count: usize) -> dynamics_client::Result<()> {
    for i in 0..count {
        let name = format!("peer rust {label} {i}");
        let record = Account {
            name: Some(name.clone()),
            revenue: Some((1000 + i as i64).into()),
            ..Account::default()
        };
        let id = client.create(&record).await?;
        let read: Account = client.retrieve(id, &["name", "revenue"]).await?;
        assert_eq!(read.name.as_deref(), Some(name.as_str()), "retrieve");
        let changes = Account {
            name: Some(format!("{name} updated")),
            ..Account::default()
        };
        client.update(id, &changes).await?;
        let page: Page<Account> = client
            .query_raw(&format!(
                "$select=name&$filter=name eq '{name} updated'&$top=5"
            ))
            .await?;
        assert_eq!(page.items.len(), 1, "query");
        client.delete::<Account>(id).await?;
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--test`: nothing to check here.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let Some(node_modules) = std::env::var_os("PEER_NODE_MODULES") else {
        eprintln!("PEER_NODE_MODULES is not set: run benches/peer/run.sh at the repository root");
        std::process::exit(2);
    };
    let iterations: usize = std::env::var("PEER_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/peer/workload.cjs");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (emulator, token) = runtime.block_on(async {
        let emulated = dynamics_test_support::emulated::start()
            .await
            .expect("emulator starts");
        let credential = emulated.credential().expect("credential");
        let emulator = emulated.emulator;
        let token = credential
            .get_token(&emulator.scope())
            .await
            .expect("token")
            .token
            .expose()
            .to_owned();
        (emulator, token)
    });
    let client = Client::builder(emulator.environment_url())
        .credential(Arc::new(FixedToken(token.clone())))
        .build()
        .expect("client");
    runtime
        .block_on(run(&client, "warm-up", WARM_UP))
        .expect("warm-up");

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 1..=ROUNDS {
        let start = Instant::now();
        runtime
            .block_on(run(&client, &format!("timed {round}"), iterations))
            .expect("workload");
        let rust_ms = start.elapsed().as_secs_f64() * 1e3;
        let output = Command::new("node")
            .arg(&script)
            .env("NODE_PATH", &node_modules)
            .env("PEER_URL", emulator.environment_url())
            .env("PEER_TOKEN", &token)
            .env("PEER_ITERATIONS", iterations.to_string())
            .env("PEER_TAG", format!("node{round}"))
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "node failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let reply: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("node prints JSON");
        let node_ms = reply["ms"].as_f64().expect("ms");
        println!(
            "round {round}: {iterations} iterations x 5 requests: dynamics-client {rust_ms:.0} ms, dynamics-web-api {node_ms:.0} ms"
        );
        ours.push(rust_ms);
        theirs.push(node_ms);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let requests = (iterations * 5) as f64;
    println!(
        "median: dynamics-client {ours:.0} ms ({:.0} µs/request), dynamics-web-api {theirs:.0} ms ({:.0} µs/request); dynamics-web-api / dynamics-client = {:.2}",
        ours * 1e3 / requests,
        theirs * 1e3 / requests,
        theirs / ours
    );
    runtime.block_on(emulator.shutdown());
}
