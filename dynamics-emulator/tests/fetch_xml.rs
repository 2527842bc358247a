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
    url_on("accounts", fetch)
}

fn url_on(set: &str, fetch: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(fetch.as_bytes()).collect();
    format!("{set}?fetchXml={encoded}")
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

/// The accounts of `seeded`, with contacts: Ann and Bob work for Alpha, Cid for Gamma; Alpha's
/// primary contact is Ann.
async fn with_contacts() -> (Fixture, String) {
    let (f, token) = seeded().await;
    let id = |n: u32| format!("00000000-0000-4000-8000-0000000000{n:02}");
    f.emulator
        .seed(&json!({"contacts": [
            {"contactid": id(11), "firstname": "Ann", "lastname": "Ames", "parentcustomerid_account@odata.bind": format!("/accounts({})", id(1))},
            {"contactid": id(12), "firstname": "Bob", "lastname": "Berg", "parentcustomerid_account@odata.bind": format!("/accounts({})", id(1))},
            {"contactid": id(13), "firstname": "Cid", "lastname": "Cole", "parentcustomerid_account@odata.bind": format!("/accounts({})", id(3))},
        ]}))
        .unwrap();
    let reply = f
        .send(
            Method::PATCH,
            &format!("accounts({})", id(1)),
            &token,
            Some(json!({"primarycontactid@odata.bind": format!("/contacts({})", id(11))})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    (f, token)
}

async fn rows(f: &Fixture, token: &str, fetch: &str) -> Vec<Value> {
    let set = if fetch.contains("<entity name=\"contact\"") {
        "contacts"
    } else {
        "accounts"
    };
    let reply = f.call(Method::GET, &url_on(set, fetch), token).await;
    assert_eq!(reply.status, StatusCode::OK, "{fetch}: {}", reply.body);
    reply.body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn link_entities_join_inner_and_outer_with_aliases() {
    let (f, token) = with_contacts().await;
    // Outer: every account, its primary contact's columns under the link's alias.
    let outer = rows(&f, &token, "<fetch><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"name\"/>\
        <link-entity name=\"contact\" from=\"contactid\" to=\"primarycontactid\" link-type=\"outer\" alias=\"pc\">\
          <attribute name=\"lastname\"/><attribute name=\"firstname\" alias=\"first\"/></link-entity></entity></fetch>").await;
    assert_eq!(outer.len(), 4);
    assert_eq!(outer[0]["name"], "Alpha");
    assert_eq!(outer[0]["pc.lastname"], "Ames");
    assert_eq!(
        outer[0]["first"], "Ann",
        "an aliased attribute comes back under its alias"
    );
    assert!(
        outer[1].get("pc.lastname").is_none(),
        "no match, nothing linked: {}",
        outer[1]
    );

    // Inner, one to many: one row per contact of the account, without an alias given.
    let inner = rows(
        &f,
        &token,
        "<fetch><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"name\"/>\
        <link-entity name=\"contact\" from=\"parentcustomerid\" to=\"accountid\">\
          <attribute name=\"firstname\"/></link-entity></entity></fetch>",
    )
    .await;
    let pairs: Vec<(String, String)> = inner
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["contact1.firstname"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = vec![
        ("Alpha".to_owned(), "Ann".to_owned()),
        ("Alpha".to_owned(), "Bob".to_owned()),
        ("Gamma".to_owned(), "Cid".to_owned()),
    ];
    let mut sorted = pairs.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);

    // A filter inside the link, a condition on the link from the entity's filter (entityname),
    // and a link nested in a link (the contact's account again).
    let filtered = rows(&f, &token, "<fetch><entity name=\"account\"><attribute name=\"name\"/>\
        <link-entity name=\"contact\" from=\"parentcustomerid\" to=\"accountid\" alias=\"c\">\
          <attribute name=\"firstname\"/>\
          <filter><condition attribute=\"lastname\" operator=\"like\" value=\"%e%\"/></filter>\
          <link-entity name=\"account\" from=\"accountid\" to=\"parentcustomerid\" alias=\"again\"><attribute name=\"revenue\"/></link-entity>\
        </link-entity>\
        <filter><condition entityname=\"c\" attribute=\"firstname\" operator=\"ne\" value=\"Bob\"/></filter>\
        </entity></fetch>").await;
    let got: Vec<(String, String, f64)> = filtered
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["c.firstname"].as_str().unwrap().to_owned(),
                r["again.revenue"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Alpha".to_owned(), "Ann".to_owned(), 100.0),
            ("Gamma".to_owned(), "Cid".to_owned(), 300.0)
        ]
    );

    // Refusals: a table, a column or an alias that is not there.
    for (fetch, code) in [
        (
            "<link-entity name=\"nosuch\" from=\"a\" to=\"accountid\"/>",
            "0x80040203",
        ),
        (
            "<link-entity name=\"contact\" from=\"nosuch\" to=\"accountid\"/>",
            "0x80041103",
        ),
        (
            "<link-entity name=\"contact\" from=\"contactid\" to=\"nosuch\"/>",
            "0x80041103",
        ),
        (
            "<link-entity name=\"contact\" from=\"contactid\" to=\"primarycontactid\"><attribute name=\"nosuch\"/></link-entity>",
            "0x80041103",
        ),
        (
            "<filter><condition entityname=\"zz\" attribute=\"name\" operator=\"null\"/></filter>",
            "0x80040203",
        ),
    ] {
        f.call(
            Method::GET,
            &url(&format!(
                "<fetch><entity name=\"account\">{fetch}</entity></fetch>"
            )),
            &token,
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn aggregates_count_sum_avg_min_max_and_group() {
    let (f, token) = with_contacts().await;
    let totals = rows(
        &f,
        &token,
        "<fetch aggregate=\"true\"><entity name=\"account\">\
        <attribute name=\"accountid\" alias=\"n\" aggregate=\"count\"/>\
        <attribute name=\"address1_city\" alias=\"cities\" aggregate=\"countcolumn\"/>\
        <attribute name=\"revenue\" alias=\"total\" aggregate=\"sum\"/>\
        <attribute name=\"revenue\" alias=\"mean\" aggregate=\"avg\"/>\
        <attribute name=\"numberofemployees\" alias=\"fewest\" aggregate=\"min\"/>\
        <attribute name=\"numberofemployees\" alias=\"most\" aggregate=\"max\"/>\
        <attribute name=\"numberofemployees\" alias=\"staff\" aggregate=\"sum\"/>\
        </entity></fetch>",
    )
    .await;
    assert_eq!(totals.len(), 1);
    let t = &totals[0];
    assert_eq!(t["n"], 4);
    assert_eq!(t["cities"], 2, "nulls are not counted");
    assert_eq!(t["total"].as_f64(), Some(1000.0));
    assert_eq!(t["mean"].as_f64(), Some(250.0));
    assert_eq!(
        (t["fewest"].clone(), t["most"].clone()),
        (json!(5), json!(500))
    );
    assert_eq!(t["staff"], 555);
    assert!(t.get("accountid").is_none() && t.get("@odata.etag").is_none());

    // Grouped by a linked column, ordered by an aggregate's alias; the accounts without
    // contacts make no group of an inner link.
    let grouped = rows(
        &f,
        &token,
        "<fetch aggregate=\"true\"><entity name=\"account\">\
        <attribute name=\"revenue\" alias=\"revenue\" aggregate=\"max\"/>\
        <link-entity name=\"contact\" from=\"parentcustomerid\" to=\"accountid\" alias=\"c\">\
          <attribute name=\"contactid\" alias=\"people\" aggregate=\"count\"/>\
          <attribute name=\"parentcustomerid\" alias=\"account\" groupby=\"true\"/>\
        </link-entity><order alias=\"people\" descending=\"true\"/></entity></fetch>",
    )
    .await;
    assert_eq!(
        grouped,
        [
            json!({"revenue": 100, "people": 2, "account": "00000000-0000-4000-8000-000000000001"}),
            json!({"revenue": 300, "people": 1, "account": "00000000-0000-4000-8000-000000000003"}),
        ]
    );

    // Distinct counts, groups of null together, and an empty set still answering counts.
    let cities = rows(
        &f,
        &token,
        "<fetch aggregate=\"true\"><entity name=\"account\">\
        <attribute name=\"address1_city\" alias=\"city\" groupby=\"true\"/>\
        <attribute name=\"accountid\" alias=\"n\" aggregate=\"count\"/>\
        <order alias=\"city\"/></entity></fetch>",
    )
    .await;
    assert_eq!(
        cities,
        [
            json!({"n": 2}),
            json!({"city": "Oslo", "n": 1}),
            json!({"city": "Rome", "n": 1})
        ]
    );
    let none = rows(&f, &token, "<fetch aggregate=\"true\"><entity name=\"account\">\
        <attribute name=\"accountid\" alias=\"n\" aggregate=\"count\"/>\
        <attribute name=\"revenue\" alias=\"total\" aggregate=\"sum\"/>\
        <filter><condition attribute=\"name\" operator=\"eq\" value=\"nobody\"/></filter></entity></fetch>").await;
    assert_eq!(none, [json!({"n": 0})]);
    let distinct = rows(&f, &token, "<fetch aggregate=\"true\"><entity name=\"contact\">\
        <attribute name=\"parentcustomerid\" alias=\"employers\" aggregate=\"countcolumn\" distinct=\"true\"/>\
        </entity></fetch>").await;
    assert_eq!(distinct, [json!({"employers": 2})]);
}

/// `with_contacts`, plus Dee (last name ALPHA, income 200.0) and Eve (alpha, 300), who work
/// for no account.
async fn with_namesakes() -> (Fixture, String) {
    let (f, token) = with_contacts().await;
    f.emulator
        .seed(&json!({"contacts": [
            {"contactid": "00000000-0000-4000-8000-000000000014", "firstname": "Dee", "lastname": "ALPHA", "annualincome": 200.0},
            {"contactid": "00000000-0000-4000-8000-000000000015", "firstname": "Eve", "lastname": "alpha", "annualincome": 300},
        ]}))
        .unwrap();
    (f, token)
}

/// (account name, linked contact's first name) of each row.
async fn joined(
    f: &Fixture,
    token: &str,
    from: &str,
    to: &str,
    orders: &str,
) -> Vec<(String, String)> {
    let fetch = format!(
        "<fetch><entity name=\"account\"><attribute name=\"name\"/>{orders}\
         <link-entity name=\"contact\" from=\"{from}\" to=\"{to}\" alias=\"c\"><attribute name=\"firstname\"/></link-entity>\
         </entity></fetch>"
    );
    rows(f, token, &fetch)
        .await
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["c.firstname"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn links_match_text_without_case_and_numbers_by_value() {
    let (f, token) = with_namesakes().await;
    let pair = |a: &str, c: &str| (a.to_owned(), c.to_owned());
    // Alpha matches ALPHA and alpha; rows of one account follow the linked keys' order.
    assert_eq!(
        joined(
            &f,
            &token,
            "lastname",
            "name",
            "<order attribute=\"name\"/>"
        )
        .await,
        [pair("Alpha", "Dee"), pair("Alpha", "Eve")]
    );
    // 200 matches 200.0.
    assert_eq!(
        joined(
            &f,
            &token,
            "annualincome",
            "revenue",
            "<order attribute=\"name\"/>"
        )
        .await,
        [pair("Beta & Co", "Dee"), pair("Gamma", "Eve")]
    );
    // Several orders, one descending: nulls sort first, so they come last here.
    assert_eq!(
        joined(
            &f,
            &token,
            "parentcustomerid",
            "accountid",
            "<order attribute=\"address1_city\" descending=\"true\"/><order attribute=\"name\"/>"
        )
        .await,
        [
            pair("Gamma", "Cid"),
            pair("Alpha", "Ann"),
            pair("Alpha", "Bob")
        ]
    );
    let fetch = "<fetch><entity name=\"account\"><attribute name=\"name\"/>\
        <order attribute=\"address1_city\" descending=\"true\"/><order attribute=\"name\"/></entity></fetch>";
    assert_eq!(
        names(&f, &token, fetch).await,
        ["Gamma", "Alpha", "alphabet", "Beta & Co"]
    );
}

#[tokio::test]
async fn groups_and_distinct_counts_compare_text_without_case() {
    let (f, token) = with_namesakes().await;
    let grouped = rows(
        &f,
        &token,
        "<fetch aggregate=\"true\"><entity name=\"contact\">\
        <attribute name=\"lastname\" alias=\"who\" groupby=\"true\"/>\
        <attribute name=\"contactid\" alias=\"n\" aggregate=\"count\"/>\
        <attribute name=\"annualincome\" alias=\"top\" aggregate=\"max\"/>\
        <order alias=\"n\" descending=\"true\"/></entity></fetch>",
    )
    .await;
    // The group of ALPHA and alpha shows its first member's value; ties keep the grouped
    // values' order.
    assert_eq!(
        grouped,
        [
            json!({"who": "ALPHA", "n": 2, "top": 300}),
            json!({"who": "Ames", "n": 1}),
            json!({"who": "Berg", "n": 1}),
            json!({"who": "Cole", "n": 1}),
        ]
    );
    let distinct = rows(
        &f,
        &token,
        "<fetch aggregate=\"true\"><entity name=\"contact\">\
        <attribute name=\"lastname\" alias=\"names\" aggregate=\"countcolumn\" distinct=\"true\"/>\
        <attribute name=\"annualincome\" alias=\"least\" aggregate=\"min\"/>\
        </entity></fetch>",
    )
    .await;
    assert_eq!(distinct, [json!({"names": 4, "least": 200.0})]);
}

#[tokio::test]
async fn an_order_alias_must_name_an_attribute() {
    let (f, token) = seeded().await;
    let message = f
        .call(
            Method::GET,
            &url("<fetch aggregate=\"true\"><entity name=\"account\">\
                <attribute name=\"accountid\" alias=\"n\" aggregate=\"count\"/>\
                <order alias=\"nosuch\"/></entity></fetch>"),
            &token,
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80040203")
        .to_owned();
    assert_eq!(
        message,
        "The order alias 'nosuch' names no attribute of the query."
    );
    // An attribute the entity does not have is reported first.
    f.call(
        Method::GET,
        &url("<fetch aggregate=\"true\"><entity name=\"account\">\
            <attribute name=\"nosuch\" alias=\"n\" aggregate=\"count\"/>\
            <order alias=\"other\"/></entity></fetch>"),
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80041103");
}
