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
