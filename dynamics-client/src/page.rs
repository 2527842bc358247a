//! One page of query results.

use serde::Deserialize;

/// One page of records from a query, with the link to the next page if there is one.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// `@odata.nextLink`, to be followed unchanged with [`Client::next_page`](crate::Client::next_page).
    pub next_link: Option<String>,
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

impl<T> From<PageBody<T>> for Page<T> {
    fn from(body: PageBody<T>) -> Self {
        Page {
            items: body.value,
            next_link: body.next_link,
        }
    }
}
