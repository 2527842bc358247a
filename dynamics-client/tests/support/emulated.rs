//! The emulated environment of `dynamics-test-support`, with the shapes these tests use: calls
//! that cannot fail here unwrapped, and clients on a manual clock.

use std::ops::Deref;
use std::sync::Arc;

use dynamics_client::{
    Client, ClientBuilder, ClientCertificateCredential, CredentialOptions, clock::ManualClock,
};
use dynamics_emulator::{EmulatorBuilder, TestCertificate};
#[allow(unused_imports)] // emulator.rs reads it, the other binaries do not
pub use dynamics_test_support::emulated::CLIENT_ID;

pub struct Env(dynamics_test_support::emulated::Env);

impl Deref for Env {
    type Target = dynamics_test_support::emulated::Env;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

pub async fn start() -> Env {
    start_with(|builder| builder).await
}

/// Like [`start`], with more settings on the emulator (e.g. a token lifetime).
pub async fn start_with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Env {
    Env(dynamics_test_support::emulated::start_with(configure)
        .await
        .unwrap())
}

impl Env {
    pub fn credential_with(
        &self,
        tenant: &str,
        client_id: &str,
        cert: &TestCertificate,
        options: CredentialOptions,
    ) -> ClientCertificateCredential {
        self.0
            .credential_with(tenant, client_id, cert, options)
            .unwrap()
    }

    pub fn credential(&self) -> ClientCertificateCredential {
        self.0.credential().unwrap()
    }

    pub fn client_with(
        &self,
        credential: ClientCertificateCredential,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Client {
        self.0.client_with(credential, configure).unwrap()
    }

    /// A client signed in as the app, on a manual clock.
    pub fn client(&self) -> (Client, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let client = self.client_with(self.credential(), |b| b.clock(clock.clone()));
        (client, clock)
    }

    pub fn token_requests(&self) -> u64 {
        self.emulator.controls().token_request_count()
    }
}
