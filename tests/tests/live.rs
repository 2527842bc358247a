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
