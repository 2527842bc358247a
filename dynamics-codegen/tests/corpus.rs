//! The real `$metadata` documents of `$DYNAMICS_METADATA_CORPUS` (see its `SOURCES.md`):
//! each must parse and resolve, with exactly the element counts that `SOURCES.md` records.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dynamics_codegen::csdl::Metadata;

/// The corpus folder, or `None` after saying, past the test harness's capture, that the test
/// is skipped.
fn corpus(test: &str) -> Option<PathBuf> {
    match std::env::var_os("DYNAMICS_METADATA_CORPUS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            // Written to the real stderr so that a skip is visible in `cargo test` output.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: set DYNAMICS_METADATA_CORPUS to the folder of real $metadata documents"
            );
            None
        }
    }
}

/// Expected counts per file, read from the table in `SOURCES.md`: the header row names the
/// files, and each row's first number per column is the count of that element.
fn expected_counts(sources: &str) -> BTreeMap<String, BTreeMap<String, usize>> {
    let rows: Vec<Vec<String>> = sources
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    let header = rows.first().expect("SOURCES.md has a table");
    let files: Vec<String> = header[1..]
        .iter()
        .map(|c| c.trim_matches('`').to_owned())
        .collect();
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for row in &rows[1..] {
        let labels: Vec<&str> = row[0]
            .split(" / ")
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        for (file, cell) in files.iter().zip(&row[1..]) {
            let numbers: Vec<usize> = cell
                .split(" / ")
                .filter_map(|part| {
                    let digits: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == ',')
                        .filter(|c| *c != ',')
                        .collect();
                    digits.parse().ok()
                })
                .collect();
            if numbers.len() != labels.len() {
                continue;
            }
            for (label, n) in labels.iter().zip(numbers) {
                out.entry(file.clone())
                    .or_default()
                    .insert((*label).to_owned(), n);
            }
        }
    }
    out
}

#[test]
fn every_corpus_document_resolves_with_the_recorded_counts() {
    let Some(dir) = corpus("every_corpus_document_resolves_with_the_recorded_counts") else {
        return;
    };
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).expect("SOURCES.md is readable");
    let expected = expected_counts(&sources);
    let mut documents: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    documents.sort();
    assert!(
        !documents.is_empty(),
        "no .xml documents in {}",
        dir.display()
    );

    for path in documents {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = expected
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no column in SOURCES.md"));
        let metadata = Metadata::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
        let got = metadata.counts();
        let pairs = [
            ("EntityType", got.entity_types),
            ("EntitySet", got.entity_sets),
            ("ComplexType", got.complex_types),
            ("EnumType", got.enum_types),
            ("Action", got.actions),
            ("Function", got.functions),
            ("Property", got.properties),
            ("NavigationProperty", got.navigation_properties),
        ];
        for (label, count) in pairs {
            assert_eq!(
                Some(&count),
                want.get(label),
                "{name}: {label} count differs from SOURCES.md"
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "{name}: {got:?}, {} warnings",
            metadata.warnings().len()
        );
    }
}

#[test]
fn corpus_inheritance_keys_and_lookups_resolve() {
    let Some(dir) = corpus("corpus_inheritance_keys_and_lookups_resolve") else {
        return;
    };
    let path = dir.join("dataverse-v9.1-crm4-davidmoten-odata-client.xml");
    let metadata = Metadata::from_path(&path).unwrap_or_else(|e| panic!("{e}"));

    // systemuser is keyed on `ownerid`, inherited from the abstract `principal`.
    let user = metadata.entity_type("systemuser").unwrap();
    assert_eq!(user.key, ["ownerid"]);
    let ownerid = user.property("ownerid").unwrap();
    assert_eq!(&*ownerid.declared_in, "Microsoft.Dynamics.CRM.principal");
    assert_eq!(
        metadata.entity_type_by_set("systemusers").unwrap().name,
        "systemuser"
    );

    // A polymorphic lookup: `_customerid_value` of socialprofile → account and contact.
    let social = metadata.entity_type("socialprofile").unwrap();
    let customer = social.lookup("customerid").expect("customerid lookup");
    let targets: Vec<&str> = customer
        .targets
        .iter()
        .map(|t| t.navigation_property.as_str())
        .collect();
    assert_eq!(targets, ["customerid_account", "customerid_contact"]);
    assert!(customer.is_polymorphic());

    // The regarding lookup of activities has several targets, inherited by task.
    let pointer = metadata.entity_type("activitypointer").unwrap();
    let regarding = pointer
        .lookup("_regardingobjectid_value")
        .expect("regarding lookup");
    assert_eq!(regarding.targets.len(), 5);
    let task = metadata.entity_type("task").unwrap();
    assert_eq!(task.lookup("regardingobjectid"), Some(regarding));
    assert!(
        task.property("activityid").is_some(),
        "inherited from activitypointer"
    );

    // `solution` (entity) and `Solution` (complex) coexist.
    assert!(metadata.entity_type("solution").is_some());
    assert!(
        metadata
            .complex_type("Microsoft.Dynamics.CRM.Solution")
            .is_some()
    );

    // `expando` is an open type with no key and no entity set.
    let expando = metadata.entity_type("expando").unwrap();
    assert!(expando.open_type && expando.entity_set.is_none());

    // Alternate keys come from annotations.
    assert!(
        metadata
            .entity_types()
            .iter()
            .any(|t| !t.alternate_keys.is_empty())
    );

    // A selection of everything closes over the complex and enum types it needs.
    let all = metadata.select(&["*"]).unwrap();
    assert_eq!(all.entity_types.len(), 300);
}

#[test]
fn corpus_v8_annotations_are_kept() {
    let Some(dir) = corpus("corpus_v8_annotations_are_kept") else {
        return;
    };
    let metadata = Metadata::from_path(dir.join("dynamics-crm-v8-simple-odata-client.xml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let account = metadata.entity_type("account").unwrap();
    let revenue = account.property("openrevenue").unwrap();
    assert_eq!(
        revenue.description(),
        Some("Sum of open revenue against an account and its child accounts.")
    );
    assert!(revenue.is_computed());
    let accounts = metadata.entity_set("accounts").unwrap();
    assert!(
        accounts
            .annotations
            .iter()
            .any(|a| a.term.starts_with("Org.OData.Capabilities.V1."))
    );
}
