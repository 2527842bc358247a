//! The conformance suite: request/response exchanges copied from Microsoft Learn, kept as data
//! in `tests/conformance/*.json` with the page each comes from.
//!
//! Each exchange is checked twice:
//! * **Emulator**: the documented request goes to dynamics-emulator (after the records it
//!   names are seeded), and the reply is compared structurally with the documented one: the
//!   status, the headers that matter, and the JSON shape (every documented property present,
//!   with the same kind of value, arrays of the same length); for `$batch`, the statuses of the
//!   parts in order.
//! * **Client**: the documented reply is served by a local stub, the client runs the operation
//!   the exchange shows, and the decoded outcome is asserted (the value or the typed error),
//!   as is the request the client sent (method and path) where it is the documented one.
//!
//! What differs from the documentation is written next to the exchange (`differs`, each with
//! its reason) and listed in `dynamics-emulator/README.md` under "Known differences".

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use dynamics_client::{
    Client, ClientCertificateCredential, CredentialOptions, Entity, Error, TokenCredential,
    batch::Batch, entity::UpsertMode, operations::FunctionParameters, retry::RetryPolicy,
};
use dynamics_emulator::{DuplicateRule, Emulator, TestCertificate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

const METADATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/metadata.xml");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance");
const CLIENT_ID: &str = "0c7e1a52-9b3d-4f6e-8a21-5d4c3b2a1f09";
/// The placeholders the documentation writes for the environment's URL.
const ORGANIZATION_URI: [&str; 4] = [
    "[Organization URI]",
    "[Organization Uri]",
    "https://[Organization URI]",
    "[organization URI]",
];

/// One page of Microsoft Learn and the exchanges copied from it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocPage {
    /// The page's address.
    page: String,
    exchanges: Vec<Exchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    name: String,
    /// The feature of the list it covers.
    feature: String,
    /// Records the documented request assumes exist, as `Emulator::seed` takes them.
    #[serde(default)]
    seed: Option<Value>,
    /// Duplicate detection rules in force.
    #[serde(default)]
    duplicate_rules: Vec<DuplicateRule>,
    /// Requests sent to the emulator first (not compared): what the documented one follows.
    #[serde(default)]
    before: Vec<Message>,
    request: Message,
    response: Message,
    /// What the client does with the documented reply, and what it must decode.
    client: Value,
    /// Where the emulator's reply is known to differ, and why. Keys: `status`, `body`,
    /// `header:<name>`; or `emulator` to skip the emulator side.
    #[serde(default)]
    differs: BTreeMap<String, String>,
}

/// A request or response as the page shows it.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Message {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// JSON, or a string for bodies that are not JSON (`$batch`, file bytes).
    #[serde(default)]
    body: Option<Value>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn body_bytes(&self, base: &str) -> Option<Vec<u8>> {
        match &self.body {
            None => None,
            Some(Value::String(text)) => Some(localize(text, base).into_bytes()),
            Some(json) => Some(localize(&json.to_string(), base).into_bytes()),
        }
    }
}

/// The documented text with the environment placeholder replaced by `base` and every Web API
/// version written as the one served (`v9.2`).
fn localize(text: &str, base: &str) -> String {
    let mut out = text.to_owned();
    for placeholder in ORGANIZATION_URI.iter().rev() {
        out = out.replace(placeholder, base);
    }
    for version in ["/api/data/v9.0/", "/api/data/v9.1/", "/api/data/v8.2/"] {
        out = out.replace(version, "/api/data/v9.2/");
    }
    out
}

fn pages() -> Vec<(String, DocPage)> {
    let mut files: Vec<_> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let page: DocPage =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                page.page.starts_with("https://learn.microsoft.com/"),
                "{}: {}",
                path.display(),
                page.page
            );
            (path.display().to_string(), page)
        })
        .collect()
}

#[test]
fn the_suite_holds_at_least_sixty_documented_exchanges_covering_every_feature() {
    let pages = pages();
    let exchanges: Vec<&Exchange> = pages.iter().flat_map(|(_, p)| &p.exchanges).collect();
    assert!(exchanges.len() >= 60, "{} exchanges", exchanges.len());
    let features: std::collections::BTreeSet<&str> =
        exchanges.iter().map(|e| e.feature.as_str()).collect();
    for wanted in [
        "crud",
        "upsert-conditional",
        "lookups-associations",
        "paging",
        "batch",
        "errors-throttling",
        "change-tracking",
        "files-images",
        "actions-functions",
        "fetchxml",
        "metadata",
        "impersonation",
        "optional-parameters",
    ] {
        assert!(features.contains(wanted), "no exchange covers {wanted}");
    }
    for e in &exchanges {
        for reason in e.differs.values() {
            assert!(
                !reason.trim().is_empty(),
                "{}: a difference without a reason",
                e.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator side.

struct Emulated {
    emulator: Emulator,
    token: String,
    http: reqwest::Client,
}

async fn emulated(cert: &TestCertificate, exchange: &Exchange) -> Emulated {
    let mut builder = Emulator::builder()
        .metadata_file(METADATA)
        .register_app(CLIENT_ID, cert);
    for rule in &exchange.duplicate_rules {
        builder = builder.duplicate_rule(rule.clone());
    }
    let emulator = builder.start().await.unwrap();
    if let Some(seed) = &exchange.seed {
        emulator
            .seed(seed)
            .unwrap_or_else(|e| panic!("{}: seed: {e}", exchange.name));
    }
    let credential = ClientCertificateCredential::from_pem_parts(
        emulator.tenant_id(),
        CLIENT_ID,
        cert.cert_pem().as_bytes(),
        cert.key_pem().as_bytes(),
        None,
        CredentialOptions {
            authority_host: emulator.authority_host().to_owned(),
            ..CredentialOptions::default()
        },
    )
    .unwrap();
    let token = credential.get_token(&emulator.scope()).await.unwrap();
    Emulated {
        token: token.token.expose().to_owned(),
        emulator,
        http: reqwest::Client::new(),
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Emulated {
    async fn send(&self, message: &Message) -> Reply {
        let base = self
            .emulator
            .environment_url()
            .trim_end_matches('/')
            .to_owned();
        let url = localize(message.url.as_deref().unwrap(), &base);
        let method =
            reqwest::Method::from_bytes(message.method.as_deref().unwrap().as_bytes()).unwrap();
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        for (name, value) in &message.headers {
            // The documentation's `If-None-Match: null` is a no-op guard for browsers.
            if name.eq_ignore_ascii_case("If-None-Match") && value.trim() == "null" {
                continue;
            }
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            request = request.header(name.as_str(), localize(value.trim(), &base));
        }
        if let Some(body) = message.body_bytes(&base) {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }
}

/// Headers whose presence (and for some, value) the comparison checks.
const HEADERS_THAT_MATTER: [&str; 7] = [
    "OData-EntityId",
    "Preference-Applied",
    "Location",
    "x-ms-file-name",
    "x-ms-file-size",
    "mimetype",
    "Retry-After",
];

fn check_emulator(exchange: &Exchange, reply: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    let documented = &exchange.response;
    let skip = |what: &str| exchange.differs.contains_key(what);
    if let Some(status) = documented.status
        && status != reply.status
        && !skip("status")
    {
        problems.push(format!(
            "status {} where the page shows {status}",
            reply.status
        ));
    }
    for name in HEADERS_THAT_MATTER {
        if documented.header(name).is_some()
            && reply.headers.get(name).is_none()
            && !skip(&format!("header:{name}"))
        {
            problems.push(format!("no {name} header"));
        }
    }
    if let Some(applied) = documented.header("Preference-Applied")
        && let Some(got) = reply.headers.get("Preference-Applied")
        && !skip("header:Preference-Applied")
    {
        let got = got.to_str().unwrap_or_default();
        if !got.contains(applied.trim()) {
            problems.push(format!("Preference-Applied `{got}`, not `{applied}`"));
        }
    }
    if skip("body") {
        return problems;
    }
    match &documented.body {
        Some(Value::String(text)) if text.contains("--batchresponse_") => {
            let want = part_statuses(text);
            let got = part_statuses(&String::from_utf8_lossy(&reply.body));
            if want != got {
                problems.push(format!(
                    "batch parts answered {got:?}, the page shows {want:?}"
                ));
            }
        }
        // A body the page elides (`< byte[] content removed for brevity >`) is not compared.
        Some(Value::String(text))
            if text.as_bytes() != reply.body.as_slice() && !text.starts_with('<') =>
        {
            problems.push("the body differs from the page's".to_owned());
        }
        Some(Value::String(_)) => {}
        Some(json) => match serde_json::from_slice::<Value>(&reply.body) {
            Ok(got) => {
                let mut shape = Vec::new();
                same_shape(json, &got, "$", &mut shape);
                // A path listed as `body:<path>` is a known difference.
                problems.extend(shape.into_iter().filter(|p| {
                    !exchange
                        .differs
                        .keys()
                        .filter_map(|k| k.strip_prefix("body:"))
                        .any(|path| p.starts_with(&format!("{path} ")))
                }));
            }
            Err(_) => problems.push("the body is not JSON".to_owned()),
        },
        None => {}
    }
    problems
}

/// The status of every part of a `$batch` reply, in order, with `cs:` before those inside a
/// change set.
fn part_statuses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_change_set = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("--changesetresponse_") {
            in_change_set = !line.ends_with("--");
        } else if line.starts_with("--batchresponse_") {
            in_change_set = false;
        } else if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
            let code = rest.split_whitespace().next().unwrap_or_default();
            out.push(format!("{}{code}", if in_change_set { "cs:" } else { "" }));
        }
    }
    out
}

/// Every property of `want` is in `got` with the same kind of value (a documented `null`
/// matches anything); arrays have the same length and their items the same shape.
fn same_shape(want: &Value, got: &Value, path: &str, problems: &mut Vec<String>) {
    match (want, got) {
        (Value::Null, _) => {}
        (Value::Object(w), Value::Object(g)) => {
            for (key, value) in w {
                match g.get(key) {
                    Some(v) => same_shape(value, v, &format!("{path}.{key}"), problems),
                    None => problems.push(format!("{path}.{key} is missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                problems.push(format!(
                    "{path} has {} items, the page shows {}",
                    g.len(),
                    w.len()
                ));
            }
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                same_shape(a, b, &format!("{path}[{i}]"), problems);
            }
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (w, g) => problems.push(format!("{path} is {g}, the page shows {w}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_answers_the_documented_requests_as_documented() {
    let cert = TestCertificate::generate("CN=conformance").unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (file, page) in pages() {
        for exchange in &page.exchanges {
            if exchange.differs.contains_key("emulator") {
                continue;
            }
            let env = emulated(&cert, exchange).await;
            for before in &exchange.before {
                let reply = env.send(before).await;
                assert!(
                    reply.status < 300,
                    "{}: a request before it failed with {}: {}",
                    exchange.name,
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                );
            }
            let reply = env.send(&exchange.request).await;
            let problems = check_emulator(exchange, &reply);
            if !problems.is_empty() {
                failures.push(format!(
                    "{file}: {} ({}): {}\n  reply: {}",
                    exchange.name,
                    page.page,
                    problems.join("; "),
                    String::from_utf8_lossy(&reply.body)
                        .chars()
                        .take(400)
                        .collect::<String>()
                ));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 45, "only {compared} exchanges compared");
}

// ---------------------------------------------------------------------------------------------
// The client side.

/// A record of any table, its columns kept as JSON.
macro_rules! table {
    ($name:ident, $logical:literal, $set:literal, $key:literal) => {
        #[derive(Debug, Default, Serialize, Deserialize)]
        struct $name {
            #[serde(flatten)]
            fields: Map<String, Value>,
        }

        impl Entity for $name {
            const LOGICAL_NAME: &'static str = $logical;
            const ENTITY_SET_NAME: &'static str = $set;
            const PRIMARY_KEY: &'static str = $key;
            fn id(&self) -> Option<Uuid> {
                self.fields
                    .get($key)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
            }
        }
    };
}

table!(Account, "account", "accounts", "accountid");
table!(Contact, "contact", "contacts", "contactid");
table!(Lead, "lead", "leads", "leadid");
table!(Task, "task", "tasks", "activityid");
table!(Opportunity, "opportunity", "opportunities", "opportunityid");

/// A request the stub got: method, decoded path, headers.
type Seen = (String, String, BTreeMap<String, String>);

/// A server that answers every request with the documented reply and records what it got.
struct Stub {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn stub(reply: Message) -> Stub {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = (reply, Arc::clone(&seen), url.clone());
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(Arc::new(state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Stub { url, seen }
}

type StubState = (Message, Arc<Mutex<Vec<Seen>>>, String);

async fn answer(State(state): State<Arc<StubState>>, request: Request) -> Response {
    let (reply, seen, url) = &*state;
    let (parts, body) = request.into_parts();
    let _ = to_bytes(body, 1 << 24).await;
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.lock().unwrap().push((
        parts.method.to_string(),
        percent_decode(parts.uri.path()),
        headers,
    ));
    let mut response = Response::new(Body::from(reply.body_bytes(url).unwrap_or_default()));
    *response.status_mut() = StatusCode::from_u16(reply.status.unwrap()).unwrap();
    for (name, value) in &reply.headers {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        response.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&localize(value.trim(), url)).unwrap(),
        );
    }
    response
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug)]
struct NoToken;

impl TokenCredential for NoToken {
    fn get_token<'a>(
        &'a self,
        _scope: &'a str,
    ) -> futures::future::BoxFuture<'a, dynamics_client::Result<dynamics_client::AccessToken>> {
        Box::pin(async {
            Ok(dynamics_client::AccessToken::new(
                dynamics_client::Secret::new("conformance"),
                std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
            ))
        })
    }
}

fn client_for(stub: &Stub) -> Client {
    Client::builder(&stub.url)
        .credential(Arc::new(NoToken))
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn arg<'v>(op: &'v Value, name: &str) -> &'v Value {
    op.get(name)
        .unwrap_or_else(|| panic!("client step {op} has no `{name}`"))
}

fn text<'v>(op: &'v Value, name: &str) -> &'v str {
    arg(op, name).as_str().unwrap()
}

fn id(op: &Value) -> Uuid {
    Uuid::parse_str(text(op, "id")).unwrap()
}

fn record<T: for<'de> Deserialize<'de>>(op: &Value) -> T {
    serde_json::from_value(arg(op, "record").clone()).unwrap()
}

/// Runs the client step of an exchange against `client`, returning what it decoded as JSON
/// (or the error).
async fn run(client: &Client, op: &Value) -> Result<Value, Error> {
    let set = op.get("set").and_then(Value::as_str).unwrap_or("accounts");
    macro_rules! on_set {
        ($body:ident) => {
            match set {
                "accounts" => $body!(Account),
                "contacts" => $body!(Contact),
                "leads" => $body!(Lead),
                "tasks" => $body!(Task),
                "opportunities" => $body!(Opportunity),
                other => panic!("no table {other} in the suite"),
            }
        };
    }
    let client = match op.get("impersonate").and_then(Value::as_str) {
        Some(user) => client.impersonating(Uuid::parse_str(user).unwrap()),
        None => client.clone(),
    };
    let client = if op.get("detect_duplicates") == Some(&Value::Bool(true)) {
        client.detecting_duplicates()
    } else {
        client
    };
    match text(op, "op") {
        "create" => {
            macro_rules! create {
                ($t:ty) => {
                    client
                        .create(&record::<$t>(op))
                        .await
                        .map(|id| Value::from(id.to_string()))
                };
            }
            on_set!(create)
        }
        "create_and_return" => {
            let created = client.create_and_return(&record::<Account>(op)).await?;
            Ok(Value::Object(created.fields))
        }
        "update" => {
            macro_rules! update {
                ($t:ty) => {
                    client
                        .update(id(op), &record::<$t>(op))
                        .await
                        .map(|()| Value::Null)
                };
            }
            on_set!(update)
        }
        "upsert" => {
            let mode = match text(op, "mode") {
                "create_only" => UpsertMode::CreateOnly,
                "update_only" => UpsertMode::UpdateOnly,
                _ => UpsertMode::CreateOrUpdate,
            };
            client
                .upsert(id(op), &record::<Account>(op), mode)
                .await
                .map(|()| Value::Null)
        }
        "update_if_match" => client
            .update_if_match(id(op), &record::<Account>(op), text(op, "etag"))
            .await
            .map(|()| Value::Null),
        "delete" => {
            macro_rules! delete {
                ($t:ty) => {
                    client.delete::<$t>(id(op)).await.map(|()| Value::Null)
                };
            }
            on_set!(delete)
        }
        "get" => client.get::<Value>(text(op, "path")).await,
        "query" => {
            macro_rules! query {
                ($t:ty) => {{
                    let page = match op.get("page_size").and_then(Value::as_u64) {
                        Some(size) => {
                            client
                                .query_raw_with_page_size::<$t>(text(op, "query"), size as u32)
                                .await?
                        }
                        None => client.query_raw::<$t>(text(op, "query")).await?,
                    };
                    Ok(serde_json::json!({
                        "records": page.items.len(),
                        "more": page.next_link.is_some(),
                    }))
                }};
            }
            on_set!(query)
        }
        "fetch_xml" => {
            let page = client.fetch_xml::<Account>(text(op, "fetch")).await?;
            Ok(serde_json::json!({"records": page.items.len()}))
        }
        "function" => {
            let mut parameters = FunctionParameters::new();
            if let Some(Value::Object(map)) = op.get("parameters") {
                for (name, value) in map {
                    parameters = parameters.with(name, value.as_str().unwrap().to_owned())?;
                }
            }
            client
                .call_function::<Value>(text(op, "name"), &parameters)
                .await
        }
        "action" => client.call_action(text(op, "name"), arg(op, "body")).await,
        "associate" => client
            .associate::<Account, Opportunity>(id(op), text(op, "navigation"), {
                Uuid::parse_str(text(op, "target")).unwrap()
            })
            .await
            .map(|()| Value::Null),
        "disassociate" => client
            .disassociate::<Account, Opportunity>(id(op), text(op, "navigation"), {
                Uuid::parse_str(text(op, "target")).unwrap()
            })
            .await
            .map(|()| Value::Null),
        "download_file" => {
            let file = client
                .download_file::<Account>(id(op), text(op, "column"))
                .await?;
            Ok(serde_json::json!({
                "name": file.name,
                "mime_type": file.mime_type,
                "content": String::from_utf8_lossy(&file.content),
            }))
        }
        "download_image" => {
            let file = client
                .download_image::<Account>(id(op), text(op, "column"))
                .await?;
            Ok(serde_json::json!({"stored": file.is_some()}))
        }
        "upload_file" => client
            .upload_file::<Account>(
                id(op),
                text(op, "column"),
                text(op, "name"),
                text(op, "content").as_bytes(),
            )
            .await
            .map(|()| Value::Null),
        "changes" | "changes_since" => {
            use futures::StreamExt as _;
            let base = client.web_api_url().origin().ascii_serialization();
            let since = op
                .get("link")
                .and_then(Value::as_str)
                .map(|link| dynamics_client::changes::DeltaLink::new(localize(link, &base)));
            let columns: Vec<&str> = op
                .get("columns")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut pages =
                std::pin::pin!(client.changes::<Account>(&columns, since.as_ref(), None));
            let page = pages.next().await.expect("one page")?;
            let (mut upserted, mut deleted) = (0, 0);
            for change in &page.changes {
                match change {
                    dynamics_client::changes::Change::Upserted(_) => upserted += 1,
                    dynamics_client::changes::Change::Deleted(_) => deleted += 1,
                }
            }
            Ok(serde_json::json!({
                "upserted": upserted,
                "deleted": deleted,
                "delta_link": page.delta_link.is_some(),
            }))
        }
        "delete_file" => client
            .delete_file::<Account>(id(op), text(op, "column"))
            .await
            .map(|()| Value::Null),
        "batch" => {
            let mut batch = Batch::new();
            batch.continue_on_error(op.get("continue_on_error") == Some(&Value::Bool(true)));
            let mut handles = Vec::new();
            let mut change_set = None;
            for step in arg(op, "requests").as_array().unwrap() {
                let method = reqwest::Method::from_bytes(text(step, "method").as_bytes()).unwrap();
                let path = text(step, "path");
                let body = step.get("body");
                let in_change_set = step.get("change_set") == Some(&Value::Bool(true));
                if in_change_set {
                    let changes = change_set.get_or_insert_with(Vec::new);
                    changes.push((method, path.to_owned(), body.cloned()));
                    continue;
                }
                if let Some(changes) = change_set.take() {
                    handles.extend(add_change_set(&mut batch, changes)?);
                }
                handles.push(batch.raw(method, path, body)?);
            }
            if let Some(changes) = change_set.take() {
                handles.extend(add_change_set(&mut batch, changes)?);
            }
            let reply = client.execute_batch(&batch).await?;
            let outcomes: Vec<Value> = handles
                .into_iter()
                .map(|h| match reply.get(h) {
                    Ok(_) => Value::from("ok"),
                    Err(e) => Value::from(describe(&e)),
                })
                .collect();
            Ok(Value::Array(outcomes))
        }
        other => panic!("unknown client step {other}"),
    }
}

/// Adds raw requests as one change set (they are `POST`s: creates whose ids come back).
fn add_change_set(
    batch: &mut Batch,
    changes: Vec<(reqwest::Method, String, Option<Value>)>,
) -> dynamics_client::Result<Vec<dynamics_client::batch::Handle<Value>>> {
    let mut handles = Vec::new();
    let mut changes_set = batch.change_set();
    for (method, path, body) in changes {
        handles.push(changes_set.raw(method, &path, body.as_ref())?);
    }
    Ok(handles)
}

/// An error as the suite's data names it: the variant, then the code where there is one.
fn describe(error: &Error) -> String {
    let code = |e: &dynamics_client::error::ApiError| {
        if e.code.is_empty() {
            String::new()
        } else {
            format!(" {}", e.code)
        }
    };
    match error {
        Error::NotFound(e) => format!("not_found{}", code(e)),
        Error::ConcurrencyConflict(e) => format!("conflict{}", code(e)),
        Error::Throttled(t) => format!("throttled {}", t.last.code),
        Error::Api(e) => format!("api {}{}", e.status, code(e)),
        Error::Batch(b) => match **b {
            dynamics_client::error::BatchError::RolledBack { .. } => "rolled_back".to_owned(),
            dynamics_client::error::BatchError::NotRun { .. } => "not_run".to_owned(),
            _ => format!("batch: {b}"),
        },
        Error::InvalidInput(_) => "invalid_input".to_owned(),
        Error::Decode { .. } => "decode".to_owned(),
        other => format!("other: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_decodes_the_documented_replies() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, page) in pages() {
        for exchange in &page.exchanges {
            let op = &exchange.client;
            if text(op, "op") == "none" {
                // No client operation sends this request; the reason is listed among the
                // known differences.
                assert!(!text(op, "reason").is_empty(), "{}", exchange.name);
                continue;
            }
            let stub = stub(exchange.response.clone()).await;
            let client = client_for(&stub);
            let outcome = run(&client, op).await;
            let expected = arg(op, "expect");
            let problem = check_outcome(op, expected, &outcome);
            let seen = stub.seen.lock().unwrap().clone();
            let request_problem = check_request(exchange, &stub.url, &seen);
            for p in problem.into_iter().chain(request_problem) {
                failures.push(format!("{file}: {} ({}): {p}", exchange.name, page.page));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 45, "only {checked} exchanges checked");
}

/// The client's outcome against the exchange's `expect`: `"ok"`, a JSON value the decoded
/// answer must equal (`{"equals": ...}`), `{"error": "<described>", "duplicate": bool,
/// "retryable": bool}`, or a JSON shape the outcome must contain (`{"has": ...}`).
fn check_outcome(op: &Value, expected: &Value, outcome: &Result<Value, Error>) -> Option<String> {
    match (expected, outcome) {
        (Value::String(s), Ok(_)) if s == "ok" => None,
        (Value::Object(want), Ok(got)) if want.contains_key("equals") => {
            (want["equals"] != *got).then(|| format!("decoded {got}, expected {}", want["equals"]))
        }
        (Value::Object(want), Ok(got)) if want.contains_key("has") => {
            let mut problems = Vec::new();
            same_shape(&want["has"], got, "$", &mut problems);
            let exact = |w: &Value, g: &Value| match (w, g) {
                (Value::Object(w), Value::Object(g)) => w.iter().all(|(k, v)| g.get(k) == Some(v)),
                _ => w == g,
            };
            if !exact(&want["has"], got) {
                problems.push(format!(
                    "decoded {got}, expected it to hold {}",
                    want["has"]
                ));
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        }
        (Value::Object(want), Err(e)) if want.contains_key("error") => {
            let mut problems = Vec::new();
            let described = describe(e);
            if Some(described.as_str()) != want["error"].as_str() {
                problems.push(format!("error `{described}`, expected `{}`", want["error"]));
            }
            if let Some(d) = want.get("duplicate").and_then(Value::as_bool)
                && e.is_duplicate() != d
            {
                problems.push(format!("is_duplicate() is {}", e.is_duplicate()));
            }
            if let Some(r) = want.get("retryable").and_then(Value::as_bool)
                && e.is_retryable() != r
            {
                problems.push(format!("is_retryable() is {}", e.is_retryable()));
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        }
        (want, got) => Some(format!("step {op}: expected {want}, got {got:?}")),
    }
}

/// The client sent the documented method and path (and the documented optional headers),
/// unless the exchange says the step sends another request (`"same_request": false`).
fn check_request(exchange: &Exchange, base: &str, seen: &[Seen]) -> Option<String> {
    if exchange.client.get("same_request") == Some(&Value::Bool(false)) {
        return None;
    }
    let Some((method, path, headers)) = seen.first() else {
        return Some("the client sent nothing".to_owned());
    };
    let documented = localize(exchange.request.url.as_deref().unwrap(), base);
    let documented_path = documented
        .strip_prefix(base)
        .unwrap_or(&documented)
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let documented_path = percent_decode(&documented_path);
    let want_method = exchange.request.method.as_deref().unwrap();
    let mut problems = Vec::new();
    if method != want_method || *path != documented_path {
        problems.push(format!(
            "the client sent {method} {path}, the page shows {want_method} {documented_path}"
        ));
    }
    for name in [
        "If-Match",
        "CallerObjectId",
        "MSCRMCallerID",
        "MSCRM.SuppressDuplicateDetection",
        "MSCRM.BypassBusinessLogicExecution",
        "MSCRM.SuppressCallbackRegistrationExpanderJob",
        "x-ms-transfer-mode",
    ] {
        if let Some(want) = exchange.request.header(name) {
            let got = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim());
            if got != Some(want.trim()) {
                problems.push(format!("{name}: {got:?}, the page shows {want:?}"));
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}
