//! The resolved model of the project's sample metadata and of small documents that carry what
//! real files contain.

use dynamics_codegen::Error;
use dynamics_codegen::csdl::{
    AnnotationValue, MaxLength, Metadata, OperationKind, Primitive, Scale, TypeRef,
};

fn sample() -> Metadata {
    Metadata::parse(include_str!("fixtures/sample.xml")).unwrap()
}

#[test]
fn sample_entity_types_sets_and_keys() {
    let m = sample();
    let names: Vec<&str> = m.entity_types().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "account",
            "activitypointer",
            "businessunit",
            "contact",
            "crmbaseentity",
            "new_project",
            "principal",
            "systemuser",
            "task",
            "team"
        ]
    );
    let account = m.entity_type("account").unwrap();
    assert_eq!(account.entity_set.as_deref(), Some("accounts"));
    assert_eq!(account.qualified_name(), "Microsoft.Dynamics.CRM.account");
    assert_eq!(
        account.base_type.as_deref(),
        Some("Microsoft.Dynamics.CRM.crmbaseentity")
    );
    assert_eq!(
        m.entity_type_by_set("new_projects").unwrap().name,
        "new_project"
    );
    assert_eq!(
        m.entity_type("Microsoft.Dynamics.CRM.contact")
            .unwrap()
            .name,
        "contact"
    );
    assert!(m.entity_type("principal").unwrap().entity_set.is_none());
    // task inherits the key and columns of activitypointer, with their declaring type.
    let task = m.entity_type("task").unwrap();
    assert_eq!(task.key, ["activityid"]);
    assert_eq!(
        &*task.property("subject").unwrap().declared_in,
        "Microsoft.Dynamics.CRM.activitypointer"
    );
    assert_eq!(task.declared_properties().len(), 2);
    assert_eq!(task.properties.len(), 15);
}

#[test]
fn sample_property_types_and_facets() {
    let m = sample();
    let account = m.entity_type("account").unwrap();
    let name = account.property("name").unwrap();
    assert_eq!(name.ty, TypeRef::Primitive(Primitive::String));
    assert_eq!(name.facets.max_length, Some(MaxLength::Length(160)));
    assert!(name.facets.nullable);
    assert_eq!(name.description(), Some("Company or business name."));
    let revenue = account.property("revenue").unwrap();
    assert_eq!(revenue.ty, TypeRef::Primitive(Primitive::Decimal));
    assert_eq!(revenue.facets.scale, Some(Scale::Variable));
    // XML entities in descriptions are decoded.
    assert_eq!(
        revenue.description(),
        Some("Annual revenue of the account, in the account's currency.")
    );
    assert!(account.property("createdon").unwrap().is_computed());
    assert!(account.property("versionnumber").unwrap().concurrency_fixed);
    let project = m.entity_type("new_project").unwrap();
    assert_eq!(
        project.property("new_startdate").unwrap().ty,
        TypeRef::Primitive(Primitive::Date)
    );
}

#[test]
fn sample_lookups_are_grouped_with_their_targets() {
    let m = sample();
    let contact = m.entity_type("contact").unwrap();
    let parent = contact.lookup("parentcustomerid").unwrap();
    assert_eq!(parent.property, "_parentcustomerid_value");
    assert!(parent.is_polymorphic());
    let targets: Vec<(&str, &str, Option<&str>)> = parent
        .targets
        .iter()
        .map(|t| {
            (
                t.navigation_property.as_str(),
                t.logical_name.as_str(),
                t.entity_set.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("parentcustomerid_account", "account", Some("accounts")),
            ("parentcustomerid_contact", "contact", Some("contacts")),
        ]
    );
    // Navigation property names keep their case.
    let account = m.entity_type("account").unwrap();
    assert!(account.navigation_property("Account_Tasks").is_some());
    assert!(account.navigation_property("account_tasks").is_none());
    let regarding = m
        .entity_type("task")
        .unwrap()
        .lookup("regardingobjectid")
        .unwrap();
    assert_eq!(regarding.targets.len(), 3);
    // The owner lookup targets the abstract principal, which has no entity set.
    let owner = account.lookup("ownerid").unwrap();
    assert_eq!(owner.targets[0].logical_name, "principal");
    assert_eq!(owner.targets[0].entity_set, None);
    // The tables that stand for it are those deriving from it.
    assert!(m.derives_from(
        "Microsoft.Dynamics.CRM.systemuser",
        "Microsoft.Dynamics.CRM.principal"
    ));
    assert!(m.derives_from(
        "Microsoft.Dynamics.CRM.team",
        "Microsoft.Dynamics.CRM.principal"
    ));
    assert!(!m.derives_from(
        "Microsoft.Dynamics.CRM.account",
        "Microsoft.Dynamics.CRM.principal"
    ));
}

#[test]
fn sample_alternate_keys_operations_and_container() {
    let m = sample();
    let project = m.entity_type("new_project").unwrap();
    let key = &project.alternate_keys[0];
    let parts: Vec<&str> = key.parts.iter().map(|p| p.property.as_str()).collect();
    assert_eq!(parts, ["new_code", "new_name"]);
    let who = m.operations_named("WhoAmI").next().unwrap();
    assert_eq!(who.kind, OperationKind::Function);
    assert_eq!(
        who.return_type.as_ref().unwrap().ty,
        TypeRef::Complex("Microsoft.Dynamics.CRM.WhoAmIResponse".into())
    );
    let bound: Vec<&str> = m
        .operations_bound_to("Microsoft.Dynamics.CRM.new_project")
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(bound, ["new_CloseProject"]);
    // The `owners` binding target does not exist; that is kept, not an error.
    let accounts = m.entity_set("accounts").unwrap();
    assert!(
        accounts
            .navigation_property_bindings
            .iter()
            .any(|b| b.target == "owners")
    );
    assert_eq!(m.container().unwrap().name, "System");
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
}

#[test]
fn selection_closes_over_complex_and_enum_types() {
    let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
      <Schema Namespace="N" Alias="n" xmlns="http://docs.oasis-open.org/odata/ns/edm">
        <EnumType Name="Color"><Member Name="Red"/><Member Name="Blue"/></EnumType>
        <EnumType Name="Unused"><Member Name="X"/></EnumType>
        <ComplexType Name="Inner"><Property Name="c" Type="n.Color"/></ComplexType>
        <ComplexType Name="Outer"><Property Name="i" Type="Collection(n.Inner)"/></ComplexType>
        <EntityType Name="a"><Key><PropertyRef Name="id"/></Key>
          <Property Name="id" Type="Edm.Guid"/><Property Name="o" Type="n.Outer"/></EntityType>
        <EntityType Name="b"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/></EntityType>
      </Schema></edmx:DataServices></edmx:Edmx>"#;
    let m = Metadata::parse(xml).unwrap();
    let s = m.select(&["a"]).unwrap();
    let names = |v: Vec<&str>| v.join(",");
    assert_eq!(
        names(s.entity_types.iter().map(|t| t.name.as_str()).collect()),
        "a"
    );
    assert_eq!(
        names(s.complex_types.iter().map(|t| t.name.as_str()).collect()),
        "Inner,Outer"
    );
    assert_eq!(
        names(s.enum_types.iter().map(|t| t.name.as_str()).collect()),
        "Color"
    );
    assert_eq!(m.enum_type("N.Color").unwrap().members[1].value, 1);
    assert_eq!(m.select(&["*"]).unwrap().entity_types.len(), 2);
}

#[test]
fn unknown_table_suggests_close_names() {
    let m = sample();
    match m.select(&["acount"]).unwrap_err() {
        Error::UnknownEntity { suggestions, .. } => assert_eq!(suggestions, ["account"]),
        other => panic!("{other}"),
    }
    // An entity set name suggests its table.
    match m.find_entity_type("contacts").unwrap_err() {
        Error::UnknownEntity { suggestions, .. } => assert_eq!(suggestions[0], "contact"),
        other => panic!("{other}"),
    }
    let e = m.find_entity_type("opportunity").unwrap_err().to_string();
    assert!(e.contains("installed and licensed"), "{e}");
}

/// A document with what real files contain: a BOM, entities, any attribute order, awkward
/// names, case-insensitive collisions, out-of-line annotations, unmodelled elements.
#[test]
fn survives_what_real_files_contain() {
    let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
    <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n\
    <edmx:Reference Uri=\"http://vocabularies.odata.org/OData.Community.Keys.V1.xml\">\n\
      <edmx:Include Alias=\"Keys\" Namespace=\"OData.Community.Keys.V1\"/>\n\
    </edmx:Reference>\n\
    <edmx:DataServices>\n\
    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Alias=\"mscrm\" Namespace=\"Microsoft.Dynamics.CRM\">\n\
      <EntityType Name=\"solution\">\n\
        <Key><PropertyRef Name=\"solutionid\"/></Key>\n\
        <Property Type=\"Edm.Guid\" Name=\"solutionid\" Nullable=\"false\"/>\n\
        <Property Name=\"type\" Type=\"Edm.String\" MaxLength=\"max\"/>\n\
        <Property Name=\"abstract\" Type=\"Edm.String\"/>\n\
        <Property Name=\"feedbackid\" Type=\"Edm.Guid\"/>\n\
        <Property Name=\"FeedbackId\" Type=\"Edm.Guid\"/>\n\
        <Property Name=\"location\" Type=\"Edm.GeographyPoint\" SRID=\"4326\"/>\n\
        <FutureElement Foo=\"bar\"><Nested/></FutureElement>\n\
      </EntityType>\n\
      <ComplexType Name=\"Solution\"><Property Name=\"x\" Type=\"Edm.String\"/></ComplexType>\n\
      <Annotations Target=\"mscrm.solution/type\">\n\
        <Annotation Term=\"Org.OData.Core.V1.Description\"><String>  Kind &amp; &#x41;&lt;B&gt; <!-- c --> <![CDATA[ d]]></String></Annotation>\n\
      </Annotations>\n\
      <Annotations Target=\"mscrm.solution\">\n\
        <Annotation Term=\"Keys.AlternateKeys\"><Collection><Record><PropertyValue Property=\"Key\"><Collection>\n\
          <Record><PropertyValue Property=\"Alias\" String=\"t\"/><PropertyValue Property=\"Name\" PropertyPath=\"type\"/></Record>\n\
        </Collection></PropertyValue></Record></Collection></Annotation>\n\
      </Annotations>\n\
      <EntityContainer Name=\"System\"><EntitySet EntityType=\"mscrm.solution\" Name=\"solutions\"/></EntityContainer>\n\
    </Schema>\n\
    </edmx:DataServices>\n\
    </edmx:Edmx>";
    let m = Metadata::parse(xml).unwrap();
    let solution = m.entity_type("solution").unwrap();
    assert!(m.complex_type("Microsoft.Dynamics.CRM.Solution").is_some());
    assert!(solution.property("feedbackid").is_some() && solution.property("FeedbackId").is_some());
    let ty = solution.property("type").unwrap();
    assert_eq!(ty.facets.max_length, Some(MaxLength::Max));
    // Text keeps its white space, wherever it stands between references, comments and CDATA.
    assert_eq!(ty.description(), Some("  Kind & A<B>   d"));
    assert_eq!(
        solution
            .property("location")
            .unwrap()
            .facets
            .srid
            .as_deref(),
        Some("4326")
    );
    assert_eq!(solution.alternate_keys[0].parts[0].alias, "t");
    assert!(!solution.property("solutionid").unwrap().facets.nullable);
    // The unknown element is a warning with its line, not an error.
    assert_eq!(m.warnings().len(), 1, "{:?}", m.warnings());
    assert_eq!(m.warnings()[0].location.line, 16);
    assert!(m.warnings()[0].message.contains("FutureElement"));
    assert!(matches!(
        m.out_of_line_annotations()[0].annotations[0].value,
        AnnotationValue::String(_)
    ));
}

#[test]
fn attributes_read_alike_however_they_are_laid_out() {
    let xml = "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\
    <edmx:DataServices><Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"N\">\n\
      <EntityType Name=\"t\"><Key><PropertyRef Name=\"id\"/></Key>\n\
        <Property Name=\"id\" Type=\"Edm.Guid\" Nullable=\"false\"/>\n\
        <Property Name = 'a' Type='Edm.String' MaxLength=\"10\"/>\n\
        <Property\n\t Name=\"b\"\n\t Type=\"Edm.String\"\r\n MaxLength='max'/>\n\
        <Property Name=\"c\"Type=\"Edm.Int32\" DefaultValue=\"1&amp;2\"/>\n\
        <Property edm:Name=\"d\" xmlns:edm=\"x\" Type=\"Edm.Int64\" Unknown=\"\"/>\n\
        <Property Name=\"e\" Type=\"Edm.String\" DefaultValue=\"say &quot;hi&quot;\tnow\"/>\n\
      </EntityType>\n\
    </Schema></edmx:DataServices></edmx:Edmx>";
    let m = Metadata::parse(xml).unwrap();
    let t = m.entity_type("t").unwrap();
    let names: Vec<&str> = t.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["id", "a", "b", "c", "d", "e"]);
    assert_eq!(
        t.property("a").unwrap().facets.max_length,
        Some(MaxLength::Length(10))
    );
    assert_eq!(
        t.property("b").unwrap().facets.max_length,
        Some(MaxLength::Max)
    );
    assert_eq!(
        t.property("c").unwrap().default_value.as_deref(),
        Some("1&2")
    );
    assert_eq!(
        t.property("d").unwrap().ty,
        TypeRef::Primitive(Primitive::Int64)
    );
    assert_eq!(
        t.property("e").unwrap().default_value.as_deref(),
        Some("say \"hi\" now")
    );
    for bad in [
        "<Property Name=\"x\" Type=\"Edm.Int32\" Name=\"y\"/>",
        "<Property Name=\"x\" Type=\"Edm.Int32\" Name='y'/>",
        "<Property Name=\"x\" Type=\"Edm.Int32\" Other=\"1\" Other=\"2\"/>",
        "<Property Name=\"x\" Type=\"Edm.Int32\" Name/>",
        "<Property Name=\"x Type=\"Edm.Int32\"/>",
    ] {
        let doc = xml.replace(
            "<Property Name=\"id\" Type=\"Edm.Guid\" Nullable=\"false\"/>",
            bad,
        );
        assert!(
            matches!(Metadata::parse(&doc), Err(Error::Xml { .. })),
            "{bad}: {:?}",
            Metadata::parse(&doc).map(|_| ())
        );
    }
}

#[test]
fn bulk_messages_are_those_bound_to_the_table_or_a_base_type() {
    let m = sample();
    let bound = |m: &Metadata, table: &str| m.bulk_messages(m.entity_type(table).unwrap());
    assert_eq!(
        bound(&m, "account"),
        ["CreateMultiple", "UpdateMultiple", "UpsertMultiple"]
    );
    assert!(bound(&m, "new_project").is_empty());
    // Bound to the base type every table derives from, as Dataverse binds them: every table.
    let text = include_str!("fixtures/sample.xml").replace(
        r#"Name="entityset" Type="Collection(mscrm.contact)""#,
        r#"Name="entityset" Type="Collection(mscrm.crmbaseentity)""#,
    );
    let m = Metadata::parse(&text).unwrap();
    assert_eq!(
        bound(&m, "new_project"),
        ["CreateMultiple", "UpdateMultiple", "UpsertMultiple"]
    );
    assert_eq!(bound(&m, "task").len(), 3);
}
