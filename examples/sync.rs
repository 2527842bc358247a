//! Keeping another system in step with Dataverse: `cargo run --example sync`.
//!
//! Change tracking reads a table's records once, then only what changed since: created and
//! updated records, and the ids of deleted ones. This example keeps a replica of the accounts
//! (a map here, a database or a search index in a real service): a first sync fills it, some
//! records are created, changed and deleted, and a second sync brings the replica up to date
//! from the delta link the first one left. Offline on the embedded emulator by default;
//! against a real environment when `DYNAMICS_URL` and the `AZURE_*` variables are set
//! (`--help`), where change tracking must be enabled on the account table and the replica
//! holds every account of the environment.

use std::collections::HashMap;
use std::process::ExitCode;

use dynamics_client::{
    Error, Result,
    changes::{Change, DeltaLink},
};
use dynamics_examples::{Environment, run_example};
use futures::TryStreamExt as _;
use uuid::Uuid;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account],
}

/// The other system's copy of the accounts: id → (name, telephone).
type Replica = HashMap<Uuid, (String, String)>;

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "sync: keep a replica of the accounts up to date with change tracking.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let accounts = environment.client.accounts();
    let tag = format!("dynamics-rs sync {}", std::process::id());
    let mut replica = Replica::new();

    let first = accounts.create(&named(&format!("Adatum ({tag})"))).await?;
    let second = accounts.create(&named(&format!("Bellows ({tag})"))).await?;

    // The first sync reads every record and leaves a delta link.
    let (link, _) = sync(environment, &mut replica, None).await?;
    println!(
        "first sync: {} account(s) in the replica, ours: {}",
        replica.len(),
        ours(&replica, &tag).join(", ")
    );
    // A real service stores the link (a URL, no secret in it) until its next run.
    let stored: String = link.as_str().to_owned();
    let link = DeltaLink::new(stored);

    // Meanwhile, in Dataverse: one account created, one changed, one deleted.
    let third = accounts.create(&named(&format!("Coho ({tag})"))).await?;
    let change = Account {
        telephone1: Some("+1 425 555 0142".into()),
        ..Default::default()
    };
    accounts.update(first, &change).await?;
    accounts.delete(second).await?;

    // The next sync reads only those changes.
    let (link, changes) = sync(environment, &mut replica, Some(&link)).await?;
    println!(
        "second sync: {changes} change(s); ours now: {}",
        ours(&replica, &tag).join(", ")
    );

    // Nothing changed since: an empty delta, and a new link.
    let (_, changes) = sync(environment, &mut replica, Some(&link)).await?;
    println!("third sync: {changes} change(s)");

    for id in [first, third] {
        accounts.delete(id).await?;
    }
    println!("deleted the example's accounts");
    Ok(())
}

/// Applies every change since `since` (or every record) to `replica`; returns the next link
/// and how many changes there were.
async fn sync(
    environment: &Environment,
    replica: &mut Replica,
    since: Option<&DeltaLink>,
) -> Result<(DeltaLink, usize)> {
    let accounts = environment.client.accounts();
    let mut pages =
        std::pin::pin!(accounts.changes((Account::NAME, Account::TELEPHONE1), since, Some(500)));
    let (mut next, mut count) = (None, 0);
    while let Some(page) = pages.try_next().await? {
        count += page.changes.len();
        for change in page.changes {
            match change {
                Change::Upserted(account) => {
                    let Some(id) = account.accountid else {
                        continue;
                    };
                    if since.is_some() {
                        println!("  changed: {}", account.name.as_deref().unwrap_or("-"));
                    }
                    let telephone = account.telephone1.unwrap_or_default();
                    replica.insert(id, (account.name.unwrap_or_default(), telephone));
                }
                Change::Deleted(id) => {
                    if let Some((name, _)) = replica.remove(&id) {
                        println!("  deleted: {name}");
                    }
                }
            }
        }
        next = page.delta_link.or(next);
    }
    let next =
        next.ok_or_else(|| Error::InvalidInput("the service sent no delta link".to_owned()))?;
    Ok((next, count))
}

/// The replica's accounts that this run made, with their telephone numbers.
fn ours(replica: &Replica, tag: &str) -> Vec<String> {
    let mut names: Vec<String> = replica
        .values()
        .filter(|(name, _)| name.ends_with(&format!("({tag})")))
        .map(|(name, telephone)| match telephone.as_str() {
            "" => name.clone(),
            telephone => format!("{name} ☎ {telephone}"),
        })
        .collect();
    names.sort();
    names
}

fn named(name: &str) -> Account {
    Account {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}
