//! Shared setup for the examples of dynamics-rs.

use std::path::PathBuf;

/// The project's sample `$metadata` document: a small Dataverse-shaped environment
/// (account, contact, systemuser, team, businessunit, activitypointer, task, new_project).
pub fn sample_metadata_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("dynamics-codegen")
        .join("tests")
        .join("fixtures")
        .join("sample.xml")
}
