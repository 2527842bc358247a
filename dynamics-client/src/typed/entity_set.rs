//! Typed CRUD and queries on one entity set: what generated `client.accounts()` returns.

use std::marker::PhantomData;

use futures::stream::Stream;
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use uuid::Uuid;

use super::alternate_key::AlternateKey;
use super::annotated::{Annotated, AnnotationsOnly};
use super::apply::{Apply, ApplyRow};
use super::column::Column;
use super::query::{Columns, Query};
use crate::changes::{ChangePage, DeltaLink};
use crate::client::Client;
use crate::crud::UpsertMode;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::files::FileContent;
use crate::page::{Page, PageBody};
use crate::paging::{self, Cursor};
use crate::request::{ApiRequest, Prefer, record_path};

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
    /// The client this entity set belongs to.
    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }

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
        let request = ApiRequest::read::<E>(record_path::<E>(id), &columns.names())?
            .prefer(Prefer::default().all_annotations());
        let response = self.client.run(request).await?;
        let what = format!("{} record", E::ENTITY_SET_NAME);
        let record: E = Error::decode_json(&what, &response.body)?;
        let AnnotationsOnly(annotations) = Error::decode_json(&what, &response.body)?;
        Ok(Annotated {
            record,
            annotations,
        })
    }

    /// Reads one column of a record (`GET <set>(<id>)/<column>`, answered `{"value": ...}`);
    /// `None` when it has no value. See "Retrieve a single property value" in
    /// <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api>.
    ///
    /// `T` is read with serde: text, numbers, booleans, GUIDs and choice enums read as
    /// generated; for a date-time or a decimal that needs every digit, read the column with
    /// [`EntitySet::retrieve_columns`] instead.
    pub async fn retrieve_value<T: DeserializeOwned>(
        &self,
        id: Uuid,
        column: Column<E, T>,
    ) -> Result<Option<T>> {
        #[derive(serde::Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Single<T> {
            value: Option<T>,
        }
        let response = self.property(id, column.name(), "").await?;
        if response.status == reqwest::StatusCode::NO_CONTENT || response.body.is_empty() {
            return Ok(None);
        }
        let what = format!("{}/{} value", E::ENTITY_SET_NAME, column.name());
        let single: Single<T> = Error::decode_json(&what, &response.body)?;
        Ok(single.value)
    }

    /// The raw value of one column of a record as text (`GET <set>(<id>)/<column>/$value`,
    /// answered `text/plain`); `None` when it has no value.
    pub async fn retrieve_raw_value<T>(
        &self,
        id: Uuid,
        column: Column<E, T>,
    ) -> Result<Option<String>> {
        let response = self.property(id, column.name(), "/$value").await?;
        if response.status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        String::from_utf8(response.body).map(Some).map_err(|_| {
            Error::invalid_input(format!(
                "the raw value of {}/{} is not UTF-8 text",
                E::ENTITY_SET_NAME,
                column.name()
            ))
        })
    }

    async fn property(
        &self,
        id: Uuid,
        column: &str,
        suffix: &str,
    ) -> Result<crate::client::Response> {
        let url = self.client.url(&format!(
            "{}({})/{column}{suffix}",
            E::ENTITY_SET_NAME,
            id.hyphenated()
        ))?;
        self.client.run(self.request(Method::GET, url)).await
    }

    /// Runs an `$apply` and reads every result row as `R`, a type the caller names
    /// (`#[derive(Deserialize)]` with the grouped columns and the aggregates' aliases) or
    /// [`ApplyRow`]. Result pages are followed to the end.
    ///
    /// Dataverse aggregates at most 50,000 records
    /// ([`AGGREGATE_RECORD_LIMIT`](crate::query::AGGREGATE_RECORD_LIMIT)); more is an
    /// [`Error::Api`] with the code `0x8004E023`.
    pub async fn apply<R: DeserializeOwned>(&self, apply: &Apply<E>) -> Result<Vec<R>> {
        let mut url = self.client.url(E::ENTITY_SET_NAME)?;
        url.set_query(Some(&apply.to_query_string()?));
        let prefer = if apply.wants_formatted_values() {
            Prefer::default().annotations(crate::typed::FORMATTED_VALUE)
        } else {
            Prefer::default()
        };
        let mut rows = Vec::new();
        loop {
            let request = self.request(Method::GET, url).prefer(prefer.clone());
            let response = self.client.run(request).await?;
            let body: PageBody<R> = Error::decode_json(
                &format!("{} $apply result", E::ENTITY_SET_NAME),
                &response.body,
            )?;
            let page = body.into_page(None);
            rows.extend(page.items);
            match page.next_link {
                Some(link) => url = self.client.next_link_url(&link)?,
                None => return Ok(rows),
            }
        }
    }

    /// [`EntitySet::apply`] into [`ApplyRow`]s, read by column and aggregate.
    pub async fn apply_rows(&self, apply: &Apply<E>) -> Result<Vec<ApplyRow<E>>> {
        self.apply(apply).await
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

    /// Updates `read` with `changes` only if it is unchanged since it was read: `If-Match`
    /// with `read`'s ETag. A change by someone else in between is
    /// [`Error::ConcurrencyConflict`]; a record without an ETag is [`Error::InvalidInput`].
    pub async fn update_if_unchanged(&self, read: &E, changes: &E) -> Result<()> {
        let id = read.id().ok_or_else(|| {
            Error::invalid_input(format!(
                "the {} record has no id: read it with its primary key",
                E::ENTITY_SET_NAME
            ))
        })?;
        let etag = read.etag().ok_or_else(|| {
            Error::invalid_input(format!(
                "the {} record carries no ETag (@odata.etag): read it from the service first",
                E::ENTITY_SET_NAME
            ))
        })?;
        self.client.update_if_match(id, changes, etag).await
    }

    /// Creates or updates the record with this id, as `mode` allows; see [`Client::upsert`].
    pub async fn upsert(&self, id: Uuid, record: &E, mode: UpsertMode) -> Result<()> {
        self.client.upsert(id, record, mode).await
    }

    /// Reads the record with this alternate key, the named columns only (all for `()`).
    pub async fn retrieve_by_key(
        &self,
        key: &AlternateKey<E>,
        columns: impl Columns<E>,
    ) -> Result<E> {
        self.client.retrieve_by_key(key, &columns.names()).await
    }

    /// Creates or updates the record with this alternate key, as `mode` allows; see
    /// [`Client::upsert_by_key`].
    pub async fn upsert_by_key(
        &self,
        key: &AlternateKey<E>,
        record: &E,
        mode: UpsertMode,
    ) -> Result<()> {
        self.client.upsert_by_key(key, record, mode).await
    }

    /// Deletes the record with this alternate key.
    pub async fn delete_by_key(&self, key: &AlternateKey<E>) -> Result<()> {
        self.client.delete_by_key(key).await
    }

    /// Links the `T` record `target` into the collection `navigation_property` of record `id`.
    pub async fn associate<T: Entity>(
        &self,
        id: Uuid,
        navigation_property: &str,
        target: Uuid,
    ) -> Result<()> {
        self.client
            .associate::<E, T>(id, navigation_property, target)
            .await
    }

    /// Unlinks the `T` record `target` from the collection `navigation_property` of record `id`.
    pub async fn disassociate<T: Entity>(
        &self,
        id: Uuid,
        navigation_property: &str,
        target: Uuid,
    ) -> Result<()> {
        self.client
            .disassociate::<E, T>(id, navigation_property, target)
            .await
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
        self.client.run(self.request(Method::DELETE, url)).await?;
        Ok(())
    }

    /// The first page of a query. Follow it with [`EntitySet::next_page`].
    pub async fn query(&self, query: &Query<E>) -> Result<Page<E>> {
        let url = self.query_url(query)?;
        self.fetch(url, query).await
    }

    /// The page after `page`, asked for with the same preferences (page size, annotations)
    /// as `query`; `None` after the last page.
    pub async fn next_page(&self, page: &Page<E>, query: &Query<E>) -> Result<Option<Page<E>>> {
        let Some(link) = &page.next_link else {
            return Ok(None);
        };
        let url = self.client.next_link_url(link)?;
        self.fetch(url, query).await.map(Some)
    }

    /// Every page of a query, following each `@odata.nextLink` exactly as returned and
    /// resending the query's page size and annotation preferences with every page.
    pub fn pages(&self, query: Query<E>) -> impl Stream<Item = Result<Page<E>>> + Send + 'c
    where
        E: 'c,
    {
        self.pages_as::<E>(query)
    }

    /// Every record of a query, page after page. One page is held at a time, so memory stays
    /// bounded by the page size (`Query::page_size`, 5,000 when not set) however many records
    /// are read.
    ///
    /// ```no_run
    /// # use dynamics_client::{Entity, Query, entity::EntitySet};
    /// # async fn run<A: Entity>(accounts: EntitySet<'_, A>) -> dynamics_client::Result<()> {
    /// use futures::TryStreamExt as _;
    /// let mut all = std::pin::pin!(accounts.stream(Query::new().page_size(1000)));
    /// while let Some(account) = all.try_next().await? {
    ///     // ...
    /// #   let _ = account;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(&self, query: Query<E>) -> impl Stream<Item = Result<E>> + Send + 'c
    where
        E: 'c,
    {
        paging::records(self.pages(query))
    }

    /// Uploads a file to a file or image column of record `id`; see [`Client::upload_file`].
    pub async fn upload_file<T>(
        &self,
        id: Uuid,
        column: Column<E, T>,
        file_name: &str,
        content: &[u8],
    ) -> Result<()> {
        self.client
            .upload_file::<E>(id, column.name(), file_name, content)
            .await
    }

    /// Downloads the file of a file column of record `id` (an image column's thumbnail); see
    /// [`Client::download_file`].
    pub async fn download_file<T>(&self, id: Uuid, column: Column<E, T>) -> Result<FileContent> {
        self.client.download_file::<E>(id, column.name()).await
    }

    /// Downloads the full-size image of an image column of record `id`, `None` when only a
    /// thumbnail is stored; see [`Client::download_image`].
    pub async fn download_image<T>(
        &self,
        id: Uuid,
        column: Column<E, T>,
    ) -> Result<Option<FileContent>> {
        self.client.download_image::<E>(id, column.name()).await
    }

    /// Removes the file of a file or image column of record `id`.
    pub async fn delete_file<T>(&self, id: Uuid, column: Column<E, T>) -> Result<()> {
        self.client.delete_file::<E>(id, column.name()).await
    }

    /// Every page of the changes to this table since `since`, or every record without it (the
    /// first sync); the last page carries the [`DeltaLink`] of the next sync. See
    /// [`Client::changes`].
    pub fn changes<C: Columns<E>>(
        &self,
        columns: C,
        since: Option<&DeltaLink>,
        max_page_size: Option<u32>,
    ) -> impl Stream<Item = Result<ChangePage<E>>> + Send + use<'c, E, C>
    where
        E: 'c,
    {
        self.client
            .changes::<E>(&columns.names(), since, max_page_size)
    }

    /// Counts every record the query matches by paging through them, past the 5,000 that
    /// `$count` stops at. Only the primary key is read (unless the query selects columns),
    /// and no record is kept, so memory stays constant; the cost is one request per page.
    pub async fn count_all(&self, mut query: Query<E>) -> Result<u64>
    where
        E: 'c,
    {
        query.select_key_only::<E>();
        paging::count(self.pages_as::<IgnoredAny>(query)).await
    }

    fn pages_as<T: DeserializeOwned + Send + 'c>(
        &self,
        query: Query<E>,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'c
    where
        E: 'c,
    {
        let set = *self;
        paging::pages(set.client.max_pages(), move |cursor| {
            let query = query.clone();
            async move {
                let url = match cursor {
                    Cursor::First => set.query_url(&query)?,
                    Cursor::Next(link) => set.client.next_link_url(&link)?,
                };
                set.fetch_as::<T>(url, &query).await
            }
        })
    }

    fn query_url(&self, query: &Query<E>) -> Result<url::Url> {
        let mut url = self.client.url(E::ENTITY_SET_NAME)?;
        let text = query.to_query_string();
        if !text.is_empty() {
            url.set_query(Some(&text));
        }
        Ok(url)
    }

    async fn fetch(&self, url: url::Url, query: &Query<E>) -> Result<Page<E>> {
        self.fetch_as(url, query).await
    }

    async fn fetch_as<T: DeserializeOwned>(
        &self,
        url: url::Url,
        query: &Query<E>,
    ) -> Result<Page<T>> {
        let request = self.request(Method::GET, url).prefer(query.prefer()?);
        let response = self.client.run(request).await?;
        let body: PageBody<T> =
            Error::decode_json(&format!("{} page", E::ENTITY_SET_NAME), &response.body)?;
        Ok(body.into_page(query.page_size))
    }

    fn request(&self, method: Method, url: url::Url) -> ApiRequest {
        ApiRequest::at(method, url, E::ENTITY_SET_NAME)
    }
}
