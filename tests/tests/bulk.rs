//! Bulk writes through generated types against the emulator: the bulk operation messages where
//! the metadata binds them, `$batch` where it does not (the v9.1 corpus document binds none),
//! exactly-once creates, and the streaming engine's reaction to each service protection limit.
//!
//! Sources: "Use bulk operation messages"
//! <https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>;
//! "Service protection API limits"
//! <https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dynamics_client::__private::uuid::Uuid;
use dynamics_client::{
    Client, Entity, TokenCredential, bulk::BulkEngine, bulk::BulkMessages, bulk::EngineOptions,
};
use dynamics_emulator::{FaultKind, FaultMix, ServerCost, ServiceProtection, TestCertificate};
use dynamics_tests::built::Account;
use futures::StreamExt as _;

mod support;

const CREATE_MULTIPLE: &str = "POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.CreateMultiple";
const BATCH: &str = "POST /api/data/v9.2/$batch";

fn named(name: &str) -> Account {
    Account {
        name: Some(name.to_owned()),
        ..Account::default()
    }
}

#[tokio::test]
async fn messages_are_used_where_the_metadata_binds_them() {
    assert_eq!(
        Account::BULK_MESSAGES,
        BulkMessages::CREATE
            .and(BulkMessages::UPDATE)
            .and(BulkMessages::UPSERT)
    );
    let (emulator, client) = support::start(|b| b).await;
    let accounts = client.entity_set::<Account>();
    let chosen = Uuid::new_v4();
    let mut second = named("second");
    second.accountid = Some(chosen);
    let ids: Vec<Uuid> = accounts
        .create_multiple([named("first"), second, named("third")])
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids[1], chosen);
    let controls = emulator.controls();
    assert_eq!(controls.request_count(CREATE_MULTIPLE), 1);
    assert_eq!(controls.request_count(BATCH), 0);
    for (id, name) in ids.iter().zip(["first", "second", "third"]) {
        assert_eq!(emulator.record("accounts", *id).unwrap()["name"], name);
    }

    let updated = accounts
        .update_multiple(ids.iter().map(|id| (*id, named("renamed"))))
        .await
        .unwrap();
    assert!(updated.iter().all(Result::is_ok));
    let fresh = Uuid::new_v4();
    let upserted = accounts
        .upsert_multiple([(ids[0], named("upserted")), (fresh, named("new"))])
        .await
        .unwrap();
    assert!(upserted.iter().all(Result::is_ok));
    assert_eq!(
        controls
            .request_count("POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.UpdateMultiple"),
        1
    );
    assert_eq!(
        emulator.record("accounts", ids[2]).unwrap()["name"],
        "renamed"
    );
    assert_eq!(emulator.record("accounts", fresh).unwrap()["name"], "new");

    // The sample binds no DeleteMultiple (Dataverse binds it to elastic tables only): $batch.
    let deleted = accounts.delete_multiple(ids.clone()).await.unwrap();
    assert!(deleted.iter().all(Result::is_ok));
    assert_eq!(controls.request_count(BATCH), 1);
    assert_eq!(emulator.records("accounts").unwrap().len(), 1);
}

#[tokio::test]
async fn a_create_multiple_whose_answer_was_lost_creates_each_record_once() {
    let (emulator, client) = support::start(|b| b).await;
    // Seed 16 drops the first answer after the request was processed, then serves the next.
    emulator
        .controls()
        .set_fault_mix(FaultMix::new(0.5, 16).kinds([FaultKind::DropAfter]))
        .unwrap();
    let results = client
        .entity_set::<Account>()
        .create_multiple((0..5).map(|i| named(&format!("once {i}"))))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(emulator.controls().fault_counts().drop_after, 1);
    assert_eq!(emulator.controls().request_count(CREATE_MULTIPLE), 2);
    assert_eq!(emulator.records("accounts").unwrap().len(), 5);
}

/// A v9.1 environment binds none of the messages: every bulk write goes through `$batch`.
#[cfg(dynamics_corpus)]
#[tokio::test]
async fn the_v9_1_corpus_document_falls_back_to_batch() {
    use dynamics_tests::corpus::corpus_0::Account as OldAccount;
    assert_eq!(OldAccount::BULK_MESSAGES, BulkMessages::NONE);
    let corpus = std::env::var("DYNAMICS_METADATA_CORPUS").unwrap();
    let document = format!("{corpus}/dataverse-v9.1-crm4-davidmoten-odata-client.xml");
    let (emulator, client) = support::start(|b| b.metadata_file(&document)).await;
    let records = (0..3).map(|i| OldAccount {
        name: Some(format!("old {i}")),
        ..OldAccount::default()
    });
    let results = client
        .entity_set::<OldAccount>()
        .create_multiple(records)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let controls = emulator.controls();
    assert_eq!(controls.request_count(BATCH), 1);
    assert_eq!(controls.request_count(CREATE_MULTIPLE), 0);
    assert_eq!(emulator.records("accounts").unwrap().len(), 3);
    // The emulator, given the same document, does not serve the message either.
    let ids: Vec<Uuid> = results.into_iter().map(Result::unwrap).collect();
    let deleted = client
        .entity_set::<OldAccount>()
        .delete_multiple(ids)
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok));
    assert!(emulator.records("accounts").unwrap().is_empty());
}

/// Runs `count` creates through `engine` and checks each record was created exactly once.
async fn load(emulator: &dynamics_emulator::Emulator, engine: &BulkEngine, count: usize) {
    let records = futures::stream::iter((0..count).map(|i| named(&format!("record {i}"))));
    let mut seen = vec![false; count];
    let mut results = std::pin::pin!(engine.create(records));
    while let Some((index, result)) = results.next().await {
        result.unwrap_or_else(|e| panic!("record {index}: {e}"));
        assert!(!seen[index], "record {index} answered twice");
        seen[index] = true;
    }
    assert!(seen.iter().all(|s| *s));
    assert_eq!(emulator.records("accounts").unwrap().len(), count);
    let progress = engine.progress();
    assert_eq!(progress.records_done, count as u64);
    assert_eq!(progress.records_failed, 0);
}

/// A client over two application users is one identity pool, and the engine runs a lane for each:
/// each identity is paced by its own service protection limits, which Dataverse counts per user
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#how-service-protection-api-limits-are-enforced>).
#[tokio::test]
async fn the_engine_runs_a_lane_for_each_identity_of_the_clients_pool() {
    const SECOND_APP: &str = "8e2c4b1a-7d35-4f60-9a1b-2c3d4e5f6a7b";
    let second = TestCertificate::generate("CN=second identity").unwrap();
    let env = dynamics_test_support::emulated::start_with(|b| {
        b.register_app(SECOND_APP, &second)
            .service_protection(ServiceProtection::new(
                6000,
                Duration::from_secs(1200),
                Duration::from_secs(300),
                52,
            ))
    })
    .await
    .unwrap();
    let first: Arc<dyn TokenCredential> = Arc::new(env.credential().unwrap());
    let other: Arc<dyn TokenCredential> = Arc::new(
        env.credential_with(
            env.emulator.tenant_id(),
            SECOND_APP,
            &second,
            env.credential_options(),
        )
        .unwrap(),
    );
    let client = Client::builder(env.emulator.environment_url())
        .credentials([first, other])
        .build()
        .unwrap();
    let engine = BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size(10)
                .initial_concurrency(2),
        )
        .unwrap();
    load(&env.emulator, &engine, 200).await;
    let progress = engine.progress();
    assert_eq!(progress.identities.len(), 2, "{progress:?}");
    assert!(
        progress
            .identities
            .iter()
            .all(|pace| pace.peak_in_flight > 0),
        "each identity carried chunks: {progress:?}"
    );
}

#[tokio::test]
async fn the_engine_grows_its_chunks_when_the_request_count_limit_bites() {
    let (emulator, client) = support::start(|b| {
        b.service_protection(ServiceProtection::new(
            4,
            Duration::from_secs(1200),
            Duration::from_secs(2),
            52,
        ))
    })
    .await;
    let engine = BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size(10)
                .initial_concurrency(2),
        )
        .unwrap();
    load(&emulator, &engine, 200).await;
    let pace = &engine.progress().identities[0];
    assert!(pace.throttles.requests > 0, "{pace:?}");
    assert!(pace.chunk_size > 10, "{pace:?}");
    assert!(engine.progress().throttle_wait > Duration::ZERO);
}

#[tokio::test]
async fn the_engine_shrinks_its_chunks_when_the_execution_time_limit_bites() {
    let (emulator, client) = support::start(|b| {
        b.service_protection(ServiceProtection::new(
            6000,
            Duration::from_secs(2),
            Duration::from_secs(3),
            52,
        ))
        .server_cost(ServerCost::new(
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_millis(20),
        ))
    })
    .await;
    let engine = BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size(50)
                .initial_concurrency(2),
        )
        .unwrap();
    load(&emulator, &engine, 300).await;
    let pace = &engine.progress().identities[0];
    assert!(pace.throttles.execution_time > 0, "{pace:?}");
    assert!(pace.chunk_size < 50, "{pace:?}");
}

#[tokio::test]
async fn the_engine_stays_under_the_concurrency_limit_once_it_bites() {
    let (emulator, client) = support::start(|b| {
        b.service_protection(ServiceProtection::new(
            6000,
            Duration::from_secs(1200),
            Duration::from_secs(300),
            2,
        ))
        .server_cost(ServerCost::new(
            Duration::from_millis(200),
            Duration::ZERO,
            Duration::ZERO,
        ))
    })
    .await;
    let engine = BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size(5)
                .initial_concurrency(6),
        )
        .unwrap();
    load(&emulator, &engine, 100).await;
    let pace = &engine.progress().identities[0];
    assert!(pace.throttles.concurrent_requests > 0, "{pace:?}");
    assert!(pace.concurrency <= 2, "{pace:?}");
}

#[tokio::test]
async fn the_engine_never_has_more_than_52_requests_in_flight() {
    let (emulator, client) = support::start(|b| {
        b.service_protection(ServiceProtection::DATAVERSE)
            .server_cost(ServerCost::new(
                Duration::from_millis(300),
                Duration::ZERO,
                Duration::ZERO,
            ))
    })
    .await;
    let engine = BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size_range(1, 1)
                .initial_concurrency(80)
                .max_concurrency(80),
        )
        .unwrap();
    load(&emulator, &engine, 120).await;
    let pace = &engine.progress().identities[0];
    assert_eq!(pace.peak_in_flight, 52, "{pace:?}");
    assert_eq!(pace.throttles.concurrent_requests, 0, "{pace:?}");
}

#[tokio::test]
async fn the_engine_starts_from_the_dop_hint_and_reads_its_input_lazily() {
    let (emulator, client) = support::start(|b| b).await;
    let engine = BulkEngine::new(client)
        .options(EngineOptions::default().chunk_size_range(10, 10))
        .unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let records = futures::stream::iter(0..10_000).map(move |i| {
        counter.fetch_add(1, Ordering::Relaxed);
        named(&format!("lazy {i}"))
    });
    let mut results = std::pin::pin!(engine.create(records));
    let mut got = 0;
    while let Some((_, result)) = results.next().await {
        result.unwrap();
        got += 1;
        // What is read but not answered yet is bounded by concurrency × chunk size.
        let pace = &engine.progress().identities[0];
        let read_ahead = pulled.load(Ordering::Relaxed) - got;
        assert!(read_ahead <= pace.concurrency.max(pace.peak_in_flight) * 10 + 10);
        if got == 200 {
            break;
        }
    }
    // The emulator advises `x-ms-dop-hint: 4`: the first chunks went out four at a time.
    assert!(pulled.load(Ordering::Relaxed) < 1_000);
    assert!(engine.progress().identities[0].peak_in_flight >= 4);
    assert!(emulator.records("accounts").unwrap().len() >= 200);
}
