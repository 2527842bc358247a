//! The rows of an input file, CSV or JSON Lines, each with the line it starts on, its cells
//! by column name, and its text for the rejects file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Map, Value};

use super::Format;
use super::csv::{self, Reader};
use crate::error::{CliError, Result};

/// One cell: text from CSV, a JSON value from JSON Lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Json(Value),
}

/// A row read from the file.
#[derive(Debug)]
pub(crate) struct Row {
    pub line: u64,
    /// The row as it was, for the rejects file: CSV fields, or the JSON line.
    pub original: Original,
    /// The cells by column name, or why the row cannot be read at all.
    pub cells: Result<Vec<(String, Cell)>, String>,
}

#[derive(Debug)]
pub(crate) enum Original {
    Fields(Vec<String>),
    Line(String),
}

/// Reads the rows of a file, one at a time.
pub(crate) enum Rows {
    Csv {
        reader: Reader<BufReader<File>>,
        header: Vec<String>,
    },
    Jsonl {
        input: BufReader<File>,
        line: u64,
        buffer: Vec<u8>,
    },
}

impl Rows {
    pub fn open(path: &Path, format: Format) -> Result<Self> {
        let file = File::open(path).map_err(CliError::io("open", path))?;
        let input = BufReader::with_capacity(1 << 16, file);
        match format {
            Format::Jsonl => Ok(Rows::Jsonl {
                input,
                line: 0,
                buffer: Vec::new(),
            }),
            Format::Csv => {
                let mut reader = Reader::new(input);
                let header = match reader.next_record().map_err(CliError::io("read", path))? {
                    None => Vec::new(),
                    Some(Err(broken)) => {
                        return Err(CliError::Usage(format!(
                            "{}: the header line {}: {}",
                            path.display(),
                            broken.line(),
                            broken.reason()
                        )));
                    }
                    Some(Ok(record)) => record
                        .fields
                        .into_iter()
                        .map(|f| {
                            String::from_utf8(f)
                                .map(|s| s.trim().to_owned())
                                .map_err(|_| {
                                    CliError::Usage(format!(
                                        "{}: the header line is not UTF-8",
                                        path.display()
                                    ))
                                })
                        })
                        .collect::<Result<Vec<_>>>()?,
                };
                Ok(Rows::Csv { reader, header })
            }
        }
    }

    /// The CSV header's column names (empty for JSON Lines, whose rows name their own).
    pub fn header(&self) -> &[String] {
        match self {
            Rows::Csv { header, .. } => header,
            Rows::Jsonl { .. } => &[],
        }
    }

    pub fn next_row(&mut self, path: &Path) -> Result<Option<Row>> {
        match self {
            Rows::Csv { reader, header } => {
                let Some(record) = reader.next_record().map_err(CliError::io("read", path))? else {
                    return Ok(None);
                };
                Ok(Some(match record {
                    Err(broken) => Row {
                        line: broken.line(),
                        original: Original::Fields(Vec::new()),
                        cells: Err(broken.reason().to_owned()),
                    },
                    Ok(record) => csv_row(header, record),
                }))
            }
            Rows::Jsonl {
                input,
                line,
                buffer,
            } => loop {
                buffer.clear();
                if input
                    .read_until(b'\n', buffer)
                    .map_err(CliError::io("read", path))?
                    == 0
                {
                    return Ok(None);
                }
                *line += 1;
                if buffer.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(json_row(*line, buffer)));
            },
        }
    }
}

fn csv_row(header: &[String], record: csv::Record) -> Row {
    let original: Vec<String> = record
        .fields
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let line = record.line;
    let cells = if record.fields.len() != header.len() {
        Err(format!(
            "the row has {} fields but the header has {} (a truncated or malformed line)",
            record.fields.len(),
            header.len()
        ))
    } else {
        header
            .iter()
            .zip(record.fields)
            .map(|(name, field)| {
                String::from_utf8(field)
                    .map(|text| (name.clone(), Cell::Text(text)))
                    .map_err(|e| {
                        format!(
                            "column `{name}` is not valid UTF-8 (byte {} of the field)",
                            e.utf8_error().valid_up_to() + 1
                        )
                    })
            })
            .collect()
    };
    Row {
        line,
        original: Original::Fields(original),
        cells,
    }
}

fn json_row(line: u64, bytes: &[u8]) -> Row {
    let text = String::from_utf8_lossy(bytes).trim_end().to_owned();
    let cells = match std::str::from_utf8(bytes) {
        Err(e) => Err(format!(
            "the line is not valid UTF-8 (byte {} of the line)",
            e.valid_up_to() + 1
        )),
        Ok(valid) => match serde_json::from_str::<Map<String, Value>>(valid) {
            Ok(object) => Ok(object
                .into_iter()
                .map(|(name, value)| (name, Cell::Json(value)))
                .collect()),
            Err(e) if e.is_eof() => Err(format!("truncated line: {e}")),
            Err(e) => Err(format!("not a JSON object: {e}")),
        },
    };
    Row {
        line,
        original: Original::Line(text),
        cells,
    }
}
