//! An emulator on the sample metadata with an app registered, and a client signed in as it.

// Each test binary compiles its own copy and uses part of it.
#![allow(dead_code)]

use std::sync::Arc;

use dynamics_client::{Client, ClientCertificateCredential, CredentialOptions};
use dynamics_emulator::{Emulator, EmulatorBuilder, TestCertificate};

const CLIENT_ID: &str = "5a0f2b8e-3c41-4d6a-9e2f-7b1c0d9e8a76";

/// The sample metadata.
pub const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.xml"
);
/// The sample choices document.
pub const SAMPLE_CHOICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.choices.json"
);

/// Starts the emulator on the sample metadata, after `configure` has had its say, with a fresh
/// certificate registered as an app; returns it and a client authenticated with that
/// certificate. Keep the emulator alive as long as the client is used.
pub async fn start(
    configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
) -> (Emulator, Client) {
    let cert = TestCertificate::generate("CN=dynamics-tests").unwrap();
    let builder = Emulator::builder()
        .metadata_file(SAMPLE)
        .register_app(CLIENT_ID, &cert);
    let emulator = configure(builder).start().await.unwrap();
    let credential = ClientCertificateCredential::from_pem_parts(
        emulator.tenant_id(),
        CLIENT_ID,
        cert.cert_pem().as_bytes(),
        cert.key_pem().as_bytes(),
        None,
        CredentialOptions {
            authority_host: emulator.authority_host().to_owned(),
            ..CredentialOptions::default()
        },
    )
    .unwrap();
    let client = Client::builder(emulator.environment_url())
        .credential(Arc::new(credential))
        .build()
        .unwrap();
    (emulator, client)
}
