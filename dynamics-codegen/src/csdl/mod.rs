//! The OData CSDL `$metadata` document of a Dataverse environment, parsed and resolved.
//!
//! ```
//! use dynamics_codegen::csdl::Metadata;
//!
//! let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
//!   <edmx:DataServices>
//!     <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
//!       <EntityType Name="account">
//!         <Key><PropertyRef Name="accountid"/></Key>
//!         <Property Name="accountid" Type="Edm.Guid"/>
//!         <Property Name="name" Type="Edm.String"/>
//!       </EntityType>
//!       <EntityContainer Name="System">
//!         <EntitySet Name="accounts" EntityType="mscrm.account"/>
//!       </EntityContainer>
//!     </Schema>
//!   </edmx:DataServices>
//! </edmx:Edmx>"#;
//! let metadata = Metadata::parse(xml)?;
//! let account = metadata.entity_type("account").unwrap();
//! assert_eq!(account.entity_set.as_deref(), Some("accounts"));
//! assert_eq!(account.primary_key(), Some("accountid"));
//! # Ok::<(), dynamics_codegen::Error>(())
//! ```

mod annotation;
mod hash;
mod model;
mod names;
mod parse;
mod prune;
mod resolve;
mod scan;
pub(crate) mod suggest;

use std::collections::BTreeSet;
use std::path::Path;

pub use annotation::{
    Annotation, AnnotationValue, CORE_COMPUTED, CORE_DESCRIPTION, CORE_OPTIONAL_PARAMETER,
    CORE_PERMISSIONS, KEYS_ALTERNATE_KEYS,
};
pub use model::*;

use crate::error::{Error, Result, Warning};
use hash::FastMap;
use model::qualified;

/// Where a named type lives in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeSlot {
    Entity(usize),
    Complex(usize),
    Enum(usize),
    Definition(usize),
}

/// A resolved `$metadata` document.
///
/// Entity, complex and enum types are sorted by name, so iteration is deterministic.
#[derive(Debug, Clone)]
pub struct Metadata {
    schemas: Vec<Schema>,
    includes: Vec<Include>,
    entity_types: Vec<EntityType>,
    complex_types: Vec<ComplexType>,
    enum_types: Vec<EnumType>,
    type_definitions: Vec<TypeDefinition>,
    operations: Vec<Operation>,
    terms: Vec<Term>,
    container: Option<EntityContainer>,
    annotations: Vec<OutOfLineAnnotations>,
    warnings: Vec<Warning>,
    by_qualified: FastMap<String, TypeSlot>,
    by_name: FastMap<String, usize>,
    by_set: FastMap<String, usize>,
}

/// The bytes of a metadata file, or an error naming it.
fn read(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    // A file past the limit is refused before it is read into memory.
    check_size(std::fs::metadata(path).map_err(io)?.len())
        .map_err(|e| e.in_file(path.to_owned()))?;
    std::fs::read(path).map_err(io)
}

/// The environment variable that raises (or lowers) [`max_document_bytes`]: a number of bytes.
pub const MAX_DOCUMENT_BYTES_VAR: &str = "DYNAMICS_METADATA_MAX_BYTES";

/// The default of [`max_document_bytes`]: 256 MiB, several times the largest Dataverse
/// `$metadata` with annotations.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

/// The longest `BaseType` chain accepted (Dataverse's deepest is 2: `crmbaseentity` →
/// `principal` → `systemuser`). A longer one is refused where it starts.
pub const MAX_INHERITANCE_DEPTH: usize = 64;

/// The most `Collection(...)` wrappers around one type reference (a collection of collections
/// is already more than a Dataverse document has).
pub const MAX_COLLECTION_NESTING: usize = 8;

/// The most inherited members (properties and navigation properties) all derived types of a
/// document get from their bases together. Each derived type holds its own copy of its bases'
/// members, so a document can ask for far more than its size: a few thousand types deriving
/// from one type with thousands of members. Real documents need a few hundred.
pub const MAX_INHERITED_MEMBERS: usize = 1_000_000;

/// The largest `$metadata` document read, in bytes: `DYNAMICS_METADATA_MAX_BYTES` when set to
/// a number, else [`DEFAULT_MAX_DOCUMENT_BYTES`]. Applies wherever a document is parsed: the
/// generator, `dynamics_entities!`, `dynamics metadata pull` and the emulator.
pub fn max_document_bytes() -> u64 {
    std::env::var(MAX_DOCUMENT_BYTES_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES)
}

fn check_size(size: u64) -> Result<()> {
    let limit = max_document_bytes();
    if size > limit {
        return Err(Error::DocumentTooLarge { size, limit });
    }
    Ok(())
}

/// The document as text, or an error at the first byte that is not UTF-8.
fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let text = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        Error::Xml {
            location: crate::error::Location::at(&text, text.len()),
            message: "the document is not valid UTF-8".into(),
        }
    })
}

impl Metadata {
    /// Parses and resolves a CSDL document. A leading byte-order mark is accepted.
    pub fn parse(text: &str) -> Result<Self> {
        check_size(text.len() as u64)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let document = parse::parse(text)?;
        resolve::resolve(text, document)
    }

    /// Parses raw bytes, which must be UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(utf8(bytes)?)
    }

    /// Reads, parses and resolves a file. Errors name the file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read(path)?;
        Self::parse_bytes(&bytes).map_err(|e| e.in_file(path.to_owned()))
    }

    /// Parses a document for generating code for some tables only: the named entity types
    /// and the types they derive from are read whole, as [`Metadata::parse`] reads them; every
    /// other entity type keeps its name, base type, key and entity set, but none of its other
    /// properties, navigation properties or annotations, and nothing inside those is checked or
    /// warned about; their entity sets keep no navigation property bindings or annotations.
    /// Everything else is read whole. Names may be qualified
    /// (`mscrm.account`); `"*"` reads everything, and names of no entity type (an operation's)
    /// are ignored here.
    ///
    /// Much faster than a full parse for a few tables of a large document, which matters where
    /// the parser runs unoptimised: inside `dynamics_entities!`. Whenever the shortened
    /// document gives an error or a warning, the whole one is parsed instead, so errors and
    /// warnings are those of [`Metadata::parse`], at the same lines and columns.
    pub fn parse_for_tables<S: AsRef<str>>(text: &str, tables: &[S]) -> Result<Self> {
        if let Some(shortened) = prune::cut_unselected(text, tables)
            && let Ok(metadata) = Self::parse(&shortened)
            && metadata.warnings.is_empty()
        {
            return Ok(metadata);
        }
        Self::parse(text)
    }

    /// [`Metadata::parse_for_tables`] of a file. Errors name the file.
    pub fn from_path_for_tables<S: AsRef<str>>(
        path: impl AsRef<Path>,
        tables: &[S],
    ) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read(path)?;
        utf8(&bytes)
            .and_then(|text| Self::parse_for_tables(text, tables))
            .map_err(|e| e.in_file(path.to_owned()))
    }

    pub(crate) fn assemble(doc: parse::Document, container: Option<EntityContainer>) -> Self {
        let mut entity_types = doc.entity_types;
        entity_types.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
        let mut complex_types = doc.complex_types;
        complex_types.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
        let mut enum_types = doc.enum_types;
        enum_types.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
        let mut type_definitions = doc.type_definitions;
        type_definitions.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));

        let mut by_qualified = FastMap::default();
        let mut by_name = FastMap::default();
        for (i, t) in entity_types.iter().enumerate() {
            by_qualified.insert(t.qualified_name(), TypeSlot::Entity(i));
            by_name.entry(t.name.clone()).or_insert(i);
        }
        for (i, t) in complex_types.iter().enumerate() {
            by_qualified.insert(t.qualified_name(), TypeSlot::Complex(i));
        }
        for (i, t) in enum_types.iter().enumerate() {
            by_qualified.insert(t.qualified_name(), TypeSlot::Enum(i));
        }
        for (i, t) in type_definitions.iter().enumerate() {
            by_qualified.insert(qualified(&t.namespace, &t.name), TypeSlot::Definition(i));
        }
        let by_set = entity_types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t.entity_set.clone()?, i)))
            .collect();

        Metadata {
            schemas: doc.schemas,
            includes: doc.includes,
            entity_types,
            complex_types,
            enum_types,
            type_definitions,
            operations: doc.operations,
            terms: doc.terms,
            container,
            annotations: doc.annotations,
            warnings: doc.warnings,
            by_qualified,
            by_name,
            by_set,
        }
    }

    /// The schemas, in the document's order.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// The referenced vocabularies.
    pub fn includes(&self) -> &[Include] {
        &self.includes
    }

    /// Every entity type, sorted by name.
    pub fn entity_types(&self) -> &[EntityType] {
        &self.entity_types
    }

    /// The entity type with this logical name (`account`) or qualified name
    /// (`Microsoft.Dynamics.CRM.account`). Names are matched exactly.
    pub fn entity_type(&self, name: &str) -> Option<&EntityType> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(&self.entity_types[i]);
        }
        match self.by_qualified.get(name) {
            Some(TypeSlot::Entity(i)) => Some(&self.entity_types[*i]),
            _ => None,
        }
    }

    /// Like [`Metadata::entity_type`], with an error that suggests the closest names.
    pub fn find_entity_type(&self, name: &str) -> Result<&EntityType> {
        self.entity_type(name).ok_or_else(|| Error::UnknownEntity {
            name: name.to_owned(),
            suggestions: suggest::closest(
                name,
                self.entity_types.iter().map(|t| t.name.as_str()),
                self.entity_types
                    .iter()
                    .filter_map(|t| Some((t.entity_set.as_deref()?, t.name.as_str()))),
            ),
        })
    }

    /// Whether entity type `ty` is `ancestor` or derives from it (both by qualified name), e.g.
    /// `systemuser` from the abstract `principal` that owner lookups point at. Resolution has
    /// refused inheritance cycles, so the walk ends.
    pub fn derives_from(&self, ty: &str, ancestor: &str) -> bool {
        let mut current = Some(ty);
        while let Some(name) = current {
            if name == ancestor {
                return true;
            }
            current = self.entity_type(name).and_then(|t| t.base_type.as_deref());
        }
        false
    }

    /// The entity type of an entity set (`accounts` → `account`).
    pub fn entity_type_by_set(&self, entity_set: &str) -> Option<&EntityType> {
        self.by_set.get(entity_set).map(|&i| &self.entity_types[i])
    }

    /// Every complex type, sorted by name.
    pub fn complex_types(&self) -> &[ComplexType] {
        &self.complex_types
    }

    /// The complex type with this qualified name.
    pub fn complex_type(&self, qualified_name: &str) -> Option<&ComplexType> {
        match self.by_qualified.get(qualified_name) {
            Some(TypeSlot::Complex(i)) => Some(&self.complex_types[*i]),
            _ => None,
        }
    }

    /// Every enum type, sorted by name.
    pub fn enum_types(&self) -> &[EnumType] {
        &self.enum_types
    }

    /// The enum type with this qualified name.
    pub fn enum_type(&self, qualified_name: &str) -> Option<&EnumType> {
        match self.by_qualified.get(qualified_name) {
            Some(TypeSlot::Enum(i)) => Some(&self.enum_types[*i]),
            _ => None,
        }
    }

    /// Every type definition, sorted by name.
    pub fn type_definitions(&self) -> &[TypeDefinition] {
        &self.type_definitions
    }

    /// The type definition with this qualified name.
    pub fn type_definition(&self, qualified_name: &str) -> Option<&TypeDefinition> {
        match self.by_qualified.get(qualified_name) {
            Some(TypeSlot::Definition(i)) => Some(&self.type_definitions[*i]),
            _ => None,
        }
    }

    /// Every action and function, overloads included, in the document's order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The actions.
    pub fn actions(&self) -> impl Iterator<Item = &Operation> {
        self.operations
            .iter()
            .filter(|o| o.kind == OperationKind::Action)
    }

    /// The functions.
    pub fn functions(&self) -> impl Iterator<Item = &Operation> {
        self.operations
            .iter()
            .filter(|o| o.kind == OperationKind::Function)
    }

    /// The overloads of the action or function with this name (`WinOpportunity`).
    pub fn operations_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Operation> {
        self.operations.iter().filter(move |o| o.name == name)
    }

    /// The operations bound to an entity type (by qualified name) or to collections of it.
    pub fn operations_bound_to<'a>(
        &'a self,
        qualified_name: &'a str,
    ) -> impl Iterator<Item = &'a Operation> {
        self.operations.iter().filter(move |o| {
            matches!(o.binding_type().map(TypeRef::element), Some(TypeRef::Entity(q)) if q == qualified_name)
        })
    }

    /// The bulk operation messages (`CreateMultiple`, `UpdateMultiple`, `UpsertMultiple`,
    /// `DeleteMultiple`, in that order) the document binds to collections of entity type `t`,
    /// directly or through a base type (Dataverse binds them to
    /// `Collection(mscrm.crmbaseentity)` where every table takes them). Older environments bind
    /// none; see "Use bulk operation messages"
    /// (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>).
    pub fn bulk_messages(&self, t: &EntityType) -> Vec<&'static str> {
        const MESSAGES: [&str; 4] = [
            "CreateMultiple",
            "UpdateMultiple",
            "UpsertMultiple",
            "DeleteMultiple",
        ];
        let qualified = t.qualified_name();
        MESSAGES
            .into_iter()
            .filter(|name| {
                self.operations_named(name).any(|op| {
                    op.binding_type().is_some_and(|ty| {
                        ty.is_collection()
                            && matches!(ty.element(), TypeRef::Entity(q) if self.derives_from(&qualified, q))
                    })
                })
            })
            .collect()
    }

    /// The terms the document declares.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The entity container, if the document has one.
    pub fn container(&self) -> Option<&EntityContainer> {
        self.container.as_ref()
    }

    /// The entity sets of the container.
    pub fn entity_sets(&self) -> &[EntitySet] {
        self.container.as_ref().map_or(&[], |c| &c.entity_sets)
    }

    /// The entity set with this name.
    pub fn entity_set(&self, name: &str) -> Option<&EntitySet> {
        self.entity_sets().iter().find(|s| s.name == name)
    }

    /// The `<Annotations Target=...>` elements, as written.
    pub fn out_of_line_annotations(&self) -> &[OutOfLineAnnotations] {
        &self.annotations
    }

    /// What the reader passed over (elements not modelled, stray text).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Counts of the document's items, as declared (inherited members not counted again).
    pub fn counts(&self) -> Counts {
        let declared_properties = self
            .entity_types
            .iter()
            .map(|t| t.declared_properties)
            .chain(self.complex_types.iter().map(|t| t.declared_properties))
            .sum();
        let declared_navigation = self
            .entity_types
            .iter()
            .map(|t| t.declared_navigation_properties)
            .chain(
                self.complex_types
                    .iter()
                    .map(|t| t.declared_navigation_properties),
            )
            .sum();
        Counts {
            entity_types: self.entity_types.len(),
            entity_sets: self.entity_sets().len(),
            complex_types: self.complex_types.len(),
            enum_types: self.enum_types.len(),
            actions: self.actions().count(),
            functions: self.functions().count(),
            properties: declared_properties,
            navigation_properties: declared_navigation,
        }
    }

    /// The entity types named (logical or qualified names) and the complex, enum and
    /// definition types their properties need, directly or through other complex types.
    ///
    /// `["*"]` selects every entity type. Unknown names are errors with suggestions.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<Selection<'_>> {
        let mut entity_types = BTreeSet::new();
        for name in names {
            let name = name.as_ref();
            if name == "*" {
                entity_types.extend(0..self.entity_types.len());
                continue;
            }
            let t = self.find_entity_type(name)?;
            if let Some(TypeSlot::Entity(i)) = self.by_qualified.get(&t.qualified_name()) {
                entity_types.insert(*i);
            }
        }
        let mut selection = Selection {
            entity_types: entity_types
                .iter()
                .map(|&i| &self.entity_types[i])
                .collect(),
            complex_types: Vec::new(),
            enum_types: Vec::new(),
            type_definitions: Vec::new(),
        };
        let properties = entity_types
            .iter()
            .flat_map(|&i| &self.entity_types[i].properties);
        self.add_needed_types(&mut selection, properties.map(|p| &p.ty));
        Ok(selection)
    }

    /// Adds to `selection` the complex, enum and definition types that `types` name, directly
    /// or through the properties of complex types. Each list stays in the metadata's order.
    pub(crate) fn add_needed_types<'m>(
        &'m self,
        selection: &mut Selection<'m>,
        types: impl IntoIterator<Item = &'m TypeRef>,
    ) {
        let mut complex = indexes_in(&self.complex_types, &selection.complex_types);
        let mut enums = indexes_in(&self.enum_types, &selection.enum_types);
        let mut definitions = indexes_in(&self.type_definitions, &selection.type_definitions);
        let mut pending: Vec<&TypeRef> = types.into_iter().collect();
        while let Some(ty) = pending.pop() {
            let Some(name) = ty.named() else { continue };
            match self.by_qualified.get(name) {
                Some(TypeSlot::Complex(i)) if complex.insert(*i) => {
                    pending.extend(self.complex_types[*i].properties.iter().map(|p| &p.ty));
                }
                Some(TypeSlot::Enum(i)) => {
                    enums.insert(*i);
                }
                Some(TypeSlot::Definition(i)) => {
                    definitions.insert(*i);
                }
                _ => {}
            }
        }
        selection.complex_types = complex
            .into_iter()
            .map(|i| &self.complex_types[i])
            .collect();
        selection.enum_types = enums.into_iter().map(|i| &self.enum_types[i]).collect();
        selection.type_definitions = definitions
            .into_iter()
            .map(|i| &self.type_definitions[i])
            .collect();
    }
}

/// The positions in `all` of the items of `chosen`, which borrow from it.
fn indexes_in<T>(all: &[T], chosen: &[&T]) -> BTreeSet<usize> {
    chosen
        .iter()
        .filter_map(|item| all.iter().position(|t| std::ptr::eq(t, *item)))
        .collect()
}

/// Counts of a document's items; see [`Metadata::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each field counts the CSDL element of its name
pub struct Counts {
    pub entity_types: usize,
    pub entity_sets: usize,
    pub complex_types: usize,
    pub enum_types: usize,
    pub actions: usize,
    pub functions: usize,
    pub properties: usize,
    pub navigation_properties: usize,
}

/// A selection of entity types with the types they depend on, each list sorted by name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Selection<'m> {
    /// The entity types selected.
    pub entity_types: Vec<&'m EntityType>,
    /// The complex types their properties need.
    pub complex_types: Vec<&'m ComplexType>,
    /// The enum types their properties need.
    pub enum_types: Vec<&'m EnumType>,
    /// The type definitions their properties need.
    pub type_definitions: Vec<&'m TypeDefinition>,
}
