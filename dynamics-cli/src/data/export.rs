//! `dynamics data export`: a table's records page by page to CSV or JSON Lines, one page in
//! memory at a time; with `--track`, only what changed since the last run, through change
//! tracking (`Prefer: odata.track-changes`).
//!
//! Lookups are written under their name as `table:id` (from the `_x_value` column and its
//! `Microsoft.Dynamics.CRM.lookuplogicalname` annotation), the form `import` reads back.
//! With `--track`, each output row ends with an `@removed` column: empty for a created or
//! changed record, `deleted` for a deleted one, which carries its id only (JSON Lines:
//! `"@removed": {"reason": "deleted"}`, as OData's delta format writes it).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::pin;

use dynamics_client::{
    Client,
    changes::{Change, DeltaLink},
    table::Table,
};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Format;
use super::columns::Schema;
use super::csv::Writer;
use super::progress::Progress;
use crate::error::{CliError, Result};

const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
const PAGE_SIZE: u32 = 5000;

/// What `export` was asked to do.
pub(crate) struct Export<'a> {
    pub select: Vec<String>,
    pub filter: Option<String>,
    pub format: Format,
    pub output: Option<&'a Path>,
    pub track: Option<&'a Path>,
}

/// What `--track` keeps between runs.
#[derive(Debug, Serialize, Deserialize)]
struct TrackState {
    table: String,
    select: Vec<String>,
    delta_link: DeltaLink,
}

/// Exports and returns how many rows were written.
pub(crate) async fn run(client: &Client, schema: &Schema, export: &Export<'_>) -> Result<u64> {
    let columns = columns(schema, &export.select)?;
    let table = Table::new(&schema.entity_set)?;
    let mut sink = Sink::open(
        export.output,
        export.format,
        &columns,
        export.track.is_some(),
    )?;
    let mut progress = Progress::new("export", None, || client.throttled_for());
    let wire: Vec<&str> = columns.iter().map(|c| c.wire.as_str()).collect();
    match export.track {
        None => {
            let mut query = format!("$select={}", wire.join(","));
            if let Some(filter) = &export.filter {
                query.push_str("&$filter=");
                query.push_str(
                    &percent_encoding::utf8_percent_encode(
                        filter,
                        percent_encoding::NON_ALPHANUMERIC,
                    )
                    .to_string(),
                );
            }
            let mut pages =
                pin!(client.json_pages(&table, &query, PAGE_SIZE, &[LOOKUP_LOGICAL_NAME]));
            while let Some(page) = pages.try_next().await? {
                for record in &page.records {
                    sink.record(&columns, record, false)?;
                }
                progress.advance(page.records.len() as u64);
            }
        }
        Some(state_path) => {
            if export.filter.is_some() {
                return Err(CliError::Usage(
                    "--filter cannot be used with --track: Dataverse refuses $filter with change \
                     tracking"
                        .into(),
                ));
            }
            let since = read_state(state_path, schema, &export.select)?;
            let mut pages = pin!(client.json_changes(
                &table,
                &wire,
                since.as_ref(),
                PAGE_SIZE,
                &[LOOKUP_LOGICAL_NAME]
            ));
            let mut next = None;
            while let Some(page) = pages.try_next().await? {
                for change in &page.changes {
                    match change {
                        Change::Upserted(record) => sink.record(&columns, record, false)?,
                        Change::Deleted(id) => {
                            let mut record = Map::new();
                            record.insert(schema.primary_key.clone(), json!(id));
                            sink.record(&columns, &record, true)?;
                        }
                    }
                }
                progress.advance(page.changes.len() as u64);
                next = page.delta_link.or(next);
            }
            let written = sink.finish()?;
            progress.finish();
            // The new link is saved only once everything it covers is written.
            let delta_link = next.ok_or_else(|| CliError::Service {
                service: "Dataverse",
                status: 200,
                message: "the last page of changes carried no delta link".into(),
            })?;
            let state = TrackState {
                table: schema.entity_set.clone(),
                select: export.select.clone(),
                delta_link,
            };
            let text = serde_json::to_string_pretty(&state).unwrap_or_default();
            crate::commands::write_atomic(state_path, text.as_bytes())?;
            return Ok(written);
        }
    }
    let written = sink.finish()?;
    progress.finish();
    Ok(written)
}

/// One output column: its name in the file and what is read for it.
struct Column {
    name: String,
    wire: String,
    lookup: bool,
}

fn columns(schema: &Schema, select: &[String]) -> Result<Vec<Column>> {
    let mut names: Vec<String> = vec![schema.primary_key.clone()];
    let wanted: Vec<String> = if select.is_empty() {
        schema
            .readable
            .iter()
            .cloned()
            .chain(schema.lookups.keys().cloned())
            .collect()
    } else {
        select.to_vec()
    };
    for name in wanted {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            if let Some(value) = schema.lookups.get(&name) {
                return Ok(Column {
                    wire: value.clone(),
                    name,
                    lookup: true,
                });
            }
            if schema.readable.contains(&name) {
                return Ok(Column {
                    wire: name.clone(),
                    name,
                    lookup: false,
                });
            }
            Err(CliError::Usage(format!(
                "--select {name}: {} has no such column",
                schema.logical_name
            )))
        })
        .collect()
}

/// The delta link of the last run, when the state file exists and matches.
fn read_state(path: &Path, schema: &Schema, select: &[String]) -> Result<Option<DeltaLink>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("read", path)(e)),
    };
    let state: TrackState = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a --track state file: {e}",
            path.display()
        ))
    })?;
    if state.table != schema.entity_set || state.select != select {
        return Err(CliError::Usage(format!(
            "{} tracks {} with --select {}; use the same table and columns, or another state file",
            path.display(),
            state.table,
            state.select.join(",")
        )));
    }
    Ok(Some(state.delta_link))
}

/// Where rows go: a temporary file renamed over `-o FILE` at the end, or standard output.
struct Sink {
    out: Box<dyn Write>,
    format: Format,
    tracked: bool,
    /// `(temporary, final)` when writing to a file.
    file: Option<(PathBuf, PathBuf)>,
    written: u64,
}

impl Sink {
    fn open(
        path: Option<&Path>,
        format: Format,
        columns: &[Column],
        tracked: bool,
    ) -> Result<Self> {
        let (out, file): (Box<dyn Write>, _) = match path {
            None => (Box::new(BufWriter::new(std::io::stdout().lock())), None),
            Some(path) => {
                let temp = temporary(path);
                let file = File::create(&temp).map_err(CliError::io("create", &temp))?;
                (
                    Box::new(BufWriter::new(file)),
                    Some((temp, path.to_owned())),
                )
            }
        };
        let mut sink = Sink {
            out,
            format,
            tracked,
            file,
            written: 0,
        };
        if format == Format::Csv {
            let mut header: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            if tracked {
                header.push("@removed");
            }
            Writer::new(&mut sink.out)
                .write(&header)
                .map_err(|e| sink.io_error(e))?;
        }
        Ok(sink)
    }

    fn record(
        &mut self,
        columns: &[Column],
        record: &Map<String, Value>,
        deleted: bool,
    ) -> Result<()> {
        let values = columns.iter().map(|c| value(c, record));
        let written = match self.format {
            Format::Csv => {
                let mut cells: Vec<String> = values.map(|v| cell(&v)).collect();
                if self.tracked {
                    cells.push(if deleted {
                        "deleted".into()
                    } else {
                        String::new()
                    });
                }
                Writer::new(&mut self.out).write(&cells)
            }
            Format::Jsonl => {
                let mut object = Map::new();
                for (column, value) in columns.iter().zip(values) {
                    if !(deleted && value.is_null()) {
                        object.insert(column.name.clone(), value);
                    }
                }
                if deleted {
                    object.insert("@removed".into(), json!({"reason": "deleted"}));
                }
                writeln!(self.out, "{}", Value::Object(object))
            }
        };
        self.written += 1;
        written.map_err(|e| self.io_error(e))
    }

    fn finish(mut self) -> Result<u64> {
        self.out.flush().map_err(|e| self.io_error(e))?;
        drop(std::mem::replace(&mut self.out, Box::new(std::io::sink())));
        if let Some((temp, path)) = self.file.take() {
            std::fs::rename(&temp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                CliError::io("rename into", &path)(e)
            })?;
            eprintln!("Wrote {} ({} rows)", path.display(), self.written);
        }
        Ok(self.written)
    }

    fn io_error(&self, e: std::io::Error) -> CliError {
        match &self.file {
            Some((_, path)) => CliError::io("write", path)(e),
            None => CliError::io("write", "standard output")(e),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // An export that failed leaves no half-written file behind.
        if let Some((temp, _)) = &self.file {
            let _ = std::fs::remove_file(temp);
        }
    }
}

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// A column's value in a record; a lookup as `table:id`.
fn value(column: &Column, record: &Map<String, Value>) -> Value {
    let Some(value) = record.get(&column.wire) else {
        return Value::Null;
    };
    if column.lookup
        && let Value::String(id) = value
    {
        let annotation = format!("{}@{LOOKUP_LOGICAL_NAME}", column.wire);
        if let Some(Value::String(table)) = record.get(&annotation) {
            return Value::String(format!("{table}:{id}"));
        }
    }
    value.clone()
}

/// A value as CSV text: strings as they are, numbers with their digits, null empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
