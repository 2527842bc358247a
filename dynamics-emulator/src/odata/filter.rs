//! `$filter`: a parser for the subset Dataverse documents (comparisons, `and`/`or`/`not`,
//! parentheses, `contains`/`startswith`/`endswith`, typed literals, `@p` aliases, Dataverse's
//! query functions and `any`/`all` lambdas over collection-valued navigation properties) and
//! an evaluator over stored JSON records, typed by the schema.
//!
//! Lambdas: <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows#filter-using-values-of-related-collections>.
//! Inside one, properties are read through its variable (`a/statecode`); a reference to an
//! enclosing lambda's variable is refused.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use super::function::{Call, Param};
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
    /// `Microsoft.Dynamics.CRM.<function>(...)`.
    Function(Call),
    /// `nav/any(a:body)` (`all` when `all`); `nav/any()` has no body.
    Lambda {
        navigation: String,
        all: bool,
        body: Option<Box<Expr>>,
    },
}

/// What a filter needs to know of the records it tests, by property or `nav/property` path.
pub(crate) trait Shape {
    /// The kind of a property or path; `None` when there is no such property.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// The shape of the records of a collection-valued navigation property.
    fn related(&self, navigation: &str) -> Option<Box<dyn Shape + '_>>;
}

/// A table known only by its properties' kinds, without navigation properties.
impl<F: Fn(&str) -> Option<Kind>> Shape for F {
    fn kind(&self, path: &str) -> Option<Kind> {
        self(path)
    }

    fn related(&self, _: &str) -> Option<Box<dyn Shape + '_>> {
        None
    }
}

/// What a query function reads besides the record: the clock and the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context {
    /// Now, in UTC.
    pub(crate) now: OffsetDateTime,
    /// The calling user's `systemuserid`.
    pub(crate) user: Uuid,
    /// The calling user's business unit.
    pub(crate) business_unit: Uuid,
}

/// The record a filter tests, and what is around it.
pub(crate) trait Row<'v> {
    /// A property or `nav/property` path's value.
    fn value(&self, path: &str) -> Option<&'v Value>;
    /// A property or path's kind.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// The records of a collection-valued navigation property.
    fn related(&self, navigation: &str) -> Vec<Box<dyn Row<'v> + '_>>;
    /// The parent of record `id` of this record's table in the table's hierarchy.
    fn parent(&self, id: Uuid) -> Option<Uuid>;
    /// The clock and the caller.
    fn context(&self) -> &Context;
}

/// A record known only by its values and their kinds.
struct Plain<'a, 'v> {
    value_of: &'a dyn Fn(&str) -> Option<&'v Value>,
    kind_of: &'a dyn Fn(&str) -> Option<Kind>,
    context: Context,
}

impl<'v> Row<'v> for Plain<'_, 'v> {
    fn value(&self, path: &str) -> Option<&'v Value> {
        (self.value_of)(path)
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        (self.kind_of)(path)
    }

    fn related(&self, _: &str) -> Vec<Box<dyn Row<'v> + '_>> {
        Vec::new()
    }

    fn parent(&self, _: Uuid) -> Option<Uuid> {
        None
    }

    fn context(&self) -> &Context {
        &self.context
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Quoted(String),
    Word(String),
    /// `[...]`: a list parameter's items (`["a","b"]`, `['a','b']`, `[1,2]`).
    List(Vec<String>),
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
                tokens.push(Token::Quoted(quoted(&mut chars)?));
            }
            '[' => {
                chars.next();
                tokens.push(Token::List(list(&mut chars)?));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'' | '[') {
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

/// An OData string literal's text after its opening `'`, up to its closing one (`''` inside
/// is one quote).
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut s = String::new();
    loop {
        match chars.next() {
            Some('\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                s.push('\'');
            }
            Some('\'') => return Ok(s),
            Some(c) => s.push(c),
            None => return Err("Unterminated string literal.".into()),
        }
    }
}

/// The items of a list after its `[`, up to its `]`: JSON strings (`"O'Brian"`), OData strings
/// (`'O''Brian'`) or bare values (`5`).
fn list(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let item = match chars.peek() {
            Some(']') if items.is_empty() => {
                chars.next();
                return Ok(items);
            }
            Some('"') => {
                let mut raw = String::from('"');
                chars.next();
                loop {
                    match chars.next() {
                        Some('\\') => {
                            raw.push('\\');
                            raw.push(chars.next().ok_or("Unterminated string in a list.")?);
                        }
                        Some('"') => break,
                        Some(c) => raw.push(c),
                        None => return Err("Unterminated string in a list.".into()),
                    }
                }
                raw.push('"');
                serde_json::from_str::<String>(&raw)
                    .map_err(|e| format!("Invalid JSON in a list: {e}."))?
            }
            Some('\'') => {
                chars.next();
                quoted(chars)?
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' || c == ']' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                s.trim().to_owned()
            }
            None => return Err("Unterminated list.".into()),
        };
        items.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some(',') => {}
            Some(']') => return Ok(items),
            _ => {
                return Err(
                    "Invalid JSON. A comma character ',' was expected in scope 'Array'.".into(),
                );
            }
        }
    }
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
    /// The variables of the lambdas around the current position, innermost last.
    variables: Vec<String>,
}

/// Dataverse's namespace, which qualifies every query function.
const NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// Parses a `$filter` value; `aliases` holds `@p=value` query parameters.
pub(crate) fn parse(text: &str, aliases: &HashMap<String, String>) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        aliases,
        depth: 0,
        variables: Vec::new(),
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
        Token::List(_) => "a list".into(),
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
        let opens = self.tokens.get(self.pos + 1) == Some(&Token::Open);
        if let Some(word) = self.peek_word()
            && opens
        {
            if let Some(name) = word.strip_prefix(NAMESPACE) {
                let name = name.to_owned();
                self.pos += 2;
                return self.query_function(&name);
            }
            if let Some((path, operator)) = word.rsplit_once('/')
                && matches!(operator, "any" | "all")
            {
                let (path, all) = (path.to_owned(), operator == "all");
                self.pos += 2;
                return self.lambda(&path, all);
            }
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
            Token::Word(w) => match parse_bare_literal(&w) {
                Some(literal) => Ok(Operand::Literal(literal)),
                None => word_operand(&self.relative(&w)?),
            },
            other => Err(format!(
                "Expected an operand but found {}.",
                describe(&other)
            )),
        }
    }

    /// A path as the record it is read from sees it: inside a lambda, without the lambda's
    /// variable (`a/subject` is `subject` of the related record).
    fn relative(&self, path: &str) -> Result<String, String> {
        let Some(variable) = self.variables.last() else {
            return Ok(path.to_owned());
        };
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        if head == variable && !rest.is_empty() {
            return Ok(rest.to_owned());
        }
        if self.variables.iter().any(|v| v == head) {
            return Err(format!(
                "'{path}' refers to an enclosing lambda's variable, which this emulator does not support."
            ));
        }
        Err(format!(
            "'{path}' must be read through the lambda variable '{variable}' ('{variable}/...')."
        ))
    }

    /// `Microsoft.Dynamics.CRM.<name>(Param=value,...)`, after its `(`.
    fn query_function(&mut self, name: &str) -> Result<Expr, String> {
        let mut params = Vec::new();
        if self.tokens.get(self.pos) == Some(&Token::Close) {
            self.pos += 1;
        } else {
            loop {
                let Some(Token::Word(word)) = self.tokens.get(self.pos).cloned() else {
                    return Err(format!(
                        "Expected a parameter name in 'Microsoft.Dynamics.CRM.{name}'."
                    ));
                };
                self.pos += 1;
                let (param, inline) = word.split_once('=').ok_or_else(|| {
                    format!(
                        "Expected 'Name=value' in 'Microsoft.Dynamics.CRM.{name}', found '{word}'."
                    )
                })?;
                let value = if inline.is_empty() {
                    let token = self
                        .tokens
                        .get(self.pos)
                        .cloned()
                        .ok_or("Expected a parameter value at the end of the expression.")?;
                    self.pos += 1;
                    self.param(token)?
                } else {
                    self.param(Token::Word(inline.to_owned()))?
                };
                params.push((param.to_owned(), value));
                match self.tokens.get(self.pos) {
                    Some(Token::Comma) => self.pos += 1,
                    Some(Token::Close) => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "Expected ',' or ')' in 'Microsoft.Dynamics.CRM.{name}'."
                        ));
                    }
                }
            }
        }
        Call::new(name, params, &|p| self.relative(p)).map(Expr::Function)
    }

    /// A function parameter's value: a string, a list, a bare value or an `@p` alias.
    fn param(&self, token: Token) -> Result<Param, String> {
        match token {
            Token::Quoted(s) => Ok(Param::Text(s)),
            Token::List(items) => Ok(Param::List(items)),
            Token::Word(w) if w.starts_with('@') => {
                let value = self
                    .aliases
                    .get(&w)
                    .ok_or_else(|| format!("The parameter alias '{w}' has no value."))?;
                match tokenize(value)?.as_slice() {
                    [Token::Quoted(s)] => Ok(Param::Text(s.clone())),
                    [Token::List(items)] => Ok(Param::List(items.clone())),
                    [Token::Word(w)] if !w.starts_with('@') => Ok(Param::Text(w.clone())),
                    _ => Err(format!(
                        "The parameter alias value '{value}' is not a value."
                    )),
                }
            }
            Token::Word(w) => Ok(Param::Text(w)),
            other => Err(format!(
                "Expected a parameter value but found {}.",
                describe(&other)
            )),
        }
    }

    /// `path/any(a:body)`, `path/all(a:body)` or `path/any()`, after the `(`.
    fn lambda(&mut self, path: &str, all: bool) -> Result<Expr, String> {
        let navigation = self.relative(path)?;
        if navigation.is_empty()
            || !navigation
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "'{path}' is not a collection-valued navigation property; a lambda cannot follow a lookup."
            ));
        }
        if self.tokens.get(self.pos) == Some(&Token::Close) && !all {
            self.pos += 1;
            return Ok(Expr::Lambda {
                navigation,
                all,
                body: None,
            });
        }
        let Some(Token::Word(word)) = self.tokens.get(self.pos).cloned() else {
            return Err(format!("Expected 'variable:expression' after '{path}/'."));
        };
        let (variable, rest) = word.split_once(':').ok_or_else(|| {
            format!("Expected 'variable:expression' after '{path}/', found '{word}'.")
        })?;
        if variable.is_empty()
            || !variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("'{variable}' is not a valid lambda variable."));
        }
        if rest.is_empty() {
            self.pos += 1;
        } else if let Some(token) = self.tokens.get_mut(self.pos) {
            *token = Token::Word(rest.to_owned());
        }
        self.variables.push(variable.to_owned());
        self.nest()?;
        let body = self.or();
        self.depth -= 1;
        self.variables.pop();
        let body = body?;
        self.expect(Token::Close)?;
        Ok(Expr::Lambda {
            navigation,
            all,
            body: Some(Box::new(body)),
        })
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
    pub(crate) fn check(&self, shape: &dyn Shape) -> Result<(), String> {
        let kind_of = |p: &str| shape.kind(p);
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.check(shape)?;
                b.check(shape)
            }
            Expr::Not(a) => a.check(shape),
            Expr::Function(call) => call.check(shape),
            Expr::Lambda {
                navigation, body, ..
            } => {
                let related = shape.related(navigation).ok_or_else(|| {
                    format!("Could not find a collection-valued navigation property named '{navigation}'.")
                })?;
                match body {
                    Some(body) => body.check(related.as_ref()),
                    None => Ok(()),
                }
            }
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
    pub(crate) fn properties(&self) -> Vec<Cow<'_, str>> {
        let mut found = Vec::new();
        let mut pending = vec![self];
        while let Some(expr) = pending.pop() {
            match expr {
                // Right first, so the left side is taken next.
                Expr::Or(a, b) | Expr::And(a, b) => pending.extend([b.as_ref(), a.as_ref()]),
                Expr::Not(a) => pending.push(a),
                // A lambda's body reads another table's records.
                Expr::Lambda { .. } => {}
                Expr::Function(call) => {
                    let [plain, lookup] = call.columns();
                    found.extend([plain, lookup].map(Cow::Owned));
                }
                Expr::Compare(_, a, b) | Expr::Call(_, a, b) => {
                    for operand in [a, b] {
                        if let Operand::Property(p) = operand {
                            found.push(Cow::Borrowed(p.as_str()));
                        }
                    }
                }
            }
        }
        found
    }

    /// Whether the record whose values `value_of` gives (by property or `nav/property` path)
    /// matches; for filters without query functions or lambdas.
    pub(crate) fn matches<'v>(
        &self,
        value_of: &dyn Fn(&str) -> Option<&'v Value>,
        kind_of: &dyn Fn(&str) -> Option<Kind>,
    ) -> bool {
        self.holds(&Plain {
            value_of,
            kind_of,
            context: Context {
                now: OffsetDateTime::now_utc(),
                user: Uuid::nil(),
                business_unit: Uuid::nil(),
            },
        })
    }

    /// Whether `row` matches.
    pub(crate) fn holds<'v>(&self, row: &dyn Row<'v>) -> bool {
        match self {
            Expr::Or(a, b) => a.holds(row) || b.holds(row),
            Expr::And(a, b) => a.holds(row) && b.holds(row),
            Expr::Not(a) => !a.holds(row),
            Expr::Compare(op, a, b) => {
                let kind = operand_kind(a, row).or_else(|| operand_kind(b, row));
                let (x, y) = (resolve(a, row, kind), resolve(b, row, kind));
                compare(*op, &x, &y)
            }
            Expr::Call(function, a, b) => {
                let (Comparable::Text(x), Comparable::Text(y)) = (
                    resolve(a, row, Some(Kind::String)),
                    resolve(b, row, Some(Kind::String)),
                ) else {
                    return false;
                };
                match function {
                    StrFn::Contains => x.contains(&y),
                    StrFn::StartsWith => x.starts_with(&y),
                    StrFn::EndsWith => x.ends_with(&y),
                }
            }
            Expr::Function(call) => call.holds(row),
            Expr::Lambda {
                navigation,
                all,
                body,
            } => {
                let related = row.related(navigation);
                match (body, all) {
                    (None, _) => !related.is_empty(),
                    (Some(body), true) => related.iter().all(|r| body.holds(r.as_ref())),
                    (Some(body), false) => related.iter().any(|r| body.holds(r.as_ref())),
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

fn operand_kind<'v>(operand: &Operand, row: &dyn Row<'v>) -> Option<Kind> {
    match operand {
        Operand::Property(p) => row.kind(p),
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

fn resolve<'v>(operand: &Operand, row: &dyn Row<'v>, kind: Option<Kind>) -> Comparable {
    match operand {
        Operand::Property(p) => comparable_json(row.value(p).unwrap_or(&Value::Null), kind),
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
