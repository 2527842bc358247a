//! Alternate keys in URLs: `accounts(accountnumber='A-1')`, or several columns for a composite
//! key. Values are written as OData literals, checked for the characters Dataverse cannot take
//! in a key URL, and percent-encoded.

use std::fmt;
use std::marker::PhantomData;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::column::Column;
use super::literal::Literal;
use crate::crud::check_name;
use crate::error::{Error, Result};

/// Characters Dataverse cannot accept in an alternate key value in a URL (documented for
/// `GET` and `PATCH` by alternate key); a record with such a key is reached by id instead.
const REFUSED: &[char] = &['/', '<', '>', '*', '%', '&', ':', '\\', '?', '+'];

/// Percent-encoded in a key segment: controls, space, and what would end the segment or the
/// path (`#`, `"`, `` ` ``, `{`, `}`, `^`, `|`, `[`, `]`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// An alternate key of table `E`: one or more `(column, value)` pairs, as defined on the table.
///
/// ```
/// use dynamics_client::{Column, entity::AlternateKey};
/// struct Account;
/// const ACCOUNT_NUMBER: Column<Account, String> = Column::new("accountnumber");
///
/// let key = AlternateKey::new(ACCOUNT_NUMBER, "A-1 O'Brien").unwrap();
/// assert_eq!(key.to_path_segment(), "accountnumber='A-1%20O''Brien'");
/// assert!(AlternateKey::new(ACCOUNT_NUMBER, "A/1").is_err());
/// ```
pub struct AlternateKey<E> {
    parts: Vec<(&'static str, String)>,
    marker: PhantomData<fn() -> E>,
}

impl<E> AlternateKey<E> {
    /// A key of one column.
    pub fn new<T: Literal>(column: Column<E, T>, value: impl Into<T>) -> Result<Self> {
        AlternateKey {
            parts: Vec::new(),
            marker: PhantomData,
        }
        .and(column, value)
    }

    /// Adds a column, for a composite key.
    pub fn and<T: Literal>(self, column: Column<E, T>, value: impl Into<T>) -> Result<Self> {
        self.and_column(column.name(), &value.into())
    }

    /// A key of one column named at run time (no typed column at hand).
    pub fn column<T: Literal + ?Sized>(name: &'static str, value: &T) -> Result<Self> {
        AlternateKey {
            parts: Vec::new(),
            marker: PhantomData,
        }
        .and_column(name, value)
    }

    /// Adds a column named at run time.
    pub fn and_column<T: Literal + ?Sized>(
        mut self,
        name: &'static str,
        value: &T,
    ) -> Result<Self> {
        check_name("alternate key column", name)?;
        if self.parts.iter().any(|(n, _)| *n == name) {
            return Err(Error::invalid_input(format!(
                "alternate key column `{name}` is given twice"
            )));
        }
        let mut literal = String::new();
        value.write_literal(&mut literal);
        if let Some(c) = literal
            .chars()
            .find(|c| REFUSED.contains(c) || c.is_control())
        {
            return Err(Error::invalid_input(format!(
                "the value of alternate key column `{name}` contains {c:?}, which Dataverse cannot \
                 accept in a key URL (none of / < > * % & : \\ ? + or control characters); \
                 find the record with a query and use its id instead"
            )));
        }
        self.parts.push((name, literal));
        Ok(self)
    }

    /// What goes between the parentheses of `set(...)`, percent-encoded.
    pub fn to_path_segment(&self) -> String {
        self.parts
            .iter()
            .map(|(name, literal)| format!("{name}={}", utf8_percent_encode(literal, SEGMENT)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl<E> Clone for AlternateKey<E> {
    fn clone(&self) -> Self {
        AlternateKey {
            parts: self.parts.clone(),
            marker: PhantomData,
        }
    }
}

impl<E> fmt::Debug for AlternateKey<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AlternateKey")
            .field(&self.to_path_segment())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    struct Project;
    const CODE: Column<Project, String> = Column::new("new_code");
    const NAME: Column<Project, String> = Column::new("new_name");
    const COUNT: Column<Project, i32> = Column::new("new_count");
    const CONTACT: Column<Project, Uuid> = Column::lookup("_primarycontactid_value", "x");

    #[test]
    fn composite_keys_are_encoded() {
        let key = AlternateKey::new(CODE, "P 1")
            .unwrap()
            .and(NAME, "Ünïcode #1 \"q\"")
            .unwrap()
            .and(COUNT, 7)
            .unwrap();
        assert_eq!(
            key.to_path_segment(),
            "new_code='P%201',new_name='%C3%9Cn%C3%AFcode%20%231%20%22q%22',new_count=7"
        );
        let key = AlternateKey::new(CONTACT, Uuid::nil()).unwrap();
        assert_eq!(
            key.to_path_segment(),
            "_primarycontactid_value=00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn refused_characters_are_named() {
        for bad in [
            "a/b", "a<b", "a>b", "a*b", "50%", "A&B", "a:b", "a\\b", "a?b", "a+b", "a\nb",
        ] {
            let err = AlternateKey::new(CODE, bad).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{bad}");
            assert!(err.to_string().contains("`new_code`"), "{err}");
        }
        assert!(
            AlternateKey::new(CODE, "ok")
                .unwrap()
                .and(CODE, "again")
                .is_err()
        );
        assert!(AlternateKey::<Project>::column("bad name", "x").is_err());
    }
}
