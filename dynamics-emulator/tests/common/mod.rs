//! Helpers shared by the integration tests: an emulator with one registered app, valid
//! assertion claims, and form posts to the token endpoint.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use dynamics_emulator::{Emulator, EmulatorBuilder, SigningAlgorithm, TestCertificate};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34";

pub fn sample_metadata() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.xml"
    ))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a Dataverse-shaped error with this status and code.
    pub fn assert_error(&self, status: StatusCode, code: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        self.body["error"]["message"].as_str().unwrap()
    }

    /// The id at the end of `OData-EntityId`.
    pub fn entity_id(&self) -> uuid::Uuid {
        let url = self.header("OData-EntityId").unwrap();
        let inner = url.rsplit_once('(').unwrap().1.trim_end_matches(')');
        uuid::Uuid::parse_str(inner).unwrap()
    }
}

pub struct Fixture {
    pub emulator: Emulator,
    pub cert: TestCertificate,
    pub http: reqwest::Client,
}

pub fn builder(cert: &TestCertificate) -> EmulatorBuilder {
    Emulator::builder()
        .metadata_file(sample_metadata())
        .register_app(CLIENT_ID, cert)
}

pub async fn start() -> Fixture {
    start_with(|b| b).await
}

pub async fn start_with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Fixture {
    let cert = TestCertificate::generate("CN=emulator-tests").unwrap();
    let emulator = configure(builder(&cert)).start().await.unwrap();
    Fixture {
        emulator,
        cert,
        http: reqwest::Client::new(),
    }
}

/// An emulator on the sample metadata and a valid access token for it.
pub async fn ready() -> (Fixture, String) {
    let f = start().await;
    let token = f.access_token().await;
    (f, token)
}

/// Creates a record with a `POST` that must succeed (`204`) and returns its id.
pub async fn create(f: &Fixture, token: &str, set: &str, body: Value) -> uuid::Uuid {
    let reply = f
        .send(reqwest::Method::POST, set, token, Some(body), &[])
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    reply.entity_id()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims Entra would accept from `CLIENT_ID`.
pub fn claims(emulator: &Emulator) -> Value {
    let now = now();
    json!({
        "aud": emulator.token_endpoint(),
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 300,
    })
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

/// The form body of a certificate client-credentials request.
pub fn assertion_form(client_id: &str, scope: &str, assertion: &str) -> String {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", scope),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ])
}

pub async fn post_form(http: &reqwest::Client, url: &str, body: String) -> (StatusCode, Value) {
    let response = http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Fixture {
    /// Posts a client-credentials request carrying `assertion`.
    pub async fn request_token(&self, assertion: &str) -> (StatusCode, Value) {
        self.request_token_as(CLIENT_ID, &self.emulator.scope(), assertion)
            .await
    }

    /// Posts a client-credentials request with the given client id and scope.
    pub async fn request_token_as(
        &self,
        client_id: &str,
        scope: &str,
        assertion: &str,
    ) -> (StatusCode, Value) {
        let body = assertion_form(client_id, scope, assertion);
        post_form(&self.http, &self.emulator.token_endpoint(), body).await
    }

    /// `GET` a Web API path with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A valid access token.
    pub async fn access_token(&self) -> String {
        let assertion = self
            .cert
            .sign_assertion(SigningAlgorithm::Ps256, &claims(&self.emulator))
            .unwrap();
        let (status, body) = self.request_token(&assertion).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a Web API request without body or extra headers.
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> Reply {
        self.send(method, path, token, None, &[]).await
    }

    /// Sends a Web API request and returns status, headers and the body as JSON (or text).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.api(path)
        };
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{}", self.emulator.web_api_url(), path)
    }
}
