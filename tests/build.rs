//! Generates the sample tables and operations the way a user's build script would, and, when
//! `DYNAMICS_METADATA_CORPUS` names the folder of real `$metadata` documents, every table and
//! every action and function of each of them, so that the tests prove all of it compiles.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    dynamics_codegen::Builder::new()
        .metadata("../dynamics-codegen/tests/fixtures/sample.xml")
        .entities([
            "account",
            "contact",
            "new_project",
            "task",
            "systemuser",
            "team",
            // Unbound operations, by their import names.
            "WhoAmI",
            "GetTimeZoneCodeByLocalizedName",
            "Merge",
        ])
        .generate()?;
    dynamics_codegen::Builder::new()
        .metadata("../dynamics-codegen/tests/fixtures/sample.xml")
        .choices("../dynamics-codegen/tests/fixtures/sample.choices.json")
        .all()
        .file_name("with_choices.rs")
        .generate()?;
    dynamics_codegen::Builder::new()
        .metadata("fixtures/awkward.xml")
        .all()
        .file_name("awkward.rs")
        .generate()?;

    println!("cargo::rustc-check-cfg=cfg(dynamics_corpus)");
    println!("cargo::rerun-if-env-changed=DYNAMICS_METADATA_CORPUS");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut modules = String::new();
    if let Some(corpus) = std::env::var_os("DYNAMICS_METADATA_CORPUS") {
        let mut documents: Vec<PathBuf> = std::fs::read_dir(&corpus)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        documents.sort();
        for (i, document) in documents.iter().enumerate() {
            let file = format!("corpus_{i}.rs");
            // Every table (with the operations bound to them) and every unbound operation.
            let metadata = dynamics_codegen::csdl::Metadata::from_path(document)?;
            let imports = metadata
                .container()
                .map(|c| c.operation_imports.iter().map(|i| i.name.clone()).collect())
                .unwrap_or_else(Vec::new);
            dynamics_codegen::Builder::new()
                .metadata(document)
                .entities(std::iter::once("*".to_owned()).chain(imports))
                .file_name(&file)
                .generate()?;
            modules.push_str(&format!(
                "/// Every table of `{}`.\npub mod corpus_{i} {{ include!(concat!(env!(\"OUT_DIR\"), \"/{file}\")); }}\n",
                name(document)
            ));
        }
        println!("cargo::rustc-cfg=dynamics_corpus");
    }
    std::fs::write(out_dir.join("corpus_modules.rs"), modules)?;
    Ok(())
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
