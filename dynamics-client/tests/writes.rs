//! Writes beyond CRUD against dynamics-emulator: alternate keys (single and composite),
//! optimistic concurrency, associate/disassociate; impersonation per handle against a stub
//! (the emulator does not read `CallerObjectId`).

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dynamics_client::{
    AlternateKey, BusinessLogic, Client, ClientOptions, Column, Entity, Error, RetryPolicy,
    UpsertMode,
};
use serde::{Deserialize, Serialize};
use support::emulated::start;
use support::stub::{Reply, Stub};
use support::{Account, Contact, CountingCredential, named};
use uuid::Uuid;

const ACCOUNT_NUMBER: Column<Account, String> = Column::new("accountnumber");

#[derive(Debug, Default, Serialize, Deserialize)]
struct Project {
    #[serde(rename = "new_projectid", skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_stage: Option<i32>,
}

impl Project {
    const CODE: Column<Project, String> = Column::new("new_code");
    const NAME: Column<Project, String> = Column::new("new_name");
}

impl Entity for Project {
    const LOGICAL_NAME: &'static str = "new_project";
    const ENTITY_SET_NAME: &'static str = "new_projects";
    const PRIMARY_KEY: &'static str = "new_projectid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
}

#[tokio::test]
async fn upsert_and_retrieve_by_alternate_keys() {
    let env = start().await;
    let (client, _) = env.client();
    let accounts = client.entity_set::<Account>();

    // Single key, with a quote and a space that must be encoded.
    let key = AlternateKey::new(ACCOUNT_NUMBER, "A-1 O'Brien").unwrap();
    accounts
        .upsert_by_key(&key, &named("Created by key"), UpsertMode::CreateOnly)
        .await
        .unwrap();
    let read = accounts.retrieve_by_key(&key, ()).await.unwrap();
    assert_eq!(read.name.as_deref(), Some("Created by key"));
    assert_eq!(read.accountnumber.as_deref(), Some("A-1 O'Brien"));
    accounts
        .upsert_by_key(&key, &named("Updated by key"), UpsertMode::UpdateOnly)
        .await
        .unwrap();
    let stored = env.emulator.record("accounts", read.id.unwrap()).unwrap();
    assert_eq!(stored["name"], "Updated by key");
    let err = accounts
        .upsert_by_key(&key, &named("Again"), UpsertMode::CreateOnly)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConcurrencyConflict(_)), "{err:?}");

    // Composite key.
    let projects = client.entity_set::<Project>();
    let key = AlternateKey::new(Project::CODE, "P-7")
        .unwrap()
        .and(Project::NAME, "Ünïcode, \"quoted\" #1")
        .unwrap();
    projects
        .upsert_by_key(
            &key,
            &Project {
                new_stage: Some(2),
                ..Project::default()
            },
            UpsertMode::CreateOrUpdate,
        )
        .await
        .unwrap();
    let project = projects
        .retrieve_by_key(&key, (Project::CODE, Project::NAME))
        .await
        .unwrap();
    assert_eq!(project.new_code.as_deref(), Some("P-7"));
    assert_eq!(project.new_name.as_deref(), Some("Ünïcode, \"quoted\" #1"));
    projects.delete_by_key(&key).await.unwrap();
    let err = projects.retrieve_by_key(&key, ()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");

    // Refused when the key is made, before there is any request to send.
    let err = AlternateKey::new(ACCOUNT_NUMBER, "A/1").unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert!(err.to_string().contains("'/'"), "{err}");
}

#[tokio::test]
async fn update_if_unchanged_detects_a_concurrent_change() {
    let env = start().await;
    let (client, _) = env.client();
    let accounts = client.entity_set::<Account>();
    let id = accounts.create(&named("Original")).await.unwrap();
    let read = accounts.retrieve(id).await.unwrap();
    assert!(read.etag.is_some());

    // Someone else changes it.
    accounts.update(id, &named("Theirs")).await.unwrap();
    let err = accounts
        .update_if_unchanged(&read, &named("Mine"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConcurrencyConflict(_)), "{err:?}");

    let fresh = accounts.retrieve(id).await.unwrap();
    accounts
        .update_if_unchanged(&fresh, &named("Mine"))
        .await
        .unwrap();
    assert_eq!(env.emulator.record("accounts", id).unwrap()["name"], "Mine");

    let err = accounts
        .update_if_unchanged(&named("No id"), &named("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    // A record with an id but no ETag (not read from the service) is refused too.
    let err = accounts
        .update_if_unchanged(
            &Account {
                id: Some(id),
                ..named("No etag")
            },
            &named("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert!(err.to_string().contains("carries no ETag"), "{err}");
}

#[tokio::test]
async fn associate_and_disassociate_a_collection() {
    let env = start().await;
    let (client, _) = env.client();
    let account = client.create(&named("Parent")).await.unwrap();
    let contact = client
        .create(&Contact {
            lastname: Some("Child".into()),
            ..Contact::default()
        })
        .await
        .unwrap();
    let accounts = client.entity_set::<Account>();
    accounts
        .associate::<Contact>(account, "contact_customer_accounts", contact)
        .await
        .unwrap();
    let read: Contact = client.retrieve(contact, &["lastname"]).await.unwrap();
    let stored = env.emulator.record("contacts", contact).unwrap();
    assert_eq!(stored["_parentcustomerid_value"], account.to_string());
    assert_eq!(read.lastname.as_deref(), Some("Child"));

    accounts
        .disassociate::<Contact>(account, "contact_customer_accounts", contact)
        .await
        .unwrap();
    let stored = env.emulator.record("contacts", contact).unwrap();
    assert!(stored["_parentcustomerid_value"].is_null(), "{stored}");

    let err = accounts
        .associate::<Contact>(account, "nav/../x", contact)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
}

/// Dataverse refuses to link a pair that is already linked ("Cannot insert duplicate key",
/// 0x80040237, https://learn.microsoft.com/troubleshoot/power-platform/dataverse/user-permissions/client-errors).
/// On a first try that is the caller's error; after a try whose answer was lost it means that
/// try made the link.
#[tokio::test]
async fn an_associate_that_finds_its_link_is_an_error_first_and_a_success_when_resent() {
    let refusal = || Reply::error(412, "0x80040237", "Cannot insert duplicate key.");
    let first = Stub::start(move |_| refusal()).await;
    let e = first
        .client()
        .associate::<Account, Contact>(
            Uuid::from_u128(1),
            "contact_customer_accounts",
            Uuid::from_u128(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::ConcurrencyConflict(api) if api.code == "0x80040237"),
        "{e}"
    );
    assert_eq!(first.requests().len(), 1);

    // The first try's answer is lost (a gateway error after it ran); the resend finds the link.
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    let resent = Stub::start(move |_| match counted.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::error(502, "", "Bad Gateway"),
        _ => refusal(),
    })
    .await;
    let client = Client::new(
        &resent.url,
        CountingCredential::new(),
        ClientOptions {
            retry: RetryPolicy {
                initial_delay: std::time::Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        },
    )
    .unwrap();
    client
        .associate::<Account, Contact>(
            Uuid::from_u128(1),
            "contact_customer_accounts",
            Uuid::from_u128(2),
        )
        .await
        .unwrap();
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn impersonation_per_handle_overrides_the_client_setting() {
    let stub = Stub::start(|_| Reply::json(200, r#"{"value":[]}"#)).await;
    let everyone = Uuid::from_u128(1);
    let one_request = Uuid::from_u128(2);
    let client = Client::new(
        &stub.url,
        CountingCredential::new(),
        ClientOptions {
            caller_object_id: Some(everyone),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    client.query::<Account>("").await.unwrap();
    client
        .impersonating(one_request)
        .entity_set::<Account>()
        .query(&dynamics_client::Query::new())
        .await
        .unwrap();
    let plain = stub.client();
    plain.query::<Account>("").await.unwrap();
    let as_user = plain.impersonating(one_request);
    assert_eq!(as_user.impersonated_caller(), Some(one_request));
    as_user.query::<Account>("").await.unwrap();

    let callers: Vec<Vec<String>> = stub
        .requests()
        .iter()
        .map(|r| {
            r.headers
                .get_all("CallerObjectId")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        callers,
        [
            vec![everyone.to_string()],
            vec![one_request.to_string()],
            vec![],
            vec![one_request.to_string()],
        ]
    );
}

#[tokio::test]
async fn optional_parameters_per_handle_go_on_the_wire_and_combine() {
    let stub = Stub::start(|_| Reply::json(200, r#"{"value":[]}"#)).await;
    let client = stub.client();
    let user = Uuid::from_u128(7);
    let handles = [
        client.bypassing_business_logic(BusinessLogic::All),
        client.bypassing_business_logic(BusinessLogic::Synchronous),
        client.bypassing_flows(),
        client.detecting_duplicates(),
        client.in_solution("ExampleSolution").unwrap(),
        // Handles build on each other, in either order with impersonation.
        client
            .impersonating(user)
            .bypassing_business_logic(BusinessLogic::Asynchronous)
            .in_solution("Other")
            .unwrap(),
        client.bypassing_flows().impersonating(user),
        client.clone(),
    ];
    for handle in &handles {
        handle.query::<Account>("").await.unwrap();
    }
    let seen: Vec<Vec<(String, String)>> = stub
        .requests()
        .iter()
        .map(|r| {
            let mut own: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(n, _)| n.as_str().starts_with("mscrm.") || n.as_str() == "callerobjectid")
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            own.sort();
            own
        })
        .collect();
    let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    assert_eq!(
        seen,
        [
            vec![pair(
                "mscrm.bypassbusinesslogicexecution",
                "CustomSync,CustomAsync"
            )],
            vec![pair("mscrm.bypassbusinesslogicexecution", "CustomSync")],
            vec![pair(
                "mscrm.suppresscallbackregistrationexpanderjob",
                "true"
            )],
            vec![pair("mscrm.suppressduplicatedetection", "false")],
            vec![pair("mscrm.solutionuniquename", "ExampleSolution")],
            vec![
                pair("callerobjectid", &user.to_string()),
                pair("mscrm.bypassbusinesslogicexecution", "CustomAsync"),
                pair("mscrm.solutionuniquename", "Other"),
            ],
            vec![
                pair("callerobjectid", &user.to_string()),
                pair("mscrm.suppresscallbackregistrationexpanderjob", "true"),
            ],
            vec![],
        ]
    );
    let debug = format!("{:?}", handles[3]);
    assert!(
        debug.contains("\"mscrm.suppressduplicatedetection\": \"false\""),
        "{debug}"
    );
    let e = client.in_solution("bad\nname").unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
}

#[tokio::test]
async fn a_write_refused_by_duplicate_detection_says_so() {
    // The documented answer: HTTP 500 with 0x80040333
    // (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update).
    let stub = Stub::start(|_| {
        Reply::error(
            500,
            "0x80040333",
            "A record was not created or updated because a duplicate of the current record already exists.",
        )
    })
    .await;
    let client = stub.client().detecting_duplicates();
    let e = client.create(&named("Sample Account")).await.unwrap_err();
    assert!(e.is_duplicate(), "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(e.status(), Some(500));
    // An idempotent write (an update) is not sent again either: the answer would not change.
    let e = client
        .update(uuid::Uuid::from_u128(1), &named("Sample Account"))
        .await
        .unwrap_err();
    assert!(e.is_duplicate(), "{e}");
    assert_eq!(stub.requests().len(), 2, "one try each, no resend");
    let other = Stub::start(|_| {
        Reply::error(
            412,
            "0x80060882",
            "The version of the existing record does not match.",
        )
    })
    .await;
    let e = other.client().create(&named("x")).await.unwrap_err();
    assert!(!e.is_duplicate(), "{e}");
}
