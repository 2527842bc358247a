//! Requests whose cost should not grow with the data the emulator holds: an app-only token
//! (Graph-registered app) finding its application user among many users, a FetchXML join and
//! sort, a `$filter` through a navigation property whose target is abstract, a query in
//! creation order, a delete that clears the lookups pointing at the deleted record, and
//! many-to-many links read, added, removed and deleted with their record among many links.
//!
//! `cargo bench -p dynamics-emulator --bench scaling -- --warm-up-time 1 --measurement-time 5`

mod common;

use std::time::{Duration, Instant};

use common::{client_token, get, post_form};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use dynamics_emulator::{Emulator, TestCertificate, UserRights};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const CLIENT_ID: &str = "0b6f7f3e-4d2c-4a8e-9d1f-5c3b2a190e77";
const ADMIN: &str = "admin@contoso.example";
/// Other users held besides the application user.
const USERS: usize = 2_000;
/// Accounts, and as many contacts (one per account).
const ACCOUNTS: usize = 1_000;
/// Students of the many-to-many emulators.
const STUDENTS: usize = 2_000;
/// Their courses: course 0 is linked to [`LISTED`] students, each other course to as many as
/// the emulator's size asks for.
const COURSES: usize = 20;
/// Students linked to course 0, whose students are listed.
const LISTED: usize = 10;
/// The many-to-many metadata of the emulator's tests.
const MANY_TO_MANY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/many_to_many.xml"
);

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

/// A many-to-many emulator: [`STUDENTS`] students and [`COURSES`] courses, with
/// [`links_held`] links (each stored both ways), and a token for it.
struct Links {
    emulator: Emulator,
    token: String,
}

fn student_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn course_id(i: usize) -> String {
    format!("00000000-0000-4000-9000-{i:012}")
}

/// Links held when each course but course 0 is linked to `per_course` students.
fn links_held(per_course: usize) -> usize {
    (COURSES - 1) * per_course + LISTED
}

async fn links(http: &reqwest::Client, per_course: usize) -> Links {
    let cert = TestCertificate::generate("CN=bench-links").expect("certificate");
    let emulator = Emulator::builder()
        .metadata_file(MANY_TO_MANY)
        .register_app(CLIENT_ID, &cert)
        .start()
        .await
        .expect("emulator starts");
    let students: Vec<Value> = (0..STUDENTS)
        .map(|i| json!({"new_studentid": student_id(i), "new_name": format!("Student {i}")}))
        .collect();
    let courses: Vec<Value> = (0..COURSES)
        .map(|c| {
            let linked = if c == 0 { LISTED } else { per_course };
            let binds: Vec<String> = (0..linked)
                .map(|s| {
                    format!(
                        "/new_students({})",
                        student_id((c * 37 + s * 11) % STUDENTS)
                    )
                })
                .collect();
            json!({"new_courseid": course_id(c), "new_name": format!("Course {c}"),
                   "new_course_student@odata.bind": binds})
        })
        .collect();
    emulator
        .seed(&json!({"new_students": students, "new_courses": courses}))
        .expect("seed");
    let token = client_token(http, &emulator, &cert, CLIENT_ID).await;
    Links { emulator, token }
}

/// A request that must succeed, its body read.
async fn send(http: &reqwest::Client, method: Method, url: &str, token: &str, body: Option<Value>) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    assert!(status.is_success(), "{url}: {status}");
    response.bytes().await.expect("body");
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
        (
            "query in creation order, 1,000 accounts, top 50",
            format!("{root}accounts?$select=name&$top=50"),
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
    let http = &setup.http;
    let token = setup.token.as_str();
    let emulator = &setup.emulator;
    let root = root.as_str();
    group.bench_function(
        "DELETE an account a contact refers to, 2,000 users, 1,000 accounts and contacts",
        |b| {
            b.to_async(&runtime).iter_custom(|iters| async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let (account, contact) = (Uuid::new_v4(), Uuid::new_v4());
                    emulator
                        .seed(&json!({
                            "accounts": [{"accountid": account, "name": "gone"}],
                            "contacts": [{"contactid": contact, "lastname": "kept",
                                "parentcustomerid_account@odata.bind": format!("/accounts({account})")}],
                        }))
                        .expect("seed");
                    let started = Instant::now();
                    let url = format!("{root}accounts({account})");
                    send(http, Method::DELETE, &url, token, None).await;
                    spent += started.elapsed();
                    let url = format!("{root}contacts({contact})");
                    send(http, Method::DELETE, &url, token, None).await;
                }
                spent
            })
        },
    );

    for per_course in [100, 1_000] {
        link_cases(&mut group, &runtime, http, per_course);
    }
    group.finish();
}

/// Lists, adds, removes and deletes many-to-many links among [`links_held`]`(per_course)`.
fn link_cases(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    per_course: usize,
) {
    let links = runtime.block_on(links(http, per_course));
    let held = links_held(per_course);
    let link_root = links.emulator.web_api_url();
    let (link_root, token) = (link_root.as_str(), links.token.as_str());
    let course = course_id(0);
    let listed = format!("{link_root}new_courses({course})/new_course_student?$select=new_name");
    group.bench_function(format!("N:N list {LISTED} of {held} links"), |b| {
        b.to_async(runtime).iter(|| get(http, &listed, token))
    });
    // Not one of course 0's students: s * 11 % 2,000 is never 1 for s < 10.
    let student = student_id(1);
    let add = format!("{link_root}new_courses({course})/new_course_student/$ref");
    let remove = format!("{link_root}new_courses({course})/new_course_student({student})/$ref");
    let body = json!({"@odata.id": format!("new_students({student})")});
    group.bench_function(
        format!("N:N associate and disassociate, {held} links"),
        |b| {
            b.to_async(runtime).iter(|| async {
                send(http, Method::POST, &add, token, Some(body.clone())).await;
                send(http, Method::DELETE, &remove, token, None).await;
            })
        },
    );
    let emulator = &links.emulator;
    group.bench_function(format!("DELETE a student with a link, {held} links"), |b| {
        b.to_async(runtime).iter_custom(|iters| async move {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let student = Uuid::new_v4();
                emulator
                    .seed(&json!({"new_students": [{"new_studentid": student,
                        "new_course_student@odata.bind": [format!("/new_courses({})", course_id(1))]}]}))
                    .expect("seed");
                let started = Instant::now();
                let url = format!("{link_root}new_students({student})");
                send(http, Method::DELETE, &url, token, None).await;
                spent += started.elapsed();
            }
            spent
        })
    });
}

criterion_group!(benches, scaling);
criterion_main!(benches);
