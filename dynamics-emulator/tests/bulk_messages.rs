//! The bulk operation messages bound to entity sets, as Microsoft Learn shows them ("Use bulk
//! operation messages", <https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>;
//! the `CreateMultiple` and `UpsertMultiple` action references under
//! <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/createmultiple>):
//! `Targets` with `@odata.type`, `Ids` in order, `204` for the others, all or nothing on a
//! standard table, and only where the metadata binds them.
#![allow(clippy::unwrap_used)]

mod common;

use common::ready;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const ACCOUNT: &str = "Microsoft.Dynamics.CRM.account";

#[tokio::test]
async fn create_multiple_answers_the_ids_in_order_and_update_and_upsert_follow() {
    let (f, token) = ready().await;
    let chosen = Uuid::new_v4();
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            &token,
            Some(json!({"Targets": [
                {"@odata.type": ACCOUNT, "name": "first"},
                {"@odata.type": ACCOUNT, "name": "second", "accountid": chosen},
                {"@odata.type": ACCOUNT, "name": "third", "accountnumber": "A-3"},
            ]})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    );
    let ids: Vec<Uuid> = reply.body["Ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Uuid::parse_str(v.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1], chosen);
    for (id, name) in ids.iter().zip(["first", "second", "third"]) {
        assert_eq!(f.emulator.record("accounts", *id).unwrap()["name"], name);
    }

    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
            &token,
            Some(json!({"Targets": [
                {"@odata.type": ACCOUNT, "accountid": ids[0], "name": "first, renamed"},
                {"@odata.type": ACCOUNT, "accountid": ids[1], "name": "second, renamed"},
            ]})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(
        f.emulator.record("accounts", ids[1]).unwrap()["name"],
        "second, renamed"
    );

    // By alternate key (`@odata.id`) an existing record is updated, a new key creates one.
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
            &token,
            Some(json!({"Targets": [
                {"@odata.type": ACCOUNT, "@odata.id": "accounts(accountnumber='A-3')", "name": "third, upserted"},
                {"@odata.type": ACCOUNT, "@odata.id": "accounts(accountnumber='A-4')", "name": "fourth"},
            ]})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let names: Vec<Value> = f
        .emulator
        .records("accounts")
        .unwrap()
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "first, renamed",
            "second, renamed",
            "third, upserted",
            "fourth"
        ]
    );
}

#[tokio::test]
async fn a_failing_target_rolls_the_whole_message_back() {
    let (f, token) = ready().await;
    let taken = common::create(&f, &token, "accounts", json!({"name": "taken"})).await;
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            &token,
            Some(json!({"Targets": [
                {"@odata.type": ACCOUNT, "name": "would be new"},
                {"@odata.type": ACCOUNT, "name": "duplicate", "accountid": taken},
            ]})),
            &[],
        )
        .await;
    assert!(!reply.status.is_success(), "{}", reply.body);
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 1);

    // An update never creates: a missing record fails the message, and nothing changes.
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
            &token,
            Some(json!({"Targets": [
                {"@odata.type": ACCOUNT, "accountid": taken, "name": "changed"},
                {"@odata.type": ACCOUNT, "accountid": Uuid::new_v4(), "name": "missing"},
            ]})),
            &[],
        )
        .await;
    reply.assert_error(StatusCode::NOT_FOUND, "0x80040217");
    assert_eq!(
        f.emulator.record("accounts", taken).unwrap()["name"],
        "taken"
    );
}

#[tokio::test]
async fn targets_need_their_odata_type_and_the_metadata_must_bind_the_message() {
    let (f, token) = ready().await;
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            &token,
            Some(json!({"Targets": [{"name": "no type"}]})),
            &[],
        )
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    assert!(message.contains("@odata.type"), "{message}");
    // The sample binds the messages to account and contact only, and DeleteMultiple to none.
    let reply = f
        .send(
            Method::POST,
            "tasks/Microsoft.Dynamics.CRM.CreateMultiple",
            &token,
            Some(json!({"Targets": []})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = f
        .send(
            Method::POST,
            "accounts/Microsoft.Dynamics.CRM.DeleteMultiple",
            &token,
            Some(json!({"Targets": []})),
            &[],
        )
        .await;
    reply.assert_error(StatusCode::NOT_FOUND, "0x80060888");
    assert!(f.emulator.records("tasks").unwrap().is_empty());
}
