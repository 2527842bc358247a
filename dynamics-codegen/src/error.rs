//! Errors of parsing, resolving and generating.

use std::fmt;
use std::path::PathBuf;

/// Where in a metadata document something is: the file when known, the line and the column
/// (both from 1, the column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file, when the document was read from one.
    pub file: Option<PathBuf>,
    /// The line, from 1.
    pub line: u32,
    /// The column in characters, from 1.
    pub column: u32,
}

impl Location {
    /// The location of a byte offset in `text`.
    pub(crate) fn at(text: &str, offset: usize) -> Self {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: None,
            line: saturate(before.bytes().filter(|b| *b == b'\n').count() + 1),
            column: saturate(before[line_start..].chars().count() + 1),
        }
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}:{}:{}", file.display(), self.line, self.column),
            None => write!(f, "line {}, column {}", self.line, self.column),
        }
    }
}

/// Everything that can go wrong in `dynamics-codegen`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file (the metadata document or a choices document) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The document is not well-formed XML.
    #[error("{location}: malformed XML: {message}")]
    Xml {
        /// Where.
        location: Location,
        /// What the XML reader said.
        message: String,
    },

    /// The document is XML but not an OData CSDL (`edmx:Edmx`) document.
    #[error("{location}: not an OData CSDL document: {message}")]
    NotCsdl {
        /// Where.
        location: Location,
        /// What was found instead.
        message: String,
    },

    /// A required attribute is missing.
    #[error("{location}: <{element}> has no `{attribute}` attribute")]
    MissingAttribute {
        /// Where.
        location: Location,
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
    },

    /// An attribute has a value that cannot be understood.
    #[error("{location}: <{element}> attribute `{attribute}` = {value:?}: expected {expected}")]
    InvalidAttribute {
        /// Where.
        location: Location,
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },

    /// An element appears where CSDL does not allow it.
    #[error("{location}: <{element}> is not allowed inside <{parent}>")]
    Misplaced {
        /// Where.
        location: Location,
        /// The element.
        element: String,
        /// Its parent.
        parent: String,
    },

    /// A type reference names no type of the document.
    #[error("{location}: {referrer} refers to unknown type `{type_name}`")]
    DanglingType {
        /// Where the reference is.
        location: Location,
        /// What refers to it (`property `x` of entity type `account``).
        referrer: String,
        /// The type as written.
        type_name: String,
    },

    /// A key names a property the type does not have.
    #[error("{location}: key of entity type `{entity_type}` names unknown property `{property}`")]
    DanglingKey {
        /// Where.
        location: Location,
        /// The entity type.
        entity_type: String,
        /// The property named by the key.
        property: String,
    },

    /// A non-abstract entity type with an entity set has no key, declared or inherited.
    #[error("{location}: entity type `{entity_type}` has entity set `{entity_set}` but no key")]
    MissingKey {
        /// Where the entity type is declared.
        location: Location,
        /// The entity type.
        entity_type: String,
        /// Its entity set.
        entity_set: String,
    },

    /// Two items share a name where names must be unique.
    #[error("{location}: duplicate {kind} `{name}` (first declared at line {first_line})")]
    Duplicate {
        /// Where the second one is.
        location: Location,
        /// What kind of item (`entity type`, `property of account`, ...).
        kind: String,
        /// The name.
        name: String,
        /// The line of the first one.
        first_line: u32,
    },

    /// A type inherits from itself, directly or not.
    #[error("{location}: type `{type_name}` inherits from itself")]
    InheritanceCycle {
        /// Where.
        location: Location,
        /// The type.
        type_name: String,
    },

    /// The document is larger than the limit (see
    /// [`csdl::max_document_bytes`](crate::csdl::max_document_bytes)); it was not read.
    #[error("the $metadata document has {size} bytes, more than the limit of {limit}; set {var} to raise it", var = crate::csdl::MAX_DOCUMENT_BYTES_VAR)]
    DocumentTooLarge {
        /// The document's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },

    /// The document nests deeper than a limit: inheritance chains longer than
    /// [`csdl::MAX_INHERITANCE_DEPTH`](crate::csdl::MAX_INHERITANCE_DEPTH), `Collection(...)`
    /// nested more than [`csdl::MAX_COLLECTION_NESTING`](crate::csdl::MAX_COLLECTION_NESTING),
    /// or more inherited members than
    /// [`csdl::MAX_INHERITED_MEMBERS`](crate::csdl::MAX_INHERITED_MEMBERS) to give derived types.
    #[error("{location}: {what} exceeds the limit of {limit}")]
    TooDeep {
        /// Where.
        location: Location,
        /// What is too deep or too many.
        what: String,
        /// The limit.
        limit: usize,
    },

    /// A choices document is not the JSON the metadata API returns.
    #[error("{location}: invalid choices document: {message}")]
    Choices {
        /// Where, with the file when read from one.
        location: Location,
        /// What the JSON reader said.
        message: String,
    },

    /// Generated code could not be formatted (a bug in the generator: please report it).
    #[error("generated code does not parse as Rust: {message}")]
    Format {
        /// What the Rust parser said.
        message: String,
    },

    /// A generated file could not be written.
    #[error("cannot write generated code to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The generator was asked for something it cannot do (no metadata, no tables, a bad path).
    #[error("{0}")]
    Settings(String),

    /// A table was asked for by a name the metadata does not have.
    #[error("{}", unknown_entity_message(.name, .suggestions))]
    UnknownEntity {
        /// The name asked for.
        name: String,
        /// The closest names the metadata has.
        suggestions: Vec<String>,
    },
}

fn unknown_entity_message(name: &str, suggestions: &[String]) -> String {
    let mut message = format!("unknown table `{name}`");
    match suggestions {
        [] => {}
        [one] => message.push_str(&format!("; did you mean `{one}`?")),
        many => message.push_str(&format!("; did you mean one of: {}?", many.join(", "))),
    }
    message.push_str(
        " (tables of Dynamics 365 apps, such as opportunity or incident, exist only in \
         environments where those apps are installed and licensed)",
    );
    message
}

/// The location of the variants that are about a place in a document, by reference or by
/// mutable reference: one list for both.
macro_rules! located {
    ($error:expr) => {
        match $error {
            Error::Xml { location, .. }
            | Error::NotCsdl { location, .. }
            | Error::MissingAttribute { location, .. }
            | Error::InvalidAttribute { location, .. }
            | Error::Misplaced { location, .. }
            | Error::DanglingType { location, .. }
            | Error::DanglingKey { location, .. }
            | Error::MissingKey { location, .. }
            | Error::Duplicate { location, .. }
            | Error::InheritanceCycle { location, .. }
            | Error::TooDeep { location, .. }
            | Error::Choices { location, .. } => Some(location),
            Error::Io { .. }
            | Error::DocumentTooLarge { .. }
            | Error::UnknownEntity { .. }
            | Error::Format { .. }
            | Error::Write { .. }
            | Error::Settings(_) => None,
        }
    };
}

impl Error {
    /// Where in the document the error is, when it is about a place in it.
    pub fn location(&self) -> Option<&Location> {
        located!(self)
    }

    /// Names the file in the error's location.
    pub(crate) fn in_file(mut self, file: PathBuf) -> Self {
        if let Some(location) = located!(&mut self) {
            location.file = Some(file);
        }
        self
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something in the document that was not understood but does not stop the SDK from using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub location: Location,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let text = "ab\ncé\nxyz";
        assert_eq!(
            Location::at(text, 0),
            Location {
                file: None,
                line: 1,
                column: 1
            }
        );
        // 'é' takes bytes 4 and 5; the newline at byte 6 is the third character of line 2.
        assert_eq!(
            (Location::at(text, 6).line, Location::at(text, 6).column),
            (2, 3)
        );
        assert_eq!(
            Location::at(text, 7),
            Location {
                file: None,
                line: 3,
                column: 1
            }
        );
        // An offset inside a character counts from that character's start.
        assert_eq!(Location::at(text, 5).column, 2);
        // Offsets past the end or inside a character never panic.
        assert_eq!(Location::at(text, 100).line, 3);
        assert_eq!(Location::at(text, 4).column, 2);
    }

    #[test]
    fn unknown_entity_lists_suggestions_and_app_hint() {
        let e = Error::UnknownEntity {
            name: "acount".into(),
            suggestions: vec!["account".into()],
        };
        let text = e.to_string();
        assert!(
            text.contains("unknown table `acount`; did you mean `account`?"),
            "{text}"
        );
        assert!(text.contains("installed and licensed"), "{text}");
    }
}
