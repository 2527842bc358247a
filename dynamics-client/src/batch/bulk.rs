//! Bulk writes: any number of records, split into batches, sent a few at a time, every result
//! returned at its input's position, and only throttled requests sent again. Creates go out as
//! create-only upserts under client-generated ids, so a batch may be sent again safely (see
//! [`exactly_once`](crate::exactly_once)).

use futures::stream::{self, StreamExt as _};
use uuid::Uuid;

use super::{Batch, Handle, MAX_BATCH_REQUESTS};
use crate::client::Client;
use crate::crud::UpsertMode;
use crate::entity::Entity;
use crate::error::{BatchError, Error, Result};

/// How bulk operations split and send their work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkOptions {
    /// Requests per batch, 1 to 1,000. Default 1,000. Smaller batches finish sooner and
    /// spread better over the concurrent slots; Microsoft suggests trying sizes from 10 up.
    pub batch_size: usize,
    /// Batches in flight at once. Default 4. Each batch is one request against the client's
    /// `max_concurrent_requests`.
    pub concurrency: usize,
    /// How many times the requests of a batch that the service throttled are sent again
    /// (after the `Retry-After` the service asked for). Default 5.
    pub throttle_retries: u32,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            batch_size: MAX_BATCH_REQUESTS,
            concurrency: 4,
            throttle_retries: 5,
        }
    }
}

impl BulkOptions {
    /// Sets the batch size.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Sets the number of batches in flight.
    pub fn concurrency(mut self, batches: usize) -> Self {
        self.concurrency = batches;
        self
    }

    /// Sets how often throttled requests are sent again.
    pub fn throttle_retries(mut self, retries: u32) -> Self {
        self.throttle_retries = retries;
        self
    }

    fn check(&self) -> Result<()> {
        if !(1..=MAX_BATCH_REQUESTS).contains(&self.batch_size) {
            return Err(Error::invalid_input(format!(
                "batch size {} is outside 1..={MAX_BATCH_REQUESTS}",
                self.batch_size
            )));
        }
        if self.concurrency == 0 {
            return Err(Error::invalid_input("bulk concurrency must be at least 1"));
        }
        Ok(())
    }
}

impl Client {
    /// Creates every record exactly once; result `i` is the id of record `i`, or why it failed.
    ///
    /// Records are sent in batches (each request on its own, with continue-on-error), so one
    /// bad record does not stop the others. Each record is created under its own id, or under
    /// a new random (v4) id chosen here when it has none, with a create-only upsert (`PATCH`
    /// with `If-None-Match: *`). A batch whose answer was lost (a 5xx, a timeout, a dropped
    /// connection) is therefore sent again without creating anything twice; a 412 on such a
    /// resend means the earlier try created the record, which is checked and reported as
    /// success. A 412 on the first try is [`Error::ConcurrencyConflict`]: a record with that id
    /// already existed. See [`exactly_once`](crate::exactly_once).
    pub async fn bulk_create<E, I>(
        &self,
        records: I,
        options: &BulkOptions,
    ) -> Result<Vec<Result<Uuid>>>
    where
        E: Entity,
        I: IntoIterator<Item = E>,
    {
        let keyed = records
            .into_iter()
            .map(|record| (record.id().unwrap_or_else(Uuid::new_v4), record));
        self.bulk_create_only(keyed, options).await
    }

    /// Creates every `(id, record)` with a create-only upsert; result `i` is `Ok(id)` or why
    /// record `i` was not created. A 412 to a request whose batch may have landed before (its
    /// answer was lost, then it was sent again) is checked by reading the record back: when it
    /// is there, that earlier try created it.
    async fn bulk_create_only<E, I>(
        &self,
        records: I,
        options: &BulkOptions,
    ) -> Result<Vec<Result<Uuid>>>
    where
        E: Entity,
        I: IntoIterator<Item = (Uuid, E)>,
    {
        // Only the ids are kept here: the records are read a chunk at a time, as they are sent.
        let mut ids: Vec<Option<Uuid>> = Vec::new();
        let keyed = records.into_iter().inspect(|(id, _)| ids.push(Some(*id)));
        let sent = self
            .bulk_sent(keyed, options, |batch, (id, record): &(Uuid, E)| {
                batch.upsert(*id, record, UpsertMode::CreateOnly)
            })
            .await?;
        let settled = self
            .settle_creates(E::ENTITY_SET_NAME, Some(E::PRIMARY_KEY), sent, &ids)
            .await;
        Ok(settled
            .into_iter()
            .zip(ids)
            .map(|(result, id)| result.map(|()| id.expect("every create has an id")))
            .collect())
    }

    /// The results of writes, where a 412 to a create-only write by id whose batch may have
    /// landed before (its answer was lost, then it was sent again) is checked by reading the
    /// record back: when it is there, that earlier try created it. `ids[i]` is the id write `i`
    /// creates under, `None` for a write that is not a create-only write by id (its 412 stays
    /// a conflict). See [`exactly_once`](crate::exactly_once).
    pub(crate) async fn settle_creates(
        &self,
        entity_set: &str,
        primary_key: Option<&str>,
        sent: Vec<Sent<()>>,
        ids: &[Option<Uuid>],
    ) -> Vec<Result<()>> {
        let uncertain: Vec<(usize, Uuid)> = sent
            .iter()
            .zip(ids)
            .enumerate()
            .filter(|(_, (s, _))| {
                s.maybe_landed && matches!(s.result, Err(Error::ConcurrencyConflict(_)))
            })
            .filter_map(|(i, (_, id))| Some((i, (*id)?)))
            .collect();
        let mut results: Vec<Result<()>> = sent.into_iter().map(|s| s.result).collect();
        for checked in uncertain.chunks(MAX_BATCH_REQUESTS) {
            let ids: Vec<Uuid> = checked.iter().map(|(_, id)| *id).collect();
            match self.confirm_created_in(entity_set, primary_key, &ids).await {
                Ok(found) => {
                    for (&(i, _), exists) in checked.iter().zip(found) {
                        if exists {
                            results[i] = Ok(());
                        }
                    }
                }
                Err(e) => {
                    let message = format!(
                        "the record may have been created by an earlier try, but checking failed: {e}"
                    );
                    for &(i, _) in checked {
                        results[i] = Err(BatchError::Failed(message.clone()).into());
                    }
                }
            }
        }
        results
    }

    /// Updates every `(id, changes)`; result `i` says how update `i` went.
    pub async fn bulk_update<E, I>(
        &self,
        changes: I,
        options: &BulkOptions,
    ) -> Result<Vec<Result<()>>>
    where
        E: Entity,
        I: IntoIterator<Item = (Uuid, E)>,
    {
        self.bulk(changes, options, |batch, (id, record): &(Uuid, E)| {
            batch.update(*id, record)
        })
        .await
    }

    /// Upserts every `(id, record)` as `mode` allows; result `i` says how upsert `i` went.
    ///
    /// With [`UpsertMode::CreateOnly`] the records are created as
    /// [`bulk_create`](Self::bulk_create) creates them: a 412 to a resend of a batch whose
    /// answer was lost is checked, and is `Ok` when the earlier try created the record. See
    /// [`exactly_once`](crate::exactly_once).
    pub async fn bulk_upsert<E, I>(
        &self,
        records: I,
        mode: UpsertMode,
        options: &BulkOptions,
    ) -> Result<Vec<Result<()>>>
    where
        E: Entity,
        I: IntoIterator<Item = (Uuid, E)>,
    {
        if mode == UpsertMode::CreateOnly {
            let created = self.bulk_create_only(records, options).await?;
            return Ok(created.into_iter().map(|r| r.map(|_| ())).collect());
        }
        self.bulk(records, options, move |batch, (id, record): &(Uuid, E)| {
            batch.upsert(*id, record, mode)
        })
        .await
    }

    /// Deletes every record of `E` with these ids; result `i` says how delete `i` went.
    ///
    /// A delete is safe to send again. When a try of it may have landed (its answer was lost)
    /// and the next try finds no record, the result is `Ok`: the record is gone, which is what
    /// was asked, and most likely that earlier try removed it. A 404 on a first try stays
    /// [`Error::NotFound`].
    pub async fn bulk_delete<E, I>(&self, ids: I, options: &BulkOptions) -> Result<Vec<Result<()>>>
    where
        E: Entity,
        I: IntoIterator<Item = Uuid>,
    {
        let sent = self
            .bulk_sent(ids, options, |batch, id: &Uuid| batch.delete::<E>(*id))
            .await?;
        Ok(sent
            .into_iter()
            .map(|s| match s.result {
                Err(Error::NotFound(_)) if s.maybe_landed => Ok(()),
                result => result,
            })
            .collect())
    }

    /// Runs `add` for every item in batches of `options.batch_size`, `options.concurrency`
    /// batches at a time, and returns the results in input order.
    pub(crate) async fn bulk<T, Out, I, F>(
        &self,
        items: I,
        options: &BulkOptions,
        add: F,
    ) -> Result<Vec<Result<Out>>>
    where
        I: IntoIterator<Item = T>,
        F: Fn(&mut Batch, &T) -> Result<Handle<Out>>,
    {
        let sent = self.bulk_sent(items, options, add).await?;
        Ok(sent.into_iter().map(|s| s.result).collect())
    }

    /// [`bulk`](Self::bulk), also telling for each item whether a try that may have taken
    /// effect came before its result.
    pub(crate) async fn bulk_sent<T, Out, I, F>(
        &self,
        items: I,
        options: &BulkOptions,
        add: F,
    ) -> Result<Vec<Sent<Out>>>
    where
        I: IntoIterator<Item = T>,
        F: Fn(&mut Batch, &T) -> Result<Handle<Out>>,
    {
        options.check()?;
        let mut items = items.into_iter().enumerate().peekable();
        let chunks = std::iter::from_fn(|| {
            items.peek()?;
            Some(items.by_ref().take(options.batch_size).collect::<Vec<_>>())
        });
        let add = &add;
        let mut results: Vec<Option<Sent<Out>>> = Vec::new();
        let mut done = stream::iter(chunks)
            .map(|chunk| self.bulk_chunk(chunk, options, add))
            .buffer_unordered(options.concurrency);
        while let Some(chunk) = done.next().await {
            for (index, result) in chunk {
                if results.len() <= index {
                    results.resize_with(index + 1, || None);
                }
                results[index] = Some(result);
            }
        }
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| Sent {
                    result: Err(BatchError::NotRun {
                        request: i,
                        reason: "no result was recorded for it".to_owned(),
                    }
                    .into()),
                    maybe_landed: false,
                })
            })
            .collect())
    }

    /// One batch of a bulk operation, throttled requests sent again in a smaller batch.
    async fn bulk_chunk<T, Out, F>(
        &self,
        chunk: Vec<(usize, T)>,
        options: &BulkOptions,
        add: &F,
    ) -> Vec<(usize, Sent<Out>)>
    where
        F: Fn(&mut Batch, &T) -> Result<Handle<Out>>,
    {
        let mut results = Vec::with_capacity(chunk.len());
        let mut pending = chunk;
        // Whether an earlier try of the pending requests may have taken effect (a batch whose
        // answer was lost, then sent again). The same for all of them: each round sends them all.
        let mut landed = false;
        let mut round = 0u32;
        while !pending.is_empty() {
            let mut batch = Batch::new();
            batch.continue_on_error(true);
            let mut sent: Vec<(usize, T, Handle<Out>)> = Vec::with_capacity(pending.len());
            for (index, item) in pending.drain(..) {
                match add(&mut batch, &item) {
                    Ok(handle) => sent.push((index, item, handle)),
                    Err(e) => results.push((index, Sent::new(Err(e), landed))),
                }
            }
            if sent.is_empty() {
                break;
            }
            let (response, unknown) = match self.execute_batch_tracked(&batch).await {
                Ok(answered) => answered,
                Err(e) => {
                    let message = e.to_string();
                    results.extend(sent.into_iter().map(|(i, _, _)| {
                        let failed = Err(BatchError::Failed(message.clone()).into());
                        (i, Sent::new(failed, landed))
                    }));
                    break;
                }
            };
            landed |= unknown;
            let retry = round < options.throttle_retries;
            for (index, item, handle) in sent {
                match response.get(handle) {
                    Err(Error::Throttled(_)) if retry => pending.push((index, item)),
                    result => results.push((index, Sent::new(result, landed))),
                }
            }
            // The batch's answer already closed the throttle gate for the longest wait it asked
            // for (`execute_batch_tracked`): the next round waits like every other request.
            if !pending.is_empty() {
                tracing::debug!(
                    requests = pending.len(),
                    "sending throttled batch requests again"
                );
            }
            round += 1;
        }
        results
    }
}

/// One item's result, and whether a try of it that may have taken effect (a batch whose answer
/// was lost, then sent again) came before that result.
pub(crate) struct Sent<Out> {
    pub(crate) result: Result<Out>,
    pub(crate) maybe_landed: bool,
}

impl<Out> Sent<Out> {
    fn new(result: Result<Out>, maybe_landed: bool) -> Self {
        Self {
            result,
            maybe_landed,
        }
    }
}
