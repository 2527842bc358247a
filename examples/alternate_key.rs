//! Records found by what they are, not by their id: `cargo run --example alternate_key`.
//!
//! Upserts and reads an account by its account number (an alternate key), shows a key value
//! refused before any request, and updates with optimistic concurrency: the write made with a
//! stale ETag fails with the typed conflict error. Offline on the embedded emulator by default
//! (the sample metadata declares `accountnumber` as the account's alternate key); against a
//! real environment when `DYNAMICS_URL` and the `AZURE_*` variables are set (`--help`), where
//! an alternate key on `account.accountnumber` must have been defined first.

use std::process::ExitCode;

use dynamics_client::{
    Error, Result,
    entity::{AlternateKey, UpsertMode},
};
use dynamics_examples::{Environment, run_example};

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account],
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "alternate_key: upsert and read accounts by account number, and update with ETags.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let accounts = environment.client.accounts();
    let number = format!("DRS-{}", std::process::id());
    let key = AlternateKey::new(Account::ACCOUNTNUMBER, number.as_str())?;

    // Create it if missing (If-None-Match: *), then update it by the same key (If-Match: *).
    let created = accounts
        .upsert_by_key(
            &key,
            &Account {
                name: Some("Northwind (alternate key)".into()),
                ..Default::default()
            },
            UpsertMode::CreateOnly,
        )
        .await;
    if let Err(Error::Api(api)) = &created
        && api.status == 400
    {
        println!("the environment has no alternate key on account.accountnumber: {api}");
        return Ok(());
    }
    created?;
    accounts
        .upsert_by_key(
            &key,
            &Account {
                telephone1: Some("+1 425 555 0177".into()),
                ..Default::default()
            },
            UpsertMode::UpdateOnly,
        )
        .await?;
    let read = accounts
        .retrieve_by_key(&key, (Account::NAME, Account::TELEPHONE1))
        .await?;
    println!(
        "account {number}: {:?}, telephone {:?}",
        read.name.as_deref().unwrap_or_default(),
        read.telephone1.as_deref().unwrap_or_default()
    );

    // Characters Dataverse cannot take in a key URL are refused before any request.
    match AlternateKey::new(Account::ACCOUNTNUMBER, "A/B 50%") {
        Ok(_) => println!("unexpected: the key was accepted"),
        Err(e) => println!("refused: {e}"),
    }

    // Optimistic concurrency: an update with the ETag read earlier fails once someone else
    // has changed the record.
    let id = read.accountid.ok_or_else(|| {
        Error::InvalidInput("the service returned the account without its id".into())
    })?;
    let etag = read.etag.clone().unwrap_or_default();
    accounts
        .update(
            id,
            &Account {
                telephone1: Some("+1 425 555 0178".into()),
                ..Default::default()
            },
        )
        .await?;
    let stale = accounts
        .update_if_match(
            id,
            &Account {
                name: Some("Northwind (overwritten)".into()),
                ..Default::default()
            },
            &etag,
        )
        .await;
    match stale {
        Err(Error::ConcurrencyConflict(e)) => println!("stale ETag refused: {e}"),
        other => println!("unexpected outcome of the stale update: {other:?}"),
    }

    accounts.delete_by_key(&key).await?;
    println!("deleted account {number} by its key.");
    Ok(())
}
