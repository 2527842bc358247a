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

/// Makes `raw` a valid identifier: characters other than ASCII letters, digits and `_` become
/// `_`, a leading digit gets a `_` prefix, and a keyword gets a `_` suffix.
pub(crate) fn sanitize(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
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
        assert_eq!(type_name("écriture"), "Criture");
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
