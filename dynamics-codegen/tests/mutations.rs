//! Deterministic mutations of real documents: whatever the bytes, parsing ends in a model or a
//! typed error, never a panic. The fuzz targets in `fuzz/` explore the same space without end.

mod common;

use common::{Rng, corpus, mutate};
use dynamics_codegen::choices::Choices;
use dynamics_codegen::csdl::Metadata;

#[test]
fn mutated_metadata_never_panics() {
    let sample = include_bytes!("fixtures/sample.xml");
    let mut rng = Rng::new(0x00c0_ffee_d00d_f00d);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..3_000 {
        let input = mutate(&mut rng, sample);
        match Metadata::parse_bytes(&input) {
            Ok(_) => parsed += 1,
            Err(e) => {
                // Every refusal says what was wrong.
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        parsed > 100 && refused > 1_000,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn mutated_choices_never_panic() {
    let sample = include_bytes!("fixtures/sample.choices.json");
    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    let mut refused = 0;
    for _ in 0..2_000 {
        let input = mutate(&mut rng, sample);
        let text = String::from_utf8_lossy(&input);
        if Choices::parse(&text).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 500, "{refused} refused");
}

#[test]
fn the_csdl_fuzz_corpus_replays() {
    let (mut parsed, mut refused) = (0, 0);
    for input in corpus("csdl") {
        match Metadata::parse_bytes(&input) {
            Ok(_) => parsed += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    // The corpus keeps inputs that reach new code: documents the parser takes and ones it refuses.
    assert!(
        parsed > 0 && refused > 0,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn the_choices_fuzz_corpus_replays() {
    let mut replayed = 0;
    for input in corpus("choices") {
        // The target takes `&str`: libFuzzer skips inputs that are not UTF-8.
        if let Ok(text) = std::str::from_utf8(&input) {
            if let Err(e) = Choices::parse(text) {
                assert!(!e.to_string().is_empty());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 100, "{replayed} replayed");
}
