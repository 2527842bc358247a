//! Every Rust name the generator emits is made here: valid, not a keyword, and unique within
//! its namespace. The wire name is always kept beside it (in the record's JSON form, or `#[serde(rename)]`).

use std::collections::HashSet;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// Rust's strict and reserved keywords, and the ones of the 2018+ editions.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Makes `raw` a valid identifier: Latin letters with diacritics become their ASCII letters
/// (`Comptabilité` → `Comptabilite`, `Straße` → `Strasse`), other characters than ASCII
/// letters, digits and `_` become `_`, a leading digit gets a `_` prefix, and a keyword gets a
/// `_` suffix.
pub(crate) fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match fold_latin(c) {
            _ if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            // `Æro` → `Aero`, not `AEro`, which case conversion would split into two words.
            Some(ascii) if ascii.len() > 1 && chars.peek().is_some_and(|n| n.is_lowercase()) => {
                let (first, rest) = ascii.split_at(1);
                out.push_str(first);
                out.push_str(&rest.to_ascii_lowercase());
            }
            Some(ascii) => out.push_str(ascii),
            None => out.push('_'),
        }
    }
    if out.is_empty() || out.chars().all(|c| c == '_') {
        out.insert(0, 'x');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Whether `raw` has a letter or digit that [`sanitize`] keeps: a label in a script other than
/// Latin (`Да`) has none, and its identifier would say nothing.
pub(crate) fn has_latin_letters(raw: &str) -> bool {
    raw.chars()
        .any(|c| c.is_ascii_alphanumeric() || fold_latin(c).is_some())
}

/// The ASCII letters of a Latin letter with diacritics (Latin-1 Supplement and Latin
/// Extended-A: the letters of the Western, Central and Northern European languages).
fn fold_latin(c: char) -> Option<&'static str> {
    /// U+0100 to U+017F, in order.
    const EXTENDED_A: [&str; 128] = [
        "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d", //
        "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g", //
        "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i", //
        "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L", //
        "l", "L", "l", "N", "n", "N", "n", "N", "n", "n", "N", "n", "O", "o", "O", "o", //
        "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s", //
        "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u", //
        "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s", //
    ];
    let ascii = match c {
        'À'..='Å' => "A",
        'à'..='å' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' => "C",
        'ç' => "c",
        'È'..='Ë' => "E",
        'è'..='ë' => "e",
        'Ì'..='Ï' => "I",
        'ì'..='ï' => "i",
        'Ð' => "D",
        'ð' => "d",
        'Ñ' => "N",
        'ñ' => "n",
        'Ò'..='Ö' | 'Ø' => "O",
        'ò'..='ö' | 'ø' => "o",
        'Ù'..='Ü' => "U",
        'ù'..='ü' => "u",
        'Ý' => "Y",
        'ý' | 'ÿ' => "y",
        'Þ' => "TH",
        'þ' => "th",
        'ß' => "ss",
        '\u{100}'..='\u{17f}' => return EXTENDED_A.get(c as usize - 0x100).copied(),
        _ => return None,
    };
    Some(ascii)
}

/// `new_project` → `NewProject`; `WhoAmIResponse` stays.
pub(crate) fn type_name(raw: &str) -> String {
    let camel = sanitize(raw).to_upper_camel_case();
    sanitize(&camel)
}

/// `_parentaccountid_value` → `parentaccountid`-style snake case.
pub(crate) fn field_name(raw: &str) -> String {
    let snake = sanitize(raw).to_snake_case();
    sanitize(&snake)
}

/// `address1_city` → `ADDRESS1_CITY`.
pub(crate) fn const_name(raw: &str) -> String {
    let shouty = sanitize(raw).to_shouty_snake_case();
    sanitize(&shouty)
}

pub(crate) fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// One namespace of generated names: a name already taken gets a numeric suffix.
#[derive(Debug, Default)]
pub(crate) struct Names {
    taken: HashSet<String>,
    /// Type and variant names: suffixes without `_`, which camel case forbids.
    camel: bool,
}

impl Names {
    /// A namespace of snake-case or shouty names, where these are already used by the
    /// generator itself.
    pub(crate) fn reserving(reserved: &[&str]) -> Self {
        Names {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
            camel: false,
        }
    }

    /// A namespace of `UpperCamelCase` names, where these are already used.
    pub(crate) fn camel_reserving(reserved: &[&str]) -> Self {
        Names {
            camel: true,
            ..Self::reserving(reserved)
        }
    }

    /// `name`, or `name_2`, `name_3`, ... (`Name2`, `Name3` for camel case) if taken.
    /// Uniqueness is checked case-sensitively, which is how Rust compares names.
    pub(crate) fn unique(&mut self, name: String) -> String {
        if self.taken.insert(name.clone()) {
            return name;
        }
        let (base, separator) = if self.camel {
            (name.trim_end_matches('_'), "")
        } else if name.ends_with('_') {
            (name.as_str(), "")
        } else {
            (name.as_str(), "_")
        };
        (2..)
            .map(|n| format!("{base}{separator}{n}"))
            .find(|candidate| self.taken.insert(candidate.clone()))
            .unwrap_or(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises_awkward_names() {
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("abstract"), "abstract_");
        assert_eq!(field_name("1stcolumn"), "_1stcolumn");
        assert_eq!(field_name("FeedbackId"), "feedback_id");
        assert_eq!(
            field_name("_parentaccountid_value"),
            "parentaccountid_value"
        );
        assert_eq!(type_name("new_project"), "NewProject");
        assert_eq!(type_name("self"), "Self_");
        assert_eq!(type_name("WhoAmIResponse"), "WhoAmIResponse");
        assert_eq!(type_name("écriture"), "Ecriture");
        assert_eq!(type_name("Comptabilité"), "Comptabilite");
        assert_eq!(type_name("Straße"), "Strasse");
        assert_eq!(type_name("Łódź"), "Lodz");
        assert_eq!(type_name("Œuvre"), "Oeuvre");
        assert_eq!(type_name("ŒUVRE"), "Oeuvre");
        assert_eq!(field_name("Ærø"), "aero");
        assert_eq!(type_name("Да"), "X");
        assert!(!has_latin_letters("Да"));
        assert!(has_latin_letters("Ça"));
        assert_eq!(const_name("address1_city"), "ADDRESS1_CITY");
        assert_eq!(sanitize(""), "x");
        assert_eq!(sanitize("__"), "x__");
    }

    #[test]
    fn names_are_deduplicated() {
        let mut names = Names::reserving(&["etag"]);
        assert_eq!(names.unique("etag".into()), "etag_2");
        assert_eq!(names.unique("feedbackid".into()), "feedbackid");
        assert_eq!(names.unique("feedbackid".into()), "feedbackid_2");
        assert_eq!(names.unique("type_".into()), "type_");
        assert_eq!(names.unique("type_".into()), "type_2");
        let mut types = Names::camel_reserving(&["EntitySets"]);
        assert_eq!(types.unique("EntitySets".into()), "EntitySets2");
        assert_eq!(types.unique("Self_".into()), "Self_");
        assert_eq!(types.unique("Self_".into()), "Self2");
    }
}
