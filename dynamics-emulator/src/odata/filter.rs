//! `$filter`: a parser for the subset Dataverse documents (comparisons, `and`/`or`/`not`,
//! parentheses, `contains`/`startswith`/`endswith`, typed literals, `@p` aliases) and an
//! evaluator over stored JSON records, typed by the schema.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use crate::schema::Kind;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A literal value in a URL.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Number(f64),
    String(String),
    Guid(Uuid),
    Date(Date),
    DateTime(OffsetDateTime),
}

impl Literal {
    /// The JSON value a key or filter literal stands for when stored.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::from(*i),
            Literal::Number(n) => Value::from(*n),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Guid(g) => Value::String(g.to_string()),
            Literal::Date(d) => Value::String(d.to_string()),
            Literal::DateTime(t) => Value::String(t.format(&Rfc3339).unwrap_or_default()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Literal::Null => "null",
            Literal::Bool(_) => "Edm.Boolean",
            Literal::Int(_) => "Edm.Int32",
            Literal::Number(_) => "Edm.Decimal",
            Literal::String(_) => "Edm.String",
            Literal::Guid(_) => "Edm.Guid",
            Literal::Date(_) => "Edm.Date",
            Literal::DateTime(_) => "Edm.DateTimeOffset",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Property(String),
    Literal(Literal),
}

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(CmpOp, Operand, Operand),
    Call(StrFn, Operand, Operand),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Quoted(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        // '' inside a string is one quote.
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => s.push(c),
                        None => return Err("Unterminated string literal.".into()),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Reads an unquoted literal: `null`, `true`, a GUID, a date, a date-time or a number.
pub(crate) fn parse_bare_literal(word: &str) -> Option<Literal> {
    match word {
        "null" => return Some(Literal::Null),
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        _ => {}
    }
    if word.len() == 36
        && let Ok(g) = Uuid::parse_str(word)
    {
        return Some(Literal::Guid(g));
    }
    if let Some(t) = parse_datetime(word) {
        return Some(Literal::DateTime(t));
    }
    if let Some(d) = parse_date(word) {
        return Some(Literal::Date(d));
    }
    let number = word.trim_end_matches(['M', 'm', 'd', 'D', 'L', 'l']);
    if let Ok(i) = number.parse::<i64>() {
        return Some(Literal::Int(i));
    }
    if number.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
        && let Ok(n) = number.parse::<f64>()
        && n.is_finite()
    {
        return Some(Literal::Number(n));
    }
    None
}

pub(crate) fn parse_date(text: &str) -> Option<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// RFC 3339, also without seconds' fraction or offset (then UTC), as Dataverse accepts.
pub(crate) fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let plain = text.trim_end_matches('Z');
    for format in [
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    ] {
        if let Ok(t) = PrimitiveDateTime::parse(plain, format) {
            return Some(t.assume_utc());
        }
    }
    None
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    aliases: &'a HashMap<String, String>,
    depth: usize,
}

/// Parses a `$filter` value; `aliases` holds `@p=value` query parameters.
pub(crate) fn parse(text: &str, aliases: &HashMap<String, String>) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        aliases,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(expr),
        Some(t) => Err(format!(
            "Syntax error at {}: unexpected {}.",
            parser.pos,
            describe(t)
        )),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
        Token::Quoted(s) => format!("'{s}'"),
        Token::Word(w) => format!("'{w}'"),
    }
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn expect(&mut self, want: Token) -> Result<(), String> {
        match self.tokens.get(self.pos) {
            Some(t) if *t == want => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(format!(
                "Expected {} but found {}.",
                describe(&want),
                describe(t)
            )),
            None => Err(format!(
                "Expected {} at the end of the expression.",
                describe(&want)
            )),
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("The $filter expression is nested too deeply.".into());
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.nest()?;
        let mut left = self.and()?;
        while self.peek_word() == Some("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word() == Some("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close)?;
            return Ok(inner);
        }
        let function = match self.peek_word() {
            Some("contains") => Some(StrFn::Contains),
            Some("startswith") => Some(StrFn::StartsWith),
            Some("endswith") => Some(StrFn::EndsWith),
            _ => None,
        };
        if let Some(function) = function
            && self.tokens.get(self.pos + 1) == Some(&Token::Open)
        {
            self.pos += 2;
            let subject = self.operand()?;
            self.expect(Token::Comma)?;
            let needle = self.operand()?;
            self.expect(Token::Close)?;
            return Ok(Expr::Call(function, subject, needle));
        }
        let left = self.operand()?;
        let op = match self.peek_word() {
            Some("eq") => CmpOp::Eq,
            Some("ne") => CmpOp::Ne,
            Some("gt") => CmpOp::Gt,
            Some("ge") => CmpOp::Ge,
            Some("lt") => CmpOp::Lt,
            Some("le") => CmpOp::Le,
            Some(other) => return Err(format!("Unknown operator '{other}'.")),
            None => return Err("Expected a comparison operator.".into()),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(op, left, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("Expected an operand at the end of the expression.")?;
        self.pos += 1;
        match token {
            Token::Quoted(s) => Ok(Operand::Literal(Literal::String(s))),
            Token::Word(w) if w.starts_with('@') => {
                let value = self
                    .aliases
                    .get(&w)
                    .ok_or_else(|| format!("The parameter alias '{w}' has no value."))?;
                alias_operand(value)
            }
            Token::Word(w) => word_operand(&w),
            other => Err(format!(
                "Expected an operand but found {}.",
                describe(&other)
            )),
        }
    }
}

fn alias_operand(value: &str) -> Result<Operand, String> {
    match tokenize(value)?.as_slice() {
        [Token::Quoted(s)] => Ok(Operand::Literal(Literal::String(s.clone()))),
        [Token::Word(w)] => word_operand(w),
        _ => Err(format!(
            "The parameter alias value '{value}' is not a literal."
        )),
    }
}

fn word_operand(word: &str) -> Result<Operand, String> {
    if let Some(literal) = parse_bare_literal(word) {
        return Ok(Operand::Literal(literal));
    }
    // A property, or one step through a single-valued navigation property (`nav/property`).
    let valid = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let names: Vec<&str> = word.split('/').collect();
    if names.len() > 2 || !names.iter().all(|n| valid(n)) {
        return Err(format!(
            "Syntax error: '{word}' is not a property, a 'navigation/property' path or a literal."
        ));
    }
    Ok(Operand::Property(word.to_owned()))
}

impl Expr {
    /// Checks every property exists and every literal fits the property it meets.
    pub(crate) fn check(&self, kind_of: &dyn Fn(&str) -> Option<Kind>) -> Result<(), String> {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.check(kind_of)?;
                b.check(kind_of)
            }
            Expr::Not(a) => a.check(kind_of),
            Expr::Compare(_, a, b) | Expr::Call(_, a, b) => {
                let kind = |o: &Operand| match o {
                    Operand::Property(p) => kind_of(p)
                        .map(Some)
                        .ok_or_else(|| format!("Could not find a property named '{p}'.")),
                    Operand::Literal(_) => Ok(None),
                };
                let (ka, kb) = (kind(a)?, kind(b)?);
                for (k, other) in [(ka, b), (kb, a)] {
                    if let (Some(k), Operand::Literal(l)) = (k, other)
                        && !compatible(k, l)
                    {
                        return Err(format!(
                            "A binary operator with incompatible types was detected. Found operand types '{}' and '{}'.",
                            k.edm_name(),
                            l.type_name()
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Every property or `nav/property` path the expression reads, in the order written
    /// (repeats included).
    pub(crate) fn properties(&self) -> Vec<&str> {
        let mut found = Vec::new();
        let mut pending = vec![self];
        while let Some(expr) = pending.pop() {
            match expr {
                // Right first, so the left side is taken next.
                Expr::Or(a, b) | Expr::And(a, b) => pending.extend([b.as_ref(), a.as_ref()]),
                Expr::Not(a) => pending.push(a),
                Expr::Compare(_, a, b) | Expr::Call(_, a, b) => {
                    for operand in [a, b] {
                        if let Operand::Property(p) = operand {
                            found.push(p.as_str());
                        }
                    }
                }
            }
        }
        found
    }

    /// Whether the record whose values `value_of` gives (by property or `nav/property` path)
    /// matches.
    pub(crate) fn matches<'v>(
        &self,
        value_of: &dyn Fn(&str) -> Option<&'v Value>,
        kind_of: &dyn Fn(&str) -> Option<Kind>,
    ) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(value_of, kind_of) || b.matches(value_of, kind_of),
            Expr::And(a, b) => a.matches(value_of, kind_of) && b.matches(value_of, kind_of),
            Expr::Not(a) => !a.matches(value_of, kind_of),
            Expr::Compare(op, a, b) => {
                let kind = operand_kind(a, kind_of).or_else(|| operand_kind(b, kind_of));
                let (x, y) = (resolve(a, value_of, kind), resolve(b, value_of, kind));
                compare(*op, &x, &y)
            }
            Expr::Call(function, a, b) => {
                let (Comparable::Text(x), Comparable::Text(y)) = (
                    resolve(a, value_of, Some(Kind::String)),
                    resolve(b, value_of, Some(Kind::String)),
                ) else {
                    return false;
                };
                match function {
                    StrFn::Contains => x.contains(&y),
                    StrFn::StartsWith => x.starts_with(&y),
                    StrFn::EndsWith => x.ends_with(&y),
                }
            }
        }
    }
}

fn compatible(kind: Kind, literal: &Literal) -> bool {
    match (kind, literal) {
        (_, Literal::Null) | (Kind::Other, _) => true,
        (Kind::String, Literal::String(_)) => true,
        (Kind::Guid, Literal::Guid(_)) => true,
        (Kind::Guid, Literal::String(s)) => Uuid::parse_str(s).is_ok(),
        (Kind::Boolean, Literal::Bool(_)) => true,
        (Kind::Integer(..), Literal::Int(_)) => true,
        (Kind::Decimal | Kind::Double, Literal::Int(_) | Literal::Number(_)) => true,
        (Kind::Date | Kind::DateTimeOffset, Literal::Date(_) | Literal::DateTime(_)) => true,
        _ => false,
    }
}

fn operand_kind(operand: &Operand, kind_of: &dyn Fn(&str) -> Option<Kind>) -> Option<Kind> {
    match operand {
        Operand::Property(p) => kind_of(p),
        Operand::Literal(_) => None,
    }
}

/// A value brought to a form where comparison follows Dataverse's rules (strings and GUIDs
/// case-insensitive, numbers numeric, dates by instant).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(crate) enum Comparable {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Instant(i128),
}

fn resolve<'v>(
    operand: &Operand,
    value_of: &dyn Fn(&str) -> Option<&'v Value>,
    kind: Option<Kind>,
) -> Comparable {
    match operand {
        Operand::Property(p) => comparable_json(value_of(p).unwrap_or(&Value::Null), kind),
        Operand::Literal(l) => comparable_literal(l, kind),
    }
}

/// A stored JSON value as a [`Comparable`], read as `kind`; text is lowercased, as Dataverse
/// compares it without case.
pub(crate) fn comparable_json(value: &Value, kind: Option<Kind>) -> Comparable {
    match value {
        Value::Null => Comparable::Null,
        Value::Bool(b) => Comparable::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(Comparable::Null, Comparable::Number),
        Value::String(s) => match kind {
            Some(Kind::DateTimeOffset) => parse_datetime(s)
                .or_else(|| parse_date(s).map(|d| d.midnight().assume_utc()))
                .map_or(Comparable::Null, |t| {
                    Comparable::Instant(t.unix_timestamp_nanos())
                }),
            Some(Kind::Date) => parse_date(s).map_or(Comparable::Null, |d| {
                Comparable::Instant(d.midnight().assume_utc().unix_timestamp_nanos())
            }),
            _ => Comparable::Text(s.to_lowercase()),
        },
        other => Comparable::Text(other.to_string().to_lowercase()),
    }
}

fn comparable_literal(literal: &Literal, kind: Option<Kind>) -> Comparable {
    match literal {
        Literal::Null => Comparable::Null,
        Literal::Bool(b) => Comparable::Bool(*b),
        Literal::Int(i) => Comparable::Number(*i as f64),
        Literal::Number(n) => Comparable::Number(*n),
        Literal::String(s) => comparable_json(&Value::String(s.clone()), kind),
        Literal::Guid(g) => Comparable::Text(g.to_string()),
        Literal::Date(d) => Comparable::Instant(
            PrimitiveDateTime::new(*d, Time::MIDNIGHT)
                .assume_utc()
                .unix_timestamp_nanos(),
        ),
        Literal::DateTime(t) => Comparable::Instant(t.unix_timestamp_nanos()),
    }
}

fn compare(op: CmpOp, x: &Comparable, y: &Comparable) -> bool {
    let null = matches!(x, Comparable::Null) || matches!(y, Comparable::Null);
    match op {
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
        _ if null => false,
        _ => match x.partial_cmp(y) {
            Some(Ordering::Greater) => matches!(op, CmpOp::Gt | CmpOp::Ge),
            Some(Ordering::Less) => matches!(op, CmpOp::Lt | CmpOp::Le),
            Some(Ordering::Equal) => matches!(op, CmpOp::Ge | CmpOp::Le),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn kind(p: &str) -> Option<Kind> {
        match p {
            "name" => Some(Kind::String),
            "revenue" => Some(Kind::Decimal),
            "count" => Some(Kind::Integer(i32::MIN.into(), i32::MAX.into())),
            "onhold" => Some(Kind::Boolean),
            "_owner_value" => Some(Kind::Guid),
            "created" => Some(Kind::DateTimeOffset),
            "born" => Some(Kind::Date),
            _ => None,
        }
    }

    fn record() -> Map<String, Value> {
        json!({
            "name": "O'Brien & Sons",
            "revenue": 1500.5,
            "count": 12,
            "onhold": false,
            "_owner_value": "6F1C4B9E-3A52-4C1E-9D0B-2F7E8A1C5D34",
            "created": "2024-03-01T10:00:00Z",
            "born": "1990-05-17",
            "missing": null,
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    fn eval(text: &str) -> bool {
        let aliases = HashMap::from([("@p1".to_owned(), "'o''brien & sons'".to_owned())]);
        let expr = parse(text, &aliases).unwrap_or_else(|e| panic!("{text}: {e}"));
        expr.check(&kind).unwrap_or_else(|e| panic!("{text}: {e}"));
        let record = record();
        expr.matches(&|p| record.get(p), &kind)
    }

    #[test]
    fn evaluates_the_documented_operators() {
        for (text, want) in [
            ("name eq 'o''brien & sons'", true),
            ("name eq @p1", true),
            ("name ne 'x'", true),
            ("revenue gt 1500 and revenue lt 1501", true),
            ("revenue ge 1500.5 and revenue le 1500.5", true),
            ("count eq 12 or count eq 13", true),
            ("not (count eq 12)", false),
            ("not count eq 12 or onhold eq false", true),
            ("(count eq 1 or count eq 12) and onhold eq false", true),
            ("contains(name,'brien')", true),
            ("startswith(name,'O''B')", true),
            ("endswith(name,'sons')", true),
            ("not contains(name,'zzz')", true),
            ("_owner_value eq 6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34", true),
            (
                "_owner_value eq '6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34'",
                true,
            ),
            ("name eq null", false),
            ("name ne null", true),
            ("revenue gt null", false),
            ("created gt 2024-02-29T23:59:59Z", true),
            ("created lt 2024-03-01", false),
            ("born eq 1990-05-17", true),
            ("born lt 2000-01-01", true),
        ] {
            assert_eq!(eval(text), want, "{text}");
        }
    }

    #[test]
    fn lists_every_property_read_in_order() {
        let none = HashMap::new();
        let expr = parse(
            "name eq 'a' and (not contains(owner/fullname,'x') or revenue gt count)",
            &none,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            expr.properties(),
            ["name", "owner/fullname", "revenue", "count"]
        );
    }

    #[test]
    fn rejects_bad_syntax_unknown_properties_and_type_mismatches() {
        let none = HashMap::new();
        for text in [
            "name eq",
            "name eq 'open",
            "(name eq 'a'",
            "name like 'a'",
            "name eq 'a' extra",
            "a/b/c eq 'x'",
            "a//b eq 'x'",
            "name eq @missing",
            "",
        ] {
            assert!(parse(text, &none).is_err(), "{text}");
        }
        for text in [
            "nosuch eq 1",
            "count eq 'twelve'",
            "onhold eq 1",
            "name eq 5",
        ] {
            let expr = parse(text, &none).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(expr.check(&kind).is_err(), "{text}");
        }
        let deep = format!("{}name eq 'a'{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep, &none).is_err());
    }
}
