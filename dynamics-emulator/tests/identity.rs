//! The directory over HTTP: device code sign-in with refresh tokens, Microsoft Graph app
//! registrations (refused to members), a certificate that authenticates as soon as Graph has
//! it, application users, and discovery with several instances.
#![allow(clippy::unwrap_used)]

mod common;

use dynamics_emulator::{
    DiscoveryInstance, Emulator, SigningAlgorithm, TestCertificate, UserRights,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: &str = "admin@contoso.example";
const MEMBER: &str = "member@contoso.example";

/// The longest client assertion the emulators of these tests take, in seconds (Entra's and the
/// emulator's default is 600).
const MAX_ASSERTION_LIFETIME: i64 = 400;

async fn start() -> Emulator {
    Emulator::builder()
        .metadata_file(common::sample_metadata())
        .max_assertion_lifetime(Some(std::time::Duration::from_secs(
            MAX_ASSERTION_LIFETIME as u64,
        )))
        .user(ADMIN, UserRights::Admin)
        .user(MEMBER, UserRights::Member)
        .discovery_instance(DiscoveryInstance {
            unique_name: "contosotest".into(),
            friendly_name: "Contoso (test)".into(),
            url: "https://contosotest.crm.dynamics.com".into(),
            region: "EMEA".into(),
            version: "9.2.24101.00190".into(),
        })
        .start()
        .await
        .unwrap()
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Starts a device code flow and returns (device_code, user_code).
async fn device_code(emulator: &Emulator, tenant: &str) -> (String, String) {
    let scope = format!("{}/.default offline_access", emulator.base_url());
    let (status, body) = post_form(
        &format!("{}/{tenant}/oauth2/v2.0/devicecode", emulator.base_url()),
        &[("client_id", "cli"), ("scope", &scope)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(body["user_code"].as_str().unwrap())
    );
    assert!(body["interval"].as_u64().unwrap() >= 1);
    (
        body["device_code"].as_str().unwrap().to_owned(),
        body["user_code"].as_str().unwrap().to_owned(),
    )
}

async fn redeem(emulator: &Emulator, device_code: &str, client_id: &str) -> (StatusCode, Value) {
    post_form(
        &format!("{}/organizations/oauth2/v2.0/token", emulator.base_url()),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await
}

async fn sign_in(emulator: &Emulator, user: &str) -> Value {
    let (code, user_code) = device_code(emulator, "organizations").await;
    emulator
        .identity()
        .approve_device_code(&user_code, user)
        .unwrap();
    let (status, body) = redeem(emulator, &code, "cli").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn device_code_is_pending_until_approved_then_redeemed_once() {
    let emulator = start().await;
    let (code, user_code) = device_code(&emulator, "organizations").await;
    let pending = emulator.identity().pending_device_codes();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].user_code, user_code);

    let (status, body) = redeem(&emulator, &code, "cli").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "authorization_pending");
    assert_eq!(body["error_codes"][0], 70016);

    let (status, body) = redeem(&emulator, &code, "another-client").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    assert!(
        emulator
            .identity()
            .approve_device_code(&user_code, "nobody@x")
            .is_err()
    );
    emulator
        .identity()
        .approve_device_code(&user_code, ADMIN)
        .unwrap();
    let (status, body) = redeem(&emulator, &code, "cli").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].as_str().is_some());
    assert!(body["id_token"].as_str().is_some());

    let (_, again) = redeem(&emulator, &code, "cli").await;
    assert_eq!(again["error"], "invalid_grant");
    assert!(emulator.identity().pending_device_codes().is_empty());
}

#[tokio::test]
async fn declined_codes_and_unknown_tenants_are_refused() {
    let emulator = start().await;
    let (code, user_code) = device_code(&emulator, emulator.tenant_id()).await;
    emulator.identity().decline_device_code(&user_code).unwrap();
    let (_, body) = redeem(&emulator, &code, "cli").await;
    assert_eq!(body["error"], "authorization_declined");

    let (status, body) = post_form(
        &format!(
            "{}/other-tenant/oauth2/v2.0/devicecode",
            emulator.base_url()
        ),
        &[("client_id", "cli"), ("scope", "x/.default")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"][0], 90002);
}

#[tokio::test]
async fn user_tokens_call_the_web_api_and_refresh_tokens_rotate() {
    let emulator = start().await;
    let tokens = sign_in(&emulator, MEMBER).await;
    let http = reqwest::Client::new();
    let who: Value = http
        .get(format!("{}WhoAmI()", emulator.web_api_url()))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = emulator
        .records("systemusers")
        .unwrap()
        .into_iter()
        .find(|u| u["internalemailaddress"] == MEMBER)
        .unwrap();
    assert_eq!(who["UserId"], me["systemuserid"]);

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let token_url = format!("{}/organizations/oauth2/v2.0/token", emulator.base_url());
    let scope = format!("{}/.default", emulator.base_url());
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "cli"),
        ("refresh_token", refresh),
        ("scope", scope.as_str()),
    ];
    let (status, renewed) = post_form(&token_url, &form).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (_, reused) = post_form(&token_url, &form).await;
    assert_eq!(reused["error"], "invalid_grant");
}

#[tokio::test]
async fn graph_registers_apps_for_admins_only_and_the_certificate_works_at_once() {
    let emulator = start().await;
    let base = emulator.base_url().to_owned();
    let http = reqwest::Client::new();
    let cert = TestCertificate::generate("CN=graph-app").unwrap();
    let der = openssl::x509::X509::from_pem(cert.cert_pem().as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    let body = json!({
        "displayName": "graph-app",
        "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}],
    });

    let anonymous = http
        .post(format!("{base}/v1.0/applications"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let member = sign_in(&emulator, MEMBER).await;
    let refused = http
        .post(format!("{base}/v1.0/applications"))
        .bearer_auth(member["access_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "Authorization_RequestDenied");
    assert!(emulator.identity().applications().is_empty());

    let admin = sign_in(&emulator, ADMIN).await;
    let admin_token = admin["access_token"].as_str().unwrap();
    let created = http
        .post(format!("{base}/v1.0/applications"))
        .bearer_auth(admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let app: Value = created.json().await.unwrap();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    assert_eq!(
        app["keyCredentials"][0]["customKeyIdentifier"],
        cert.sha1_thumbprint_hex()
    );

    let by_app_id: Value = http
        .get(format!("{base}/v1.0/applications(appId='{app_id}')"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_app_id["id"], app["id"]);
    let sp = http
        .post(format!("{base}/v1.0/servicePrincipals"))
        .bearer_auth(admin_token)
        .json(&json!({"appId": app_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(sp.status(), StatusCode::CREATED);
    let member_patch = http
        .patch(format!(
            "{base}/v1.0/applications/{}",
            app["id"].as_str().unwrap()
        ))
        .bearer_auth(member["access_token"].as_str().unwrap())
        .json(&json!({"displayName": "taken over"}))
        .send()
        .await
        .unwrap();
    assert_eq!(member_patch.status(), StatusCode::FORBIDDEN);

    // The new certificate authenticates at once.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let assertion_for = |jti: &str, lifetime: i64| {
        cert.sign_assertion(
            SigningAlgorithm::Ps256,
            &json!({
                "aud": emulator.token_endpoint(),
                "iss": app_id,
                "sub": app_id,
                "jti": jti,
                "nbf": now,
                "iat": now,
                "exp": now + lifetime,
            }),
        )
        .unwrap()
    };
    let assertion = |jti: &str| assertion_for(jti, 300);
    let scope = format!("{base}/.default");
    let first = assertion("jti-1");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", first.as_str()),
        ("scope", scope.as_str()),
    ];
    let (status, token) = post_form(&emulator.token_endpoint(), &form).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (_, replay) = post_form(&emulator.token_endpoint(), &form).await;
    assert_eq!(replay["error_codes"][0], 50013);
    // Apps registered through Graph are held to the emulator's longest assertion lifetime too.
    let long = assertion_for("jti-long", MAX_ASSERTION_LIFETIME + 100);
    let mut long_form = form;
    long_form[3] = ("client_assertion", long.as_str());
    let (status, refused) = post_form(&emulator.token_endpoint(), &long_form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error_codes"][0], 700024);

    // Without an application user, Dataverse refuses the app; with one, WhoAmI names it.
    let app_token = token["access_token"].as_str().unwrap();
    let who = http
        .get(format!("{}WhoAmI()", emulator.web_api_url()))
        .bearer_auth(app_token)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), StatusCode::FORBIDDEN);
    let unit = emulator.records("businessunits").unwrap()[0]["businessunitid"].clone();
    let made = http
        .post(format!("{}systemusers", emulator.web_api_url()))
        .bearer_auth(admin_token)
        .json(&json!({
            "applicationid": app_id,
            "businessunitid@odata.bind": format!("/businessunits({})", unit.as_str().unwrap()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::NO_CONTENT);
    let who: Value = http
        .get(format!("{}WhoAmI()", emulator.web_api_url()))
        .bearer_auth(app_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = emulator
        .records("systemusers")
        .unwrap()
        .into_iter()
        .find(|u| u["applicationid"] == app_id)
        .unwrap();
    assert_eq!(who["UserId"], user["systemuserid"]);

    // Removing the key credential stops the certificate.
    let cleared = http
        .patch(format!(
            "{base}/v1.0/applications/{}",
            app["id"].as_str().unwrap()
        ))
        .bearer_auth(admin_token)
        .json(&json!({"keyCredentials": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let second = assertion("jti-2");
    let (status, body) = post_form(
        &emulator.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app_id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", second.as_str()),
            ("scope", scope.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_codes"][0], 700027);
}

#[tokio::test]
async fn discovery_lists_every_instance_and_admin_endpoint_approves_codes() {
    let emulator = start().await;
    let tokens = sign_in(&emulator, ADMIN).await;
    let list: Value = reqwest::Client::new()
        .get(emulator.discovery_url())
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let instances = list["value"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[0]["Url"], emulator.environment_url());
    assert_eq!(instances[1]["UniqueName"], "contosotest");
    assert_eq!(instances[1]["Region"], "EMEA");
    // Every listed instance is found by key too, as Global Discovery finds any environment of
    // the user's (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/discovery-service).
    for key in [
        "UniqueName='contosotest'".to_owned(),
        instances[1]["Id"].as_str().unwrap().to_owned(),
    ] {
        let one: Value = reqwest::Client::new()
            .get(format!("{}({key})", emulator.discovery_url()))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["Url"], instances[1]["Url"], "{key}");
    }

    let (code, user_code) = device_code(&emulator, "organizations").await;
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!(
            "{}/_emulator/identity/devicecodes",
            emulator.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"][0]["user_code"], user_code);
    let approved = http
        .post(format!(
            "{}/_emulator/identity/devicecodes/approve",
            emulator.base_url()
        ))
        .json(&json!({"user_code": user_code, "user": MEMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    let (status, _) = redeem(&emulator, &code, "cli").await;
    assert_eq!(status, StatusCode::OK);
}

/// Registers an app with a new certificate through Graph, as `admin_token`'s administrator,
/// and returns its `appId` and an app-only token for it.
async fn graph_app(emulator: &Emulator, admin_token: &str) -> (String, String) {
    let cert = TestCertificate::generate("CN=app-user").unwrap();
    let der = openssl::x509::X509::from_pem(cert.cert_pem().as_bytes())
        .and_then(|c| c.to_der())
        .unwrap();
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    let app: Value = reqwest::Client::new()
        .post(format!("{}/v1.0/applications", emulator.base_url()))
        .bearer_auth(admin_token)
        .json(&json!({
            "displayName": "app-user",
            "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let assertion = cert
        .sign_assertion(
            SigningAlgorithm::Ps256,
            &json!({"aud": emulator.token_endpoint(), "iss": app_id, "sub": app_id,
                    "jti": "app-user", "nbf": now, "exp": now + 300}),
        )
        .unwrap();
    let scope = format!("{}/.default", emulator.base_url());
    let (status, token) = post_form(
        &emulator.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    (app_id, token["access_token"].as_str().unwrap().to_owned())
}

/// Sends a Web API request; the reply's status, `OData-EntityId` and JSON body.
async fn web_api(
    emulator: &Emulator,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", emulator.web_api_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let entity = response
        .headers()
        .get("OData-EntityId")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (
        status,
        entity,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_application_user_follows_creates_updates_and_deletes() {
    use reqwest::Method;
    let emulator = start().await;
    let admin = sign_in(&emulator, ADMIN).await;
    let admin = admin["access_token"].as_str().unwrap();
    let (app_id, app) = graph_app(&emulator, admin).await;
    let who = || async {
        let (status, _, body) = web_api(&emulator, Method::GET, "WhoAmI()", &app, None).await;
        (status, body["UserId"].as_str().map(str::to_owned))
    };
    assert_eq!(who().await, (StatusCode::FORBIDDEN, None));

    let unit = emulator.records("businessunits").unwrap()[0]["businessunitid"]
        .as_str()
        .unwrap()
        .to_owned();
    let bind = format!("/businessunits({unit})");
    // Other application users, and users without an application, change nothing.
    let others: Vec<Value> = (0..20)
        .map(|i| match i % 2 {
            0 => json!({"applicationid": uuid::Uuid::new_v4(), "businessunitid@odata.bind": bind}),
            _ => json!({"fullname": format!("user {i}"), "businessunitid@odata.bind": bind}),
        })
        .collect();
    emulator.seed(&json!({"systemusers": others})).unwrap();
    assert_eq!(who().await.0, StatusCode::FORBIDDEN);

    let (emulator, bind) = (&emulator, &bind);
    let create = move |application: String| {
        let body = json!({"applicationid": application, "businessunitid@odata.bind": bind});
        async move {
            let (status, entity, body) =
                web_api(emulator, Method::POST, "systemusers", admin, Some(body)).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            let entity = entity.unwrap();
            let id = entity.rsplit_once('(').unwrap().1.trim_end_matches(')');
            id.to_owned()
        }
    };
    let set_application = move |id: String, application: String| async move {
        let path = format!("systemusers({id})");
        let body = json!({"applicationid": application});
        let (status, _, body) = web_api(emulator, Method::PATCH, &path, admin, Some(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    };
    let delete = move |id: String| async move {
        let path = format!("systemusers({id})");
        let (status, _, body) = web_api(emulator, Method::DELETE, &path, admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    };

    // Application ids compare without regard to case.
    let first = create(app_id.to_uppercase()).await;
    assert_eq!(who().await, (StatusCode::OK, Some(first.clone())));
    // With two users for the app, the older answers.
    let second = create(app_id.clone()).await;
    assert_eq!(who().await, (StatusCode::OK, Some(first.clone())));
    set_application(first.clone(), uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(who().await, (StatusCode::OK, Some(second.clone())));
    set_application(first.clone(), app_id.clone()).await;
    assert_eq!(who().await, (StatusCode::OK, Some(first.clone())));
    delete(first).await;
    assert_eq!(who().await, (StatusCode::OK, Some(second.clone())));
    delete(second).await;
    assert_eq!(who().await, (StatusCode::FORBIDDEN, None));
}
