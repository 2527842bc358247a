//! Against a real environment: ignored by default, since no live org is reachable from CI.
//!
//! ```sh
//! DYNAMICS_URL=https://<org>.crm.dynamics.com AZURE_TENANT_ID=... AZURE_CLIENT_ID=... \
//! AZURE_CLIENT_CERTIFICATE_PATH=app.pfx AZURE_CLIENT_CERTIFICATE_PASSWORD=... \
//!     cargo test -p dynamics-tests --test live -- --ignored
//! ```
//!
//! It uses only the standard account table, and deletes what it creates.

use dynamics_client::{Client, Query};
use dynamics_tests::built::{Account, EntitySets};

#[tokio::test]
#[ignore = "needs a real environment: DYNAMICS_URL and the AZURE_* variables"]
async fn live_environment_round_trip() {
    let client = Client::from_env().expect("DYNAMICS_URL and AZURE_* describe an environment");
    let name = format!("dynamics-rs live test {}", std::process::id());
    let id = client
        .accounts()
        .create(&Account {
            name: Some(name.clone()),
            ..Default::default()
        })
        .await
        .expect("create");
    let outcome = async {
        let read = client
            .accounts()
            .retrieve_columns(id, Account::NAME)
            .await?;
        assert_eq!(read.name.as_deref(), Some(name.as_str()));
        let found = client
            .accounts()
            .query(
                &Query::new()
                    .select(Account::NAME)
                    .filter(Account::NAME.eq(name.clone())),
            )
            .await?;
        assert_eq!(found.items.len(), 1);
        Ok::<(), dynamics_client::Error>(())
    }
    .await;
    client.accounts().delete(id).await.expect("delete");
    outcome.expect("read back");
}

/// Every change of a sync, and the link of the next one.
async fn sync(
    client: &Client,
    since: Option<&dynamics_client::changes::DeltaLink>,
) -> (
    Vec<dynamics_client::changes::Change<Account>>,
    Option<dynamics_client::changes::DeltaLink>,
) {
    use futures::TryStreamExt as _;
    let mut pages = std::pin::pin!(client.accounts().changes(Account::NAME, since, Some(5000)));
    let (mut changes, mut link) = (Vec::new(), None);
    while let Some(page) = pages.try_next().await.expect("a page of changes") {
        changes.extend(page.changes);
        link = page.delta_link.or(link);
    }
    (changes, link)
}

#[tokio::test]
#[ignore = "needs a real environment with change tracking on account: DYNAMICS_URL and the AZURE_* variables"]
async fn live_change_tracking_sees_a_create_and_a_delete() {
    use dynamics_client::changes::Change;

    let client = Client::from_env().expect("DYNAMICS_URL and AZURE_* describe an environment");
    // The first sync reads the whole table; only its delta link is kept.
    let (_, link) = sync(&client, None).await;
    let link = link.expect("the last page carries a delta link");

    let id = client
        .accounts()
        .create(&Account {
            name: Some(format!("dynamics-rs live sync {}", std::process::id())),
            ..Default::default()
        })
        .await
        .expect("create");
    let (created, _) = sync(&client, Some(&link)).await;
    client.accounts().delete(id).await.expect("delete");
    assert!(
        created
            .iter()
            .any(|c| matches!(c, Change::Upserted(a) if a.accountid == Some(id))),
        "the new account is among the changes"
    );
    let (deleted, _) = sync(&client, Some(&link)).await;
    assert!(
        deleted.contains(&Change::Deleted(id)),
        "created and deleted since the link: reported as deleted"
    );
}
