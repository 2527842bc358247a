//! `Metadata::parse_for_tables` agrees with the full parse: whenever the whole document parses,
//! the shortened one does too, with the same selected tables; when it does not, the answer is
//! a model (the mistake was in what is skipped) or the full parse's own error.
#![no_main]

use dynamics_codegen::csdl::Metadata;
use libfuzzer_sys::fuzz_target;

const TABLES: [&str; 2] = ["account", "contact"];

/// A model's `Debug` without the byte offsets that the shortened document moves.
fn shape(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("offset: ") {
        out.push_str(&rest[..at]);
        rest = rest[at + "offset: ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pruned = Metadata::parse_for_tables(text, &TABLES);
    match Metadata::parse(text) {
        Ok(full) => {
            let pruned = pruned.expect("the whole document parses, so the shortened one must");
            for name in TABLES {
                assert_eq!(shape(&pruned.entity_type(name)), shape(&full.entity_type(name)));
            }
            assert_eq!(pruned.entity_types().len(), full.entity_types().len());
        }
        Err(full) => {
            if let Err(pruned) = pruned {
                assert_eq!(pruned.to_string(), full.to_string());
            }
        }
    }
});
