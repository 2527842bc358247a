//! Change tracking over HTTP, as `dynamics-client`'s `changes` uses it: a first sync with
//! `Prefer: odata.track-changes` (paged, with `$select`) ends in a delta link; following it
//! answers what was created or changed, then what was deleted, since. Untracked tables, other
//! query options and bad tokens are refused; a rolled-back change set leaves no change, and a
//! change made while a sync pages is reported by the next delta.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, Reply, create, ready, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const TRACK: (&str, &str) = ("Prefer", "odata.track-changes");

async fn patch(f: &Fixture, token: &str, path: &str, body: Value) {
    let reply = f.send(Method::PATCH, path, token, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
}

async fn delete(f: &Fixture, token: &str, path: &str) {
    let reply = f.call(Method::DELETE, path, token).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
}

/// Seeds accounts named `names`, in that order, and returns their ids.
fn seed(f: &Fixture, names: &[&str]) -> Vec<Uuid> {
    let records: Vec<Value> = names
        .iter()
        .map(|n| json!({"accountid": Uuid::new_v4(), "name": n, "telephone1": "555-0100", "revenue": 10}))
        .collect();
    f.emulator.seed(&json!({ "accounts": records })).unwrap();
    records
        .iter()
        .map(|r| Uuid::parse_str(r["accountid"].as_str().unwrap()).unwrap())
        .collect()
}

/// The `Preference-Applied` values of a reply, however many headers carry them.
fn applied(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("Preference-Applied")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_owned())
        .collect()
}

/// A GET with `Prefer: odata.track-changes` (and a page size, in its own `Prefer` header, as
/// the client sends it).
async fn tracked(f: &Fixture, token: &str, url: &str, page_size: Option<usize>) -> Reply {
    let size = page_size.map(|n| format!("odata.maxpagesize={n}"));
    let mut headers = vec![TRACK];
    if let Some(size) = &size {
        headers.push(("Prefer", size.as_str()));
    }
    f.send(Method::GET, url, token, None, &headers).await
}

/// One whole sync from `url`: every page's entries, the number of pages and the delta link.
/// Only the last page may (and must) carry the delta link.
async fn sync(
    f: &Fixture,
    token: &str,
    url: &str,
    page_size: Option<usize>,
) -> (Vec<Value>, usize, String) {
    let (mut entries, mut pages, mut url) = (Vec::new(), 0, url.to_owned());
    loop {
        let reply = tracked(f, token, &url, page_size).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            applied(&reply).contains(&"odata.track-changes".to_owned()),
            "{:?}",
            reply.headers
        );
        pages += 1;
        entries.extend(reply.body["value"].as_array().unwrap().iter().cloned());
        let next = reply.body["@odata.nextLink"].as_str();
        let delta = reply.body["@odata.deltaLink"].as_str();
        match (next, delta) {
            (Some(next), None) => {
                assert!(next.starts_with(&f.emulator.web_api_url()), "{next}");
                url = next.to_owned();
            }
            (None, Some(delta)) => return (entries, pages, delta.to_owned()),
            _ => panic!("one of nextLink and deltaLink, not {}", reply.body),
        }
    }
}

fn name_of(entry: &Value) -> &str {
    entry["name"].as_str().unwrap_or_default()
}

fn names(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(name_of).collect()
}

/// The ids of the `$deletedEntity` entries, in order, each checked for Dataverse's shape.
fn deleted(f: &Fixture, entries: &[Value]) -> Vec<Uuid> {
    let context = format!(
        "{}$metadata#accounts/$deletedEntity",
        f.emulator.web_api_url()
    );
    entries
        .iter()
        .filter(|e| e.get("@odata.context").is_some())
        .map(|e| {
            assert_eq!(e["@odata.context"], context.as_str(), "{e}");
            assert_eq!(e["reason"], "deleted", "{e}");
            assert_eq!(e.as_object().unwrap().len(), 3, "{e}");
            Uuid::parse_str(e["id"].as_str().unwrap()).unwrap()
        })
        .collect()
}

/// The ids of the record entries, in order.
fn upserted(entries: &[Value]) -> Vec<Uuid> {
    entries
        .iter()
        .filter(|e| e.get("@odata.context").is_none())
        .map(|e| Uuid::parse_str(e["accountid"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_first_sync_pages_with_select_and_ends_in_a_delta_link() {
    let (f, token) = ready().await;
    let ids = seed(&f, &["A", "B", "C", "D", "E"]);
    let url = f.api("accounts?$select=name,telephone1");

    let first = tracked(&f, &token, &url, Some(2)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let mut preferences = applied(&first);
    preferences.sort();
    assert_eq!(preferences, ["odata.maxpagesize=2", "odata.track-changes"]);
    assert_eq!(
        first.body["@odata.context"],
        format!(
            "{}$metadata#accounts(name,telephone1)",
            f.emulator.web_api_url()
        )
    );
    let record = &first.body["value"][0];
    assert_eq!(record["name"], "A");
    assert_eq!(record["telephone1"], "555-0100");
    assert_eq!(record["accountid"], ids[0].to_string());
    let etag = f.emulator.record("accounts", ids[0]).unwrap()["versionnumber"].clone();
    assert_eq!(record["@odata.etag"], format!("W/\"{etag}\""));
    assert!(record.get("revenue").is_none(), "{record}");

    let (entries, pages, delta) = sync(&f, &token, &url, Some(2)).await;
    assert_eq!(pages, 3);
    assert_eq!(names(&entries), ["A", "B", "C", "D", "E"]);
    assert_eq!(upserted(&entries), ids);
    let prefix = format!(
        "{}accounts?$select=name,telephone1&$deltatoken=",
        f.emulator.web_api_url()
    );
    assert!(delta.starts_with(&prefix), "{delta}");
    // The token is URL-safe as written: the link parses back to itself.
    assert_eq!(url::Url::parse(&delta).unwrap().as_str(), delta);
    let token_text = &delta[prefix.len()..];
    assert!(!token_text.is_empty());
    assert!(
        token_text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%-._".contains(&b)),
        "{token_text}"
    );

    // One page when no size is asked for; a next link keeps the sync going even without
    // the preference, though it is then not reported as applied.
    let (entries, pages, _) = sync(&f, &token, &url, None).await;
    assert_eq!((entries.len(), pages), (5, 1));
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    let mut link = next.to_owned();
    loop {
        let size = [("Prefer", "odata.maxpagesize=2")];
        let reply = f.send(Method::GET, &link, &token, None, &size).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(applied(&reply), ["odata.maxpagesize=2"]);
        match reply.body["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => {
                assert!(reply.body["@odata.deltaLink"].is_string(), "{}", reply.body);
                break;
            }
        }
    }
}

#[tokio::test]
async fn a_delta_reports_creates_and_updates_then_deletions_in_change_order() {
    let (f, token) = ready().await;
    let ids = seed(&f, &["A", "B", "C", "D"]);
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    let (_, _, delta) = sync(&f, &token, &f.api("accounts?$select=name,telephone1"), None).await;

    patch(
        &f,
        &token,
        &format!("accounts({b})"),
        json!({"telephone1": "555-0199"}),
    )
    .await;
    let e = create(&f, &token, "accounts", json!({"name": "E"})).await;
    delete(&f, &token, &format!("accounts({c})")).await;
    // Created and deleted between two syncs: only its deletion is reported.
    let created_then_deleted = create(&f, &token, "accounts", json!({"name": "F"})).await;
    delete(&f, &token, &format!("accounts({created_then_deleted})")).await;
    // Changed, then deleted: likewise.
    patch(&f, &token, &format!("accounts({d})"), json!({"name": "D2"})).await;
    delete(&f, &token, &format!("accounts({d})")).await;
    // A single column's PUT, an upsert that creates, and seeding are changes too.
    let reply = f
        .send(
            Method::PUT,
            &format!("accounts({a})/name"),
            &token,
            Some(json!({"value": "A2"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let upserted_id = Uuid::new_v4();
    patch(
        &f,
        &token,
        &format!("accounts({upserted_id})"),
        json!({"name": "G"}),
    )
    .await;
    let seeded = seed(&f, &["H"])[0];

    let reply = tracked(&f, &token, &delta, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(applied(&reply).contains(&"odata.track-changes".to_owned()));
    assert_eq!(
        reply.body["@odata.context"],
        format!(
            "{}$metadata#accounts(name,telephone1)/$delta",
            f.emulator.web_api_url()
        )
    );
    let entries = reply.body["value"].as_array().unwrap().clone();
    assert_eq!(upserted(&entries), [b, e, a, upserted_id, seeded]);
    assert_eq!(
        deleted(&f, &entries),
        [c, created_then_deleted, d],
        "deletions follow the records, in the order they happened"
    );
    let records = entries.len() - 3;
    assert!(
        entries[..records]
            .iter()
            .all(|r| r.get("accountid").is_some())
    );
    assert_eq!(names(&entries[..records]), ["B", "E", "A2", "G", "H"]);
    let changed_b = &entries[0];
    assert_eq!(changed_b["telephone1"], "555-0199");
    assert!(changed_b.get("revenue").is_none(), "{changed_b}");
    let etag = f.emulator.record("accounts", b).unwrap()["versionnumber"].clone();
    assert_eq!(changed_b["@odata.etag"], format!("W/\"{etag}\""));

    // The new delta link carries on from there: nothing has changed since.
    let next = reply.body["@odata.deltaLink"].as_str().unwrap();
    assert_ne!(next, delta);
    assert!(
        next.contains("$select=name,telephone1&$deltatoken="),
        "{next}"
    );
    let reply = tracked(&f, &token, next, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["value"], json!([]));
    assert!(reply.body["@odata.deltaLink"].is_string(), "{}", reply.body);

    // The first delta link still answers everything since the first sync.
    let (again, _, _) = sync(&f, &token, &delta, Some(3)).await;
    assert_eq!(again, entries, "paged, the same entries in the same order");
}

#[tokio::test]
async fn an_empty_delta_answers_no_entries_and_a_new_delta_link() {
    let (f, token) = ready().await;
    let (entries, pages, delta) = sync(&f, &token, &f.api("contacts"), Some(5)).await;
    assert_eq!((entries.len(), pages), (0, 1));
    assert!(
        delta.starts_with(&f.api("contacts?$deltatoken=")),
        "{delta}"
    );
    let reply = tracked(&f, &token, &delta, Some(5)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["value"], json!([]));
    assert!(reply.body.get("@odata.nextLink").is_none());
    assert!(
        reply.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#contacts/$delta"),
        "{}",
        reply.body
    );
    let next = reply.body["@odata.deltaLink"].as_str().unwrap();
    assert!(next.starts_with(&f.api("contacts?$deltatoken=")), "{next}");

    // A delta link is a delta request with or without the preference.
    let id = create(&f, &token, "contacts", json!({"lastname": "Kid"})).await;
    let reply = f.call(Method::GET, next, &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(applied(&reply).is_empty(), "{:?}", reply.headers);
    assert_eq!(reply.body["value"][0]["contactid"], id.to_string());
    assert_eq!(reply.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn delta_pages_follow_next_links_records_first() {
    let (f, token) = ready().await;
    let ids = seed(&f, &["A", "B", "C", "D", "E"]);
    let (_, _, delta) = sync(&f, &token, &f.api("accounts?$select=name"), None).await;
    delete(&f, &token, &format!("accounts({})", ids[0])).await;
    for (i, id) in ids[1..4].iter().enumerate().rev() {
        patch(
            &f,
            &token,
            &format!("accounts({id})"),
            json!({"name": format!("N{i}")}),
        )
        .await;
    }
    delete(&f, &token, &format!("accounts({})", ids[4])).await;

    let (entries, pages, _) = sync(&f, &token, &delta, Some(2)).await;
    assert_eq!(pages, 3);
    assert_eq!(upserted(&entries), [ids[3], ids[2], ids[1]]);
    assert_eq!(names(&entries[..3]), ["N2", "N1", "N0"]);
    assert_eq!(deleted(&f, &entries[3..]), [ids[0], ids[4]]);
}

#[tokio::test]
async fn lookup_changes_make_the_changed_record_part_of_the_delta() {
    let (f, token) = ready().await;
    let account = create(&f, &token, "accounts", json!({"name": "A"})).await;
    let kid = create(&f, &token, "contacts", json!({"lastname": "Kid"})).await;
    create(&f, &token, "contacts", json!({"lastname": "Other"})).await;
    let sync_contacts = |delta: String| {
        let (f, token) = (&f, &token);
        async move { sync(f, token, &delta, None).await }
    };
    let (_, _, delta) = sync(&f, &token, &f.api("contacts?$select=lastname"), None).await;
    let reply = f
        .send(
            Method::POST,
            &format!("accounts({account})/contact_customer_accounts/$ref"),
            &token,
            Some(json!({"@odata.id": f.api(&format!("contacts({kid})"))})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let (entries, _, delta) = sync_contacts(delta).await;
    let ids: Vec<&Value> = entries.iter().map(|e| &e["contactid"]).collect();
    assert_eq!(
        ids,
        [&json!(kid.to_string())],
        "associating sets Kid's lookup"
    );

    // Deleting the account clears Kid's lookup: a change to Kid, not to Other.
    delete(&f, &token, &format!("accounts({account})")).await;
    let (entries, _, _) = sync_contacts(delta).await;
    let ids: Vec<&Value> = entries.iter().map(|e| &e["contactid"]).collect();
    assert_eq!(ids, [&json!(kid.to_string())]);
}

#[tokio::test]
async fn tables_without_change_tracking_are_refused() {
    let (f, token) = ready().await;
    let reply = tracked(&f, &token, "tasks?$select=subject", None).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "0x80040203");
    assert_eq!(message, "Entity: task isn't enabled for change tracking.");
    // A delta token of a tracked table does not open an untracked one.
    let (_, _, delta) = sync(&f, &token, &f.api("accounts"), None).await;
    let foreign = delta.replace("/accounts?", "/tasks?");
    let reply = f.call(Method::GET, &foreign, &token).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "0x80040203");
    // Without change tracking the table reads as always.
    let reply = f.call(Method::GET, "tasks?$select=subject", &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn query_options_other_than_select_are_refused_with_change_tracking() {
    let (f, token) = ready().await;
    seed(&f, &["A"]);
    let (_, _, delta) = sync(&f, &token, &f.api("accounts?$select=name"), None).await;
    for (option, query) in [
        ("$filter", "$filter=name eq 'A'"),
        ("$orderby", "$orderby=name desc"),
        ("$expand", "$expand=primarycontactid($select=fullname)"),
        ("$top", "$top=1"),
    ] {
        let expected = format!(
            "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
        );
        let reply = tracked(&f, &token, &format!("accounts?$select=name&{query}"), None).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
        assert_eq!(message, expected);
        let reply = tracked(&f, &token, &format!("{delta}&{query}"), None).await;
        assert_eq!(
            reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888"),
            expected
        );
        // Without change tracking the same query is answered.
        let reply = f
            .call(
                Method::GET,
                &format!("accounts?$select=name&{query}"),
                &token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
    }
    let reply = tracked(&f, &token, "accounts?$select=nosuch", None).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

#[tokio::test]
async fn bad_delta_tokens_and_skiptokens_are_refused() {
    let (f, token) = ready().await;
    seed(&f, &["A", "B", "C"]);
    let (_, _, delta) = sync(&f, &token, &f.api("accounts?$select=name"), None).await;
    let (link, raw) = delta.split_once("$deltatoken=").unwrap();
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .unwrap();
    let (version, tag) = decoded.split_once('!').unwrap();
    let future = format!("{}!{tag}", version.parse::<u64>().unwrap() + 1000);
    let other = start().await;
    let other_token = other.access_token().await;
    let (_, _, foreign) = sync(&other, &other_token, &other.api("accounts"), None).await;
    let foreign = foreign.split_once("$deltatoken=").unwrap().1.to_owned();
    for bad in [
        "".to_owned(),
        "garbage".to_owned(),
        version.to_owned(),
        format!("-1!{tag}"),
        format!("+{version}!{tag}"),
        format!("5!{tag}"),
        format!("99999999999999999999999!{tag}"),
        url::form_urlencoded::byte_serialize(future.as_bytes()).collect(),
        foreign,
    ] {
        let reply = tracked(&f, &token, &format!("{link}$deltatoken={bad}"), None).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
        assert!(message.contains("$deltatoken"), "{bad}: {message}");
    }
    // Only an entity set takes a delta token.
    let a = f.emulator.records("accounts").unwrap()[0]["accountid"].clone();
    let path = format!("accounts({})?$deltatoken={raw}", a.as_str().unwrap());
    let reply = f.call(Method::GET, &path, &token).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");

    // A sync's next link cannot be tampered with or reused for another kind of page.
    let first = tracked(&f, &token, "accounts?$select=name", Some(1)).await;
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    let delta_page = |url: String| {
        let (f, token) = (&f, &token);
        async move { tracked(f, token, &url, Some(1)).await }
    };
    for bad in [
        next.replace("stage%253d%2522records", "stage%253d%2522other"),
        next.replace("upto%253d%2522", "upto%253d%25229"),
        format!("{next}&$deltatoken={raw}"),
        next.replace(
            "accounts?",
            "accounts(00000000-0000-0000-0000-000000000001)?",
        ),
    ] {
        assert_ne!(bad, next);
        let reply = delta_page(bad.clone()).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
        assert!(message.contains("$skiptoken"), "{bad}: {message}");
    }
    // A plain query's next link is no page of a sync.
    let plain = f
        .send(
            Method::GET,
            "accounts?$select=name",
            &token,
            None,
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .await;
    let plain_next = plain.body["@odata.nextLink"].as_str().unwrap().to_owned();
    let reply = delta_page(plain_next).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

/// A `$batch` body of one change set.
fn change_set(parts: &[(&str, String, Option<Value>)]) -> String {
    let mut out =
        String::from("--batch_t\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n");
    for (n, (method, url, body)) in parts.iter().enumerate() {
        out.push_str("--changeset_1\r\nContent-Type: application/http\r\n");
        out.push_str(&format!(
            "Content-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{method} {url} HTTP/1.1\r\n",
            n + 1
        ));
        match body {
            Some(body) => out.push_str(&format!(
                "Content-Type: application/json; type=entry\r\n\r\n{body}\r\n"
            )),
            None => out.push_str("\r\n\r\n"),
        }
    }
    out.push_str("--changeset_1--\r\n--batch_t--\r\n");
    out
}

async fn batch(f: &Fixture, token: &str, body: String) -> (StatusCode, String) {
    let response = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(token)
        .header("Content-Type", "multipart/mixed; boundary=batch_t")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_rolled_back_change_set_leaves_no_change_behind() {
    let (f, token) = ready().await;
    let ids = seed(&f, &["A", "B"]);
    let (_, _, delta) = sync(&f, &token, &f.api("accounts?$select=name"), None).await;
    let api = f.emulator.web_api_url();
    let changes = vec![
        (
            "PATCH",
            format!("{api}accounts({})", ids[0]),
            Some(json!({"name": "A2"})),
        ),
        ("DELETE", format!("{api}accounts({})", ids[1]), None),
        (
            "POST",
            format!("{api}accounts"),
            Some(json!({"name": "New"})),
        ),
    ];
    // The last part fails (an unknown column), so the whole change set is undone.
    let mut failing = changes.clone();
    failing.push((
        "PATCH",
        format!("{api}accounts({})", Uuid::new_v4()),
        Some(json!({"nosuch": 1})),
    ));
    let (status, text) = batch(&f, &token, change_set(&failing)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let reply = tracked(&f, &token, &delta, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["value"],
        json!([]),
        "nothing changed, nothing was deleted"
    );

    // The same changes, committed, are all reported.
    let (status, text) = batch(&f, &token, change_set(&changes)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (entries, _, _) = sync(&f, &token, &delta, None).await;
    assert_eq!(names(&entries[..2]), ["A2", "New"]);
    assert_eq!(upserted(&entries)[0], ids[0]);
    assert_eq!(deleted(&f, &entries), [ids[1]]);
}

#[tokio::test]
async fn a_change_made_while_a_sync_pages_is_reported_by_the_next_delta() {
    let (f, token) = ready().await;
    let ids = seed(&f, &["A", "B", "C", "D", "E", "F"]);
    let first = tracked(&f, &token, "accounts?$select=name", Some(2)).await;
    assert_eq!(names(first.body["value"].as_array().unwrap()), ["A", "B"]);
    // While the sync pages: a record already served changes, a served one is deleted, a
    // record not yet served changes, and one is created.
    patch(
        &f,
        &token,
        &format!("accounts({})", ids[0]),
        json!({"name": "A2"}),
    )
    .await;
    delete(&f, &token, &format!("accounts({})", ids[1])).await;
    patch(
        &f,
        &token,
        &format!("accounts({})", ids[3]),
        json!({"name": "D2"}),
    )
    .await;
    let g = create(&f, &token, "accounts", json!({"name": "G"})).await;

    let next = first.body["@odata.nextLink"].as_str().unwrap();
    let (rest, pages, delta) = sync(&f, &token, next, Some(2)).await;
    // The deletion of a served record shifts nothing: no record is skipped.
    assert_eq!(names(&rest), ["C", "D2", "E", "F", "G"]);
    assert_eq!(pages, 3);

    // Every change made after the first page was served is reported again, at least once.
    let (entries, _, _) = sync(&f, &token, &delta, None).await;
    assert_eq!(upserted(&entries), [ids[0], ids[3], g]);
    assert_eq!(deleted(&f, &entries), [ids[1]]);
}
