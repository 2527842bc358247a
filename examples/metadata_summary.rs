//! What the SDK sees in a `$metadata` document: tables, their entity sets, keys, lookups (with
//! every target of polymorphic ones) and alternate keys.
//!
//! `cargo run --example metadata_summary [FILE]`, the project's sample environment by default.

use std::process::ExitCode;

use dynamics_codegen::csdl::Metadata;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(dynamics_examples::sample_metadata_path);
    let metadata = match Metadata::from_path(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counts = metadata.counts();
    println!(
        "{}: {} entity types, {} entity sets, {} properties, {} navigation properties",
        path.display(),
        counts.entity_types,
        counts.entity_sets,
        counts.properties,
        counts.navigation_properties
    );
    for t in metadata.entity_types() {
        let Some(set) = &t.entity_set else { continue };
        println!(
            "\n{} ({set}), key {}, {} columns",
            t.name,
            t.key.join(", "),
            t.properties.len()
        );
        for lookup in &t.lookups {
            let targets: Vec<String> = lookup
                .targets
                .iter()
                .map(|x| format!("{} via {}", x.logical_name, x.navigation_property))
                .collect();
            println!("  lookup {} -> {}", lookup.property, targets.join(" | "));
        }
        for key in &t.alternate_keys {
            let parts: Vec<&str> = key.parts.iter().map(|p| p.property.as_str()).collect();
            println!("  alternate key ({})", parts.join(", "));
        }
    }
    for w in metadata.warnings() {
        eprintln!("warning: {w}");
    }
    ExitCode::SUCCESS
}
