//! Typed queries as Dataverse documents them: `cargo run --example aggregate`.
//!
//! Creates a few accounts with tasks, then asks for: revenue by industry (`$apply`), the
//! accounts created in the last 30 days (`LastXDays`), the caller's own accounts
//! (`EqualUserId`), the accounts that have an open task (an `any` lambda) and one account's
//! name alone (a single-property read); then deletes what it created. Offline on the embedded
//! emulator by default; against a real environment when `DYNAMICS_URL` and the `AZURE_*`
//! variables are set (`--help`).
//!
//! Microsoft's pages for each: aggregation
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>,
//! query functions and lambdas
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows>,
//! single-property reads
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api>.

use std::process::ExitCode;

use dynamics_client::{
    Query, Result,
    query::{Aggregate, Apply, Related},
};
use dynamics_examples::{Environment, run_example};
use serde::Deserialize;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account, task],
}

/// The accounts' tasks: the collection-valued navigation property `Account_Tasks`, a constant
/// the macro generates from the metadata.
const TASKS: Related<Account, Task> = Account::ACCOUNT_TASKS;

/// One row of "revenue by industry", named by the caller: the grouped column and the
/// aggregates' aliases.
#[derive(Debug, Deserialize)]
struct IndustryRevenue {
    industrycode: Option<i32>,
    total: Option<f64>,
    accounts: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "aggregate: $apply, query functions, an any() lambda and a single-property read.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;
    let accounts = client.accounts();
    let tag = format!("dynamics-rs aggregate {}", std::process::id());

    let mut created = Vec::new();
    for (i, (industry, revenue)) in [(1, 120_000), (1, 80_000), (2, 45_000), (3, 300_000)]
        .into_iter()
        .enumerate()
    {
        let account = Account {
            name: Some(format!("{tag} #{i}")),
            industrycode: Some(industry),
            revenue: Some(revenue.into()),
            ..Default::default()
        };
        created.push(accounts.create(&account).await?);
    }
    let mut task = Task {
        subject: Some(format!("{tag} follow-up")),
        ..Default::default()
    };
    task.set_regardingobjectid(TaskRegardingobjectid::Account(created[0]));
    let task = client.entity_set::<Task>().create(&task).await?;
    println!("created {} accounts and a task", created.len());

    // Revenue by industry, computed by the service.
    let ours = Account::NAME.starts_with(&tag);
    let by_industry = Apply::new()
        .filter(ours.clone())
        .group_by(Account::INDUSTRYCODE)
        .aggregate(Account::REVENUE.sum().alias("total"))
        .aggregate(Aggregate::count().alias("accounts"));
    let rows: Vec<IndustryRevenue> = accounts.apply(&by_industry).await?;
    for row in &rows {
        println!(
            "industry {:?}: {} accounts, revenue {:?}",
            row.industrycode, row.accounts, row.total
        );
    }

    let names = |query: Query<Account>| async move {
        let page = accounts
            .query(&query.select(Account::NAME).order_by(Account::NAME.asc()))
            .await?;
        Ok::<_, dynamics_client::Error>(page.items.len())
    };
    // Created in the last 30 days (the service's clock; the emulator reads dates in UTC).
    let recent = names(
        Query::new()
            .filter(ours.clone())
            .filter(Account::CREATEDON.last_x_days(30)),
    )
    .await?;
    println!("created in the last 30 days: {recent}");
    // Owned by the caller.
    let mine = names(
        Query::new()
            .filter(ours.clone())
            .filter(Account::OWNERID.equal_user_id()),
    )
    .await?;
    println!("owned by me: {mine}");
    // With at least one open task.
    let busy = names(
        Query::new()
            .filter(ours.clone())
            .filter(TASKS.any(|t| t.col(Task::STATECODE).eq(0))),
    )
    .await?;
    println!("with an open task: {busy}");

    let name = accounts.retrieve_value(created[0], Account::NAME).await?;
    println!("the first account's name alone: {name:?}");

    client.entity_set::<Task>().delete(task).await?;
    for id in created {
        accounts.delete(id).await?;
    }
    println!("deleted what the example created");
    Ok(())
}
