//! Choice columns with the sample choices document: the metadata API's option set endpoints,
//! the check of choice values on every kind of write, and labels as formatted values.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{Fixture, start_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const OUT_OF_RANGE: &str = "0x8004431a";

fn sample_choices() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.choices.json"
    ))
}

async fn ready() -> (Fixture, String) {
    let f = start_with(|b| b.choices_file(sample_choices())).await;
    let token = f.access_token().await;
    (f, token)
}

#[tokio::test]
async fn serves_attribute_option_sets_like_the_metadata_api() {
    let (f, token) = ready().await;
    let reply = f
        .call(
            Method::GET,
            "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet,GlobalOptionSet",
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let value = reply.body["value"].as_array().unwrap();
    let names: Vec<&str> = value
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["industrycode", "accountcategorycode"]);
    let industry = &value[0];
    assert_eq!(industry["OptionSet"]["Name"], "account_industrycode");
    assert_eq!(industry["OptionSet"]["Options"][0]["Value"], 1);
    assert!(industry["GlobalOptionSet"].is_null());
    assert!(
        industry["MetadataId"].is_string(),
        "the key always comes back"
    );

    // Without $expand the option sets (navigation properties there) are left out.
    let plain = f
        .call(
            Method::GET,
            "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StateAttributeMetadata",
            &token,
        )
        .await;
    let state = &plain.body["value"][0];
    assert_eq!(state["LogicalName"], "statecode");
    assert!(state.get("OptionSet").is_none(), "{state}");

    // A column on a global choice shows the global definition when expanded.
    let stage = f
        .call(
            Method::GET,
            "EntityDefinitions(LogicalName='new_project')/Attributes(LogicalName='new_stage')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=GlobalOptionSet",
            &token,
        )
        .await;
    assert_eq!(stage.status, StatusCode::OK, "{}", stage.body);
    assert_eq!(stage.body["GlobalOptionSet"]["Name"], "new_projectstage");
    assert_eq!(
        stage.body["GlobalOptionSet"]["Options"][0]["Value"],
        100000000
    );

    for cast in [
        "MultiSelectPicklistAttributeMetadata",
        "BooleanAttributeMetadata",
        "StatusAttributeMetadata",
    ] {
        let reply = f
            .call(
                Method::GET,
                &format!("EntityDefinitions(LogicalName='new_project')/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet"),
                &token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{cast}: {}", reply.body);
        assert_eq!(reply.body["value"].as_array().unwrap().len(), 1, "{cast}");
        assert!(reply.body["value"][0]["OptionSet"].is_object(), "{cast}");
    }

    f.call(
        Method::GET,
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.NoSuchAttributeMetadata",
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80060888");
    f.call(
        Method::GET,
        "EntityDefinitions(LogicalName='nosuch')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80040217");
    f.call(
        Method::GET,
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=Bogus",
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

#[tokio::test]
async fn serves_global_option_set_definitions() {
    let (f, token) = ready().await;
    let all = f
        .call(Method::GET, "GlobalOptionSetDefinitions", &token)
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["value"][0]["Name"], "new_projectstage");

    let one = f
        .call(
            Method::GET,
            "GlobalOptionSetDefinitions(Name='new_projectstage')?$select=Name",
            &token,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["Name"], "new_projectstage");
    assert!(one.body.get("Options").is_none(), "{}", one.body);

    f.call(
        Method::GET,
        "GlobalOptionSetDefinitions(Name='missing')",
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80040217");
}

#[tokio::test]
async fn refuses_choice_values_outside_the_options_on_every_write() {
    let (f, token) = ready().await;
    let message = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "A", "industrycode": 999})),
            &[],
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, OUT_OF_RANGE)
        .to_owned();
    assert!(
        message.contains("999") && message.contains("industrycode"),
        "{message}"
    );

    let ok = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "B", "industrycode": 1, "creditonhold": true})),
            &[],
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let id = ok.entity_id();

    // Update, upsert (PATCH of a missing id) and a single-property PUT are checked alike.
    f.send(
        Method::PATCH,
        &format!("accounts({id})"),
        &token,
        Some(json!({"statuscode": 77})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, OUT_OF_RANGE);
    f.send(
        Method::PATCH,
        "accounts(6a0e3f52-0000-4000-8000-000000000001)",
        &token,
        Some(json!({"name": "C", "accountcategorycode": 5})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, OUT_OF_RANGE);
    f.send(
        Method::PUT,
        &format!("accounts({id})/industrycode"),
        &token,
        Some(json!({"value": -1})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, OUT_OF_RANGE);

    // Multi-select values are "1,2" strings; every value is checked.
    let project = f
        .send(
            Method::POST,
            "new_projects",
            &token,
            Some(
                json!({"new_name": "P", "new_tags": "100000000,100000001", "new_stage": 100000000}),
            ),
            &[],
        )
        .await;
    assert_eq!(project.status, StatusCode::NO_CONTENT, "{}", project.body);
    f.send(
        Method::POST,
        "new_projects",
        &token,
        Some(json!({"new_name": "Q", "new_tags": "100000000,42"})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, OUT_OF_RANGE);
    f.send(
        Method::POST,
        "new_projects",
        &token,
        Some(json!({"new_name": "Q", "new_tags": "one,two"})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80048d19");

    // Inside $batch the part fails with the same error.
    let body = format!(
        "--batch_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST {} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{}\r\n--batch_c--\r\n",
        f.api("accounts"),
        json!({"name": "D", "industrycode": 12345})
    );
    let response = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(&token)
        .header("Content-Type", "multipart/mixed; boundary=batch_c")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains(OUT_OF_RANGE), "{text}");

    let names: Vec<Value> = f
        .emulator
        .records("accounts")
        .unwrap()
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("B")], "no refused write left a record");
}

#[tokio::test]
async fn labels_choice_values_as_formatted_values() {
    let (f, token) = ready().await;
    f.emulator
        .seed(&json!({
            "accounts": [{"name": "A", "industrycode": 2, "creditonhold": false}],
            "new_projects": [{"new_name": "P", "new_tags": "100000000,100000002", "new_stage": 100000001, "new_isbillable": true}],
        }))
        .unwrap();
    let prefer = format!("odata.include-annotations=\"{FORMATTED}\"");
    let accounts = f
        .send(
            Method::GET,
            "accounts?$select=industrycode,creditonhold",
            &token,
            None,
            &[("Prefer", &prefer)],
        )
        .await;
    let account = &accounts.body["value"][0];
    assert_eq!(
        account[format!("industrycode@{FORMATTED}")],
        "Agriculture and Non-petrol Natural Resource Extraction"
    );
    assert_eq!(account[format!("creditonhold@{FORMATTED}")], "No");

    let projects = f
        .send(
            Method::GET,
            "new_projects?$select=new_tags,new_stage,new_isbillable",
            &token,
            None,
            &[("Prefer", &prefer)],
        )
        .await;
    let project = &projects.body["value"][0];
    assert_eq!(
        project[format!("new_tags@{FORMATTED}")],
        "Internal; Research & Development"
    );
    assert_eq!(project[format!("new_stage@{FORMATTED}")], "Running");
    assert_eq!(project[format!("new_isbillable@{FORMATTED}")], "Yes");

    // Without the Prefer header there are no annotations.
    let plain = f
        .call(Method::GET, "accounts?$select=industrycode", &token)
        .await;
    assert!(
        plain.body["value"][0]
            .get(format!("industrycode@{FORMATTED}"))
            .is_none()
    );
}
