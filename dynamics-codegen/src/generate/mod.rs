//! Typed Rust from the resolved model: one struct per selected table, typed columns, lookup
//! setters, the complex and enum types they need, an extension trait giving typed CRUD per
//! entity set, and typed requests for the actions and functions selected. Generated code is
//! thin: everything with logic lives in `dynamics-client`.

mod choice;
mod complex;
mod entity;
mod ident;
mod operation;
mod types;

pub use types::edm_types;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proc_macro2::TokenStream;
use quote::quote;

use crate::choices::Choices;
use crate::csdl::{Metadata, Selection};
use crate::error::{Error, Result};
use ident::Names;

/// What to generate and how. Methods take `&mut self` so settings can be built up
/// conditionally (in a build script, or from macro arguments).
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    runtime_path: String,
    entities: Vec<String>,
    choices: Option<Arc<Choices>>,
    language: Option<i32>,
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        GeneratorSettings {
            runtime_path: "::dynamics_client".to_owned(),
            entities: Vec::new(),
            choices: None,
            language: None,
        }
    }
}

impl GeneratorSettings {
    /// The defaults: runtime `::dynamics_client`, no tables selected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The path through which generated code names the runtime, `::dynamics_client` by default.
    /// Crates that re-export the client set their own (`::my_sdk::dynamics_client`).
    pub fn with_runtime_path(&mut self, path: impl Into<String>) -> &mut Self {
        self.runtime_path = path.into();
        self
    }

    /// The tables to generate, by logical name; `"*"` selects every table. The actions and
    /// functions bound to a selected table come with it. An unbound action or function is
    /// selected by its `ActionImport`/`FunctionImport` name (`"WhoAmI"`), matched exactly;
    /// `"*"` does not select those.
    pub fn with_entities<I, S>(&mut self, entities: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entities = entities.into_iter().map(Into::into).collect();
        self
    }

    /// Every table of the metadata, with the operations bound to them (not the unbound ones).
    pub fn with_all_entities(&mut self) -> &mut Self {
        self.entities = vec!["*".to_owned()];
        self
    }

    /// Choice columns become enums, from this choices document; without one they stay
    /// integers. A document already shared (`Arc<Choices>`) is kept without a copy.
    pub fn with_choices(&mut self, choices: impl Into<Arc<Choices>>) -> &mut Self {
        self.choices = Some(choices.into());
        self
    }

    /// The language of the labels that choice variants are named after (a Dataverse language
    /// code, 1033 for English, the default); a label missing in it falls back to another.
    pub fn with_language(&mut self, language: i32) -> &mut Self {
        self.language = Some(language);
        self
    }

    /// The runtime path.
    pub fn runtime_path(&self) -> &str {
        &self.runtime_path
    }

    /// The tables selected.
    pub fn entities(&self) -> &[String] {
        &self.entities
    }
}

/// Turns a [`Metadata`] into Rust tokens for the selected tables.
#[derive(Debug, Clone)]
pub struct Generator {
    settings: GeneratorSettings,
}

impl Generator {
    /// A generator with these settings.
    pub fn new(settings: &GeneratorSettings) -> Self {
        Generator {
            settings: settings.clone(),
        }
    }

    /// Checks one name of a selection as [`Generator::generate_tokens`] will: `"*"`, a table,
    /// or the import name of an unbound operation; otherwise the error it would give (a bound
    /// operation's name says which tables to select; an unknown name gets suggestions).
    pub fn check_selected_name(metadata: &Metadata, name: &str) -> Result<()> {
        operation::split(metadata, &[name]).map(|_| ())
    }

    /// The code for the selected tables and operations and the complex and enum types they
    /// need. Unknown names are errors with suggestions.
    pub fn generate_tokens(&mut self, metadata: &Metadata) -> Result<TokenStream> {
        if self.settings.entities.is_empty() {
            return Err(Error::Settings(
                "no tables selected: name them (`entities([\"account\"])`) or select all with \"*\""
                    .to_owned(),
            ));
        }
        let runtime: TokenStream = self.settings.runtime_path.parse().map_err(|_| {
            Error::Settings(format!(
                "runtime path `{}` is not a Rust path",
                self.settings.runtime_path
            ))
        })?;
        let split = operation::split(metadata, &self.settings.entities)?;
        let mut selection = metadata.select(&split.tables)?;
        let operations = operation::plan(metadata, &split, &selection);
        operation::extend_selection(metadata, &mut selection, &operations);
        let context = Context::new(
            metadata,
            &selection,
            operations,
            runtime,
            &self.settings.runtime_path,
            self.settings.choices.as_deref(),
            self.settings.language.unwrap_or(1033),
        );
        Ok(context.generate())
    }
}

/// The names given to everything generated, decided once before any code is emitted so that
/// references between items always agree.
pub(crate) struct Context<'m> {
    metadata: &'m Metadata,
    selection: &'m Selection<'m>,
    runtime: TokenStream,
    /// The runtime path as text, for serde's string attributes.
    runtime_path: String,
    /// `::dynamics_client::__private::serde`, as serde's `crate = "..."` wants it.
    serde_crate: String,
    /// Qualified entity type name → struct name, for the selected tables.
    entity_names: HashMap<String, String>,
    /// Qualified complex type name → struct name inside `complex_types`.
    complex_names: HashMap<String, String>,
    /// Qualified enum type name → enum name inside `enum_types` (flags enums have none).
    enum_names: HashMap<String, String>,
    /// Choice columns of the selected tables and the enums they become.
    choices: choice::ChoicePlan<'m>,
    /// The top-level names taken so far (structs, choice enums), for lookup enums to avoid.
    top_names: Names,
    /// The actions and functions to generate, named.
    operations: Vec<operation::Planned<'m>>,
}

/// Names the generator itself puts at the top level.
const TOP_LEVEL: &[&str] = &["complex_types", "enum_types", "operations", "EntitySets"];

impl<'m> Context<'m> {
    fn new(
        metadata: &'m Metadata,
        selection: &'m Selection<'m>,
        operations: Vec<operation::Planned<'m>>,
        runtime: TokenStream,
        runtime_path: &str,
        choices: Option<&'m Choices>,
        language: i32,
    ) -> Self {
        let mut top = Names::camel_reserving(TOP_LEVEL);
        let entity_names = selection
            .entity_types
            .iter()
            .map(|t| (t.qualified_name(), top.unique(ident::type_name(&t.name))))
            .collect();
        let mut complex = Names::camel_reserving(&[]);
        let complex_names = selection
            .complex_types
            .iter()
            .map(|t| {
                (
                    t.qualified_name(),
                    complex.unique(ident::type_name(&t.name)),
                )
            })
            .collect();
        let mut enums = Names::camel_reserving(&[]);
        let enum_names = selection
            .enum_types
            .iter()
            .filter(|t| !t.is_flags)
            .map(|t| (t.qualified_name(), enums.unique(ident::type_name(&t.name))))
            .collect();
        let choices = choice::ChoicePlan::new(selection, choices, language, &mut top);
        let runtime_path = runtime_path.trim();
        Context {
            metadata,
            selection,
            runtime,
            serde_crate: format!("{runtime_path}::__private::serde"),
            runtime_path: runtime_path.to_owned(),
            entity_names,
            complex_names,
            enum_names,
            choices,
            top_names: top,
            operations,
        }
    }

    /// Whether the `complex_types` module is generated.
    fn has_complex_module(&self) -> bool {
        !self.selection.complex_types.is_empty()
    }

    /// Whether the `enum_types` module is generated: for enums, and whenever complex types
    /// are, since they import it.
    fn has_enum_module(&self) -> bool {
        !self.enum_names.is_empty() || self.has_complex_module()
    }

    fn complex_path(&self, qualified: &str) -> Option<TokenStream> {
        let name = ident::ident(self.complex_names.get(qualified)?);
        Some(quote!(complex_types::#name))
    }

    fn enum_path(&self, qualified: &str) -> Option<TokenStream> {
        let name = ident::ident(self.enum_names.get(qualified)?);
        Some(quote!(enum_types::#name))
    }

    fn generate(mut self) -> TokenStream {
        // Lookup enums share the top-level namespace with the structs and choice enums.
        let mut top = std::mem::take(&mut self.top_names);
        let choice_enums = self.choice_enums();
        let mut entities = TokenStream::new();
        let mut sets = BTreeMap::new();
        for t in &self.selection.entity_types {
            let generated = self.entity(t, &mut top);
            entities.extend(generated.tokens);
            if let Some((method, set)) = generated.entity_set {
                sets.insert(method, set);
            }
        }
        let complex = self.complex_types();
        let enums = self.enum_types();
        let sets = self.entity_sets_trait(sets);
        let operations = self.operations_module();
        quote! {
            #entities
            #choice_enums
            #sets
            #operations
            #complex
            #enums
        }
    }

    /// The extension trait that gives `client.accounts()`.
    fn entity_sets_trait(&self, sets: BTreeMap<String, (String, String)>) -> TokenStream {
        if sets.is_empty() {
            return TokenStream::new();
        }
        let rt = &self.runtime;
        let mut declarations = TokenStream::new();
        let mut implementations = TokenStream::new();
        for (method, (set, structure)) in &sets {
            let method = ident::ident(method);
            let structure = ident::ident(structure);
            let doc = Doc(format!(
                "The `{set}` entity set: typed create, retrieve, update, upsert, delete and query of [`{structure}`] records."
            ));
            declarations.extend(quote! {
                #[doc = #doc]
                fn #method(&self) -> #rt::entity::EntitySet<'_, #structure>;
            });
            implementations.extend(quote! {
                fn #method(&self) -> #rt::entity::EntitySet<'_, #structure> {
                    self.entity_set::<#structure>()
                }
            });
        }
        quote! {
            /// Typed access to the entity sets of the generated tables: bring this trait into
            /// scope and call `client.<entity set>()`.
            #[allow(dead_code)]
            pub trait EntitySets {
                #declarations
            }

            impl EntitySets for #rt::Client {
                #implementations
            }
        }
    }
}

/// The `#[serde(...)]` of an `Option` field: `rename` only where the Rust name differs from
/// the wire name, `default` only where a codec replaces serde's own `Option` handling (which
/// already reads a missing member as `None`), then how it is written.
pub(crate) fn field_serde(
    field: &str,
    wire: &str,
    codec: Option<&str>,
    write: TokenStream,
) -> TokenStream {
    let mut parts = Vec::new();
    if field != wire {
        parts.push(quote!(rename = #wire));
    }
    if codec.is_some() {
        parts.push(quote!(default));
    }
    parts.push(write);
    if let Some(codec) = codec {
        parts.push(quote!(with = #codec));
    }
    quote!(#[serde(#(#parts),*)])
}

/// Doc lines, each cleaned by [`doc_text`].
pub(crate) fn doc_lines(lines: &[String]) -> TokenStream {
    let mut out = TokenStream::new();
    for line in lines {
        let line = doc_text(&format!(" {line}"));
        out.extend(quote!(#[doc = #line]));
    }
    out
}

/// Doc text that quotes the document (descriptions, names, labels), as `#[doc = #doc]` takes
/// it: cleaned by [`doc_text`].
pub(crate) struct Doc(pub(crate) String);

impl quote::ToTokens for Doc {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        doc_text(&self.0).to_tokens(tokens);
    }
}

/// `text` safe in a generated `///` comment. The formatter writes doc attributes out as line
/// comments, so a carriage return, a line or paragraph separator, or another control character
/// in a description would end the comment for editors and other tools and show the rest as
/// code; those become spaces. Bidirectional formatting characters (which could make the code
/// read differently from how it compiles, and which rustc's `text_direction_codepoint_in_comment`
/// lint refuses) are dropped.
pub(crate) fn doc_text(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_format(*c))
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The Unicode bidirectional formatting characters (marks, embeddings, overrides, isolates).
fn is_bidi_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}
