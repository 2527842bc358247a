//! Output: tables for people, JSON with `--json`, progress on stderr.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal as _;

use serde_json::Value;

/// `text` safe for a terminal: control characters (C0 but line feed and tab, DEL, C1) and the
/// bidirectional formatting characters are written as `\u{..}` escapes. Text from outside
/// (service errors, environment names from Global Discovery, sign-in messages) goes through
/// this before it is printed, so `ESC ]0;…` cannot retitle the window or fake output.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A progress line on stderr (stdout stays clean for `--json` and redirection).
pub(crate) fn progress(message: &str) {
    eprintln!("… {}", clean(message));
}

/// A numbered step of a long operation.
pub(crate) fn step(n: usize, of: usize, message: &str) {
    eprintln!("[{n}/{of}] {}", clean(message));
}

/// Prints `value` as pretty JSON.
pub(crate) fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Prints rows under headers, columns padded to their widest cell; cells are cleaned.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| clean(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
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
        line(row);
    }
}

/// Whether the user can be asked questions.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn terminal_escapes_and_bidi_overrides_are_escaped() {
        assert_eq!(clean("Contoso (test)"), "Contoso (test)");
        assert_eq!(
            clean("\u{1b}]0;pwned\u{7}Contoso\rfake"),
            "\\u{1b}]0;pwned\\u{7}Contoso\\u{d}fake"
        );
        assert_eq!(clean("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\u{9b}c");
        assert_eq!(clean("two\nlines\tand a tab"), "two\nlines\tand a tab");
    }
}
