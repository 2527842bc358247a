//! Service protection limits: when Dataverse answers 429 with `Retry-After`, the client waits
//! exactly that long and tries again, within its retry budget. `cargo run --example throttling`.
//!
//! On the emulator the example throttles the next requests itself; against a real environment
//! it only shows the policy in force (throttling cannot be provoked politely).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dynamics_examples::run_example;

mod crm {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account],
    }
}
use crm::{Account, EntitySets};

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "throttling: how the client rides out 429 Too Many Requests.",
        async |environment| {
            let client = &environment.client;
            if let Some(emulator) = &environment.emulator {
                // The next two Web API requests get 429 with `Retry-After: 1`.
                emulator.controls().throttle_next(2, Duration::from_secs(1));
                println!("the emulator will throttle the next 2 requests (Retry-After: 1 s)");
            }
            let started = Instant::now();
            let id = client
                .accounts()
                .create(&Account {
                    name: Some("Throttled Inc.".into()),
                    ..Default::default()
                })
                .await?;
            println!(
                "created account {id} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            if let Some(emulator) = &environment.emulator {
                let counts = emulator.controls().request_counts();
                println!("requests the emulator saw: {counts:?}");
            }
            client.accounts().delete(id).await?;
            Ok(())
        },
    )
    .await
}
