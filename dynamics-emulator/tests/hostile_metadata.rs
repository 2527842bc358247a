//! Issue 22, item 3: a hostile `$metadata` given to the emulator is refused with the
//! generator's located error instead of exhausting memory or overflowing the stack.

use dynamics_emulator::Emulator;

fn doc(schema: &str) -> String {
    format!(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices>\n\
         <Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n\
         {schema}\n</Schema></edmx:DataServices></edmx:Edmx>"
    )
}

#[tokio::test]
async fn nested_collections_and_deep_inheritance_are_refused() {
    let depth = 10_000;
    let nested = doc(&format!(
        "<ComplexType Name=\"c\"><Property Name=\"deep\" Type=\"{}Edm.String{}\"/></ComplexType>",
        "Collection(".repeat(depth),
        ")".repeat(depth)
    ));
    let mut chain = String::from(
        "<EntityType Name=\"t0\"><Key><PropertyRef Name=\"id\"/></Key><Property Name=\"id\" Type=\"Edm.Guid\"/></EntityType>",
    );
    for i in 1..=1000 {
        chain.push_str(&format!(
            "<EntityType Name=\"t{i}\" BaseType=\"mscrm.t{}\"/>",
            i - 1
        ));
    }
    for (xml, expected) in [
        (nested, "`Collection(...)` nesting exceeds the limit"),
        (
            doc(&chain),
            "inheritance chain of `t65` exceeds the limit of 64",
        ),
    ] {
        let Err(error) = Emulator::builder().metadata_str(xml).start().await else {
            panic!("the document was accepted");
        };
        assert!(error.to_string().contains(expected), "{error}");
        assert!(error.to_string().contains("line 3"), "{error}");
    }
}
