//! FetchXML over HTTP: attributes, conditions of every supported operator, nested filters,
//! order, paging through the paging cookie, and Dataverse-shaped refusals.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PAGING: &str = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie";
const MORE: &str = "@Microsoft.Dynamics.CRM.morerecords";

async fn seeded() -> (Fixture, String) {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator
        .seed(&json!({"accounts": [
            {"accountid": "00000000-0000-4000-8000-000000000001", "name": "Alpha", "revenue": 100, "numberofemployees": 5, "address1_city": "Oslo"},
            {"accountid": "00000000-0000-4000-8000-000000000002", "name": "Beta & Co", "revenue": 200, "numberofemployees": 50},
            {"accountid": "00000000-0000-4000-8000-000000000003", "name": "Gamma", "revenue": 300, "address1_city": "Rome",
             "parentaccountid@odata.bind": "/accounts(00000000-0000-4000-8000-000000000001)"},
            {"accountid": "00000000-0000-4000-8000-000000000004", "name": "alphabet", "revenue": 400, "numberofemployees": 500},
        ]}))
        .unwrap();
    (f, token)
}

fn url(fetch: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(fetch.as_bytes()).collect();
    format!("accounts?fetchXml={encoded}")
}

async fn names(f: &Fixture, token: &str, fetch: &str) -> Vec<String> {
    let reply = f.call(Method::GET, &url(fetch), token).await;
    assert_eq!(reply.status, StatusCode::OK, "{fetch}: {}", reply.body);
    reply.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn query(filter: &str) -> String {
    format!(
        "<fetch><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"name\"/>{filter}</entity></fetch>"
    )
}

#[tokio::test]
async fn selects_filters_and_orders() {
    let (f, token) = seeded().await;
    let reply = f
        .call(
            Method::GET,
            &url("<fetch><entity name=\"account\"><attribute name=\"name\"/><attribute name=\"address1_city\"/><attribute name=\"parentaccountid\"/><order attribute=\"revenue\" descending=\"true\"/></entity></fetch>"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows = reply.body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["name"], "alphabet");
    assert!(
        rows[0].get("address1_city").is_none(),
        "null properties are left out"
    );
    assert!(
        rows[0].get("revenue").is_none(),
        "only the asked attributes"
    );
    assert_eq!(rows[0]["accountid"], "00000000-0000-4000-8000-000000000004");
    assert_eq!(
        rows[1]["_parentaccountid_value"],
        "00000000-0000-4000-8000-000000000001"
    );
    assert!(rows[1]["@odata.etag"].is_string());

    let all = f
        .call(
            Method::GET,
            &url("<fetch><entity name=\"account\"><all-attributes/></entity></fetch>"),
            &token,
        )
        .await;
    assert_eq!(all.body["value"][0]["revenue"], 100);

    let cases: [(&str, &[&str]); 12] = [
        (
            "<filter><condition attribute=\"name\" operator=\"eq\" value=\"alpha\"/></filter>",
            &["Alpha"],
        ),
        (
            "<filter><condition attribute=\"name\" operator=\"ne\" value=\"Alpha\"/></filter>",
            &["alphabet", "Beta & Co", "Gamma"],
        ),
        (
            "<filter><condition attribute=\"revenue\" operator=\"gt\" value=\"200\"/></filter>",
            &["alphabet", "Gamma"],
        ),
        (
            "<filter><condition attribute=\"revenue\" operator=\"ge\" value=\"200\"/></filter>",
            &["alphabet", "Beta & Co", "Gamma"],
        ),
        (
            "<filter><condition attribute=\"numberofemployees\" operator=\"lt\" value=\"50\"/></filter>",
            &["Alpha"],
        ),
        (
            "<filter><condition attribute=\"numberofemployees\" operator=\"le\" value=\"50\"/></filter>",
            &["Alpha", "Beta & Co"],
        ),
        (
            "<filter><condition attribute=\"name\" operator=\"like\" value=\"alpha%\"/></filter>",
            &["Alpha", "alphabet"],
        ),
        (
            "<filter><condition attribute=\"name\" operator=\"not-like\" value=\"%&amp;%\"/></filter>",
            &["Alpha", "alphabet", "Gamma"],
        ),
        (
            "<filter><condition attribute=\"address1_city\" operator=\"null\"/></filter>",
            &["alphabet", "Beta & Co"],
        ),
        (
            "<filter><condition attribute=\"address1_city\" operator=\"not-null\"/></filter>",
            &["Alpha", "Gamma"],
        ),
        (
            "<filter><condition attribute=\"revenue\" operator=\"in\"><value>100</value><value>300</value></condition></filter>",
            &["Alpha", "Gamma"],
        ),
        (
            "<filter type=\"or\"><condition attribute=\"name\" operator=\"eq\" value=\"Gamma\"/>\
               <filter type=\"and\"><condition attribute=\"revenue\" operator=\"lt\" value=\"250\"/>\
                 <condition attribute=\"numberofemployees\" operator=\"gt\" value=\"10\"/></filter></filter>",
            &["Beta & Co", "Gamma"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&f, &token, &query(filter)).await,
            expected,
            "{filter}"
        );
    }
    let by_lookup = query(
        "<filter><condition attribute=\"parentaccountid\" operator=\"eq\" value=\"{00000000-0000-4000-8000-000000000001}\"/></filter>",
    );
    assert_eq!(names(&f, &token, &by_lookup).await, ["Gamma"]);
}

#[tokio::test]
async fn pages_with_the_paging_cookie() {
    let (f, token) = seeded().await;
    let prefer = [("Prefer", "odata.include-annotations=\"*\"")];
    let first = f
        .send(
            Method::GET,
            &url("<fetch count=\"3\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"revenue\"/></entity></fetch>"),
            &token,
            None,
            &prefer,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(first.body[MORE], true);
    let cookie = first.body[PAGING].as_str().unwrap();
    assert!(
        cookie.starts_with("<cookie pagenumber=\"2\" pagingcookie=\"%253"),
        "{cookie}"
    );
    // The inner cookie is URL-encoded twice and names the page's last key.
    let inner = cookie
        .split("pagingcookie=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let once: String = url::form_urlencoded::parse(format!("x={inner}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let twice: String = url::form_urlencoded::parse(format!("x={once}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert!(
        twice.contains("last=\"{00000000-0000-4000-8000-000000000003}\""),
        "{twice}"
    );

    let escaped = twice
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let second = f
        .send(
            Method::GET,
            &url(&format!("<fetch count=\"3\" page=\"2\" paging-cookie=\"{escaped}\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"revenue\"/></entity></fetch>")),
            &token,
            None,
            &prefer,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let rows: Vec<&Value> = second.body["value"].as_array().unwrap().iter().collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "alphabet");
    assert!(
        second.body.get(PAGING).is_none() && second.body.get(MORE).is_none(),
        "last page"
    );

    // The cookie, not the page number, says where the next page starts: a record added
    // before it since does not bring the previous page's last record back.
    f.emulator
        .seed(&json!({"accounts": [{"name": "Early", "revenue": 50}]}))
        .unwrap();
    let next = |page: usize| {
        format!(
            "<fetch count=\"3\" page=\"{page}\" paging-cookie=\"{escaped}\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"revenue\"/></entity></fetch>"
        )
    };
    assert_eq!(names(&f, &token, &next(2)).await.concat(), "alphabet");
    let by_number = f
        .call(Method::GET, &url("<fetch count=\"3\" page=\"2\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"revenue\"/></entity></fetch>"), &token)
        .await;
    assert_eq!(
        by_number.body["value"][0]["name"], "Gamma",
        "page numbers alone shift"
    );
    // A cookie for another page than the one before, or one that cannot be read, is refused.
    f.call(Method::GET, &url(&next(3)), &token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80040203");
    f.call(
        Method::GET,
        &url("<fetch page=\"2\" paging-cookie=\"&lt;nonsense\"><entity name=\"account\"/></fetch>"),
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80040203");

    // Without the annotations asked for, the page comes without them.
    let plain = f
        .call(
            Method::GET,
            &url("<fetch count=\"1\"><entity name=\"account\"/></fetch>"),
            &token,
        )
        .await;
    assert_eq!(plain.body["value"].as_array().unwrap().len(), 1);
    assert!(plain.body.get(PAGING).is_none());
}

#[tokio::test]
async fn refuses_malformed_fetch_xml() {
    let (f, token) = seeded().await;
    for (fetch, code) in [
        ("<fetch><entity name=\"account\">", "0x80040203"),
        ("not xml", "0x80040203"),
        ("<fetch><entity name=\"contact\"/></fetch>", "0x80040203"),
        (
            "<fetch><entity name=\"account\"><filter><condition attribute=\"name\" operator=\"between\" value=\"a\"/></filter></entity></fetch>",
            "0x80040203",
        ),
        (
            "<fetch><entity name=\"account\"><filter><condition attribute=\"revenue\" operator=\"gt\" value=\"lots\"/></filter></entity></fetch>",
            "0x80040203",
        ),
        (
            "<fetch><entity name=\"account\"><attribute name=\"nosuch\"/></entity></fetch>",
            "0x80041103",
        ),
        (
            "<fetch><entity name=\"account\"><order attribute=\"nosuch\"/></entity></fetch>",
            "0x80041103",
        ),
    ] {
        f.call(Method::GET, &url(fetch), &token)
            .await
            .assert_error(StatusCode::BAD_REQUEST, code);
    }
    f.call(
        Method::GET,
        &format!(
            "{}&$top=1",
            url("<fetch><entity name=\"account\"/></fetch>")
        ),
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

#[tokio::test]
async fn far_pages_are_empty_and_never_overflow() {
    let (f, token) = seeded().await;
    let huge = usize::MAX;
    let reply = f
        .send(
            Method::GET,
            &url(&format!(
                "<fetch count=\"{huge}\" page=\"{huge}\"><entity name=\"account\"/></fetch>"
            )),
            &token,
            None,
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["value"].as_array().unwrap().is_empty());
    assert!(reply.body.get(MORE).is_none());
}
