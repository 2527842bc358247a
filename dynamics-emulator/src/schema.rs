//! The parts of the CSDL model the Web API consults on every request, indexed by entity set:
//! property types, keys, navigation properties, lookups and alternate keys.

use std::collections::HashMap;

use dynamics_codegen::csdl::{
    Annotation, AnnotationValue, EntityType, MaxLength, Metadata, Primitive, TypeRef,
};

/// The capability Dataverse puts on the entity set of every table with change tracking on.
const CHANGE_TRACKING: &str = "Org.OData.Capabilities.V1.ChangeTracking";

/// How a property's JSON value is checked and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Guid,
    Boolean,
    /// Integers with their inclusive range.
    Integer(i64, i64),
    Decimal,
    Double,
    Date,
    DateTimeOffset,
    Binary,
    /// Anything the emulator stores without checking (complex, enum, spatial...).
    Other,
}

/// Each Edm primitive type the emulator checks, with the [`Kind`] it is checked as
/// (`webapi/validate.rs::accepts` says what each kind takes); any other is stored unchecked.
/// Adding a type is one coherent change across the tables that point at each other: this one,
/// the generator's `EDM_TYPES` (`dynamics-codegen/src/generate/types.rs`), and the client's
/// `EDM_FORMS` (`dynamics-client/src/typed/edm.rs`: codecs and literal encoding).
const EDM_KINDS: &[(Primitive, Kind)] = &[
    (Primitive::String, Kind::String),
    (Primitive::Guid, Kind::Guid),
    (Primitive::Boolean, Kind::Boolean),
    (Primitive::Byte, Kind::Integer(0, 255)),
    (Primitive::SByte, Kind::Integer(-128, 127)),
    (
        Primitive::Int16,
        Kind::Integer(i16::MIN as i64, i16::MAX as i64),
    ),
    (
        Primitive::Int32,
        Kind::Integer(i32::MIN as i64, i32::MAX as i64),
    ),
    (Primitive::Int64, Kind::Integer(i64::MIN, i64::MAX)),
    (Primitive::Decimal, Kind::Decimal),
    (Primitive::Double, Kind::Double),
    (Primitive::Single, Kind::Double),
    (Primitive::Date, Kind::Date),
    (Primitive::DateTimeOffset, Kind::DateTimeOffset),
    (Primitive::Binary, Kind::Binary),
    // ISO 8601 text the generator keeps as written; stored unchecked, as Dataverse has no column
    // of either type in the metadata corpus to learn its checks from.
    (Primitive::Duration, Kind::Other),
    (Primitive::TimeOfDay, Kind::Other),
];

/// Each Edm type the emulator knows, with the kind it checks a value as (`Edm.Untyped` for
/// stored unchecked): for the test that keeps the generator's, the client's and the emulator's
/// tables in step (`tests/tests/edm_tables.rs`).
pub fn edm_kinds() -> Vec<(String, &'static str)> {
    EDM_KINDS
        .iter()
        .map(|(edm, kind)| (format!("{edm:?}"), kind.edm_name()))
        .collect()
}

impl Kind {
    pub(crate) fn of(ty: &TypeRef) -> Self {
        match ty {
            TypeRef::Primitive(p) => EDM_KINDS
                .iter()
                .find(|(edm, _)| edm == p)
                .map_or(Kind::Other, |(_, kind)| *kind),
            _ => Kind::Other,
        }
    }

    /// The EDM name for error messages.
    pub(crate) fn edm_name(self) -> &'static str {
        match self {
            Kind::String => "Edm.String",
            Kind::Guid => "Edm.Guid",
            Kind::Boolean => "Edm.Boolean",
            Kind::Integer(_, max) if max <= i32::MAX.into() => "Edm.Int32",
            Kind::Integer(..) => "Edm.Int64",
            Kind::Decimal => "Edm.Decimal",
            Kind::Double => "Edm.Double",
            Kind::Date => "Edm.Date",
            Kind::DateTimeOffset => "Edm.DateTimeOffset",
            Kind::Binary => "Edm.Binary",
            Kind::Other => "Edm.Untyped",
        }
    }
}

/// One structural property.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) max_length: Option<u64>,
    /// `Core.Computed`: the service sets it, writes are ignored.
    pub(crate) computed: bool,
    /// An `_x_value` lookup id, read-only on the wire.
    pub(crate) lookup: bool,
}

/// One navigation property.
#[derive(Clone, Debug)]
pub(crate) struct Nav {
    pub(crate) name: String,
    /// Qualified name of the target type.
    pub(crate) target: String,
    pub(crate) collection: bool,
    /// For a single-valued nav: the `_x_value` property it sets.
    pub(crate) lookup_property: Option<String>,
    pub(crate) partner: Option<String>,
}

/// An entity set and its type.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) set: String,
    pub(crate) logical_name: String,
    pub(crate) qualified_name: String,
    /// The key property (`accountid`; `ownerid` for users and teams).
    pub(crate) key: String,
    /// `{logical name}id` when the type has it, else the key: the id Dataverse reports.
    pub(crate) primary_id: String,
    pub(crate) columns: Vec<Column>,
    column_index: HashMap<String, usize>,
    pub(crate) navs: HashMap<String, Nav>,
    /// Alternate keys: each a list of (alias, property).
    pub(crate) alternate_keys: Vec<Vec<(String, String)>>,
    /// Whether the entity set supports change tracking (`Prefer: odata.track-changes`).
    pub(crate) change_tracking: bool,
}

impl Table {
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.column_index.get(name).map(|&i| &self.columns[i])
    }

    /// The single-valued navs that set the lookup `property`.
    pub(crate) fn navs_of_lookup<'a>(&'a self, property: &'a str) -> impl Iterator<Item = &'a Nav> {
        self.navs
            .values()
            .filter(move |n| n.lookup_property.as_deref() == Some(property))
    }
}

/// The resolved metadata, as the Web API uses it.
pub(crate) struct Schema {
    pub(crate) tables: HashMap<String, Table>,
    /// Entity sets in document order, for the service document.
    pub(crate) set_order: Vec<String>,
    /// Qualified type name → its base type's qualified name.
    bases: HashMap<String, String>,
    /// Qualified type name → entity set.
    set_of_type: HashMap<String, String>,
    /// Logical name → entity set.
    set_of_logical: HashMap<String, String>,
}

impl Schema {
    pub(crate) fn new(metadata: &Metadata) -> Self {
        let mut tables = HashMap::new();
        let mut set_order = Vec::new();
        let mut set_of_type = HashMap::new();
        for set in metadata.entity_sets() {
            let Some(ty) = metadata.entity_type_by_set(&set.name) else {
                continue;
            };
            // Dataverse keys are single GUIDs; a type without one cannot be addressed.
            let Some(key) = ty.primary_key() else {
                continue;
            };
            set_order.push(set.name.clone());
            set_of_type
                .entry(ty.qualified_name())
                .or_insert_with(|| set.name.clone());
            let mut table = table(&set.name, key, ty);
            table.change_tracking = change_tracking(&set.annotations);
            tables.insert(set.name.clone(), table);
        }
        let set_of_logical = tables
            .values()
            .map(|t: &Table| (t.logical_name.clone(), t.set.clone()))
            .collect();
        let bases = metadata
            .entity_types()
            .iter()
            .filter_map(|t| Some((t.qualified_name(), t.base_type.clone()?)))
            .collect();
        Self {
            tables,
            set_order,
            bases,
            set_of_type,
            set_of_logical,
        }
    }

    pub(crate) fn table(&self, set: &str) -> Option<&Table> {
        self.tables.get(set)
    }

    /// The entity set of a type given by qualified name.
    pub(crate) fn set_of_type(&self, qualified: &str) -> Option<&Table> {
        self.tables.get(self.set_of_type.get(qualified)?)
    }

    /// A column of the type `qualified` or, for an abstract type without a set (`principal`),
    /// of the first table deriving from it that has the column.
    pub(crate) fn column_of_type(&self, qualified: &str, name: &str) -> Option<&Column> {
        if let Some(table) = self.set_of_type(qualified) {
            return table.column(name);
        }
        self.set_order
            .iter()
            .filter_map(|set| self.tables.get(set))
            .filter(|t| self.derives_from(&t.qualified_name, qualified))
            .find_map(|t| t.column(name))
    }

    pub(crate) fn by_logical_name(&self, logical: &str) -> Option<&Table> {
        self.tables.get(self.set_of_logical.get(logical)?)
    }

    /// Whether `ty` is `ancestor` or derives from it.
    pub(crate) fn derives_from(&self, ty: &str, ancestor: &str) -> bool {
        let mut current = Some(ty);
        // The chain is finite unless the document is cyclic; the bound guards against that.
        for _ in 0..64 {
            match current {
                Some(t) if t == ancestor => return true,
                Some(t) => current = self.bases.get(t).map(String::as_str),
                None => return false,
            }
        }
        false
    }
}

fn table(set: &str, key: &str, ty: &EntityType) -> Table {
    let columns: Vec<Column> = ty
        .properties
        .iter()
        .map(|p| Column {
            name: p.name.clone(),
            kind: Kind::of(&p.ty),
            max_length: match p.facets.max_length {
                Some(MaxLength::Length(n)) => Some(n),
                _ => None,
            },
            computed: p.is_computed(),
            lookup: p.is_lookup_value(),
        })
        .collect();
    let column_index = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let navs = ty
        .navigation_properties
        .iter()
        .map(|n| {
            let lookup_property = (!n.collection)
                .then(|| {
                    n.referential_constraints
                        .first()
                        .map(|r| r.property.clone())
                })
                .flatten();
            let nav = Nav {
                name: n.name.clone(),
                target: n.target.clone(),
                collection: n.collection,
                lookup_property,
                partner: n.partner.clone(),
            };
            (n.name.clone(), nav)
        })
        .collect();
    let own_id = format!("{}id", ty.name);
    let primary_id = if ty.property(&own_id).is_some() {
        own_id
    } else {
        key.to_owned()
    };
    Table {
        set: set.to_owned(),
        logical_name: ty.name.clone(),
        qualified_name: ty.qualified_name(),
        key: key.to_owned(),
        primary_id,
        columns,
        column_index,
        navs,
        alternate_keys: ty
            .alternate_keys
            .iter()
            .map(|k| {
                k.parts
                    .iter()
                    .map(|p| (p.alias.clone(), p.property.clone()))
                    .collect()
            })
            .collect(),
        change_tracking: false,
    }
}

/// Whether an entity set's annotations turn change tracking on: the `ChangeTracking`
/// capability with `Supported` true, or left out (the vocabulary's default is true).
fn change_tracking(annotations: &[Annotation]) -> bool {
    annotations
        .iter()
        .filter(|a| a.term == CHANGE_TRACKING)
        .any(|a| match &a.value {
            AnnotationValue::Record { .. } => !matches!(
                a.value.record_property("Supported"),
                Some(value) if *value != AnnotationValue::Bool(true)
            ),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked_sets(annotations: &str) -> Vec<String> {
        let xml = format!(
            r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="account"><Key><PropertyRef Name="accountid"/></Key><Property Name="accountid" Type="Edm.Guid"/></EntityType>
      <EntityType Name="task"><Key><PropertyRef Name="activityid"/></Key><Property Name="activityid" Type="Edm.Guid"/></EntityType>
      <EntityContainer Name="System">
        <EntitySet Name="accounts" EntityType="Microsoft.Dynamics.CRM.account">{annotations}</EntitySet>
        <EntitySet Name="tasks" EntityType="Microsoft.Dynamics.CRM.task"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#
        );
        let metadata = Metadata::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        let schema = Schema::new(&metadata);
        let mut sets: Vec<String> = schema
            .tables
            .values()
            .filter(|t| t.change_tracking)
            .map(|t| t.set.clone())
            .collect();
        sets.sort();
        sets
    }

    #[test]
    fn change_tracking_follows_the_entity_set_capability() {
        let supported = |value: &str| {
            format!(
                r#"<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>{value}</Record></Annotation>"#
            )
        };
        let on = supported(r#"<PropertyValue Property="Supported" Bool="true"/>"#);
        assert_eq!(tracked_sets(&on), ["accounts"]);
        let off = supported(r#"<PropertyValue Property="Supported" Bool="false"/>"#);
        assert!(tracked_sets(&off).is_empty());
        // `Supported` defaults to true in the Capabilities vocabulary.
        assert_eq!(tracked_sets(&supported("")), ["accounts"]);
        let other = r#"<Annotation Term="Org.OData.Capabilities.V1.SkipSupported" Bool="true"/>"#;
        assert!(tracked_sets(other).is_empty());
        assert!(tracked_sets("").is_empty());
    }
}
