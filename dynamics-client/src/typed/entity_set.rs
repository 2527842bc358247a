//! Typed CRUD and queries on one entity set: what generated `client.accounts()` returns.

use std::marker::PhantomData;

use reqwest::Method;
use uuid::Uuid;

use super::annotated::{Annotated, AnnotationsOnly};
use super::column::Column;
use super::query::{Columns, Query};
use crate::client::{Client, Request};
use crate::crud::UpsertMode;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::page::{Page, PageBody};

/// The entity set of table `E` on a client: `client.entity_set::<Account>()`, or the
/// generated `client.accounts()`.
pub struct EntitySet<'c, E> {
    client: &'c Client,
    marker: PhantomData<fn() -> E>,
}

impl<E> Clone for EntitySet<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for EntitySet<'_, E> {}

impl<E: Entity> std::fmt::Debug for EntitySet<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EntitySet")
            .field(&E::ENTITY_SET_NAME)
            .finish()
    }
}

impl Client {
    /// Typed access to the entity set of table `E`.
    pub fn entity_set<E: Entity>(&self) -> EntitySet<'_, E> {
        EntitySet {
            client: self,
            marker: PhantomData,
        }
    }
}

impl<'c, E: Entity> EntitySet<'c, E> {
    /// Creates a record, with the lookups set on it; returns its id.
    pub async fn create(&self, record: &E) -> Result<Uuid> {
        self.client.create(record).await
    }

    /// Creates a record and returns it as stored, server-set columns filled in.
    pub async fn create_and_return(&self, record: &E) -> Result<E> {
        self.client.create_and_return(record).await
    }

    /// Reads every column of a record.
    pub async fn retrieve(&self, id: Uuid) -> Result<E> {
        self.client.retrieve(id, &[]).await
    }

    /// Reads the named columns of a record (`(Account::NAME, Account::REVENUE)`).
    pub async fn retrieve_columns(&self, id: Uuid, columns: impl Columns<E>) -> Result<E> {
        self.client.retrieve(id, &columns.names()).await
    }

    /// Reads the named columns with their formatted values and lookup annotations.
    pub async fn retrieve_annotated(
        &self,
        id: Uuid,
        columns: impl Columns<E>,
    ) -> Result<Annotated<E>> {
        let names = columns.names();
        let mut url = self
            .client
            .url(&format!("{}({})", E::ENTITY_SET_NAME, id.hyphenated()))?;
        if !names.is_empty() {
            url.query_pairs_mut()
                .append_pair("$select", &names.join(","));
        }
        let mut request = self.request(Method::GET, url);
        request
            .headers
            .push(("Prefer", "odata.include-annotations=\"*\"".to_owned()));
        let response = self.client.send(request).await?;
        let what = format!("{} record", E::ENTITY_SET_NAME);
        let record: E = Error::decode_json(&what, &response.body)?;
        let AnnotationsOnly(annotations) = Error::decode_json(&what, &response.body)?;
        Ok(Annotated {
            record,
            annotations,
        })
    }

    /// Updates exactly the fields set in `changes` (and the lookups set on it); a missing
    /// record is [`Error::NotFound`].
    pub async fn update(&self, id: Uuid, changes: &E) -> Result<()> {
        self.client.update(id, changes).await
    }

    /// Updates only if the record's ETag is still `etag`; otherwise
    /// [`Error::ConcurrencyConflict`].
    pub async fn update_if_match(&self, id: Uuid, changes: &E, etag: &str) -> Result<()> {
        self.client.update_if_match(id, changes, etag).await
    }

    /// Creates or updates the record with this id, as `mode` allows.
    pub async fn upsert(&self, id: Uuid, record: &E, mode: UpsertMode) -> Result<()> {
        self.client.upsert(id, record, mode).await
    }

    /// Deletes a record.
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.client.delete::<E>(id).await
    }

    /// Clears a lookup (`DELETE <set>(<id>)/<navigation property>/$ref`).
    pub async fn clear_lookup(&self, id: Uuid, lookup: Column<E, Uuid>) -> Result<()> {
        let navigation = lookup.navigation().ok_or_else(|| {
            Error::invalid_input(format!(
                "`{}` is not a lookup column, so it cannot be cleared with $ref",
                lookup.name()
            ))
        })?;
        let url = self.client.url(&format!(
            "{}({})/{navigation}/$ref",
            E::ENTITY_SET_NAME,
            id.hyphenated()
        ))?;
        self.client.send(self.request(Method::DELETE, url)).await?;
        Ok(())
    }

    /// The first page of a query. Follow it with [`EntitySet::next_page`].
    pub async fn query(&self, query: &Query<E>) -> Result<Page<E>> {
        let mut url = self.client.url(E::ENTITY_SET_NAME)?;
        let text = query.to_query_string();
        if !text.is_empty() {
            url.set_query(Some(&text));
        }
        self.fetch(url, query).await
    }

    /// The page after `page`, asked for with the same preferences (page size, annotations)
    /// as `query`; `None` after the last page.
    pub async fn next_page(&self, page: &Page<E>, query: &Query<E>) -> Result<Option<Page<E>>> {
        let Some(link) = &page.next_link else {
            return Ok(None);
        };
        let url = url::Url::parse(link)
            .map_err(|e| Error::invalid_input(format!("next link `{link}` is not a URL: {e}")))?;
        self.client.check_same_service(&url)?;
        self.fetch(url, query).await.map(Some)
    }

    async fn fetch(&self, url: url::Url, query: &Query<E>) -> Result<Page<E>> {
        let mut request = self.request(Method::GET, url);
        let mut prefer = Vec::new();
        if let Some(size) = query.page_size {
            prefer.push(format!("odata.maxpagesize={size}"));
        }
        if query.annotations {
            prefer.push("odata.include-annotations=\"*\"".to_owned());
        }
        if !prefer.is_empty() {
            request.headers.push(("Prefer", prefer.join(",")));
        }
        let response = self.client.send(request).await?;
        let body: PageBody<E> =
            Error::decode_json(&format!("{} page", E::ENTITY_SET_NAME), &response.body)?;
        Ok(body.into_page(query.page_size))
    }

    fn request(&self, method: Method, url: url::Url) -> Request<'static> {
        Request {
            method,
            url,
            body: None,
            headers: Vec::new(),
            idempotent: true,
            entity_set: E::ENTITY_SET_NAME,
        }
    }
}
