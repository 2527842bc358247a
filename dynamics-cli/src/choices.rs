//! The choices document: the option sets of every choice column, read from the Dataverse
//! metadata API in the shape `dynamics-codegen` reads (see `dynamics_codegen::choices`).

use serde_json::{Value, json};

use crate::dataverse::Dataverse;
use crate::error::{CliError, Result};
use crate::output;

/// The attribute metadata casts that carry option sets.
pub(crate) const CASTS: &[&str] = &[
    "PicklistAttributeMetadata",
    "MultiSelectPicklistAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
    "BooleanAttributeMetadata",
];

/// Reads the choice columns of `tables` and the global option sets.
pub(crate) async fn pull(dataverse: &Dataverse, tables: &[String]) -> Result<Value> {
    let mut definitions = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        if i % 25 == 0 {
            output::progress(&format!("Choices: table {} of {}", i + 1, tables.len()));
        }
        let mut attributes = Vec::new();
        for cast in CASTS {
            let body = dataverse
                .get_json(&format!(
                    "EntityDefinitions(LogicalName='{table}')/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet,GlobalOptionSet"
                ))
                .await?;
            attributes.extend(cast_attributes(&body, cast));
        }
        if !attributes.is_empty() {
            definitions.push(json!({"LogicalName": table, "Attributes": attributes}));
        }
    }
    let globals = dataverse.get_json("GlobalOptionSetDefinitions").await?;
    let document = json!({
        "EntityDefinitions": definitions,
        "GlobalOptionSetDefinitions": globals.get("value").cloned().unwrap_or_else(|| json!([])),
    });
    // Only write what the generator can read.
    dynamics_codegen::choices::Choices::parse(&document.to_string()).map_err(|e| {
        CliError::Service {
            service: "Dataverse metadata API",
            status: 200,
            message: format!("the option sets do not form a choices document: {e}"),
        }
    })?;
    Ok(document)
}

/// The attributes of one metadata cast's answer, each marked with its type: the cast names it,
/// and minimal metadata may leave `@odata.type` out.
pub(crate) fn cast_attributes(body: &Value, cast: &str) -> Vec<Value> {
    let mut attributes = body
        .get("value")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for attribute in &mut attributes {
        if let Some(map) = attribute.as_object_mut() {
            map.entry("@odata.type")
                .or_insert_with(|| json!(format!("#Microsoft.Dynamics.CRM.{cast}")));
        }
    }
    attributes
}

/// The tables of a `$metadata` document that have an entity set, by logical name.
pub(crate) fn tables(metadata: &dynamics_codegen::csdl::Metadata) -> Vec<String> {
    let mut tables: Vec<String> = metadata
        .entity_sets()
        .iter()
        .map(|set| {
            set.entity_type
                .rsplit('.')
                .next()
                .unwrap_or(&set.entity_type)
                .to_owned()
        })
        .collect();
    tables.sort();
    tables.dedup();
    tables
}
