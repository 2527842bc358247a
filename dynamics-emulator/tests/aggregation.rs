//! `$apply` (the documented examples of
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>),
//! the 50,000-record aggregate limit, FetchXML's `$count`, `distinct` and `dategrouping`
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/aggregate-data>,
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/count-rows>)
//! and single-property reads
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-a-single-property-value>).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, start, start_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ALPHA: &str = "00000000-0000-4000-8000-00000000000a";
const CONTACT: &str = "00000000-0000-4000-8000-0000000000c1";

async fn seeded() -> (Fixture, String) {
    seed(start().await).await
}

async fn seed(f: Fixture) -> (Fixture, String) {
    let token = f.access_token().await;
    f.emulator
        .seed(&json!({
            "contacts": [{"contactid": CONTACT, "firstname": "Jim", "lastname": "Glynn"}],
            "accounts": [
                {"accountid": ALPHA, "name": "Alpha", "statuscode": 1, "revenue": 100, "industrycode": 1,
                 "address1_city": "Oslo", "lastonholdtime": "2023-03-25T17:42:47Z",
                 "primarycontactid@odata.bind": format!("/contacts({CONTACT})")},
                {"name": "Beta", "statuscode": 1, "revenue": 300, "industrycode": 1,
                 "address1_city": "oslo", "lastonholdtime": "2023-03-26T08:00:00Z",
                 "primarycontactid@odata.bind": format!("/contacts({CONTACT})")},
                {"name": "Gamma", "statuscode": 2, "revenue": 10, "industrycode": 2,
                 "address1_city": "Rome", "lastonholdtime": "2023-08-27T10:00:00Z"},
                {"name": "Delta", "statuscode": 1, "industrycode": 2},
            ],
        }))
        .unwrap();
    (f, token)
}

async fn get(f: &Fixture, token: &str, path: &str) -> Value {
    let reply = f.call(Method::GET, path, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    reply.body
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn apply(f: &Fixture, token: &str, apply: &str) -> Vec<Value> {
    let body = get(f, token, &format!("accounts?$apply={}", encoded(apply))).await;
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#accounts")
    );
    body["value"].as_array().unwrap().clone()
}

/// "List of unique statuses in the query", asked with
/// `Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"`: each grouped
/// value comes with its label, and so does each aggregate (en-US number format).
#[tokio::test]
async fn apply_answers_formatted_values_when_asked() {
    let (f, token) = seed(
        start_with(|b| {
            b.choices_file(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../dynamics-codegen/tests/fixtures/sample.choices.json"
            ))
        })
        .await,
    )
    .await;
    let path = format!(
        "accounts?$apply={}",
        encoded("groupby((statuscode),aggregate($count as count,revenue with sum as total))")
    );
    let prefer = "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"";
    let reply = f
        .send(Method::GET, &path, &token, None, &[("Prefer", prefer)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let formatted = "@OData.Community.Display.V1.FormattedValue";
    assert_eq!(
        reply.body["value"][0],
        json!({
            format!("statuscode{formatted}"): "Active",
            "statuscode": 1,
            format!("count{formatted}"): "3",
            "count": 3,
            format!("total{formatted}"): "400.00",
            "total": 400,
        })
    );
    // Without the preference, no annotation.
    let plain = apply(&f, &token, "groupby((statuscode))").await;
    assert_eq!(plain[0], json!({"statuscode": 1}));
}

#[tokio::test]
async fn apply_answers_the_documented_examples() {
    let (f, token) = seeded().await;
    // List of unique statuses, sorted by value.
    assert_eq!(
        apply(&f, &token, "groupby((statuscode))").await,
        [json!({"statuscode": 1}), json!({"statuscode": 2})]
    );
    // Count by status values.
    assert_eq!(
        apply(
            &f,
            &token,
            "groupby((statuscode),aggregate($count as count))"
        )
        .await,
        [
            json!({"statuscode": 1, "count": 3}),
            json!({"statuscode": 2, "count": 1})
        ]
    );
    // Aggregate sum of revenue; nulls are left out.
    assert_eq!(
        apply(&f, &token, "aggregate(revenue with sum as total)").await,
        [json!({"total": 410})]
    );
    // Average revenue based on status.
    assert_eq!(
        apply(
            &f,
            &token,
            "groupby((statuscode),aggregate(revenue with average as averagevalue))"
        )
        .await,
        [
            json!({"statuscode": 1, "averagevalue": 200.0}),
            json!({"statuscode": 2, "averagevalue": 10.0})
        ]
    );
    // Total revenue by primary contact name: the group answers as `contact_fullname`; the
    // accounts without a contact form the group without a name.
    let by_contact = apply(
        &f,
        &token,
        "groupby((primarycontactid/fullname),aggregate(revenue with sum as total))",
    )
    .await;
    assert_eq!(
        by_contact,
        [
            json!({"total": 10}),
            json!({"contact_fullname": "Jim Glynn", "total": 400})
        ]
    );
    // A filter first.
    assert_eq!(
        apply(&f, &token, "filter(address1_city eq 'OSLO')/groupby((industrycode),aggregate(revenue with max as top,address1_city with countdistinct as cities))").await,
        [json!({"industrycode": 1, "top": 300, "cities": 1})]
    );
    // The last and first created dates.
    let last = apply(
        &f,
        &token,
        "aggregate(lastonholdtime with max as lastCreate,lastonholdtime with min as firstCreate)",
    )
    .await;
    assert_eq!(
        last,
        [json!({"lastCreate": "2023-08-27T10:00:00Z", "firstCreate": "2023-03-25T17:42:47Z"})]
    );
    // Distinct combinations, the null left out of the row.
    assert_eq!(
        apply(&f, &token, "groupby((statuscode,address1_city))")
            .await
            .len(),
        3,
        "(1, Oslo) and (1, oslo) are one group (case-insensitive), then (2, Rome) and (1, none)"
    );
    // `$orderby` on a grouped property.
    let ordered = get(
        &f,
        &token,
        &format!(
            "accounts?$apply={}&$orderby=statuscode desc",
            encoded("groupby((statuscode))")
        ),
    )
    .await;
    assert_eq!(ordered["value"][0]["statuscode"], 2);
}

#[tokio::test]
async fn apply_refuses_what_dataverse_refuses() {
    let (f, token) = seeded().await;
    for (query, says) in [
        (
            format!(
                "$apply={}&$orderby=total",
                encoded("aggregate(revenue with sum as total)")
            ),
            "SingleValueOpenPropertyAccess",
        ),
        (
            format!("$apply={}", encoded("groupby((lastonholdtime))")),
            "datetime",
        ),
        (format!("$apply={}", encoded("groupby((nosuch))")), "nosuch"),
        (
            format!("$apply={}", encoded("aggregate(revenue with median as m)")),
            "median",
        ),
        (
            format!("$apply={}&$select=name", encoded("groupby((statuscode))")),
            "$orderby only",
        ),
    ] {
        let reply = f
            .call(Method::GET, &format!("accounts?{query}"), &token)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{query}: {message}");
    }
}

/// "Queries that return aggregate values are limited to 50,000 records", error `8004E023`.
#[tokio::test]
async fn aggregates_stop_at_fifty_thousand_records() {
    let f = start().await;
    let token = f.access_token().await;
    let accounts: Vec<Value> = (0..50_001)
        .map(|i| json!({"name": if i == 0 { "first" } else { "other" }}))
        .collect();
    f.emulator.seed(&json!({ "accounts": accounts })).unwrap();
    let over = f
        .call(
            Method::GET,
            &format!("accounts?$apply={}", encoded("aggregate($count as count)")),
            &token,
        )
        .await;
    let message = over.assert_error(StatusCode::BAD_REQUEST, "0x8004E023");
    assert!(
        message.contains("AggregateQueryRecordLimit exceeded"),
        "{message}"
    );
    let filtered = apply(
        &f,
        &token,
        "filter(name eq 'first')/aggregate($count as count)",
    )
    .await;
    assert_eq!(filtered, [json!({"count": 1})]);
    let fetch = "<fetch aggregate='true'><entity name='account'><attribute name='name' alias='n' aggregate='count'/></entity></fetch>";
    let over = f
        .call(
            Method::GET,
            &format!("accounts?fetchXml={}", encoded(fetch)),
            &token,
        )
        .await;
    over.assert_error(StatusCode::BAD_REQUEST, "0x8004E023");
}

#[tokio::test]
async fn fetch_xml_counts_groups_dates_and_drops_duplicates() {
    let (f, token) = seeded().await;
    let fetch = "<fetch count='2'><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>";
    // `$count=true` with FetchXML, and `returntotalrecordcount`, count every matching row.
    let counted = get(
        &f,
        &token,
        &format!("accounts?fetchXml={}&$count=true", encoded(fetch)),
    )
    .await;
    assert_eq!(counted["@odata.count"], 4);
    assert_eq!(counted["value"].as_array().unwrap().len(), 2);
    let reply = f
        .send(
            Method::GET,
            &format!(
                "accounts?fetchXml={}",
                encoded(&fetch.replace("<fetch ", "<fetch returntotalrecordcount='true' "))
            ),
            &token,
            None,
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["@odata.count"], 4);
    assert_eq!(reply.body["@Microsoft.Dynamics.CRM.totalrecordcount"], 4);
    assert_eq!(
        reply.body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"],
        false
    );
    let plain = get(&f, &token, &format!("accounts?fetchXml={}", encoded(fetch))).await;
    assert!(plain.get("@odata.count").is_none());
    let both = "<fetch top='2' returntotalrecordcount='true'><entity name='account'/></fetch>";
    let reply = f
        .call(
            Method::GET,
            &format!("accounts?fetchXml={}", encoded(both)),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);

    // `distinct`: duplicate rows once, the key only when selected.
    let distinct = "<fetch distinct='true'><entity name='account'><attribute name='industrycode'/><order attribute='industrycode'/></entity></fetch>";
    let rows = get(
        &f,
        &token,
        &format!("accounts?fetchXml={}", encoded(distinct)),
    )
    .await;
    assert_eq!(
        rows["value"],
        json!([{"industrycode": 1}, {"industrycode": 2}])
    );

    // `dategrouping`: day, week, month, quarter and year of each date, in UTC; the
    // documented example puts 25 March 2023 in week 12 and 27 August 2023 in week 35.
    let grouped = "<fetch aggregate='true'><entity name='account'>\
        <attribute name='revenue' alias='total' aggregate='sum'/>\
        <attribute name='lastonholdtime' alias='year' groupby='true' dategrouping='year'/>\
        <attribute name='lastonholdtime' alias='quarter' groupby='true' dategrouping='quarter'/>\
        <attribute name='lastonholdtime' alias='month' groupby='true' dategrouping='month'/>\
        <attribute name='lastonholdtime' alias='week' groupby='true' dategrouping='week'/>\
        <order alias='month'/><order alias='week'/></entity></fetch>";
    let rows = get(
        &f,
        &token,
        &format!("accounts?fetchXml={}", encoded(grouped)),
    )
    .await;
    assert_eq!(
        rows["value"],
        json!([
            {},
            {"total": 100, "year": 2023, "quarter": 1, "month": 3, "week": 12},
            {"total": 300, "year": 2023, "quarter": 1, "month": 3, "week": 13},
            {"total": 10, "year": 2023, "quarter": 3, "month": 8, "week": 35},
        ])
    );
    let by_day = "<fetch aggregate='true'><entity name='account'>\
        <attribute name='lastonholdtime' alias='day' groupby='true' dategrouping='day'/>\
        <attribute name='name' alias='n' aggregate='count'/><order alias='day'/></entity></fetch>";
    let rows = get(
        &f,
        &token,
        &format!("accounts?fetchXml={}", encoded(by_day)),
    )
    .await;
    let days: Vec<Value> = rows["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["day"].clone())
        .collect();
    assert_eq!(days, [Value::Null, json!(25), json!(26), json!(27)]);
}

#[tokio::test]
async fn single_properties_read_as_json_or_raw() {
    let (f, token) = seeded().await;
    let name = get(&f, &token, &format!("accounts({ALPHA})/name")).await;
    assert_eq!(name["value"], "Alpha");
    assert!(
        name["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("$metadata#accounts({ALPHA})/name"))
    );
    let raw = f
        .call(
            Method::GET,
            &format!("accounts({ALPHA})/name/$value"),
            &token,
        )
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.header("content-type"), Some("text/plain"));
    assert_eq!(raw.body, "Alpha");
    let revenue = f
        .call(
            Method::GET,
            &format!("accounts({ALPHA})/revenue/$value"),
            &token,
        )
        .await;
    // The helper reads a body that parses as JSON as JSON: the text was `100`.
    assert_eq!(revenue.header("content-type"), Some("text/plain"));
    assert_eq!(revenue.body, json!(100));
    let empty = f
        .call(
            Method::GET,
            &format!("accounts({ALPHA})/telephone1/$value"),
            &token,
        )
        .await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    let missing = f
        .call(
            Method::GET,
            &format!("accounts({ALPHA})/nosuch/$value"),
            &token,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}
