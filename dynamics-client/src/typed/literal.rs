//! OData literals, always written by the library: a value can never change the shape of the
//! expression it is put in.

use rust_decimal::Decimal;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// A value that can stand in an OData expression (`$filter`, keys).
///
/// Strings are quoted with `'` doubled inside; GUIDs are unquoted; dates and date-times are
/// ISO 8601; decimals keep every digit.
pub trait Literal {
    /// Appends the literal to `out`.
    fn write_literal(&self, out: &mut String);
}

impl Literal for str {
    fn write_literal(&self, out: &mut String) {
        out.reserve(self.len() + 2);
        out.push('\'');
        for c in self.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    }
}

impl Literal for String {
    fn write_literal(&self, out: &mut String) {
        self.as_str().write_literal(out);
    }
}

impl<T: Literal + ?Sized> Literal for &T {
    fn write_literal(&self, out: &mut String) {
        (**self).write_literal(out);
    }
}

impl Literal for Uuid {
    fn write_literal(&self, out: &mut String) {
        out.push_str(&self.hyphenated().to_string());
    }
}

impl Literal for bool {
    fn write_literal(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

macro_rules! display_literal {
    ($($t:ty),*) => {$(
        impl Literal for $t {
            fn write_literal(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
        }
    )*};
}
display_literal!(i8, u8, i16, i32, i64, Decimal);

macro_rules! float_literal {
    ($($t:ty),*) => {$(
        impl Literal for $t {
            fn write_literal(&self, out: &mut String) {
                // OData has no literal for NaN or infinities in JSON-based services; write
                // them as OData's keywords so that the service rejects them clearly.
                if self.is_nan() {
                    out.push_str("NaN");
                } else if self.is_infinite() {
                    out.push_str(if *self > 0.0 { "INF" } else { "-INF" });
                } else {
                    out.push_str(&format!("{self:?}"));
                }
            }
        }
    )*};
}
float_literal!(f32, f64);

impl Literal for OffsetDateTime {
    fn write_literal(&self, out: &mut String) {
        match self.format(&Rfc3339) {
            Ok(text) => out.push_str(&text),
            // Years outside 0..=9999 have no RFC 3339 form; Dataverse has none either.
            Err(_) => out.push_str("null"),
        }
    }
}

impl Literal for Date {
    fn write_literal(&self, out: &mut String) {
        match self.format(format_description!("[year]-[month]-[day]")) {
            Ok(text) => out.push_str(&text),
            Err(_) => out.push_str("null"),
        }
    }
}

/// The literal of one value, as a string.
pub fn literal<T: Literal + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    value.write_literal(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn strings_double_quotes() {
        assert_eq!(literal("O'Neil"), "'O''Neil'");
        assert_eq!(literal("x' or name ne 'zz"), "'x'' or name ne ''zz'");
        assert_eq!(literal(""), "''");
    }

    #[test]
    fn other_types() {
        assert_eq!(
            literal(&Uuid::nil()),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(literal(&true), "true");
        assert_eq!(literal(&-5i32), "-5");
        assert_eq!(
            literal(&"1234567890123.4567".parse::<Decimal>().unwrap()),
            "1234567890123.4567"
        );
        assert_eq!(literal(&1.5f64), "1.5");
        assert_eq!(literal(&1e300f64), "1e300");
        assert_eq!(literal(&f64::NAN), "NaN");
        assert_eq!(literal(&date!(2024 - 02 - 29)), "2024-02-29");
        assert_eq!(
            literal(&datetime!(2024-01-02 03:04:05 UTC)),
            "2024-01-02T03:04:05Z"
        );
    }
}
