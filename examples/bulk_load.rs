//! Loading many records at the pace Dataverse allows: `cargo run --example bulk_load`.
//!
//! Streams 10,000 accounts through the bulk engine (`CreateMultiple` where the metadata binds
//! it, `$batch` otherwise), printing a progress line as chunks finish, then deletes them the
//! same way. The records are produced one at a time by an iterator: the engine reads only as
//! many as it has in flight. Offline on the embedded emulator by default, with Dataverse's
//! service protection limits and a small simulated server cost turned on; against a real
//! environment when `DYNAMICS_URL` and the `AZURE_*` variables are set (`--help`).

use std::process::ExitCode;
use std::time::Duration;

use dynamics_client::{Result, bulk::BulkEngine, error::BatchError};
use dynamics_emulator::{ServerCost, ServiceProtection};
use dynamics_examples::{Environment, run_example_with};
use futures::StreamExt as _;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account],
}

const RECORDS: usize = 10_000;

#[tokio::main]
async fn main() -> ExitCode {
    run_example_with(
        "bulk_load: 10,000 accounts streamed through the bulk engine, with progress.",
        |emulator| {
            emulator
                .service_protection(ServiceProtection::DATAVERSE)
                .server_cost(ServerCost::new(
                    Duration::from_millis(10),
                    Duration::from_millis(5),
                    Duration::from_millis(1),
                ))
                .time_scale(10)
        },
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let tag = format!("dynamics-rs bulk_load {}", std::process::id());
    let engine = BulkEngine::new(environment.client.clone());
    let records = futures::stream::iter((0..RECORDS).map(|i| Account {
        name: Some(format!("{tag} #{i}")),
        ..Default::default()
    }));
    let mut ids = vec![None; RECORDS];
    let mut failed = 0;
    let mut results = std::pin::pin!(engine.create(records));
    let mut next_report = 0;
    while let Some((index, result)) = results.next().await {
        match result {
            Ok(id) => ids[index] = Some(id),
            Err(e) => {
                failed += 1;
                eprintln!("record {index}: {e}");
            }
        }
        let progress = engine.progress();
        let finished = progress.records_done + progress.records_failed;
        if finished >= next_report {
            print_progress("created", &engine);
            next_report = finished + 2_000;
        }
    }
    print_progress("created", &engine);
    if failed > 0 {
        return Err(
            BatchError::Failed(format!("{failed} of {RECORDS} records were not created")).into(),
        );
    }

    // The same engine deletes them again, so a real environment is left as it was.
    let created: Vec<_> = ids.into_iter().flatten().collect();
    let deleted = engine
        .delete::<Account, _>(futures::stream::iter(created))
        .filter(|(_, result)| std::future::ready(result.is_ok()))
        .count()
        .await;
    println!("deleted {deleted} of the {RECORDS} accounts");
    print_progress("in all", &engine);
    Ok(())
}

fn print_progress(what: &str, engine: &BulkEngine) {
    let progress = engine.progress();
    let pace = &progress.identities[0];
    println!(
        "{what}: {} records done, {} failed, {:.0} records/s, {:.1} s waiting out throttling \
         ({} throttling answers); {} chunks of {} in flight at most",
        progress.records_done,
        progress.records_failed,
        progress.records_per_second(),
        progress.throttle_wait.as_secs_f64(),
        progress.throttles,
        pace.concurrency,
        pace.chunk_size,
    );
}
