//! Test support shared by the dynamics-rs crates, their examples and their benches: one seeded
//! generator ([`Rng`]), one reader of the fuzz corpora ([`fuzz_corpus`]), the sample documents
//! ([`SAMPLE_METADATA`], [`SAMPLE_CHOICES`]) and, with the `emulated` feature, an emulated
//! environment with an app registered under a throwaway certificate and a client signed in as
//! it ([`emulated`]).
//!
//! Not published. A crate's own unit tests (`#[cfg(test)]` inside `src/`) cannot use it when
//! this crate depends on that crate (the client, through `emulated`): those keep what they need.

#![deny(missing_docs)]

mod corpus;
#[cfg(feature = "emulated")]
pub mod emulated;
pub mod heap;
mod rng;

pub use corpus::fuzz_corpus;
pub use rng::Rng;

/// The sample `$metadata` document: a small Dataverse-shaped environment (account, contact,
/// systemuser, team, businessunit, activitypointer, task, new_project).
pub const SAMPLE_METADATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.xml"
);

/// The choices document of the sample metadata.
pub const SAMPLE_CHOICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.choices.json"
);
