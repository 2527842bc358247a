//! Hostile input never panics the server: every request gets a Dataverse-shaped 4xx reply.
#![allow(clippy::unwrap_used)]

mod common;

use reqwest::{Method, StatusCode};

#[tokio::test]
async fn malformed_requests_get_client_errors() {
    let f = common::start().await;
    let token = f.access_token().await;
    let id = "00000000-0000-0000-0000-000000000001";
    let gets = [
        "accounts(".to_owned(),
        "accounts()".into(),
        "accounts('".into(),
        "accounts(')')".into(),
        "accounts(x=)".into(),
        "accounts(=1)".into(),
        "accounts(name='%C3%A9',accountnumber='x')".into(),
        "accounts(accountnumber='unterminated)".into(),
        "%FF%FE".into(),
        "accounts/$count/extra".into(),
        format!("accounts({id})/nosuch/$ref"),
        format!("accounts({id})/Account_Tasks/$ref/more"),
        format!("accounts({id})/name/extra"),
        "accounts?$filter=((((".into(),
        "accounts?$filter=name eq 'a' and".into(),
        "accounts?$filter=contains(name)".into(),
        "accounts?$filter=name eq @p9".into(),
        "accounts?$filter=numberofemployees gt 99999999999999999999999".into(),
        "accounts?$expand=Account_Tasks($top=x)".into(),
        "accounts?$orderby=".into(),
        "accounts?$orderby=name sideways".into(),
        "accounts?$top=-1".into(),
        "accounts?$select=,,,".into(),
        "accounts?$skiptoken=garbage".into(),
        "EntityDefinitions(LogicalName=)".into(),
        "EntityDefinitions?$filter=Nope eq 1".into(),
        "WhoAmI(x)".into(),
    ];
    for path in &gets {
        let reply = f.call(Method::GET, path, &token).await;
        assert!(
            reply.status.is_client_error(),
            "GET {path}: {} {}",
            reply.status,
            reply.body
        );
        assert!(
            reply.body["error"]["message"].as_str().is_some(),
            "GET {path}: {}",
            reply.body
        );
    }
    let bodies = [
        "[]",
        "null",
        "42",
        r#"{"name": {"nested": 1}}"#,
        r#"{"numberofemployees": 1e400}"#,
        r#"{"parentaccountid@odata.bind": 5}"#,
        r#"{"parentaccountid@odata.bind": "nonsense"}"#,
        r#"{"Account_Tasks@odata.bind": "/tasks(00000000-0000-0000-0000-000000000001)"}"#,
        r#"{"Account_Tasks@odata.bind": [7]}"#,
        r#"{"ownerid": {"fullname": "deep"}}"#,
        r#"{"Account_Tasks": {"subject": "not an array"}}"#,
        r#"{"Account_Tasks": [1]}"#,
        "\u{0}\u{1}",
    ];
    for body in bodies {
        let reply = f
            .http
            .post(f.api("accounts"))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_client_error(),
            "POST {body:?}: {}",
            reply.status()
        );
    }
    for (method, path) in [
        (Method::PUT, "accounts"),
        (Method::DELETE, "accounts"),
        (Method::POST, "WhoAmI()"),
        (Method::PATCH, "$metadata"),
        (Method::GET, "$batch"),
        (
            Method::PUT,
            "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks/$ref",
        ),
    ] {
        let reply = f.call(method.clone(), path, &token).await;
        assert!(
            reply.status.is_client_error(),
            "{method} {path}: {}",
            reply.status
        );
    }
    // A batch whose parts are garbage.
    let reply = f
        .http
        .post(f.api("$batch"))
        .bearer_auth(&token)
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body("--b\r\nContent-Type: application/http\r\n\r\nGET\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    // The server is still healthy.
    assert_eq!(
        f.call(Method::GET, "WhoAmI()", &token).await.status,
        StatusCode::OK
    );
}
