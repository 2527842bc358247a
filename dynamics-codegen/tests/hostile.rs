//! Issue 22, items 3 and 9: hostile `$metadata` documents. Each test reproduced the weakness.

use dynamics_codegen::csdl::Metadata;
use dynamics_codegen::{Generator, GeneratorSettings};

/// A document with `schema` inside and an entity container with `sets`.
fn doc(schema: &str, sets: &str) -> String {
    format!(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n\
         <edmx:DataServices>\n\
         <Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n\
         {schema}\n\
         <EntityContainer Name=\"System\">{sets}</EntityContainer>\n\
         </Schema>\n\
         </edmx:DataServices>\n\
         </edmx:Edmx>\n"
    )
}

fn generated(text: &str) -> String {
    let metadata = Metadata::parse(text).unwrap();
    let mut settings = GeneratorSettings::new();
    settings.with_entities(["*"]);
    let tokens = Generator::new(&settings)
        .generate_tokens(&metadata)
        .unwrap();
    dynamics_codegen::format(tokens).unwrap()
}

/// Item 9: a description with a bare carriage return produced `/// …\rfn injected() {}`,
/// which editors show as code; a right-to-left override tripped rustc's bidi lint.
#[test]
fn control_and_bidi_characters_never_reach_the_generated_file() {
    let text = doc(
        r#"<EntityType Name="account">
             <Key><PropertyRef Name="accountid"/></Key>
             <Property Name="accountid" Type="Edm.Guid"/>
             <Property Name="name" Type="Edm.String">
               <Annotation Term="Org.OData.Core.V1.Description" String="Name&#13;fn injected() {}&#x2028;fn also() {}"/>
             </Property>
             <Property Name="rtl" Type="Edm.String">
               <Annotation Term="Org.OData.Core.V1.Description" String="safe &#x202E; }&#x2066;evil&#x2069; &#x1b;]0;x&#7;"/>
             </Property>
             <Annotation Term="Org.OData.Core.V1.Description" String="Accounts&#13;&#10;pub fn injected_too() {}"/>
           </EntityType>"#,
        r#"<EntitySet Name="accounts" EntityType="mscrm.account"/>"#,
    );
    let code = generated(&text);
    for bad in [
        '\r', '\u{2028}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{1b}', '\u{7}',
    ] {
        assert!(!code.contains(bad), "{bad:?} in the generated code");
    }
    for line in code.lines().filter(|l| l.contains("injected")) {
        assert!(line.trim_start().starts_with("///"), "code line: {line}");
    }
    assert!(
        code.contains("Name fn injected() {} fn also() {}"),
        "{code}"
    );
    assert!(syn_free_parse(&code), "the file no longer parses");
}

/// The generated file is still Rust the formatter accepts (it parses it again).
fn syn_free_parse(code: &str) -> bool {
    code.parse::<proc_macro2::TokenStream>().is_ok()
}

fn error(text: &str) -> dynamics_codegen::Error {
    match Metadata::parse(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Item 3: every derived type copied all its ancestors' members; a chain of 8,000 `BaseType`
/// links took 35 s and 8 GB. A chain deeper than the limit is refused at the type too deep.
#[test]
fn an_inheritance_chain_past_the_limit_is_refused_where_it_gets_too_deep() {
    let limit = dynamics_codegen::csdl::MAX_INHERITANCE_DEPTH;
    let mut schema = String::from(
        "<EntityType Name=\"t0\"><Key><PropertyRef Name=\"id\"/></Key><Property Name=\"id\" Type=\"Edm.Guid\"/></EntityType>\n",
    );
    for i in 1..=limit + 20 {
        schema.push_str(&format!(
            "<EntityType Name=\"t{i}\" BaseType=\"mscrm.t{}\"><Property Name=\"p{i}\" Type=\"Edm.String\"/></EntityType>\n",
            i - 1
        ));
    }
    let e = error(&doc(&schema, ""));
    assert!(matches!(e, dynamics_codegen::Error::TooDeep { .. }), "{e}");
    let name = format!("`t{}`", limit + 1);
    assert!(e.to_string().contains(&name), "{e}");
    // The type too deep is on line 4 + its number (the schema starts on line 4).
    assert_eq!(e.location().unwrap().line, 4 + limit as u32 + 1, "{e}");
    // At the limit, the document is read.
    let at_limit: String = schema
        .lines()
        .take(limit + 1)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(Metadata::parse(&doc(&at_limit, "")).is_ok());
}

/// Item 3: a few hundred types deriving from one type with thousands of members ask for more
/// copies than the document's size suggests. Past the budget, the type that would take the
/// copy too many is named.
#[test]
fn inherited_members_past_the_budget_are_refused() {
    let mut schema = String::from("<EntityType Name=\"base\" Abstract=\"true\">");
    for i in 0..4000 {
        schema.push_str(&format!("<Property Name=\"p{i}\" Type=\"Edm.String\"/>"));
    }
    schema.push_str("</EntityType>\n");
    let derived = dynamics_codegen::csdl::MAX_INHERITED_MEMBERS / 4000 + 1;
    for i in 0..derived {
        schema.push_str(&format!(
            "<EntityType Name=\"d{i}\" BaseType=\"mscrm.base\"/>\n"
        ));
    }
    let e = error(&doc(&schema, ""));
    assert!(matches!(e, dynamics_codegen::Error::TooDeep { .. }), "{e}");
    assert!(e.to_string().contains("inherit"), "{e}");
}

/// Item 3: nested `Collection(...)` type references recursed without a limit; 10,000 levels
/// (240 KB) overflowed the stack and aborted the process.
#[test]
fn deeply_nested_collections_are_refused_without_recursing() {
    let depth = 10_000;
    let ty = format!(
        "{}Edm.String{}",
        "Collection(".repeat(depth),
        ")".repeat(depth)
    );
    let schema =
        format!("<ComplexType Name=\"c\">\n<Property Name=\"deep\" Type=\"{ty}\"/></ComplexType>");
    let e = error(&doc(&schema, ""));
    assert!(matches!(e, dynamics_codegen::Error::TooDeep { .. }), "{e}");
    assert!(e.to_string().contains("Collection"), "{e}");
    assert_eq!(e.location().unwrap().line, 5, "{e}");
    // One level, as CSDL writes collections, is fine.
    let one = "<ComplexType Name=\"c\"><Property Name=\"list\" Type=\"Collection(Edm.String)\"/></ComplexType>";
    assert!(Metadata::parse(&doc(one, "")).is_ok());
}

/// Item 3: the document size is capped (`DYNAMICS_METADATA_MAX_BYTES`, default 256 MiB), for
/// a file before it is read. Lowered here in a child process to a size the sample exceeds.
#[test]
fn a_document_past_the_size_limit_is_refused_before_reading() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sample.xml");
    let run = |limit: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dynamics-codegen"))
            .args(["--metadata", sample, "--entities", "account"])
            .env(dynamics_codegen::csdl::MAX_DOCUMENT_BYTES_VAR, limit)
            .output()
            .unwrap()
    };
    let refused = run("1000");
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("more than the limit of 1000")
            && text.contains("DYNAMICS_METADATA_MAX_BYTES"),
        "{text}"
    );
    assert!(run("100000000").status.success());
    assert_eq!(
        dynamics_codegen::csdl::DEFAULT_MAX_DOCUMENT_BYTES,
        256 * 1024 * 1024
    );
}
