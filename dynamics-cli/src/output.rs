//! Output: tables for people, JSON with `--json`, progress on stderr.

use std::io::IsTerminal as _;

use serde_json::Value;

/// A progress line on stderr (stdout stays clean for `--json` and redirection).
pub(crate) fn progress(message: &str) {
    eprintln!("… {message}");
}

/// A numbered step of a long operation.
pub(crate) fn step(n: usize, of: usize, message: &str) {
    eprintln!("[{n}/{of}] {message}");
}

/// Prints `value` as pretty JSON.
pub(crate) fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Prints rows under headers, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Whether the user can be asked questions.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
