//! CSV as RFC 4180 writes it (<https://www.rfc-editor.org/rfc/rfc4180>): fields separated by
//! commas, records by CRLF or LF, a field in double quotes when it holds a comma, a quote or a
//! line break, and a quote inside doubled. Read record by record from any `BufRead`, so a file
//! of any size is read with the memory of one record; each record keeps the line it starts on.

use std::io::{self, BufRead, Write};

/// One record: its fields as bytes (checked for UTF-8 by the caller, so that a bad byte
/// rejects its row and not the file), and the line it starts on, from 1.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub line: u64,
    pub fields: Vec<Vec<u8>>,
}

/// Why a record could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A quoted field was still open at the end of the file: the last line is cut short.
    Unterminated { line: u64 },
    /// Something other than a separator follows a closing quote (`"ab"c`).
    AfterQuote { line: u64 },
}

impl Broken {
    pub fn line(&self) -> u64 {
        match self {
            Broken::Unterminated { line } | Broken::AfterQuote { line } => *line,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Broken::Unterminated { .. } => {
                "truncated line: a quoted field is not closed before the end of the file"
            }
            Broken::AfterQuote { .. } => "a closing quote is followed by something other than `,`",
        }
    }
}

/// Reads records one at a time.
pub(crate) struct Reader<R> {
    input: R,
    /// The line the next record starts on.
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader {
            input,
            line: 1,
            buffer: Vec::new(),
        }
    }

    /// The next record, `None` at the end. Blank lines are skipped. A broken record is
    /// reported and reading goes on after it with the next line.
    pub fn next_record(&mut self) -> io::Result<Option<Result<Record, Broken>>> {
        loop {
            self.buffer.clear();
            let read = self.input.read_until(b'\n', &mut self.buffer)?;
            if read == 0 {
                return Ok(None);
            }
            let start = self.line;
            self.line += 1;
            if is_blank(&self.buffer) {
                continue;
            }
            return self.parse(start).map(Some);
        }
    }

    /// Parses the record in `buffer`, reading more lines while a quoted field is open.
    fn parse(&mut self, start: u64) -> io::Result<Result<Record, Broken>> {
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut after_quote = false;
        let mut at = 0;
        loop {
            let Some(&byte) = self.buffer.get(at) else {
                if !quoted {
                    break;
                }
                // A line break inside quotes belongs to the field: read the next line.
                let before = self.buffer.len();
                let read = self.input.read_until(b'\n', &mut self.buffer)?;
                if read == 0 {
                    return Ok(Err(Broken::Unterminated { line: start }));
                }
                self.line += 1;
                at = before;
                continue;
            };
            at += 1;
            if quoted {
                if byte == b'"' {
                    if self.buffer.get(at) == Some(&b'"') {
                        field.push(b'"');
                        at += 1;
                    } else {
                        quoted = false;
                        after_quote = true;
                    }
                } else {
                    field.push(byte);
                }
                continue;
            }
            match byte {
                b',' => {
                    fields.push(std::mem::take(&mut field));
                    after_quote = false;
                }
                b'\n' => break,
                b'\r' if self.buffer.get(at) == Some(&b'\n') => {}
                b'"' if field.is_empty() && !after_quote => quoted = true,
                _ if after_quote => return Ok(Err(Broken::AfterQuote { line: start })),
                _ => field.push(byte),
            }
        }
        fields.push(field);
        Ok(Ok(Record {
            line: start,
            fields,
        }))
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

/// Writes records, quoting the fields that need it, lines ended with LF.
pub(crate) struct Writer<W> {
    output: W,
}

impl<W: Write> Writer<W> {
    pub fn new(output: W) -> Self {
        Writer { output }
    }

    pub fn write<S: AsRef<str>>(&mut self, fields: &[S]) -> io::Result<()> {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.output.write_all(b",")?;
            }
            let field = field.as_ref();
            if field.contains([',', '"', '\n', '\r']) {
                self.output.write_all(b"\"")?;
                self.output
                    .write_all(field.replace('"', "\"\"").as_bytes())?;
                self.output.write_all(b"\"")?;
            } else {
                self.output.write_all(field.as_bytes())?;
            }
        }
        self.output.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8]) -> Vec<Result<Record, Broken>> {
        let mut reader = Reader::new(text);
        let mut out = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            out.push(record);
        }
        out
    }

    fn fields(record: &Result<Record, Broken>) -> Vec<String> {
        record
            .as_ref()
            .unwrap()
            .fields
            .iter()
            .map(|f| String::from_utf8(f.clone()).unwrap())
            .collect()
    }

    #[test]
    fn plain_and_quoted_fields_with_their_lines() {
        let records = read_all(
            b"name,city\r\nContoso,\"Paris, FR\"\n\n\"say \"\"hi\"\"\",\"two\nlines\"\nlast,x",
        );
        assert_eq!(records.len(), 4);
        assert_eq!(fields(&records[0]), ["name", "city"]);
        assert_eq!(fields(&records[1]), ["Contoso", "Paris, FR"]);
        assert_eq!(fields(&records[2]), ["say \"hi\"", "two\nlines"]);
        assert_eq!(fields(&records[3]), ["last", "x"]);
        let lines: Vec<u64> = records.iter().map(|r| r.as_ref().unwrap().line).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
        assert_eq!(fields(&read_all(b"a,,\n")[0]), ["a", "", ""]);
    }

    #[test]
    fn broken_records_are_reported_with_their_line() {
        let records = read_all(b"a,b\n\"x\"y,1\nok,2\n\"open,3\nstill");
        assert_eq!(records[1], Err(Broken::AfterQuote { line: 2 }));
        assert_eq!(fields(&records[2]), ["ok", "2"]);
        assert_eq!(records[3], Err(Broken::Unterminated { line: 4 }));
        assert_eq!(records.len(), 4);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_for_the_caller() {
        let records = read_all(b"a,b\n\xff\xfe,1\n");
        assert_eq!(records[1].as_ref().unwrap().fields[0], b"\xff\xfe");
    }

    #[test]
    fn written_fields_read_back() {
        let mut text = Vec::new();
        let row = ["plain", "with,comma", "with \"quote\"", "two\nlines", ""];
        Writer::new(&mut text).write(&row).unwrap();
        assert_eq!(fields(&read_all(&text)[0]), row);
    }
}
