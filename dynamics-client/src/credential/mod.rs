//! Credentials: where access tokens come from.
//!
//! [`TokenCredential`] is the object-safe trait the client asks for tokens; this module ships
//! [`ClientCertificateCredential`], [`ClientSecretCredential`], [`EnvironmentCredential`],
//! [`WorkloadIdentityCredential`], [`ManagedIdentityCredential`], [`AzureCliCredential`] and
//! the chain of the last four, [`DefaultCredential`]. Credentials do not cache: the client
//! keeps one token per scope (see the crate docs).

mod assertion;
mod azure_cli;
#[cfg(feature = "azure-core")]
mod azure_core_interop;
mod certificate;
mod client_secret;
mod default;
mod environment;
mod managed_identity;
mod token_endpoint;
mod workload_identity;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use assertion::AssertionAlgorithm;
pub use azure_cli::{AzureCliCredential, DEFAULT_AZ_TIMEOUT};
#[cfg(feature = "azure-core")]
pub use azure_core_interop::{AsAzureSdkCredential, AzureSdkCredential};
pub use certificate::ClientCertificateCredential;
pub use client_secret::ClientSecretCredential;
pub use default::DefaultCredential;
pub use environment::EnvironmentCredential;
pub use managed_identity::{IMDS_AUTHORITY, ManagedIdentityCredential, ManagedIdentityId};
pub use workload_identity::WorkloadIdentityCredential;

use crate::clock::{BoxFuture, Clock, SystemClock};
use crate::error::{CredentialError, Error, Result};
use crate::secret::Secret;

/// The Azure SDKs' settings (`AZURE_TENANT_ID`, `IDENTITY_ENDPOINT`, …), read through a lookup:
/// the process environment, or a test's table. The one reader of them for every credential and
/// for [`Client::from_env`](crate::Client::from_env).
pub(crate) struct Settings<L>(pub(crate) L);

impl<L: Fn(&str) -> Option<String>> Settings<L> {
    /// The variable's value; empty counts as unset, as the Azure SDKs take it.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    /// Whether the variable is set (and not empty).
    pub(crate) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The variable's value, or a configuration error naming it.
    pub(crate) fn required(
        &self,
        name: &'static str,
    ) -> std::result::Result<String, CredentialError> {
        self.get(name)
            .ok_or_else(|| CredentialError::Configuration(format!("{name} is not set")))
    }

    /// `options` with `AZURE_AUTHORITY_HOST` as its authority, when the variable is set.
    pub(crate) fn authority_host(&self, mut options: CredentialOptions) -> CredentialOptions {
        if let Some(host) = self.get("AZURE_AUTHORITY_HOST") {
            options.authority_host = host;
        }
        options
    }
}

/// A source of OAuth access tokens.
///
/// Object-safe so that `Arc<dyn TokenCredential>` can hold any implementation, including your
/// own. Implementations return a boxed future:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use dynamics_client::{AccessToken, BoxFuture, Result, Secret, TokenCredential};
///
/// #[derive(Debug)]
/// struct Fixed;
///
/// impl TokenCredential for Fixed {
///     fn get_token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
///         Box::pin(async {
///             Ok(AccessToken::new(
///                 Secret::new("token"),
///                 SystemTime::now() + Duration::from_secs(3600),
///             ))
///         })
///     }
/// }
/// ```
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// Gets a fresh token for `scope` (for Dataverse, `https://{org}.crm.dynamics.com/.default`).
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>>;
}

impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        (**self).get_token(scope)
    }
}

/// A bearer token and the time it stops being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The token itself.
    pub token: Secret,
    /// When the token expires.
    pub expires_on: SystemTime,
}

impl AccessToken {
    /// Builds a token.
    pub fn new(token: Secret, expires_on: SystemTime) -> Self {
        Self { token, expires_on }
    }
}

/// Settings shared by the credentials that talk to Microsoft Entra ID.
#[derive(Clone)]
pub struct CredentialOptions {
    /// Authority host, e.g. `https://login.microsoftonline.com` (the default),
    /// `https://login.microsoftonline.us`, `https://login.chinacloudapi.cn`, or a local emulator.
    /// `https` is required except for loopback hosts.
    pub authority_host: String,
    /// HTTP client for token requests; by default one with a 30 s timeout and no redirects.
    pub http_client: Option<reqwest::Client>,
    /// Clock for assertion timestamps and token expiry.
    pub clock: Arc<dyn Clock>,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            authority_host: crate::endpoint::DEFAULT_AUTHORITY_HOST.to_owned(),
            http_client: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialOptions")
            .field("authority_host", &self.authority_host)
            .field("http_client", &self.http_client.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

/// Timeout for token requests made with the default HTTP client.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client a credential uses for `endpoint` when none was supplied: no redirects (a
/// redirected token request would carry the assertion or secret to another host), no proxy for
/// plain http (see [`crate::transport`]).
fn default_http_client(endpoint: &url::Url) -> Result<reqwest::Client> {
    crate::transport::client_builder(endpoint)
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(Error::Transport)
}
