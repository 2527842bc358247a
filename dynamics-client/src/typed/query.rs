//! A typed OData query on one table.

use std::marker::PhantomData;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::column::{Column, Filter, OrderBy};
use super::related::Related;
use crate::error::{Error, Result};

/// Characters left as they are in a query option's value; everything else is percent-encoded,
/// so that `&`, `=`, `+`, `#` and `%` inside literals can never end or alter an option.
pub(crate) const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b',')
    .remove(b'(')
    .remove(b')')
    .remove(b'\'')
    .remove(b'/')
    .remove(b':')
    .remove(b'$');

/// The columns of a `$select`: one [`Column`] or a tuple of them.
pub trait Columns<E> {
    /// The wire names.
    fn names(&self) -> Vec<&'static str>;
}

impl<E, T> Columns<E> for Column<E, T> {
    fn names(&self) -> Vec<&'static str> {
        vec![self.name()]
    }
}

/// No columns: every column is read.
impl<E> Columns<E> for () {
    fn names(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

macro_rules! tuple_columns {
    ($($t:ident $v:ident),+) => {
        impl<E, $($t),+> Columns<E> for ($(Column<E, $t>,)+) {
            fn names(&self) -> Vec<&'static str> {
                let ($($v,)+) = self;
                vec![$($v.name()),+]
            }
        }
    };
}
tuple_columns!(A a);
tuple_columns!(A a, B b);
tuple_columns!(A a, B b, C c);
tuple_columns!(A a, B b, C c, D d);
tuple_columns!(A a, B b, C c, D d, F f);
tuple_columns!(A a, B b, C c, D d, F f, G g);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h, I i);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h, I i, J j);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h, I i, J j, K k);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h, I i, J j, K k, L l);
tuple_columns!(A a, B b, C c, D d, F f, G g, H h, I i, J j, K k, L l, M m);

/// A query on table `E`: `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand`, and
/// the page size and annotations asked for with `Prefer`.
///
/// Every value is encoded by the library; only [`Filter::raw_unchecked`] and
/// [`Query::expand_raw`] take text as written.
pub struct Query<E> {
    select: Vec<&'static str>,
    filter: Option<String>,
    order_by: Vec<String>,
    top: Option<u32>,
    count: bool,
    expand: Vec<String>,
    pub(crate) page_size: Option<u32>,
    pub(crate) annotations: bool,
    marker: PhantomData<fn() -> E>,
}

impl<E> Default for Query<E> {
    fn default() -> Self {
        Query {
            select: Vec::new(),
            filter: None,
            order_by: Vec::new(),
            top: None,
            count: false,
            expand: Vec::new(),
            page_size: None,
            annotations: false,
            marker: PhantomData,
        }
    }
}

impl<E> Clone for Query<E> {
    fn clone(&self) -> Self {
        Query {
            select: self.select.clone(),
            filter: self.filter.clone(),
            order_by: self.order_by.clone(),
            top: self.top,
            count: self.count,
            expand: self.expand.clone(),
            page_size: self.page_size,
            annotations: self.annotations,
            marker: PhantomData,
        }
    }
}

impl<E> std::fmt::Debug for Query<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("query", &self.to_query_string())
            .field("page_size", &self.page_size)
            .field("annotations", &self.annotations)
            .finish()
    }
}

impl<E> Query<E> {
    /// An empty query: every column of every record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds columns to `$select`: a column or a tuple of columns.
    pub fn select(mut self, columns: impl Columns<E>) -> Self {
        for name in columns.names() {
            if !self.select.contains(&name) {
                self.select.push(name);
            }
        }
        self
    }

    /// Adds a condition; several are combined with `and`.
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.filter = Some(match self.filter.take() {
            None => filter.as_str().to_owned(),
            Some(previous) => format!("({previous}) and ({})", filter.as_str()),
        });
        self
    }

    /// Adds a sort key, after those already given.
    pub fn order_by(mut self, order: OrderBy<E>) -> Self {
        self.order_by.push(order.to_odata());
        self
    }

    /// At most `n` records in all.
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// Asks for `@odata.count`, the number of matching records.
    ///
    /// Dataverse counts at most 5,000: a larger result reports 5,000 (and, with annotations,
    /// `Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded: true`). To count more, use
    /// [`EntitySet::count_all`](crate::entity::EntitySet::count_all), which pages through the
    /// matching records reading only their keys, or a FetchXML aggregate
    /// (`<fetch aggregate="true">` with `aggregate="count"`, itself limited to 50,000 rows).
    pub fn count(mut self) -> Self {
        self.count = true;
        self
    }

    /// Expands a navigation property, reading the named columns of the related records.
    /// Names are checked to be plain identifiers.
    pub fn expand(mut self, navigation_property: &str, columns: &[&str]) -> Result<Self> {
        for name in std::iter::once(&navigation_property).chain(columns) {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::invalid_input(format!(
                    "`{name}` is not a navigation property or column name"
                )));
            }
        }
        self.expand.push(if columns.is_empty() {
            navigation_property.to_owned()
        } else {
            format!("{navigation_property}($select={})", columns.join(","))
        });
        Ok(self)
    }

    /// Expands a collection-valued navigation property with its own query: the related
    /// records' `$select`, `$filter`, `$orderby`, `$top` and `$expand` are sent as nested
    /// options (`Account_Tasks($select=subject;$filter=statecode eq 0;$top=5)`); its `$count`,
    /// page size and annotations are not (Dataverse does not take them there). Dataverse
    /// refuses `$orderby` and `$top` in a collection's expand that itself nests an `$expand`,
    /// and at most 15 `$expand`s in one query
    /// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/join-tables>).
    pub fn expand_related<T>(mut self, related: Related<E, T>, query: Query<T>) -> Self {
        let nested: Vec<String> = query
            .options()
            .into_iter()
            .filter(|(name, _)| *name != "$count")
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        self.expand.push(if nested.is_empty() {
            related.name().to_owned()
        } else {
            format!("{}({})", related.name(), nested.join(";"))
        });
        self
    }

    /// Adds an `$expand` item written by hand (`primarycontactid($select=fullname;$filter=...)`),
    /// sent as is apart from URL encoding.
    pub fn expand_raw(mut self, item: impl Into<String>) -> Self {
        self.expand.push(item.into());
        self
    }

    /// At most `n` records per page (`Prefer: odata.maxpagesize`, at most 5,000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Asks for formatted values and lookup annotations
    /// (`Prefer: odata.include-annotations="*"`).
    pub fn with_annotations(mut self) -> Self {
        self.annotations = true;
        self
    }

    /// The preferences for this query's page size and annotations. A page size outside
    /// 1..=5,000 is refused.
    pub(crate) fn prefer(&self) -> Result<crate::request::Prefer> {
        let prefer = crate::request::Prefer::default().page_size(self.page_size)?;
        Ok(if self.annotations {
            prefer.all_annotations()
        } else {
            prefer
        })
    }

    /// With no column selected, selects the primary key alone (for counting).
    pub(crate) fn select_key_only<T: crate::Entity>(&mut self) {
        if self.select.is_empty() {
            self.select.push(T::PRIMARY_KEY);
        }
    }

    /// The options with a value, in the order they are sent, not yet encoded.
    fn options(&self) -> Vec<(&'static str, String)> {
        let mut options: Vec<(&'static str, String)> = Vec::new();
        if !self.select.is_empty() {
            options.push(("$select", self.select.join(",")));
        }
        if let Some(filter) = &self.filter {
            options.push(("$filter", filter.clone()));
        }
        if !self.order_by.is_empty() {
            options.push(("$orderby", self.order_by.join(",")));
        }
        if let Some(top) = self.top {
            options.push(("$top", top.to_string()));
        }
        if self.count {
            options.push(("$count", "true".to_owned()));
        }
        if !self.expand.is_empty() {
            options.push(("$expand", self.expand.join(",")));
        }
        options
    }

    /// The query string, without `?`, every value percent-encoded.
    pub fn to_query_string(&self) -> String {
        self.options()
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Account;
    const NAME: Column<Account, String> = Column::new("name");
    const REVENUE: Column<Account, i64> = Column::new("revenue");

    #[test]
    fn builds_an_encoded_query_string() {
        let q = Query::<Account>::new()
            .select((NAME, REVENUE))
            .select(NAME)
            .filter(NAME.eq("A&B #1 + 100%"))
            .filter(REVENUE.gt(5))
            .order_by(NAME.asc())
            .order_by(REVENUE.desc())
            .top(10)
            .count()
            .expand("primarycontactid", &["fullname"])
            .unwrap();
        assert_eq!(
            q.to_query_string(),
            "$select=name,revenue\
             &$filter=(name%20eq%20'A%26B%20%231%20%2B%20100%25')%20and%20(revenue%20gt%205)\
             &$orderby=name%20asc,revenue%20desc&$top=10&$count=true\
             &$expand=primarycontactid($select%3Dfullname)"
        );
    }

    #[test]
    fn preferences_are_separate_headers_and_checked() {
        let q = Query::<Account>::new().page_size(50).with_annotations();
        assert_eq!(
            q.prefer().unwrap().values(),
            ["odata.maxpagesize=50", "odata.include-annotations=\"*\""]
        );
        assert!(
            Query::<Account>::new()
                .prefer()
                .unwrap()
                .values()
                .is_empty()
        );
        assert!(Query::<Account>::new().page_size(0).prefer().is_err());
        assert!(Query::<Account>::new().page_size(5001).prefer().is_err());
    }

    #[test]
    fn collection_expands_carry_nested_options() {
        struct Task;
        const TASKS: Related<Account, Task> = Related::new("Account_Tasks");
        const SUBJECT: Column<Task, String> = Column::new("subject");
        let tasks = Query::<Task>::new()
            .select(SUBJECT)
            .filter(SUBJECT.starts_with("a&b"))
            .order_by(SUBJECT.desc())
            .top(5)
            .count();
        let q = Query::<Account>::new()
            .select(NAME)
            .expand_related(TASKS, tasks)
            .expand_related(TASKS, Query::new());
        assert_eq!(
            q.to_query_string(),
            "$select=name&$expand=Account_Tasks($select%3Dsubject%3B$filter%3Dstartswith(subject,'a%26b')\
             %3B$orderby%3Dsubject%20desc%3B$top%3D5),Account_Tasks"
        );
    }

    #[test]
    fn expand_refuses_odd_names() {
        assert!(Query::<Account>::new().expand("a&b", &[]).is_err());
        assert!(Query::<Account>::new().expand("nav", &["x)"]).is_err());
    }
}
