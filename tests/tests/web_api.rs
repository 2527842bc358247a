//! The Web API beyond CRUD, through generated types against the emulator: alternate keys,
//! FetchXML, bound actions, choices validated by the service, impersonation, paging streams.

use std::sync::{Arc, Mutex};

use dynamics_client::__private::serde_json::{Value, json};
use dynamics_client::__private::uuid::Uuid;
use dynamics_client::{
    Client, Error, Query,
    entity::{AlternateKey, UpsertMode},
};
use dynamics_emulator::Emulator;
use dynamics_tests::with_choices::{
    Account, AccountIndustrycode, EntitySets, NewProject, NewProjectstage,
};

mod support;

async fn start(closed: Arc<Mutex<Vec<Value>>>) -> (Emulator, Client) {
    support::start(|builder| {
        builder
            .choices_file(support::SAMPLE_CHOICES)
            .action("new_CloseProject", move |call| {
                closed
                    .lock()
                    .unwrap()
                    .push(json!({"record": call.record, "parameters": call.parameters}));
                Ok(Value::Null)
            })
    })
    .await
}

#[tokio::test]
async fn alternate_keys_and_choices() {
    let (_emulator, client) = start(Arc::default()).await;
    let key = AlternateKey::new(Account::ACCOUNTNUMBER, "ACC-0001").unwrap();
    let account = Account {
        name: Some("Keyed".into()),
        industrycode: Some(AccountIndustrycode::Brokers),
        ..Default::default()
    };
    client
        .accounts()
        .upsert_by_key(&key, &account, UpsertMode::CreateOnly)
        .await
        .unwrap();
    let read = client
        .accounts()
        .retrieve_by_key(&key, (Account::NAME, Account::INDUSTRYCODE))
        .await
        .unwrap();
    assert_eq!(read.industrycode, Some(AccountIndustrycode::Brokers));
    assert_eq!(read.name.as_deref(), Some("Keyed"));

    // Creating the same key again is refused; a value the choice does not have is refused
    // by the service, typed.
    match client
        .accounts()
        .upsert_by_key(&key, &account, UpsertMode::CreateOnly)
        .await
    {
        Err(Error::ConcurrencyConflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let bad = Account {
        name: Some("Out of range".into()),
        industrycode: Some(AccountIndustrycode::Unknown(424242)),
        ..Default::default()
    };
    let e = client.accounts().create(&bad).await.expect_err("refused");
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(e.to_string().contains("0x8004431a"), "{e}");
}

#[tokio::test]
async fn fetch_xml_actions_and_formatted_choices() {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let (_emulator, client) = start(Arc::clone(&closed)).await;
    for (i, stage) in [
        NewProjectstage::Planning,
        NewProjectstage::Running,
        NewProjectstage::Running,
    ]
    .into_iter()
    .enumerate()
    {
        client
            .new_projects()
            .create(&NewProject {
                new_name: Some(format!("P{i}")),
                new_stage: Some(stage),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let page = client
        .fetch_xml::<NewProject>(
            r#"<fetch><entity name="new_project"><attribute name="new_name"/><attribute name="new_stage"/>
               <filter><condition attribute="new_stage" operator="eq" value="100000001"/></filter>
               <order attribute="new_name"/></entity></fetch>"#,
        )
        .await
        .unwrap();
    let names: Vec<_> = page
        .items
        .iter()
        .filter_map(|p| p.new_name.clone())
        .collect();
    assert_eq!(names, ["P1", "P2"]);

    let id = page.items[0].new_projectid.unwrap();
    let annotated = client
        .new_projects()
        .retrieve_annotated(id, NewProject::NEW_STAGE)
        .await
        .unwrap();
    assert_eq!(annotated.formatted(NewProject::NEW_STAGE), Some("Running"));

    client
        .call_bound_action::<NewProject>(Some(id), "new_CloseProject", &json!({"Reason": "done"}))
        .await
        .unwrap();
    let calls = closed.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["parameters"]["Reason"], "done");
    assert_eq!(calls[0]["record"]["new_name"], "P1");
}

#[tokio::test]
async fn impersonation_and_streams() {
    use futures::TryStreamExt;

    let (emulator, client) = start(Arc::default()).await;
    let aad = Uuid::from_u128(0xa11ce);
    let user = Uuid::from_u128(0x5e7);
    emulator
        .seed(&json!({"systemusers": [{
            "systemuserid": user, "ownerid": user, "fullname": "Alice",
            "azureactivedirectoryobjectid": aad
        }]}))
        .unwrap();
    #[derive(dynamics_client::__private::serde::Deserialize)]
    #[serde(crate = "dynamics_client::__private::serde")]
    struct WhoAmI {
        #[serde(rename = "UserId")]
        user_id: Uuid,
    }
    let as_alice = client.impersonating(aad);
    let who: WhoAmI = as_alice.get("WhoAmI()").await.unwrap();
    assert_eq!(who.user_id, user);
    let id = as_alice
        .accounts()
        .create(&Account {
            name: Some("Made by Alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = emulator.record("accounts", id).unwrap();
    assert_eq!(stored["_ownerid_value"], user.to_string());

    for i in 0..25 {
        client
            .accounts()
            .create(&Account {
                name: Some(format!("Streamed {i:02}")),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let query = Query::new()
        .select(Account::NAME)
        .filter(Account::NAME.starts_with("Streamed"))
        .page_size(4);
    let all: Vec<Account> = client.accounts().stream(query).try_collect().await.unwrap();
    assert_eq!(all.len(), 25);
}
