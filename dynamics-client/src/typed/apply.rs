//! `$apply`: filter, group and aggregate on the server
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>).
//!
//! Aggregates are built from typed columns, and only where they make sense: a sum over a text
//! column does not compile, nor a maximum over an identifier.
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const NAME: Column<Account, String> = Column::new("name");
//! let _ = NAME.sum();
//! ```
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const OWNER: Column<Account, uuid::Uuid> = Column::new("_ownerid_value");
//! let _ = OWNER.max();
//! ```
//!
//! ```compile_fail
//! # use dynamics_client::Column;
//! struct Account;
//! const CREATED: Column<Account, time::OffsetDateTime> = Column::new("createdon");
//! let _ = CREATED.average();
//! ```
//!
//! Limits Dataverse documents: an aggregate reads at most 50,000 records (more is the error
//! `0x8004E023`, `AggregateQueryRecordLimit exceeded`); `groupby` on a date-time column and
//! `$orderby` on an aggregate are not supported; grouping is by UTC values.

use std::fmt;
use std::marker::PhantomData;

use percent_encoding::utf8_percent_encode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::column::{Column, Filter};
use super::function::{Numeric, Ordered};
use super::query::{Columns, VALUE};
use crate::error::{Error, Result};

/// Dataverse's cap on the records one aggregate reads.
pub const AGGREGATE_RECORD_LIMIT: usize = 50_000;

/// One aggregate of an `$apply` on table `E`: `revenue with sum as total`, or `$count as count`.
pub struct Aggregate<E> {
    /// `revenue with sum`, or `$count`.
    expression: String,
    alias: String,
    marker: PhantomData<fn() -> E>,
}

impl<E> Aggregate<E> {
    fn new(expression: String, alias: String) -> Self {
        Aggregate {
            expression,
            alias,
            marker: PhantomData,
        }
    }

    /// The number of records (`$count`), under the name `count` unless renamed.
    pub fn count() -> Self {
        Aggregate::new("$count".to_owned(), "count".to_owned())
    }

    /// The name the result comes back under (by default `<column>_<function>`).
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = alias.into();
        self
    }

    /// The name the result comes back under.
    pub fn name(&self) -> &str {
        &self.alias
    }

    fn write(&self) -> String {
        format!("{} as {}", self.expression, self.alias)
    }
}

impl<E, T> Column<E, T> {
    fn aggregate(self, function: &str) -> Aggregate<E> {
        Aggregate::new(
            format!("{} with {function}", self.path()),
            format!("{}_{function}", self.name()),
        )
    }

    /// The number of distinct values (`with countdistinct`).
    pub fn count_distinct(self) -> Aggregate<E> {
        self.aggregate("countdistinct")
    }
}

impl<E, T: Numeric> Column<E, T> {
    /// The total (`with sum`); null values are left out.
    pub fn sum(self) -> Aggregate<E> {
        self.aggregate("sum")
    }

    /// The mean (`with average`); null values are left out.
    pub fn average(self) -> Aggregate<E> {
        self.aggregate("average")
    }
}

impl<E, T: Ordered> Column<E, T> {
    /// The smallest value (`with min`).
    pub fn min(self) -> Aggregate<E> {
        self.aggregate("min")
    }

    /// The largest value (`with max`).
    pub fn max(self) -> Aggregate<E> {
        self.aggregate("max")
    }
}

/// An `$apply` on table `E`: `filter(...)`, then `groupby((...),aggregate(...))` or
/// `aggregate(...)` alone.
///
/// ```
/// # use dynamics_client::{Column, query::{Aggregate, Apply}};
/// struct Account;
/// const INDUSTRY: Column<Account, i32> = Column::new("industrycode");
/// const REVENUE: Column<Account, rust_decimal::Decimal> = Column::new("revenue");
/// const STATE: Column<Account, i32> = Column::new("statecode");
///
/// let apply = Apply::<Account>::new()
///     .filter(STATE.eq(0))
///     .group_by(INDUSTRY)
///     .aggregate(REVENUE.sum().alias("total"))
///     .aggregate(Aggregate::count());
/// assert_eq!(
///     apply.to_apply_string()?,
///     "filter(statecode eq 0)/groupby((industrycode),aggregate(revenue with sum as total,$count as count))"
/// );
/// # Ok::<(), dynamics_client::Error>(())
/// ```
pub struct Apply<E> {
    filter: Option<Filter<E>>,
    group_by: Vec<&'static str>,
    aggregates: Vec<Aggregate<E>>,
    formatted_values: bool,
}

impl<E> Default for Apply<E> {
    fn default() -> Self {
        Apply {
            filter: None,
            group_by: Vec::new(),
            aggregates: Vec::new(),
            formatted_values: false,
        }
    }
}

impl<E> Apply<E> {
    /// Nothing yet: add a grouping or an aggregate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records satisfying `filter` are grouped and aggregated; several are combined with
    /// `and`.
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.filter = Some(match self.filter.take() {
            None => filter,
            Some(previous) => previous.and(filter),
        });
        self
    }

    /// Groups by these columns (one or a tuple); each distinct combination is one row.
    pub fn group_by(mut self, columns: impl Columns<E>) -> Self {
        for name in columns.names() {
            if !self.group_by.contains(&name) {
                self.group_by.push(name);
            }
        }
        self
    }

    /// Adds an aggregate, computed per group (or over every record without a grouping).
    pub fn aggregate(mut self, aggregate: Aggregate<E>) -> Self {
        self.aggregates.push(aggregate);
        self
    }

    /// Asks for each grouped value's and aggregate's formatted value (a choice's label, a
    /// number in the user's format), read with [`ApplyRow::formatted`]: `Prefer:
    /// odata.include-annotations="OData.Community.Display.V1.FormattedValue"`, as the
    /// documentation's examples do
    /// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data>).
    pub fn with_formatted_values(mut self) -> Self {
        self.formatted_values = true;
        self
    }

    /// Whether [`with_formatted_values`](Self::with_formatted_values) was asked for.
    pub(crate) fn wants_formatted_values(&self) -> bool {
        self.formatted_values
    }

    /// The `$apply` value, before URL encoding. Refused: nothing to group or aggregate, an
    /// alias that is not a plain name, or one used twice.
    pub fn to_apply_string(&self) -> Result<String> {
        if self.group_by.is_empty() && self.aggregates.is_empty() {
            return Err(Error::invalid_input(
                "an $apply needs a groupby or an aggregate",
            ));
        }
        for (i, aggregate) in self.aggregates.iter().enumerate() {
            let alias = &aggregate.alias;
            let plain = alias.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain {
                return Err(Error::invalid_input(format!(
                    "the aggregate alias `{alias}` is not a plain name (letters, digits, `_`)"
                )));
            }
            if self.aggregates[..i].iter().any(|a| a.alias == *alias)
                || self.group_by.contains(&alias.as_str())
            {
                return Err(Error::invalid_input(format!(
                    "the aggregate alias `{alias}` is used twice"
                )));
            }
        }
        let mut steps = Vec::new();
        if let Some(filter) = &self.filter {
            steps.push(format!("filter({filter})"));
        }
        let aggregate = (!self.aggregates.is_empty()).then(|| {
            let items: Vec<String> = self.aggregates.iter().map(Aggregate::write).collect();
            format!("aggregate({})", items.join(","))
        });
        steps.push(match (self.group_by.is_empty(), aggregate) {
            (true, Some(aggregate)) => aggregate,
            (false, None) => format!("groupby(({}))", self.group_by.join(",")),
            (false, Some(aggregate)) => {
                format!("groupby(({}),{aggregate})", self.group_by.join(","))
            }
            (true, None) => unreachable!("checked above"),
        });
        Ok(steps.join("/"))
    }

    /// `$apply=...`, percent-encoded.
    pub fn to_query_string(&self) -> Result<String> {
        Ok(format!(
            "$apply={}",
            utf8_percent_encode(&self.to_apply_string()?, VALUE)
        ))
    }
}

impl<E> Clone for Apply<E> {
    fn clone(&self) -> Self {
        Apply {
            filter: self.filter.clone(),
            group_by: self.group_by.clone(),
            aggregates: self.aggregates.clone(),
            formatted_values: self.formatted_values,
        }
    }
}

impl<E> Clone for Aggregate<E> {
    fn clone(&self) -> Self {
        Aggregate::new(self.expression.clone(), self.alias.clone())
    }
}

impl<E> fmt::Debug for Aggregate<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write())
    }
}

impl<E> fmt::Debug for Apply<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Apply")
            .field(&self.to_apply_string().unwrap_or_default())
            .finish()
    }
}

/// One row of an `$apply` result on table `E`: the grouped columns and the aggregates, read
/// by the column or aggregate that produced them.
pub struct ApplyRow<E> {
    values: Map<String, Value>,
    marker: PhantomData<fn() -> E>,
}

impl<E> ApplyRow<E> {
    /// The value of a grouped column; `None` for the group of records without a value.
    pub fn group<T: DeserializeOwned>(&self, column: Column<E, T>) -> Result<Option<T>> {
        self.get(column.name())
    }

    /// The value of an aggregate as `T` (a count as an integer, a sum as a number);
    /// `None` when the service left it out (an aggregate over null values only).
    pub fn aggregate<T: DeserializeOwned>(&self, aggregate: &Aggregate<E>) -> Result<Option<T>> {
        self.get(&aggregate.alias)
    }

    /// The value named `name`, as `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| {
                    Error::invalid_input(format!(
                        "the $apply value `{name}` ({value}) is not of the asked type: {e}"
                    ))
                }),
        }
    }

    /// The formatted value of a grouped column or an aggregate, by the name it answers under
    /// (the column's name or the aggregate's alias), when the [`Apply`] asked for them with
    /// [`with_formatted_values`](Apply::with_formatted_values) and the service sent one.
    pub fn formatted(&self, name: &str) -> Option<&str> {
        self.values
            .get(&format!("{name}@{}", crate::typed::FORMATTED_VALUE))
            .and_then(Value::as_str)
    }

    /// Every value of the row as sent, annotations included.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }
}

impl<'de, E> serde::Deserialize<'de> for ApplyRow<E> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        Ok(ApplyRow {
            values: Map::deserialize(deserializer)?,
            marker: PhantomData,
        })
    }
}

impl<E> fmt::Debug for ApplyRow<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApplyRow").field(&self.values).finish()
    }
}

impl<E> Clone for ApplyRow<E> {
    fn clone(&self) -> Self {
        ApplyRow {
            values: self.values.clone(),
            marker: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    struct Account;
    const REVENUE: Column<Account, Decimal> = Column::new("revenue");
    const STATUS: Column<Account, i32> = Column::new("statuscode");
    const NAME: Column<Account, String> = Column::new("name");
    const CREATED: Column<Account, time::OffsetDateTime> = Column::new("createdon");

    /// The documented examples, built through the typed API.
    #[test]
    fn writes_the_documented_forms() {
        let cases: [(Apply<Account>, &str); 5] = [
            (Apply::new().group_by(STATUS), "groupby((statuscode))"),
            (
                Apply::new().group_by(STATUS).aggregate(Aggregate::count()),
                "groupby((statuscode),aggregate($count as count))",
            ),
            (
                Apply::new().aggregate(REVENUE.sum().alias("total")),
                "aggregate(revenue with sum as total)",
            ),
            (
                Apply::new().aggregate(CREATED.max().alias("lastCreate")),
                "aggregate(createdon with max as lastCreate)",
            ),
            (
                Apply::new()
                    .filter(NAME.eq("WA"))
                    .group_by((NAME, STATUS))
                    .aggregate(REVENUE.average())
                    .aggregate(NAME.count_distinct()),
                "filter(name eq 'WA')/groupby((name,statuscode),aggregate(revenue with average as revenue_average,name with countdistinct as name_countdistinct))",
            ),
        ];
        for (apply, want) in cases {
            assert_eq!(apply.to_apply_string().unwrap_or_default(), want);
        }
        assert_eq!(
            Apply::<Account>::new()
                .aggregate(REVENUE.sum().alias("t"))
                .to_query_string()
                .unwrap_or_default(),
            "$apply=aggregate(revenue%20with%20sum%20as%20t)"
        );
    }

    #[test]
    fn refuses_empty_applies_and_bad_aliases() {
        assert!(Apply::<Account>::new().to_apply_string().is_err());
        for alias in ["", "a b", "1x", "x)"] {
            let apply = Apply::<Account>::new().aggregate(REVENUE.sum().alias(alias));
            assert!(apply.to_apply_string().is_err(), "{alias}");
        }
        let twice = Apply::<Account>::new()
            .aggregate(REVENUE.sum().alias("x"))
            .aggregate(REVENUE.max().alias("x"));
        assert!(twice.to_apply_string().is_err());
    }

    #[test]
    fn rows_read_by_column_and_aggregate() {
        let total = REVENUE.sum().alias("total");
        let row: ApplyRow<Account> =
            serde_json::from_str(r#"{"statuscode":1,"total":430000.5,"x":null}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.group(STATUS).ok().flatten(), Some(1));
        assert_eq!(
            row.aggregate::<Decimal>(&total).ok().flatten(),
            Some(Decimal::new(4300005, 1))
        );
        assert_eq!(row.get::<i32>("x").ok().flatten(), None);
        assert!(row.get::<i32>("total").is_err());
    }
}
