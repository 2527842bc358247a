//! An emulated environment on the sample metadata, with an app registered under a throwaway
//! certificate, and a client signed in as that app: the setup of the end-to-end tests, the
//! examples' offline mode and the benches.

use std::sync::Arc;

use dynamics_client::{Client, ClientBuilder, ClientCertificateCredential, CredentialOptions};
use dynamics_emulator::{Emulator, EmulatorBuilder, TestCertificate};

/// The client id of the app [`start_with`] registers.
pub const CLIENT_ID: &str = "3c5e1a2b-9f4d-4e61-8a7b-0c1d2e3f4a5b";

/// A running emulator and the certificate its app was registered with. Dropping it stops the
/// emulator, so keep it alive as long as its clients are used.
#[derive(Debug)]
pub struct Env {
    /// The emulator.
    pub emulator: Emulator,
    /// The app's certificate and key.
    pub cert: TestCertificate,
}

/// Starts an emulator on the sample metadata with a fresh certificate registered as the app
/// [`CLIENT_ID`].
pub async fn start() -> Result<Env, dynamics_emulator::Error> {
    start_with(|builder| builder).await
}

/// Like [`start`], after `configure` has had its say on the emulator (a token lifetime, an
/// action's behaviour, seed data, more apps).
pub async fn start_with(
    configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
) -> Result<Env, dynamics_emulator::Error> {
    let cert = TestCertificate::generate("CN=dynamics-rs test app")?;
    let builder = Emulator::builder()
        .metadata_file(crate::SAMPLE_METADATA)
        .register_app(CLIENT_ID, &cert);
    let emulator = configure(builder).start().await?;
    Ok(Env { emulator, cert })
}

impl Env {
    /// Credential options that send token requests to the emulator.
    pub fn credential_options(&self) -> CredentialOptions {
        CredentialOptions {
            authority_host: self.emulator.authority_host().to_owned(),
            ..CredentialOptions::default()
        }
    }

    /// A certificate credential for `client_id` of `tenant`, with `cert`'s key.
    pub fn credential_with(
        &self,
        tenant: &str,
        client_id: &str,
        cert: &TestCertificate,
        options: CredentialOptions,
    ) -> dynamics_client::Result<ClientCertificateCredential> {
        ClientCertificateCredential::from_pem_parts(
            tenant,
            client_id,
            cert.cert_pem().as_bytes(),
            cert.key_pem().as_bytes(),
            None,
            options,
        )
    }

    /// The registered app's credential, with its own token cache.
    pub fn credential(&self) -> dynamics_client::Result<ClientCertificateCredential> {
        self.credential_with(
            self.emulator.tenant_id(),
            CLIENT_ID,
            &self.cert,
            self.credential_options(),
        )
    }

    /// A client of the emulated environment with `credential`, and whatever settings
    /// `configure` adds to the builder.
    pub fn client_with(
        &self,
        credential: ClientCertificateCredential,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> dynamics_client::Result<Client> {
        configure(Client::builder(self.emulator.environment_url()).credential(Arc::new(credential)))
            .build()
    }

    /// A client signed in as the registered app, with default options.
    pub fn client(&self) -> dynamics_client::Result<Client> {
        self.client_with(self.credential()?, |builder| builder)
    }
}
