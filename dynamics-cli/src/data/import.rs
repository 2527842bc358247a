//! `dynamics data import`: every row checked against the table's metadata, bad rows to the
//! rejects file with their line and reason, the rest written in bulk, and a journal that lets
//! an interrupted run be resumed without duplicates.
//!
//! # How a rerun resumes
//!
//! Each row gets a fingerprint: a hash of the table, the settings, the row's converted columns
//! and how many identical rows came before it in the file. It does not depend on the row's
//! position, so fixing a rejected row or removing rows leaves the other rows' fingerprints as
//! they were. A row created by this command without an id of its own is created under an id
//! made from its fingerprint, with a create-only upsert (`PATCH` with `If-None-Match: *`), so
//! sending it twice can never create two records.
//!
//! The journal (`<file>.import-journal`, beside the input) records the fingerprints of the
//! rows about to be sent (`sent`) and of the rows written (`done`), flushed to disk before and
//! after each chunk. A rerun with the same file and settings skips the `done` rows. A row
//! that was `sent` but not `done` (the run stopped while it was in flight) is sent again, and
//! a "record already exists" answer to its create-only write is then read as the earlier
//! run's success. Delete the journal to import the file again from the start.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use dynamics_client::{
    Client,
    bulk::{BulkEngine, BulkMessages, EngineOptions},
    entity::UpsertMode,
    query::Literal,
    table::{JsonWrite, RecordKey, Table},
};
use futures::stream::{Stream, StreamExt as _};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::columns::{Schema, Target, convert};
use super::csv::Writer;
use super::progress::Progress;
use super::rows::{Cell, Original, Row, Rows};
use super::{Format, Mode};
use crate::error::{CliError, Result};

/// Rows recorded in the journal at a time: as `sent` before the engine gets any of them, and
/// as `done` once written.
const CHUNK: usize = 1000;

/// What `import` was asked to do.
pub(crate) struct Import<'a> {
    pub file: &'a Path,
    pub format: Format,
    pub mode: Mode,
    pub key: Vec<String>,
    pub rejects: PathBuf,
}

/// How an import ended.
pub(crate) struct Outcome {
    pub written: u64,
    pub skipped: u64,
    pub rejected: u64,
}

/// A row ready to send.
struct Ready {
    line: u64,
    fingerprint: u128,
    write: JsonWrite,
    /// The row as it was, for the rejects file should the service refuse it.
    original: Original,
}

pub(crate) async fn run(
    client: &Client,
    metadata: &dynamics_codegen::csdl::Metadata,
    schema: &Schema,
    import: &Import<'_>,
) -> Result<Outcome> {
    let plan = Plan::new(metadata, schema, import)?;
    let journal_path = journal_path(import.file);
    let settings = plan.settings(client);
    let journal = Journal::open(&journal_path, &settings)?;
    let mut rejects = Rejects::create(&import.rejects, import.format)?;

    // First pass: every row checked, nothing sent; the bad ones go to the rejects file now.
    let mut total = 0u64;
    let mut occurrences: HashMap<u128, u32> = HashMap::new();
    let mut rows = Rows::open(import.file, import.format)?;
    rejects.header(rows.header());
    while let Some(row) = rows.next_row(import.file)? {
        match plan.prepare(&row, &mut occurrences) {
            Ok(_) => total += 1,
            Err(reason) => rejects.write(&row, &reason)?,
        }
    }
    let checked_rejects = rejects.count;
    if checked_rejects > 0 {
        eprintln!(
            "{checked_rejects} row(s) rejected before sending; see {}",
            import.rejects.display()
        );
    }

    // Second pass: the good rows through the bulk engine, skipping those the journal has as
    // done. The engine reads rows as it has room for them, so memory stays bounded.
    let table = Table::new(&schema.entity_set)?.with_bulk_messages(
        &schema.logical_name,
        &schema.primary_key,
        bulk_messages(metadata, schema),
    )?;
    let engine =
        BulkEngine::new(client.clone()).options(engine_options(total, client.identity_count()))?;
    let mut progress = Progress::new("import", total, || engine.progress().throttle_wait);
    let sending = Mutex::new(Sending {
        journal,
        pending: HashMap::new(),
        done: Vec::new(),
        skipped: 0,
        failure: None,
    });
    let input = ReadRows {
        rows: Rows::open(import.file, import.format)?,
        file: import.file,
        plan: &plan,
        occurrences: HashMap::new(),
        block: VecDeque::new(),
        handed: 0,
        sending: &sending,
    }
    .into_stream();
    let mut outcome = Outcome {
        written: 0,
        skipped: 0,
        rejected: 0,
    };
    // The engine, and the rows it reads, are done with `sending` at the end of this block.
    {
        let mut results = std::pin::pin!(engine.write_json(&table, input));
        while let Some((index, result)) = results.next().await {
            let mut sending = sending.lock().unwrap_or_else(PoisonError::into_inner);
            let row = sending
                .pending
                .remove(&index)
                .expect("every result is for a row handed to the engine");
            match result {
                Ok(()) => {
                    outcome.written += 1;
                    sending.done.push(row.fingerprint);
                }
                // A create-only write of a row an earlier run sent: that run created the record.
                Err(dynamics_client::Error::ConcurrencyConflict(_))
                    if import.mode == Mode::Create
                        && sending.journal.sent_before.contains(&row.fingerprint) =>
                {
                    outcome.skipped += 1;
                    sending.done.push(row.fingerprint);
                }
                Err(e) => {
                    let row = Row {
                        line: row.line,
                        original: row.original,
                        cells: Ok(Vec::new()),
                    };
                    rejects.write(&row, &format!("the service refused the row: {e}"))?;
                }
            }
            if sending.done.len() >= CHUNK {
                sending.record_done()?;
            }
            let skipped = std::mem::take(&mut sending.skipped);
            outcome.skipped += skipped;
            progress.advance(1 + skipped);
        }
    }
    let mut sending = sending.into_inner().unwrap_or_else(PoisonError::into_inner);
    sending.record_done()?;
    outcome.skipped += sending.skipped;
    progress.advance(sending.skipped);
    progress.finish();
    if let Some(failure) = sending.failure {
        return Err(failure);
    }
    outcome.rejected = rejects.count;
    rejects.close()?;
    Ok(outcome)
}

/// The bulk operation messages the environment's `$metadata` binds to the table.
fn bulk_messages(metadata: &dynamics_codegen::csdl::Metadata, schema: &Schema) -> BulkMessages {
    metadata
        .entity_type_by_set(&schema.entity_set)
        .map(|t| metadata.bulk_messages(t))
        .unwrap_or_default()
        .into_iter()
        .filter_map(BulkMessages::named)
        .fold(BulkMessages::NONE, BulkMessages::and)
}

/// The engine's options for `total` rows: chunks of at most half an identity's share, so that
/// a small import still spreads over every identity of a pool.
fn engine_options(total: u64, identities: usize) -> EngineOptions {
    let defaults = EngineOptions::default();
    let share = total.div_ceil(2 * identities.max(1) as u64);
    let most = usize::try_from(share)
        .unwrap_or(usize::MAX)
        .clamp(defaults.min_chunk_size, defaults.max_chunk_size);
    let least = defaults.min_chunk_size;
    defaults.chunk_size_range(least, most)
}

/// A row handed to the engine, waiting for its result.
struct Pending {
    line: u64,
    fingerprint: u128,
    /// The row as it was, for the rejects file should the service refuse it.
    original: Original,
}

/// What the row reader and the result loop share.
struct Sending {
    journal: Journal,
    /// The rows handed to the engine and not answered yet, by input index.
    pending: HashMap<usize, Pending>,
    /// Rows written since the journal last recorded them.
    done: Vec<u128>,
    /// Rows the journal had as done, skipped since the result loop last counted them.
    skipped: u64,
    /// Why the reader stopped early (a file or journal that could not be read or written).
    failure: Option<CliError>,
}

impl Sending {
    /// Records the rows written so far as `done`.
    fn record_done(&mut self) -> Result<()> {
        let done = std::mem::take(&mut self.done);
        self.journal.record("done", done.into_iter())
    }
}

/// Reads the good rows for the engine, a block at a time: each block is recorded in the journal
/// as `sent` (and on disk) before the engine gets any row of it.
struct ReadRows<'a> {
    rows: Rows,
    file: &'a Path,
    plan: &'a Plan<'a>,
    occurrences: HashMap<u128, u32>,
    block: VecDeque<Ready>,
    /// Rows handed to the engine so far: the next one's input index.
    handed: usize,
    sending: &'a Mutex<Sending>,
}

impl<'a> ReadRows<'a> {
    fn into_stream(self) -> impl Stream<Item = JsonWrite> + Send + 'a {
        futures::stream::unfold(self, |mut reader| async move {
            let write = reader.next();
            write.map(|write| (write, reader))
        })
    }

    /// The next row's write, `None` at the end or when reading failed (kept in `failure`).
    fn next(&mut self) -> Option<JsonWrite> {
        if self.block.is_empty()
            && let Err(failure) = self.read_block()
        {
            self.lock().failure = Some(failure);
            return None;
        }
        let ready = self.block.pop_front()?;
        let index = self.handed;
        self.handed += 1;
        self.lock().pending.insert(
            index,
            Pending {
                line: ready.line,
                fingerprint: ready.fingerprint,
                original: ready.original,
            },
        );
        Some(ready.write)
    }

    /// Reads up to a block of rows to send, and records them as sent.
    fn read_block(&mut self) -> Result<()> {
        while self.block.len() < CHUNK {
            let Some(row) = self.rows.next_row(self.file)? else {
                break;
            };
            // Rejected rows were reported by the first pass.
            let Ok(mut ready) = self.plan.prepare(&row, &mut self.occurrences) else {
                continue;
            };
            ready.original = row.original;
            let mut sending = self.lock();
            if sending.journal.done.contains(&ready.fingerprint) {
                sending.skipped += 1;
            } else {
                self.block.push_back(ready);
            }
        }
        if self.block.is_empty() {
            return Ok(());
        }
        let fingerprints = self.block.iter().map(|r| r.fingerprint);
        self.lock().journal.record("sent", fingerprints)
    }

    fn lock(&self) -> std::sync::MutexGuard<'a, Sending> {
        // The shared state is updated a field at a time: a panic cannot leave it half-written.
        self.sending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How each row becomes a write.
struct Plan<'a> {
    schema: &'a Schema,
    /// The CSV header's targets, resolved once (JSON Lines rows resolve their own).
    metadata: &'a dynamics_codegen::csdl::Metadata,
    mode: Mode,
    key: Vec<String>,
}

impl<'a> Plan<'a> {
    fn new(
        metadata: &'a dynamics_codegen::csdl::Metadata,
        schema: &'a Schema,
        import: &Import<'_>,
    ) -> Result<Self> {
        for column in &import.key {
            match schema.target(metadata, column) {
                Target::Property { .. } => {}
                Target::Key => {
                    return Err(CliError::Usage(format!(
                        "--key {column}: the primary key identifies records without --key"
                    )));
                }
                _ => {
                    return Err(CliError::Usage(format!(
                        "--key {column}: not a column of {}",
                        schema.logical_name
                    )));
                }
            }
        }
        if import.format == Format::Csv {
            let header = Rows::open(import.file, import.format)?;
            let header = header.header();
            for column in &import.key {
                if !header.contains(column) {
                    return Err(CliError::Usage(format!(
                        "--key {column}: the file has no `{column}` column"
                    )));
                }
            }
            if import.mode == Mode::Update
                && import.key.is_empty()
                && !header.contains(&schema.primary_key)
            {
                return Err(CliError::Usage(format!(
                    "--mode update needs the `{}` column or --key",
                    schema.primary_key
                )));
            }
        }
        Ok(Plan {
            schema,
            metadata,
            mode: import.mode,
            key: import.key.clone(),
        })
    }

    /// Settings that must match for a journal to be reused.
    fn settings(&self, client: &Client) -> Value {
        json!({
            "environment": client.web_api_url().as_str(),
            "table": self.schema.entity_set,
            "mode": self.mode.name(),
            "key": self.key,
        })
    }

    /// The row as a write, or why it cannot be written. `occurrences` counts identical rows.
    fn prepare(&self, row: &Row, occurrences: &mut HashMap<u128, u32>) -> Result<Ready, String> {
        let cells = row.cells.as_ref().map_err(Clone::clone)?;
        let mut body = Map::new();
        let mut id: Option<Uuid> = None;
        let mut key_values: Vec<(String, Value)> = Vec::new();
        for (name, cell) in cells {
            let text = match cell {
                Cell::Text(t) if t.is_empty() => continue,
                Cell::Text(t) => Some(t.clone()),
                Cell::Json(Value::Null) => None,
                Cell::Json(Value::String(s)) => Some(s.clone()),
                Cell::Json(Value::Object(_) | Value::Array(_)) => {
                    return Err(format!(
                        "column `{name}`: objects and arrays are not column values"
                    ));
                }
                Cell::Json(other) => Some(other.to_string()),
            };
            match self.schema.target(self.metadata, name) {
                Target::Refused(reason) => return Err(reason),
                Target::Key => {
                    let Some(text) = text else { continue };
                    id = Some(
                        Uuid::parse_str(text.trim())
                            .map_err(|_| format!("column `{name}`: `{text}` is not a GUID"))?,
                    );
                }
                Target::Property { name, kind } => {
                    let value = match text {
                        None => Value::Null,
                        Some(text) => convert(&kind, &text)
                            .map_err(|reason| format!("column `{name}`: {reason}"))?,
                    };
                    if self.key.contains(&name) {
                        key_values.push((name, value));
                    } else {
                        body.insert(name, value);
                    }
                }
                Target::Lookup { targets } => {
                    let Some(text) = text else {
                        return Err(format!(
                            "column `{name}`: a lookup is cleared with `<navigation>@odata.bind` set to null"
                        ));
                    };
                    let (table, record) = text.trim().split_once(':').ok_or_else(|| {
                        format!("column `{name}`: `{text}` is not `table:id` (e.g. account:00000000-0000-0000-0000-000000000001)")
                    })?;
                    let target = targets
                        .iter()
                        .find(|t| t.logical_name == table || t.entity_set == table)
                        .ok_or_else(|| {
                            let allowed: Vec<&str> =
                                targets.iter().map(|t| t.logical_name.as_str()).collect();
                            format!(
                                "bad lookup in column `{name}`: `{table}` is not a table it points at ({})",
                                allowed.join(", ")
                            )
                        })?;
                    let record = Uuid::parse_str(record.trim()).map_err(|_| {
                        format!("bad lookup in column `{name}`: `{record}` is not a GUID")
                    })?;
                    body.insert(
                        format!("{}@odata.bind", target.navigation),
                        Value::String(format!("/{}({})", target.entity_set, record.hyphenated())),
                    );
                }
                Target::Bind {
                    navigation,
                    entity_sets,
                } => {
                    let value = match text {
                        None => Value::Null,
                        Some(text) => Value::String(bind(&navigation, &entity_sets, &text)?),
                    };
                    body.insert(format!("{navigation}@odata.bind"), value);
                }
            }
        }
        for column in &self.key {
            if !key_values.iter().any(|(n, v)| n == column && !v.is_null()) {
                return Err(format!(
                    "missing required column `{column}` (the --key column)"
                ));
            }
        }
        if self.mode == Mode::Update && self.key.is_empty() && id.is_none() {
            return Err(format!(
                "missing required column `{}` (--mode update needs the record's id)",
                self.schema.primary_key
            ));
        }
        if body.is_empty() && key_values.is_empty() && id.is_none() {
            return Err("the row has no values".to_owned());
        }
        let fingerprint = self.fingerprint(id, &key_values, &body, occurrences);
        let key = if !key_values.is_empty() {
            let parts: Vec<(&str, KeyValue<'_>)> = key_values
                .iter()
                .map(|(n, v)| (n.as_str(), KeyValue(v)))
                .collect();
            let dyn_parts: Vec<(&str, &dyn Literal)> =
                parts.iter().map(|(n, v)| (*n, v as &dyn Literal)).collect();
            RecordKey::alternate(&dyn_parts).map_err(|e| format!("--key: {e}"))?
        } else {
            RecordKey::Id(id.unwrap_or_else(|| Uuid::from_u128(fingerprint)))
        };
        let mode = match self.mode {
            Mode::Create => UpsertMode::CreateOnly,
            Mode::Upsert => UpsertMode::CreateOrUpdate,
            Mode::Update => UpsertMode::UpdateOnly,
        };
        Ok(Ready {
            line: row.line,
            fingerprint,
            write: JsonWrite { key, mode, body },
            original: Original::Fields(Vec::new()),
        })
    }

    /// A UUID (version 8, RFC 9562) made from the settings, the row's values and how many
    /// identical rows came before it.
    fn fingerprint(
        &self,
        id: Option<Uuid>,
        key: &[(String, Value)],
        body: &Map<String, Value>,
        occurrences: &mut HashMap<u128, u32>,
    ) -> u128 {
        let content = json!([
            self.schema.entity_set,
            self.mode.name(),
            self.key,
            id,
            key,
            body
        ]);
        let digest = sha256(content.to_string().as_bytes());
        let seen = occurrences.entry(digest).or_insert(0);
        *seen += 1;
        let mut with_count = digest.to_be_bytes().to_vec();
        with_count.extend_from_slice(&seen.to_be_bytes());
        let hash = sha256(&with_count).to_be_bytes();
        uuid::Builder::from_custom_bytes(hash).into_uuid().as_u128()
    }
}

fn sha256(bytes: &[u8]) -> u128 {
    let digest = openssl::sha::sha256(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// A key value as an OData literal: strings quoted, numbers and booleans as written.
struct KeyValue<'a>(&'a Value);

impl Literal for KeyValue<'_> {
    fn write_literal(&self, out: &mut String) {
        match self.0 {
            Value::String(s) => s.as_str().write_literal(out),
            other => out.push_str(&other.to_string()),
        }
    }
}

/// `/accounts(id)` or `accounts(id)`, checked against the sets the lookup may point at.
fn bind(navigation: &str, entity_sets: &[String], text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_start_matches('/');
    let bad = || {
        format!("bad lookup in column `{navigation}@odata.bind`: `{text}` is not `/entityset(id)`")
    };
    let (set, rest) = trimmed.split_once('(').ok_or_else(bad)?;
    let id = rest.strip_suffix(')').ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| {
        format!("bad lookup in column `{navigation}@odata.bind`: `{id}` is not a GUID")
    })?;
    if !entity_sets.iter().any(|s| s == set) {
        return Err(format!(
            "bad lookup in column `{navigation}@odata.bind`: `{set}` is not an entity set it points at ({})",
            entity_sets.join(", ")
        ));
    }
    Ok(format!("/{set}({})", id.hyphenated()))
}

/// The journal's path for an input file.
pub(crate) fn journal_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".import-journal");
    PathBuf::from(name)
}

/// Which rows earlier runs sent and finished.
struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    /// Rows an earlier run wrote.
    done: HashSet<u128>,
    /// Rows an earlier run sent, whatever became of them.
    sent_before: HashSet<u128>,
}

impl Journal {
    fn open(path: &Path, settings: &Value) -> Result<Self> {
        let header = format!("dynamics-import-journal 1 {settings}");
        let mut done = HashSet::new();
        let mut sent_before = HashSet::new();
        match File::open(path) {
            Ok(file) => {
                let mut lines = BufReader::new(file).lines();
                let first = lines
                    .next()
                    .transpose()
                    .map_err(CliError::io("read", path))?;
                if first.as_deref() != Some(header.as_str()) {
                    return Err(CliError::Usage(format!(
                        "{} was written by an import with other settings ({}); delete it to import \
                         this file from the start",
                        path.display(),
                        first.unwrap_or_default()
                    )));
                }
                for line in lines {
                    let line = line.map_err(CliError::io("read", path))?;
                    // A line cut short by a crash is ignored: its row is simply sent again.
                    let Some((kind, hex)) = line.split_once(' ') else {
                        continue;
                    };
                    let Ok(fingerprint) = u128::from_str_radix(hex, 16) else {
                        continue;
                    };
                    match kind {
                        "sent" => sent_before.insert(fingerprint),
                        "done" => done.insert(fingerprint),
                        _ => false,
                    };
                }
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(CliError::io("open", path))?;
                Ok(Journal {
                    path: path.to_owned(),
                    out: BufWriter::new(file),
                    done,
                    sent_before,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = File::create(path).map_err(CliError::io("create", path))?;
                let mut journal = Journal {
                    path: path.to_owned(),
                    out: BufWriter::new(file),
                    done,
                    sent_before,
                };
                writeln!(journal.out, "{header}").map_err(CliError::io("write", path))?;
                Ok(journal)
            }
            Err(e) => Err(CliError::io("open", path)(e)),
        }
    }

    /// Appends `kind <fingerprint>` lines and puts them on disk before going on.
    fn record(&mut self, kind: &str, fingerprints: impl Iterator<Item = u128>) -> Result<()> {
        let io = |e| CliError::io("write", &self.path)(e);
        for fingerprint in fingerprints {
            writeln!(self.out, "{kind} {fingerprint:032x}").map_err(io)?;
            if kind == "sent" {
                self.sent_before.insert(fingerprint);
            }
        }
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_data().map_err(io)
    }
}

/// The rejects file: each rejected row with its line and the reason, in the input's format
/// (CSV: `line,reason,` then the row's fields; JSON Lines: `{"line","reason","row"}`).
struct Rejects {
    path: PathBuf,
    format: Format,
    out: Option<BufWriter<File>>,
    header: Vec<String>,
    count: u64,
}

impl Rejects {
    /// Starts an empty rejects file; one left by an earlier run is replaced.
    fn create(path: &Path, format: Format) -> Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::io("remove", path)(e)),
        }
        Ok(Rejects {
            path: path.to_owned(),
            format,
            out: None,
            header: Vec::new(),
            count: 0,
        })
    }

    fn header(&mut self, header: &[String]) {
        self.header = header.to_vec();
    }

    /// The file, created with its header at the first rejected row.
    fn out(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.out.is_none() {
            let mut out = BufWriter::new(File::create(&self.path)?);
            if self.format == Format::Csv {
                let mut columns = vec!["line".to_owned(), "reason".to_owned()];
                columns.extend(self.header.iter().cloned());
                Writer::new(&mut out).write(&columns)?;
            }
            self.out = Some(out);
        }
        Ok(self.out.as_mut().expect("just opened"))
    }

    fn write(&mut self, row: &Row, reason: &str) -> Result<()> {
        self.count += 1;
        let format = self.format;
        let written = self.out().and_then(|out| match (format, &row.original) {
            (Format::Csv, Original::Fields(fields)) => {
                let mut cells = vec![row.line.to_string(), reason.to_owned()];
                cells.extend(fields.iter().cloned());
                Writer::new(out).write(&cells)
            }
            (_, original) => {
                let text = match original {
                    Original::Line(text) => text.clone(),
                    Original::Fields(fields) => fields.join(","),
                };
                let entry = json!({"line": row.line, "reason": reason, "row": text});
                writeln!(out, "{entry}")
            }
        });
        written.map_err(CliError::io("write", &self.path))
    }

    fn close(self) -> Result<()> {
        if let Some(mut out) = self.out {
            out.flush().map_err(CliError::io("write", &self.path))?;
        }
        Ok(())
    }
}
