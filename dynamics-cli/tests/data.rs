//! `dynamics data import` and `export` against the emulator: a 10,000-row round trip, an
//! import killed midway and run again, bad rows each reported with their line and reason while
//! nothing of them is sent, change-tracked exports, and an import through an identity pool
//! with one identity throttled.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dynamics_client::{
    Secret,
    connection::{Connection, ConnectionStore},
};
use dynamics_emulator::{Emulator, ServiceProtection, TestCertificate};
use serde_json::Value;
use support::{ok, scratch, stderr, stdout};

const CLIENT_ID: &str = "5c7d4a3e-0000-4000-8000-00000000da7a";
const METADATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.xml"
);
const CHOICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.choices.json"
);

/// An emulator with the sample tables and their choices, and an app registered with a
/// certificate that `dynamics` signs in with through `DYNAMICS_URL` and `AZURE_*`.
struct Setup {
    emulator: Emulator,
    dir: PathBuf,
    pem: PathBuf,
}

async fn setup(label: &str) -> Setup {
    let cert = TestCertificate::generate("CN=data-tests").unwrap();
    let emulator = Emulator::builder()
        .metadata_file(METADATA)
        .choices_file(CHOICES)
        .register_app(CLIENT_ID, &cert)
        .start()
        .await
        .unwrap();
    let dir = scratch(label);
    let pem = dir.join("app.pem");
    std::fs::write(&pem, format!("{}{}", cert.cert_pem(), cert.key_pem())).unwrap();
    Setup { emulator, dir, pem }
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynamics"));
        command
            .args(args)
            .env("DYNAMICS_CONFIG_DIR", self.dir.join("config"))
            .env("DYNAMICS_URL", self.emulator.environment_url())
            .env("AZURE_TENANT_ID", self.emulator.tenant_id())
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_CLIENT_CERTIFICATE_PATH", &self.pem)
            .env("AZURE_AUTHORITY_HOST", self.emulator.authority_host())
            .env_remove("DYNAMICS_CONNECTION")
            .env_remove("AZURE_CLIENT_SECRET")
            .stdin(Stdio::null());
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn accounts(&self) -> Vec<Value> {
        self.emulator.records("accounts").unwrap()
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// 10,000 accounts with text, an exact decimal, a whole number, a yes/no, a choice (by label
/// on every third row) and a date-time.
fn accounts_csv(rows: usize) -> String {
    let labels = ["Accounting", "Brokers", "Building Supply Retail"];
    let mut text =
        "name,accountnumber,revenue,numberofemployees,creditonhold,industrycode,lastonholdtime\n"
            .to_owned();
    for i in 0..rows {
        let industry = if i % 3 == 0 {
            labels[i % 2].to_owned()
        } else {
            (1 + i % 5).to_string()
        };
        text.push_str(&format!(
            "\"Account {i}, Ltd\",A-{i:05},{}.{:02},{},{},{industry},2024-05-{:02}T08:30:00Z\n",
            1_000_000 + i * 7,
            (i * 13) % 100,
            i % 500,
            i % 2 == 0,
            1 + i % 28,
        ));
    }
    text
}

/// A label's value, as the sample's choices document has them.
fn industry_value(cell: &str) -> String {
    match cell {
        "Accounting" => "1".into(),
        "Brokers" => "4".into(),
        "Building Supply Retail" => "5".into(),
        other => other.into(),
    }
}

/// CSV text parsed simply (the test data quotes only fields with a comma and no quote).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            for c in line.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    c => field.push(c),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_rows_go_in_and_come_back_the_same() {
    let setup = setup("data-roundtrip").await;
    let input = setup.path("accounts.csv");
    std::fs::write(&input, accounts_csv(10_000)).unwrap();
    let out = setup
        .run(&["data", "import", "account", "--file", arg(&input)])
        .await;
    ok(&out);
    assert!(
        stderr(&out).contains("Imported 10000 row(s) into accounts"),
        "{}",
        stderr(&out)
    );
    assert_eq!(setup.accounts().len(), 10_000);
    // The sample metadata binds `CreateMultiple` to accounts: the rows went in as bulk
    // messages, none through `$batch`.
    let controls = setup.emulator.controls();
    assert!(
        controls
            .request_count("POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.CreateMultiple")
            >= 10
    );
    assert_eq!(controls.request_count("POST /api/data/v9.2/$batch"), 0);

    let exported = setup.path("export.csv");
    let columns =
        "name,accountnumber,revenue,numberofemployees,creditonhold,industrycode,lastonholdtime";
    let out = setup
        .run(&[
            "data",
            "export",
            "accounts",
            "--select",
            columns,
            "-o",
            arg(&exported),
        ])
        .await;
    ok(&out);
    let written = parse_csv(&std::fs::read_to_string(&exported).unwrap());
    assert_eq!(written[0][0], "accountid");
    assert_eq!(written[0][1..].join(","), columns);
    // The same rows, whatever the order: keyed by account number, the id column left out.
    let back: BTreeMap<String, Vec<String>> = written[1..]
        .iter()
        .map(|r| (r[2].clone(), r[1..].to_vec()))
        .collect();
    let sent: BTreeMap<String, Vec<String>> = parse_csv(&accounts_csv(10_000))[1..]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[5] = industry_value(&r[5]);
            (r[1].clone(), r)
        })
        .collect();
    assert_eq!(back.len(), 10_000);
    assert_eq!(back, sent);

    // JSON Lines too: the decimal keeps its digits, the lookup-free row reads back.
    let out = setup
        .run(&[
            "data",
            "export",
            "account",
            "--select",
            "accountnumber,revenue",
            "--filter",
            "accountnumber eq 'A-00013'",
            "--format",
            "jsonl",
        ])
        .await;
    let line = ok(&out);
    let record: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record["accountnumber"], "A-00013");
    assert_eq!(record["revenue"].to_string(), "1000091.69");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_killed_midway_then_run_again_leaves_exactly_every_row_once() {
    // The import sends `CreateMultiple`s of up to 1,000 rows, more of them at a time as they
    // come back: enough rows and slow replies keep the first run going when it is killed.
    const ROWS: usize = 30_000;
    let setup = setup("data-resume").await;
    let input = setup.path("accounts.csv");
    std::fs::write(&input, accounts_csv(ROWS)).unwrap();
    setup
        .emulator
        .controls()
        .set_latency(Duration::from_millis(300));
    let mut first = setup
        .command(&["data", "import", "account", "--file", arg(&input)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let count = setup.accounts().len();
        if count >= 1500 {
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early at {count} rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let landed = setup.accounts().len();
    assert!(landed < ROWS, "the first run finished before it was killed");
    let journal = std::fs::read_to_string(setup.path("accounts.csv.import-journal")).unwrap();
    assert!(journal.starts_with("dynamics-import-journal 1 "));

    setup.emulator.controls().set_latency(Duration::ZERO);
    setup.emulator.controls().reset_counts();
    let out = setup
        .run(&["data", "import", "account", "--file", arg(&input)])
        .await;
    ok(&out);
    let accounts = setup.accounts();
    assert_eq!(accounts.len(), ROWS, "{}", stderr(&out));
    let mut numbers: Vec<&str> = accounts
        .iter()
        .map(|a| a["accountnumber"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), ROWS, "no account twice");
    // The rerun sent only what was missing: fewer writes than rows.
    let summary = stderr(&out);
    let count = |suffix: &str| -> u64 {
        summary
            .split(['\n', ';'])
            .find_map(|part| part.trim().strip_suffix(suffix))
            .and_then(|n| n.trim_start_matches("Imported ").parse().ok())
            .unwrap_or_else(|| panic!("no `{suffix}` in: {summary}"))
    };
    let already = count(" already there (earlier run)");
    let written = count(" row(s) into accounts");
    // Requests still in flight when the first run was killed may land after `landed` was read.
    assert!(already >= landed as u64, "{summary}");
    assert_eq!(written + already, ROWS as u64, "{summary}");

    // Once done, a third run sends nothing at all.
    setup.emulator.controls().reset_counts();
    let out = setup
        .run(&["data", "import", "account", "--file", arg(&input)])
        .await;
    ok(&out);
    assert!(
        stderr(&out).contains("Imported 0 row(s)"),
        "{}",
        stderr(&out)
    );
    let controls = setup.emulator.controls();
    assert_eq!(controls.request_count("POST /api/data/v9.2/$batch"), 0);
    assert_eq!(
        controls
            .request_count("POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.CreateMultiple"),
        0
    );
    assert_eq!(setup.accounts().len(), ROWS);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_reported_with_their_line_and_reason_and_never_sent() {
    let setup = setup("data-rejects").await;
    let parent = uuid::Uuid::new_v4();
    setup
        .emulator
        .seed(&serde_json::json!({"accounts": [{"accountid": parent, "name": "Parent", "accountnumber": "P-1"}]}))
        .unwrap();
    let input = setup.path("bad.csv");
    let mut bytes =
        b"name,accountnumber,numberofemployees,industrycode,parentaccountid,foo\n".to_vec();
    bytes.extend_from_slice(format!("Good one,G-1,10,Brokers,account:{parent},\n").as_bytes()); // 2
    bytes.extend_from_slice(b"Wrong type,G-2,ten,,,\n"); // 3
    bytes.extend_from_slice(b"Unknown column,G-3,1,,,surprise\n"); // 4
    bytes.extend_from_slice(b"No key,,1,,,\n"); // 5
    bytes.extend_from_slice(b"Bad lookup,G-5,1,,contact:00000000-0000-0000-0000-000000000001,\n"); // 6
    bytes.extend_from_slice(b"Bad label,G-6,1,Banking,,\n"); // 7
    bytes.extend_from_slice(b"Bad \xff bytes,G-7,1,,,\n"); // 8
    bytes.extend_from_slice(b"Good two,G-8,20,2,,\n"); // 9
    bytes.extend_from_slice(b"\"Truncated,G-9,1,,,\n"); // 10
    std::fs::write(&input, &bytes).unwrap();
    let rejects = setup.path("rejects.csv");
    let out = setup
        .run(&[
            "data",
            "import",
            "accounts",
            "--file",
            arg(&input),
            "--mode",
            "upsert",
            "--key",
            "accountnumber",
            "--rejects",
            arg(&rejects),
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("7 rejected"), "{}", stderr(&out));

    let rows = parse_csv(&std::fs::read_to_string(&rejects).unwrap());
    assert_eq!(rows[0][..2], ["line", "reason"]);
    let reasons: BTreeMap<u64, String> = rows[1..]
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].clone()))
        .collect();
    let expect = |line: u64, words: &str| {
        let reason = reasons
            .get(&line)
            .unwrap_or_else(|| panic!("line {line} not rejected: {reasons:?}"));
        assert!(reason.contains(words), "line {line}: {reason}");
    };
    expect(3, "column `numberofemployees`: `ten` is not a whole number");
    expect(4, "unknown column `foo`");
    expect(5, "missing required column `accountnumber`");
    expect(
        6,
        "bad lookup in column `parentaccountid`: `contact` is not a table it points at",
    );
    expect(7, "unknown choice label `Banking`");
    expect(8, "column `name` is not valid UTF-8");
    expect(10, "truncated line");
    assert_eq!(reasons.len(), 7, "{reasons:?}");
    // The rejected row's own fields follow its line and reason, ready to fix and import again.
    let wrong_type = rows.iter().find(|r| r[0] == "3").unwrap();
    assert_eq!(wrong_type[2..5], ["Wrong type", "G-2", "ten"]);

    // Only the good rows reached the service.
    let mut names: Vec<String> = setup
        .accounts()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Good one", "Good two", "Parent"]);
    let good = setup
        .accounts()
        .into_iter()
        .find(|a| a["accountnumber"] == "G-1")
        .unwrap();
    assert_eq!(good["industrycode"], 4);
    assert_eq!(good["_parentaccountid_value"], parent.to_string());

    // The lookup comes back out in the form it went in.
    let out = setup
        .run(&[
            "data",
            "export",
            "account",
            "--select",
            "accountnumber,parentaccountid",
            "--filter",
            "accountnumber eq 'G-1'",
        ])
        .await;
    let rows = parse_csv(&ok(&out));
    assert_eq!(rows[0], ["accountid", "accountnumber", "parentaccountid"]);
    assert_eq!(
        rows[1][1..],
        ["G-1".to_owned(), format!("account:{parent}")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_rows_are_checked_and_rejected_the_same_way() {
    let setup = setup("data-jsonl").await;
    let input = setup.path("rows.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"name":"J1","revenue":12.50,"industrycode":"Brokers","creditonhold":true}"#,
            "\n",
            r#"{"name":"J2","numberofemployees":"many"}"#,
            "\n\n",
            r#"{"name":"J3","description":null,"lastonholdtime":"2024-02-29"}"#,
            "\n",
            r#"{"name":"J4","#,
            "\n"
        ),
    )
    .unwrap();
    let out = setup
        .run(&["data", "import", "account", "--file", arg(&input)])
        .await;
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let rejects = std::fs::read_to_string(setup.path("rows.jsonl.rejects.jsonl")).unwrap();
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert_eq!(rejects[0]["line"], 2);
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("`many` is not a whole number"),
        "{rejects:?}"
    );
    assert_eq!(
        rejects[0]["row"],
        r#"{"name":"J2","numberofemployees":"many"}"#
    );
    assert_eq!(rejects[1]["line"], 5);
    assert!(
        rejects[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("truncated line"),
        "{rejects:?}"
    );
    let accounts = setup.accounts();
    let j1 = accounts.iter().find(|a| a["name"] == "J1").unwrap();
    assert_eq!(j1["revenue"].to_string(), "12.50");
    assert_eq!(j1["industrycode"], 4);
    assert_eq!(j1["creditonhold"], true);
    let j3 = accounts.iter().find(|a| a["name"] == "J3").unwrap();
    assert_eq!(j3["lastonholdtime"], "2024-02-29T00:00:00Z");
    assert_eq!(accounts.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_with_track_writes_only_what_changed_and_marks_deletions() {
    let setup = setup("data-track").await;
    let input = setup.path("few.csv");
    std::fs::write(&input, "name,accountnumber\nOne,T-1\nTwo,T-2\nThree,T-3\n").unwrap();
    ok(&setup
        .run(&["data", "import", "account", "--file", arg(&input)])
        .await);
    let state = setup.path("accounts.track");
    let first = setup.path("first.csv");
    let rows = tracked_export(&setup, &state, &first).await;
    assert_eq!(rows[0], ["accountid", "name", "accountnumber", "@removed"]);
    assert_eq!(rows.len(), 4);
    let state_text = std::fs::read_to_string(&state).unwrap();
    assert!(state_text.contains("$deltatoken"), "{state_text}");

    // Change one, delete one: the next run writes exactly those two.
    let accounts = setup.accounts();
    let id = |number: &str| {
        accounts
            .iter()
            .find(|a| a["accountnumber"] == number)
            .and_then(|a| a["accountid"].as_str())
            .unwrap()
            .to_owned()
    };
    let (two, three) = (id("T-2"), id("T-3"));
    let http = reqwest::Client::new();
    let token = support_token(&setup).await;
    let web = setup.emulator.web_api_url();
    let status = http
        .patch(format!("{web}accounts({two})"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Two, renamed"}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    let status = http
        .delete(format!("{web}accounts({three})"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    let rows = tracked_export(&setup, &state, &setup.path("second.csv")).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.contains(&vec![
            two.clone(),
            "Two, renamed".into(),
            "T-2".into(),
            String::new()
        ]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec![
            three.clone(),
            String::new(),
            String::new(),
            "deleted".into()
        ]),
        "{rows:?}"
    );
    // Nothing changed since: only the header.
    let rows = tracked_export(&setup, &state, &setup.path("third.csv")).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}

/// `export --track` of two columns to `out`, read back.
async fn tracked_export(setup: &Setup, state: &Path, out: &Path) -> Vec<Vec<String>> {
    let args = [
        "data",
        "export",
        "account",
        "--select",
        "name,accountnumber",
        "--track",
        arg(state),
        "-o",
        arg(out),
    ];
    ok(&setup.run(&args).await);
    parse_csv(&std::fs::read_to_string(out).unwrap())
}

/// A token for the test's own requests, through the same app as the CLI.
async fn support_token(setup: &Setup) -> String {
    let credential = dynamics_client::ClientCertificateCredential::from_file(
        setup.emulator.tenant_id(),
        CLIENT_ID,
        &setup.pem,
        None,
        dynamics_client::CredentialOptions {
            authority_host: setup.emulator.authority_host().to_owned(),
            ..Default::default()
        },
    )
    .unwrap();
    use dynamics_client::TokenCredential as _;
    credential
        .get_token(&setup.emulator.scope())
        .await
        .unwrap()
        .token
        .expose()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_through_a_pool_of_three_identities_carries_on_while_one_is_throttled() {
    // Three application users, each with its own service protection budget: 30 requests in a
    // 120 s window (a `$batch` counts as one request).
    let apps: Vec<(String, TestCertificate)> = (1..=3)
        .map(|n| {
            (
                format!("5c7d4a3e-0000-4000-8000-00000000000{n}"),
                TestCertificate::generate(&format!("CN=loader-{n}")).unwrap(),
            )
        })
        .collect();
    let mut builder = Emulator::builder()
        .metadata_file(METADATA)
        .choices_file(CHOICES)
        .service_protection(ServiceProtection::new(
            30,
            Duration::from_secs(1200),
            Duration::from_secs(120),
            52,
        ));
    for (client_id, cert) in &apps {
        builder = builder.register_app(client_id, cert);
    }
    let emulator = builder.start().await.unwrap();
    let dir = scratch("data-pool");
    let config = dir.join("config");
    let store = ConnectionStore::open(&config).unwrap();
    store
        .update(|contents| {
            for (n, (client_id, cert)) in apps.iter().enumerate() {
                let name = format!("loader-{}", n + 1);
                let mut connection = Connection::new(
                    name.clone(),
                    emulator.environment_url(),
                    emulator.tenant_id(),
                    emulator.authority_host(),
                    cert.cert_pem(),
                    Secret::new(cert.key_pem()),
                    cert.sha1_thumbprint_hex(),
                );
                connection.client_id = Some(client_id.clone());
                contents.connections.insert(name, connection);
            }
            Ok::<_, dynamics_client::error::ConnectionError>(())
        })
        .unwrap();

    // loader-2 spends its whole budget first: the service will refuse it for two minutes.
    let throttled = store.client("loader-2").unwrap();
    let who: Value = throttled.get("WhoAmI()").await.unwrap();
    let throttled_user = who["UserId"].as_str().unwrap().to_owned();
    for _ in 1..30 {
        let _: Value = throttled.get("WhoAmI()").await.unwrap();
    }

    let input = dir.join("accounts.csv");
    std::fs::write(&input, accounts_csv(1_000)).unwrap();
    let started = std::time::Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynamics"));
    command
        .args(["data", "import", "account", "--file", arg(&input)])
        .args(["--connection", "loader-1,loader-2,loader-3"])
        .env("DYNAMICS_CONFIG_DIR", &config)
        .env_remove("DYNAMICS_STORE_KEY")
        .env_remove("DYNAMICS_CONNECTION")
        .env_remove("DYNAMICS_URL")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    ok(&out);
    let elapsed = started.elapsed();
    let accounts = emulator.records("accounts").unwrap();
    assert_eq!(accounts.len(), 1_000, "{}", stderr(&out));
    // The other two carried the load: nothing waited out loader-2's two minutes, and no
    // record was written as loader-2.
    assert!(elapsed < Duration::from_secs(100), "took {elapsed:?}");
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for account in &accounts {
        *owners
            .entry(account["_ownerid_value"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(!owners.contains_key(&throttled_user), "{owners:?}");
    assert_eq!(owners.len(), 2, "both other identities wrote: {owners:?}");
    assert!(
        stderr(&out).contains("Imported 1000 row(s)"),
        "{}",
        stderr(&out)
    );

    // DYNAMICS_CONNECTION names a pool too.
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynamics"));
    command
        .args(["data", "export", "account", "--select", "accountnumber"])
        .env("DYNAMICS_CONFIG_DIR", &config)
        .env("DYNAMICS_CONNECTION", "loader-1, loader-3")
        .env_remove("DYNAMICS_STORE_KEY")
        .env_remove("DYNAMICS_URL")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(parse_csv(&ok(&out)).len(), 1 + 1_000);
}
