//! The default chain: the credential an app picks up from where it runs, as the Azure SDKs'
//! `DefaultAzureCredential` does
//! (<https://learn.microsoft.com/en-us/azure/developer/intro/passwordless-overview#defaultazurecredential>,
//! <https://learn.microsoft.com/en-us/dotnet/azure/sdk/authentication/credential-chains#defaultazurecredential-overview>).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{
    AccessToken, AzureCliCredential, CredentialOptions, EnvironmentCredential,
    ManagedIdentityCredential, ManagedIdentityId, Settings, TokenCredential,
    WorkloadIdentityCredential,
};
use crate::clock::BoxFuture;
use crate::error::{CredentialAttempt, CredentialError, Error, Result};

/// No credential chosen yet.
const NONE: usize = usize::MAX;

/// Tries, in the Azure SDKs' order, each credential the environment offers, and keeps the first
/// that gives a token:
///
/// 1. [`EnvironmentCredential`]: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
///    `AZURE_CLIENT_CERTIFICATE_PATH` or `AZURE_CLIENT_SECRET`;
/// 2. [`WorkloadIdentityCredential`]: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_TENANT_ID`,
///    `AZURE_CLIENT_ID`;
/// 3. [`ManagedIdentityCredential`]: App Service's `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`,
///    else IMDS, given a second to answer; `AZURE_CLIENT_ID`, when set, names a user-assigned
///    identity;
/// 4. [`AzureCliCredential`]: `az` on `PATH`, signed in; `AZURE_TENANT_ID` is passed as
///    `--tenant`.
///
/// A credential that does not apply (its variables are not set, no endpoint answers, `az` is
/// missing or signed out) is skipped. One that applies but is refused stops the chain with that
/// refusal, so a misconfigured app fails loudly rather than signing in as someone else. When
/// none applies, the error ([`CredentialError::NoneApplied`]) lists every attempt and why.
pub struct DefaultCredential {
    links: Vec<Link>,
    /// The index of the credential that gave a token; later requests go to it alone.
    selected: AtomicUsize,
}

struct Link {
    name: &'static str,
    credential: std::result::Result<Box<dyn TokenCredential>, Skip>,
}

/// Why a link was not built.
enum Skip {
    /// Its settings are absent: the chain moves on.
    NotConfigured(String),
    /// Its settings are present but wrong: the chain stops here.
    Broken(String),
}

impl fmt::Debug for DefaultCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let links: Vec<_> = self
            .links
            .iter()
            .map(|l| (l.name, l.credential.is_ok()))
            .collect();
        f.debug_struct("DefaultCredential")
            .field("links", &links)
            .field("selected", &self.selected())
            .finish()
    }
}

impl DefaultCredential {
    /// Builds the chain from the process environment.
    pub fn new(options: CredentialOptions) -> Self {
        Self::from_lookup(|name| std::env::var(name).ok(), options)
    }

    /// [`new`](Self::new), reading the variables through `lookup` (including `PATH`, where
    /// `az` is looked for).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        options: CredentialOptions,
    ) -> Self {
        let settings = Settings(&lookup);
        let get = |name: &str| settings.get(name);
        let lookup = &lookup;
        let mut links = Vec::with_capacity(4);

        let environment = if get("AZURE_CLIENT_CERTIFICATE_PATH").is_none()
            && get("AZURE_CLIENT_SECRET").is_none()
        {
            Err(Skip::NotConfigured(
                "neither AZURE_CLIENT_CERTIFICATE_PATH nor AZURE_CLIENT_SECRET is set".into(),
            ))
        } else {
            EnvironmentCredential::from_lookup(lookup, options.clone())
                .map(|c| Box::new(c) as Box<dyn TokenCredential>)
                .map_err(skip_unless_broken)
        };
        links.push(Link {
            name: "EnvironmentCredential",
            credential: environment,
        });

        let workload = match get("AZURE_FEDERATED_TOKEN_FILE") {
            None => Err(Skip::NotConfigured(
                "AZURE_FEDERATED_TOKEN_FILE is not set".into(),
            )),
            Some(_) => WorkloadIdentityCredential::from_lookup(lookup, options.clone())
                .map(|c| Box::new(c) as Box<dyn TokenCredential>)
                .map_err(skip_unless_broken),
        };
        links.push(Link {
            name: "WorkloadIdentityCredential",
            credential: workload,
        });

        let id = get("AZURE_CLIENT_ID").map_or(ManagedIdentityId::SystemAssigned, |client_id| {
            ManagedIdentityId::ClientId(client_id)
        });
        let managed = ManagedIdentityCredential::from_lookup(lookup, id, options)
            .map(|c| {
                // Without App Service's variables, IMDS is tried, and may not be there.
                let c = if c.is_app_service() { c } else { c.probing() };
                Box::new(c) as Box<dyn TokenCredential>
            })
            .map_err(|e| Skip::NotConfigured(e.to_string()));
        links.push(Link {
            name: "ManagedIdentityCredential",
            credential: managed,
        });

        let mut cli = AzureCliCredential::new();
        if let Some(path) = get("PATH") {
            cli = cli.with_search_path(path);
        }
        let cli = match get("AZURE_TENANT_ID") {
            Some(tenant) => cli.with_tenant(&tenant),
            None => Ok(cli),
        };
        links.push(Link {
            name: "AzureCliCredential",
            credential: cli
                .map(|c| Box::new(c) as Box<dyn TokenCredential>)
                .map_err(|e| Skip::NotConfigured(e.to_string())),
        });

        Self {
            links,
            selected: AtomicUsize::new(NONE),
        }
    }

    /// The credential that gave the last token, once one has.
    pub fn selected(&self) -> Option<&'static str> {
        self.links
            .get(self.selected.load(Ordering::Acquire))
            .map(|l| l.name)
    }

    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let chosen = self.selected.load(Ordering::Acquire);
        if let Some(Link {
            credential: Ok(credential),
            ..
        }) = self.links.get(chosen)
        {
            return credential.get_token(scope).await;
        }
        let mut attempts = Vec::new();
        for (index, link) in self.links.iter().enumerate() {
            let credential = match &link.credential {
                Ok(credential) => credential,
                Err(Skip::NotConfigured(reason)) => {
                    attempts.push(attempt(link.name, reason.clone()));
                    continue;
                }
                Err(Skip::Broken(reason)) => {
                    return Err(
                        CredentialError::Configuration(format!("{}: {reason}", link.name)).into(),
                    );
                }
            };
            match credential.get_token(scope).await {
                Ok(token) => {
                    tracing::debug!(credential = link.name, "default credential chose");
                    self.selected.store(index, Ordering::Release);
                    return Ok(token);
                }
                Err(Error::Credential(CredentialError::Unavailable { reason, .. })) => {
                    attempts.push(attempt(link.name, reason));
                }
                Err(other) => return Err(other),
            }
        }
        Err(CredentialError::NoneApplied(attempts).into())
    }
}

impl TokenCredential for DefaultCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.token(scope))
    }
}

fn attempt(credential: &'static str, reason: String) -> CredentialAttempt {
    CredentialAttempt { credential, reason }
}

/// A missing variable skips the link; anything else (an unreadable certificate, plain http to
/// a remote authority) is a broken setting that stops the chain.
fn skip_unless_broken(error: Error) -> Skip {
    match error {
        Error::Credential(CredentialError::Configuration(reason)) => Skip::NotConfigured(reason),
        other => Skip::Broken(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    /// The links each set of variables configures, in chain order.
    fn configured(vars: Vec<(&'static str, String)>) -> Vec<&'static str> {
        let chain = DefaultCredential::from_lookup(lookup(vars), CredentialOptions::default());
        chain
            .links
            .iter()
            .filter(|l| l.credential.is_ok())
            .map(|l| l.name)
            .collect()
    }

    #[test]
    fn variables_decide_which_links_apply() {
        let app = || {
            vec![
                ("AZURE_TENANT_ID", "t".to_owned()),
                ("AZURE_CLIENT_ID", "c".to_owned()),
            ]
        };
        let with = |extra: &[(&'static str, &str)]| {
            let mut vars = app();
            vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            vars
        };
        // Managed identity (IMDS, probed) and the CLI are always candidates.
        assert_eq!(
            configured(vec![]),
            ["ManagedIdentityCredential", "AzureCliCredential"]
        );
        assert_eq!(
            configured(with(&[("AZURE_CLIENT_SECRET", "s")])),
            [
                "EnvironmentCredential",
                "ManagedIdentityCredential",
                "AzureCliCredential"
            ]
        );
        assert_eq!(
            configured(with(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")])),
            [
                "WorkloadIdentityCredential",
                "ManagedIdentityCredential",
                "AzureCliCredential"
            ]
        );
        // A federated token file without the app's ids does not configure workload identity.
        assert_eq!(
            configured(vec![("AZURE_FEDERATED_TOKEN_FILE", "/t".to_owned())]),
            ["ManagedIdentityCredential", "AzureCliCredential"]
        );
        // Azure Arc is recognised and skipped.
        assert_eq!(
            configured(vec![
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/t".to_owned()),
                ("IMDS_ENDPOINT", "http://127.0.0.1:2".to_owned()),
            ]),
            ["AzureCliCredential"]
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let chain = DefaultCredential::from_lookup(
            lookup(vec![
                ("AZURE_TENANT_ID", "t".into()),
                ("AZURE_CLIENT_ID", "c".into()),
                ("AZURE_CLIENT_SECRET", "SENTINEL-secret".into()),
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token".into()),
                ("IDENTITY_HEADER", "SENTINEL-header".into()),
            ]),
            CredentialOptions::default(),
        );
        let debug = format!("{chain:?}");
        assert!(debug.contains("EnvironmentCredential"), "{debug}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
    }

    #[tokio::test]
    async fn broken_settings_stop_the_chain() {
        let chain = DefaultCredential::from_lookup(
            lookup(vec![
                ("AZURE_TENANT_ID", "t".into()),
                ("AZURE_CLIENT_ID", "c".into()),
                (
                    "AZURE_CLIENT_CERTIFICATE_PATH",
                    "/nonexistent/app.pem".into(),
                ),
            ]),
            CredentialOptions::default(),
        );
        let err = chain
            .get_token("https://o.crm.dynamics.com/.default")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("EnvironmentCredential"), "{text}");
        assert!(text.contains("/nonexistent/app.pem"), "{text}");
    }

    #[tokio::test]
    async fn when_nothing_applies_every_attempt_is_listed() {
        // A loopback port nobody listens on stands in for a machine without IMDS.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let empty_dir = std::env::temp_dir().join(format!("no-az-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&empty_dir).unwrap();
        let chain = DefaultCredential::from_lookup(
            lookup(vec![
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", authority),
                ("PATH", empty_dir.display().to_string()),
            ]),
            CredentialOptions::default(),
        );
        let err = chain
            .get_token("https://o.crm.dynamics.com/.default")
            .await
            .unwrap_err();
        let Error::Credential(CredentialError::NoneApplied(attempts)) = &err else {
            panic!("{err:?}")
        };
        let names: Vec<_> = attempts.iter().map(|a| a.credential).collect();
        assert_eq!(
            names,
            [
                "EnvironmentCredential",
                "WorkloadIdentityCredential",
                "ManagedIdentityCredential",
                "AzureCliCredential"
            ]
        );
        let text = err.to_string();
        for expected in [
            "AZURE_CLIENT_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE is not set",
            "no managed identity endpoint answered",
            "`az`) was not found on PATH",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        assert_eq!(chain.selected(), None);
        std::fs::remove_dir_all(&empty_dir).unwrap();
    }
}
