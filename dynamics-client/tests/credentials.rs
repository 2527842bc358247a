//! The credentials apps in Azure use (managed identity, workload identity, the Azure CLI) and
//! the default chain, end to end against dynamics-emulator.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dynamics_client::{AzureCliCredential, Client, Error, TokenCredential, error::CredentialError};
use support::WhoAmI;
use support::emulated::start;

/// Environment variables for `from_lookup` constructors, instead of the process's.
fn lookup(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

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

/// Writes an executable `az` into `dir` that runs `body` under `/bin/sh`. Its `PATH` is the
/// credential's search path, so `body` names other programs by absolute path.
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
            "printf '%s\\n' \"$@\" > '{}'\nprintf '%s' '{}'",
            args_file.display(),
            az_output(real.token.expose(), expires_on)
        ),
    );
    let credential = AzureCliCredential::new()
        .with_tenant("contoso.onmicrosoft.com")
        .unwrap()
        .with_search_path(scratch.path());
    let client = Client::builder(env.emulator.environment_url())
        .credential(Arc::new(credential))
        .build()
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

    fake_az(scratch.path(), "exec /bin/sleep 5");
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

mod managed_identity {
    use super::*;
    use axum::http::StatusCode;
    use dynamics_client::{CredentialOptions, ManagedIdentityCredential, ManagedIdentityId};
    use dynamics_emulator::ManagedIdentity;

    const SYSTEM: &str = "5f0c6c8e-6a1d-4a0e-9d3c-1f2e3d4c5b6a";
    const USER: &str = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d";
    const USER_RESOURCE: &str = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/crm-sync";

    fn user_object_id() -> uuid::Uuid {
        uuid::Uuid::parse_str("2d4c6e8a-0b1d-4f3a-8c5e-7a9b1c3d5e7f").unwrap()
    }

    async fn host() -> support::emulated::Env {
        support::emulated::start_with(|builder| {
            builder
                .managed_identity(ManagedIdentity::system_assigned(SYSTEM))
                .managed_identity(
                    ManagedIdentity::user_assigned(USER, USER_RESOURCE)
                        .with_object_id(user_object_id()),
                )
                .identity_header("app-service-secret")
        })
        .await
    }

    /// The application user behind a client's token.
    async fn who(
        env: &support::emulated::Env,
        credential: ManagedIdentityCredential,
    ) -> uuid::Uuid {
        let client = Client::builder(env.emulator.environment_url())
            .credential(Arc::new(credential))
            .build()
            .unwrap();
        let me: WhoAmI = client.get("WhoAmI()").await.unwrap();
        me.user_id
    }

    #[tokio::test]
    async fn both_flavours_every_kind_of_identity() {
        let env = host().await;
        let app_service = |id| {
            ManagedIdentityCredential::from_lookup(
                lookup(vec![
                    ("IDENTITY_ENDPOINT", env.emulator.identity_endpoint()),
                    ("IDENTITY_HEADER", env.emulator.identity_header().to_owned()),
                ]),
                id,
                CredentialOptions::default(),
            )
            .unwrap()
        };
        let imds = |id| {
            ManagedIdentityCredential::from_lookup(
                lookup(vec![(
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    env.emulator.imds_authority().to_owned(),
                )]),
                id,
                CredentialOptions::default(),
            )
            .unwrap()
        };
        let system = who(&env, app_service(ManagedIdentityId::SystemAssigned)).await;
        assert_eq!(
            system,
            who(&env, imds(ManagedIdentityId::SystemAssigned)).await
        );
        let user_ids = [
            ManagedIdentityId::ClientId(USER.into()),
            ManagedIdentityId::ObjectId(user_object_id().to_string()),
            ManagedIdentityId::ResourceId(USER_RESOURCE.into()),
        ];
        let mut users = Vec::new();
        for id in user_ids {
            users.push(who(&env, app_service(id.clone())).await);
            users.push(who(&env, imds(id)).await);
        }
        assert!(users.iter().all(|u| *u == users[0]), "{users:?}");
        assert_ne!(users[0], system, "two identities, two application users");

        // An identity the host does not have is refused, in IMDS's words.
        let err = imds(ManagedIdentityId::ClientId(
            "00000000-0000-0000-0000-000000000009".into(),
        ))
        .get_token(&env.emulator.scope())
        .await
        .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(err.to_string().contains("Identity not found"), "{err}");
    }

    #[tokio::test]
    async fn the_resource_is_the_environment_and_the_header_is_checked() {
        let env = host().await;
        let wrong_header = ManagedIdentityCredential::app_service(
            &env.emulator.identity_endpoint(),
            dynamics_client::Secret::new("SENTINEL-wrong"),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap();
        let err = wrong_header
            .get_token(&env.emulator.scope())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(401), "{err}");
        assert!(err.to_string().contains("X-IDENTITY-HEADER"), "{err}");
        assert!(!err.to_string().contains("SENTINEL"), "{err}");

        let imds = ManagedIdentityCredential::imds(
            env.emulator.imds_authority(),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions::default(),
        )
        .unwrap();
        let err = imds
            .get_token("https://other.crm.dynamics.com/.default")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("AADSTS500011"), "{err}");
    }

    #[tokio::test]
    async fn imds_updating_and_throttling_are_retried_with_backoff() {
        let env = host().await;
        let clock = Arc::new(dynamics_client::clock::ManualClock::default());
        let credential = ManagedIdentityCredential::imds(
            env.emulator.imds_authority(),
            ManagedIdentityId::SystemAssigned,
            CredentialOptions {
                clock: clock.clone(),
                ..CredentialOptions::default()
            },
        )
        .unwrap();
        // 410: IMDS is updating (back within 70 s); the documented retries ride it out.
        env.emulator
            .controls()
            .fail_next_token_requests(3, StatusCode::GONE);
        credential.get_token(&env.emulator.scope()).await.unwrap();
        assert_eq!(env.token_requests(), 4);
        assert_eq!(
            clock.sleeps(),
            [
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );

        // The backoff stops at 72 s in all: 1+2+4+8+16+32, then the 9 s left.
        env.emulator
            .controls()
            .fail_next_token_requests(100, StatusCode::TOO_MANY_REQUESTS);
        let err = credential
            .get_token(&env.emulator.scope())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(429), "{err}");
        let waited: Duration = clock.sleeps()[3..].iter().sum();
        assert_eq!(waited, Duration::from_secs(72));
        env.emulator
            .controls()
            .fail_next_token_requests(0, StatusCode::OK);

        // A 400 is the caller's mistake and is not retried.
        let before = env.token_requests();
        let wrong = ManagedIdentityCredential::imds(
            env.emulator.imds_authority(),
            ManagedIdentityId::ObjectId("00000000-0000-0000-0000-000000000009".into()),
            CredentialOptions::default(),
        )
        .unwrap();
        wrong.get_token(&env.emulator.scope()).await.unwrap_err();
        assert_eq!(env.token_requests(), before + 1);
    }
}

mod workload_identity {
    use super::*;
    use dynamics_client::{CredentialOptions, WorkloadIdentityCredential};
    use dynamics_emulator::{FederatedCredential, SigningAlgorithm, TestCertificate};
    use serde_json::json;

    const APP: &str = "6b5a4c3d-2e1f-4a0b-8c9d-0e1f2a3b4c5d";
    const ISSUER: &str = "https://oidc.prod-aks.azure.com/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    const SUBJECT: &str = "system:serviceaccount:crm:sync";

    /// A projected service account token as the cluster's issuer signs it.
    fn cluster_token(key: &TestCertificate, subject: &str, audience: &str, exp_in: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        key.sign_with_header(
            SigningAlgorithm::Rs256,
            &json!({"alg": "RS256", "typ": "JWT", "kid": key.x5t_s256()}),
            &json!({
                "iss": ISSUER, "sub": subject, "aud": [audience],
                "iat": now, "nbf": now, "exp": now + exp_in,
            }),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn federated_token_from_a_rotating_file() {
        let issuer_key = TestCertificate::generate("CN=cluster issuer").unwrap();
        let env = support::emulated::start_with(|builder| {
            builder
                .federated_credential(APP, FederatedCredential::new(ISSUER, SUBJECT, &issuer_key))
        })
        .await;
        let scratch = Scratch::new();
        let file = scratch.path().join("azure-identity-token");
        let audience = dynamics_emulator::TOKEN_EXCHANGE_AUDIENCE;
        std::fs::write(&file, cluster_token(&issuer_key, SUBJECT, audience, 3600)).unwrap();
        let vars = vec![
            ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
            ("AZURE_TENANT_ID", env.emulator.tenant_id().to_owned()),
            ("AZURE_CLIENT_ID", APP.to_owned()),
            (
                "AZURE_AUTHORITY_HOST",
                env.emulator.authority_host().to_owned(),
            ),
        ];
        let credential =
            WorkloadIdentityCredential::from_lookup(lookup(vars), CredentialOptions::default())
                .unwrap();
        let credential = Arc::new(credential);
        let client = Client::builder(env.emulator.environment_url())
            .credential(credential.clone())
            .build()
            .unwrap();
        let me: WhoAmI = client.get("WhoAmI()").await.unwrap();
        assert!(!me.user_id.is_nil());

        // The platform rotates the file to a token for another subject: the next request reads
        // it, and the emulator refuses it as Entra would.
        std::fs::write(
            &file,
            cluster_token(
                &issuer_key,
                "system:serviceaccount:crm:other",
                audience,
                3600,
            ),
        )
        .unwrap();
        let err = credential
            .get_token(&env.emulator.scope())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("AADSTS700213"), "{err}");
        // Rotated back to a good one, it works again.
        std::fs::write(&file, cluster_token(&issuer_key, SUBJECT, audience, 3000)).unwrap();
        credential.get_token(&env.emulator.scope()).await.unwrap();
    }

    #[tokio::test]
    async fn the_external_token_is_checked_as_entra_does() {
        let issuer_key = TestCertificate::generate("CN=cluster issuer").unwrap();
        let impostor = TestCertificate::generate("CN=impostor").unwrap();
        let env = support::emulated::start_with(|builder| {
            builder
                .federated_credential(APP, FederatedCredential::new(ISSUER, SUBJECT, &issuer_key))
        })
        .await;
        let scratch = Scratch::new();
        let file = scratch.path().join("token");
        let credential = WorkloadIdentityCredential::with_token_file(
            env.emulator.tenant_id(),
            APP,
            &file,
            env.credential_options(),
        )
        .unwrap();
        let audience = dynamics_emulator::TOKEN_EXCHANGE_AUDIENCE;
        let cases = [
            (
                cluster_token(&issuer_key, SUBJECT, "api://SomethingElse", 600),
                "AADSTS700212",
            ),
            (
                cluster_token(&issuer_key, SUBJECT, audience, -600),
                "AADSTS700024",
            ),
            (
                cluster_token(&impostor, SUBJECT, audience, 600),
                "AADSTS700027",
            ),
        ];
        for (token, code) in cases {
            std::fs::write(&file, &token).unwrap();
            let err = credential
                .get_token(&env.emulator.scope())
                .await
                .unwrap_err();
            assert!(err.to_string().contains(code), "{code}: {err}");
        }
        // A token from another issuer names that issuer.
        let other = impostor
            .sign_with_header(
                SigningAlgorithm::Rs256,
                &json!({"alg": "RS256", "typ": "JWT"}),
                &json!({"iss": "https://token.actions.githubusercontent.com", "sub": SUBJECT, "aud": audience, "exp": 4_000_000_000u64}),
            )
            .unwrap();
        std::fs::write(&file, other).unwrap();
        let err = credential
            .get_token(&env.emulator.scope())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("AADSTS700211"), "{err}");
        assert!(
            err.to_string()
                .contains("token.actions.githubusercontent.com"),
            "{err}"
        );
    }
}

mod default_chain {
    use super::*;
    use dynamics_client::{CredentialOptions, DefaultCredential};
    use dynamics_emulator::{
        FederatedCredential, ManagedIdentity, SigningAlgorithm, TestCertificate,
    };
    use serde_json::json;

    const MI: &str = "5f0c6c8e-6a1d-4a0e-9d3c-1f2e3d4c5b6a";
    const WORKLOAD: &str = "6b5a4c3d-2e1f-4a0b-8c9d-0e1f2a3b4c5d";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const SUBJECT: &str = "repo:contoso/crm-sync:ref:refs/heads/main";

    /// Which credential of the chain gives the token, for each set of variables, against an
    /// emulator that serves all of them.
    #[tokio::test]
    async fn which_variables_lead_to_which_credential() {
        let issuer_key = TestCertificate::generate("CN=github").unwrap();
        let env = support::emulated::start_with(|builder| {
            builder
                .managed_identity(ManagedIdentity::system_assigned(MI))
                .federated_credential(
                    WORKLOAD,
                    FederatedCredential::new(ISSUER, SUBJECT, &issuer_key),
                )
                .identity_header("h")
        })
        .await;
        let scratch = Scratch::new();
        let token_file = scratch.path().join("federated");
        let external = issuer_key
            .sign_with_header(
                SigningAlgorithm::Rs256,
                &json!({"alg": "RS256", "typ": "JWT", "kid": issuer_key.x5t_s256()}),
                &json!({"iss": ISSUER, "sub": SUBJECT, "aud": dynamics_emulator::TOKEN_EXCHANGE_AUDIENCE, "exp": 4_000_000_000u64}),
            )
            .unwrap();
        std::fs::write(&token_file, external).unwrap();
        let no_az = scratch.path().join("empty-path");
        std::fs::create_dir_all(&no_az).unwrap();
        // Nobody listens here: a machine without IMDS.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let no_imds = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);

        let e = &env.emulator;
        let base = vec![
            ("AZURE_AUTHORITY_HOST", e.authority_host().to_owned()),
            ("PATH", no_az.display().to_string()),
        ];
        let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
            (
                vec![
                    ("AZURE_TENANT_ID", e.tenant_id().to_owned()),
                    ("AZURE_CLIENT_ID", WORKLOAD.to_owned()),
                    (
                        "AZURE_FEDERATED_TOKEN_FILE",
                        token_file.display().to_string(),
                    ),
                    // Set too, but after workload identity in the order.
                    (
                        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                        e.imds_authority().to_owned(),
                    ),
                ],
                "WorkloadIdentityCredential",
            ),
            (
                vec![
                    ("IDENTITY_ENDPOINT", e.identity_endpoint()),
                    ("IDENTITY_HEADER", e.identity_header().to_owned()),
                ],
                "ManagedIdentityCredential",
            ),
            (
                vec![(
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    e.imds_authority().to_owned(),
                )],
                "ManagedIdentityCredential",
            ),
        ];
        for (vars, expected) in cases {
            let mut all = base.clone();
            all.extend(vars);
            let shown = format!("{all:?}");
            let chain = DefaultCredential::from_lookup(lookup(all), CredentialOptions::default());
            let chain = Arc::new(chain);
            let client = Client::builder(e.environment_url())
                .credential(chain.clone())
                .build()
                .unwrap();
            let _: WhoAmI = client
                .get("WhoAmI()")
                .await
                .unwrap_or_else(|err| panic!("{shown}: {err}"));
            assert_eq!(chain.selected(), Some(expected), "{shown}");
        }

        // The Azure CLI, last in line, once no other applies.
        #[cfg(unix)]
        {
            let real = env.credential().get_token(&e.scope()).await.unwrap();
            let expires_on = real
                .expires_on
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let az_dir = scratch.path().join("az-path");
            std::fs::create_dir_all(&az_dir).unwrap();
            fake_az(
                &az_dir,
                &format!(
                    "printf '%s' '{}'",
                    az_output(real.token.expose(), expires_on)
                ),
            );
            let vars = vec![
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", no_imds.clone()),
                ("PATH", az_dir.display().to_string()),
            ];
            let chain = Arc::new(DefaultCredential::from_lookup(
                lookup(vars),
                CredentialOptions::default(),
            ));
            let client = Client::builder(e.environment_url())
                .credential(chain.clone())
                .build()
                .unwrap();
            let _: WhoAmI = client.get("WhoAmI()").await.unwrap();
            assert_eq!(chain.selected(), Some("AzureCliCredential"));
        }

        // None applies: the error lists each attempt and why.
        let vars = vec![
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", no_imds.clone()),
            ("PATH", no_az.display().to_string()),
        ];
        let chain = DefaultCredential::from_lookup(lookup(vars), CredentialOptions::default());
        let err = chain.get_token(&e.scope()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no credential could get a token:"),
            "{text}"
        );
        for line in [
            "- EnvironmentCredential: neither AZURE_CLIENT_CERTIFICATE_PATH nor AZURE_CLIENT_SECRET is set",
            "- WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set",
            "- ManagedIdentityCredential: no managed identity endpoint answered",
            "- AzureCliCredential: the Azure CLI (`az`) was not found on PATH",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
