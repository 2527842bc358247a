//! Typed columns and the filters and orderings built from them.

use std::fmt;
use std::marker::PhantomData;

use super::literal::Literal;

/// A column of table `E` whose values are `T`, generated as an associated constant
/// (`Account::NAME: Column<Account, String>`). Comparing it with a value of another type does
/// not compile.
pub struct Column<E, T> {
    name: &'static str,
    navigation: Option<&'static str>,
    /// Inside an `any`/`all` lambda: the path to the column's record (`t`, `t/contact`).
    scope: Option<&'static str>,
    marker: PhantomData<fn() -> (E, T)>,
}

impl<E, T> Column<E, T> {
    /// A column with this wire name.
    pub const fn new(name: &'static str) -> Self {
        Column {
            name,
            navigation: None,
            scope: None,
            marker: PhantomData,
        }
    }

    /// A lookup column (`_x_value`) and a single-valued navigation property that sets it.
    pub const fn lookup(name: &'static str, navigation: &'static str) -> Self {
        Column {
            name,
            navigation: Some(navigation),
            scope: None,
            marker: PhantomData,
        }
    }

    /// The same column read through the lambda variable `scope` (`a/name`), as a column of
    /// the lambda's record type `F`.
    pub(crate) fn scoped<F>(self, scope: &'static str) -> Column<F, T> {
        Column {
            name: self.name,
            navigation: self.navigation,
            scope: Some(scope),
            marker: PhantomData,
        }
    }

    /// How a query function's `PropertyName` names the column: the attribute's logical name,
    /// so `ownerid` for the lookup property `_ownerid_value` (`a/ownerid` inside a lambda).
    pub(crate) fn logical_path(&self) -> String {
        let logical = match self.navigation {
            Some(_) => self
                .name
                .strip_prefix('_')
                .and_then(|n| n.strip_suffix("_value"))
                .unwrap_or(self.name),
            None => self.name,
        };
        match self.scope {
            Some(scope) => format!("{scope}/{logical}"),
            None => logical.to_owned(),
        }
    }

    /// How a filter names the column: `name`, or `t/name` inside a lambda.
    pub(crate) fn path(&self) -> String {
        match self.scope {
            Some(scope) => format!("{scope}/{}", self.name),
            None => self.name.to_owned(),
        }
    }

    /// The name on the wire (`name`, `_parentaccountid_value`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// For a lookup, the navigation property that sets it.
    pub const fn navigation(&self) -> Option<&'static str> {
        self.navigation
    }

    /// Ascending order on this column.
    pub fn asc(self) -> OrderBy<E> {
        OrderBy::new(self.name, false)
    }

    /// Descending order on this column.
    pub fn desc(self) -> OrderBy<E> {
        OrderBy::new(self.name, true)
    }

    /// `column eq null`.
    pub fn is_null(self) -> Filter<E> {
        Filter::new(format!("{} eq null", self.path()))
    }

    /// `column ne null`.
    pub fn is_not_null(self) -> Filter<E> {
        Filter::new(format!("{} ne null", self.path()))
    }
}

impl<E, T: Literal> Column<E, T> {
    pub(crate) fn compare(self, operator: &str, value: &T) -> Filter<E> {
        let mut expression = format!("{} {operator} ", self.path());
        value.write_literal(&mut expression);
        Filter::new(expression)
    }

    /// `column eq value`.
    pub fn eq(self, value: impl Into<T>) -> Filter<E> {
        self.compare("eq", &value.into())
    }

    /// `column ne value`.
    pub fn ne(self, value: impl Into<T>) -> Filter<E> {
        self.compare("ne", &value.into())
    }

    /// `column gt value`.
    pub fn gt(self, value: impl Into<T>) -> Filter<E> {
        self.compare("gt", &value.into())
    }

    /// `column ge value`.
    pub fn ge(self, value: impl Into<T>) -> Filter<E> {
        self.compare("ge", &value.into())
    }

    /// `column lt value`.
    pub fn lt(self, value: impl Into<T>) -> Filter<E> {
        self.compare("lt", &value.into())
    }

    /// `column le value`.
    pub fn le(self, value: impl Into<T>) -> Filter<E> {
        self.compare("le", &value.into())
    }

    /// The column equals one of the values. One value is `c eq v`; more are Dataverse's
    /// `Microsoft.Dynamics.CRM.In` function, which keeps the URL short however long the list
    /// (see [`Column::is_in_chunks`] for lists too long for one URL); no value matches nothing.
    pub fn is_in<I, V>(self, values: I) -> Filter<E>
    where
        I: IntoIterator<Item = V>,
        V: Into<T>,
    {
        let values: Vec<T> = values.into_iter().map(Into::into).collect();
        match values.as_slice() {
            // `false` is a valid OData boolean expression and selects no record.
            [] => Filter::new("false".to_owned()),
            [one] => self.compare("eq", one),
            many => self.in_values(many),
        }
    }
}

impl<E> Column<E, String> {
    fn function(self, name: &str, value: &str) -> Filter<E> {
        let mut expression = format!("{name}({},", self.path());
        value.write_literal(&mut expression);
        expression.push(')');
        Filter::new(expression)
    }

    /// `contains(column,'value')`.
    pub fn contains(self, value: impl AsRef<str>) -> Filter<E> {
        self.function("contains", value.as_ref())
    }

    /// `startswith(column,'value')`.
    pub fn starts_with(self, value: impl AsRef<str>) -> Filter<E> {
        self.function("startswith", value.as_ref())
    }

    /// `endswith(column,'value')`.
    pub fn ends_with(self, value: impl AsRef<str>) -> Filter<E> {
        self.function("endswith", value.as_ref())
    }
}

// Columns are constants: copyable whatever `E` and `T` are.
impl<E, T> Clone for Column<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, T> Copy for Column<E, T> {}

impl<E, T> fmt::Debug for Column<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("navigation", &self.navigation)
            .finish()
    }
}

/// A `$filter` expression on table `E`.
pub struct Filter<E> {
    expression: String,
    marker: PhantomData<fn() -> E>,
}

impl<E> Filter<E> {
    pub(crate) fn new(expression: String) -> Self {
        Filter {
            expression,
            marker: PhantomData,
        }
    }

    /// An expression written by hand, sent as is. Nothing is escaped: never put user input
    /// in it; use the typed columns for values.
    pub fn raw_unchecked(expression: impl Into<String>) -> Self {
        Filter::new(expression.into())
    }

    /// Both hold.
    pub fn and(self, other: Filter<E>) -> Self {
        Filter::new(format!("({}) and ({})", self.expression, other.expression))
    }

    /// Either holds.
    pub fn or(self, other: Filter<E>) -> Self {
        Filter::new(format!("({}) or ({})", self.expression, other.expression))
    }

    /// The expression as sent, before URL encoding.
    pub fn as_str(&self) -> &str {
        &self.expression
    }
}

impl<E> std::ops::Not for Filter<E> {
    type Output = Filter<E>;

    /// `not (expression)`.
    fn not(self) -> Self::Output {
        Filter::new(format!("not ({})", self.expression))
    }
}

impl<E> Clone for Filter<E> {
    fn clone(&self) -> Self {
        Filter::new(self.expression.clone())
    }
}

impl<E> fmt::Debug for Filter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&self.expression).finish()
    }
}

impl<E> fmt::Display for Filter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// One key of `$orderby`.
pub struct OrderBy<E> {
    column: &'static str,
    descending: bool,
    marker: PhantomData<fn() -> E>,
}

impl<E> OrderBy<E> {
    fn new(column: &'static str, descending: bool) -> Self {
        OrderBy {
            column,
            descending,
            marker: PhantomData,
        }
    }

    pub(crate) fn to_odata(&self) -> String {
        if self.descending {
            format!("{} desc", self.column)
        } else {
            format!("{} asc", self.column)
        }
    }
}

impl<E> Clone for OrderBy<E> {
    fn clone(&self) -> Self {
        OrderBy::new(self.column, self.descending)
    }
}

impl<E> fmt::Debug for OrderBy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_odata())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    struct Account;
    const NAME: Column<Account, String> = Column::new("name");
    const EMPLOYEES: Column<Account, i32> = Column::new("numberofemployees");
    const PARENT: Column<Account, Uuid> =
        Column::lookup("_parentaccountid_value", "parentaccountid");

    #[test]
    fn filters_are_built_and_escaped() {
        let f = NAME.eq("O'Neil").and(EMPLOYEES.ge(10)).or(!NAME.is_null());
        assert_eq!(
            f.as_str(),
            "((name eq 'O''Neil') and (numberofemployees ge 10)) or (not (name eq null))"
        );
        assert_eq!(
            PARENT.eq(Uuid::nil()).as_str(),
            "_parentaccountid_value eq 00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(NAME.contains("a'b").as_str(), "contains(name,'a''b')");
        assert_eq!(NAME.starts_with("Con").as_str(), "startswith(name,'Con')");
        assert_eq!(
            EMPLOYEES.is_in([1, 2]).as_str(),
            "Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=[\"1\",\"2\"])"
        );
        assert_eq!(EMPLOYEES.is_in([7]).as_str(), "numberofemployees eq 7");
        assert_eq!(EMPLOYEES.is_in(Vec::<i32>::new()).as_str(), "false");
        assert_eq!(NAME.desc().to_odata(), "name desc");
        assert_eq!(PARENT.navigation(), Some("parentaccountid"));
    }

    /// User input cannot change the shape of a filter: it stays one string literal.
    #[test]
    fn injection_stays_inside_the_literal() {
        let hostile = "x' or name ne 'zz";
        let f = NAME.eq(hostile);
        assert_eq!(f.as_str(), "name eq 'x'' or name ne ''zz'");
        // Outside the literal there is exactly one operator.
        let outside: String = {
            let mut inside = false;
            let mut out = String::new();
            for c in f.as_str().chars() {
                if c == '\'' {
                    inside = !inside;
                } else if !inside {
                    out.push(c);
                }
            }
            out
        };
        assert_eq!(outside.trim(), "name eq");
    }
}
