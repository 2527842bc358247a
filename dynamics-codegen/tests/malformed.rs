//! Malformed and invalid documents: each gives a typed error at the right place, never a panic.

use dynamics_codegen::Error;
use dynamics_codegen::csdl::Metadata;

/// Wraps schema content in a valid document. The content starts on line 4.
fn doc(schema: &str) -> String {
    format!(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n\
         <edmx:DataServices>\n\
         <Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n\
         {schema}\n\
         </Schema>\n\
         </edmx:DataServices>\n\
         </edmx:Edmx>\n"
    )
}

fn error(text: &str) -> Error {
    match Metadata::parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

fn line_col(e: &Error) -> (u32, u32) {
    let l = e.location().unwrap_or_else(|| panic!("no location in {e}"));
    (l.line, l.column)
}

#[test]
fn unclosed_element_at_end_of_document() {
    let e = error(&doc("<EntityType Name=\"a\">").replace("</edmx:Edmx>\n", ""));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert!(e.to_string().contains("malformed XML"), "{e}");
}

#[test]
fn mismatched_end_tag() {
    let e = error(&doc("<EntityType Name=\"a\">\n</ComplexType>"));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e).0, 5, "{e}");
}

#[test]
fn unquoted_attribute_value() {
    let e = error(&doc("<EntityType Name=a/>"));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e), (4, 18), "{e}");
    assert!(
        e.to_string()
            .ends_with("attribute value must be enclosed in `\"` or `'`"),
        "{e}"
    );
}

#[test]
fn unknown_entity_reference_in_text() {
    let e = error(&doc(
        "<Annotations Target=\"mscrm.a\">\n<Annotation Term=\"Core.Description\"><String>a &nbsp; b</String></Annotation>\n</Annotations>",
    ));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e).0, 5, "{e}");
    assert!(e.to_string().contains("nbsp"), "{e}");
}

#[test]
fn duplicate_attribute() {
    let e = error(&doc("<EntityType Name=\"a\" Name=\"b\"/>"));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e), (4, 22), "{e}");
}

#[test]
fn content_after_the_root_element() {
    let e = error(&format!("{}<extra/>", doc("")));
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e), (8, 1), "{e}");
}

/// The reader skips white space before markup without an event; errors still point where
/// the offending content starts, as they did when the white space was an event of its own.
#[test]
fn locations_past_skipped_white_space() {
    // A document cut short: at its very end, past trailing white space.
    let cut = doc("<EntityType Name=\"a\">\n  \n")
        .replace("</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n", "");
    let e = error(&cut);
    assert!(e.to_string().contains("document ends inside"), "{e}");
    assert_eq!(line_col(&e), (7, 1), "{e}");
    // A reference after indentation: at the `&`.
    let e = error(&doc("<EntityType Name=\"a\">\n     &bogus;</EntityType>"));
    assert_eq!(line_col(&e), (5, 6), "{e}");
    // Text after the root: where the text starts, its white space included.
    let e = error(&format!("{}   stray", doc("")));
    assert_eq!(line_col(&e), (7, 13), "{e}");
    // Only white space: no root element, reported at the end.
    let e = error("\n  \n ");
    assert!(matches!(e, Error::NotCsdl { .. }), "{e}");
    assert_eq!(line_col(&e), (3, 2), "{e}");
}

#[test]
fn invalid_utf8() {
    let mut bytes = doc("<EntityType Name=\"a\"/>").into_bytes();
    bytes.splice(10..10, [0xff, 0xfe]);
    let e = Metadata::parse_bytes(&bytes).unwrap_err();
    assert!(matches!(e, Error::Xml { .. }), "{e}");
    assert_eq!(line_col(&e), (1, 11), "{e}");
}

#[test]
fn html_is_not_csdl() {
    let e = error("<!DOCTYPE html>\n<html><body>login required</body></html>");
    assert!(matches!(e, Error::NotCsdl { .. }), "{e}");
    assert_eq!(line_col(&e), (2, 1), "{e}");
    assert!(e.to_string().contains("<html>"), "{e}");
}

#[test]
fn empty_document_is_not_csdl() {
    let e = error("  \n");
    assert!(matches!(e, Error::NotCsdl { .. }), "{e}");
}

#[test]
fn edmx_without_schema_is_not_csdl() {
    let e = error(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n<edmx:DataServices/>\n</edmx:Edmx>",
    );
    assert!(matches!(e, Error::NotCsdl { .. }), "{e}");
    assert_eq!(line_col(&e), (1, 1), "{e}");
}

#[test]
fn property_without_type() {
    let e = error(&doc(
        "<EntityType Name=\"a\">\n<Key><PropertyRef Name=\"id\"/></Key>\n  <Property Name=\"id\"/>\n</EntityType>",
    ));
    match &e {
        Error::MissingAttribute {
            element, attribute, ..
        } => assert_eq!((element.as_str(), attribute.as_str()), ("Property", "Type")),
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (6, 3), "{e}");
}

#[test]
fn nullable_must_be_a_boolean() {
    let e = error(&doc(
        "<ComplexType Name=\"c\">\n<Property Name=\"x\" Type=\"Edm.String\" Nullable=\"yes\"/>\n</ComplexType>",
    ));
    match &e {
        Error::InvalidAttribute {
            attribute, value, ..
        } => assert_eq!((attribute.as_str(), value.as_str()), ("Nullable", "yes")),
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (5, 1), "{e}");
}

#[test]
fn max_length_must_be_a_number_or_max() {
    let e = error(&doc(
        "<ComplexType Name=\"c\">\n<Property Name=\"x\" Type=\"Edm.String\" MaxLength=\"lots\"/>\n</ComplexType>",
    ));
    assert!(matches!(e, Error::InvalidAttribute { .. }), "{e}");
    assert_eq!(line_col(&e).0, 5, "{e}");
}

#[test]
fn dangling_property_type_names_the_property() {
    let e = error(&doc(
        "<ComplexType Name=\"c\">\n<Property Name=\"x\" Type=\"Edm.Guid\"/>\n<Property Name=\"y\" Type=\"mscrm.nothing\"/>\n</ComplexType>",
    ));
    match &e {
        Error::DanglingType {
            referrer,
            type_name,
            ..
        } => {
            assert_eq!(referrer, "property `y` of complex type `c`");
            assert_eq!(type_name, "mscrm.nothing");
        }
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (6, 1), "{e}");
}

#[test]
fn dangling_edm_primitive() {
    let e = error(&doc(
        "<ComplexType Name=\"c\">\n<Property Name=\"x\" Type=\"Edm.Text\"/>\n</ComplexType>",
    ));
    assert!(matches!(e, Error::DanglingType { .. }), "{e}");
    assert_eq!(line_col(&e).0, 5, "{e}");
}

#[test]
fn dangling_base_type() {
    let e = error(&doc(
        "<EntityType Name=\"a\" BaseType=\"mscrm.missing\" Abstract=\"true\"/>",
    ));
    match &e {
        Error::DanglingType { referrer, .. } => {
            assert_eq!(referrer, "the base type of entity type `a`")
        }
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (4, 1), "{e}");
}

#[test]
fn navigation_property_to_a_complex_type() {
    let e = error(&doc(
        "<ComplexType Name=\"c\"/>\n<EntityType Name=\"a\" Abstract=\"true\">\n<NavigationProperty Name=\"n\" Type=\"mscrm.c\"/>\n</EntityType>",
    ));
    assert!(matches!(e, Error::DanglingType { .. }), "{e}");
    assert_eq!(line_col(&e).0, 6, "{e}");
}

#[test]
fn entity_set_of_unknown_type() {
    let e = error(&doc(
        "<EntityContainer Name=\"System\">\n<EntitySet Name=\"things\" EntityType=\"mscrm.thing\"/>\n</EntityContainer>",
    ));
    match &e {
        Error::DanglingType { referrer, .. } => assert_eq!(referrer, "entity set `things`"),
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (5, 1), "{e}");
}

#[test]
fn entity_set_of_a_type_without_key() {
    let e = error(&doc(
        "<EntityType Name=\"a\">\n<Property Name=\"x\" Type=\"Edm.String\"/>\n</EntityType>\n<EntityContainer Name=\"System\">\n<EntitySet Name=\"as\" EntityType=\"mscrm.a\"/>\n</EntityContainer>",
    ));
    match &e {
        Error::MissingKey {
            entity_type,
            entity_set,
            ..
        } => assert_eq!((entity_type.as_str(), entity_set.as_str()), ("a", "as")),
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (4, 1), "{e}");
}

#[test]
fn key_names_a_missing_property() {
    let e = error(&doc(
        "<EntityType Name=\"a\">\n<Key><PropertyRef Name=\"aid\"/></Key>\n<Property Name=\"id\" Type=\"Edm.Guid\"/>\n</EntityType>",
    ));
    assert!(matches!(e, Error::DanglingKey { .. }), "{e}");
    assert_eq!(line_col(&e), (4, 1), "{e}");
}

#[test]
fn duplicate_type_names() {
    let e = error(&doc(
        "<ComplexType Name=\"c\"/>\n<EnumType Name=\"c\"><Member Name=\"x\"/></EnumType>",
    ));
    match &e {
        Error::Duplicate {
            name, first_line, ..
        } => {
            assert_eq!(name, "Microsoft.Dynamics.CRM.c");
            assert_eq!(*first_line, 4);
        }
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (5, 1), "{e}");
}

#[test]
fn duplicate_property_including_inherited() {
    let e = error(&doc(
        "<EntityType Name=\"base\" Abstract=\"true\">\n<Property Name=\"x\" Type=\"Edm.String\"/>\n</EntityType>\n<EntityType Name=\"a\" BaseType=\"mscrm.base\" Abstract=\"true\">\n<Property Name=\"x\" Type=\"Edm.Int32\"/>\n</EntityType>",
    ));
    match &e {
        Error::Duplicate { name, kind, .. } => {
            assert_eq!(name, "x");
            assert!(kind.contains('a'), "{kind}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(line_col(&e), (8, 1), "{e}");
}

#[test]
fn inheritance_cycle() {
    let e = error(&doc(
        "<EntityType Name=\"a\" BaseType=\"mscrm.b\" Abstract=\"true\"/>\n<EntityType Name=\"b\" BaseType=\"mscrm.a\" Abstract=\"true\"/>",
    ));
    assert!(matches!(e, Error::InheritanceCycle { .. }), "{e}");
    assert_eq!(line_col(&e).1, 1, "{e}");
}

#[test]
fn property_directly_in_schema() {
    let e = error(&doc("<Property Name=\"x\" Type=\"Edm.String\"/>"));
    assert!(matches!(e, Error::Misplaced { .. }), "{e}");
    assert_eq!(line_col(&e), (4, 1), "{e}");
}

#[test]
fn two_entity_containers() {
    let e = error(&doc(
        "<EntityContainer Name=\"A\"/>\n<EntityContainer Name=\"B\"/>",
    ));
    assert!(matches!(e, Error::Duplicate { .. }), "{e}");
    assert_eq!(line_col(&e), (5, 1), "{e}");
}

#[test]
fn bound_action_without_parameters() {
    let e = error(&doc("<Action Name=\"Go\" IsBound=\"true\"/>"));
    assert!(matches!(e, Error::InvalidAttribute { .. }), "{e}");
    assert_eq!(line_col(&e), (4, 1), "{e}");
}

#[test]
fn file_errors_name_the_file() {
    let missing = Metadata::from_path("/nonexistent/metadata.xml").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/metadata.xml"));
    // The same error for a choices document names that file, not "the metadata file".
    let missing = dynamics_codegen::choices::Choices::from_path("/nonexistent/choices.json")
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("cannot read /nonexistent/choices.json: "),
        "{missing}"
    );
    assert!(!missing.contains("metadata"), "{missing}");

    let dir =
        std::env::temp_dir().join(format!("dynamics-codegen-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.xml");
    std::fs::write(&path, doc("<EntityType Name=\"a\" Abstract=\"maybe\"/>")).unwrap();
    let e = Metadata::from_path(&path).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:4:1:", path.display())),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every prefix of a real document is either valid or an error, never a panic.
#[test]
fn truncated_documents_never_panic() {
    let sample = include_str!("fixtures/sample.xml");
    let mut errors = 0;
    for end in (0..sample.len()).step_by(61) {
        if !sample.is_char_boundary(end) {
            continue;
        }
        if Metadata::parse(&sample[..end]).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 300, "only {errors} truncations failed");
}
