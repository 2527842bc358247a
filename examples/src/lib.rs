//! Shared setup for the examples of dynamics-rs: a client for a real environment when
//! `DYNAMICS_URL` is set, otherwise an emulated environment started in this process.

use dynamics_client::Client;
use dynamics_emulator::{Emulator, EmulatorBuilder};
use std::path::PathBuf;
use std::process::ExitCode;

/// The project's sample `$metadata` document: a small Dataverse-shaped environment
/// (account, contact, systemuser, team, businessunit, activitypointer, task, new_project).
pub fn sample_metadata_path() -> PathBuf {
    PathBuf::from(dynamics_test_support::SAMPLE_METADATA)
}

/// The help text shared by the examples: where they run and what they read.
pub const ENVIRONMENT_HELP: &str = "\
Runs on an emulated Dataverse environment started in this process, offline, unless
DYNAMICS_URL is set. Then it runs, unchanged, against that environment, authenticating with:
  AZURE_TENANT_ID                    the Microsoft Entra tenant
  AZURE_CLIENT_ID                    the application (client) id
  AZURE_CLIENT_CERTIFICATE_PATH      PEM (certificate and key) or PKCS#12 (.pfx/.p12) file
  AZURE_CLIENT_CERTIFICATE_PASSWORD  its password, if any
  AZURE_CLIENT_SECRET                a client secret, instead of a certificate
  AZURE_AUTHORITY_HOST               the authority (https://login.microsoftonline.com by default)
With neither a certificate nor a secret, it signs in as the Azure SDKs' default chain does:
  AZURE_FEDERATED_TOKEN_FILE         workload identity federation (with the two ids above)
  IDENTITY_ENDPOINT, IDENTITY_HEADER managed identity on App Service and Functions
  (otherwise)                        managed identity through IMDS, then the Azure CLI (`az login`)
It uses only standard tables and columns that every environment has.";

/// A client and, when emulated, the emulator behind it (kept alive as long as this is).
#[derive(Debug)]
pub struct Environment {
    /// The client: with a certificate on the emulator, and as `Client::from_env` chooses on a
    /// real environment.
    pub client: Client,
    /// The emulator, when no real environment was configured.
    pub emulator: Option<Emulator>,
}

impl Environment {
    /// A real environment from `DYNAMICS_URL` and the `AZURE_*` variables when `DYNAMICS_URL`
    /// is set; otherwise an emulator on the sample metadata, with a throwaway certificate
    /// registered as an app.
    pub async fn connect() -> Result<Self, Box<dyn std::error::Error>> {
        Self::connect_with(|emulator| emulator).await
    }

    /// [`connect`](Self::connect), with `emulate` adding to the emulator what a real
    /// environment has and the sample metadata alone does not (such as the behaviour of an
    /// action). `emulate` is not called for a real environment.
    pub async fn connect_with(
        emulate: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        if std::env::var_os("DYNAMICS_URL").is_some() {
            return Ok(Environment {
                client: Client::from_env()?,
                emulator: None,
            });
        }
        let emulated = dynamics_test_support::emulated::start_with(emulate).await?;
        let client = emulated.client()?;
        Ok(Environment {
            client,
            emulator: Some(emulated.emulator),
        })
    }

    /// Where the examples run, in words.
    pub fn describe(&self) -> String {
        match &self.emulator {
            Some(emulator) => format!(
                "an emulated environment at {} (set DYNAMICS_URL to use a real one)",
                emulator.environment_url()
            ),
            None => format!("{}", self.client.web_api_url()),
        }
    }

    /// Stops the emulator, if there is one.
    pub async fn shutdown(self) {
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// The `main` of an example: prints `--help` (with `about`) when asked, connects, runs `body`,
/// stops the emulator and turns the outcome into an exit code with a readable error.
pub async fn run_example(
    about: &str,
    body: impl AsyncFnOnce(&Environment) -> dynamics_client::Result<()>,
) -> ExitCode {
    run_example_with(about, |emulator| emulator, body).await
}

/// [`run_example`] on an environment from [`Environment::connect_with`].
pub async fn run_example_with(
    about: &str,
    emulate: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
    body: impl AsyncFnOnce(&Environment) -> dynamics_client::Result<()>,
) -> ExitCode {
    if help_requested(about) {
        return ExitCode::SUCCESS;
    }
    let environment = match Environment::connect_with(emulate).await {
        Ok(environment) => environment,
        Err(e) => {
            eprintln!("error: could not connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{} on {}", example_name(), environment.describe());
    let outcome = body(&environment).await;
    environment.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The running example's name, from its executable.
fn example_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "example".to_owned())
}

/// Prints `--help` and returns `true` when asked for it.
pub fn help_requested(about: &str) -> bool {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{about}\n\n{ENVIRONMENT_HELP}");
        return true;
    }
    false
}
