//! The build-script integration mode: generate typed Rust for the tables the examples name into
//! `$OUT_DIR/dynamics_entities.rs`, included with `dynamics_client::include_entities!()`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    dynamics_codegen::Builder::new()
        .metadata("../dynamics-codegen/tests/fixtures/sample.xml")
        .entities(["account", "contact"])
        .generate()?;
    Ok(())
}
