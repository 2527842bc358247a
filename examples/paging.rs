//! Reading a large result page by page: `cargo run --example paging`.
//!
//! Creates a few hundred accounts (in batches), then reads them back as one stream of records
//! that follows `@odata.nextLink` with a fixed page size, holding one page at a time; counts
//! them past the 5,000 cap of `$count` the same way; and deletes them again. Offline on the
//! embedded emulator by default; against a real environment when `DYNAMICS_URL` and the
//! `AZURE_*` variables are set (`--help`).

use std::process::ExitCode;

use dynamics_client::{Query, Result, batch::BulkOptions};
use dynamics_examples::{Environment, run_example};
use futures::TryStreamExt as _;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account],
}

/// Accounts created for the run; enough for several pages.
const RECORDS: usize = 230;
/// Records per page (`Prefer: odata.maxpagesize`).
const PAGE_SIZE: u32 = 50;

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "paging: stream every record of a query, one page at a time, and count past $count's cap.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;
    let tag = format!("dynamics-rs paging {}", std::process::id());

    let records = (0..RECORDS).map(|i| Account {
        name: Some(format!("{tag} #{i:03}")),
        ..Default::default()
    });
    let created: Vec<_> = client
        .bulk_create(records, &BulkOptions::default().batch_size(100))
        .await?
        .into_iter()
        .collect::<Result<_>>()?;
    println!("created {} accounts in batches of 100", created.len());

    // Every matching record, in name order, PAGE_SIZE at a time.
    let query = Query::new()
        .select(Account::NAME)
        .filter(Account::NAME.starts_with(&tag))
        .order_by(Account::NAME.asc())
        .page_size(PAGE_SIZE);
    let mut pages = std::pin::pin!(client.accounts().pages(query.clone()));
    let mut number = 0;
    while let Some(page) = pages.try_next().await? {
        number += 1;
        let first = page
            .items
            .first()
            .and_then(|a| a.name.as_deref())
            .unwrap_or("-");
        println!(
            "page {number}: {} records, from {first:?}",
            page.items.len()
        );
    }

    // The same as a stream of records: memory stays at one page however long the result.
    let mut read = 0usize;
    let mut records = std::pin::pin!(client.accounts().stream(query.clone()));
    while let Some(account) = records.try_next().await? {
        if account.name.is_some() {
            read += 1;
        }
    }
    println!("streamed {read} records");

    // `$count` stops at 5,000; count_all pages through the keys instead.
    let counted = client.accounts().count_all(query).await?;
    println!("count_all: {counted} records");

    let deleted = client
        .bulk_delete::<Account, _>(created, &BulkOptions::default().batch_size(100))
        .await?;
    let failed = deleted.iter().filter(|r| r.is_err()).count();
    println!(
        "deleted {} accounts ({failed} failed)",
        deleted.len() - failed
    );
    Ok(())
}
