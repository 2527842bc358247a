//! Bulk writes through generated types against the emulator: the bulk operation messages where
//! the metadata binds them, `$batch` where it does not (the v9.1 corpus document binds none),
//! exactly-once creates, the streaming engine's reaction to each service protection limit, and
//! the engine writing JSON records of a table named at run time.
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
    Client, Entity, TokenCredential,
    bulk::BulkEngine,
    bulk::BulkMessages,
    bulk::EngineOptions,
    entity::UpsertMode,
    query::Literal,
    table::{JsonWrite, RecordKey, Table},
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

/// An engine over `client` starting at chunks of `chunk_size` records, `concurrency` in flight.
fn paced(client: Client, chunk_size: usize, concurrency: usize) -> BulkEngine {
    BulkEngine::new(client)
        .options(
            EngineOptions::default()
                .chunk_size(chunk_size)
                .initial_concurrency(concurrency),
        )
        .unwrap()
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
    let engine = paced(client, 10, 2);
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
    let engine = paced(client, 10, 2);
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
    let engine = paced(client, 50, 2);
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
    let engine = paced(client, 5, 6);
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

/// The accounts table named at run time, told what the sample metadata binds to it, as
/// `dynamics data import` tells it: the bulk messages, the logical name and the primary key.
fn bound_accounts() -> Table {
    let metadata =
        dynamics_codegen::csdl::Metadata::from_path(dynamics_test_support::SAMPLE_METADATA)
            .unwrap();
    let account = metadata.entity_type_by_set("accounts").unwrap();
    let messages = metadata
        .bulk_messages(account)
        .into_iter()
        .filter_map(BulkMessages::named)
        .fold(BulkMessages::NONE, BulkMessages::and);
    Table::new("accounts")
        .unwrap()
        .with_bulk_messages(&account.name, account.primary_key().unwrap(), messages)
        .unwrap()
}

/// A create-only write of a new account under `id`, as an import of a row without an id of
/// its own makes it.
fn create_json(id: Uuid, name: &str) -> JsonWrite {
    let mut body = serde_json::Map::new();
    body.insert("name".to_owned(), name.into());
    JsonWrite {
        key: RecordKey::Id(id),
        mode: UpsertMode::CreateOnly,
        body,
    }
}

/// Runs `writes` through `engine` into `table`; every write answered once, in any order.
async fn write_all(
    engine: &BulkEngine,
    table: &Table,
    writes: Vec<JsonWrite>,
) -> Vec<Result<(), String>> {
    let count = writes.len();
    let mut results: Vec<Option<Result<(), String>>> = vec![None; count];
    let mut answers = std::pin::pin!(engine.write_json(table, futures::stream::iter(writes)));
    while let Some((index, result)) = answers.next().await {
        assert!(results[index].is_none(), "write {index} answered twice");
        results[index] = Some(result.map_err(|e| e.to_string()));
    }
    results
        .into_iter()
        .map(|r| r.expect("every write answered"))
        .collect()
}

/// Where the metadata binds `CreateMultiple` (the sample binds it to accounts), run-time
/// writes by id go as that message, `UpdateMultiple` and `UpsertMultiple` likewise; writes by
/// alternate key go through `$batch`. Progress counts them as for typed records.
#[tokio::test]
async fn run_time_writes_use_the_messages_the_metadata_binds() {
    let (emulator, client) = support::start(|b| b).await;
    let table = bound_accounts();
    assert_eq!(
        table.bulk_messages(),
        BulkMessages::CREATE
            .and(BulkMessages::UPDATE)
            .and(BulkMessages::UPSERT)
    );
    let engine = BulkEngine::new(client)
        .options(EngineOptions::default().chunk_size(50))
        .unwrap();
    let ids: Vec<Uuid> = (0..120).map(|_| Uuid::new_v4()).collect();
    let writes = ids
        .iter()
        .enumerate()
        .map(|(i, id)| create_json(*id, &format!("json {i}")))
        .collect();
    let results = write_all(&engine, &table, writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let controls = emulator.controls();
    assert_eq!(
        controls.request_count(CREATE_MULTIPLE),
        3,
        "120 records in chunks of 50"
    );
    assert_eq!(controls.request_count(BATCH), 0);
    assert_eq!(emulator.records("accounts").unwrap().len(), 120);
    assert_eq!(
        emulator.record("accounts", ids[7]).unwrap()["name"],
        "json 7"
    );
    let progress = engine.progress();
    assert_eq!(progress.records_done, 120);
    assert_eq!(progress.records_failed, 0);

    // Update-only writes by id: `UpdateMultiple`.
    let updates = ids[..10]
        .iter()
        .map(|id| {
            let mut write = create_json(*id, "renamed");
            write.mode = UpsertMode::UpdateOnly;
            write
        })
        .collect();
    let results = write_all(&engine, &table, updates).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        controls
            .request_count("POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.UpdateMultiple"),
        1
    );
    assert_eq!(
        emulator.record("accounts", ids[3]).unwrap()["name"],
        "renamed"
    );

    // Upserts by alternate key: no message takes them here, `$batch` does.
    let keyed = (0..3)
        .map(|i| {
            let number = format!("K-{i}");
            let mut body = serde_json::Map::new();
            body.insert("name".to_owned(), format!("keyed {i}").into());
            JsonWrite {
                key: RecordKey::alternate(&[("accountnumber", &number.as_str() as &dyn Literal)])
                    .unwrap(),
                mode: UpsertMode::CreateOrUpdate,
                body,
            }
        })
        .collect();
    let results = write_all(&engine, &table, keyed).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(controls.request_count(BATCH), 1);
    assert_eq!(emulator.records("accounts").unwrap().len(), 123);
}

/// A table told of no bulk message goes through `$batch`, one bad record failing alone; a
/// create-only write of a record that is already there is a conflict.
#[tokio::test]
async fn run_time_writes_fall_back_to_batch_where_nothing_is_bound() {
    let (emulator, client) = support::start(|b| b).await;
    let existing = Uuid::new_v4();
    emulator
        .seed(&serde_json::json!({"accounts": [{"accountid": existing, "name": "there"}]}))
        .unwrap();
    let table = Table::new("accounts").unwrap();
    assert_eq!(table.bulk_messages(), BulkMessages::NONE);
    let engine = BulkEngine::new(client)
        .options(EngineOptions::default().chunk_size(20))
        .unwrap();
    let mut writes: Vec<JsonWrite> = (0..40)
        .map(|i| create_json(Uuid::new_v4(), &format!("batched {i}")))
        .collect();
    writes[5] = create_json(existing, "again");
    let results = write_all(&engine, &table, writes).await;
    let controls = emulator.controls();
    assert_eq!(
        controls.request_count(BATCH),
        2,
        "40 records in chunks of 20"
    );
    assert_eq!(controls.request_count(CREATE_MULTIPLE), 0);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), i == 5, "write {i}: {result:?}");
    }
    assert_eq!(emulator.records("accounts").unwrap().len(), 40);
    assert_eq!(
        emulator.record("accounts", existing).unwrap()["name"],
        "there"
    );
    assert_eq!(engine.progress().records_failed, 1);
}

/// A bound message that fails as a whole (one record already there) is sent again as `$batch`,
/// so only that record fails.
#[tokio::test]
async fn a_run_time_create_multiple_that_fails_is_split_by_batch() {
    let (emulator, client) = support::start(|b| b).await;
    let existing = Uuid::new_v4();
    emulator
        .seed(&serde_json::json!({"accounts": [{"accountid": existing, "name": "there"}]}))
        .unwrap();
    let engine = BulkEngine::new(client)
        .options(EngineOptions::default().chunk_size(10))
        .unwrap();
    let mut writes: Vec<JsonWrite> = (0..10)
        .map(|i| create_json(Uuid::new_v4(), &format!("split {i}")))
        .collect();
    writes[3] = create_json(existing, "again");
    let results = write_all(&engine, &bound_accounts(), writes).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), i == 3, "write {i}: {result:?}");
    }
    let controls = emulator.controls();
    assert_eq!(controls.request_count(CREATE_MULTIPLE), 1);
    assert_eq!(controls.request_count(BATCH), 1);
    assert_eq!(emulator.records("accounts").unwrap().len(), 10);
}

/// A lost answer, then a resend answered 412: the engine reads the records back and reports
/// the creates as done, through the message and through `$batch` alike.
#[tokio::test]
async fn run_time_creates_whose_answer_was_lost_are_each_made_once() {
    for table in [bound_accounts(), Table::new("accounts").unwrap()] {
        let (emulator, client) = support::start(|b| b).await;
        // As above: seed 16 drops the first answer after the request was processed.
        emulator
            .controls()
            .set_fault_mix(FaultMix::new(0.5, 16).kinds([FaultKind::DropAfter]))
            .unwrap();
        // No `WhoAmI` for the hint: the write is the first request the faults meet.
        let engine = BulkEngine::new(client)
            .options(EngineOptions::default().initial_concurrency(1))
            .unwrap();
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        let writes = ids.iter().map(|id| create_json(*id, "once")).collect();
        let results = write_all(&engine, &table, writes).await;
        assert!(results.iter().all(Result::is_ok), "{table:?}: {results:?}");
        assert_eq!(
            emulator.controls().fault_counts().drop_after,
            1,
            "{table:?}"
        );
        assert_eq!(emulator.records("accounts").unwrap().len(), 5, "{table:?}");
    }
}
