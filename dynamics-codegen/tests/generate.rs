//! Generated code for the sample metadata, compared with reviewed snapshots in `tests/output/`.
//! Accept a change with `EXPECTORATE=overwrite cargo test -p dynamics-codegen --test generate`
//! and review it in `git diff`.

use dynamics_codegen::csdl::Metadata;
use dynamics_codegen::{Builder, Error, Generator, GeneratorSettings};

fn sample() -> Metadata {
    Metadata::parse(include_str!("fixtures/sample.xml")).unwrap()
}

fn generate(entities: &[&str], runtime: Option<&str>) -> String {
    let mut settings = GeneratorSettings::new();
    settings.with_entities(entities.iter().copied());
    if let Some(runtime) = runtime {
        settings.with_runtime_path(runtime);
    }
    let tokens = Generator::new(&settings)
        .generate_tokens(&sample())
        .unwrap();
    dynamics_codegen::format(tokens).unwrap()
}

#[test]
fn sample_all_tables() {
    expectorate::assert_contents("tests/output/sample_all.rs", &generate(&["*"], None));
}

#[test]
fn sample_account_and_contact_with_renamed_runtime() {
    expectorate::assert_contents(
        "tests/output/sample_account_contact_reexported.rs",
        &generate(&["account", "contact"], Some("::my_sdk::dynamics_client")),
    );
}

#[test]
fn sample_with_choices() {
    let choices =
        dynamics_codegen::choices::Choices::parse(include_str!("fixtures/sample.choices.json"))
            .unwrap();
    let mut settings = GeneratorSettings::new();
    settings
        .with_entities(["account", "new_project"])
        .with_choices(choices.clone());
    let tokens = Generator::new(&settings)
        .generate_tokens(&sample())
        .unwrap();
    let english = dynamics_codegen::format(tokens).unwrap();
    expectorate::assert_contents("tests/output/sample_choices.rs", &english);

    // Variants follow the language asked for, falling back where a label is missing.
    settings.with_language(1036);
    let tokens = Generator::new(&settings)
        .generate_tokens(&sample())
        .unwrap();
    let french = dynamics_codegen::format(tokens).unwrap();
    // `Comptabilité`: the identifier folds the accent; the label stays whole.
    assert!(french.contains("    Comptabilite,\n"), "French variant");
    assert!(french.contains("(1i32, \"Comptabilité\")"), "French label");
    assert!(
        french.contains("Brokers"),
        "falls back to English where French is missing"
    );
    assert!(english.contains("Accounting,"));
}

#[test]
fn choices_document_errors_are_located() {
    let e = dynamics_codegen::choices::Choices::parse(
        "{\n  \"EntityDefinitions\": [ { \"LogicalName\": 5 } ]\n}",
    )
    .unwrap_err();
    assert!(matches!(e, Error::Choices { .. }), "{e}");
    assert_eq!(e.location().map(|l| l.line), Some(2));
    assert!(e.to_string().starts_with("line 2, column "), "{e}");
}

#[test]
fn output_is_deterministic() {
    assert_eq!(generate(&["*"], None), generate(&["*"], None));
    // The order of the names asked for does not matter.
    assert_eq!(
        generate(&["contact", "account"], None),
        generate(&["account", "contact"], None)
    );
}

#[test]
fn sample_operations() {
    // The unbound operations by import name, and the ones bound to `systemuser` with it.
    let names = [
        "systemuser",
        "WhoAmI",
        "GetTimeZoneCodeByLocalizedName",
        "Merge",
    ];
    let code = generate(&names, None);
    expectorate::assert_contents("tests/output/sample_operations.rs", &code);
    // An overloaded name carries its table; the other overload's table is not selected.
    assert!(code.contains("pub struct RetrievePrincipalAccessSystemuser {"));
    assert!(!code.contains("RetrievePrincipalAccessTeam"));
    // The complex types the operations answer with are generated, and nothing else's.
    assert!(code.contains("pub struct WhoAmIResponse {"));
    assert!(!code.contains("new_Rate"));
}

#[test]
fn operation_names_are_matched_exactly_and_suggested() {
    let error = |names: &[&str]| {
        let mut settings = GeneratorSettings::new();
        settings.with_entities(names.iter().copied());
        Generator::new(&settings)
            .generate_tokens(&sample())
            .unwrap_err()
    };
    match error(&["account", "WhoAmi"]) {
        Error::UnknownEntity { name, suggestions } => {
            assert_eq!(name, "WhoAmi");
            assert_eq!(suggestions, ["WhoAmI"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error(&["new_Rate"]).to_string(),
        "`new_Rate` is an operation bound to `account`: select that table and it is generated with it"
    );
}

#[test]
fn unknown_table_is_an_error_with_suggestions() {
    let mut settings = GeneratorSettings::new();
    settings.with_entities(["acount"]);
    match Generator::new(&settings).generate_tokens(&sample()) {
        Err(Error::UnknownEntity { suggestions, .. }) => assert_eq!(suggestions, ["account"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_selection_and_bad_runtime_path_are_errors() {
    let settings = GeneratorSettings::new();
    assert!(matches!(
        Generator::new(&settings).generate_tokens(&sample()),
        Err(Error::Settings(_))
    ));
    let mut settings = GeneratorSettings::new();
    settings
        .with_all_entities()
        .with_runtime_path("not a path (");
    assert!(matches!(
        Generator::new(&settings).generate_tokens(&sample()),
        Err(Error::Settings(_))
    ));
}

#[test]
fn builder_writes_only_when_content_changes() {
    let dir = std::env::temp_dir().join(format!("dynamics-codegen-builder-{}", std::process::id()));
    let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sample.xml");
    let build = || {
        Builder::new()
            .metadata(metadata)
            .entities(["account"])
            .out_dir(&dir)
            .emit_rerun_if_changed(false)
            .generate()
            .unwrap()
    };
    let path = build();
    let first = std::fs::metadata(&path).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(dynamics_codegen::HEADER),
        "{}",
        &text[..80]
    );
    assert!(text.contains("pub struct Account"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    build();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), first);
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = Builder::new()
        .entities(["account"])
        .out_dir("/tmp")
        .generate();
    assert!(matches!(missing, Err(Error::Settings(_))));
}
