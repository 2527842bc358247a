//! Resource paths: `accounts`, `accounts(<guid>)`, `accounts(accountnumber='A-1')`,
//! `accounts(<guid>)/Account_Tasks/$ref`, and entity references in `@odata.bind`/`@odata.id`.

use uuid::Uuid;

use super::filter::{Literal, parse_bare_literal};
use super::split_top_level;

/// One path segment: a name and what stood in parentheses after it, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) name: String,
    pub(crate) key: Option<String>,
}

/// Splits a decoded path (relative to the service root) into segments.
pub(crate) fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Ok(Vec::new());
    }
    split_top_level(path, '/')
        .into_iter()
        .map(|raw| match raw.find('(') {
            Some(open) if raw.ends_with(')') => Ok(Segment {
                name: raw[..open].to_owned(),
                key: Some(raw[open + 1..raw.len() - 1].to_owned()),
            }),
            Some(_) => Err(format!("Bad Request - Error in query syntax: '{raw}'.")),
            None => Ok(Segment {
                name: raw.to_owned(),
                key: None,
            }),
        })
        .collect()
}

/// A parsed key: the bare primary key, or named parts (which may still name the primary key).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Key {
    Id(Uuid),
    Named(Vec<(String, Literal)>),
}

pub(crate) fn parse_key(text: &str) -> Result<Key, String> {
    let invalid = || format!("The key '({text})' in the request URI is not valid.");
    let parts = split_top_level(text, ',');
    if let [single] = parts.as_slice()
        && !single.contains('=')
    {
        return match parse_bare_literal(single.trim()) {
            Some(Literal::Guid(g)) => Ok(Key::Id(g)),
            _ => Err(invalid()),
        };
    }
    let mut named = Vec::with_capacity(parts.len());
    for part in parts {
        let (name, value) = part.split_once('=').ok_or_else(invalid)?;
        let value = value.trim();
        let literal = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(inner) if value.len() >= 2 => Literal::String(inner.replace("''", "'")),
            _ => parse_bare_literal(value).ok_or_else(invalid)?,
        };
        named.push((name.trim().to_owned(), literal));
    }
    Ok(Key::Named(named))
}

/// The `set(key)` of an entity reference as a client writes it: relative (`accounts(id)`),
/// rooted (`/accounts(id)`), or absolute (`https://org/api/data/v9.2/accounts(id)`).
pub(crate) fn entity_reference(text: &str) -> Result<(String, Key), String> {
    let relative = match text.find("/api/data/") {
        Some(at) => {
            let rest = &text[at + "/api/data/".len()..];
            // Skip the version segment (`v9.2/`).
            rest.split_once('/').map_or("", |(_, r)| r)
        }
        None => text.trim_start_matches('/'),
    };
    let segments = segments(relative)?;
    match segments.as_slice() {
        [
            Segment {
                name,
                key: Some(key),
            },
        ] => Ok((name.clone(), parse_key(key)?)),
        _ => Err(format!(
            "'{text}' is not an entity reference such as '/accounts(00000000-0000-0000-0000-000000000000)'."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_segments_and_keys() {
        let s = segments("accounts(accountnumber='a/b(c)')/Account_Tasks/$ref").unwrap_or_default();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].key.as_deref(), Some("accountnumber='a/b(c)'"));
        assert_eq!(s[2].name, "$ref");
        assert!(segments("accounts(").is_err());
    }

    #[test]
    fn parses_keys() {
        let id = "6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34";
        assert_eq!(
            parse_key(id),
            Ok(Key::Id(Uuid::parse_str(id).unwrap_or_default()))
        );
        assert_eq!(
            parse_key("new_code='P''1',new_name='x'"),
            Ok(Key::Named(vec![
                ("new_code".into(), Literal::String("P'1".into())),
                ("new_name".into(), Literal::String("x".into())),
            ]))
        );
        assert_eq!(
            parse_key("n=2"),
            Ok(Key::Named(vec![("n".into(), Literal::Int(2))]))
        );
        assert!(parse_key("not-a-guid").is_err());
        assert!(parse_key("a=").is_err());
    }

    #[test]
    fn reads_entity_references_in_every_form() {
        let id = "6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34";
        for text in [
            format!("accounts({id})"),
            format!("/accounts({id})"),
            format!("http://127.0.0.1:1/api/data/v9.2/accounts({id})"),
        ] {
            let (set, key) = entity_reference(&text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(set, "accounts");
            assert!(matches!(key, Key::Id(_)));
        }
        assert!(entity_reference("accounts").is_err());
    }
}
