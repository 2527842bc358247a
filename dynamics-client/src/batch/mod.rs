//! `$batch`: many requests in one HTTP round trip. Requests outside change sets run one after
//! the other; a change set runs atomically, and its requests may refer to records created
//! earlier in it (`$1`). Each request added gives a typed [`Handle`] to read its own result
//! from the [`BatchResponse`], whatever order the service wrote them in.

mod bulk;
pub(crate) mod multipart;

use std::marker::PhantomData;
use std::time::SystemTime;

use reqwest::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::client::{Client, status_error};
use crate::crud::{UpsertMode, check_name};
use crate::entity::Entity;
use crate::error::{BatchError, Error, Result, ThrottledError};
use crate::odata;
use crate::page::{Page, PageBody};
use crate::request::{ApiRequest, Body, Prefer, RetryClass, record_path};
use crate::typed::Query;
use multipart::{ReplyItem, WireItem, WireReply, WireRequest};

pub use bulk::BulkOptions;

/// Dataverse's limit on requests in one batch.
pub const MAX_BATCH_REQUESTS: usize = 1000;

/// A `$batch` being built. Add requests with its methods, group writes that must succeed or
/// fail together with [`change_set`](Self::change_set), then send it with
/// [`Client::execute_batch`].
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

/// The answers to a batch, one per request, read with the request's [`Handle`].
#[derive(Debug)]
pub struct BatchResponse {
    replies: Vec<Outcome>,
    descriptions: Vec<String>,
    /// When the reply arrived, on the client's clock: a `Retry-After` date inside it counts
    /// from here, as the pipeline counts one on an answer of its own.
    received: SystemTime,
}

#[derive(Debug)]
enum Outcome {
    Replied(WireReply),
    NotRun(String),
    /// Rolled back with its change set, because the request at this index failed.
    RolledBack(usize),
}

impl BatchResponse {
    /// The result of one request: its value, or the error the service answered it with
    /// ([`Error::NotFound`], [`Error::ConcurrencyConflict`], [`Error::Throttled`],
    /// [`Error::Api`]), or [`BatchError::NotRun`] when the service did not run it, or
    /// [`BatchError::RolledBack`] when another request of its change set failed.
    pub fn get<T>(&self, handle: Handle<T>) -> Result<T> {
        let what = self
            .descriptions
            .get(handle.index)
            .map_or("request", String::as_str);
        let reply = self.reply(handle.index)?;
        (handle.decode)(reply, what)
    }

    /// HTTP status of each request's answer, in request order; `None` where the service did
    /// not run the request.
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.replies
            .iter()
            .map(|o| match o {
                Outcome::Replied(r) => Some(r.status),
                Outcome::NotRun(_) | Outcome::RolledBack(_) => None,
            })
            .collect()
    }

    /// The raw JSON body of a request's answer (empty for `204 No Content`), or its error.
    pub fn body(&self, index: usize) -> Result<&str> {
        self.reply(index).map(|r| r.body.as_str())
    }

    /// Number of requests answered for (the batch's length).
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether the batch had no request.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Whether every request was run and succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.replies
            .iter()
            .all(|o| matches!(o, Outcome::Replied(r) if (200..300).contains(&r.status)))
    }

    /// The successful reply of request `index`, or its error.
    fn reply(&self, index: usize) -> Result<&WireReply> {
        match self.replies.get(index) {
            None => Err(Error::invalid_input(format!(
                "request {index} is not part of this batch of {}",
                self.replies.len()
            ))),
            Some(Outcome::NotRun(reason)) => Err(BatchError::NotRun {
                request: index,
                reason: reason.clone(),
            }
            .into()),
            Some(&Outcome::RolledBack(failed)) => Err(BatchError::RolledBack {
                request: index,
                failed,
            }
            .into()),
            Some(Outcome::Replied(reply)) if (200..300).contains(&reply.status) => Ok(reply),
            Some(Outcome::Replied(reply)) => Err(reply_error(reply, self.received)),
        }
    }

    /// The throttling answer to request `index`, when service protection refused it (so it
    /// may be sent again).
    pub(crate) fn throttled(&self, index: usize) -> Option<ThrottledError> {
        match self.replies.get(index)? {
            Outcome::Replied(reply) if !(200..300).contains(&reply.status) => {
                match reply_error(reply, self.received) {
                    Error::Throttled(t) => Some(*t),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The typed error of an error reply inside a batch: its body is parsed once, its request id
/// and `Retry-After` read as the pipeline reads them from a response (a date against
/// `received`, the client clock's time when the batch's answer arrived).
fn reply_error(reply: &WireReply, received: SystemTime) -> Error {
    let mut api = odata::parse_api_error(reply.status, &Default::default(), reply.body.as_bytes());
    api.request_id = odata::REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| reply.header(name))
        .map(str::to_owned);
    let limit = odata::throttle_limit(&api.code);
    if reply.status == 429 || limit.is_some() {
        let retry_after = reply
            .header("Retry-After")
            .and_then(|v| crate::retry::parse_retry_after(v, received));
        return ThrottledError {
            status: reply.status,
            attempts: 1,
            waited: std::time::Duration::ZERO,
            retry_after,
            limit,
            last: api,
        }
        .into();
    }
    status_error(api)
}

impl Client {
    /// Sends a batch and reads its reply, one answer per request in request order.
    ///
    /// A request that failed is an error only when its own result is read: the batch as a
    /// whole succeeds when the service answered it. The service protection limits count a
    /// batch's requests one by one; a throttled batch is retried as any request is.
    pub async fn execute_batch(&self, batch: &Batch) -> Result<BatchResponse> {
        Ok(self.execute_batch_tracked(batch).await?.0)
    }

    /// [`execute_batch`](Self::execute_batch), also telling whether an earlier try of the
    /// batch may have taken effect before the one answered (its answer was lost).
    pub(crate) async fn execute_batch_tracked(
        &self,
        batch: &Batch,
    ) -> Result<(BatchResponse, bool)> {
        if batch.is_empty() {
            return Err(Error::invalid_input("a batch needs at least one request"));
        }
        let root = self.web_api_url().path().to_owned();
        let items: Vec<WireItem<'_>> = batch
            .items
            .iter()
            .filter_map(|group| match group {
                Group::Single(i) => Some(WireItem::Single(&batch.requests[*i].wire)),
                Group::ChangeSet(members) if members.is_empty() => None,
                Group::ChangeSet(members) => Some(WireItem::ChangeSet(
                    members
                        .iter()
                        .map(|i| {
                            let planned = &batch.requests[*i];
                            (planned.content_id.unwrap_or(0), &planned.wire)
                        })
                        .collect(),
                )),
            })
            .collect();
        let suffix = Uuid::new_v4().simple().to_string();
        let boundary = format!("batch_{suffix}");
        let body = multipart::write(&items, &root, &boundary, &suffix);

        let mut request = ApiRequest::to_path(Method::POST, "$batch", "$batch")
            .prefer(Prefer::default().continue_on_error(batch.continue_on_error));
        request.body = Some(Body::Other {
            bytes: body,
            content_type: format!("{}; boundary={boundary}", multipart::MULTIPART_MIXED),
        });
        // Creates without a chosen id must not run twice; reads, updates and deletes may.
        if batch.requests.iter().any(|p| p.wire.method == "POST") {
            request.retry = RetryClass::NonIdempotent;
        }
        let response = self.run(request).await?;
        let received = self.now();
        let content_type = response
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let reply_boundary = multipart::boundary(content_type).ok_or_else(|| {
            BatchError::Malformed {
                line: 0,
                message: format!(
                    "the reply's Content-Type `{content_type}` is not multipart/mixed with a boundary"
                ),
            }
        })?;
        let text = std::str::from_utf8(&response.body).map_err(|e| BatchError::Malformed {
            line: 0,
            message: format!("the reply body is not UTF-8: {e}"),
        })?;
        let replies =
            multipart::parse(text, &reply_boundary, batch.requests.len()).map_err(|m| {
                BatchError::Malformed {
                    line: m.line,
                    message: m.message,
                }
            })?;
        let replies = match_replies(batch, replies)?;
        let descriptions = batch
            .requests
            .iter()
            .enumerate()
            .map(|(i, p)| format!("batch request {i} ({} {})", p.wire.method, p.wire.url))
            .collect();
        let reply = BatchResponse {
            replies,
            descriptions,
            received,
        };
        self.hold_back_for_throttled(&reply, response.identity);
        Ok((reply, response.earlier_attempt_unknown))
    }

    /// Closes the throttle gate for the longest wait among a batch's throttled requests: the
    /// service protection limits count a batch's requests one by one, and anything this client
    /// sends before that time extends the penalty, whether or not the caller sends those
    /// requests again. Unlike a throttled request on its own, which closes the gate before its
    /// concurrency slot is freed, this runs once the reply is parsed: a request already waiting
    /// for a slot may go out in between.
    fn hold_back_for_throttled(&self, reply: &BatchResponse, identity: usize) {
        let longest = (0..reply.replies.len())
            .filter_map(|i| reply.throttled(i))
            .map(|t| {
                (
                    t.retry_after.unwrap_or(self.retry_policy().initial_delay),
                    t,
                )
            })
            .max_by_key(|(wait, _)| *wait);
        if let Some((wait, throttled)) = longest {
            tracing::debug!(
                delay_ms = wait.as_millis() as u64,
                "requests of a batch were throttled; holding back"
            );
            self.hold_back(identity, wait, &throttled.last, throttled.limit);
        }
    }
}

/// Lines the reply items up with the request items; what has no reply was not run.
fn match_replies(batch: &Batch, replies: Vec<ReplyItem>) -> Result<Vec<Outcome>> {
    let groups: Vec<&Group> = batch
        .items
        .iter()
        .filter(|g| !matches!(g, Group::ChangeSet(m) if m.is_empty()))
        .collect();
    if replies.len() > groups.len() {
        return Err(BatchError::Mismatch(format!(
            "{} replies for {} requests and change sets",
            replies.len(),
            groups.len()
        ))
        .into());
    }
    let mut outcomes: Vec<Option<Outcome>> = (0..batch.requests.len()).map(|_| None).collect();
    let mut replies = replies.into_iter();
    for group in groups {
        let Some(reply) = replies.next() else { break };
        match (group, reply) {
            (Group::Single(i), ReplyItem::Single(reply)) => {
                outcomes[*i] = Some(Outcome::Replied(reply));
            }
            (Group::Single(i), ReplyItem::ChangeSet(_)) => {
                return Err(BatchError::Mismatch(format!(
                    "request {i} was sent alone but answered as a change set"
                ))
                .into());
            }
            (Group::ChangeSet(members), ReplyItem::ChangeSet(parts)) => {
                // A failed change set is answered by a change set holding the failing
                // response alone, with that request's Content-ID; the others were rolled back
                // and get no reply. ASP.NET OData, which Dataverse's $batch is:
                // https://github.com/OData/WebApi/blob/master/src/Microsoft.AspNetCore.OData/Batch/ChangeSetRequestItem.cs
                // and a real reply: https://github.com/MicrosoftDocs/powerapps-docs/issues/2843
                let lone_failure =
                    matches!(parts.as_slice(), [part] if !(200..300).contains(&part.status));
                if lone_failure && members.len() > 1 {
                    if let Some(failure) = parts.into_iter().next() {
                        roll_back(batch, members, failure, &mut outcomes);
                    }
                    continue;
                }
                if parts.len() != members.len() {
                    return Err(BatchError::Mismatch(format!(
                        "a change set of {} requests was answered with {} replies",
                        members.len(),
                        parts.len()
                    ))
                    .into());
                }
                for (position, part) in parts.into_iter().enumerate() {
                    // By Content-ID where echoed, else by position.
                    let index = part
                        .content_id
                        .as_deref()
                        .and_then(|id| member_with_content_id(batch, members, id))
                        .unwrap_or(members[position]);
                    outcomes[index] = Some(Outcome::Replied(part));
                }
            }
            // The OData 4.0 form of the same answer: the failing response alone, outside any
            // change set (OData 4.0 Protocol, 11.7.7.5).
            (Group::ChangeSet(members), ReplyItem::Single(failure)) => {
                roll_back(batch, members, failure, &mut outcomes);
            }
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Outcome::NotRun(
                    "the batch stopped at an earlier failure (send it with continue_on_error to run the rest)".to_owned(),
                )
            })
        })
        .collect())
}

/// Records a failed change set: the failing member (found by Content-ID, else the first) gets
/// the service's answer, every other member is rolled back.
fn roll_back(
    batch: &Batch,
    members: &[usize],
    failure: WireReply,
    outcomes: &mut [Option<Outcome>],
) {
    let Some(&first) = members.first() else {
        return;
    };
    let failed = failure
        .content_id
        .as_deref()
        .and_then(|id| member_with_content_id(batch, members, id))
        .unwrap_or(first);
    for &index in members {
        outcomes[index] = Some(Outcome::RolledBack(failed));
    }
    outcomes[failed] = Some(Outcome::Replied(failure));
}

fn member_with_content_id(batch: &Batch, members: &[usize], id: &str) -> Option<usize> {
    let id: u32 = id.trim().parse().ok()?;
    members
        .iter()
        .copied()
        .find(|&i| batch.requests[i].content_id == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Default)]
    struct Account {
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

    fn reply(status: u16, content_id: Option<&str>) -> WireReply {
        WireReply {
            content_id: content_id.map(str::to_owned),
            status,
            headers: vec![(
                "OData-EntityId".into(),
                "https://org/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000007)".into(),
            )],
            body: if status >= 400 {
                r#"{"error":{"code":"0x80044331","message":"too long"}}"#.into()
            } else {
                String::new()
            },
        }
    }

    fn two_groups() -> (Batch, Created, Created, Handle<()>) {
        let mut batch = Batch::new();
        let (a, b) = {
            let mut cs = batch.change_set();
            let a = cs.create(&Account::default()).unwrap();
            let b = cs
                .create_linked(&Account::default(), &[("parentaccountid", a.reference)])
                .unwrap();
            (a, b)
        };
        let d = batch.delete::<Account>(Uuid::nil()).unwrap();
        (batch, a, b, d)
    }

    #[test]
    fn replies_are_matched_by_content_id() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![
            ReplyItem::ChangeSet(vec![reply(204, Some("2")), reply(204, Some("1"))]),
            ReplyItem::Single(reply(404, None)),
        ];
        let outcomes = match_replies(&batch, replies).unwrap();
        let response = BatchResponse {
            replies: outcomes,
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(response.get(a.id).unwrap(), Uuid::from_u128(7));
        assert_eq!(response.get(b.id).unwrap(), Uuid::from_u128(7));
        assert!(matches!(response.get(d), Err(Error::NotFound(_))));
        assert_eq!(response.statuses(), [Some(204), Some(204), Some(404)]);
        assert!(!response.all_succeeded());
    }

    #[test]
    fn a_failed_change_set_rolls_back_and_stops_the_batch() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![ReplyItem::Single(reply(400, Some("2")))];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        let err = response.get(a.id).unwrap_err();
        assert!(
            matches!(&err, Error::Batch(e) if **e == BatchError::RolledBack { request: 0, failed: 1 }),
            "{err:?}"
        );
        let err = response.get(b.id).unwrap_err();
        assert!(
            matches!(&err, Error::Api(api) if api.code == "0x80044331"),
            "{err:?}"
        );
        let err = response.get(d).unwrap_err();
        assert!(
            err.to_string().contains("stopped at an earlier failure"),
            "{err}"
        );
    }

    /// Dataverse's shape: a change set reply holding the failing response alone, with its
    /// Content-ID (ASP.NET OData `ChangeSetRequestItem`).
    #[test]
    fn a_failed_change_set_answered_as_a_nested_change_set() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![
            ReplyItem::ChangeSet(vec![reply(400, Some("2"))]),
            ReplyItem::Single(reply(204, None)),
        ];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        let err = response.get(b.id).unwrap_err();
        assert!(
            matches!(&err, Error::Api(api) if api.code == "0x80044331" && api.status == 400),
            "the failing handle has the service's error: {err:?}"
        );
        let err = response.get(a.id).unwrap_err();
        assert!(
            matches!(&err, Error::Batch(e) if **e == BatchError::RolledBack { request: 0, failed: 1 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("rolled back"), "{err}");
        // The rest of the batch is read as usual.
        assert!(response.get(d).is_ok());
        assert_eq!(response.statuses(), [None, Some(400), Some(204)]);
        // Without a Content-ID the failure is pinned on the first member.
        let (batch, a, b, _) = two_groups();
        let replies = vec![ReplyItem::ChangeSet(vec![reply(404, None)])];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        assert!(matches!(response.get(a.id), Err(Error::NotFound(_))));
        assert!(matches!(
            response.get(b.id),
            Err(Error::Batch(e)) if *e == BatchError::RolledBack { request: 1, failed: 0 }
        ));
        // One successful reply for a change set of two is still a mismatch.
        let (batch, ..) = two_groups();
        let short = vec![ReplyItem::ChangeSet(vec![reply(204, Some("1"))])];
        assert!(match_replies(&batch, short).is_err());
    }

    #[test]
    fn mismatched_replies_are_errors() {
        let (batch, ..) = two_groups();
        let too_many = vec![
            ReplyItem::Single(reply(204, None)),
            ReplyItem::Single(reply(204, None)),
            ReplyItem::Single(reply(204, None)),
        ];
        assert!(matches!(
            match_replies(&batch, too_many),
            Err(Error::Batch(e)) if matches!(*e, BatchError::Mismatch(_))
        ));
        let short = vec![ReplyItem::ChangeSet(vec![reply(204, Some("1"))])];
        assert!(match_replies(&batch, short).is_err());
        let swapped = vec![
            ReplyItem::ChangeSet(vec![reply(204, Some("1")), reply(204, Some("2"))]),
            ReplyItem::ChangeSet(vec![reply(204, None)]),
        ];
        assert!(match_replies(&batch, swapped).is_err());
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
