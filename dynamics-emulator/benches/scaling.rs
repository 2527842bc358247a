//! Requests whose cost should not grow with the data the emulator holds: an app-only token
//! (Graph-registered app) finding its application user among many users, a FetchXML join and
//! sort, and a `$filter` through a navigation property whose target is abstract.
//!
//! `cargo bench -p dynamics-emulator --bench scaling -- --warm-up-time 1 --measurement-time 5`

mod common;

use common::{client_token, get, post_form};
use criterion::{Criterion, criterion_group, criterion_main};
use dynamics_emulator::{Emulator, TestCertificate, UserRights};
use serde_json::{Value, json};

const CLIENT_ID: &str = "0b6f7f3e-4d2c-4a8e-9d1f-5c3b2a190e77";
const ADMIN: &str = "admin@contoso.example";
/// Other users held besides the application user.
const USERS: usize = 2_000;
/// Accounts, and as many contacts (one per account).
const ACCOUNTS: usize = 1_000;

struct Setup {
    // Kept alive for the whole run.
    emulator: Emulator,
    http: reqwest::Client,
    /// A client-credential token of the app registered with the builder.
    token: String,
    /// An app-only token of an app registered through Graph.
    app_token: String,
}

/// Signs the administrator in with the device code flow.
async fn admin_token(http: &reqwest::Client, emulator: &Emulator) -> String {
    let base = emulator.base_url();
    let scope = format!("{base}/.default offline_access");
    let code = post_form(
        http,
        &format!("{base}/organizations/oauth2/v2.0/devicecode"),
        &[("client_id", "cli"), ("scope", &scope)],
    )
    .await;
    let user_code = code["user_code"].as_str().expect("user code");
    emulator
        .identity()
        .approve_device_code(user_code, ADMIN)
        .expect("approved");
    let reply = post_form(
        http,
        &format!("{base}/organizations/oauth2/v2.0/token"),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "cli"),
            ("device_code", code["device_code"].as_str().expect("code")),
        ],
    )
    .await;
    reply["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// Registers an app through Graph and returns its `appId`.
async fn register(http: &reqwest::Client, emulator: &Emulator, cert: &TestCertificate) -> String {
    let der = openssl::x509::X509::from_pem(cert.cert_pem().as_bytes())
        .and_then(|c| c.to_der())
        .expect("certificate");
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    let admin = admin_token(http, emulator).await;
    let app: Value = http
        .post(format!("{}/v1.0/applications", emulator.base_url()))
        .bearer_auth(admin)
        .json(&json!({
            "displayName": "bench-app",
            "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}],
        }))
        .send()
        .await
        .expect("registration")
        .json()
        .await
        .expect("registration reply");
    app["appId"].as_str().expect("appId").to_owned()
}

async fn setup() -> Setup {
    let cert = TestCertificate::generate("CN=bench").expect("certificate");
    let emulator = Emulator::builder()
        .metadata_file(common::SAMPLE_METADATA)
        .user(ADMIN, UserRights::Admin)
        .register_app(CLIENT_ID, &cert)
        .start()
        .await
        .expect("emulator starts");
    let http = reqwest::Client::new();
    let app_id = register(&http, &emulator, &cert).await;
    let unit = emulator.records("businessunits").expect("business units")[0]["businessunitid"]
        .as_str()
        .expect("business unit")
        .to_owned();
    let bind = format!("/businessunits({unit})");
    let mut users: Vec<Value> = (0..USERS)
        .map(|i| json!({"fullname": format!("User {i}"), "businessunitid@odata.bind": bind}))
        .collect();
    users.push(json!({"applicationid": app_id, "businessunitid@odata.bind": bind}));
    let account_id = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let accounts: Vec<Value> = (0..ACCOUNTS)
        .map(|i| {
            json!({"accountid": account_id(i), "name": format!("Account {:04}", (i * 7919) % ACCOUNTS),
                   "accountnumber": format!("A{i}"), "revenue": i})
        })
        .collect();
    let contacts: Vec<Value> = (0..ACCOUNTS)
        .map(|i| {
            json!({"firstname": format!("First {i}"), "lastname": format!("Last {i}"),
                   "parentcustomerid_account@odata.bind": format!("/accounts({})", account_id(i))})
        })
        .collect();
    emulator
        .seed(&json!({"systemusers": users, "accounts": accounts, "contacts": contacts}))
        .expect("seed");
    let token = client_token(&http, &emulator, &cert, CLIENT_ID).await;
    let app_token = client_token(&http, &emulator, &cert, &app_id).await;
    Setup {
        emulator,
        http,
        token,
        app_token,
    }
}

fn fetch_url(root: &str, set: &str, fetch: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(fetch.as_bytes()).collect();
    format!("{root}{set}?fetchXml={encoded}")
}

fn scaling(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let setup = runtime.block_on(setup());
    let root = setup.emulator.web_api_url();
    let cases = [
        (
            "WhoAmI, app-only token, 2,000 other users",
            format!("{root}WhoAmI()"),
            &setup.app_token,
        ),
        (
            "fetchxml inner join 1,000 accounts x 1,000 contacts, page of 50",
            fetch_url(
                &root,
                "accounts",
                "<fetch count=\"50\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"name\"/>\
                 <link-entity name=\"contact\" from=\"parentcustomerid\" to=\"accountid\" alias=\"c\">\
                 <attribute name=\"firstname\"/><attribute name=\"lastname\" alias=\"last\"/></link-entity></entity></fetch>",
            ),
            &setup.token,
        ),
        (
            "fetchxml sort 1,000 accounts by name, page of 50",
            fetch_url(
                &root,
                "accounts",
                "<fetch count=\"50\"><entity name=\"account\"><attribute name=\"name\"/><order attribute=\"name\"/>\
                 <filter><condition attribute=\"revenue\" operator=\"ge\" value=\"0\"/></filter></entity></fetch>",
            ),
            &setup.token,
        ),
        (
            "$filter through ownerid (abstract target), 1,000 accounts",
            format!("{root}accounts?$select=name&$filter=ownerid/fullname eq 'nobody'"),
            &setup.token,
        ),
        (
            "$orderby name, 1,000 accounts, top 50",
            format!("{root}accounts?$select=name&$orderby=name&$top=50"),
            &setup.token,
        ),
    ];
    let mut group = c.benchmark_group("scaling");
    group.sample_size(20);
    for (name, url, token) in &cases {
        group.bench_function(*name, |b| {
            b.to_async(&runtime).iter(|| get(&setup.http, url, token))
        });
    }
    group.finish();
}

criterion_group!(benches, scaling);
criterion_main!(benches);
