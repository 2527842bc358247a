//! Shared by the CLI tests: an emulator with a directory (an admin, a member, three
//! environments in Global Discovery, a security role) and a way to run `dynamics` against it
//! in a private config directory.
#![allow(dead_code)]

pub mod stub;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dynamics_emulator::{DiscoveryInstance, Emulator, UserRights};
use serde_json::{Value, json};

/// A user with admin rights in the directory.
pub const ADMIN: &str = "admin@contoso.example";
/// An ordinary member, without admin rights.
pub const MEMBER: &str = "member@contoso.example";
/// The security role seeded in the environment.
pub const ROLE: &str = "Sales Manager";

/// A running emulator and the config directory of one CLI user.
pub struct Fixture {
    /// The emulator.
    pub emulator: Emulator,
    /// `DYNAMICS_CONFIG_DIR` for every run.
    pub config: PathBuf,
}

fn instance(unique: &str, friendly: &str, region: &str) -> DiscoveryInstance {
    DiscoveryInstance {
        unique_name: unique.into(),
        friendly_name: friendly.into(),
        url: format!("https://{unique}.crm4.dynamics.com"),
        region: region.into(),
        version: "9.2.24101.00190".into(),
    }
}

/// A fresh scratch directory under the target dir.
pub fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dynamics-cli-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the emulator with the directory, environments and roles above.
pub async fn start() -> Fixture {
    let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/security.xml");
    let emulator = Emulator::builder()
        .metadata_file(metadata)
        .user(ADMIN, UserRights::Admin)
        .user(MEMBER, UserRights::Member)
        .discovery_instance(instance("contosotest", "Contoso (test)", "EMEA"))
        .discovery_instance(instance("contosodev", "Contoso (dev)", "NAM"))
        .start()
        .await
        .unwrap();
    let units = emulator.records("businessunits").unwrap();
    let unit = units[0]["businessunitid"].as_str().unwrap().to_owned();
    emulator
        .seed(&json!({"roles": [
            {"name": ROLE, "businessunitid@odata.bind": format!("/businessunits({unit})")},
            {"name": "Basic User", "businessunitid@odata.bind": format!("/businessunits({unit})")},
        ]}))
        .unwrap();
    Fixture {
        emulator,
        config: scratch("config"),
    }
}

impl Fixture {
    /// `dynamics args...` pointed at the emulator, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynamics"));
        let base = self.emulator.base_url();
        command
            .args(args)
            .env("DYNAMICS_CONFIG_DIR", &self.config)
            .env("DYNAMICS_AUTHORITY_HOST", base)
            .env("DYNAMICS_GRAPH_URL", base)
            .env("DYNAMICS_DISCOVERY_URL", base)
            .env_remove("DYNAMICS_STORE_KEY")
            .env_remove("DYNAMICS_ENVIRONMENT")
            .env_remove("DYNAMICS_CONNECTION")
            .stdin(Stdio::null());
        command
    }

    /// Runs `dynamics args...` to completion off the async runtime.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// `dynamics login` as `user`: approves the device code once the CLI shows it.
    pub async fn login(&self, user: &str) -> Output {
        let mut command = self.command(&["login"]);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn().unwrap();
        let identity = self.emulator.identity();
        let code = loop {
            if let Some(code) = identity.pending_device_codes().pop() {
                break code;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Still pending: the CLI is polling and getting authorization_pending.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        identity.approve_device_code(&code.user_code, user).unwrap();
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap()
    }

    /// The encrypted store file.
    pub fn store_file(&self) -> PathBuf {
        self.config.join("connections.store")
    }
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success, showing both streams otherwise.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts success and parses standard output as JSON.
pub fn json_of(output: &Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

/// A delegated token for `user` through the emulator's device code flow, over HTTP, as an
/// administrator's own tools would get one.
pub async fn user_token(emulator: &Emulator, user: &str) -> String {
    let http = reqwest::Client::new();
    let base = emulator.base_url();
    let start: Value = http
        .post(format!("{base}/organizations/oauth2/v2.0/devicecode"))
        .form(&[
            ("client_id", "admin-tool"),
            ("scope", &format!("{base}/.default offline_access")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    emulator
        .identity()
        .approve_device_code(start["user_code"].as_str().unwrap(), user)
        .unwrap();
    let reply: Value = http
        .post(format!("{base}/organizations/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "admin-tool"),
            ("device_code", start["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

/// A text file's contents.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A file's contents, lossily as text.
pub fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

/// SHA-1 thumbprint in upper-case hex.
pub fn thumbprint(cert: &openssl::x509::X509) -> String {
    cert.digest(openssl::hash::MessageDigest::sha1())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The sealed store shows nothing readable: no PEM, no JSON field names, no JWT.
pub fn assert_sealed(sealed: &[u8]) {
    assert!(sealed.starts_with(b"DYNSTORE"));
    let text = String::from_utf8_lossy(sealed);
    for needle in [
        "PRIVATE KEY",
        "CERTIFICATE",
        "refresh_token",
        "private_key_pem",
        "access_tokens",
        "eyJ",
        "sales-prod",
        "@contoso",
    ] {
        assert!(!text.contains(needle), "store file shows {needle}");
    }
}
