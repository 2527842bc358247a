//! Actions and functions declared in the metadata: bound and unbound calls, parameters checked
//! against the CSDL, registered behaviours and the default answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Fixture, start_with};
use dynamics_emulator::{ActionError, OperationCall};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The sample metadata plus a bound function with a return type and a required parameter.
fn metadata_with_score() -> String {
    let sample = std::fs::read_to_string(common::sample_metadata()).unwrap();
    sample.replacen(
        "<EntityContainer Name=\"System\">",
        "<Function Name=\"new_Score\" IsBound=\"true\">\
           <Parameter Name=\"entity\" Type=\"mscrm.new_project\" Nullable=\"false\"/>\
           <Parameter Name=\"Weight\" Type=\"Edm.Int32\" Nullable=\"false\"/>\
           <ReturnType Type=\"Edm.Int32\" Nullable=\"false\"/>\
         </Function>\
         <EntityContainer Name=\"System\">",
        1,
    )
}

async fn project(f: &Fixture, token: &str) -> String {
    let reply = f
        .send(
            Method::POST,
            "new_projects",
            token,
            Some(json!({"new_name": "Apollo"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    reply.entity_id().to_string()
}

#[tokio::test]
async fn bound_action_runs_its_handler_with_record_and_parameters() {
    let calls: Arc<Mutex<Vec<OperationCall>>> = Arc::default();
    let seen = calls.clone();
    let f = start_with(move |b| {
        b.action("new_CloseProject", move |call: &OperationCall| {
            if call.parameters.get("Reason") == Some(&json!("refuse")) {
                return Err(ActionError::new(
                    409,
                    "0x80040265",
                    "The project cannot close.",
                ));
            }
            seen.lock().unwrap().push(call.clone());
            Ok(Value::Null)
        })
    })
    .await;
    let token = f.access_token().await;
    let id = project(&f, &token).await;
    let path = format!("new_projects({id})/Microsoft.Dynamics.CRM.new_CloseProject");

    let reply = f
        .send(
            Method::POST,
            &path,
            &token,
            Some(json!({"Reason": "Done"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.name, "new_CloseProject");
        assert_eq!(call.entity_set.as_deref(), Some("new_projects"));
        assert_eq!(call.record.as_ref().unwrap()["new_name"], "Apollo");
        assert_eq!(call.parameters["Reason"], "Done");
        assert!(
            !call.parameters.contains_key("entity"),
            "binding parameter comes from the URL"
        );
    }

    // The handler's error comes back Dataverse-shaped with its status.
    f.send(
        Method::POST,
        &path,
        &token,
        Some(json!({"Reason": "refuse"})),
        &[],
    )
    .await
    .assert_error(StatusCode::CONFLICT, "0x80040265");
    // Parameters are checked before the handler runs.
    f.send(Method::POST, &path, &token, Some(json!({"Bogus": 1})), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    f.send(Method::POST, &path, &token, Some(json!({"Reason": 5})), &[])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    // Actions take POST only, and the bound record must exist.
    f.call(Method::GET, &path, &token)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "0x80060888");
    f.send(
        Method::POST,
        "new_projects(00000000-0000-4000-8000-000000000009)/Microsoft.Dynamics.CRM.new_CloseProject",
        &token,
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80040217");
    // Bound to new_project, not to account.
    f.send(
        Method::POST,
        &format!("accounts({id})/Microsoft.Dynamics.CRM.new_CloseProject"),
        &token,
        Some(json!({})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "refused calls never reach the handler"
    );
}

#[tokio::test]
async fn default_answers_and_functions() {
    let f = start_with(|b| b.metadata_str(metadata_with_score())).await;
    let token = f.access_token().await;
    let id = project(&f, &token).await;

    // An action without a return type and without a handler answers 204.
    let close = f
        .send(
            Method::POST,
            &format!("new_projects({id})/Microsoft.Dynamics.CRM.new_CloseProject"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(close.status, StatusCode::NO_CONTENT, "{}", close.body);

    // A function with a return type but no handler is not implemented.
    let score = format!("new_projects({id})/Microsoft.Dynamics.CRM.new_Score(Weight=@w)?@w=3");
    f.call(Method::GET, &score, &token)
        .await
        .assert_error(StatusCode::NOT_IMPLEMENTED, "0x80040216");
    // A missing required parameter or an unknown alias is a 400.
    f.call(
        Method::GET,
        &format!("new_projects({id})/Microsoft.Dynamics.CRM.new_Score()"),
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    f.call(
        Method::GET,
        &format!("new_projects({id})/Microsoft.Dynamics.CRM.new_Score(Weight=@nope)"),
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");

    // WhoAmI is an unbound function: GET only, no parameters.
    let me = f.call(Method::GET, "WhoAmI()", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body["UserId"].is_string());
    f.call(Method::POST, "WhoAmI", &token)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "0x80060888");
    f.call(Method::GET, "WhoAmI(Bogus=1)", &token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

#[tokio::test]
async fn function_handlers_answer_with_their_return_type() {
    let f = start_with(|b| {
        b.metadata_str(metadata_with_score())
            .action("new_Score", |call: &OperationCall| {
                let weight = call.parameters["Weight"].as_i64().unwrap_or_default();
                let name = call
                    .record
                    .as_ref()
                    .map_or(0, |r| r["new_name"].as_str().map_or(0, str::len) as i64);
                Ok(json!(weight * name))
            })
            .action("WhoAmI", |_: &OperationCall| {
                Ok(json!({"UserId": "00000000-0000-0000-0000-000000000042"}))
            })
    })
    .await;
    let token = f.access_token().await;
    let id = project(&f, &token).await;
    let reply = f
        .call(
            Method::GET,
            &format!("new_projects({id})/Microsoft.Dynamics.CRM.new_Score(Weight=@w)?@w=3"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["value"], 18);
    assert!(
        reply.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Edm.Int32")
    );

    let me = f.call(Method::GET, "WhoAmI()", &token).await;
    assert_eq!(me.body["UserId"], "00000000-0000-0000-0000-000000000042");
    assert!(
        me.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"),
        "{}",
        me.body
    );
}

/// Primitive parameters are checked by the rule for columns: a date-time must be one, not just
/// any string.
#[tokio::test]
async fn primitive_parameters_are_checked_like_columns() {
    let f = start_with(|b| b.action("new_Rate", |_call: &OperationCall| Ok(json!(3)))).await;
    let token = f.access_token().await;
    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "Rated"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let path = format!(
        "accounts({})/Microsoft.Dynamics.CRM.new_Rate",
        reply.entity_id()
    );
    let good = json!({"Weight": 1.5, "RatedOn": "2024-05-01T08:30:00Z"});
    let reply = f.send(Method::POST, &path, &token, Some(good), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for bad in [
        json!({"Weight": 1.5, "RatedOn": "yesterday"}),
        json!({"Weight": 1.5, "RatedOn": "2024-13-45T08:30:00Z"}),
        json!({"Weight": "heavy", "RatedOn": "2024-05-01T08:30:00Z"}),
        json!({"Weight": 1.5, "RatedOn": "2024-05-01T08:30:00Z", "Tags": "one"}),
    ] {
        f.send(Method::POST, &path, &token, Some(bad.clone()), &[])
            .await
            .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    }
}
