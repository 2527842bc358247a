//! The `dynamics-emulator` binary: its first line, a token over HTTP, and clear failures.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dynamics_emulator::{SigningAlgorithm, TestCertificate};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_dynamics-emulator");

/// Kills the child even when an assertion fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and reads the URL its first line announces.
fn listen(command: &mut Command) -> (Running, String) {
    let mut child = Running(command.stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim_end()
        .strip_prefix("dynamics-emulator listening on ")
        .unwrap()
        .to_owned();
    (child, base)
}

#[tokio::test]
async fn serves_tokens_after_announcing_its_url() {
    let dir = std::env::temp_dir().join(format!("emulator-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = TestCertificate::generate("CN=binary").unwrap();
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, cert.cert_pem()).unwrap();
    let seed_path = dir.join("seed.json");
    std::fs::write(
        &seed_path,
        r#"{"accounts": [{"name": "From seed", "emailaddress1": "seed@example.com"}]}"#,
    )
    .unwrap();
    let rules_path = dir.join("rules.json");
    std::fs::write(
        &rules_path,
        r#"[{"table": "account", "columns": ["emailaddress1"]}]"#,
    )
    .unwrap();
    let (child, base) = listen(
        Command::new(BIN)
            .arg("--metadata")
            .arg(common::sample_metadata())
            .args([
                "--port",
                "0",
                "--tenant",
                "contoso",
                "--token-lifetime",
                "600",
            ])
            .arg("--app")
            .arg(format!("{}={}", common::CLIENT_ID, cert_path.display()))
            .arg("--seed")
            .arg(&seed_path)
            .arg("--duplicate-rules")
            .arg(&rules_path),
    );
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let endpoint = format!("{base}/contoso/oauth2/v2.0/token");
    let now = common::now();
    let assertion = cert
        .sign_assertion(
            SigningAlgorithm::Ps256,
            &json!({"aud": endpoint, "iss": common::CLIENT_ID, "sub": common::CLIENT_ID,
                    "jti": "binary-1", "nbf": now, "exp": now + 300}),
        )
        .unwrap();
    let body = common::assertion_form(common::CLIENT_ID, &format!("{base}/.default"), &assertion);
    let (status, reply) = common::post_form(&reqwest::Client::new(), &endpoint, body).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{reply}");
    assert_eq!(reply["expires_in"], 600);
    let accounts: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/data/v9.2/accounts?$select=name"))
        .bearer_auth(reply["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["value"][0]["name"], "From seed");
    // The rules file is in force: a create asking for detection is refused as Dataverse does.
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/data/v9.2/accounts"))
        .bearer_auth(reply["access_token"].as_str().unwrap())
        .header("MSCRM.SuppressDuplicateDetection", "false")
        .json(&json!({"name": "Again", "emailaddress1": "SEED@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x80040333", "{body}");
    drop(child);
    let _ = std::fs::remove_dir_all(dir);
}

fn fails_with(args: &[&str], needle: &str) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "nothing is announced on failure");
}

#[test]
fn bad_arguments_exit_non_zero_with_a_reason() {
    let metadata = common::sample_metadata();
    let metadata = metadata.to_str().unwrap();
    fails_with(&[], "--metadata");
    fails_with(&["--metadata", "/nonexistent/metadata.xml"], "cannot read");
    fails_with(
        &["--metadata", metadata, "--app", "no-equals-sign"],
        "CLIENT_ID=CERT_PEM_PATH",
    );
    fails_with(
        &["--metadata", metadata, "--app", "id=/nonexistent.pem"],
        "cannot read",
    );
    fails_with(&["--metadata", metadata, "--port", "http"], "--port");
    let dir = std::env::temp_dir().join(format!("emulator-bad-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.xml");
    std::fs::write(&garbage, "<edmx:Edmx><unclosed>").unwrap();
    fails_with(&["--metadata", garbage.to_str().unwrap()], "metadata");
    let bad_rules = dir.join("rules.json");
    std::fs::write(
        &bad_rules,
        r#"[{"table": "nosuchtable", "columns": ["x"]}]"#,
    )
    .unwrap();
    fails_with(
        &[
            "--metadata",
            metadata,
            "--duplicate-rules",
            bad_rules.to_str().unwrap(),
        ],
        "nosuchtable",
    );
    std::fs::write(&bad_rules, "{}").unwrap();
    fails_with(
        &[
            "--metadata",
            metadata,
            "--duplicate-rules",
            bad_rules.to_str().unwrap(),
        ],
        "--duplicate-rules",
    );
    let bad_seed = dir.join("seed.json");
    std::fs::write(&bad_seed, r#"{"nosuch": []}"#).unwrap();
    fails_with(
        &["--metadata", metadata, "--seed", bad_seed.to_str().unwrap()],
        "nosuch",
    );
    // --choices is read, and its options hold for seeded records too.
    let choices = metadata.replace("sample.xml", "sample.choices.json");
    fails_with(
        &[
            "--metadata",
            metadata,
            "--choices",
            "/nonexistent/choices.json",
        ],
        "cannot read",
    );
    fails_with(
        &[
            "--metadata",
            metadata,
            "--choices",
            garbage.to_str().unwrap(),
        ],
        "choices",
    );
    let out_of_range = dir.join("choice-seed.json");
    std::fs::write(
        &out_of_range,
        r#"{"accounts": [{"name": "A", "industrycode": 999}]}"#,
    )
    .unwrap();
    fails_with(
        &[
            "--metadata",
            metadata,
            "--choices",
            &choices,
            "--seed",
            out_of_range.to_str().unwrap(),
        ],
        "outside the valid range",
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `--service-protection-limits`, `--server-cost` and `--time-scale` as the contract spells them;
/// `--service-protection` alone turns Dataverse's limits on.
#[tokio::test]
async fn service_protection_flags_turn_the_limits_on() {
    let dir = std::env::temp_dir().join(format!("emulator-limits-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = TestCertificate::generate("CN=binary-limits").unwrap();
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, cert.cert_pem()).unwrap();
    for (flags, allowed) in [
        (
            vec![
                "--service-protection-limits",
                "2:1200:300:52",
                "--server-cost",
                "10:5:1",
                "--time-scale",
                "10",
            ],
            2,
        ),
        (vec!["--service-protection"], 6000),
    ] {
        let (_child, base) = listen(
            Command::new(BIN)
                .arg("--metadata")
                .arg(common::sample_metadata())
                .arg("--app")
                .arg(format!("{}={}", common::CLIENT_ID, cert_path.display()))
                .args(&flags),
        );
        let tenant = dynamics_emulator::DEFAULT_TENANT;
        let endpoint = format!("{base}/{tenant}/oauth2/v2.0/token");
        let now = common::now();
        let assertion = cert
            .sign_assertion(
                SigningAlgorithm::Ps256,
                &json!({"aud": endpoint, "iss": common::CLIENT_ID, "sub": common::CLIENT_ID,
                        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 300}),
            )
            .unwrap();
        let body =
            common::assertion_form(common::CLIENT_ID, &format!("{base}/.default"), &assertion);
        let (_, reply) = common::post_form(&reqwest::Client::new(), &endpoint, body).await;
        let token = reply["access_token"].as_str().unwrap().to_owned();
        let who_am_i = || {
            reqwest::Client::new()
                .get(format!("{base}/api/data/v9.2/WhoAmI"))
                .bearer_auth(&token)
                .send()
        };
        let first = who_am_i().await.unwrap();
        let left = first.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(left, (allowed - 1).to_string(), "{flags:?}");
        if allowed == 2 {
            assert_eq!(who_am_i().await.unwrap().status(), 200);
            let refused = who_am_i().await.unwrap();
            assert_eq!(refused.status(), 429);
            assert!(refused.headers().contains_key("retry-after"));
            let body: serde_json::Value = refused.json().await.unwrap();
            assert_eq!(body["error"]["code"], "0x80072322");
        }
    }
    let metadata = common::sample_metadata();
    let metadata = metadata.to_str().unwrap();
    fails_with(
        &[
            "--metadata",
            metadata,
            "--service-protection-limits",
            "1:2:3",
        ],
        "REQUESTS:EXECUTION_SECONDS:WINDOW_SECONDS:CONCURRENT",
    );
    fails_with(
        &["--metadata", metadata, "--server-cost", "1:x:3"],
        "PER_RECORD_MS",
    );
    fails_with(
        &["--metadata", metadata, "--time-scale", "0"],
        "--time-scale",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn managed_identity_and_federated_flags() {
    let dir = std::env::temp_dir().join(format!("emulator-mi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let issuer = TestCertificate::generate("CN=issuer").unwrap();
    let issuer_path = dir.join("issuer.pem");
    std::fs::write(&issuer_path, issuer.cert_pem()).unwrap();
    let (child, base) = listen(
        Command::new(BIN)
            .arg("--metadata")
            .arg(common::sample_metadata())
            .args([
                "--system-identity",
                "0d9f3c1e-5b7a-4e2d-8c6f-1a3b5d7f9e0c",
                "--identity-header",
                "h1",
            ])
            .args([
                "--user-identity",
                "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b=/subscriptions/s/x/userAssignedIdentities/u",
            ])
            .arg("--federated")
            .arg(format!(
                "fed-id,https://issuer.example,repo:o/r:ref:refs/heads/main,{}",
                issuer_path.display()
            )),
    );
    let http = reqwest::Client::new();
    let token = |reply: serde_json::Value| reply["access_token"].as_str().unwrap().to_owned();
    let reply: serde_json::Value = http
        .get(
            url::Url::parse_with_params(
                &format!("{base}/msi/token"),
                &[
                    ("api-version", "2019-08-01"),
                    ("resource", &base),
                    ("client_id", "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b"),
                ],
            )
            .unwrap(),
        )
        .header("X-IDENTITY-HEADER", "h1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["client_id"], "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b",
        "{reply}"
    );
    let imds: serde_json::Value = http
        .get(
            url::Url::parse_with_params(
                &format!("{base}/metadata/identity/oauth2/token"),
                &[("api-version", "2018-02-01"), ("resource", &base)],
            )
            .unwrap(),
        )
        .header("Metadata", "true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = common::now();
    let external = issuer
        .sign_with_header(
            SigningAlgorithm::Rs256,
            &json!({"alg": "RS256"}),
            &json!({"iss": "https://issuer.example", "sub": "repo:o/r:ref:refs/heads/main",
                    "aud": "api://AzureADTokenExchange", "exp": now + 600}),
        )
        .unwrap();
    let endpoint = format!(
        "{base}/{}/oauth2/v2.0/token",
        dynamics_emulator::DEFAULT_TENANT
    );
    let body = common::assertion_form("fed-id", &format!("{base}/.default"), &external);
    let (status, federated) = common::post_form(&http, &endpoint, body).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{federated}");
    for access_token in [token(reply), token(imds), token(federated)] {
        let who = http
            .get(format!("{base}/api/data/v9.2/WhoAmI()"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status(), reqwest::StatusCode::OK);
    }
    drop(child);
    let _ = std::fs::remove_dir_all(dir);

    let metadata = common::sample_metadata();
    let metadata = metadata.to_str().unwrap();
    fails_with(
        &["--metadata", metadata, "--user-identity", "no-resource"],
        "CLIENT_ID=RESOURCE_ID",
    );
    fails_with(
        &["--metadata", metadata, "--federated", "id,issuer,subject"],
        "CLIENT_ID,ISSUER,SUBJECT,ISSUER_CERT_PEM",
    );
    fails_with(
        &[
            "--metadata",
            metadata,
            "--federated",
            "id,i,s,/nonexistent.pem",
        ],
        "cannot read",
    );
}
