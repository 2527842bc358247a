//! Any bytes given to the `$metadata` parser end in a model or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = dynamics_codegen::csdl::Metadata::parse_bytes(data) {
        let _ = error.to_string();
    }
});
