//! Actions, functions and FetchXML. `WhoAmI` runs on dynamics-emulator; the rest run against
//! a scripted stub, because the emulator has no other operations and no FetchXML.

#![allow(clippy::unwrap_used)]

mod support;

use dynamics_client::FunctionParameters;
use futures::TryStreamExt as _;
use serde_json::json;
use support::emulated::start;
use support::stub::{Reply, Stub};
use support::{Account, WhoAmI};
use uuid::Uuid;

#[tokio::test]
async fn who_am_i_through_call_function() {
    let env = start().await;
    let (client, _) = env.client();
    let me: WhoAmI = client
        .call_function("WhoAmI", &FunctionParameters::new())
        .await
        .unwrap();
    assert!(!me.user_id.is_nil());
}

#[tokio::test]
async fn actions_and_functions_bound_and_unbound() {
    let stub = Stub::start(
        |request| match (request.method.as_str(), request.path.as_str()) {
            ("POST", p) if p.ends_with("/WinOpportunity") => Reply::new(204),
            ("POST", _) => Reply::json(
                200,
                r#"{"QueueItemId":"00000000-0000-0000-0000-000000000009"}"#,
            ),
            _ => Reply::json(200, r#"{"TimeZoneCode":4}"#),
        },
    )
    .await;
    let client = stub.client();
    let id = Uuid::from_u128(5);

    let answer = client
        .call_action("WinOpportunity", &json!({"Status": 3}))
        .await
        .unwrap();
    assert!(answer.is_null());
    let answer = client
        .call_bound_action::<Account>(Some(id), "AddToQueue", &json!({"Target": {}}))
        .await
        .unwrap();
    assert_eq!(
        answer["QueueItemId"],
        "00000000-0000-0000-0000-000000000009"
    );
    client
        .call_bound_action::<Account>(None, "contoso.Export", &json!({}))
        .await
        .unwrap();
    let params = FunctionParameters::new()
        .with("LocalizedStandardName", "Pacific Standard Time")
        .unwrap()
        .with("LocaleId", 1033)
        .unwrap();
    let zone: serde_json::Value = client
        .call_function("GetTimeZoneCodeByLocalizedName", &params)
        .await
        .unwrap();
    assert_eq!(zone["TimeZoneCode"], 4);
    let params = FunctionParameters::new()
        .with_record::<Account>("Target", id)
        .unwrap();
    let _: serde_json::Value = client
        .call_bound_function::<Account, _>(id, "RetrievePrincipalAccess", &params)
        .await
        .unwrap();

    let requests = stub.requests();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.path.trim_start_matches("/api/data/v9.2/"),
                r.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "POST WinOpportunity".to_owned(),
            format!("POST accounts({id})/Microsoft.Dynamics.CRM.AddToQueue"),
            "POST accounts/contoso.Export".to_owned(),
            "GET GetTimeZoneCodeByLocalizedName(LocalizedStandardName=@p1,LocaleId=@p2)?@p1=%27Pacific%20Standard%20Time%27&@p2=1033".to_owned(),
            format!("GET accounts({id})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)?@p1=%7B%27%40odata.id%27:%27accounts({id})%27%7D"),
        ]
    );
    assert_eq!(requests[0].body, r#"{"Status":3}"#);

    // Names that could change the path are refused before sending.
    assert!(client.call_action("a/../b", &json!({})).await.is_err());
    assert!(
        client
            .call_function::<serde_json::Value>(
                "Microsoft.Dynamics.CRM.WhoAmI",
                &FunctionParameters::new()
            )
            .await
            .is_err()
    );
    assert_eq!(stub.requests().len(), 5);
}

#[tokio::test]
async fn fetch_xml_pages_with_the_paging_cookie() {
    let stub = Stub::start(|request| {
        let query = request.query.clone().unwrap_or_default();
        let fetch = percent_encoding::percent_decode_str(query.trim_start_matches("fetchXml="))
            .decode_utf8()
            .unwrap()
            .into_owned();
        if fetch.contains("page=\"2\"") {
            Reply::json(200, r#"{"value":[{"name":"c"}]}"#)
        } else {
            Reply::json(
                200,
                r#"{"value":[{"name":"a"},{"name":"b"}],
                "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie":"<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253c%252fcookie%253e\" istracking=\"False\" />",
                "@Microsoft.Dynamics.CRM.morerecords":true}"#,
            )
        }
    })
    .await;
    let client = stub.client();
    let fetch = r#"<fetch count="2"><entity name="account"><attribute name="name"/><filter><condition attribute="name" operator="like" value="%&amp;x"/></filter></entity></fetch>"#;
    let names: Vec<String> = client
        .fetch_xml_stream::<Account>(fetch)
        .map_ok(|a| a.name.unwrap_or_default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["a", "b", "c"]);

    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0]
            .header("Prefer")
            .unwrap()
            .contains("Microsoft.Dynamics.CRM.fetchxmlpagingcookie")
    );
    let second = requests[1].query.clone().unwrap();
    let second = percent_encoding::percent_decode_str(second.trim_start_matches("fetchXml="))
        .decode_utf8()
        .unwrap()
        .into_owned();
    assert_eq!(
        second,
        "<fetch count=\"2\" page=\"2\" paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;&lt;/cookie&gt;\"><entity name=\"account\"><attribute name=\"name\"/><filter><condition attribute=\"name\" operator=\"like\" value=\"%&amp;x\"/></filter></entity></fetch>"
    );

    // The first page alone, and a query on another table refused before sending.
    let page = client.fetch_xml::<Account>(fetch).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let err = client
        .fetch_xml::<Account>("<fetch><entity name=\"contact\"/></fetch>")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not on `account`"), "{err}");
    assert_eq!(stub.requests().len(), 3);
}
