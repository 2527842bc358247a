//! Impersonation with `CallerObjectId` and `MSCRMCallerID`: `WhoAmI` and the owner of created
//! records name the impersonated user; an unknown user is refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::start;
use reqwest::{Method, StatusCode};
use serde_json::json;

const USER_ID: &str = "5d2f4b7a-1c3e-4f5a-9b8c-7d6e5f4a3b21";
const OBJECT_ID: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";

#[tokio::test]
async fn acts_as_the_user_the_headers_name() {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator
        .seed(&json!({"systemusers": [{
            "systemuserid": USER_ID,
            "azureactivedirectoryobjectid": OBJECT_ID,
        }]}))
        .unwrap();

    let me = f.call(Method::GET, "WhoAmI()", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_ne!(me.body["UserId"], USER_ID);
    let bare = f.call(Method::GET, "WhoAmI", &token).await;
    assert_eq!(bare.status, StatusCode::OK, "WhoAmI without parentheses");
    assert_eq!(bare.body["UserId"], me.body["UserId"]);

    let by_object = f
        .send(
            Method::GET,
            "WhoAmI()",
            &token,
            None,
            &[("CallerObjectId", OBJECT_ID)],
        )
        .await;
    assert_eq!(by_object.status, StatusCode::OK, "{}", by_object.body);
    assert_eq!(by_object.body["UserId"], USER_ID);

    let created = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "On behalf"})),
            &[("MSCRMCallerID", USER_ID)],
        )
        .await;
    assert_eq!(created.status, StatusCode::NO_CONTENT, "{}", created.body);
    let record = f.emulator.record("accounts", created.entity_id()).unwrap();
    assert_eq!(record["_ownerid_value"], USER_ID);

    let own = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "Own"})),
            &[],
        )
        .await;
    let record = f.emulator.record("accounts", own.entity_id()).unwrap();
    assert_eq!(record["_ownerid_value"], me.body["UserId"]);
}

#[tokio::test]
async fn refuses_unknown_or_malformed_callers() {
    let f = start().await;
    let token = f.access_token().await;
    let unknown = "0f0f0f0f-0000-4000-8000-000000000000";
    f.send(
        Method::GET,
        "WhoAmI()",
        &token,
        None,
        &[("CallerObjectId", unknown)],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80040217");
    let message = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "x"})),
            &[("MSCRMCallerID", unknown)],
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80040217")
        .to_owned();
    assert!(message.contains(unknown), "{message}");
    f.send(
        Method::GET,
        "WhoAmI()",
        &token,
        None,
        &[("MSCRMCallerID", "nope")],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    assert!(f.emulator.records("accounts").unwrap().is_empty());
}

#[tokio::test]
async fn a_batch_part_can_impersonate_on_its_own() {
    let f = start().await;
    let token = f.access_token().await;
    f.emulator
        .seed(&json!({"systemusers": [{
            "systemuserid": USER_ID,
            "azureactivedirectoryobjectid": OBJECT_ID,
        }]}))
        .unwrap();
    let part = |headers: &str| {
        format!(
            "--batch_i\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {} HTTP/1.1\r\nAccept: application/json\r\n{headers}\r\n\r\n",
            f.api("WhoAmI()")
        )
    };
    let body = format!(
        "{}{}--batch_i--\r\n",
        part(&format!("CallerObjectId: {OBJECT_ID}\r\n")),
        part("")
    );
    let response = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(&token)
        .header("Content-Type", "multipart/mixed; boundary=batch_i")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert_eq!(
        text.matches(USER_ID).count(),
        1,
        "only the first part: {text}"
    );
    assert_eq!(text.matches("\"UserId\"").count(), 2, "{text}");
}
