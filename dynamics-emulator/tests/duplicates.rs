//! Duplicate detection: rules set from the builder, the Rust handle and the control endpoint,
//! applied to creates and updates that ask for them, answered as Dataverse answers: HTTP 500
//! with `0x80040333`
//! (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, create, start_with};
use dynamics_emulator::DuplicateRule;
use reqwest::{Method, StatusCode};
use serde_json::json;

const DETECT: (&str, &str) = ("MSCRM.SuppressDuplicateDetection", "false");
const MESSAGE: &str =
    "A record was not created or updated because a duplicate of the current record already exists.";

async fn with_email_rule() -> (Fixture, String) {
    let f =
        start_with(|b| b.duplicate_rule(DuplicateRule::new("contact", ["emailaddress1"]))).await;
    let token = f.access_token().await;
    (f, token)
}

#[tokio::test]
async fn a_create_asking_for_detection_is_refused_as_dataverse_does() {
    let (f, token) = with_email_rule().await;
    create(
        &f,
        &token,
        "contacts",
        json!({"lastname": "Orton", "emailaddress1": "monteorton@example.com"}),
    )
    .await;
    let body = json!({"firstname": "Monte", "lastname": "Orton", "emailaddress1": "MonteOrton@example.com"});
    let reply = f
        .send(
            Method::POST,
            "contacts",
            &token,
            Some(body.clone()),
            &[DETECT],
        )
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "0x80040333"),
        MESSAGE
    );
    assert_eq!(
        f.emulator.records("contacts").unwrap().len(),
        1,
        "nothing written"
    );
    // Without the header (or with `true`) detection is off, as on the Web API.
    let reply = f
        .send(Method::POST, "contacts", &token, Some(body.clone()), &[])
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = f
        .send(
            Method::POST,
            "contacts",
            &token,
            Some(body),
            &[("MSCRM.SuppressDuplicateDetection", "true")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // Blank values never match.
    let blank = json!({"lastname": "No mail"});
    for _ in 0..2 {
        let reply = f
            .send(
                Method::POST,
                "contacts",
                &token,
                Some(blank.clone()),
                &[DETECT],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    }
}

#[tokio::test]
async fn an_update_asking_for_detection_is_refused_and_leaves_the_record() {
    let (f, token) = with_email_rule().await;
    create(
        &f,
        &token,
        "contacts",
        json!({"lastname": "A", "emailaddress1": "a@example.com"}),
    )
    .await;
    let b = create(
        &f,
        &token,
        "contacts",
        json!({"lastname": "B", "emailaddress1": "b@example.com"}),
    )
    .await;
    let path = format!("contacts({b})");
    let reply = f
        .send(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"emailaddress1": "a@example.com"})),
            &[DETECT, ("If-Match", "*")],
        )
        .await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "0x80040333");
    assert_eq!(
        f.emulator.record("contacts", b).unwrap()["emailaddress1"],
        "b@example.com"
    );
    // Its own value is no duplicate of itself.
    let reply = f
        .send(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"lastname": "B2"})),
            &[DETECT, ("If-Match", "*")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
}

#[tokio::test]
async fn rules_are_set_from_the_handle_and_the_control_endpoint() {
    let f = start_with(|b| b).await;
    let token = f.access_token().await;
    create(
        &f,
        &token,
        "accounts",
        json!({"name": "Contoso", "telephone1": "555"}),
    )
    .await;
    let again = json!({"name": "contoso", "telephone1": "555"});
    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(again.clone()),
            &[DETECT],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "no rule yet: {}",
        reply.body
    );

    f.emulator
        .set_duplicate_rules(vec![DuplicateRule::new("account", ["name", "telephone1"])])
        .unwrap();
    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(again.clone()),
            &[DETECT],
        )
        .await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "0x80040333");
    let e = f
        .emulator
        .set_duplicate_rules(vec![DuplicateRule::new("account", ["nosuchcolumn"])])
        .unwrap_err();
    assert!(e.to_string().contains("nosuchcolumn"), "{e}");

    // The control endpoint replaces the rules: none left.
    let control = format!("{}/_emulator/duplicate-rules", f.emulator.base_url());
    let reply = f.http.post(&control).body("[]").send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(again.clone()),
            &[DETECT],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = f
        .http
        .post(&control)
        .body(r#"[{"table": "account", "columns": ["name"]}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = f
        .send(Method::POST, "accounts", &token, Some(again), &[DETECT])
        .await;
    reply.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "0x80040333");
    let reply = f
        .http
        .post(&control)
        .body(r#"[{"table": "nosuch", "columns": ["name"]}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_builder_rule_on_an_unknown_table_stops_the_start() {
    let cert = dynamics_emulator::TestCertificate::generate("CN=rules").unwrap();
    let e = common::builder(&cert)
        .duplicate_rule(DuplicateRule::new("nosuchtable", ["name"]))
        .start()
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("nosuchtable"), "{e}");
}
