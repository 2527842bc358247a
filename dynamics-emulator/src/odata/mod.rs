//! OData URL and body syntax: resource paths and keys, query options, `$filter`, FetchXML,
//! `$batch`.

pub(crate) mod apply;
pub(crate) mod batch;
pub(crate) mod fetch;
pub(crate) mod filter;
pub(crate) mod function;
pub(crate) mod path;
pub(crate) mod query;

/// Splits `text` on `separator` where it is outside parentheses and quoted strings.
pub(crate) fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            c if c == separator && !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}
