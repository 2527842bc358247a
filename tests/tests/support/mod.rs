//! An emulator on the sample metadata with an app registered, and a client signed in as it,
//! from `dynamics-test-support`.

// Each test binary compiles its own copy and uses part of it.
#![allow(dead_code)]

use dynamics_client::Client;
use dynamics_emulator::{Emulator, EmulatorBuilder};
#[allow(unused_imports)] // web_api reads it, the other binaries do not
pub use dynamics_test_support::SAMPLE_CHOICES;

/// Starts the emulator on the sample metadata, after `configure` has had its say, with a fresh
/// certificate registered as an app; returns it and a client authenticated with that
/// certificate. Keep the emulator alive as long as the client is used.
pub async fn start(
    configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
) -> (Emulator, Client) {
    let env = dynamics_test_support::emulated::start_with(configure)
        .await
        .unwrap();
    let client = env.client().unwrap();
    (env.emulator, client)
}
