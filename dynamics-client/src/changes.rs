//! Change tracking: a table's records once, then only what changed since, deletions included.
//!
//! A request with `Prefer: odata.track-changes` answers every record and, on its last page, an
//! `@odata.deltaLink`. Following that link later answers the records created or changed since
//! (as records, with the columns first asked for) and the ones deleted since (as
//! `{"@odata.context": "…/$deletedEntity", "id": "…", "reason": "deleted"}`), and a new delta
//! link. The table must have change tracking enabled (the entity set carries the
//! `Org.OData.Capabilities.V1.ChangeTracking` annotation); Dataverse refuses `$filter`,
//! `$orderby`, `$expand` and `$top` with it, so only columns are chosen.

use futures::stream::Stream;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::paging::{self, Cursor, Linked};
use crate::request::{ApiRequest, Prefer};

/// One change to a table's records.
///
/// Deliberately exhaustive: a sync that matches every kind of change should stop compiling,
/// not skip changes, if a kind is ever added.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// A record created or changed since the delta link (on a first sync, every record), with
    /// the columns the sync asked for.
    Upserted(T),
    /// A record deleted since the delta link: only its id is left. A record created and
    /// deleted between two syncs is reported too.
    Deleted(Uuid),
}

/// Where the next sync of a table starts: the service's `@odata.deltaLink`, kept exactly as it
/// came. Store it (it serializes as its link) and pass it to the next sync; it holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaLink(String);

impl DeltaLink {
    /// A delta link read back from storage. It is checked when it is followed: it must lie
    /// inside the client's Web API.
    pub fn new(link: impl Into<String>) -> Self {
        DeltaLink(link.into())
    }

    /// The link, as the service wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeltaLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage<T> {
    /// The changes on this page, in the service's order (Dataverse sends the created and
    /// changed records first, then the deleted ones).
    pub changes: Vec<Change<T>>,
    /// `@odata.nextLink`, when more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`, on the last page: where the next sync starts.
    pub delta_link: Option<DeltaLink>,
}

impl<T> Linked for ChangePage<T> {
    fn next_link(&self) -> Option<&String> {
        self.next_link.as_ref()
    }
}

/// The wire form of a page, its items read later one by one.
#[derive(Deserialize)]
pub(crate) struct ChangeBody<'a> {
    #[serde(borrow)]
    pub value: Vec<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// What a deleted record's entry holds.
#[derive(Deserialize)]
struct Removed {
    #[serde(rename = "@odata.context", default)]
    context: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// Reads one entry of a page as a deletion or a record of `T`.
pub(crate) fn change<T: DeserializeOwned>(what: &str, entry: &RawValue) -> Result<Change<T>> {
    let text = entry.get();
    // Only an entry with this text can be a deletion: records skip the second parse.
    if text.contains("$deletedEntity")
        && let Ok(removed) = serde_json::from_str::<Removed>(text)
        && removed
            .context
            .as_deref()
            .is_some_and(|c| c.ends_with("$deletedEntity"))
    {
        let id = removed.id.as_deref().unwrap_or_default();
        return Uuid::parse_str(id).map(Change::Deleted).map_err(|e| {
            Error::invalid_input(format!(
                "a deleted entry of {what} has no valid id (`{id}`): {e}"
            ))
        });
    }
    Error::decode_json(what, text.as_bytes()).map(Change::Upserted)
}

impl Client {
    /// Every page of the changes to `T`'s table since `since`, or, without it, every record
    /// (the first sync). The last page carries the [`DeltaLink`] where the next sync starts.
    /// `columns` are the columns read (`$select`; empty for all of them); a later sync keeps
    /// the columns of the one that made its link. `max_page_size` asks for pages of at most
    /// that many records (1 to 5,000).
    ///
    /// Dataverse keeps changes for a limited time (the organization's
    /// `ExpireChangeTrackingInDays`, 7 days by default) and refuses an older link with an
    /// error: then sync again from the start, without `since`.
    ///
    /// ```no_run
    /// # use dynamics_client::{Client, Entity, changes::{Change, DeltaLink}};
    /// # async fn run<A: Entity>(client: &Client, saved: Option<DeltaLink>) -> dynamics_client::Result<()> {
    /// use futures::TryStreamExt as _;
    /// let mut pages = std::pin::pin!(client.changes::<A>(&["name"], saved.as_ref(), None));
    /// let mut next = None;
    /// while let Some(page) = pages.try_next().await? {
    ///     for change in page.changes {
    ///         match change {
    ///             Change::Upserted(record) => { /* write it to the other system */ }
    ///             Change::Deleted(id) => { /* remove it there */ }
    ///         }
    ///     }
    ///     next = page.delta_link.or(next);
    /// }
    /// // Save `next` for the next run.
    /// # let _ = next;
    /// # Ok(()) }
    /// ```
    pub fn changes<'a, T: Entity + 'a>(
        &'a self,
        columns: &[&str],
        since: Option<&DeltaLink>,
        max_page_size: Option<u32>,
    ) -> impl Stream<Item = Result<ChangePage<T>>> + Send + use<'a, T> {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let since = since.cloned();
        paging::pages(self.max_pages(), move |cursor| {
            let request = match cursor {
                Cursor::First => first_changes_request::<T>(self, &columns, since.as_ref()),
                Cursor::Next(link) => self
                    .next_link_url(&link)
                    .map(|url| ApiRequest::follow(url, T::ENTITY_SET_NAME)),
            };
            async move { self.changes_page::<T>(request?, max_page_size).await }
        })
    }

    async fn changes_page<T: Entity>(
        &self,
        request: ApiRequest,
        max_page_size: Option<u32>,
    ) -> Result<ChangePage<T>> {
        let prefer = Prefer::default().track_changes(true);
        let request = request.prefer(prefer.page_size(max_page_size)?);
        let response = self.run(request).await?;
        let what = format!("{} changes", T::ENTITY_SET_NAME);
        let body: ChangeBody<'_> = Error::decode_json(&what, &response.body)?;
        let changes = body
            .value
            .iter()
            .map(|entry| change(&what, entry))
            .collect::<Result<_>>()?;
        Ok(ChangePage {
            changes,
            next_link: body.next_link,
            delta_link: body.delta_link.map(DeltaLink),
        })
    }
}

/// A sync's first page: the delta link, refused when it leaves this Web API, or the entity set
/// with `$select`.
fn first_changes_request<T: Entity>(
    client: &Client,
    columns: &[String],
    since: Option<&DeltaLink>,
) -> Result<ApiRequest> {
    if let Some(since) = since {
        let url = client.next_link_url(since.as_str())?;
        return Ok(ApiRequest::follow(url, T::ENTITY_SET_NAME));
    }
    let mut request = ApiRequest::to_path(Method::GET, T::ENTITY_SET_NAME, T::ENTITY_SET_NAME);
    if !columns.is_empty() {
        request.query.push(("$select", columns.join(",")));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Account {
        name: Option<String>,
    }

    fn read(json: &str) -> Result<Change<Account>> {
        let entry: Box<RawValue> = serde_json::from_str(json).expect("valid JSON");
        change("accounts changes", &entry)
    }

    #[test]
    fn entries_are_records_or_deletions() {
        assert_eq!(
            read(r#"{"@odata.etag":"W/\"1\"","name":"Contoso"}"#).unwrap(),
            Change::Upserted(Account {
                name: Some("Contoso".into())
            })
        );
        assert_eq!(
            read(
                r#"{"@odata.context":"https://x/api/data/v9.2/$metadata#accounts/$deletedEntity",
                    "id":"2e451703-c686-e711-80e5-00155db19e6d","reason":"deleted"}"#
            )
            .unwrap(),
            Change::Deleted(Uuid::from_u128(0x2e451703_c686_e711_80e5_00155db19e6d))
        );
        // A record whose text mentions the marker is still a record.
        assert_eq!(
            read(r#"{"name":"about $deletedEntity"}"#).unwrap(),
            Change::Upserted(Account {
                name: Some("about $deletedEntity".into())
            })
        );
        // So is a changed record that carries its own context.
        assert_eq!(
            read(r#"{"@odata.context":"https://x/$metadata#accounts/$entity","name":"A"}"#)
                .unwrap(),
            Change::Upserted(Account {
                name: Some("A".into())
            })
        );
    }

    #[test]
    fn a_deletion_without_a_valid_id_is_an_error() {
        let e = read(r#"{"@odata.context":"x#accounts/$deletedEntity","id":"nope"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no valid id (`nope`)"), "{e}");
        let e = read(r#"{"@odata.context":"x#accounts/$deletedEntity"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no valid id"), "{e}");
    }

    #[test]
    fn a_record_that_does_not_decode_names_what() {
        let e = read(r#"{"name":5}"#).unwrap_err().to_string();
        assert!(e.contains("accounts changes"), "{e}");
    }
}
