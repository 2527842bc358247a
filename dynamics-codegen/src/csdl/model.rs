//! The items of a CSDL document, as the rest of the SDK sees them once resolved.
//!
//! Every item keeps its names exactly as the document spells them: case matters on the wire
//! (`customerid_account`, `FK_CanvasApp_Solution`). Type references keep the text as written
//! ([`Property::type_name`]) beside the resolved [`TypeRef`].

use std::borrow::Cow;
use std::sync::Arc;

use super::annotation::Annotation;

/// `namespace.name`, allocated once at its exact size.
pub(crate) fn qualified(namespace: &str, name: &str) -> String {
    let mut q = String::with_capacity(namespace.len() + 1 + name.len());
    q.push_str(namespace);
    q.push('.');
    q.push_str(name);
    q
}

/// An EDM primitive type (`Edm.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(missing_docs)] // the variants are the EDM names
pub enum Primitive {
    Binary,
    Boolean,
    Byte,
    Date,
    DateTimeOffset,
    Decimal,
    Double,
    Duration,
    Guid,
    Int16,
    Int32,
    Int64,
    SByte,
    Single,
    Stream,
    String,
    TimeOfDay,
    Geography,
    GeographyPoint,
    GeographyLineString,
    GeographyPolygon,
    GeographyMultiPoint,
    GeographyMultiLineString,
    GeographyMultiPolygon,
    GeographyCollection,
    Geometry,
    GeometryPoint,
    GeometryLineString,
    GeometryPolygon,
    GeometryMultiPoint,
    GeometryMultiLineString,
    GeometryMultiPolygon,
    GeometryCollection,
    Untyped,
    /// The abstract `Edm.PrimitiveType`.
    PrimitiveType,
    /// The abstract `Edm.ComplexType`.
    ComplexType,
    /// The abstract `Edm.EntityType`.
    EntityType,
    /// `Edm.AnnotationPath`, `Edm.PropertyPath` and the other path types of vocabularies.
    Path,
}

impl Primitive {
    /// Looks up the primitive named by the part after `Edm.` (`"Guid"`, `"DateTimeOffset"`).
    pub fn from_edm_name(name: &str) -> Option<Self> {
        use Primitive::*;
        Some(match name {
            "Binary" => Binary,
            "Boolean" => Boolean,
            "Byte" => Byte,
            "Date" => Date,
            "DateTimeOffset" => DateTimeOffset,
            "Decimal" => Decimal,
            "Double" => Double,
            "Duration" => Duration,
            "Guid" => Guid,
            "Int16" => Int16,
            "Int32" => Int32,
            "Int64" => Int64,
            "SByte" => SByte,
            "Single" => Single,
            "Stream" => Stream,
            "String" => String,
            "TimeOfDay" => TimeOfDay,
            "Geography" => Geography,
            "GeographyPoint" => GeographyPoint,
            "GeographyLineString" => GeographyLineString,
            "GeographyPolygon" => GeographyPolygon,
            "GeographyMultiPoint" => GeographyMultiPoint,
            "GeographyMultiLineString" => GeographyMultiLineString,
            "GeographyMultiPolygon" => GeographyMultiPolygon,
            "GeographyCollection" => GeographyCollection,
            "Geometry" => Geometry,
            "GeometryPoint" => GeometryPoint,
            "GeometryLineString" => GeometryLineString,
            "GeometryPolygon" => GeometryPolygon,
            "GeometryMultiPoint" => GeometryMultiPoint,
            "GeometryMultiLineString" => GeometryMultiLineString,
            "GeometryMultiPolygon" => GeometryMultiPolygon,
            "GeometryCollection" => GeometryCollection,
            "Untyped" => Untyped,
            "PrimitiveType" => PrimitiveType,
            "ComplexType" => ComplexType,
            "EntityType" => EntityType,
            "AnnotationPath"
            | "PropertyPath"
            | "NavigationPropertyPath"
            | "AnyPropertyPath"
            | "ModelElementPath" => Path,
            _ => return None,
        })
    }
}

/// A resolved reference to a type. Named types are held by their namespace-qualified name
/// (`Microsoft.Dynamics.CRM.account`), whatever alias the document used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    /// An `Edm.*` primitive.
    Primitive(Primitive),
    /// An entity type.
    Entity(String),
    /// A complex type.
    Complex(String),
    /// An enum type.
    Enum(String),
    /// A type definition (a named primitive).
    Definition(String),
    /// `Collection(T)`.
    Collection(Box<TypeRef>),
}

impl TypeRef {
    /// The element type of a collection, or the type itself.
    pub fn element(&self) -> &TypeRef {
        match self {
            TypeRef::Collection(inner) => inner.element(),
            other => other,
        }
    }

    /// Whether this is `Collection(T)`.
    pub fn is_collection(&self) -> bool {
        matches!(self, TypeRef::Collection(_))
    }

    /// The qualified name of a named type (entity, complex, enum or definition), if it is one.
    pub fn named(&self) -> Option<&str> {
        match self.element() {
            TypeRef::Entity(n)
            | TypeRef::Complex(n)
            | TypeRef::Enum(n)
            | TypeRef::Definition(n) => Some(n),
            _ => None,
        }
    }

    // Placeholder until resolution replaces it; never seen outside this crate.
    pub(crate) fn unresolved() -> Self {
        TypeRef::Primitive(Primitive::Untyped)
    }
}

/// The `MaxLength` facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxLength {
    /// A number of characters (or bytes for binary).
    Length(u64),
    /// `MaxLength="max"`.
    Max,
}

/// The `Scale` facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// A fixed number of digits after the decimal point.
    Digits(u32),
    /// `Scale="variable"` (Dataverse writes `Variable`).
    Variable,
}

/// The facets shared by properties, parameters, return types and type definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// `Nullable`, `true` when absent (except on collections of entities, where it has no meaning).
    pub nullable: bool,
    /// `MaxLength`.
    pub max_length: Option<MaxLength>,
    /// `Precision`.
    pub precision: Option<u32>,
    /// `Scale`.
    pub scale: Option<Scale>,
    /// `SRID`, as written (`variable` or a number).
    pub srid: Option<String>,
    /// `Unicode`.
    pub unicode: Option<bool>,
}

/// A structural property of an entity or complex type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Property {
    /// The name on the wire (`accountid`, `_parentaccountid_value`, `type`).
    pub name: String,
    /// The type as written in the document (`Edm.Guid`, `Collection(mscrm.Label)`); the common
    /// `Edm.*` names are shared, not allocated.
    pub type_name: Cow<'static, str>,
    /// The resolved type.
    pub ty: TypeRef,
    /// Nullable, MaxLength, Precision, Scale, SRID, Unicode.
    pub facets: Facets,
    /// `DefaultValue`, as written.
    pub default_value: Option<String>,
    /// `ConcurrencyMode="Fixed"`.
    pub concurrency_fixed: bool,
    /// The qualified name of the type that declares it (differs from the owner when inherited),
    /// shared by all the members the type declares.
    pub declared_in: Arc<str>,
    /// Inline annotations, and out-of-line ones that target this property.
    pub annotations: Vec<Annotation>,
    pub(crate) offset: usize,
}

impl Property {
    /// The `Org.OData.Core.V1.Description` annotation, if present and not empty.
    pub fn description(&self) -> Option<&str> {
        super::annotation::description(&self.annotations)
    }

    /// Whether the service computes the value (`Org.OData.Core.V1.Computed`).
    pub fn is_computed(&self) -> bool {
        super::annotation::bool_term(&self.annotations, super::annotation::CORE_COMPUTED)
    }

    /// Whether this is a lookup's id column, `_x_value`.
    pub fn is_lookup_value(&self) -> bool {
        lookup_name(&self.name).is_some()
    }
}

/// `_customerid_value` → `customerid`.
pub(crate) fn lookup_name(property: &str) -> Option<&str> {
    property
        .strip_prefix('_')?
        .strip_suffix("_value")
        .filter(|n| !n.is_empty())
}

/// A `ReferentialConstraint` of a navigation property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferentialConstraint {
    /// The property of the declaring type (`_parentaccountid_value`).
    pub property: String,
    /// The property of the target type (`accountid`).
    pub referenced_property: String,
}

/// A navigation property: a relationship to another entity type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NavigationProperty {
    /// The name, exactly as written (used in `$expand` and `@odata.bind`).
    pub name: String,
    /// The type as written (`mscrm.account`, `Collection(mscrm.contact)`).
    pub type_name: Cow<'static, str>,
    /// The qualified name of the target entity type.
    pub target: String,
    /// Whether it is collection-valued.
    pub collection: bool,
    /// `Nullable`, `true` when absent.
    pub nullable: bool,
    /// `Partner`.
    pub partner: Option<String>,
    /// `ContainsTarget`.
    pub contains_target: bool,
    /// `ReferentialConstraint` children.
    pub referential_constraints: Vec<ReferentialConstraint>,
    /// `OnDelete Action`, if any.
    pub on_delete: Option<String>,
    /// The qualified name of the type that declares it, shared by all the members it declares.
    pub declared_in: Arc<str>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
    pub(crate) offset: usize,
}

/// One target of a lookup: the navigation property that sets it and the table it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupTarget {
    /// The single-valued navigation property, exactly as written (`customerid_account`).
    pub navigation_property: String,
    /// The qualified name of the target entity type.
    pub entity_type: String,
    /// The target's logical name (`account`).
    pub logical_name: String,
    /// The target's entity set (`accounts`), when it has one.
    pub entity_set: Option<String>,
    /// The key property of the target that the lookup holds (`accountid`).
    pub referenced_property: String,
}

/// A lookup column: one `_x_value` property and the navigation properties tied to it.
///
/// A polymorphic lookup (`customerid`, `regardingobjectid`, `ownerid`) has several targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The lookup's name without decoration (`customerid`).
    pub name: String,
    /// The id property on the wire (`_customerid_value`).
    pub property: String,
    /// Targets, sorted by navigation property name.
    pub targets: Vec<LookupTarget>,
}

impl Lookup {
    /// Whether the lookup can point at more than one table.
    pub fn is_polymorphic(&self) -> bool {
        self.targets.len() > 1
    }
}

/// One part of an alternate key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateKeyPart {
    /// The alias used in URLs.
    pub alias: String,
    /// The property it stands for.
    pub property: String,
}

/// An alternate key (`OData.Community.Keys.V1.AlternateKeys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateKey {
    /// The key's parts, in the document's order.
    pub parts: Vec<AlternateKeyPart>,
}

/// An entity type, with inheritance flattened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntityType {
    /// The name, which Dataverse uses as the table's logical name (`account`).
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// `BaseType`, resolved to its qualified name.
    pub base_type: Option<String>,
    /// `Abstract`.
    pub is_abstract: bool,
    /// `OpenType`.
    pub open_type: bool,
    /// `HasStream`.
    pub has_stream: bool,
    /// The key property names, inherited when the type declares none.
    pub key: Vec<String>,
    /// All properties, inherited ones first, each with its declaring type.
    pub properties: Vec<Property>,
    /// All navigation properties, inherited ones first.
    pub navigation_properties: Vec<NavigationProperty>,
    /// Inline annotations, and out-of-line ones that target this type.
    pub annotations: Vec<Annotation>,
    /// The entity set of this type, when the container has one.
    pub entity_set: Option<String>,
    /// Lookup columns, sorted by name.
    pub lookups: Vec<Lookup>,
    /// Alternate keys.
    pub alternate_keys: Vec<AlternateKey>,
    pub(crate) declared_properties: usize,
    pub(crate) declared_navigation_properties: usize,
    pub(crate) offset: usize,
}

impl EntityType {
    /// `Namespace.Name`.
    pub fn qualified_name(&self) -> String {
        qualified(&self.namespace, &self.name)
    }

    /// The property with exactly this name.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The navigation property with exactly this name (case matters).
    pub fn navigation_property(&self, name: &str) -> Option<&NavigationProperty> {
        self.navigation_properties.iter().find(|n| n.name == name)
    }

    /// The lookup whose name (`customerid`) or property (`_customerid_value`) this is.
    pub fn lookup(&self, name: &str) -> Option<&Lookup> {
        self.lookups
            .iter()
            .find(|l| l.name == name || l.property == name)
    }

    /// The single key property, when the key has exactly one part.
    pub fn primary_key(&self) -> Option<&str> {
        match self.key.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The properties declared on this type itself, not inherited.
    pub fn declared_properties(&self) -> &[Property] {
        &self.properties[self.properties.len() - self.declared_properties..]
    }

    /// The navigation properties declared on this type itself, not inherited.
    pub fn declared_navigation_properties(&self) -> &[NavigationProperty] {
        let all = &self.navigation_properties;
        &all[all.len() - self.declared_navigation_properties..]
    }

    /// The `Org.OData.Core.V1.Description` annotation, if present and not empty.
    pub fn description(&self) -> Option<&str> {
        super::annotation::description(&self.annotations)
    }
}

/// A complex type, with inheritance flattened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ComplexType {
    /// The name.
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// `BaseType`, resolved to its qualified name.
    pub base_type: Option<String>,
    /// `Abstract`.
    pub is_abstract: bool,
    /// `OpenType`.
    pub open_type: bool,
    /// All properties, inherited ones first.
    pub properties: Vec<Property>,
    /// All navigation properties, inherited ones first.
    pub navigation_properties: Vec<NavigationProperty>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
    pub(crate) declared_properties: usize,
    pub(crate) declared_navigation_properties: usize,
    pub(crate) offset: usize,
}

impl ComplexType {
    /// `Namespace.Name`.
    pub fn qualified_name(&self) -> String {
        qualified(&self.namespace, &self.name)
    }

    /// The properties declared on this type itself, not inherited.
    pub fn declared_properties(&self) -> &[Property] {
        &self.properties[self.properties.len() - self.declared_properties..]
    }
}

/// A member of an enum type.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumMember {
    /// The name.
    pub name: String,
    /// The value, given or implied by position.
    pub value: i64,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
}

/// An enum type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnumType {
    /// The name.
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// `UnderlyingType`, `Int32` when absent.
    pub underlying_type: Primitive,
    /// `IsFlags`.
    pub is_flags: bool,
    /// Members, in the document's order.
    pub members: Vec<EnumMember>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
    pub(crate) offset: usize,
}

impl EnumType {
    /// `Namespace.Name`.
    pub fn qualified_name(&self) -> String {
        qualified(&self.namespace, &self.name)
    }
}

/// A type definition: a named primitive with facets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TypeDefinition {
    /// The name.
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// `UnderlyingType`.
    pub underlying_type: Primitive,
    /// Facets.
    pub facets: Facets,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
}

/// Whether an operation is an action or a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperationKind {
    /// May change data; called with POST.
    Action,
    /// Has no side effects; called with GET.
    Function,
}

/// A parameter of an action or function.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Parameter {
    /// The name.
    pub name: String,
    /// The type as written.
    pub type_name: Cow<'static, str>,
    /// The resolved type.
    pub ty: TypeRef,
    /// Facets.
    pub facets: Facets,
    /// Inline annotations (`Org.OData.Core.V1.OptionalParameter`, ...).
    pub annotations: Vec<Annotation>,
    pub(crate) offset: usize,
}

impl Parameter {
    /// Whether the parameter is marked optional (`Org.OData.Core.V1.OptionalParameter`).
    pub fn is_optional(&self) -> bool {
        self.annotations
            .iter()
            .any(|a| a.term == super::annotation::CORE_OPTIONAL_PARAMETER)
    }
}

/// The return type of an action or function.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReturnType {
    /// The type as written.
    pub type_name: Cow<'static, str>,
    /// The resolved type.
    pub ty: TypeRef,
    /// Facets.
    pub facets: Facets,
}

/// An action or a function. Overloads share a name and differ by binding parameter type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Operation {
    /// Action or function.
    pub kind: OperationKind,
    /// The name.
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// `IsBound`: the first parameter is the binding parameter.
    pub is_bound: bool,
    /// `IsComposable` (functions only).
    pub is_composable: bool,
    /// `EntitySetPath`.
    pub entity_set_path: Option<String>,
    /// Parameters, the binding parameter first when bound.
    pub parameters: Vec<Parameter>,
    /// The return type, if any.
    pub return_type: Option<ReturnType>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
    pub(crate) offset: usize,
}

impl Operation {
    /// `Namespace.Name`.
    pub fn qualified_name(&self) -> String {
        qualified(&self.namespace, &self.name)
    }

    /// The binding parameter's type, when bound.
    pub fn binding_type(&self) -> Option<&TypeRef> {
        if self.is_bound {
            self.parameters.first().map(|p| &p.ty)
        } else {
            None
        }
    }
}

/// A term: a vocabulary annotation declared by the document.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Term {
    /// The name.
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// The type as written.
    pub type_name: String,
    /// `AppliesTo`, as written.
    pub applies_to: Option<String>,
    /// `BaseTerm`, as written.
    pub base_term: Option<String>,
    /// `DefaultValue`.
    pub default_value: Option<String>,
    /// `Nullable`.
    pub nullable: bool,
}

/// A `NavigationPropertyBinding` of an entity set or singleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavigationPropertyBinding {
    /// The navigation property path.
    pub path: String,
    /// The target entity set, as written (it may not exist: Dataverse binds `ownerid` to `owners`).
    pub target: String,
}

/// An entity set of the container.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntitySet {
    /// The name (`accounts`), used in URLs.
    pub name: String,
    /// The qualified name of its entity type.
    pub entity_type: String,
    /// `NavigationPropertyBinding` children.
    pub navigation_property_bindings: Vec<NavigationPropertyBinding>,
    /// `IncludeInServiceDocument`, `true` when absent.
    pub include_in_service_document: bool,
    /// Inline annotations (capabilities and the like).
    pub annotations: Vec<Annotation>,
}

/// A singleton of the container.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Singleton {
    /// The name.
    pub name: String,
    /// The qualified name of its entity type.
    pub entity_type: String,
    /// `NavigationPropertyBinding` children.
    pub navigation_property_bindings: Vec<NavigationPropertyBinding>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
}

/// An `ActionImport` or `FunctionImport`: an unbound operation exposed at the service root.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OperationImport {
    /// Action or function.
    pub kind: OperationKind,
    /// The name used in URLs.
    pub name: String,
    /// The qualified name of the operation.
    pub operation: String,
    /// `EntitySet`, as written.
    pub entity_set: Option<String>,
    /// `IncludeInServiceDocument`.
    pub include_in_service_document: bool,
}

/// The entity container.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EntityContainer {
    /// The name (`System` for Dataverse).
    pub name: String,
    /// The schema namespace.
    pub namespace: String,
    /// Entity sets, in the document's order.
    pub entity_sets: Vec<EntitySet>,
    /// Singletons.
    pub singletons: Vec<Singleton>,
    /// Action and function imports.
    pub operation_imports: Vec<OperationImport>,
    /// Inline annotations.
    pub annotations: Vec<Annotation>,
}

/// An `<Annotations Target="...">` element: annotations written apart from their target.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutOfLineAnnotations {
    /// The target path as written (`mscrm.account`, `mscrm.account/name`).
    pub target: String,
    /// `Qualifier`.
    pub qualifier: Option<String>,
    /// The annotations.
    pub annotations: Vec<Annotation>,
}

/// A schema: its namespace and alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// `Namespace` (`Microsoft.Dynamics.CRM`).
    pub namespace: String,
    /// `Alias` (`mscrm`).
    pub alias: Option<String>,
}

/// A referenced vocabulary (`edmx:Reference`/`edmx:Include`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The namespace.
    pub namespace: String,
    /// Its alias, if any.
    pub alias: Option<String>,
    /// The `Uri` of the reference.
    pub uri: String,
}
