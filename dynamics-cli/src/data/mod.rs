//! `dynamics data import` and `dynamics data export`: records in and out of a table, checked
//! against the environment's `$metadata`, through `dynamics-client` (with an identity pool when
//! several connections are named).

mod columns;
mod csv;
mod export;
mod import;
mod progress;
mod rows;

use std::path::{Path, PathBuf};

use dynamics_client::Client;
use dynamics_codegen::choices::Choices;
use dynamics_codegen::csdl::Metadata;
use serde_json::{Value, json};

use crate::cli::DataCommand;
use crate::error::{CliError, Result};

/// The exit code of an import that finished but rejected some rows.
pub(crate) const EXIT_REJECTED: i32 = 8;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// What an import may do to existing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Create records; a record that already exists is a rejected row.
    Create,
    /// Create records, or update the ones that exist.
    Upsert,
    /// Update existing records; a missing record is a rejected row.
    Update,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::Upsert => "upsert",
            Mode::Update => "update",
        }
    }
}

pub(crate) async fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Import {
            table,
            file,
            format,
            mode,
            key,
            rejects,
            metadata,
            connection,
        } => {
            let client = connect(connection.as_deref())?;
            let format = format.unwrap_or_else(|| format_of(&file));
            let (metadata, schema) = load(&client, metadata.as_deref(), &table, true).await?;
            let rejects = rejects.unwrap_or_else(|| rejects_path(&file, format));
            let import = import::Import {
                file: &file,
                format,
                mode,
                key,
                rejects: rejects.clone(),
            };
            let outcome = import::run(&client, &metadata, &schema, &import).await?;
            eprintln!(
                "Imported {} row(s) into {}; {} already there (earlier run); {} rejected{}",
                outcome.written,
                crate::output::clean(&schema.entity_set),
                outcome.skipped,
                outcome.rejected,
                if outcome.rejected > 0 {
                    format!(" (see {})", rejects.display())
                } else {
                    String::new()
                }
            );
            if outcome.rejected > 0 {
                return Err(CliError::Rejected(outcome.rejected));
            }
            Ok(())
        }
        DataCommand::Export {
            table,
            select,
            filter,
            format,
            output,
            track,
            connection,
        } => {
            let client = connect(connection.as_deref())?;
            let format = format
                .or_else(|| output.as_deref().map(format_of))
                .unwrap_or(Format::Csv);
            let (_, schema) = load(&client, None, &table, false).await?;
            let export = export::Export {
                select,
                filter,
                format,
                output: output.as_deref(),
                track: track.as_deref(),
            };
            export::run(&client, &schema, &export).await?;
            Ok(())
        }
    }
}

/// The client: `--connection NAME` (several names separated by commas make an identity pool),
/// else `DYNAMICS_CONNECTION`, else `DYNAMICS_URL` with the `AZURE_*` variables.
fn connect(connection: Option<&str>) -> Result<Client> {
    match connection {
        Some(names) => {
            let names: Vec<&str> = names.split(',').map(str::trim).collect();
            Ok(match names.as_slice() {
                [one] => Client::from_connection(one)?,
                several => Client::from_connections(several)?,
            })
        }
        None => Client::from_env().map_err(|e| match e {
            dynamics_client::Error::InvalidInput(message) => CliError::Usage(format!(
                "{message}: name a connection with --connection or DYNAMICS_CONNECTION, or set \
                 DYNAMICS_URL and the AZURE_* variables"
            )),
            other => other.into(),
        }),
    }
}

/// `$metadata` from `--metadata FILE` or from the environment, the table in it, and the labels
/// of its choice columns from the environment's metadata API.
async fn load(
    client: &Client,
    path: Option<&Path>,
    table: &str,
    with_choices: bool,
) -> Result<(Metadata, columns::Schema)> {
    let metadata = match path {
        Some(path) => Metadata::from_path(path)?,
        None => {
            eprintln!("… Downloading $metadata");
            Metadata::parse(&client.metadata_document().await?)?
        }
    };
    let logical = metadata
        .entity_type(table)
        .or_else(|| metadata.entity_type_by_set(table))
        .map(|e| e.name.clone())
        .unwrap_or_else(|| table.to_owned());
    let choices = if with_choices {
        pull_choices(client, &logical).await
    } else {
        None
    };
    let schema = columns::Schema::new(&metadata, table, choices).map_err(CliError::Usage)?;
    Ok((metadata, schema))
}

/// The choices document of one table, read from the metadata API as `dynamics metadata pull
/// --choices` reads it; `None` (with a warning) when the environment does not answer it, so
/// that choices are then taken by value only.
async fn pull_choices(client: &Client, table: &str) -> Option<Choices> {
    let mut attributes = Vec::new();
    for cast in crate::choices::CASTS {
        let path = format!(
            "EntityDefinitions(LogicalName='{table}')/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet,GlobalOptionSet"
        );
        match client.get::<Value>(&path).await {
            Ok(body) => attributes.extend(crate::choices::cast_attributes(&body, cast)),
            Err(e) => {
                // The service's words, and a table name from the document: escaped for the
                // terminal like every text from outside.
                eprintln!(
                    "warning: choice labels of {} are not known ({}); choices are read by value only",
                    crate::output::clean(table),
                    crate::output::clean(&e.to_string())
                );
                return None;
            }
        }
    }
    let globals = client
        .get::<Value>("GlobalOptionSetDefinitions")
        .await
        .ok()
        .and_then(|v| v.get("value").cloned())
        .unwrap_or_else(|| json!([]));
    let document = json!({
        "EntityDefinitions": [{"LogicalName": table, "Attributes": attributes}],
        "GlobalOptionSetDefinitions": globals,
    });
    match Choices::parse(&document.to_string()) {
        Ok(choices) => Some(choices),
        Err(e) => {
            eprintln!(
                "warning: the option sets of {} do not read as choices ({})",
                crate::output::clean(table),
                crate::output::clean(&e.to_string())
            );
            None
        }
    }
}

/// The format a file's extension names: `.jsonl`/`.ndjson` JSON Lines, anything else CSV.
fn format_of(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson") => {
            Format::Jsonl
        }
        _ => Format::Csv,
    }
}

/// `F.rejects.csv` or `F.rejects.jsonl` beside the input.
fn rejects_path(file: &Path, format: Format) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(match format {
        Format::Csv => ".rejects.csv",
        Format::Jsonl => ".rejects.jsonl",
    });
    PathBuf::from(name)
}
