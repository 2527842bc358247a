//! `$batch` and bulk writes against dynamics-emulator, and the retry of throttled batch
//! requests against a scripted stub (the emulator throttles whole requests only).

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dynamics_client::{
    Client, Error, Query,
    batch::{Batch, BulkOptions},
    clock::ManualClock,
    entity::UpsertMode,
    error::BatchError,
};
use support::emulated::start;
use support::stub::{Reply, Stub, token_json};
use support::{Account, Contact, CountingCredential, named};
use uuid::Uuid;

#[tokio::test]
async fn change_set_with_references_and_reads_outside_it() {
    let env = start().await;
    let (client, _) = env.client();
    let existing = client.create(&named("Existing")).await.unwrap();

    let mut batch = Batch::new();
    let (account, contact, renamed) = {
        let mut changes = batch.change_set();
        let account = changes.create(&named("Batched")).unwrap();
        let contact = changes
            .create_linked(
                &Contact {
                    lastname: Some("Linked".into()),
                    ..Contact::default()
                },
                &[("parentcustomerid_account", account.reference)],
            )
            .unwrap();
        let renamed = changes
            .update_created(account.reference, &named("Batched and renamed"))
            .unwrap();
        (account, contact, renamed)
    };
    let read = batch.retrieve::<Account>(existing, &["name"]).unwrap();
    let query = batch
        .query(
            &Query::<Account>::new()
                .filter(dynamics_client::Column::<Account, String>::new("name").eq("Existing")),
        )
        .unwrap();
    let who = batch.raw(reqwest::Method::GET, "WhoAmI()", None).unwrap();
    assert_eq!(batch.len(), 6);
    let reply = client.execute_batch(&batch).await.unwrap();
    assert!(reply.all_succeeded(), "{:?}", reply.statuses());
    let account_id = reply.get(account.id).unwrap();
    let contact_id = reply.get(contact.id).unwrap();
    reply.get(renamed).unwrap();
    assert_eq!(reply.get(read).unwrap().name.as_deref(), Some("Existing"));
    assert_eq!(reply.get(query).unwrap().items.len(), 1);
    assert!(reply.get(who).unwrap()["UserId"].is_string());

    let stored = env.emulator.record("contacts", contact_id).unwrap();
    assert_eq!(stored["_parentcustomerid_value"], account_id.to_string());
    let stored = env.emulator.record("accounts", account_id).unwrap();
    assert_eq!(stored["name"], "Batched and renamed");
}

#[tokio::test]
async fn a_failing_change_set_is_rolled_back_whole() {
    let env = start().await;
    let (client, _) = env.client();
    let mut batch = Batch::new();
    let (first, missing) = {
        let mut changes = batch.change_set();
        let first = changes.create(&named("Rolled back")).unwrap();
        let missing = changes.update(Uuid::new_v4(), &named("Nobody")).unwrap();
        (first, missing)
    };
    let after = batch.create(&named("After")).unwrap();
    let reply = client.execute_batch(&batch).await.unwrap();
    assert!(matches!(reply.get(missing), Err(Error::NotFound(_))));
    let err = reply.get(first.id).unwrap_err();
    assert!(
        matches!(&err, Error::Batch(e) if **e == BatchError::RolledBack { request: 0, failed: 1 }),
        "{err:?}"
    );
    // Without continue-on-error, nothing after the failure runs.
    let err = reply.get(after).unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    assert!(env.emulator.records("accounts").unwrap().is_empty());

    // With it, the rest runs.
    batch.continue_on_error(true);
    let reply = client.execute_batch(&batch).await.unwrap();
    assert!(reply.get(missing).is_err());
    let after_id = reply.get(after).unwrap();
    let names: Vec<_> = env
        .emulator
        .records("accounts")
        .unwrap()
        .into_iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["After"]);
    assert!(env.emulator.record("accounts", after_id).is_some());
}

#[tokio::test]
async fn a_throttled_batch_waits_and_is_sent_again() {
    let env = start().await;
    let (client, clock) = env.client();
    env.emulator
        .controls()
        .throttle_next(1, Duration::from_secs(9));
    let mut batch = Batch::new();
    let created = batch.create(&named("After throttling")).unwrap();
    let reply = client.execute_batch(&batch).await.unwrap();
    reply.get(created).unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(9)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_writes_map_every_result_to_its_input() {
    let env = start().await;
    let (client, _) = env.client();
    let too_long = "x".repeat(200);
    let names: Vec<String> = (0..2_500)
        .map(|i| {
            if i == 1_234 {
                too_long.clone()
            } else {
                format!("Bulk {i:04}")
            }
        })
        .collect();
    env.emulator.controls().reset_counts();
    let options = BulkOptions::default().batch_size(1000).concurrency(2);
    let ids = client
        .bulk_create(names.iter().map(|n| named(n)), &options)
        .await
        .unwrap();
    assert_eq!(ids.len(), names.len());
    assert_eq!(env.emulator.controls().request_counts().api, 3);
    for (i, id) in ids.iter().enumerate() {
        match id {
            Ok(id) => {
                let stored = env.emulator.record("accounts", *id).unwrap();
                assert_eq!(stored["name"], names[i].as_str());
            }
            Err(Error::Api(api)) if i == 1_234 => assert_eq!(api.status, 400),
            Err(e) => panic!("record {i}: {e}"),
        }
    }

    let created: Vec<Uuid> = ids.into_iter().filter_map(Result::ok).collect();
    let updates = created.iter().map(|id| (*id, named("Updated")));
    let updated = client
        .bulk_update(updates, &options.clone().batch_size(700))
        .await
        .unwrap();
    assert!(updated.iter().all(Result::is_ok));
    let upserted = client
        .bulk_upsert(
            [
                (Uuid::new_v4(), named("Upserted")),
                (created[0], named("Again")),
            ],
            UpsertMode::CreateOrUpdate,
            &options,
        )
        .await
        .unwrap();
    assert!(upserted.iter().all(Result::is_ok));
    let mut ids = created.clone();
    ids.push(Uuid::new_v4());
    let deleted = client
        .bulk_delete::<Account, _>(ids, &options)
        .await
        .unwrap();
    assert!(deleted[..created.len()].iter().all(Result::is_ok));
    assert!(matches!(deleted.last(), Some(Err(Error::NotFound(_)))));
    assert_eq!(env.emulator.records("accounts").unwrap().len(), 1);

    let err = client
        .bulk_delete::<Account, _>([Uuid::nil()], &BulkOptions::default().batch_size(1001))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
}

/// The stub answers the first `$batch` with its second request throttled, then all 204.
#[tokio::test]
async fn only_throttled_batch_requests_are_sent_again() {
    let (stub, calls) = stub_throttling_one_batch_request("7").await;
    let (client, clock) = client_on_virtual_time(&stub.url);
    let ids = client
        .bulk_create(
            [named("a"), named("b"), named("c")],
            &BulkOptions::default(),
        )
        .await
        .unwrap();
    let ids: Vec<Uuid> = ids.into_iter().map(Result::unwrap).collect();
    assert_eq!(clock.sleeps(), [Duration::from_secs(7)]);
    let batches = stub.requests_to("$batch");
    assert_eq!(batches.len(), 2);
    // Bulk creates are create-only upserts under ids chosen by the client: a and c went out
    // in the first batch, b (throttled there) again in the second.
    for (id, batch) in ids.iter().zip([0, 1, 0]) {
        let url = format!("PATCH /api/data/v9.2/accounts({id}) HTTP/1.1");
        assert!(batches[batch].body.contains(&url), "{url}");
    }
    assert!(batches[0].body.contains(&format!("accounts({})", ids[1])));
    assert_eq!(batches[0].body.matches("If-None-Match: *").count(), 3);
    assert_eq!(
        batches[1]
            .body
            .matches("Content-Type: application/http")
            .count(),
        1
    );
    assert!(batches[1].body.contains("{\"name\":\"b\"}"));
    assert_eq!(batches[0].header("Prefer"), Some("odata.continue-on-error"));

    // Out of retries: the throttled request's result is the throttling error.
    calls.store(0, Ordering::SeqCst);
    let results = client
        .bulk_create(
            [named("a"), named("b")],
            &BulkOptions::default().throttle_retries(0),
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(
        matches!(&results[1], Err(Error::Throttled(t)) if t.retry_after == Some(Duration::from_secs(7)))
    );
}

#[tokio::test]
async fn malformed_batch_replies_are_clear_errors() {
    let stub = Stub::start(|request| {
        if request.path.ends_with("/token") {
            return Reply::json(200, token_json("t"));
        }
        Reply::new(200)
            .header("Content-Type", "multipart/mixed; boundary=b")
            .body("--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 2O4 No Content\r\n\r\n--b--\r\n")
    })
    .await;
    let client = stub.client();
    let mut batch = Batch::new();
    batch.delete::<Account>(Uuid::nil()).unwrap();
    let err = client.execute_batch(&batch).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("not an HTTP status line"), "{text}");
}

/// A stub whose first `$batch` (after `calls` is set back to 0, the next one) has its second
/// request throttled with `Retry-After: retry_after`, and that answers everything else with
/// success; it counts the requests it gets.
async fn stub_throttling_one_batch_request(retry_after: &str) -> (Stub, Arc<AtomicUsize>) {
    let retry_after = retry_after.to_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let stub = Stub::start(move |request| {
        if request.path.ends_with("/token") {
            return Reply::json(200, token_json("t"));
        }
        let call = seen.fetch_add(1, Ordering::SeqCst);
        if !request.path.ends_with("$batch") {
            return Reply::json(200, r#"{"value":[]}"#.to_owned());
        }
        let parts = request.body.matches("Content-Type: application/http").count();
        let mut body = String::new();
        for part in 0..parts {
            body.push_str("--batchresponse_s\r\nContent-Type: application/http\r\n\r\n");
            if call == 0 && part == 1 {
                body.push_str(&format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Type: application/json\r\n\r\n\
                     {{\"error\":{{\"code\":\"0x80072322\",\"message\":\"Number of requests exceeded the limit\"}}}}\r\n",
                ));
            } else {
                body.push_str(&format!(
                    "HTTP/1.1 204 No Content\r\nOData-EntityId: http://x/api/data/v9.2/accounts(00000000-0000-0000-0000-00000000000{})\r\n\r\n\r\n",
                    call * 3 + part
                ));
            }
        }
        body.push_str("--batchresponse_s--\r\n");
        Reply::new(200)
            .header("Content-Type", "multipart/mixed; boundary=batchresponse_s")
            .body(body)
    })
    .await;
    (stub, calls)
}

fn client_on_virtual_time(url: &str) -> (Client, Arc<ManualClock>) {
    client_on_clock(url, ManualClock::default())
}

fn client_on_clock(url: &str, clock: ManualClock) -> (Client, Arc<ManualClock>) {
    let clock = Arc::new(clock);
    let client = Client::builder(url)
        .credential(CountingCredential::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    (client, clock)
}

/// A throttled request inside a batch the caller sends itself: the batch succeeds with that
/// request's error, and the client sends nothing more before `Retry-After` has passed.
#[tokio::test]
async fn a_throttled_request_in_a_batch_holds_back_the_next_request() {
    let (stub, _) = stub_throttling_one_batch_request("9").await;
    let (client, clock) = client_on_virtual_time(&stub.url);
    let mut batch = Batch::new();
    batch.continue_on_error(true);
    let first = batch.create(&named("a")).unwrap();
    let second = batch.create(&named("b")).unwrap();
    let reply = client.execute_batch(&batch).await.unwrap();
    reply.get(first).unwrap();
    let err = reply.get(second).unwrap_err();
    assert!(matches!(err, Error::Throttled(_)), "{err}");
    assert!(clock.sleeps().is_empty());

    client.query_raw::<Account>("$top=1").await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(9)]);
}

/// Issue 22, item 4, on the `$batch` path: one request of a batch throttled with
/// `Retry-After: 1000000000` closed the client's gate for that long. It now closes for at most
/// the retry budget: calls that cannot afford the server's wait fail at once without being
/// sent, and once the budget has passed requests go again.
#[tokio::test]
async fn a_huge_retry_after_in_a_batch_holds_the_client_back_for_the_budget_only() {
    let (stub, calls) = stub_throttling_one_batch_request("1000000000").await;
    let (client, clock) = client_on_virtual_time(&stub.url);
    let mut batch = Batch::new();
    batch.continue_on_error(true);
    batch.create(&named("a")).unwrap();
    let second = batch.create(&named("b")).unwrap();
    let reply = client.execute_batch(&batch).await.unwrap();
    assert!(matches!(reply.get(second), Err(Error::Throttled(_))));
    let held = client.query_raw::<Account>("$top=1").await.unwrap_err();
    assert!(matches!(held, Error::Throttled(_)), "{held}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the held call was not sent"
    );
    clock.advance(dynamics_client::retry::RetryPolicy::default().max_elapsed);
    client.query_raw::<Account>("$top=1").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
}

/// Out of re-sends, a bulk write reports the throttled request as failed, and still keeps the
/// client's next request back until `Retry-After` has passed.
#[tokio::test]
async fn a_bulk_write_out_of_resends_still_holds_back_the_next_request() {
    let (stub, calls) = stub_throttling_one_batch_request("9").await;
    let (client, clock) = client_on_virtual_time(&stub.url);
    let results = client
        .bulk_create(
            [named("a"), named("b"), named("c")],
            &BulkOptions::default().throttle_retries(0),
        )
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(
        matches!(results[1], Err(Error::Throttled(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(clock.sleeps().is_empty());

    client.query_raw::<Account>("$top=1").await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(9)]);
}

/// A `Retry-After` date inside a batch is read on the client's clock, as the pipeline reads one
/// on an answer of its own: here that clock is years ahead of the machine's.
#[tokio::test]
async fn a_retry_after_date_in_a_batch_is_read_on_the_clients_clock() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let date = time::OffsetDateTime::from(start + Duration::from_secs(42))
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let (stub, _) = stub_throttling_one_batch_request(&date).await;
    let (client, clock) = client_on_clock(&stub.url, ManualClock::starting_at(start));
    let mut batch = Batch::new();
    batch.continue_on_error(true);
    batch.create(&named("a")).unwrap();
    let second = batch.create(&named("b")).unwrap();
    let reply = client.execute_batch(&batch).await.unwrap();
    match reply.get(second) {
        Err(Error::Throttled(t)) => assert_eq!(t.retry_after, Some(Duration::from_secs(42))),
        other => panic!("expected throttling, got {other:?}"),
    }

    client.query_raw::<Account>("$top=1").await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(42)]);
}
