//! One page of query results.

use serde::Deserialize;

/// One page of records from a query, with the link to the next page if there is one.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// `@odata.nextLink`, followed unchanged by
    /// [`EntitySet::next_page`](crate::entity::EntitySet::next_page) (or
    /// [`Client::next_page_raw`](crate::Client::next_page_raw) for a query string).
    pub next_link: Option<String>,
    /// The `odata.maxpagesize` the query asked for, resent for the next page.
    pub(crate) max_page_size: Option<u32>,
}

impl<T> Page<T> {
    /// A last page holding `items`.
    pub(crate) fn new(items: Vec<T>) -> Self {
        Page {
            items,
            next_link: None,
            max_page_size: None,
        }
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The wire form of a collection answer.
#[derive(Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub(crate) struct PageBody<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

impl<T> PageBody<T> {
    pub(crate) fn into_page(self, max_page_size: Option<u32>) -> Page<T> {
        Page {
            items: self.value,
            next_link: self.next_link,
            max_page_size,
        }
    }
}
