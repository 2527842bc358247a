//! Choice columns as Rust enums: variants named from the labels, the integers on the wire, an
//! `Unknown(i32)` variant so that a value added later in the environment never breaks reading.

use std::collections::{BTreeMap, HashMap};

use proc_macro2::TokenStream;
use quote::quote;

use super::ident::{self, Names};
use super::{Context, doc_lines};
use crate::choices::{ChoiceKind, Choices, OptionSet};
use crate::csdl::Selection;

/// The enum a choice column is read as.
#[derive(Clone)]
pub(crate) struct ChoiceType {
    pub name: String,
    pub multi_select: bool,
}

/// Which choice columns of the selection become which enums, decided before code is written.
#[derive(Default)]
pub(crate) struct ChoicePlan<'m> {
    /// Table → column → its enum; names borrowed from the metadata, so a lookup builds no key.
    columns: HashMap<&'m str, HashMap<&'m str, ChoiceType>>,
    /// Enum name → the option set it enumerates and where it comes from, in name order.
    enums: BTreeMap<String, (&'m OptionSet, String)>,
    language: i32,
}

impl<'m> ChoicePlan<'m> {
    pub(crate) fn new(
        selection: &Selection<'m>,
        choices: Option<&'m Choices>,
        language: i32,
        top: &mut Names,
    ) -> Self {
        let mut plan = ChoicePlan {
            language,
            ..ChoicePlan::default()
        };
        let Some(choices) = choices else { return plan };
        // Global option sets are generated once, named after themselves.
        let mut globals: HashMap<&str, String> = HashMap::new();
        for t in &selection.entity_types {
            for column in choices.columns(&t.name) {
                if column.kind == ChoiceKind::Boolean {
                    continue; // two-option columns stay `bool`
                }
                let Some(property) = t.property(&column.column) else {
                    continue;
                };
                let set = &column.option_set;
                let name = if set.is_global {
                    globals
                        .entry(set.name.as_str())
                        .or_insert_with(|| {
                            let name = top.unique(ident::type_name(&set.name));
                            plan.enums.insert(
                                name.clone(),
                                (set, format!("global choice `{}`", set.name)),
                            );
                            name
                        })
                        .clone()
                } else {
                    let name = top.unique(format!(
                        "{}{}",
                        ident::type_name(&t.name),
                        ident::type_name(&column.column)
                    ));
                    plan.enums.insert(
                        name.clone(),
                        (set, format!("choice `{}` of `{}`", column.column, t.name)),
                    );
                    name
                };
                plan.columns.entry(t.name.as_str()).or_default().insert(
                    property.name.as_str(),
                    ChoiceType {
                        name,
                        multi_select: column.kind == ChoiceKind::MultiSelect,
                    },
                );
            }
        }
        plan
    }

    pub(crate) fn column(&self, table: &str, column: &str) -> Option<&ChoiceType> {
        self.columns.get(table)?.get(column)
    }
}

impl Context<'_> {
    /// The type of a choice column's field value, when the column is a choice.
    pub(crate) fn choice_type(&self, table: &str, column: &str) -> Option<TokenStream> {
        let choice = self.choices.column(table, column)?;
        let name = ident::ident(&choice.name);
        let rt = &self.runtime;
        Some(if choice.multi_select {
            quote!(#rt::entity::MultiChoice<#name>)
        } else {
            quote!(#name)
        })
    }

    pub(crate) fn choice_enums(&self) -> TokenStream {
        let rt = &self.runtime;
        let mut out = TokenStream::new();
        for (name, (set, origin)) in &self.choices.enums {
            let enum_ident = ident::ident(name);
            let mut variants = Names::camel_reserving(&["Unknown"]);
            let mut variant_tokens = TokenStream::new();
            let mut to_value = TokenStream::new();
            let mut from_value = TokenStream::new();
            let mut options = TokenStream::new();
            for option in &set.options {
                let label = option.label(self.choices.language).unwrap_or_default();
                let raw = if !ident::has_latin_letters(label) {
                    format!("Value{}", option.value)
                } else {
                    label.to_owned()
                };
                let variant = ident::ident(&variants.unique(ident::type_name(&raw)));
                let value = option.value;
                let doc = super::Doc(format!(" `{label}` ({value})."));
                variant_tokens.extend(quote! {
                    #[doc = #doc]
                    #variant,
                });
                to_value.extend(quote!(#enum_ident::#variant => #value,));
                from_value.extend(quote!(#value => #enum_ident::#variant,));
                options.extend(quote!((#value, #label),));
            }
            let docs = doc_lines(&[
                format!("The {origin} (option set `{}`).", set.name),
                String::new(),
                "Values the environment gained after this code was generated read as `Unknown`."
                    .to_owned(),
            ]);
            out.extend(quote! {
                #docs
                #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq,
                    ::core::cmp::PartialOrd, ::core::cmp::Ord, ::core::hash::Hash)]
                #[non_exhaustive]
                #[allow(dead_code)]
                pub enum #enum_ident {
                    #variant_tokens
                    /// A value this code does not know.
                    Unknown(i32),
                }

                impl #rt::entity::Choice for #enum_ident {
                    const OPTIONS: &'static [(i32, &'static str)] = &[#options];
                    fn value(&self) -> i32 {
                        match *self {
                            #to_value
                            #enum_ident::Unknown(value) => value,
                        }
                    }
                    fn from_value(value: i32) -> Self {
                        match value {
                            #from_value
                            other => #enum_ident::Unknown(other),
                        }
                    }
                }

                impl #rt::__private::serde::Serialize for #enum_ident {
                    fn serialize<S: #rt::__private::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                        #rt::__private::choice::serialize(self, serializer)
                    }
                }

                impl<'de> #rt::__private::serde::Deserialize<'de> for #enum_ident {
                    fn deserialize<D: #rt::__private::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                        #rt::__private::choice::deserialize(deserializer)
                    }
                }

                impl #rt::query::Literal for #enum_ident {
                    fn write_literal(&self, out: &mut ::std::string::String) {
                        #rt::query::Literal::write_literal(&#rt::entity::Choice::value(self), out)
                    }
                }
            });
        }
        out
    }
}
