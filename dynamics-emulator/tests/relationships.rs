//! Many-to-many relationships (a fixture of our own: navigation Name == Partner), and the
//! real `$metadata` corpus when `DYNAMICS_METADATA_CORPUS` points at it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{CLIENT_ID, start_with};
use dynamics_emulator::{Emulator, TestCertificate};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn many_to_many_links_work_from_both_sides() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/many_to_many.xml"
    );
    let f = start_with(|b| b.metadata_file(fixture)).await;
    let token = f.access_token().await;
    let post = |set: &'static str, body: serde_json::Value| {
        let f = &f;
        let token = &token;
        async move {
            f.send(Method::POST, set, token, Some(body), &[])
                .await
                .entity_id()
        }
    };
    let ann = post("new_students", json!({"new_name": "Ann"})).await;
    let bob = post("new_students", json!({"new_name": "Bob"})).await;
    let course = post(
        "new_courses",
        json!({"new_name": "Rust", "new_credits": 5, "new_course_student@odata.bind": [format!("/new_students({ann})")]}),
    )
    .await;
    let reply = f
        .send(
            Method::POST,
            &format!("new_courses({course})/new_course_student/$ref"),
            &token,
            Some(json!({"@odata.id": format!("new_students({bob})")})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // The pair is linked now: Dataverse refuses a second link, its intersect key taken
    // ("Cannot insert duplicate key", 0x80040237; https://learn.microsoft.com/troubleshoot/power-platform/dataverse/user-permissions/client-errors).
    for (from, to) in [
        (
            format!("new_courses({course})"),
            format!("new_students({bob})"),
        ),
        (
            format!("new_students({bob})"),
            format!("new_courses({course})"),
        ),
    ] {
        f.send(
            Method::POST,
            &format!("{from}/new_course_student/$ref"),
            &token,
            Some(json!({"@odata.id": to})),
            &[],
        )
        .await
        .assert_error(StatusCode::PRECONDITION_FAILED, "0x80040237");
    }

    let students = f
        .call(
            Method::GET,
            &format!("new_courses({course})/new_course_student?$select=new_name&$orderby=new_name"),
            &token,
        )
        .await;
    let names: Vec<&str> = students.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["new_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann", "Bob"]);
    let back = f
        .call(
            Method::GET,
            &format!("new_students({bob})?$expand=new_course_student($select=new_name)"),
            &token,
        )
        .await;
    assert_eq!(back.body["new_course_student"][0]["new_name"], "Rust");

    let reply = f
        .call(
            Method::DELETE,
            &format!("new_courses({course})/new_course_student({ann})/$ref"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let ann_courses = f
        .call(
            Method::GET,
            &format!("new_students({ann})/new_course_student"),
            &token,
        )
        .await;
    assert_eq!(ann_courses.body["value"], json!([]));

    // A type without an entity set is not addressable; Int16 is range-checked.
    f.call(Method::GET, "new_orphans", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80060888");
    f.send(
        Method::POST,
        "new_courses",
        &token,
        Some(json!({"new_credits": 40000})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80048d19");
}

#[tokio::test]
async fn rejects_bad_metadata() {
    let result = Emulator::builder().metadata_str("<not-csdl").start().await;
    assert!(result.unwrap_err().to_string().starts_with("metadata: "));
    let result = Emulator::builder().start().await;
    assert!(result.unwrap_err().to_string().contains("no metadata"));
}

/// Serves each real document of the corpus and runs a lookup round trip on it.
#[tokio::test]
async fn serves_the_real_metadata_corpus() {
    let Some(dir) = std::env::var_os("DYNAMICS_METADATA_CORPUS") else {
        eprintln!("corpus: skipped (set DYNAMICS_METADATA_CORPUS)");
        return;
    };
    let mut served = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let cert = TestCertificate::generate("CN=corpus").unwrap();
        let emulator = Emulator::builder()
            .metadata_file(&path)
            .register_app(CLIENT_ID, &cert)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let f = common::Fixture {
            emulator,
            cert,
            http: reqwest::Client::new(),
        };
        let token = f.access_token().await;
        let sets = f.call(Method::GET, "", &token).await.body["value"]
            .as_array()
            .unwrap()
            .len();
        assert!(sets > 200, "{}: {sets} sets", path.display());
        let account = f
            .send(
                Method::POST,
                "accounts",
                &token,
                Some(json!({"name": "Corpus"})),
                &[],
            )
            .await
            .entity_id();
        let contact = f
            .send(
                Method::POST,
                "contacts",
                &token,
                Some(json!({"lastname": "Real", "parentcustomerid_account@odata.bind": format!("/accounts({account})")})),
                &[],
            )
            .await
            .entity_id();
        let reply = f
            .call(Method::GET, &format!("contacts({contact})?$select=lastname&$expand=parentcustomerid_account($select=name)"), &token)
            .await;
        assert_eq!(
            reply.body["parentcustomerid_account"]["name"],
            "Corpus",
            "{}",
            path.display()
        );
        served += 1;
    }
    assert!(served >= 2, "the corpus has two documents");
}
