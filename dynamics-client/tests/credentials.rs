//! The credentials apps in Azure use (managed identity, workload identity, the Azure CLI) and
//! the default chain, end to end against dynamics-emulator.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dynamics_client::{
    AzureCliCredential, Client, ClientOptions, CredentialError, Error, TokenCredential,
};
use support::WhoAmI;
use support::emulated::start;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dynamics-cred-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an executable `az` into `dir` that runs `body` under `/bin/sh`.
#[cfg(unix)]
fn fake_az(dir: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("az");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `az account get-access-token -o json` as Azure CLI 2.54+ prints it
/// (<https://learn.microsoft.com/en-us/cli/azure/account#az-account-get-access-token>).
fn az_output(token: &str, expires_on: u64) -> String {
    format!(
        r#"{{"accessToken": "{token}", "expiresOn": "2030-01-02 03:04:05.000000", "expires_on": {expires_on}, "subscription": "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47", "tokenType": "Bearer"}}"#
    )
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_token_reaches_the_environment() {
    let env = start().await;
    // The emulator's token for the registered app stands in for the one `az` would get.
    let real = env
        .credential()
        .get_token(&env.emulator.scope())
        .await
        .unwrap();
    let expires_on = real
        .expires_on
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let scratch = Scratch::new();
    let args_file = scratch.path().join("args");
    fake_az(
        scratch.path(),
        &format!(
            "printf '%s\\n' \"$@\" > '{}'\ncat <<'EOF'\n{}\nEOF",
            args_file.display(),
            az_output(real.token.expose(), expires_on)
        ),
    );
    let credential = AzureCliCredential::new()
        .with_tenant("contoso.onmicrosoft.com")
        .unwrap()
        .with_search_path(scratch.path());
    let client = Client::new(
        env.emulator.environment_url(),
        Arc::new(credential),
        ClientOptions::default(),
    )
    .unwrap();
    let me: WhoAmI = client.get("WhoAmI()").await.unwrap();
    assert!(!me.user_id.is_nil());
    let args = std::fs::read_to_string(&args_file).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args,
        [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            env.emulator.environment_url(),
            "--tenant",
            "contoso.onmicrosoft.com"
        ]
    );
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_signed_out_missing_or_slow_says_what_to_do() {
    let scope = "https://contoso.crm.dynamics.com/.default";
    let scratch = Scratch::new();
    let unavailable = |err: Error| match err {
        Error::Credential(CredentialError::Unavailable { credential, reason }) => {
            assert_eq!(credential, "AzureCliCredential");
            reason
        }
        other => panic!("{other:?}"),
    };

    let missing = AzureCliCredential::new().with_search_path(scratch.path());
    let reason = unavailable(missing.get_token(scope).await.unwrap_err());
    assert!(reason.contains("not found on PATH"), "{reason}");

    // What Azure CLI prints when nobody has signed in.
    fake_az(
        scratch.path(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
    );
    let signed_out = AzureCliCredential::new()
        .with_tenant("t1")
        .unwrap()
        .with_search_path(scratch.path());
    let reason = unavailable(signed_out.get_token(scope).await.unwrap_err());
    assert!(reason.contains("run `az login --tenant t1`"), "{reason}");

    fake_az(scratch.path(), "sleep 5");
    let slow = AzureCliCredential::new()
        .with_timeout(Duration::from_millis(300))
        .with_search_path(scratch.path());
    let started = std::time::Instant::now();
    let reason = unavailable(slow.get_token(scope).await.unwrap_err());
    assert!(reason.contains("did not finish within 0.3 s"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(4));

    fake_az(
        scratch.path(),
        "echo '{\"accessToken\": \"SENTINEL-TOKEN\", \"tokenType\": \"Bearer\"}'",
    );
    let old_cli = AzureCliCredential::new().with_search_path(scratch.path());
    let err = old_cli.get_token(scope).await.unwrap_err();
    assert!(err.to_string().contains("2.54.0"), "{err}");
    assert!(!err.to_string().contains("SENTINEL"), "{err}");

    fake_az(scratch.path(), "echo 'not json SENTINEL-TOKEN'");
    let garbled = AzureCliCredential::new().with_search_path(scratch.path());
    let err = garbled.get_token(scope).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(!err.to_string().contains("SENTINEL"), "{err}");
}
