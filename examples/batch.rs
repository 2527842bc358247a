//! Many requests in one round trip: `cargo run --example batch`.
//!
//! A change set creates an account and a contact that points at it (through the account's
//! `Content-ID`) and renames the account, all or nothing; a read runs beside it in the same
//! `$batch`. A failing change set leaves nothing behind. Then bulk helpers create and delete
//! a hundred accounts in batches, each result matched to its input. Offline on the embedded
//! emulator by default; against a real environment when `DYNAMICS_URL` and the `AZURE_*`
//! variables are set (`--help`).

use std::process::ExitCode;

use dynamics_client::{Batch, BulkOptions, Query, Result};
use dynamics_examples::{Environment, run_example};

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account, contact],
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "batch: change sets with Content-ID references, and bulk writes in batches.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;
    let tag = format!("dynamics-rs batch {}", std::process::id());

    // One change set: account, contact linked to it by `$n`, then a rename of the account.
    let mut batch = Batch::new();
    let (account, contact) = {
        let mut changes = batch.change_set();
        let account = changes.create(&Account {
            name: Some(format!("Fabrikam ({tag})")),
            ..Default::default()
        })?;
        let contact = changes.create_linked(
            &Contact {
                lastname: Some(format!("Batch ({tag})")),
                ..Default::default()
            },
            &[("parentcustomerid_account", account.reference)],
        )?;
        changes.update_created(
            account.reference,
            &Account {
                telephone1: Some("+1 425 555 0142".into()),
                ..Default::default()
            },
        )?;
        (account, contact)
    };
    // A read outside the change set, in the same round trip.
    let count = batch.query(
        &Query::<Account>::new()
            .select(Account::NAME)
            .filter(Account::NAME.eq(format!("Fabrikam ({tag})"))),
    )?;
    let reply = client.execute_batch(&batch).await?;
    let account_id = reply.get(account.id)?;
    let contact_id = reply.get(contact.id)?;
    println!(
        "change set: account {account_id}, contact {contact_id}; the read beside it saw {} account(s)",
        reply.get(count)?.items.len()
    );
    let read = client
        .contacts()
        .retrieve_columns(contact_id, Contact::PARENTCUSTOMERID)
        .await?;
    println!(
        "the contact's parent customer is the new account: {}",
        read.parentcustomerid == Some(account_id)
    );

    // A change set that fails half-way is rolled back whole.
    let mut batch = Batch::new();
    let (doomed, failing) = {
        let mut changes = batch.change_set();
        let doomed = changes.create(&Account {
            name: Some(format!("Never stored ({tag})")),
            ..Default::default()
        })?;
        let failing = changes.update(
            dynamics_client::__private::uuid::Uuid::new_v4(),
            &Account {
                name: Some("no such record".into()),
                ..Default::default()
            },
        )?;
        (doomed, failing)
    };
    // Dataverse answers the failed change set with the failing response alone: that handle
    // gives the service's error, the other members say they were rolled back.
    let reply = client.execute_batch(&batch).await?;
    match reply.get(failing) {
        Ok(()) => println!("unexpected: the update of a missing record succeeded"),
        Err(e) => println!("failed change set, the failing request: {e}"),
    }
    match reply.get(doomed.id) {
        Ok(id) => println!("unexpected: the first create of the failed change set kept {id}"),
        Err(e) => println!("failed change set, the other request: {e}"),
    }

    // Bulk: 100 accounts in batches of 25, two batches in flight, results in input order.
    let names: Vec<String> = (0..100).map(|i| format!("Bulk {i:03} ({tag})")).collect();
    let options = BulkOptions::default().batch_size(25).concurrency(2);
    let results = client
        .bulk_create(
            names.iter().map(|name| Account {
                name: Some(name.clone()),
                ..Default::default()
            }),
            &options,
        )
        .await?;
    let created: Vec<_> = results.into_iter().collect::<Result<_>>()?;
    println!("bulk created {} accounts", created.len());
    let deleted = client.bulk_delete::<Account, _>(created, &options).await?;
    println!(
        "bulk deleted {} accounts",
        deleted.iter().filter(|r| r.is_ok()).count()
    );

    client.contacts().delete(contact_id).await?;
    client.accounts().delete(account_id).await?;
    println!("cleaned up.");
    Ok(())
}
