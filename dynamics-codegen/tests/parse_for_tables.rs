//! `Metadata::parse_for_tables` against a full parse: the same generated code for the same
//! selection, the selected tables read whole, less read of the others, and the same errors.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{Rng, corpus, mutate};
use dynamics_codegen::csdl::Metadata;
use dynamics_codegen::{Generator, GeneratorSettings};

const SAMPLE: &str = include_str!("fixtures/sample.xml");

/// A model's `Debug`, without the byte offsets that the shortened document moves.
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

fn generated(metadata: &Metadata, tables: &[String]) -> String {
    let mut settings = GeneratorSettings::new();
    settings.with_entities(tables.iter().cloned());
    Generator::new(&settings)
        .generate_tokens(metadata)
        .expect("generates")
        .to_string()
}

/// Parses `text` both ways for `tables` and checks that nothing the selection needs differs.
fn same_for(text: &str, tables: &[String]) {
    let full = Metadata::parse(text).expect("full parse");
    let pruned = Metadata::parse_for_tables(text, tables).expect("parse for tables");
    assert_eq!(
        generated(&pruned, tables),
        generated(&full, tables),
        "generated code for {tables:?}"
    );
    for name in tables {
        if let (Some(a), Some(b)) = (full.entity_type(name), pruned.entity_type(name)) {
            assert_eq!(shape(a), shape(b), "{name}");
        }
    }
    // Every type and set is still there; the other tables' columns were skipped, so the
    // shortened document, not the fallback to a full parse, was read.
    let (f, p) = (full.counts(), pruned.counts());
    assert_eq!(
        (f.entity_types, f.entity_sets, f.actions, f.functions),
        (p.entity_types, p.entity_sets, p.actions, p.functions)
    );
    assert!(
        p.properties < f.properties,
        "{tables:?}: {} properties read, {} in all",
        p.properties,
        f.properties
    );
}

#[test]
fn sample_tables_generate_the_same_code() {
    let names: Vec<String> = Metadata::parse(SAMPLE)
        .unwrap()
        .entity_types()
        .iter()
        .filter(|t| t.entity_set.is_some())
        .map(|t| t.name.clone())
        .collect();
    for name in &names {
        same_for(SAMPLE, std::slice::from_ref(name));
    }
    same_for(SAMPLE, &["task".to_owned(), "WhoAmI".to_owned()]);
}

#[test]
fn qualified_names_select_too() {
    let full = Metadata::parse(SAMPLE).unwrap();
    let pruned = Metadata::parse_for_tables(SAMPLE, &["mscrm.contact"]).unwrap();
    assert_eq!(
        shape(&pruned.entity_type("contact")),
        shape(&full.entity_type("contact"))
    );
    assert!(pruned.counts().properties < full.counts().properties);
}

#[test]
fn everything_is_a_full_parse() {
    let full = Metadata::parse(SAMPLE).unwrap();
    let all = Metadata::parse_for_tables(SAMPLE, &["*"]).unwrap();
    assert_eq!(all.counts(), full.counts());
}

#[test]
fn errors_in_what_is_read_are_those_of_the_full_document() {
    let broken = SAMPLE.replacen(
        "<Property Name=\"lastname\"",
        "<Property Nme=\"lastname\"",
        1,
    );
    let full = Metadata::parse(&broken).unwrap_err().to_string();
    let pruned = Metadata::parse_for_tables(&broken, &["contact"])
        .unwrap_err()
        .to_string();
    assert_eq!(pruned, full);
    assert!(full.contains("line"), "{full}");
    // A document whose structure is broken fails the shortened parse and is read whole.
    let unclosed = SAMPLE.replacen("</EntityType>", "", 1);
    assert_eq!(
        Metadata::parse_for_tables(&unclosed, &["account"])
            .unwrap_err()
            .to_string(),
        Metadata::parse(&unclosed).unwrap_err().to_string()
    );
    // Inside a table that is not read, a mistake goes unseen, as documented.
    let dangling = SAMPLE.replacen(
        "<Property Name=\"lastname\" Type=\"Edm.String\"",
        "<Property Name=\"lastname\" Type=\"Edm.NoSuchType\"",
        1,
    );
    assert!(Metadata::parse(&dangling).is_err());
    assert!(Metadata::parse_for_tables(&dangling, &["contact"]).is_err());
    assert!(Metadata::parse_for_tables(&dangling, &["account"]).is_ok());
}

/// The same as a full parse, whichever way `parse_for_tables` got there.
fn same_result(text: &str, tables: &[String]) {
    match (
        Metadata::parse(text),
        Metadata::parse_for_tables(text, tables),
    ) {
        (Ok(full), Ok(pruned)) => {
            assert_eq!(generated(&pruned, tables), generated(&full, tables));
            assert_eq!(
                format!("{:?}", pruned.warnings()),
                format!("{:?}", full.warnings())
            );
        }
        (Err(full), Err(pruned)) => assert_eq!(pruned.to_string(), full.to_string()),
        (full, pruned) => panic!(
            "full parse {:?}, for tables {:?}",
            full.map(|_| ()),
            pruned.map(|_| ())
        ),
    }
}

#[test]
fn documents_that_substring_search_misreads_are_read_whole() {
    let contact = "<EntityType Name=\"contact\" BaseType=\"mscrm.crmbaseentity\">";
    let account = "<EntityType Name=\"account\"";
    let variants = [
        // A comment holding an end tag inside a table that is cut.
        SAMPLE.replacen(contact, &format!("{contact}<!-- </EntityType> -->"), 1),
        // A commented-out table before the one asked for.
        SAMPLE.replacen(
            account,
            &format!("<!-- <EntityType Name=\"ghost\"> -->{account}"),
            1,
        ),
        SAMPLE.replacen(contact, &format!("{contact}<?note x?>"), 1),
        SAMPLE.replacen(contact, &format!("{contact}<![CDATA[ </EntityType> ]]>"), 1),
        // The key property with its name last.
        SAMPLE.replacen(
            "<Property Name=\"contactid\" Type=\"Edm.Guid\">",
            "<Property Type=\"Edm.Guid\" Name=\"contactid\">",
            1,
        ),
        SAMPLE.replace('\n', "\r\n"),
        // An element the parser warns about, inside a table that is read.
        SAMPLE.replacen(account, &format!("{account} Unknown=\"1\""), 1),
    ];
    for (i, text) in variants.iter().enumerate() {
        assert_ne!(text, SAMPLE, "variant {i} changed nothing");
        for tables in [&["account"][..], &["contact"], &["task", "team"]] {
            let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
            same_result(text, &tables);
        }
    }
}

/// Every entity type with a set, in groups of five, from each corpus document.
#[test]
fn corpus_tables_generate_the_same_code() {
    let Some(dir) = std::env::var_os("DYNAMICS_METADATA_CORPUS").map(PathBuf::from) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED corpus_tables_generate_the_same_code: set DYNAMICS_METADATA_CORPUS"
        );
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .xml in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let names: Vec<String> = Metadata::parse(&text)
            .expect("parses")
            .entity_types()
            .iter()
            .filter(|t| t.entity_set.is_some())
            .map(|t| t.name.clone())
            .collect();
        // Groups of five tables spread over the document, so that lookups and inheritance
        // across the selection and out of it are both met.
        let groups = names.len().div_ceil(5);
        for g in (0..groups).step_by(7) {
            let tables: Vec<String> = names.iter().skip(g).step_by(groups).cloned().collect();
            same_for(&text, &tables);
        }
    }
}

/// What a full parse reads, a parse for some tables reads the same way: when the whole document
/// parses, so does the shortened one, with the same selected tables; when it does not, the
/// answer is either a model (the mistake was in what is skipped) or the full parse's error.
fn agrees_with_the_full_parse(input: &[u8], tables: &[&str]) -> bool {
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    let pruned = Metadata::parse_for_tables(text, tables);
    match Metadata::parse(text) {
        Ok(full) => {
            let pruned =
                pruned.unwrap_or_else(|e| panic!("{tables:?}: full parse ok, not for tables: {e}"));
            for name in tables {
                assert_eq!(
                    shape(&pruned.entity_type(name)),
                    shape(&full.entity_type(name)),
                    "{name}"
                );
            }
            assert_eq!(pruned.entity_types().len(), full.entity_types().len());
            assert_eq!(pruned.entity_sets().len(), full.entity_sets().len());
            true
        }
        Err(full) => {
            if let Err(pruned) = pruned {
                assert_eq!(pruned.to_string(), full.to_string());
            }
            false
        }
    }
}

#[test]
fn mutated_documents_agree_with_the_full_parse() {
    let mut rng = Rng::new(0x7ab1_e5f0_4a11_0001);
    let mut parsed = 0;
    for i in 0..4_000 {
        let input = mutate(&mut rng, SAMPLE.as_bytes());
        let tables: &[&str] = match i % 3 {
            0 => &["account"],
            1 => &["contact", "task"],
            _ => &["systemuser"],
        };
        parsed += usize::from(agrees_with_the_full_parse(&input, tables));
    }
    assert!(parsed > 100, "only {parsed} mutated documents parsed");
}

#[test]
fn the_csdl_fuzz_corpus_agrees_with_the_full_parse() {
    let mut parsed = 0;
    for input in corpus("csdl") {
        parsed += usize::from(agrees_with_the_full_parse(&input, &["account"]));
        agrees_with_the_full_parse(&input, &["contact", "new_project"]);
    }
    assert!(parsed > 0);
}
