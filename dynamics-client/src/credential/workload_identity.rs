//! Workload identity federation: a token issued by another identity provider (Kubernetes,
//! GitHub Actions, …), left in a file, is exchanged at Entra for an access token.
//!
//! The file's content is sent as it is, as the `client_assertion` of a client-credentials
//! request; Entra checks it against the app's federated identity credential (issuer, subject,
//! audience `api://AzureADTokenExchange`, signature against the issuer's published keys).
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential>
//! <https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation>

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::token_endpoint::{TokenEndpoint, form};
use super::{AccessToken, CredentialOptions, Settings, TokenCredential};
use crate::clock::BoxFuture;
use crate::error::{CredentialError, Result};
use crate::secret::Secret;

/// `client_assertion_type` of a JWT assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Exchanges a federated token, read from a file, for an access token.
///
/// The platform rotates the file (Kubernetes projects a new service account token about every
/// hour); the credential reads it again whenever its modification time or size changes, so a
/// long-running process always sends the current one.
///
/// [`WorkloadIdentityCredential::new`] reads the variables that AKS workload identity and the
/// Azure SDKs use:
///
/// | variable | meaning |
/// |---|---|
/// | `AZURE_FEDERATED_TOKEN_FILE` | path of the federated token |
/// | `AZURE_CLIENT_ID` | the app whose federated credential trusts that token |
/// | `AZURE_TENANT_ID` | the app's tenant |
/// | `AZURE_AUTHORITY_HOST` | authority host, default `https://login.microsoftonline.com` |
pub struct WorkloadIdentityCredential {
    client_id: String,
    token_file: PathBuf,
    endpoint: TokenEndpoint,
    /// The file's last content, with the modification time and size it was read at.
    current: Mutex<Option<(FileStamp, Secret)>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl fmt::Debug for WorkloadIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentityCredential")
            .field("client_id", &self.client_id)
            .field("token_file", &self.token_file)
            .field("token_endpoint", &self.endpoint.url.as_str())
            .finish_non_exhaustive()
    }
}

impl WorkloadIdentityCredential {
    /// Reads the settings from the process environment (see the type's docs).
    pub fn new(options: CredentialOptions) -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok(), options)
    }

    /// [`new`](Self::new), reading the variables through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        options: CredentialOptions,
    ) -> Result<Self> {
        let settings = Settings(lookup);
        let token_file = settings.required("AZURE_FEDERATED_TOKEN_FILE")?;
        let tenant_id = settings.required("AZURE_TENANT_ID")?;
        let client_id = settings.required("AZURE_CLIENT_ID")?;
        let options = settings.authority_host(options);
        Self::with_token_file(&tenant_id, &client_id, token_file, options)
    }

    /// The credential of app `client_id` in `tenant_id`, sending the token in `token_file`.
    pub fn with_token_file(
        tenant_id: &str,
        client_id: &str,
        token_file: impl AsRef<Path>,
        options: CredentialOptions,
    ) -> Result<Self> {
        if client_id.is_empty() {
            return Err(CredentialError::Configuration("client id is empty".into()).into());
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            token_file: token_file.as_ref().to_owned(),
            endpoint: TokenEndpoint::new(tenant_id, &options)?,
            current: Mutex::new(None),
        })
    }

    /// The federated token: the cached one while the file is unchanged, else the file read again.
    fn assertion(&self) -> Result<Secret> {
        let io_error = |source| CredentialError::Io {
            path: self.token_file.clone(),
            source,
        };
        let metadata = std::fs::metadata(&self.token_file).map_err(io_error)?;
        let stamp = FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        };
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, token)) = current.as_ref()
            && *seen == stamp
            && stamp.modified.is_some()
        {
            return Ok(token.clone());
        }
        let text = std::fs::read_to_string(&self.token_file).map_err(io_error)?;
        let token = Secret::new(text.trim());
        if token.expose().is_empty() {
            return Err(CredentialError::Configuration(format!(
                "the federated token file {} is empty",
                self.token_file.display()
            ))
            .into());
        }
        *current = Some((stamp, token.clone()));
        Ok(token)
    }
}

impl TokenCredential for WorkloadIdentityCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.endpoint.request(move || {
            let assertion = self.assertion()?;
            Ok(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("scope", scope),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.expose()),
            ]))
        }))
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

    #[test]
    fn missing_variables_are_named() {
        let err = WorkloadIdentityCredential::from_lookup(
            lookup(vec![
                ("AZURE_TENANT_ID", "t".into()),
                ("AZURE_CLIENT_ID", "c".into()),
            ]),
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"),
            "{err}"
        );
    }

    #[test]
    fn the_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("dynamics-wi-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "first.token.SENTINEL\n").unwrap();
        let c = WorkloadIdentityCredential::from_lookup(
            lookup(vec![
                ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
                ("AZURE_TENANT_ID", "t".into()),
                ("AZURE_CLIENT_ID", "c".into()),
                (
                    "AZURE_AUTHORITY_HOST",
                    "https://login.microsoftonline.us".into(),
                ),
            ]),
            CredentialOptions::default(),
        )
        .unwrap();
        assert_eq!(c.assertion().unwrap().expose(), "first.token.SENTINEL");
        // A different length changes the stamp even where mtime has a coarse resolution.
        std::fs::write(&file, "second.rotated.token").unwrap();
        assert_eq!(c.assertion().unwrap().expose(), "second.rotated.token");
        let debug = format!("{c:?}");
        assert!(
            debug.contains("login.microsoftonline.us/t/oauth2/v2.0/token"),
            "{debug}"
        );
        assert!(!debug.contains("rotated"), "{debug}");

        std::fs::write(&file, "  \n").unwrap();
        assert!(c.assertion().unwrap_err().to_string().contains("empty"));
        std::fs::remove_file(&file).unwrap();
        let err = c.assertion().unwrap_err();
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
