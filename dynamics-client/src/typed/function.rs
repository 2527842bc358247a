//! Dataverse's query functions in `$filter`
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/queryfunctions>),
//! each offered only on columns of the kind it evaluates.
//!
//! Every function is written as its fully qualified name with named parameters, as the Web API
//! requires: `Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)`, and
//! lists as `PropertyValues=["a","b"]` (double quotes, so that a value holding `'` needs no
//! escape: "Manage single quotes" in
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows>).
//!
//! A function on a column of the wrong kind does not compile:
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const NAME: Column<Account, String> = Column::new("name");
//! let _ = NAME.last_x_days(7); // a date function on a text column
//! ```
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const NAME: Column<Account, String> = Column::new("name");
//! let _ = NAME.equal_user_id(); // a user function on a text column
//! ```
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const CREATED: Column<Account, time::OffsetDateTime> = Column::new("createdon");
//! let _ = CREATED.contain_values([1]); // a multi-select function on a date column
//! ```
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const ID: Column<Account, uuid::Uuid> = Column::new("accountid");
//! let _ = ID.between(uuid::Uuid::nil(), uuid::Uuid::from_u128(1)); // a range on an identifier
//! ```

use rust_decimal::Decimal;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::choice::{Choice, MultiChoice};
use super::column::{Column, Filter};
use super::literal::{Literal, literal};

/// The namespace every Dataverse query function is qualified with.
const NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// Dataverse's cap on a `GET` URL, in characters
/// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/overview>).
pub const MAX_URL_LENGTH: usize = 32_768;

/// Values that can be summed and averaged: integers, floating-point numbers and decimals
/// (money included).
pub trait Numeric: Ordered {}

/// Values with an order, for ranges (`Between`) and `min`/`max`: numbers and dates.
pub trait Ordered: Literal {}

/// Date and date-time values, for the date functions (`Today`, `LastXDays`, `On`, ...).
pub trait Temporal: Literal {}

/// Unique identifiers, for the user, business unit and hierarchy functions.
pub trait Identifier: Literal {}

macro_rules! kinds {
    ($trait:ident: $($t:ty),*) => {$( impl $trait for $t {} )*};
}
kinds!(Numeric: u8, i16, i32, i64, f32, f64, Decimal);
kinds!(Ordered: u8, i16, i32, i64, f32, f64, Decimal, OffsetDateTime, Date);
kinds!(Temporal: OffsetDateTime, Date);
kinds!(Identifier: Uuid);

/// A value as the text a function's list parameter carries: a string without its OData
/// quotes, anything else as its literal.
fn plain<T: Literal + ?Sized>(value: &T) -> String {
    let text = literal(value);
    match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => text,
    }
}

/// `["a","b"]`: each value a JSON string, as the documented examples write them.
fn json_list<'v, T: Literal + 'v>(values: impl IntoIterator<Item = &'v T>) -> String {
    let items: Vec<String> = values
        .into_iter()
        .map(|v| serde_json::Value::String(plain(v)).to_string())
        .collect();
    format!("[{}]", items.join(","))
}

impl<E, T> Column<E, T> {
    /// `Microsoft.Dynamics.CRM.{function}(PropertyName='column'{more})`. A lookup is named by
    /// its logical name (`ownerid`, not `_ownerid_value`), as the functions expect.
    fn query_function(self, function: &str, more: &str) -> Filter<E> {
        let mut expression = format!("{NAMESPACE}{function}(PropertyName=");
        self.logical_path().as_str().write_literal(&mut expression);
        expression.push_str(more);
        expression.push(')');
        Filter::new(expression)
    }

    /// A function with a whole-number parameter: `...,PropertyValue=7)`.
    fn function_count(self, function: &str, count: u32) -> Filter<E> {
        self.query_function(function, &format!(",PropertyValue={count}"))
    }

    /// A function with one text parameter: `...,PropertyValue='v')`.
    fn function_text(self, function: &str, value: &str) -> Filter<E> {
        self.query_function(function, &format!(",PropertyValue={}", literal(value)))
    }
}

impl<E, T: Literal> Column<E, T> {
    /// `Microsoft.Dynamics.CRM.In` over these values (at least one).
    pub(crate) fn in_values(self, values: &[T]) -> Filter<E> {
        self.query_function(
            "In",
            &format!(",PropertyValues={}", json_list(values.iter())),
        )
    }

    /// The column equals none of the values (`Microsoft.Dynamics.CRM.NotIn`); no value
    /// matches every record.
    pub fn not_in<I, V>(self, values: I) -> Filter<E>
    where
        I: IntoIterator<Item = V>,
        V: Into<T>,
    {
        let values: Vec<T> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            return Filter::new("true".to_owned());
        }
        self.query_function(
            "NotIn",
            &format!(",PropertyValues={}", json_list(values.iter())),
        )
    }

    /// [`Column::is_in`] for a list too long for one request: one filter per part, each part
    /// at most `values_per_request` values (at least 1). Run one query per filter and merge
    /// the results.
    ///
    /// The splitting rule: a `GET` URL may hold at most [`MAX_URL_LENGTH`] characters. A
    /// value costs its own length plus about 10 characters once quoted, separated and
    /// percent-encoded (a GUID about 45), so 500 GUIDs per request (about 22,500 characters)
    /// leave room for the rest of the query. Inside a `$batch` a URL may be twice as long.
    pub fn is_in_chunks<I, V>(self, values: I, values_per_request: usize) -> Vec<Filter<E>>
    where
        I: IntoIterator<Item = V>,
        V: Into<T>,
    {
        let values: Vec<T> = values.into_iter().map(Into::into).collect();
        values
            .chunks(values_per_request.max(1))
            .map(|part| match part {
                [one] => self.compare("eq", one),
                many => self.in_values(many),
            })
            .collect()
    }
}

impl<E, T: Ordered> Column<E, T> {
    /// `low <= column <= high` (`Microsoft.Dynamics.CRM.Between`).
    pub fn between(self, low: impl Into<T>, high: impl Into<T>) -> Filter<E> {
        let values = [low.into(), high.into()];
        self.query_function(
            "Between",
            &format!(",PropertyValues={}", json_list(values.iter())),
        )
    }

    /// The column is outside `low..=high` (`Microsoft.Dynamics.CRM.NotBetween`).
    pub fn not_between(self, low: impl Into<T>, high: impl Into<T>) -> Filter<E> {
        let values = [low.into(), high.into()];
        self.query_function(
            "NotBetween",
            &format!(",PropertyValues={}", json_list(values.iter())),
        )
    }
}

/// Date functions without a parameter: (method, Dataverse function, what it selects).
macro_rules! date_functions {
    ($($method:ident => $function:literal, $doc:literal;)*) => {
        impl<E, T: Temporal> Column<E, T> {$(
            #[doc = concat!($doc, " (`Microsoft.Dynamics.CRM.", $function, "`).")]
            pub fn $method(self) -> Filter<E> {
                self.query_function($function, "")
            }
        )*}
    };
}

/// Date functions counting units from now: (method, Dataverse function, what it selects).
macro_rules! date_count_functions {
    ($($method:ident => $function:literal, $doc:literal;)*) => {
        impl<E, T: Temporal> Column<E, T> {$(
            #[doc = concat!($doc, " (`Microsoft.Dynamics.CRM.", $function, "`).")]
            pub fn $method(self, count: u32) -> Filter<E> {
                self.function_count($function, count)
            }
        )*}
    };
}

date_functions! {
    today => "Today", "The value is today";
    yesterday => "Yesterday", "The value is yesterday";
    tomorrow => "Tomorrow", "The value is tomorrow";
    last_seven_days => "Last7Days", "The value is within the last seven days, today included";
    next_seven_days => "Next7Days", "The value is within the next seven days, today included";
    this_week => "ThisWeek", "The value is in the current week";
    last_week => "LastWeek", "The value is in the previous week";
    next_week => "NextWeek", "The value is in the next week";
    this_month => "ThisMonth", "The value is in the current month";
    last_month => "LastMonth", "The value is in the previous month";
    next_month => "NextMonth", "The value is in the next month";
    this_year => "ThisYear", "The value is in the current year";
    last_year => "LastYear", "The value is in the previous year";
    next_year => "NextYear", "The value is in the next year";
    this_fiscal_year => "ThisFiscalYear", "The value is in the current fiscal year";
    last_fiscal_year => "LastFiscalYear", "The value is in the previous fiscal year";
    next_fiscal_year => "NextFiscalYear", "The value is in the next fiscal year";
    this_fiscal_period => "ThisFiscalPeriod", "The value is in the current fiscal period";
    last_fiscal_period => "LastFiscalPeriod", "The value is in the previous fiscal period";
    next_fiscal_period => "NextFiscalPeriod", "The value is in the next fiscal period";
}

date_count_functions! {
    last_x_hours => "LastXHours", "The value is within the last `count` hours";
    last_x_days => "LastXDays", "The value is within the last `count` days";
    last_x_weeks => "LastXWeeks", "The value is within the last `count` weeks";
    last_x_months => "LastXMonths", "The value is within the last `count` months";
    last_x_years => "LastXYears", "The value is within the last `count` years";
    next_x_hours => "NextXHours", "The value is within the next `count` hours";
    next_x_days => "NextXDays", "The value is within the next `count` days";
    next_x_weeks => "NextXWeeks", "The value is within the next `count` weeks";
    next_x_months => "NextXMonths", "The value is within the next `count` months";
    next_x_years => "NextXYears", "The value is within the next `count` years";
    older_than_x_minutes => "OlderThanXMinutes", "The value is older than `count` minutes";
    older_than_x_hours => "OlderThanXHours", "The value is older than `count` hours";
    older_than_x_days => "OlderThanXDays", "The value is older than `count` days";
    older_than_x_weeks => "OlderThanXWeeks", "The value is older than `count` weeks";
    older_than_x_months => "OlderThanXMonths", "The value is older than `count` months";
    older_than_x_years => "OlderThanXYears", "The value is older than `count` years";
    last_x_fiscal_years => "LastXFiscalYears", "The value is within the last `count` fiscal years";
    next_x_fiscal_years => "NextXFiscalYears", "The value is within the next `count` fiscal years";
    last_x_fiscal_periods => "LastXFiscalPeriods", "The value is within the last `count` fiscal periods";
    next_x_fiscal_periods => "NextXFiscalPeriods", "The value is within the next `count` fiscal periods";
}

impl<E, T: Temporal> Column<E, T> {
    /// The value is on this day (`Microsoft.Dynamics.CRM.On`).
    pub fn on(self, day: Date) -> Filter<E> {
        self.function_text("On", &plain(&day))
    }

    /// The value is on this day or later (`Microsoft.Dynamics.CRM.OnOrAfter`).
    pub fn on_or_after(self, day: Date) -> Filter<E> {
        self.function_text("OnOrAfter", &plain(&day))
    }

    /// The value is on this day or earlier (`Microsoft.Dynamics.CRM.OnOrBefore`).
    pub fn on_or_before(self, day: Date) -> Filter<E> {
        self.function_text("OnOrBefore", &plain(&day))
    }

    /// The value is in this fiscal year (`Microsoft.Dynamics.CRM.InFiscalYear`).
    pub fn in_fiscal_year(self, year: u32) -> Filter<E> {
        self.function_count("InFiscalYear", year)
    }
}

impl<E, T: Identifier> Column<E, T> {
    /// The value is the calling user's id (`Microsoft.Dynamics.CRM.EqualUserId`): on
    /// `ownerid`, the records the caller owns.
    pub fn equal_user_id(self) -> Filter<E> {
        self.query_function("EqualUserId", "")
    }

    /// The value is not the calling user's id (`Microsoft.Dynamics.CRM.NotEqualUserId`).
    pub fn not_equal_user_id(self) -> Filter<E> {
        self.query_function("NotEqualUserId", "")
    }

    /// The value is the calling user's business unit (`Microsoft.Dynamics.CRM.EqualBusinessId`).
    pub fn equal_business_id(self) -> Filter<E> {
        self.query_function("EqualBusinessId", "")
    }

    /// The value is not the calling user's business unit
    /// (`Microsoft.Dynamics.CRM.NotEqualBusinessId`).
    pub fn not_equal_business_id(self) -> Filter<E> {
        self.query_function("NotEqualBusinessId", "")
    }

    /// The record is an ancestor of `record` in the table's hierarchy
    /// (`Microsoft.Dynamics.CRM.Above`); used on the primary key of a table with a
    /// hierarchical relationship.
    pub fn above(self, record: Uuid) -> Filter<E> {
        self.function_text("Above", &plain(&record))
    }

    /// The record is `record` or one of its ancestors (`Microsoft.Dynamics.CRM.AboveOrEqual`).
    pub fn above_or_equal(self, record: Uuid) -> Filter<E> {
        self.function_text("AboveOrEqual", &plain(&record))
    }

    /// The record is a descendant of `record` (`Microsoft.Dynamics.CRM.Under`).
    pub fn under(self, record: Uuid) -> Filter<E> {
        self.function_text("Under", &plain(&record))
    }

    /// The record is `record` or one of its descendants (`Microsoft.Dynamics.CRM.UnderOrEqual`).
    pub fn under_or_equal(self, record: Uuid) -> Filter<E> {
        self.function_text("UnderOrEqual", &plain(&record))
    }

    /// The record is not a descendant of `record` (`Microsoft.Dynamics.CRM.NotUnder`).
    pub fn not_under(self, record: Uuid) -> Filter<E> {
        self.function_text("NotUnder", &plain(&record))
    }
}

impl<E, C: Choice> Column<E, MultiChoice<C>> {
    fn choices(self, function: &str, values: impl IntoIterator<Item = C>) -> Filter<E> {
        let numbers: Vec<i32> = values.into_iter().map(|c| c.value()).collect();
        self.query_function(
            function,
            &format!(",PropertyValues={}", json_list(numbers.iter())),
        )
    }

    /// At least one of `values` is selected (`Microsoft.Dynamics.CRM.ContainValues`).
    pub fn contain_values(self, values: impl IntoIterator<Item = C>) -> Filter<E> {
        self.choices("ContainValues", values)
    }

    /// None of `values` is selected (`Microsoft.Dynamics.CRM.DoesNotContainValues`).
    pub fn does_not_contain_values(self, values: impl IntoIterator<Item = C>) -> Filter<E> {
        self.choices("DoesNotContainValues", values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    struct Account;
    const NAME: Column<Account, String> = Column::new("name");
    const EMPLOYEES: Column<Account, i32> = Column::new("numberofemployees");
    const CREATED: Column<Account, OffsetDateTime> = Column::new("createdon");
    const OWNER: Column<Account, Uuid> = Column::lookup("_ownerid_value", "ownerid");
    const ID: Column<Account, Uuid> = Column::new("accountid");

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Tag(i32);
    impl Choice for Tag {
        const OPTIONS: &'static [(i32, &'static str)] = &[(1, "a"), (2, "b")];
        fn value(&self) -> i32 {
            self.0
        }
        fn from_value(value: i32) -> Self {
            Tag(value)
        }
    }
    const TAGS: Column<Account, MultiChoice<Tag>> = Column::new("new_tags");

    /// The forms the reference pages give as syntax examples.
    #[test]
    fn functions_are_written_as_documented() {
        let id = Uuid::from_u128(1);
        for (filter, want) in [
            (
                CREATED.last_x_days(7),
                "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)",
            ),
            (
                CREATED.today(),
                "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
            ),
            (
                CREATED.on_or_after(date!(2024 - 03 - 01)),
                "Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='createdon',PropertyValue='2024-03-01')",
            ),
            (
                EMPLOYEES.between(5, 2000),
                "Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"2000\"])",
            ),
            (
                NAME.is_in(["O'Brian", "a\"b"]),
                "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"O'Brian\",\"a\\\"b\"])",
            ),
            (
                NAME.not_in(["x"]),
                "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=[\"x\"])",
            ),
            (
                OWNER.equal_user_id(),
                "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')",
            ),
            (
                ID.under(id),
                "Microsoft.Dynamics.CRM.Under(PropertyName='accountid',PropertyValue='00000000-0000-0000-0000-000000000001')",
            ),
            (
                TAGS.contain_values([Tag(1), Tag(2)]),
                "Microsoft.Dynamics.CRM.ContainValues(PropertyName='new_tags',PropertyValues=[\"1\",\"2\"])",
            ),
        ] {
            assert_eq!(filter.as_str(), want);
        }
        assert_eq!(NAME.not_in(Vec::<String>::new()).as_str(), "true");
    }

    #[test]
    fn long_lists_split_into_requests_that_fit() {
        let ids: Vec<Uuid> = (0..1_001u128).map(Uuid::from_u128).collect();
        let parts = ID.is_in_chunks(ids, 500);
        assert_eq!(parts.len(), 3);
        assert!(parts[2].as_str().starts_with("accountid eq "));
        for part in &parts {
            let query = super::super::query::Query::<Account>::new().filter(part.clone());
            assert!(query.to_query_string().len() < MAX_URL_LENGTH);
        }
        assert_eq!(parts[0].as_str().matches(',').count(), 500);
    }
}
