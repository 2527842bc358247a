//! Every page of a query as a `Stream`: `@odata.nextLink` followed exactly as returned, the same
//! `Prefer: odata.maxpagesize` sent with every page, and at most one page held at a time.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use serde::de::IgnoredAny;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::page::Page;

/// Which page a pager asks for next.
pub(crate) enum Cursor {
    /// The query itself.
    First,
    /// A page's `@odata.nextLink`, unchanged.
    Next(String),
}

/// A page that may name the page after it (`@odata.nextLink`).
pub(crate) trait Linked {
    /// The next page's link, exactly as the service wrote it.
    fn next_link(&self) -> Option<&String>;
}

impl<T> Linked for Page<T> {
    fn next_link(&self) -> Option<&String> {
        self.next_link.as_ref()
    }
}

/// Pages fetched one after the other by `fetch`, until a page has no next link.
///
/// The next page is only asked for when the stream is polled again, so a consumer that keeps
/// up holds one page at a time. A server that hands back a link already followed (A → A, or
/// A → B → A) would loop forever, and one that never stops handing out new links would page
/// forever: the first is an error, the second is one once `max_pages` pages were read.
pub(crate) fn pages<P, F, Fut>(max_pages: Option<u64>, fetch: F) -> impl Stream<Item = Result<P>>
where
    P: Linked,
    F: FnMut(Cursor) -> Fut,
    Fut: Future<Output = Result<P>>,
{
    let followed = HashSet::new();
    stream::try_unfold(
        (fetch, Some(Cursor::First), followed, 0u64),
        move |(mut fetch, cursor, mut followed, read)| async move {
            let Some(cursor) = cursor else {
                return Ok(None);
            };
            if max_pages.is_some_and(|max| read >= max) {
                return Err(Error::Paging {
                    pages: read,
                    reason: format!(
                        "the query has more than the {read} pages ClientBuilder::max_pages allows"
                    ),
                });
            }
            if let Cursor::Next(link) = &cursor {
                followed.insert(link.clone());
            }
            let page = fetch(cursor).await?;
            let read = read + 1;
            let next = match page.next_link() {
                Some(next) if followed.contains(next) => {
                    return Err(Error::Paging {
                        pages: read,
                        reason: format!(
                            "the server answered with the next link `{next}`, which was already followed"
                        ),
                    });
                }
                Some(next) => Some(Cursor::Next(next.clone())),
                None => None,
            };
            Ok(Some((page, (fetch, next, followed, read))))
        },
    )
}

/// The records of `pages`, one at a time; a page is dropped before the next is fetched.
pub(crate) fn records<T>(
    pages: impl Stream<Item = Result<Page<T>>>,
) -> impl Stream<Item = Result<T>> {
    pages
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

/// Counts the records of `pages` without keeping them.
pub(crate) async fn count(pages: impl Stream<Item = Result<Page<IgnoredAny>>>) -> Result<u64> {
    let mut pages = std::pin::pin!(pages);
    let mut total = 0u64;
    while let Some(page) = pages.next().await {
        total += page?.items.len() as u64;
    }
    Ok(total)
}

impl Client {
    /// Every page of a query string on `T`'s entity set (see [`query_raw`](Client::query_raw) for
    /// how `query` is written), asking for at most `max_page_size` records per page when given.
    pub fn pages_raw<'a, T: Entity + 'a>(
        &'a self,
        query: &str,
        max_page_size: Option<u32>,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'a {
        let query = query.to_owned();
        pages(self.max_pages(), move |cursor| {
            let query = query.clone();
            async move {
                match cursor {
                    Cursor::First => match max_page_size {
                        Some(size) => self.query_raw_with_page_size::<T>(&query, size).await,
                        None => self.query_raw::<T>(&query).await,
                    },
                    Cursor::Next(link) => self.follow_link(&link, max_page_size).await,
                }
            }
        })
    }

    /// Every record of a query string ([`query_raw`](Client::query_raw)), page after page, holding one page at a time.
    ///
    /// ```no_run
    /// # use dynamics_client::{Client, Entity};
    /// # async fn run<A: Entity>(client: &Client) -> dynamics_client::Result<()> {
    /// use futures::TryStreamExt as _;
    /// let mut records = std::pin::pin!(client.stream_raw::<A>("$select=name", Some(500)));
    /// while let Some(record) = records.try_next().await? {
    ///     // ...
    /// #   let _ = record;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream_raw<'a, T: Entity + 'a>(
        &'a self,
        query: &str,
        max_page_size: Option<u32>,
    ) -> impl Stream<Item = Result<T>> + Send + 'a {
        records(self.pages_raw::<T>(query, max_page_size))
    }
}
