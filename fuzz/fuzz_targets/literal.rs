//! String literals round-trip: decoding what the encoder wrote gives the input back, and the
//! literal is one quoted token whatever the input holds (no way to close it early).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let literal = dynamics_client::query::literal(input);
    let inner = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .expect("a string literal is quoted");
    // Inside, every quote is doubled: reading pairs back gives the input.
    let mut decoded = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\'' {
            assert_eq!(chars.next(), Some('\''), "a lone quote inside {literal:?}");
        }
        decoded.push(c);
    }
    assert_eq!(decoded, input);
});
