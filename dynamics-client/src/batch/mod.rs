//! `$batch`: many requests in one HTTP round trip. Requests outside change sets run one after
//! the other; a change set runs atomically, and its requests may refer to records created
//! earlier in it (`$1`). Each request added gives a typed [`Handle`] to read its own result
//! from the [`BatchResponse`], whatever order the service wrote them in.

mod bulk;
mod execute;
pub(crate) mod multipart;
mod response;

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::crud::{UpsertMode, check_name};
use crate::entity::Entity;
use crate::error::{BatchError, Error, Result};
use crate::odata;
use crate::page::{Page, PageBody};
use crate::request::{ApiRequest, record_path};
use crate::typed::Query;
use multipart::{WireReply, WireRequest};

pub use bulk::BulkOptions;
pub use response::BatchResponse;

/// Dataverse's limit on requests in one batch.
pub const MAX_BATCH_REQUESTS: usize = 1000;

/// A `$batch` being built. Add requests with its methods, group writes that must succeed or
/// fail together with [`change_set`](Self::change_set), then send it with
/// [`Client::execute_batch`](crate::Client::execute_batch).
///
/// ```no_run
/// # use dynamics_client::{Client, Entity, batch::Batch};
/// # async fn run<A: Entity + Default, C: Entity + Default>(client: &Client) -> dynamics_client::Result<()> {
/// let mut batch = Batch::new();
/// let mut changes = batch.change_set();
/// let account = changes.create(&A::default())?;
/// // The contact's `parentcustomerid_account` points at the account created just before.
/// let contact = changes.create_linked(&C::default(), &[("parentcustomerid_account", account.reference)])?;
/// let reply = client.execute_batch(&batch).await?;
/// let account_id = reply.get(account.id)?;
/// let contact_id = reply.get(contact.id)?;
/// # let _ = (account_id, contact_id);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    requests: Vec<Planned>,
    items: Vec<Group>,
    next_content_id: u32,
    continue_on_error: bool,
}

#[derive(Debug)]
struct Planned {
    wire: WireRequest,
    content_id: Option<u32>,
}

/// A top-level item: indexes into `requests`.
#[derive(Debug)]
enum Group {
    Single(usize),
    ChangeSet(Vec<usize>),
}

/// Where one request's result is in a [`BatchResponse`], and how to read it as `T`.
pub struct Handle<T> {
    index: usize,
    decode: fn(&WireReply, &str) -> Result<T>,
    marker: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// Position of the request in the batch, from 0, counting requests inside change sets.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Handle").field(&self.index).finish()
    }
}

/// A record created earlier in the same change set, referred to as `$<Content-ID>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    content_id: u32,
}

impl Reference {
    /// `$n`, as written in URLs and `@odata.bind` values.
    pub fn as_text(&self) -> String {
        format!("${}", self.content_id)
    }
}

/// A create inside a change set: the handle for its id, and the reference later requests of
/// the same change set use to point at it.
#[derive(Clone, Copy, Debug)]
pub struct Created {
    /// The new record's id, once the batch has run.
    pub id: Handle<Uuid>,
    /// `$n` for later requests of the same change set.
    pub reference: Reference,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps running the requests after one fails (`Prefer: odata.continue-on-error`);
    /// without it the service stops at the first failure.
    pub fn continue_on_error(&mut self, yes: bool) -> &mut Self {
        self.continue_on_error = yes;
        self
    }

    /// Number of requests, counting those inside change sets.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether no request was added.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Starts a change set: its requests run atomically, all or none.
    pub fn change_set(&mut self) -> ChangeSet<'_> {
        self.items.push(Group::ChangeSet(Vec::new()));
        ChangeSet { batch: self }
    }

    /// Creates a record; the handle gives its id.
    pub fn create<E: Entity>(&mut self, record: &E) -> Result<Handle<Uuid>> {
        let request = create_request(record, &[])?;
        self.single(request, created_id)
    }

    /// Reads the named columns of a record (all columns when `columns` is empty).
    pub fn retrieve<E: Entity>(&mut self, id: Uuid, columns: &[&str]) -> Result<Handle<E>> {
        let request = ApiRequest::read::<E>(record_path::<E>(id), columns)?;
        self.single(request, json_body::<E>)
    }

    /// The first page of a typed query.
    pub fn query<E: Entity>(&mut self, query: &Query<E>) -> Result<Handle<Page<E>>> {
        let text = query.to_query_string();
        let mut url = E::ENTITY_SET_NAME.to_owned();
        if !text.is_empty() {
            url.push('?');
            url.push_str(&text);
        }
        let request =
            ApiRequest::to_path(Method::GET, url, E::ENTITY_SET_NAME).prefer(query.prefer()?);
        self.single(request, page_body::<E>)
    }

    /// Updates an existing record with the fields set in `changes` (`If-Match: *`).
    pub fn update<E: Entity>(&mut self, id: Uuid, changes: &E) -> Result<Handle<()>> {
        let request = patch_request(record_path::<E>(id), changes, UpsertMode::UpdateOnly)?;
        self.single(request, no_body)
    }

    /// Creates or updates the record with this id, as `mode` allows.
    pub fn upsert<E: Entity>(
        &mut self,
        id: Uuid,
        record: &E,
        mode: UpsertMode,
    ) -> Result<Handle<()>> {
        let request = patch_request(record_path::<E>(id), record, mode)?;
        self.single(request, no_body)
    }

    /// Deletes a record.
    pub fn delete<E: Entity>(&mut self, id: Uuid) -> Result<Handle<()>> {
        let request = ApiRequest::delete::<E>(record_path::<E>(id));
        self.single(request, no_body)
    }

    /// Adds any request, untyped: a path under the Web API root (`WhoAmI()`,
    /// `accounts(<id>)/Microsoft.Dynamics.CRM.AddToQueue`, …) and an optional JSON body; the
    /// handle gives the JSON answer (`Null` when it has none). The path is sent as written, so
    /// encode the values in it yourself; whitespace and control characters are refused, as they
    /// would break the batch body.
    pub fn raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Handle<serde_json::Value>> {
        let request = raw_request(method, path, body)?;
        self.single(request, json_or_null)
    }

    pub(crate) fn single<T>(
        &mut self,
        request: ApiRequest,
        decode: fn(&WireReply, &str) -> Result<T>,
    ) -> Result<Handle<T>> {
        let index = self.push(request, None)?;
        self.items.push(Group::Single(index));
        Ok(handle(index, decode))
    }

    fn push(&mut self, request: ApiRequest, content_id: Option<u32>) -> Result<usize> {
        if self.requests.len() >= MAX_BATCH_REQUESTS {
            return Err(Error::invalid_input(format!(
                "a batch holds at most {MAX_BATCH_REQUESTS} requests"
            )));
        }
        let wire = request.to_batch_part()?;
        self.requests.push(Planned { wire, content_id });
        Ok(self.requests.len() - 1)
    }
}

/// The requests of one change set, added to the batch as they are made.
#[derive(Debug)]
pub struct ChangeSet<'b> {
    batch: &'b mut Batch,
}

impl ChangeSet<'_> {
    /// Creates a record; later requests of this change set can refer to it.
    pub fn create<E: Entity>(&mut self, record: &E) -> Result<Created> {
        self.create_linked(record, &[])
    }

    /// Creates a record whose lookups point at records created earlier in this change set:
    /// each `(navigation property, reference)` becomes `"<property>@odata.bind": "$n"`.
    pub fn create_linked<E: Entity>(
        &mut self,
        record: &E,
        links: &[(&str, Reference)],
    ) -> Result<Created> {
        let request = create_request(record, links)?;
        let (index, content_id) = self.push(request)?;
        Ok(Created {
            id: handle(index, created_id),
            reference: Reference { content_id },
        })
    }

    /// Updates a record by id (`If-Match: *`).
    pub fn update<E: Entity>(&mut self, id: Uuid, changes: &E) -> Result<Handle<()>> {
        let request = patch_request(record_path::<E>(id), changes, UpsertMode::UpdateOnly)?;
        Ok(handle(self.push(request)?.0, no_body))
    }

    /// Updates a record created earlier in this change set (`PATCH $n`).
    pub fn update_created<E: Entity>(
        &mut self,
        created: Reference,
        changes: &E,
    ) -> Result<Handle<()>> {
        let request = patch_request(created.as_text(), changes, UpsertMode::UpdateOnly)?;
        Ok(handle(self.push(request)?.0, no_body))
    }

    /// Creates or updates the record with this id, as `mode` allows.
    pub fn upsert<E: Entity>(
        &mut self,
        id: Uuid,
        record: &E,
        mode: UpsertMode,
    ) -> Result<Handle<()>> {
        let request = patch_request(record_path::<E>(id), record, mode)?;
        Ok(handle(self.push(request)?.0, no_body))
    }

    /// Deletes a record.
    pub fn delete<E: Entity>(&mut self, id: Uuid) -> Result<Handle<()>> {
        let request = ApiRequest::delete::<E>(record_path::<E>(id));
        Ok(handle(self.push(request)?.0, no_body))
    }

    /// Adds any write, untyped, as [`Batch::raw`] does; `$n` paths refer to records created
    /// earlier in this change set.
    pub fn raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Handle<serde_json::Value>> {
        let request = raw_request(method, path, body)?;
        Ok(handle(self.push(request)?.0, json_or_null))
    }

    fn push(&mut self, request: ApiRequest) -> Result<(usize, u32)> {
        self.batch.next_content_id += 1;
        let content_id = self.batch.next_content_id;
        let index = self.batch.push(request, Some(content_id))?;
        if let Some(Group::ChangeSet(members)) = self.batch.items.last_mut() {
            members.push(index);
        }
        Ok((index, content_id))
    }
}

/// An untyped request: see [`Batch::raw`].
fn raw_request(method: Method, path: &str, body: Option<&serde_json::Value>) -> Result<ApiRequest> {
    if path.is_empty()
        || path.starts_with('/')
        || path.contains("://")
        || path.split(['/', '?']).any(|s| s == "..")
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid_input(format!(
            "`{path}` is not a path under the Web API root"
        )));
    }
    let request = ApiRequest::to_path(method, path, "");
    match body {
        Some(body) => request.json(body),
        None => Ok(request),
    }
}

fn handle<T>(index: usize, decode: fn(&WireReply, &str) -> Result<T>) -> Handle<T> {
    Handle {
        index,
        decode,
        marker: PhantomData,
    }
}

fn create_request<E: Entity>(record: &E, links: &[(&str, Reference)]) -> Result<ApiRequest> {
    let mut binds = Vec::with_capacity(links.len());
    for (navigation, reference) in links {
        check_name("navigation property", navigation)?;
        binds.push((format!("{navigation}@odata.bind"), reference.as_text()));
    }
    ApiRequest::post_record(record, &binds)
}

fn patch_request<E: Entity>(path: String, record: &E, mode: UpsertMode) -> Result<ApiRequest> {
    ApiRequest::patch_record(path, record, mode.condition())
}

fn created_id(reply: &WireReply, what: &str) -> Result<Uuid> {
    reply
        .header(odata::ODATA_ENTITY_ID)
        .or_else(|| reply.header("Location"))
        .and_then(odata::entity_id_from_url)
        .ok_or_else(|| {
            BatchError::Mismatch(format!(
                "the reply to {what} (HTTP {}) has no readable OData-EntityId",
                reply.status
            ))
            .into()
        })
}

fn json_body<T: DeserializeOwned>(reply: &WireReply, what: &str) -> Result<T> {
    Error::decode_json(what, reply.body.as_bytes())
}

fn page_body<E: Entity>(reply: &WireReply, what: &str) -> Result<Page<E>> {
    let body: PageBody<E> = Error::decode_json(what, reply.body.as_bytes())?;
    Ok(body.into_page(None))
}

fn json_or_null(reply: &WireReply, what: &str) -> Result<serde_json::Value> {
    Error::decode_json_or_null(what, reply.body.as_bytes())
}

pub(crate) fn no_body(_: &WireReply, _: &str) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// The record the batch tests (here and in `response.rs`) build requests of.
    #[derive(Serialize, Deserialize, Default)]
    pub(super) struct Account {
        #[serde(rename = "accountid", skip_serializing_if = "Option::is_none")]
        id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    }

    impl Entity for Account {
        const LOGICAL_NAME: &'static str = "account";
        const ENTITY_SET_NAME: &'static str = "accounts";
        const PRIMARY_KEY: &'static str = "accountid";
        fn id(&self) -> Option<Uuid> {
            self.id
        }
    }

    #[test]
    fn batch_size_and_names_are_checked() {
        let mut batch = Batch::new();
        for _ in 0..MAX_BATCH_REQUESTS {
            batch.delete::<Account>(Uuid::nil()).unwrap();
        }
        assert!(batch.delete::<Account>(Uuid::nil()).is_err());
        let mut batch = Batch::new();
        assert!(batch.retrieve::<Account>(Uuid::nil(), &["name&x"]).is_err());
        for bad in ["", "/accounts", "http://x/y", "../x", "a b", "a\r\nX: y"] {
            assert!(batch.raw(Method::GET, bad, None).is_err(), "{bad:?}");
        }
        assert!(batch.raw(Method::HEAD, "WhoAmI()", None).is_err());
        assert!(batch.raw(Method::GET, "WhoAmI()", None).is_ok());
        let mut cs = batch.change_set();
        let a = cs.create(&Account::default()).unwrap();
        assert!(
            cs.create_linked(&Account::default(), &[("a/b", a.reference)])
                .is_err()
        );
    }
}
