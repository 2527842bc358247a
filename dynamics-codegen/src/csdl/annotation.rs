//! Vocabulary annotations: `<Annotation Term=".." ...>` with their constant or structured values.

use std::borrow::Cow;

/// `Org.OData.Core.V1.Description`.
pub const CORE_DESCRIPTION: &str = "Org.OData.Core.V1.Description";
/// `Org.OData.Core.V1.Computed`.
pub const CORE_COMPUTED: &str = "Org.OData.Core.V1.Computed";
/// `Org.OData.Core.V1.Permissions`.
pub const CORE_PERMISSIONS: &str = "Org.OData.Core.V1.Permissions";
/// `Org.OData.Core.V1.OptionalParameter`.
pub const CORE_OPTIONAL_PARAMETER: &str = "Org.OData.Core.V1.OptionalParameter";
/// `OData.Community.Keys.V1.AlternateKeys`.
pub const KEYS_ALTERNATE_KEYS: &str = "OData.Community.Keys.V1.AlternateKeys";

/// One annotation. The term is namespace-qualified whatever alias the document used.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Annotation {
    /// The qualified term (`Org.OData.Core.V1.Description`); the common terms are shared, not
    /// allocated.
    pub term: Cow<'static, str>,
    /// `Qualifier`.
    pub qualifier: Option<String>,
    /// The value.
    pub value: AnnotationValue,
}

/// The value of an annotation, a record property or a collection item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnnotationValue {
    /// No value given (a tagging term, which means `true`).
    Empty,
    /// `String="..."` or `<String>`.
    String(String),
    /// `Bool="..."` or `<Bool>`.
    Bool(bool),
    /// `Int="..."` or `<Int>`.
    Int(i64),
    /// `Decimal`, `Float`, `Date`, `DateTimeOffset`, `Guid`, `Duration`, `TimeOfDay`, `Binary`,
    /// kept as written with the expression's name.
    Literal {
        /// The expression's name (`Decimal`, `Guid`, ...).
        kind: String,
        /// The text as written.
        value: String,
    },
    /// `EnumMember`: one or more space-separated members.
    EnumMember(String),
    /// `Path`, `PropertyPath`, `NavigationPropertyPath`, `AnnotationPath`, `ModelElementPath`.
    Path {
        /// The expression's name.
        kind: String,
        /// The path.
        path: String,
    },
    /// `<Collection>`.
    Collection(Vec<AnnotationValue>),
    /// `<Record>`.
    Record {
        /// `Type`, as written.
        type_name: Option<String>,
        /// `PropertyValue` children, in order.
        properties: Vec<(String, AnnotationValue)>,
    },
    /// A dynamic expression we keep only by name (`If`, `Apply`, ...).
    Other(String),
}

impl AnnotationValue {
    /// The value of a record property with this name.
    pub fn record_property(&self, name: &str) -> Option<&AnnotationValue> {
        match self {
            AnnotationValue::Record { properties, .. } => {
                properties.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The string or path text of a scalar value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnnotationValue::String(s) | AnnotationValue::EnumMember(s) => Some(s),
            AnnotationValue::Path { path, .. } => Some(path),
            AnnotationValue::Literal { value, .. } => Some(value),
            _ => None,
        }
    }
}

pub(crate) fn description(annotations: &[Annotation]) -> Option<&str> {
    annotations
        .iter()
        .find(|a| a.term == CORE_DESCRIPTION)
        .and_then(|a| a.value.as_str())
        .filter(|s| !s.trim().is_empty())
}

pub(crate) fn bool_term(annotations: &[Annotation], term: &str) -> bool {
    annotations.iter().any(|a| {
        a.term == term
            && matches!(
                a.value,
                AnnotationValue::Bool(true) | AnnotationValue::Empty
            )
    })
}

/// The terms Dataverse writes most, so that annotations share them instead of allocating.
const COMMON_TERMS: [&str; 12] = [
    CORE_DESCRIPTION,
    CORE_PERMISSIONS,
    CORE_COMPUTED,
    CORE_OPTIONAL_PARAMETER,
    KEYS_ALTERNATE_KEYS,
    "Org.OData.Capabilities.V1.SkipSupported",
    "Org.OData.Capabilities.V1.SearchRestrictions",
    "Org.OData.Capabilities.V1.NavigationRestrictions",
    "Org.OData.Capabilities.V1.IndexableByKey",
    "Org.OData.Capabilities.V1.CountRestrictions",
    "Org.OData.Capabilities.V1.ChangeTracking",
    "Org.OData.Core.V1.LongDescription",
];

/// A term as written or qualified: a shared `'static` string when it is a common one.
pub(crate) fn term(name: &str) -> Cow<'static, str> {
    match COMMON_TERMS.iter().find(|t| **t == name) {
        Some(t) => Cow::Borrowed(t),
        None => Cow::Owned(name.to_owned()),
    }
}

/// Like [`term`], keeping the string already allocated when the term is not a common one.
pub(crate) fn term_owned(name: String) -> Cow<'static, str> {
    match COMMON_TERMS.iter().find(|t| **t == name) {
        Some(t) => Cow::Borrowed(t),
        None => Cow::Owned(name),
    }
}
