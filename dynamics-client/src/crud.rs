//! Generic create, retrieve, update, upsert, delete and query for any [`Entity`].

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::client::{Client, Response};
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::odata;
use crate::page::{Page, PageBody};
use crate::request::{ApiRequest, Condition, Prefer, check_page_size, record_path};

/// Which way an upsert may go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertMode {
    /// Create the record if it is missing, update it otherwise (plain `PATCH`).
    #[default]
    CreateOrUpdate,
    /// Only create: `If-None-Match: *`. An existing record gives
    /// [`Error::ConcurrencyConflict`] (HTTP 412). By id, a 412 to a retry after a try whose
    /// outcome is unknown is checked, and is success when that try created the record (see
    /// [`exactly_once`](crate::exactly_once)).
    CreateOnly,
    /// Only update: `If-Match: *`. A missing record gives [`Error::NotFound`].
    UpdateOnly,
}

impl UpsertMode {
    /// The condition that limits an upsert to this mode.
    pub(crate) fn condition(self) -> Option<Condition> {
        match self {
            UpsertMode::CreateOrUpdate => None,
            UpsertMode::CreateOnly => Some(Condition::IfNoneMatchAny),
            UpsertMode::UpdateOnly => Some(Condition::IfMatch("*".to_owned())),
        }
    }
}

impl Client {
    /// Creates a record and returns its id (from the `OData-EntityId` header).
    ///
    /// Fields that serialize as absent are not sent. Set the primary key to choose the id
    /// yourself: the record is then sent as a create-only upsert (`PATCH` with
    /// `If-None-Match: *`), which is safe to retry after a 5xx, a timeout or a lost connection,
    /// and an existing record with that id is [`Error::ConcurrencyConflict`]. Without an id the
    /// record is `POST`ed and the service picks the id, but a try that may have taken effect is
    /// not sent again. See [`exactly_once`](crate::exactly_once).
    pub async fn create<T: Entity>(&self, record: &T) -> Result<Uuid> {
        if let Some(id) = record.id() {
            self.create_only(id, record, false).await?;
            return Ok(id);
        }
        let response = self.post_record(record, false).await?;
        if let Some(id) = response
            .headers
            .get(odata::ODATA_ENTITY_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(odata::entity_id_from_url)
        {
            return Ok(id);
        }
        // Without the header: a body carrying the key, or the id the caller chose.
        let from_body = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| Uuid::parse_str(v.get(T::PRIMARY_KEY)?.as_str()?).ok());
        from_body.or(record.id()).ok_or_else(|| Error::Decode {
            what: format!("{} create answer", T::ENTITY_SET_NAME),
            path: odata::ODATA_ENTITY_ID.to_owned(),
            source: serde::de::Error::custom(format!(
                "HTTP {} without a readable OData-EntityId header or `{}` in the body",
                response.status.as_u16(),
                T::PRIMARY_KEY
            )),
            excerpt: String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect(),
        })
    }

    /// Creates a record and returns it as stored (`Prefer: return=representation`), with
    /// server-set columns filled in. A record with its id set is created as
    /// [`create`](Self::create) does it, safe to retry.
    pub async fn create_and_return<T: Entity>(&self, record: &T) -> Result<T> {
        let response = match record.id() {
            Some(id) => match self.create_only(id, record, true).await? {
                Some(response) => response,
                // An earlier try created it, and its answer was lost: read it back.
                None => return self.retrieve(id, &[]).await,
            },
            None => self.post_record(record, true).await?,
        };
        Error::decode_json(
            &format!("created {} record", T::ENTITY_SET_NAME),
            &response.body,
        )
    }

    /// Creates `record` under `id` with a create-only upsert (`PATCH` with `If-None-Match: *`),
    /// which the pipeline may send again after any failure. The answer, or `None` when a try
    /// was answered 412 after an earlier try whose outcome is unknown and the record is there:
    /// that earlier try created it.
    async fn create_only<T: Entity>(
        &self,
        id: Uuid,
        record: &T,
        return_record: bool,
    ) -> Result<Option<Response>> {
        let request = ApiRequest::patch_record(
            record_path::<T>(id),
            record,
            UpsertMode::CreateOnly.condition(),
        )?
        .prefer(Prefer::default().return_representation(return_record));
        let response = self.run(request).await?;
        if response.status != reqwest::StatusCode::PRECONDITION_FAILED {
            return Ok(Some(response));
        }
        let conflict = crate::client::status_error(odata::parse_api_error(
            response.status.as_u16(),
            &response.headers,
            &response.body,
        ));
        match self.confirm_created::<T>(&[id]).await?.first() {
            Some(true) => Ok(None),
            _ => Err(conflict),
        }
    }

    /// Whether a record exists under each id, read in one `$batch` (the ids of one call are
    /// at most [`MAX_BATCH_REQUESTS`](crate::batch::MAX_BATCH_REQUESTS)). Used after a create-only
    /// upsert was answered 412 on a retry: the record is there when an earlier try made it,
    /// and missing when the 412 came from something else, such as a clashing alternate key.
    pub(crate) async fn confirm_created<T: Entity>(&self, ids: &[Uuid]) -> Result<Vec<bool>> {
        self.confirm_created_in(T::ENTITY_SET_NAME, Some(T::PRIMARY_KEY), ids)
            .await
    }

    /// [`confirm_created`](Self::confirm_created) for a table named at run time; without its
    /// primary key's name each record is read whole.
    pub(crate) async fn confirm_created_in(
        &self,
        entity_set: &str,
        primary_key: Option<&str>,
        ids: &[Uuid],
    ) -> Result<Vec<bool>> {
        let mut batch = crate::batch::Batch::new();
        let mut handles = Vec::with_capacity(ids.len());
        for id in ids {
            let mut path = format!("{entity_set}({})", id.hyphenated());
            if let Some(key) = primary_key {
                path.push_str(&format!("?$select={key}"));
            }
            handles.push(batch.raw(Method::GET, &path, None)?);
        }
        batch.continue_on_error(true);
        let reply = self.execute_batch(&batch).await?;
        handles
            .into_iter()
            .map(|handle| match reply.get(handle) {
                Ok(_) => Ok(true),
                Err(Error::NotFound(_)) => Ok(false),
                Err(other) => Err(other),
            })
            .collect()
    }

    /// Reads one record. `columns` become `$select`; an empty slice reads every column.
    pub async fn retrieve<T: Entity>(&self, id: Uuid, columns: &[&str]) -> Result<T> {
        self.retrieve_at(record_path::<T>(id), columns).await
    }

    /// Reads the record at `path` (`set(key)`), `$select`ing `columns` when there are any.
    pub(crate) async fn retrieve_at<T: Entity>(&self, path: String, columns: &[&str]) -> Result<T> {
        let response = self.run(ApiRequest::read::<T>(path, columns)?).await?;
        Error::decode_json(&format!("{} record", T::ENTITY_SET_NAME), &response.body)
    }

    /// Updates an existing record with exactly the fields set in `changes`.
    ///
    /// Sends `If-Match: *`, so a missing record gives [`Error::NotFound`] instead of being
    /// created (use [`upsert`](Self::upsert) for that).
    pub async fn update<T: Entity>(&self, id: Uuid, changes: &T) -> Result<()> {
        self.patch(id, changes, Some(Condition::IfMatch("*".to_owned())))
            .await
    }

    /// Updates a record only if its ETag is still `etag` (e.g. `W/"536530"`); otherwise
    /// fails with [`Error::ConcurrencyConflict`].
    pub async fn update_if_match<T: Entity>(
        &self,
        id: Uuid,
        changes: &T,
        etag: &str,
    ) -> Result<()> {
        self.patch(id, changes, Some(Condition::IfMatch(etag.to_owned())))
            .await
    }

    /// Creates or updates the record with this id, as `mode` allows.
    ///
    /// With [`UpsertMode::CreateOnly`] this is [`create`](Self::create) under `id`: an existing
    /// record is [`Error::ConcurrencyConflict`], except that a 412 to a retry after a try whose
    /// outcome is unknown (a 5xx, a timeout, a lost connection) is checked by reading the record
    /// back, and is `Ok` when it is there: that earlier try created it. See
    /// [`exactly_once`](crate::exactly_once).
    pub async fn upsert<T: Entity>(&self, id: Uuid, record: &T, mode: UpsertMode) -> Result<()> {
        match mode {
            UpsertMode::CreateOnly => self.create_only(id, record, false).await.map(|_| ()),
            UpsertMode::CreateOrUpdate | UpsertMode::UpdateOnly => {
                self.patch(id, record, mode.condition()).await
            }
        }
    }

    /// Deletes a record.
    pub async fn delete<T: Entity>(&self, id: Uuid) -> Result<()> {
        self.run(ApiRequest::delete::<T>(record_path::<T>(id)))
            .await?;
        Ok(())
    }

    /// Runs a query written out as an OData query string on the entity set and returns the
    /// first page: the escape hatch for what [`Query`](crate::Query) cannot say. Prefer
    /// [`EntitySet::query`](crate::entity::EntitySet::query).
    ///
    /// `query` is the query string without the leading `?`, e.g.
    /// `$select=name&$filter=revenue gt 1000&$top=10`. It is sent as written (characters
    /// not allowed in a URL are percent-encoded), so quote and escape literals yourself:
    /// a `'` inside a string literal is written `''`.
    pub async fn query_raw<T: Entity>(&self, query: &str) -> Result<Page<T>> {
        self.query_pages(query, None).await
    }

    /// Like [`query_raw`](Self::query_raw), asking for pages of at most `max_page_size` records
    /// (`Prefer: odata.maxpagesize`, 1 to 5,000). [`next_page_raw`](Self::next_page_raw) keeps
    /// the size.
    pub async fn query_raw_with_page_size<T: Entity>(
        &self,
        query: &str,
        max_page_size: u32,
    ) -> Result<Page<T>> {
        check_page_size(max_page_size)?;
        self.query_pages(query, Some(max_page_size)).await
    }

    /// The page after a [`query_raw`](Self::query_raw) page: follows its `@odata.nextLink`
    /// unchanged; `None` after the last page.
    pub async fn next_page_raw<T: Entity>(&self, page: &Page<T>) -> Result<Option<Page<T>>> {
        let Some(link) = &page.next_link else {
            return Ok(None);
        };
        self.follow_link(link, page.max_page_size).await.map(Some)
    }

    /// Fetches a `@odata.nextLink` exactly as the server wrote it, inside this Web API only.
    pub(crate) async fn follow_link<T: Entity>(
        &self,
        link: &str,
        max_page_size: Option<u32>,
    ) -> Result<Page<T>> {
        let url = self.next_link_url(link)?;
        self.fetch_page(ApiRequest::follow(url, T::ENTITY_SET_NAME), max_page_size)
            .await
    }

    /// Parses a next link and refuses one that leaves this environment's Web API.
    pub(crate) fn next_link_url(&self, link: &str) -> Result<url::Url> {
        let url = url::Url::parse(link)
            .map_err(|e| Error::invalid_input(format!("next link `{link}` is not a URL: {e}")))?;
        self.check_same_service(&url)?;
        Ok(url)
    }

    async fn query_pages<T: Entity>(
        &self,
        query: &str,
        max_page_size: Option<u32>,
    ) -> Result<Page<T>> {
        let query = query.trim_start_matches('?');
        let mut url = self.url(T::ENTITY_SET_NAME)?;
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        // The query is sent as written, so the URL is made here, not from pairs.
        self.fetch_page(ApiRequest::follow(url, T::ENTITY_SET_NAME), max_page_size)
            .await
    }

    /// Sends a `GET` to a path under the Web API root and decodes the JSON answer: for
    /// functions and resources without an [`Entity`] type, e.g. `client.get("WhoAmI()")`.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T> {
        let request = ApiRequest::to_path(Method::GET, path_and_query, "");
        let response = self.run(request).await?;
        Error::decode_json(path_and_query, &response.body)
    }

    async fn fetch_page<T: Entity>(
        &self,
        request: ApiRequest,
        max_page_size: Option<u32>,
    ) -> Result<Page<T>> {
        // Every page of one query must ask for the same size.
        let request = request.prefer(Prefer::default().page_size(max_page_size)?);
        let response = self.run(request).await?;
        let body: PageBody<T> =
            Error::decode_json(&format!("{} page", T::ENTITY_SET_NAME), &response.body)?;
        Ok(body.into_page(max_page_size))
    }

    async fn post_record<T: Entity>(&self, record: &T, return_record: bool) -> Result<Response> {
        let request = ApiRequest::post_record(record, &[])?
            .prefer(Prefer::default().return_representation(return_record));
        self.run(request).await
    }

    async fn patch<T: Entity>(
        &self,
        id: Uuid,
        record: &T,
        condition: Option<Condition>,
    ) -> Result<()> {
        self.patch_at(record_path::<T>(id), record, condition).await
    }

    /// `PATCH`es `record` to `path` (`set(key)`), with an optional condition.
    pub(crate) async fn patch_at<T: Entity>(
        &self,
        path: String,
        record: &T,
        condition: Option<Condition>,
    ) -> Result<()> {
        self.run(ApiRequest::patch_record(path, record, condition)?)
            .await?;
        Ok(())
    }
}

/// Column and set names are plain identifiers; anything else could rewrite the URL.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "{what} name `{name}` may hold only letters, digits and `_`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_are_checked() {
        assert!(check_name("column", "name").is_ok());
        assert!(check_name("column", "_parentaccountid_value").is_ok());
        assert!(check_name("column", "name&$filter=x").is_err());
        assert!(check_name("column", "").is_err());
    }
}
