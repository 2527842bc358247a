//! The synthetic document of the CSDL benches, shared by `csdl` and `csdl_instructions`.

use std::fmt::Write as _;

/// A deterministic document shaped like a large Dataverse environment's.
pub fn synthetic(entity_types: usize) -> String {
    let mut xml = String::with_capacity(entity_types * 12_000);
    xml.push_str(
        r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true"/>
"#,
    );
    let kinds = [
        ("Edm.String", " MaxLength=\"100\""),
        ("Edm.Int32", ""),
        ("Edm.Decimal", " Scale=\"Variable\""),
        ("Edm.DateTimeOffset", " Precision=\"0\""),
        ("Edm.Boolean", ""),
        ("Edm.Double", ""),
        ("Edm.Int64", ""),
    ];
    for i in 0..entity_types {
        let name = format!("new_table{i:04}");
        let _ = write!(
            xml,
            "      <EntityType Name=\"{name}\" BaseType=\"mscrm.crmbaseentity\">\n        <Key>\n          <PropertyRef Name=\"{name}id\"/>\n        </Key>\n        <Property Name=\"{name}id\" Type=\"Edm.Guid\"/>\n"
        );
        for p in 0..48 {
            let (ty, facets) = kinds[(i + p) % kinds.len()];
            let _ = writeln!(
                xml,
                "        <Property Name=\"new_column{p:02}\" Type=\"{ty}\"{facets}>\n          <Annotation Term=\"Org.OData.Core.V1.Description\" String=\"Column {p} of table {i} &amp; more.\"/>\n        </Property>"
            );
        }
        for l in 0..6 {
            let target = (i * 7 + l * 13) % entity_types;
            let _ = writeln!(
                xml,
                "        <Property Name=\"_new_lookup{l}_value\" Type=\"Edm.Guid\"/>\n        <NavigationProperty Name=\"new_lookup{l}\" Type=\"mscrm.new_table{target:04}\" Nullable=\"false\" Partner=\"new_table{i:04}_lookup{l}\">\n          <ReferentialConstraint Property=\"_new_lookup{l}_value\" ReferencedProperty=\"new_table{target:04}id\"/>\n        </NavigationProperty>"
            );
        }
        for c in 0..6 {
            let source = (i * 11 + c * 17) % entity_types;
            let _ = writeln!(
                xml,
                "        <NavigationProperty Name=\"new_table{source:04}_lookup{c}\" Type=\"Collection(mscrm.new_table{source:04})\" Partner=\"new_lookup{c}\"/>"
            );
        }
        xml.push_str("      </EntityType>\n");
    }
    xml.push_str("      <EntityContainer Name=\"System\">\n");
    for i in 0..entity_types {
        let _ = writeln!(
            xml,
            "        <EntitySet Name=\"new_table{i:04}s\" EntityType=\"Microsoft.Dynamics.CRM.new_table{i:04}\">"
        );
        for l in 0..6 {
            let target = (i * 7 + l * 13) % entity_types;
            let _ = writeln!(
                xml,
                "          <NavigationPropertyBinding Path=\"new_lookup{l}\" Target=\"new_table{target:04}s\"/>"
            );
        }
        xml.push_str("        </EntitySet>\n");
    }
    xml.push_str("      </EntityContainer>\n    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    xml
}
