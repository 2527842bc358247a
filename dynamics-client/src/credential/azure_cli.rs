//! Tokens of the user signed in to the Azure CLI (`az login`), for development machines.
//!
//! Runs `az account get-access-token --resource <environment> -o json`
//! (<https://learn.microsoft.com/en-us/cli/azure/account#az-account-get-access-token>), whose
//! answer carries `accessToken`, `expiresOn` (local time), `expires_on` (seconds since the
//! epoch, Azure CLI 2.54.0 and later), `tenant` and `tokenType`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::managed_identity::resource_for;
use super::{AccessToken, TokenCredential};
use crate::clock::BoxFuture;
use crate::error::{CredentialError, Error, Result};
use crate::secret::Secret;

const NAME: &str = "AzureCliCredential";

/// How long `az` may take by default; it starts a Python interpreter, which is slow on a cold
/// machine.
pub const DEFAULT_AZ_TIMEOUT: Duration = Duration::from_secs(15);

/// Gets tokens from the Azure CLI's signed-in account, by running
/// `az account get-access-token --resource <environment> -o json`.
///
/// `az` is looked up on `PATH` (never in the working directory). When it is not installed, not
/// signed in or too slow, the error says so and what to do:
///
/// ```no_run
/// use dynamics_client::{AzureCliCredential, Client};
/// use std::sync::Arc;
///
/// # fn run() -> dynamics_client::Result<()> {
/// let credential = AzureCliCredential::new().with_tenant("contoso.onmicrosoft.com")?;
/// let client = Client::builder("https://contoso.crm.dynamics.com")
///     .credential(Arc::new(credential))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AzureCliCredential {
    tenant_id: Option<String>,
    timeout: Duration,
    /// `PATH` to find `az` on; the process's own when `None`.
    path: Option<OsString>,
}

impl fmt::Debug for AzureCliCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCliCredential")
            .field("tenant_id", &self.tenant_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for AzureCliCredential {
    fn default() -> Self {
        Self::new()
    }
}

/// What `az account get-access-token -o json` prints.
#[derive(Deserialize)]
struct CliToken {
    #[serde(rename = "accessToken")]
    access_token: Secret,
    #[serde(default)]
    expires_on: Option<u64>,
    #[serde(default, rename = "tokenType")]
    token_type: Option<String>,
}

impl AzureCliCredential {
    /// The signed-in account's default tenant, a 15 s timeout, `az` from `PATH`.
    pub fn new() -> Self {
        Self {
            tenant_id: None,
            timeout: DEFAULT_AZ_TIMEOUT,
            path: None,
        }
    }

    /// Asks for a token in `tenant_id` (`--tenant`) rather than the account's default tenant.
    pub fn with_tenant(mut self, tenant_id: &str) -> Result<Self> {
        if tenant_id.is_empty()
            || !tenant_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(Error::invalid_input(format!(
                "tenant id `{tenant_id}` must be a GUID or a domain name"
            )));
        }
        self.tenant_id = Some(tenant_id.to_owned());
        Ok(self)
    }

    /// How long `az` may run before the request fails ([`DEFAULT_AZ_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Looks `az` up on this `PATH` instead of the process's.
    pub fn with_search_path(mut self, path: impl Into<OsString>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The `az` executable on the search path.
    fn program(&self) -> Result<PathBuf> {
        let path = self.path.clone().or_else(|| std::env::var_os("PATH"));
        let names: &[&str] = if cfg!(windows) {
            &["az.cmd", "az.exe", "az.bat"]
        } else {
            &["az"]
        };
        path.iter()
            .flat_map(std::env::split_paths)
            // A relative entry would run whatever `az` the working directory holds.
            .filter(|dir| dir.is_absolute())
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| {
                unavailable(
                    "the Azure CLI (`az`) was not found on PATH; install it \
                     (https://learn.microsoft.com/cli/azure/install-azure-cli) and run `az login`"
                        .into(),
                )
            })
    }

    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let resource = resource_for(scope)?;
        let program = self.program()?;
        let mut command = tokio::process::Command::new(&program);
        command
            .args([
                "account",
                "get-access-token",
                "--output",
                "json",
                "--resource",
            ])
            .arg(&resource);
        if let Some(tenant) = &self.tenant_id {
            command.args(["--tenant", tenant]);
        }
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // A timed-out `az` must not outlive the request.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| unavailable(format!("could not run {}: {e}", program.display())))?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                unavailable(format!(
                    "`az account get-access-token` did not finish within {} s",
                    self.timeout.as_secs_f32()
                ))
            })?
            .map_err(|e| unavailable(format!("could not read the output of `az`: {e}")))?;
        if !output.status.success() {
            return Err(self.failure(&output.status, &output.stderr));
        }
        let parsed: CliToken = Error::decode_secret_json("`az` output", &output.stdout)?;
        if let Some(kind) = &parsed.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(unavailable(format!(
                "`az` gave a `{kind}` token, not a Bearer token"
            )));
        }
        let Some(expires_on) = parsed.expires_on else {
            return Err(unavailable(
                "`az` did not say when the token expires (`expires_on`): Azure CLI 2.54.0 or \
                 newer is needed"
                    .into(),
            ));
        };
        Ok(AccessToken::new(
            parsed.access_token,
            SystemTime::UNIX_EPOCH + Duration::from_secs(expires_on),
        ))
    }

    /// Turns `az`'s failure into an error that says what to do.
    fn failure(&self, status: &std::process::ExitStatus, stderr: &[u8]) -> Error {
        let stderr = String::from_utf8_lossy(stderr);
        let said = stderr.trim();
        if said.contains("az login") || said.contains("az account set") {
            let login = match &self.tenant_id {
                Some(tenant) => format!("az login --tenant {tenant}"),
                None => "az login".to_owned(),
            };
            return unavailable(format!(
                "the Azure CLI is not signed in; run `{login}` (az said: {})",
                first_line(said)
            ));
        }
        unavailable(format!(
            "`az account get-access-token` failed ({status}): {}",
            first_line(said)
        ))
    }
}

impl TokenCredential for AzureCliCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.token(scope))
    }
}

fn unavailable(reason: String) -> Error {
    CredentialError::Unavailable {
        credential: NAME,
        reason,
    }
    .into()
}

/// The first line of `az`'s complaint, cut to a readable length.
fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    line.chars().take(300).collect()
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}
