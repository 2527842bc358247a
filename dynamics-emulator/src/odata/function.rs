//! Dataverse's query functions in `$filter`
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/queryfunctions>):
//! `Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)`, with lists as
//! `PropertyValues=["a","b"]` or `['a','b']`.
//!
//! Dates are evaluated in UTC. Dataverse evaluates the date functions in the calling user's
//! time zone (the functions mirror the FetchXML operators of the same meaning:
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/reference/operators>),
//! so near midnight a record can fall on another day here than for a user far from UTC. The
//! reference pages say no more than "within the last X days"; the windows used here are
//! written next to [`DateFn::window`].

use serde_json::Value;
use time::{Date, Duration, Month, OffsetDateTime, Time};
use uuid::Uuid;

use super::filter::{Comparable, Row, Shape, comparable_json, parse_date, parse_datetime};
use crate::schema::Kind;

/// How deep a hierarchy is followed before giving up, as Dataverse caps hierarchy queries
/// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/query-hierarchical-data>).
const MAX_HIERARCHY_DEPTH: usize = 100;

/// A parameter as written: a single value (a string literal's text, a number, ...) or a list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Text(String),
    List(Vec<String>),
}

/// A calendar unit of the `LastX…`, `NextX…` and `OlderThanX…` families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

/// The date functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateFn {
    Today,
    Yesterday,
    Tomorrow,
    ThisWeek,
    LastWeek,
    NextWeek,
    ThisMonth,
    LastMonth,
    NextMonth,
    ThisYear,
    LastYear,
    NextYear,
    Last(Unit),
    Next(Unit),
    OlderThan(Unit),
    On,
    OnOrAfter,
    OnOrBefore,
}

/// Every query function the emulator evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    In,
    NotIn,
    Between,
    NotBetween,
    Date(DateFn),
    EqualUserId,
    NotEqualUserId,
    EqualBusinessId,
    NotEqualBusinessId,
    Above,
    AboveOrEqual,
    Under,
    UnderOrEqual,
    NotUnder,
    ContainValues,
    DoesNotContainValues,
}

/// What a function takes besides `PropertyName`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    /// `PropertyValue`, a whole number.
    Count,
    /// `PropertyValue`, text.
    Value,
    /// `PropertyValues`, a list of at least one.
    Values,
    /// `PropertyValues`, exactly two.
    Pair,
}

/// The documented functions this emulator leaves out: named so that a request for one is told
/// so, rather than that the function does not exist.
const UNSUPPORTED: &[&str] = &[
    "Contains",
    "DoesNotContain",
    "EqualRoleBusinessId",
    "EqualUserLanguage",
    "EqualUserOrUserHierarchy",
    "EqualUserOrUserHierarchyAndTeams",
    "EqualUserOrUserTeams",
    "EqualUserTeams",
    "InFiscalPeriod",
    "InFiscalPeriodAndYear",
    "InFiscalYear",
    "InOrAfterFiscalPeriodAndYear",
    "InOrBeforeFiscalPeriodAndYear",
    "LastFiscalPeriod",
    "LastFiscalYear",
    "LastXFiscalPeriods",
    "LastXFiscalYears",
    "NextFiscalPeriod",
    "NextFiscalYear",
    "NextXFiscalPeriods",
    "NextXFiscalYears",
    "ThisFiscalPeriod",
    "ThisFiscalYear",
];

fn spec(name: &str) -> Option<(Function, Takes)> {
    use DateFn as D;
    use Function as F;
    use Unit as U;
    Some(match name {
        "In" => (F::In, Takes::Values),
        "NotIn" => (F::NotIn, Takes::Values),
        "Between" => (F::Between, Takes::Pair),
        "NotBetween" => (F::NotBetween, Takes::Pair),
        "Today" => (F::Date(D::Today), Takes::Nothing),
        "Yesterday" => (F::Date(D::Yesterday), Takes::Nothing),
        "Tomorrow" => (F::Date(D::Tomorrow), Takes::Nothing),
        "ThisWeek" => (F::Date(D::ThisWeek), Takes::Nothing),
        "LastWeek" => (F::Date(D::LastWeek), Takes::Nothing),
        "NextWeek" => (F::Date(D::NextWeek), Takes::Nothing),
        "ThisMonth" => (F::Date(D::ThisMonth), Takes::Nothing),
        "LastMonth" => (F::Date(D::LastMonth), Takes::Nothing),
        "NextMonth" => (F::Date(D::NextMonth), Takes::Nothing),
        "ThisYear" => (F::Date(D::ThisYear), Takes::Nothing),
        "LastYear" => (F::Date(D::LastYear), Takes::Nothing),
        "NextYear" => (F::Date(D::NextYear), Takes::Nothing),
        // "within the last seven days including today" (ConditionOperator.Last7Days).
        "Last7Days" => (F::Date(D::Last(U::Days)), Takes::Nothing),
        "Next7Days" => (F::Date(D::Next(U::Days)), Takes::Nothing),
        "LastXHours" => (F::Date(D::Last(U::Hours)), Takes::Count),
        "LastXDays" => (F::Date(D::Last(U::Days)), Takes::Count),
        "LastXWeeks" => (F::Date(D::Last(U::Weeks)), Takes::Count),
        "LastXMonths" => (F::Date(D::Last(U::Months)), Takes::Count),
        "LastXYears" => (F::Date(D::Last(U::Years)), Takes::Count),
        "NextXHours" => (F::Date(D::Next(U::Hours)), Takes::Count),
        "NextXDays" => (F::Date(D::Next(U::Days)), Takes::Count),
        "NextXWeeks" => (F::Date(D::Next(U::Weeks)), Takes::Count),
        "NextXMonths" => (F::Date(D::Next(U::Months)), Takes::Count),
        "NextXYears" => (F::Date(D::Next(U::Years)), Takes::Count),
        "OlderThanXMinutes" => (F::Date(D::OlderThan(U::Minutes)), Takes::Count),
        "OlderThanXHours" => (F::Date(D::OlderThan(U::Hours)), Takes::Count),
        "OlderThanXDays" => (F::Date(D::OlderThan(U::Days)), Takes::Count),
        "OlderThanXWeeks" => (F::Date(D::OlderThan(U::Weeks)), Takes::Count),
        "OlderThanXMonths" => (F::Date(D::OlderThan(U::Months)), Takes::Count),
        "OlderThanXYears" => (F::Date(D::OlderThan(U::Years)), Takes::Count),
        "On" => (F::Date(D::On), Takes::Value),
        "OnOrAfter" => (F::Date(D::OnOrAfter), Takes::Value),
        "OnOrBefore" => (F::Date(D::OnOrBefore), Takes::Value),
        "EqualUserId" => (F::EqualUserId, Takes::Nothing),
        "NotEqualUserId" => (F::NotEqualUserId, Takes::Nothing),
        "EqualBusinessId" => (F::EqualBusinessId, Takes::Nothing),
        "NotEqualBusinessId" => (F::NotEqualBusinessId, Takes::Nothing),
        "Above" => (F::Above, Takes::Value),
        "AboveOrEqual" => (F::AboveOrEqual, Takes::Value),
        "Under" => (F::Under, Takes::Value),
        "UnderOrEqual" => (F::UnderOrEqual, Takes::Value),
        "NotUnder" => (F::NotUnder, Takes::Value),
        "ContainValues" => (F::ContainValues, Takes::Values),
        "DoesNotContainValues" => (F::DoesNotContainValues, Takes::Values),
        _ => return None,
    })
}

/// One call of a query function, its parameters checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub(crate) name: String,
    pub(crate) function: Function,
    /// `PropertyName`: an attribute's logical name (a lookup as `ownerid`).
    pub(crate) property: String,
    /// A count (`PropertyValue=7`), `Last7Days`' seven included.
    count: i64,
    /// `PropertyValue` as text, or the `PropertyValues`.
    values: Vec<String>,
}

impl Call {
    /// Reads `Microsoft.Dynamics.CRM.<name>(...)`'s parameters; `property` makes a
    /// `PropertyName` relative to the record tested (a lambda's variable taken off).
    pub(crate) fn new(
        name: &str,
        params: Vec<(String, Param)>,
        property: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Call, String> {
        let Some((function, takes)) = spec(name) else {
            return Err(if UNSUPPORTED.contains(&name) {
                format!(
                    "The query function 'Microsoft.Dynamics.CRM.{name}' is not supported by this emulator."
                )
            } else {
                format!("Unknown function 'Microsoft.Dynamics.CRM.{name}'.")
            });
        };
        let mut property_name = None;
        let mut value = None;
        let mut values = None;
        for (param, given) in params {
            match (param.as_str(), given) {
                ("PropertyName", Param::Text(p)) => property_name = Some(property(&p)?),
                ("PropertyValue", Param::Text(v)) => value = Some(v),
                ("PropertyValues", Param::List(vs)) => values = Some(vs),
                (other, _) => {
                    return Err(format!(
                        "The parameter '{other}' of function 'Microsoft.Dynamics.CRM.{name}' is not valid here."
                    ));
                }
            }
        }
        let property = property_name.ok_or_else(|| {
            format!("The function 'Microsoft.Dynamics.CRM.{name}' requires the parameter 'PropertyName'.")
        })?;
        let missing = |what: &str| {
            format!("The function 'Microsoft.Dynamics.CRM.{name}' requires the parameter '{what}'.")
        };
        let (count, values) = match takes {
            Takes::Nothing if value.is_some() || values.is_some() => {
                return Err(format!(
                    "The function 'Microsoft.Dynamics.CRM.{name}' takes only 'PropertyName'."
                ));
            }
            // `Last7Days` and `Next7Days` are the seven-day forms of the `X` functions.
            Takes::Nothing => (7, Vec::new()),
            Takes::Count => {
                let text = value.ok_or_else(|| missing("PropertyValue"))?;
                let count = text
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "The value '{text}' of 'PropertyValue' is not a whole number of units."
                        )
                    })?;
                (count, Vec::new())
            }
            Takes::Value => (0, vec![value.ok_or_else(|| missing("PropertyValue"))?]),
            Takes::Values | Takes::Pair => {
                let values = values.ok_or_else(|| missing("PropertyValues"))?;
                if values.is_empty() || (takes == Takes::Pair && values.len() != 2) {
                    return Err(format!(
                        "The function 'Microsoft.Dynamics.CRM.{name}' needs {} in 'PropertyValues'.",
                        if takes == Takes::Pair {
                            "exactly two values"
                        } else {
                            "at least one value"
                        }
                    ));
                }
                (0, values)
            }
        };
        Ok(Call {
            name: name.to_owned(),
            function,
            property,
            count,
            values,
        })
    }

    /// The Web API property the function reads: the attribute itself, or `_x_value` for the
    /// lookup `x`.
    pub(crate) fn columns(&self) -> [String; 2] {
        [self.property.clone(), format!("_{}_value", self.property)]
    }

    /// Checks the property exists, is of a kind the function evaluates, and that the values
    /// fit it.
    pub(crate) fn check(&self, shape: &dyn Shape) -> Result<(), String> {
        if self.property.starts_with('_') && self.property.ends_with("_value") {
            return Err(format!(
                "'{}' is not an attribute: query functions name a lookup by its logical name ('{}').",
                self.property,
                self.property
                    .trim_start_matches('_')
                    .trim_end_matches("_value")
            ));
        }
        let [plain, lookup] = self.columns();
        let kind = shape
            .kind(&plain)
            .or_else(|| shape.kind(&lookup))
            .ok_or_else(|| format!("Could not find a property named '{}'.", self.property))?;
        let fits = match self.function {
            Function::Date(_) => matches!(kind, Kind::Date | Kind::DateTimeOffset),
            Function::EqualUserId
            | Function::NotEqualUserId
            | Function::EqualBusinessId
            | Function::NotEqualBusinessId
            | Function::Above
            | Function::AboveOrEqual
            | Function::Under
            | Function::UnderOrEqual
            | Function::NotUnder => kind == Kind::Guid,
            Function::ContainValues | Function::DoesNotContainValues => {
                matches!(kind, Kind::String | Kind::Other)
            }
            Function::Between | Function::NotBetween => matches!(
                kind,
                Kind::Integer(..)
                    | Kind::Decimal
                    | Kind::Double
                    | Kind::Date
                    | Kind::DateTimeOffset
            ),
            Function::In | Function::NotIn => kind != Kind::Binary,
        };
        if !fits {
            return Err(format!(
                "The function 'Microsoft.Dynamics.CRM.{}' cannot be used on '{}' of type '{}'.",
                self.name,
                self.property,
                kind.edm_name()
            ));
        }
        let on_dates = matches!(
            self.function,
            Function::Date(DateFn::On | DateFn::OnOrAfter | DateFn::OnOrBefore)
        );
        for value in &self.values {
            let bad = match self.function {
                Function::ContainValues | Function::DoesNotContainValues => {
                    value.trim().parse::<i32>().is_err()
                }
                _ if on_dates => day_of(value).is_none(),
                Function::Date(_) => false,
                _ => read(value, Some(kind)) == Comparable::Null,
            };
            if bad {
                return Err(format!(
                    "The value '{value}' given to 'Microsoft.Dynamics.CRM.{}' is not valid for '{}'.",
                    self.name, self.property
                ));
            }
        }
        Ok(())
    }

    /// Whether the record `row` satisfies the call. A missing value satisfies nothing but
    /// the negative list functions' opposite cases, as SQL's `NULL` would.
    pub(crate) fn holds<'v>(&self, row: &dyn Row<'v>) -> bool {
        let [plain, lookup] = self.columns();
        let (value, kind) = match row.value(&plain) {
            Some(v) => (v, row.kind(&plain)),
            None => (
                row.value(&lookup).unwrap_or(&Value::Null),
                row.kind(&lookup),
            ),
        };
        let actual = comparable_json(value, kind);
        if actual == Comparable::Null {
            // `DoesNotContainValues` holds for a record with nothing selected.
            return self.function == Function::DoesNotContainValues;
        }
        let context = row.context();
        match self.function {
            Function::In => self.values.iter().any(|v| read(v, kind) == actual),
            Function::NotIn => self.values.iter().all(|v| read(v, kind) != actual),
            Function::Between | Function::NotBetween => {
                let (low, high) = (read(&self.values[0], kind), read(&self.values[1], kind));
                let inside = actual >= low && actual <= high;
                inside == (self.function == Function::Between)
            }
            Function::Date(date) => {
                let Comparable::Instant(nanos) = actual else {
                    return false;
                };
                date.holds(nanos, self.count, self.values.first(), context.now)
            }
            Function::EqualUserId => same_id(&actual, context.user),
            Function::NotEqualUserId => !same_id(&actual, context.user),
            Function::EqualBusinessId => same_id(&actual, context.business_unit),
            Function::NotEqualBusinessId => !same_id(&actual, context.business_unit),
            Function::Above
            | Function::AboveOrEqual
            | Function::Under
            | Function::UnderOrEqual
            | Function::NotUnder => {
                let (Some(record), Some(reference)) = (
                    as_id(&actual),
                    Uuid::parse_str(self.values[0].trim().trim_matches(['{', '}'])).ok(),
                ) else {
                    return false;
                };
                let under = || ancestors(row, record).contains(&reference);
                match self.function {
                    Function::Above => ancestors(row, reference).contains(&record),
                    Function::AboveOrEqual => {
                        record == reference || ancestors(row, reference).contains(&record)
                    }
                    Function::Under => under(),
                    Function::UnderOrEqual => record == reference || under(),
                    _ => !under(),
                }
            }
            Function::ContainValues | Function::DoesNotContainValues => {
                // A choices column holds its values as text: "1,3".
                let selected: Vec<&str> = match value.as_str() {
                    Some(text) => text.split(',').map(str::trim).collect(),
                    None => Vec::new(),
                };
                let any = self.values.iter().any(|v| selected.contains(&v.trim()));
                any == (self.function == Function::ContainValues)
            }
        }
    }
}

/// A value of a list or range parameter read as the column's kind.
fn read(text: &str, kind: Option<Kind>) -> Comparable {
    let json = match kind {
        Some(Kind::Integer(..) | Kind::Decimal | Kind::Double) => {
            text.trim().parse::<f64>().map_or(Value::Null, Value::from)
        }
        Some(Kind::Boolean) => match text.trim() {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => Value::Null,
        },
        Some(Kind::Guid) => Uuid::parse_str(text.trim().trim_matches(['{', '}']))
            .map_or(Value::Null, |id| Value::String(id.to_string())),
        _ => Value::String(text.to_owned()),
    };
    comparable_json(&json, kind)
}

fn as_id(value: &Comparable) -> Option<Uuid> {
    match value {
        Comparable::Text(text) => Uuid::parse_str(text).ok(),
        _ => None,
    }
}

fn same_id(value: &Comparable, id: Uuid) -> bool {
    as_id(value) == Some(id)
}

/// The records above `id` in its table's hierarchy, nearest first.
fn ancestors<'v>(row: &dyn Row<'v>, id: Uuid) -> Vec<Uuid> {
    let mut found = Vec::new();
    let mut current = id;
    while let Some(parent) = row.parent(current) {
        if parent == id || found.contains(&parent) || found.len() >= MAX_HIERARCHY_DEPTH {
            break;
        }
        found.push(parent);
        current = parent;
    }
    found
}

/// `YYYY-MM-DD`, or the day of a date-time.
fn day_of(text: &str) -> Option<Date> {
    parse_date(text.trim()).or_else(|| parse_datetime(text.trim()).map(|t| t.date()))
}

fn start(day: Date) -> i128 {
    day.with_time(Time::MIDNIGHT)
        .assume_utc()
        .unix_timestamp_nanos()
}

/// The first day of the month `months` months after `day`'s month (before, when negative).
fn month_start(day: Date, months: i64) -> Date {
    let index = i64::from(day.year()) * 12 + i64::from(u8::from(day.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).unwrap_or(day.year());
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(day)
}

/// 1 January of `day`'s year plus `years`.
fn year_start(day: Date, years: i64) -> Date {
    month_start(day, years * 12 - i64::from(u8::from(day.month())) + 1)
}

fn add_days(day: Date, days: i64) -> Date {
    day.checked_add(Duration::days(days)).unwrap_or(day)
}

impl DateFn {
    /// Whether the instant `nanos` (UTC) is in the function's window at `now`.
    ///
    /// The windows, all in UTC: days start at midnight and weeks on Sunday ("Sunday through
    /// Saturday", the FetchXML `last-week` operator); `Last(unit)` is from the start of the
    /// day `count` units back up to now (hours: from `count` hours ago); `Next(unit)` from
    /// now to the end of the day `count` units ahead (hours: to `count` hours ahead);
    /// `OlderThan(unit)` is before `count` units ago (minutes and hours counted from now,
    /// larger units from the start of today).
    fn holds(self, nanos: i128, count: i64, day: Option<&String>, now: OffsetDateTime) -> bool {
        let today = now.date();
        let now_nanos = now.unix_timestamp_nanos();
        let week = add_days(today, -i64::from(today.weekday().number_days_from_sunday()));
        let within = |from: Date, to: Date| nanos >= start(from) && nanos < start(to);
        let back = |unit: Unit| match unit {
            Unit::Minutes => now_nanos - i128::from(count) * 60_000_000_000,
            Unit::Hours => now_nanos - i128::from(count) * 3_600_000_000_000,
            Unit::Days => start(add_days(today, -count)),
            Unit::Weeks => start(add_days(today, -count * 7)),
            Unit::Months => start(shift_months(today, -count)),
            Unit::Years => start(shift_months(today, -count * 12)),
        };
        match self {
            DateFn::Today => within(today, add_days(today, 1)),
            DateFn::Yesterday => within(add_days(today, -1), today),
            DateFn::Tomorrow => within(add_days(today, 1), add_days(today, 2)),
            DateFn::ThisWeek => within(week, add_days(week, 7)),
            DateFn::LastWeek => within(add_days(week, -7), week),
            DateFn::NextWeek => within(add_days(week, 7), add_days(week, 14)),
            DateFn::ThisMonth => within(month_start(today, 0), month_start(today, 1)),
            DateFn::LastMonth => within(month_start(today, -1), month_start(today, 0)),
            DateFn::NextMonth => within(month_start(today, 1), month_start(today, 2)),
            DateFn::ThisYear => within(year_start(today, 0), year_start(today, 1)),
            DateFn::LastYear => within(year_start(today, -1), year_start(today, 0)),
            DateFn::NextYear => within(year_start(today, 1), year_start(today, 2)),
            DateFn::Last(unit) => nanos >= back(unit) && nanos <= now_nanos,
            DateFn::Next(unit) => {
                let end = match unit {
                    Unit::Minutes => now_nanos + i128::from(count) * 60_000_000_000,
                    Unit::Hours => now_nanos + i128::from(count) * 3_600_000_000_000,
                    Unit::Days => start(add_days(today, count + 1)),
                    Unit::Weeks => start(add_days(today, count * 7 + 1)),
                    Unit::Months => start(add_days(shift_months(today, count), 1)),
                    Unit::Years => start(add_days(shift_months(today, count * 12), 1)),
                };
                nanos >= now_nanos && nanos < end
            }
            DateFn::OlderThan(unit) => nanos < back(unit),
            DateFn::On | DateFn::OnOrAfter | DateFn::OnOrBefore => {
                let Some(day) = day.and_then(|d| day_of(d)) else {
                    return false;
                };
                match self {
                    DateFn::On => within(day, add_days(day, 1)),
                    DateFn::OnOrAfter => nanos >= start(day),
                    _ => nanos < start(add_days(day, 1)),
                }
            }
        }
    }
}

/// The same day of the month `months` months away, or the month's last day when it is
/// shorter (31 March less one month is 29 February in a leap year).
fn shift_months(day: Date, months: i64) -> Date {
    let first = month_start(day, months);
    let last = add_days(month_start(day, months + 1), -1);
    Date::from_calendar_date(first.year(), first.month(), day.day().min(last.day()))
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn calendar_steps_clamp_to_the_month() {
        assert_eq!(
            shift_months(date!(2024 - 03 - 31), -1),
            date!(2024 - 02 - 29)
        );
        assert_eq!(
            shift_months(date!(2024 - 01 - 15), -13),
            date!(2022 - 12 - 15)
        );
        assert_eq!(month_start(date!(2024 - 12 - 09), 1), date!(2025 - 01 - 01));
    }

    #[test]
    fn windows_follow_the_calendar() {
        // A Wednesday.
        let now = datetime!(2024-03-13 12:00 UTC);
        let at = |t: OffsetDateTime| t.unix_timestamp_nanos();
        let holds = |f: DateFn, count: i64, t: OffsetDateTime| f.holds(at(t), count, None, now);
        assert!(holds(DateFn::Today, 0, datetime!(2024-03-13 00:00 UTC)));
        assert!(!holds(DateFn::Today, 0, datetime!(2024-03-12 23:59 UTC)));
        assert!(holds(DateFn::Yesterday, 0, datetime!(2024-03-12 23:59 UTC)));
        assert!(holds(DateFn::ThisWeek, 0, datetime!(2024-03-10 00:00 UTC)));
        assert!(holds(DateFn::LastWeek, 0, datetime!(2024-03-09 23:00 UTC)));
        assert!(holds(DateFn::ThisYear, 0, datetime!(2024-01-01 00:00 UTC)));
        assert!(holds(DateFn::LastYear, 0, datetime!(2023-12-31 23:59 UTC)));
        assert!(!holds(DateFn::LastYear, 0, datetime!(2024-01-01 00:00 UTC)));
        assert!(holds(DateFn::NextYear, 0, datetime!(2025-06-01 00:00 UTC)));
        assert!(holds(DateFn::LastMonth, 0, datetime!(2024-02-29 00:00 UTC)));
        assert!(holds(
            DateFn::Last(Unit::Days),
            7,
            datetime!(2024-03-06 00:00 UTC)
        ));
        assert!(!holds(
            DateFn::Last(Unit::Days),
            7,
            datetime!(2024-03-05 23:59 UTC)
        ));
        assert!(!holds(
            DateFn::Last(Unit::Days),
            7,
            datetime!(2024-03-13 12:01 UTC)
        ));
        assert!(holds(
            DateFn::Next(Unit::Days),
            1,
            datetime!(2024-03-14 23:59 UTC)
        ));
        assert!(holds(
            DateFn::Last(Unit::Hours),
            2,
            datetime!(2024-03-13 10:00 UTC)
        ));
        assert!(holds(
            DateFn::OlderThan(Unit::Minutes),
            30,
            datetime!(2024-03-13 11:29 UTC)
        ));
        assert!(!holds(
            DateFn::OlderThan(Unit::Minutes),
            30,
            datetime!(2024-03-13 11:31 UTC)
        ));
        assert!(holds(
            DateFn::OlderThan(Unit::Months),
            1,
            datetime!(2024-02-12 23:00 UTC)
        ));
    }
}
