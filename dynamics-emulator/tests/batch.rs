//! `$batch` over HTTP: change sets with `$n` references, atomic rollback, stop-on-error and
//! `Prefer: odata.continue-on-error`, and the limits.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One inner request: (Content-ID, method, url, body).
type Req<'a> = (Option<u32>, &'a str, String, Option<Value>);

fn http_part(out: &mut String, (id, method, url, body): &Req<'_>) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!("\r\n{method} {url} HTTP/1.1\r\n"));
    match body {
        Some(body) => out.push_str(&format!(
            "Content-Type: application/json; type=entry\r\n\r\n{body}\r\n"
        )),
        None => out.push_str("Accept: application/json\r\n\r\n\r\n"),
    }
}

/// A batch body: each item is either one request or a change set of several.
fn body(items: &[Vec<Req<'_>>]) -> String {
    let mut out = String::new();
    for (n, item) in items.iter().enumerate() {
        out.push_str("--batch_t\r\n");
        if item.len() == 1 && item[0].0.is_none() {
            http_part(&mut out, &item[0]);
            continue;
        }
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=changeset_{n}\r\n\r\n"
        ));
        for req in item {
            out.push_str(&format!("--changeset_{n}\r\n"));
            http_part(&mut out, req);
        }
        out.push_str(&format!("--changeset_{n}--\r\n"));
    }
    out.push_str("--batch_t--\r\n");
    out
}

async fn post(
    f: &Fixture,
    token: &str,
    body: String,
    prefer: Option<&str>,
) -> (StatusCode, String) {
    let mut request = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(token)
        .header("Content-Type", "multipart/mixed; boundary=batch_t")
        .body(body);
    if let Some(prefer) = prefer {
        request = request.header("Prefer", prefer);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response.headers()["Content-Type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("multipart/mixed; boundary=batchresponse_"),
        "{content_type}"
    );
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn change_sets_resolve_content_id_references() {
    let f = start().await;
    let token = f.access_token().await;
    let items = vec![
        vec![
            (
                Some(1),
                "POST",
                "/api/data/v9.2/accounts".to_owned(),
                Some(json!({"name": "Batch Co"})),
            ),
            (
                Some(2),
                "POST",
                format!("{}contacts", f.emulator.web_api_url()),
                Some(json!({"lastname": "Kid", "parentcustomerid_account@odata.bind": "$1"})),
            ),
            (
                Some(3),
                "PATCH",
                "$1".to_owned(),
                Some(json!({"telephone1": "555-0100"})),
            ),
            (Some(4), "POST", "$1/Account_Tasks/$ref".to_owned(), None),
        ],
        vec![(
            None,
            "GET",
            "accounts?$select=name,telephone1".to_owned(),
            None,
        )],
    ];
    // The $ref part needs a body naming a task; create one first, outside the batch.
    let task = f
        .send(
            reqwest::Method::POST,
            "tasks",
            &token,
            Some(json!({"subject": "t"})),
            &[],
        )
        .await
        .entity_id();
    let mut items = items;
    items[0][3].3 = Some(json!({"@odata.id": format!("tasks({task})")}));
    let (status, text) = post(&f, &token, body(&items), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("Content-Type: multipart/mixed; boundary=changesetresponse_"),
        "{text}"
    );
    assert_eq!(text.matches("HTTP/1.1 204 No Content").count(), 4, "{text}");
    assert!(text.contains("Location: "), "{text}");
    assert!(text.contains("Content-ID: 2"), "{text}");
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
    assert!(
        text.contains("\"telephone1\":\"555-0100\""),
        "the GET sees the change set: {text}"
    );

    let accounts = f.emulator.records("accounts").unwrap();
    assert_eq!(accounts.len(), 1);
    let contacts = f.emulator.records("contacts").unwrap();
    assert_eq!(
        contacts[0]["_parentcustomerid_value"],
        accounts[0]["accountid"]
    );
    assert_eq!(
        f.emulator.record("tasks", task).unwrap()["_regardingobjectid_value"],
        accounts[0]["accountid"]
    );
}

#[tokio::test]
async fn a_failing_change_set_rolls_back_and_stops_the_batch() {
    let f = start().await;
    let token = f.access_token().await;
    let items = vec![
        vec![
            (
                Some(1),
                "POST",
                "accounts".to_owned(),
                Some(json!({"name": "Kept?"})),
            ),
            (
                Some(2),
                "POST",
                "contacts".to_owned(),
                Some(json!({"lastname": "x".repeat(51)})),
            ),
        ],
        vec![(
            None,
            "POST",
            "accounts".to_owned(),
            Some(json!({"name": "never runs"})),
        )],
    ];
    let (status, text) = post(&f, &token, body(&items), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("HTTP/1.1 400 Bad Request"), "{text}");
    assert!(text.contains("0x80044331"), "{text}");
    assert!(
        text.contains("Content-ID: 2"),
        "the failing request is named: {text}"
    );
    // Dataverse's shape (ASP.NET OData `ChangeSetRequestItem`): a nested change set reply
    // holding the failing response alone; the rolled-back request gets no reply.
    assert!(
        text.contains("Content-Type: multipart/mixed; boundary=changesetresponse_"),
        "a change set reply: {text}"
    );
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    assert!(!text.contains("Content-ID: 1"), "{text}");
    assert_eq!(
        f.emulator.records("accounts").unwrap().len(),
        0,
        "all or nothing, and the batch stopped"
    );
}

#[tokio::test]
async fn continue_on_error_runs_every_request() {
    let f = start().await;
    let token = f.access_token().await;
    let items = vec![
        vec![(
            None,
            "POST",
            "accounts".to_owned(),
            Some(json!({"nosuch": 1})),
        )],
        vec![(None, "GET", "nosuchset".to_owned(), None)],
        vec![(
            None,
            "POST",
            "accounts".to_owned(),
            Some(json!({"name": "Still made"})),
        )],
    ];
    let (status, text) = post(&f, &token, body(&items), Some("odata.continue-on-error")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("HTTP/1.1 400 Bad Request"));
    assert!(text.contains("HTTP/1.1 404 Not Found"));
    assert!(text.contains("HTTP/1.1 204 No Content"));
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 1);
}

#[tokio::test]
async fn rejects_bad_references_gets_in_change_sets_and_oversized_batches() {
    let f = start().await;
    let token = f.access_token().await;
    let dangling = vec![vec![(
        Some(1),
        "PATCH",
        "$9".to_owned(),
        Some(json!({"name": "x"})),
    )]];
    let (status, text) = post(&f, &token, body(&dangling), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("Content-ID Reference: '$9' does not exist in the batch context."),
        "{text}"
    );

    let get_in_set = vec![vec![
        (
            Some(1),
            "POST",
            "accounts".to_owned(),
            Some(json!({"name": "a"})),
        ),
        (Some(2), "GET", "accounts".to_owned(), None),
    ]];
    let (status, text) = post(&f, &token, body(&get_in_set), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("cannot contain a GET"), "{text}");
    assert!(f.emulator.records("accounts").unwrap().is_empty());

    let many: Vec<Vec<Req<'_>>> = (0..1001)
        .map(|_| vec![(None, "GET", "WhoAmI()".to_owned(), None)])
        .collect();
    let reply = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(&token)
        .header("Content-Type", "multipart/mixed; boundary=batch_t")
        .body(body(&many))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let error: Value = reply.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("1000"));

    let reply = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
}

/// The lookup `property` of record `id` of `set`, as the emulator holds it.
fn lookup(f: &Fixture, set: &str, id: uuid::Uuid, property: &str) -> Value {
    let record = f.emulator.record(set, id).unwrap();
    record[property].clone()
}

/// Deletes `path`, which must succeed.
async fn delete(f: &Fixture, token: &str, path: &str) {
    let deleted = f.call(reqwest::Method::DELETE, path, token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
}

/// The id a reply's property holds.
fn id(value: &Value) -> uuid::Uuid {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn deletes_clear_lookups_set_by_deep_inserts_and_kept_by_rolled_back_change_sets() {
    let f = start().await;
    let token = f.access_token().await;
    let account = f
        .send(
            reqwest::Method::POST,
            "accounts",
            &token,
            Some(
                json!({"name": "Deep", "primarycontactid": {"lastname": "Pat"},
                        "Account_Tasks": [{"subject": "t1"}]}),
            ),
            &[],
        )
        .await
        .entity_id();
    let created = f
        .call(
            reqwest::Method::GET,
            &format!("accounts({account})?$select=_primarycontactid_value&$expand=Account_Tasks($select=activityid)"),
            &token,
        )
        .await;
    let contact = id(&created.body["_primarycontactid_value"]);
    let task = id(&created.body["Account_Tasks"][0]["activityid"]);
    let regarding = "_regardingobjectid_value";
    assert_eq!(lookup(&f, "tasks", task, regarding), json!(account));

    // Deletes the account (clearing the task's lookup), points a new task at the contact, then
    // fails: all of it is undone, the lookup indexes with it.
    let items = vec![vec![
        (Some(1), "DELETE", format!("accounts({account})"), None),
        (
            Some(2),
            "POST",
            "tasks".to_owned(),
            Some(
                json!({"subject": "t2", "regardingobjectid_contact_task@odata.bind": format!("/contacts({contact})")}),
            ),
        ),
        (
            Some(3),
            "POST",
            "contacts".to_owned(),
            Some(json!({"lastname": "x".repeat(51)})),
        ),
    ]];
    let (status, text) = post(&f, &token, body(&items), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(lookup(&f, "tasks", task, regarding), json!(account));
    assert_eq!(f.emulator.records("tasks").unwrap().len(), 1);

    delete(&f, &token, &format!("contacts({contact})")).await;
    assert_eq!(
        lookup(&f, "accounts", account, "_primarycontactid_value"),
        Value::Null
    );
    delete(&f, &token, &format!("accounts({account})")).await;
    assert_eq!(lookup(&f, "tasks", task, regarding), Value::Null);
}
