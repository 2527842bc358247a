//! The three tables of Edm primitive types agree: the generator's `EDM_TYPES` (which Rust type
//! and codec generated code names), the client's `EDM_FORMS` (what the runtime does with the
//! type) and the emulator's `EDM_KINDS` (how the stand-in service checks a value). Adding a type
//! to one and not the others fails here, naming the type.

use std::collections::BTreeMap;

#[test]
fn the_generator_and_the_client_name_the_same_types_rust_types_and_codecs() {
    let generator: BTreeMap<String, (String, Option<&str>)> = dynamics_codegen::__edm::edm_types()
        .into_iter()
        .map(|(edm, rust, codec)| (edm, (rust, codec)))
        .collect();
    let client: BTreeMap<String, (String, Option<&str>)> = dynamics_client::__private::edm_forms()
        .into_iter()
        .map(|(edm, rust, codec)| (edm.to_owned(), (rust.to_owned(), codec)))
        .collect();
    assert_eq!(
        generator.keys().collect::<Vec<_>>(),
        client.keys().collect::<Vec<_>>(),
        "Edm types"
    );
    for (edm, generated) in &generator {
        assert_eq!(Some(generated), client.get(edm), "Edm.{edm}");
    }
}

#[test]
fn the_emulator_knows_every_type_the_generator_maps() {
    let generator: Vec<String> = dynamics_codegen::__edm::edm_types()
        .into_iter()
        .map(|(edm, _, _)| edm)
        .collect();
    let emulator: BTreeMap<String, &str> =
        dynamics_emulator::__edm::edm_kinds().into_iter().collect();
    for edm in &generator {
        assert!(
            emulator.contains_key(edm),
            "the emulator has no row for Edm.{edm}"
        );
    }
    for edm in emulator.keys() {
        assert!(
            generator.contains(edm),
            "the generator has no row for Edm.{edm}"
        );
    }
}

#[test]
fn the_emulator_checks_each_type_the_client_has_a_codec_for() {
    // A type with a wire form of its own (exact decimals, dates, base64) must be checked by the
    // emulator, or a client writing it wrongly would pass every test.
    let emulator: BTreeMap<String, &str> =
        dynamics_emulator::__edm::edm_kinds().into_iter().collect();
    for (edm, _, codec) in dynamics_client::__private::edm_forms() {
        if codec.is_some() {
            assert_ne!(
                emulator.get(edm).copied(),
                Some("Edm.Untyped"),
                "Edm.{edm} is stored unchecked"
            );
        }
    }
}
