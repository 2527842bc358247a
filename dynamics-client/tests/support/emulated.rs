//! An emulated environment on the sample metadata, with an app registered under a throwaway
//! certificate, and clients for it.

use std::sync::Arc;

use dynamics_client::{
    Client, ClientBuilder, ClientCertificateCredential, CredentialOptions, clock::ManualClock,
};
use dynamics_emulator::{Emulator, EmulatorBuilder, TestCertificate};

pub const CLIENT_ID: &str = "3c5e1a2b-9f4d-4e61-8a7b-0c1d2e3f4a5b";

fn sample_metadata() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.xml"
    ))
}

pub struct Env {
    pub emulator: Emulator,
    pub cert: TestCertificate,
}

pub async fn start() -> Env {
    start_with(|builder| builder).await
}

/// Like [`start`], with more settings on the emulator (e.g. a token lifetime).
pub async fn start_with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Env {
    let cert = TestCertificate::generate("CN=dynamics-client e2e").unwrap();
    let builder = Emulator::builder()
        .metadata_file(sample_metadata())
        .register_app(CLIENT_ID, &cert);
    let emulator = configure(builder).start().await.unwrap();
    Env { emulator, cert }
}

impl Env {
    pub fn credential_options(&self) -> CredentialOptions {
        CredentialOptions {
            authority_host: self.emulator.authority_host().to_owned(),
            ..CredentialOptions::default()
        }
    }

    pub fn credential_with(
        &self,
        tenant: &str,
        client_id: &str,
        cert: &TestCertificate,
        options: CredentialOptions,
    ) -> ClientCertificateCredential {
        ClientCertificateCredential::from_pem_parts(
            tenant,
            client_id,
            cert.cert_pem().as_bytes(),
            cert.key_pem().as_bytes(),
            None,
            options,
        )
        .unwrap()
    }

    pub fn credential(&self) -> ClientCertificateCredential {
        self.credential_with(
            self.emulator.tenant_id(),
            CLIENT_ID,
            &self.cert,
            self.credential_options(),
        )
    }

    pub fn client_with(
        &self,
        credential: ClientCertificateCredential,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Client {
        configure(Client::builder(self.emulator.environment_url()).credential(Arc::new(credential)))
            .build()
            .unwrap()
    }

    pub fn client(&self) -> (Client, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let client = self.client_with(self.credential(), |b| b.clock(clock.clone()));
        (client, clock)
    }

    pub fn token_requests(&self) -> u64 {
        self.emulator.controls().token_request_count()
    }
}
