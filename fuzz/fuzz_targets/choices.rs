//! Any text given to the choices-document reader ends in choices or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Err(error) = dynamics_codegen::choices::Choices::parse(data) {
        let _ = error.to_string();
    }
});
