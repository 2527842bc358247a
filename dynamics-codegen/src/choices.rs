//! Choice columns: their values and labels, which `$metadata` does not carry.
//!
//! A choices document holds what the Dataverse metadata API answers, in its documented shapes:
//!
//! ```json
//! {
//!   "EntityDefinitions": [
//!     { "LogicalName": "account",
//!       "Attributes": [
//!         { "@odata.type": "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
//!           "LogicalName": "industrycode",
//!           "OptionSet": { "Name": "account_industrycode", "IsGlobal": false,
//!                          "OptionSetType": "Picklist",
//!                          "Options": [ { "Value": 1, "Label": { "LocalizedLabels": [
//!                              { "Label": "Accounting", "LanguageCode": 1033 } ] } } ] },
//!           "GlobalOptionSet": null } ] } ],
//!   "GlobalOptionSetDefinitions": [ ... OptionSetMetadata as `GET GlobalOptionSetDefinitions` lists them ... ]
//! }
//! ```
//!
//! Each `Attributes` item is an attribute as `EntityDefinitions(LogicalName='account')/Attributes/
//! Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet,GlobalOptionSet` returns it
//! (likewise the `State`, `Status`, `MultiSelectPicklist` and `Boolean` casts). A choice that uses
//! a global option set may carry just `GlobalOptionSet` with its `Name`; its options are then
//! looked up in `GlobalOptionSetDefinitions`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Location, Result};

/// The kind of a choice column, from the attribute's `@odata.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceKind {
    /// `PicklistAttributeMetadata`: one value.
    Picklist,
    /// `MultiSelectPicklistAttributeMetadata`: a set of values, `"1,2,3"` on the wire.
    MultiSelect,
    /// `StateAttributeMetadata` (`statecode`).
    State,
    /// `StatusAttributeMetadata` (`statuscode`).
    Status,
    /// `BooleanAttributeMetadata`: stays `bool` in generated code.
    Boolean,
}

/// One option of a choice: its value and its labels by language code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// The integer stored and sent on the wire.
    pub value: i32,
    /// Labels by language code (1033 = English).
    pub labels: BTreeMap<i32, String>,
}

impl ChoiceOption {
    /// The label in `language`, else the first label there is.
    pub fn label(&self, language: i32) -> Option<&str> {
        self.labels
            .get(&language)
            .or_else(|| self.labels.values().next())
            .map(String::as_str)
    }
}

/// An option set: local to one column, or global and shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSet {
    /// The option set's name (`account_industrycode`, or a global name).
    pub name: String,
    /// Whether it is a global option set, shared by columns of several tables.
    pub is_global: bool,
    /// Its options, in the service's order.
    pub options: Vec<ChoiceOption>,
}

/// One choice column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceColumn {
    /// The column's logical name.
    pub column: String,
    /// What kind of choice it is.
    pub kind: ChoiceKind,
    /// Its option set (for a global one, the global definition).
    pub option_set: OptionSet,
}

/// The choice columns of an environment, by table and column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    tables: BTreeMap<String, BTreeMap<String, ChoiceColumn>>,
    globals: BTreeMap<String, OptionSet>,
}

impl Choices {
    /// Reads a choices document.
    pub fn parse(text: &str) -> Result<Self> {
        let document: wire::Document = serde_json::from_str(text).map_err(|e| {
            // serde_json ends its message with the position, which the error carries apart.
            let message = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            Error::Choices {
                location: Location {
                    file: None,
                    line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                    column: u32::try_from(e.column()).unwrap_or(u32::MAX),
                },
                message: message
                    .strip_suffix(&suffix)
                    .map_or_else(|| message.clone(), str::to_owned),
            }
        })?;
        Self::from_wire(document)
    }

    /// Reads a choices document from a file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| e.in_file(path.to_owned()))
    }

    fn from_wire(document: wire::Document) -> Result<Self> {
        let mut globals = BTreeMap::new();
        for set in document.global_option_set_definitions {
            if let Some(set) = set.into_option_set(None)? {
                globals.insert(set.name.clone(), set);
            }
        }
        let mut tables: BTreeMap<String, BTreeMap<String, ChoiceColumn>> = BTreeMap::new();
        for entity in document.entity_definitions {
            let columns = tables.entry(entity.logical_name.clone()).or_default();
            for attribute in entity.attributes {
                let Some(kind) = attribute.kind() else {
                    continue;
                };
                let where_ = format!("{}.{}", entity.logical_name, attribute.logical_name);
                let option_set = match (attribute.option_set, attribute.global_option_set) {
                    (_, Some(global)) => {
                        let name = global.name.clone().unwrap_or_default();
                        match globals.get(&name) {
                            Some(known) if global.options.is_none() => known.clone(),
                            _ => match global.into_option_set(Some(&where_))? {
                                Some(set) => set,
                                None => continue,
                            },
                        }
                    }
                    (Some(local), None) => match local.into_option_set(Some(&where_))? {
                        Some(set) => set,
                        None => continue,
                    },
                    (None, None) => {
                        return Err(Error::Settings(format!(
                            "choices document: column `{where_}` has neither OptionSet nor GlobalOptionSet"
                        )));
                    }
                };
                if option_set.is_global {
                    globals
                        .entry(option_set.name.clone())
                        .or_insert_with(|| option_set.clone());
                }
                columns.insert(
                    attribute.logical_name.clone(),
                    ChoiceColumn {
                        column: attribute.logical_name,
                        kind,
                        option_set,
                    },
                );
            }
        }
        Ok(Choices { tables, globals })
    }

    /// The choice column `column` of `table`, if the document describes it.
    pub fn column(&self, table: &str, column: &str) -> Option<&ChoiceColumn> {
        self.tables.get(table)?.get(column)
    }

    /// The choice columns of a table, by column name.
    pub fn columns(&self, table: &str) -> impl Iterator<Item = &ChoiceColumn> {
        self.tables.get(table).into_iter().flat_map(|c| c.values())
    }

    /// The global option sets, by name.
    pub fn global_option_sets(&self) -> impl Iterator<Item = &OptionSet> {
        self.globals.values()
    }

    /// The tables the document describes.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

/// The JSON shapes of the metadata API, read leniently: every property the SDK does not use is
/// ignored, and missing collections are empty.
mod wire {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Document {
        #[serde(rename = "EntityDefinitions", default)]
        pub entity_definitions: Vec<Entity>,
        #[serde(rename = "GlobalOptionSetDefinitions", default)]
        pub global_option_set_definitions: Vec<OptionSetWire>,
    }

    #[derive(Deserialize)]
    pub(super) struct Entity {
        #[serde(rename = "LogicalName")]
        pub logical_name: String,
        #[serde(rename = "Attributes", default)]
        pub attributes: Vec<Attribute>,
    }

    #[derive(Deserialize)]
    pub(super) struct Attribute {
        #[serde(rename = "@odata.type", default)]
        pub odata_type: Option<String>,
        #[serde(rename = "AttributeType", default)]
        pub attribute_type: Option<String>,
        #[serde(rename = "LogicalName")]
        pub logical_name: String,
        #[serde(rename = "OptionSet", default)]
        pub option_set: Option<OptionSetWire>,
        #[serde(rename = "GlobalOptionSet", default)]
        pub global_option_set: Option<OptionSetWire>,
    }

    impl Attribute {
        pub(super) fn kind(&self) -> Option<ChoiceKind> {
            let odata = self.odata_type.as_deref().unwrap_or_default();
            let cast = odata.rsplit('.').next().unwrap_or_default();
            Some(match cast {
                "PicklistAttributeMetadata" => ChoiceKind::Picklist,
                "MultiSelectPicklistAttributeMetadata" => ChoiceKind::MultiSelect,
                "StateAttributeMetadata" => ChoiceKind::State,
                "StatusAttributeMetadata" => ChoiceKind::Status,
                "BooleanAttributeMetadata" => ChoiceKind::Boolean,
                // Without a cast, the attribute type says it.
                _ => match self.attribute_type.as_deref() {
                    Some("Picklist") => ChoiceKind::Picklist,
                    Some("State") => ChoiceKind::State,
                    Some("Status") => ChoiceKind::Status,
                    Some("Boolean") => ChoiceKind::Boolean,
                    _ => return None,
                },
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct OptionSetWire {
        #[serde(rename = "Name", default)]
        pub name: Option<String>,
        #[serde(rename = "IsGlobal", default)]
        pub is_global: Option<bool>,
        #[serde(rename = "Options", default)]
        pub options: Option<Vec<OptionWire>>,
        #[serde(rename = "TrueOption", default)]
        pub true_option: Option<OptionWire>,
        #[serde(rename = "FalseOption", default)]
        pub false_option: Option<OptionWire>,
    }

    impl OptionSetWire {
        /// `None` for an option set with no options at all (nothing to generate).
        pub(super) fn into_option_set(self, column: Option<&str>) -> Result<Option<OptionSet>> {
            let name = match (self.name, column) {
                (Some(name), _) if !name.is_empty() => name,
                (_, Some(column)) => column.replace('.', "_"),
                (_, None) => {
                    return Err(Error::Settings(
                        "choices document: a global option set has no Name".into(),
                    ));
                }
            };
            let mut options: Vec<ChoiceOption> = self
                .options
                .unwrap_or_default()
                .into_iter()
                .chain(self.false_option)
                .chain(self.true_option)
                .map(OptionWire::into_option)
                .collect();
            if options.is_empty() {
                return Ok(None);
            }
            let mut seen = std::collections::BTreeSet::new();
            options.retain(|o| seen.insert(o.value));
            Ok(Some(OptionSet {
                name,
                is_global: self.is_global.unwrap_or(false),
                options,
            }))
        }
    }

    #[derive(Deserialize)]
    pub(super) struct OptionWire {
        #[serde(rename = "Value")]
        pub value: i32,
        #[serde(rename = "Label", default)]
        pub label: Option<LabelWire>,
    }

    impl OptionWire {
        fn into_option(self) -> ChoiceOption {
            let mut labels = BTreeMap::new();
            if let Some(label) = self.label {
                for l in label
                    .localized_labels
                    .into_iter()
                    .chain(label.user_localized_label)
                {
                    labels.entry(l.language_code).or_insert(l.label);
                }
            }
            ChoiceOption {
                value: self.value,
                labels,
            }
        }
    }

    #[derive(Deserialize)]
    pub(super) struct LabelWire {
        #[serde(rename = "LocalizedLabels", default)]
        pub localized_labels: Vec<LocalizedLabelWire>,
        #[serde(rename = "UserLocalizedLabel", default)]
        pub user_localized_label: Option<LocalizedLabelWire>,
    }

    #[derive(Deserialize)]
    pub(super) struct LocalizedLabelWire {
        #[serde(rename = "Label")]
        pub label: String,
        #[serde(rename = "LanguageCode")]
        pub language_code: i32,
    }
}
