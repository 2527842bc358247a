//! Global Discovery over HTTP: the one instance, by list and by key, behind the bearer check.
#![allow(clippy::unwrap_used)]

mod common;

use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn lists_the_environment_as_its_only_instance() {
    let f = common::start().await;
    let token = f.access_token().await;
    let get = |url: String| {
        let http = f.http.clone();
        let token = token.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let list: Value = get(f.emulator.discovery_url()).await.json().await.unwrap();
    let instance = &list["value"][0];
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(instance["Url"], f.emulator.environment_url());
    assert_eq!(instance["ApiUrl"], f.emulator.base_url());
    assert_eq!(instance["State"], 0);
    for field in ["Id", "UniqueName", "UrlName", "FriendlyName", "Version"] {
        assert!(instance[field].as_str().is_some(), "{field}");
    }

    let by_name = get(format!(
        "{}(UniqueName='emulator')",
        f.emulator.discovery_url()
    ))
    .await;
    assert_eq!(by_name.status(), StatusCode::OK);
    let by_id: Value = get(format!(
        "{}({})",
        f.emulator.discovery_url(),
        instance["Id"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_id["Id"], instance["Id"]);
    let missing = get(format!(
        "{}(UniqueName='other')",
        f.emulator.discovery_url()
    ))
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let anonymous = f.http.get(f.emulator.discovery_url()).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("WWW-Authenticate"));
}
