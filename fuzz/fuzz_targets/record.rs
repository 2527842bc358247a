//! Any JSON given to a generated record type (and to the annotations reader) decodes or gives
//! an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    choices = "../dynamics-codegen/tests/fixtures/sample.choices.json",
    entities = [account, contact, new_project],
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Account>(data);
    let _ = serde_json::from_slice::<Contact>(data);
    let _ = serde_json::from_slice::<NewProject>(data);
});
