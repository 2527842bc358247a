//! A streaming bulk engine: records in from any iterator or `Stream`, `(input index, Result)`
//! out as they finish, at the pace service protection allows.
//!
//! **Memory** is bounded by the chunks in flight: each identity has at most its concurrency of
//! chunks out, each at most its chunk size, and one finished chunk's results wait to be read.
//! Nothing of the input is read ahead beyond that.
//!
//! **Pace**, per identity (one [`Client`] each, with its own throttle gate), following
//! Microsoft Learn, "Service protection API limits"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>: "gradually
//! increase the rate you send requests until you begin to hit limits and then depend on the
//! `Retry-After` value") and "Send parallel requests"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/send-parallel-requests>:
//! start from `x-ms-dop-hint`):
//!
//! * concurrency starts at the identity's `x-ms-dop-hint` (read with a `WhoAmI` when no answer
//!   has carried it yet) and grows by one for each chunk that comes back unthrottled and about
//!   as fast per record as the fastest so far;
//! * a `429` is waited out by the client itself (`Retry-After`, shared by every request of the
//!   identity); the engine then backs off, once per round trip (chunks already out when it
//!   backed off do not back off again), by the limit that answered: the **request count**
//!   limit doubles the chunk size (fewer, larger requests), the **execution time** limit halves
//!   the chunk size and cuts concurrency by a quarter ("reduce the batch size", "Decrease
//!   number of concurrent requests"), the **concurrency** limit cuts concurrency below what was
//!   in flight and keeps it under that from then on;
//! * never more than 52 chunks (requests) in flight per identity, Dataverse's concurrency limit.
//!
//! A chunk whose requests stay throttled past the client's retry budget is sent again, up to
//! [`EngineOptions::chunk_retries`] times; creates carry client-chosen ids, so resending never
//! creates a record twice. A bulk message that fails as a whole (a standard table rolls every
//! record back on one bad record) is sent again as `$batch`, so that only the bad records fail,
//! as "Use bulk operation messages" advises
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>).
//!
//! **Several identities**: give the engine a client that is a pool of identities (apps or
//! users, [`ClientBuilder::credentials`](crate::ClientBuilder::credentials),
//! [`Client::from_connections`]). The engine runs one lane per identity of the pool: each chunk
//! goes to the identity with the most room, and each identity is paced by its own limits, with
//! at most 52 chunks in flight. An identity that service protection holds back gets no new
//! chunk while another can take it (its `Retry-After` may last minutes), and the identities'
//! `x-ms-dop-hint`s are read at once, a throttled one answering without being waited out. There
//! is one identity pool, the client's; the engine only paces it.
//!
//! **What it writes**: typed records ([`create`](BulkEngine::create) and the others, the bulk
//! messages `Entity::BULK_MESSAGES` names), or JSON records of a table named at run time
//! ([`write_json`](BulkEngine::write_json), the messages the table was told of with
//! [`Table::with_bulk_messages`]). Both are the same engine over an internal "chunk of writes"
//! trait: only how a chunk is sent differs.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, Stream, StreamExt as _};
use uuid::Uuid;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{BatchError, Error, Result};
use crate::multiple::{Kind, TypedWrites};
use crate::table::{JsonWrite, JsonWrites, Table};
use crate::throttle_gate::ThrottleStats;

/// Dataverse's concurrency limit per user and web server: the engine never exceeds it.
pub const MAX_IN_FLIGHT_PER_IDENTITY: usize = 52;

/// How the engine sizes and paces its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineOptions {
    /// Records per request to start with. Default 1,000 where a bulk message is bound (the
    /// start Microsoft suggests for standard tables), 100 through `$batch`.
    pub chunk_size: Option<usize>,
    /// The chunk size never shrinks below this. Default 10.
    pub min_chunk_size: usize,
    /// Nor grows past this. Default 1,000 (also `$batch`'s limit).
    pub max_chunk_size: usize,
    /// Chunks in flight per identity to start with; the identity's `x-ms-dop-hint` if `None`.
    pub initial_concurrency: Option<usize>,
    /// Chunks in flight per identity at most; capped at 52. Default 52.
    pub max_concurrency: usize,
    /// How often a chunk still throttled after the client's own retries is sent again.
    /// Default 20.
    pub chunk_retries: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            chunk_size: None,
            min_chunk_size: 10,
            max_chunk_size: crate::batch::MAX_BATCH_REQUESTS,
            initial_concurrency: None,
            max_concurrency: MAX_IN_FLIGHT_PER_IDENTITY,
            chunk_retries: 20,
        }
    }
}

impl EngineOptions {
    /// Sets the starting chunk size.
    pub fn chunk_size(mut self, records: usize) -> Self {
        self.chunk_size = Some(records);
        self
    }

    /// Sets the smallest and largest chunk sizes.
    pub fn chunk_size_range(mut self, min: usize, max: usize) -> Self {
        self.min_chunk_size = min;
        self.max_chunk_size = max;
        self
    }

    /// Sets the starting concurrency per identity.
    pub fn initial_concurrency(mut self, chunks: usize) -> Self {
        self.initial_concurrency = Some(chunks);
        self
    }

    /// Sets the largest concurrency per identity (capped at 52).
    pub fn max_concurrency(mut self, chunks: usize) -> Self {
        self.max_concurrency = chunks;
        self
    }

    /// Sets how often a throttled chunk is sent again.
    pub fn chunk_retries(mut self, retries: u32) -> Self {
        self.chunk_retries = retries;
        self
    }

    fn check(&self) -> Result<()> {
        if self.min_chunk_size == 0 || self.min_chunk_size > self.max_chunk_size {
            return Err(Error::invalid_input(format!(
                "the chunk size range {}..={} is empty or starts at 0",
                self.min_chunk_size, self.max_chunk_size
            )));
        }
        if self.max_concurrency == 0 || self.initial_concurrency == Some(0) {
            return Err(Error::invalid_input("bulk concurrency must be at least 1"));
        }
        Ok(())
    }
}

/// How far a bulk run has come; read it any time with [`BulkEngine::progress`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Records written.
    pub records_done: u64,
    /// Records that failed.
    pub records_failed: u64,
    /// Since the engine was made.
    pub elapsed: Duration,
    /// Time the identities were held back by service protection (each identity's overlapping
    /// waits counted once, the identities' waits added up).
    pub throttle_wait: Duration,
    /// Throttling answers, all identities together.
    pub throttles: u64,
    /// Each identity's pace, in the order given.
    pub identities: Vec<Pace>,
}

impl Progress {
    /// Records finished (written or failed) per second so far.
    pub fn records_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            (self.records_done + self.records_failed) as f64 / seconds
        } else {
            0.0
        }
    }
}

/// One identity's pace at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pace {
    /// Chunks it may have in flight.
    pub concurrency: usize,
    /// Records per chunk.
    pub chunk_size: usize,
    /// Chunks in flight now.
    pub in_flight: usize,
    /// The most chunks it ever had in flight.
    pub peak_in_flight: usize,
    /// Throttling answers, per limit, and the time it was held back.
    pub throttles: ThrottleStats,
}

/// One identity: its client and its pace.
struct Lane {
    client: Client,
    pace: Mutex<LanePace>,
}

#[derive(Debug)]
struct LanePace {
    /// `None` until the first chunk picks a start.
    concurrency: Option<usize>,
    /// A ceiling learnt from the concurrency limit.
    cap: usize,
    chunk_size: Option<usize>,
    in_flight: usize,
    peak_in_flight: usize,
    /// Throttling already reacted to.
    seen: ThrottleStats,
    /// Seconds per record of the fastest unthrottled chunk.
    fastest: Option<f64>,
    /// When the pace last backed off: chunks sent before then were throttled by the same
    /// episode and must not back off again (one reaction per round trip).
    backed_off_at: Option<Instant>,
}

/// Runs bulk writes over one or several identities, each with its own adaptive pace.
pub struct BulkEngine {
    lanes: Vec<Lane>,
    options: EngineOptions,
    started: Instant,
    done: AtomicU64,
    failed: AtomicU64,
    /// Each identity's throttling before the engine started, so progress counts only its own.
    baseline: Vec<ThrottleStats>,
}

impl std::fmt::Debug for BulkEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkEngine")
            .field("identities", &self.lanes.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the engine sends, a chunk at a time: writes of one kind to one table, typed records
/// or JSON records of a table named at run time. The engine paces and resends; this says
/// whether a bulk message carries the writes and how a chunk goes out.
pub(crate) trait Writes: Send + Sync {
    /// One write of the input.
    type Item: Send + Sync;
    /// What a write yields when it succeeds (the id of a created record, or nothing).
    type Out: Send;

    /// Whether a bulk message carries these writes, judged by the first (chunks then start
    /// larger).
    fn bound(&self, first: Option<&Self::Item>) -> bool;

    /// Sends one chunk as `client`: the bound message, or `$batch` when none is bound or
    /// `as_batch`. The outer error is the request's own failure (nothing written, for a
    /// message); the inner results are per item, in order.
    fn send<'a>(
        &'a self,
        client: &'a Client,
        items: &'a [Self::Item],
        as_batch: bool,
    ) -> impl std::future::Future<Output = Result<Vec<Result<Self::Out>>>> + Send + 'a;
}

/// A chunk: its items and their input indices.
struct Chunk<W: Writes> {
    indices: Vec<usize>,
    items: Vec<W::Item>,
}

/// A chunk that finished: where it ran, and how.
struct Finished<W: Writes> {
    lane: usize,
    chunk: Chunk<W>,
    outcome: Result<Vec<Result<W::Out>>>,
    started: Instant,
    took: Duration,
    tries: u32,
    as_batch: bool,
}

/// A chunk to send again, with its tries so far and whether it goes as `$batch`.
struct Resend<W: Writes> {
    chunk: Chunk<W>,
    tries: u32,
    as_batch: bool,
}

type Running<'a, W> =
    FuturesUnordered<Pin<Box<dyn std::future::Future<Output = Finished<W>> + Send + 'a>>>;

impl BulkEngine {
    /// An engine writing through `client`: one lane per identity of the client's pool (one for
    /// a client of a single identity), each paced by its own limits.
    pub fn new(client: Client) -> Self {
        Self::build(client.identity_clients(), EngineOptions::default())
    }

    fn build(clients: Vec<Client>, options: EngineOptions) -> Self {
        let baseline = clients.iter().map(Client::throttle_stats).collect();
        BulkEngine {
            lanes: clients
                .into_iter()
                .map(|client| Lane {
                    pace: Mutex::new(LanePace {
                        concurrency: None,
                        cap: MAX_IN_FLIGHT_PER_IDENTITY,
                        chunk_size: None,
                        in_flight: 0,
                        peak_in_flight: 0,
                        seen: client.throttle_stats(),
                        fastest: None,
                        backed_off_at: None,
                    }),
                    client,
                })
                .collect(),
            options,
            started: Instant::now(),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            baseline,
        }
    }

    /// Sets the options; an impossible setting (an empty chunk size range, no concurrency)
    /// is refused.
    pub fn options(mut self, options: EngineOptions) -> Result<Self> {
        options.check()?;
        self.options = options;
        Ok(self)
    }

    /// How far the runs of this engine have come.
    pub fn progress(&self) -> Progress {
        let mut throttle_wait = Duration::ZERO;
        let mut throttles = 0;
        let identities = self
            .lanes
            .iter()
            .zip(&self.baseline)
            .map(|(lane, before)| {
                let now = lane.client.throttle_stats();
                let own = ThrottleStats {
                    requests: now.requests - before.requests,
                    execution_time: now.execution_time - before.execution_time,
                    concurrent_requests: now.concurrent_requests - before.concurrent_requests,
                    other: now.other - before.other,
                    waited: now.waited.saturating_sub(before.waited),
                };
                throttle_wait += own.waited;
                throttles += own.total();
                let pace = lane.lock();
                Pace {
                    concurrency: pace.concurrency.unwrap_or(0),
                    chunk_size: pace.chunk_size.unwrap_or(0),
                    in_flight: pace.in_flight,
                    peak_in_flight: pace.peak_in_flight,
                    throttles: own,
                }
            })
            .collect();
        Progress {
            records_done: self.done.load(Ordering::Relaxed),
            records_failed: self.failed.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
            throttle_wait,
            throttles,
            identities,
        }
    }

    /// Creates every record exactly once (its own id, or a new random one chosen here);
    /// yields `(input index, id or error)` as chunks finish, not in input order.
    pub fn create<'a, E, S>(&'a self, records: S) -> impl Stream<Item = (usize, Result<Uuid>)> + 'a
    where
        E: Entity + Clone + 'a,
        S: Stream<Item = E> + Send + 'a,
    {
        let items = records.map(|record| (record.id().unwrap_or_else(Uuid::new_v4), Some(record)));
        self.run(typed::<E>(Kind::Create), items)
    }

    /// Updates every `(id, changes)`; yields `(input index, result)` as chunks finish.
    pub fn update<'a, E, S>(&'a self, changes: S) -> impl Stream<Item = (usize, Result<()>)> + 'a
    where
        E: Entity + Clone + 'a,
        S: Stream<Item = (Uuid, E)> + Send + 'a,
    {
        self.run(
            typed::<E>(Kind::Update),
            changes.map(|(id, r)| (id, Some(r))),
        )
        .map(|(i, r)| (i, r.map(|_| ())))
    }

    /// Creates or updates every `(id, record)`; yields `(input index, result)` as chunks
    /// finish.
    pub fn upsert<'a, E, S>(&'a self, records: S) -> impl Stream<Item = (usize, Result<()>)> + 'a
    where
        E: Entity + Clone + 'a,
        S: Stream<Item = (Uuid, E)> + Send + 'a,
    {
        self.run(
            typed::<E>(Kind::Upsert),
            records.map(|(id, r)| (id, Some(r))),
        )
        .map(|(i, r)| (i, r.map(|_| ())))
    }

    /// Deletes every record of `E` with these ids; yields `(input index, result)` as chunks
    /// finish.
    pub fn delete<'a, E, S>(&'a self, ids: S) -> impl Stream<Item = (usize, Result<()>)> + 'a
    where
        E: Entity + Clone + 'a,
        S: Stream<Item = Uuid> + Send + 'a,
    {
        self.run(typed::<E>(Kind::Delete), ids.map(|id| (id, None)))
            .map(|(i, r)| (i, r.map(|_| ())))
    }

    /// Writes every record of a table named at run time, each as its [`JsonWrite`] says (which
    /// record, create-only, update-only or either, which columns); yields
    /// `(input index, result)` as chunks finish, not in input order, paced as for typed records.
    ///
    /// A chunk of writes by id that share one mode goes as the bulk message the table was told
    /// its environment binds ([`Table::with_bulk_messages`]: `CreateMultiple` for create-only,
    /// `UpdateMultiple` for update-only, `UpsertMultiple` for either); anything else
    /// (alternate keys, mixed modes, a table told of no message) goes through `$batch`.
    /// Create-only writes by id are exactly once, as [`create`](Self::create) is: a 412 to a
    /// resend after a lost answer is checked by reading the record back, and is `Ok` when that
    /// earlier try created it (see [`exactly_once`](crate::exactly_once)); a 412 by alternate
    /// key stays [`Error::ConcurrencyConflict`].
    pub fn write_json<'a, S>(
        &'a self,
        table: &'a Table,
        writes: S,
    ) -> impl Stream<Item = (usize, Result<()>)> + 'a
    where
        S: Stream<Item = JsonWrite> + Send + 'a,
    {
        self.run(JsonWrites { table }, writes)
    }

    fn run<'a, W, S>(
        &'a self,
        writes: W,
        items: S,
    ) -> impl Stream<Item = (usize, Result<W::Out>)> + 'a
    where
        W: Writes + 'a,
        S: Stream<Item = W::Item> + Send + 'a,
    {
        struct State<'a, W: Writes, S: Stream> {
            writes: std::sync::Arc<W>,
            input: Pin<Box<futures::stream::Peekable<futures::stream::Enumerate<S>>>>,
            exhausted: bool,
            running: Running<'a, W>,
            /// Chunks to send again, with their tries so far.
            again: VecDeque<Resend<W>>,
            ready: VecDeque<(usize, Result<W::Out>)>,
            started: bool,
        }
        let state = State {
            writes: std::sync::Arc::new(writes),
            input: Box::pin(items.enumerate().peekable()),
            exhausted: false,
            running: FuturesUnordered::new(),
            again: VecDeque::new(),
            ready: VecDeque::new(),
            started: false,
        };
        futures::stream::unfold(state, move |mut st| async move {
            loop {
                if let Some(next) = st.ready.pop_front() {
                    return Some((next, st));
                }
                if !st.started {
                    st.started = true;
                    let first = st.input.as_mut().peek().await.map(|(_, item)| item);
                    let bound = st.writes.bound(first);
                    self.start_paces(bound).await;
                }
                // Fill every identity's free slots: chunks to resend first, then new ones.
                while let Some(lane) = self.roomiest() {
                    let (chunk, tries, as_batch) = match st.again.pop_front() {
                        Some(again) => (again.chunk, again.tries, again.as_batch),
                        None if !st.exhausted => {
                            let size = self.lanes[lane].lock().chunk_size.unwrap_or(1);
                            let mut chunk = Chunk {
                                indices: Vec::with_capacity(size),
                                items: Vec::with_capacity(size),
                            };
                            while chunk.items.len() < size {
                                match st.input.next().await {
                                    Some((index, item)) => {
                                        chunk.indices.push(index);
                                        chunk.items.push(item);
                                    }
                                    None => {
                                        st.exhausted = true;
                                        break;
                                    }
                                }
                            }
                            if chunk.items.is_empty() {
                                self.lanes[lane].lock().in_flight -= 1;
                                break;
                            }
                            (chunk, 0, false)
                        }
                        None => {
                            self.lanes[lane].lock().in_flight -= 1;
                            break;
                        }
                    };
                    st.running.push(Box::pin(self.send_chunk(
                        st.writes.clone(),
                        lane,
                        chunk,
                        tries,
                        as_batch,
                    )));
                }
                let finished = st.running.next().await?;
                self.absorb(finished, &mut st.again, &mut st.ready);
            }
        })
    }

    /// Picks each identity's starting pace, reading `x-ms-dop-hint` with a `WhoAmI` when no
    /// answer has carried one yet. The identities are asked at once, and without retries: an
    /// identity that is throttled answers at once, its gate closes, and the others start
    /// without waiting for it.
    async fn start_paces(&self, bound: bool) {
        let chunk = self
            .options
            .chunk_size
            .unwrap_or(if bound { 1000 } else { 100 })
            .clamp(self.options.min_chunk_size, self.options.max_chunk_size);
        let hints = self.lanes.iter().map(|lane| async move {
            if lane.lock().concurrency.is_some() {
                return;
            }
            let hint = match (
                self.options.initial_concurrency,
                lane.client.recommended_parallelism(),
            ) {
                (Some(n), _) => Some(n),
                (None, Some(hint)) => Some(hint as usize),
                // Held back already: no answer comes before the wait is over.
                (None, None) if lane.client.held_back() => None,
                (None, None) => {
                    // Any answer carries the hint; an error here is the run's to meet later.
                    let probe = lane.client.without_retries();
                    let _ = probe.get::<serde_json::Value>("WhoAmI").await;
                    probe.recommended_parallelism().map(|h| h as usize)
                }
            };
            let mut pace = lane.lock();
            let max = self.max_concurrency(&lane.client);
            pace.concurrency = Some(hint.unwrap_or(4).clamp(1, max));
            pace.chunk_size = Some(chunk);
        });
        futures::future::join_all(hints).await;
    }

    /// The most chunks `client` may have in flight: the option, at most 52, per identity of
    /// the client (a client with a pool of identities spreads its requests over them).
    fn max_concurrency(&self, client: &Client) -> usize {
        self.options.max_concurrency.min(MAX_IN_FLIGHT_PER_IDENTITY) * client.identity_count()
    }

    /// The identity with the most free slots, if any has one; it is counted as taken. An
    /// identity that service protection holds back gets no new chunk while another one can
    /// take it: its `Retry-After` may last minutes, which the others need not wait out.
    fn roomiest(&self) -> Option<usize> {
        let (lane, room, _) = self
            .lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                let room = {
                    let pace = lane.lock();
                    pace.concurrency.unwrap_or(1).saturating_sub(pace.in_flight)
                };
                let open = room > 0 && (self.lanes.len() == 1 || !lane.client.held_back());
                (i, room, open)
            })
            .max_by_key(|(_, room, open)| (*open, *room))?;
        if room == 0 {
            return None;
        }
        let mut pace = self.lanes[lane].lock();
        pace.in_flight += 1;
        pace.peak_in_flight = pace.peak_in_flight.max(pace.in_flight);
        Some(lane)
    }

    async fn send_chunk<W: Writes>(
        &self,
        writes: std::sync::Arc<W>,
        lane: usize,
        chunk: Chunk<W>,
        tries: u32,
        as_batch: bool,
    ) -> Finished<W> {
        let started = Instant::now();
        let outcome = writes
            .send(&self.lanes[lane].client, &chunk.items, as_batch)
            .await;
        Finished {
            lane,
            chunk,
            outcome,
            started,
            took: started.elapsed(),
            tries: tries + 1,
            as_batch,
        }
    }

    /// Adapts the identity's pace to how its chunk went, and queues its results or a resend.
    fn absorb<W: Writes>(
        &self,
        finished: Finished<W>,
        again: &mut VecDeque<Resend<W>>,
        ready: &mut VecDeque<(usize, Result<W::Out>)>,
    ) {
        let Finished {
            lane,
            chunk,
            outcome,
            started,
            took,
            tries,
            as_batch,
        } = finished;
        self.adapt(lane, chunk.items.len(), started, took);
        match outcome {
            Err(Error::Throttled(_)) if tries <= self.options.chunk_retries => {
                again.push_back(Resend {
                    chunk,
                    tries,
                    as_batch,
                });
            }
            // A bulk message failed as a whole: `$batch` tells the bad records from the good.
            Err(Error::Api(_) | Error::ConcurrencyConflict(_) | Error::NotFound(_))
                if !as_batch =>
            {
                again.push_back(Resend {
                    chunk,
                    tries: 0,
                    as_batch: true,
                });
            }
            Err(e) => {
                let message = e.to_string();
                self.failed
                    .fetch_add(chunk.indices.len() as u64, Ordering::Relaxed);
                ready.extend(
                    chunk
                        .indices
                        .into_iter()
                        .map(|index| (index, Err(BatchError::Failed(message.clone()).into()))),
                );
            }
            Ok(results) => {
                for (index, result) in chunk.indices.into_iter().zip(results) {
                    let counter = if result.is_ok() {
                        &self.done
                    } else {
                        &self.failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    ready.push_back((index, result));
                }
            }
        }
    }

    /// The pace rules of the module docs, applied after one chunk of `records`, sent at
    /// `started`, took `took`.
    fn adapt(&self, lane: usize, records: usize, started: Instant, took: Duration) {
        let stats = self.lanes[lane].client.throttle_stats();
        let max = self.max_concurrency(&self.lanes[lane].client);
        let (min_chunk, max_chunk) = (self.options.min_chunk_size, self.options.max_chunk_size);
        let mut pace = self.lanes[lane].lock();
        let in_flight = pace.in_flight;
        pace.in_flight = in_flight.saturating_sub(1);
        let seen = std::mem::replace(&mut pace.seen, stats.clone());
        let concurrency = pace.concurrency.unwrap_or(1);
        let chunk = pace.chunk_size.unwrap_or(min_chunk);
        // The concurrency limit tells how many requests are too many: always learnt.
        if stats.concurrent_requests > seen.concurrent_requests {
            let below = in_flight.saturating_sub(1).max(1);
            pace.cap = pace.cap.min(below);
            pace.concurrency = Some(concurrency.min(pace.cap));
        }
        // Chunks already out when the pace last backed off met the same throttling: the
        // first of them to come back has reacted for all.
        if stats.total() > seen.total() && pace.backed_off_at.is_some_and(|at| started < at) {
            return;
        }
        if stats.total() > seen.total() {
            pace.backed_off_at = Some(Instant::now());
        }
        if stats.concurrent_requests > seen.concurrent_requests {
            pace.concurrency = Some((pace.concurrency.unwrap_or(1) * 3 / 4).clamp(1, pace.cap));
        }
        if stats.execution_time > seen.execution_time {
            pace.chunk_size = Some((chunk / 2).max(min_chunk));
            pace.concurrency = Some((pace.concurrency.unwrap_or(1) * 3 / 4).max(1));
        }
        if stats.requests > seen.requests {
            pace.chunk_size = Some((chunk * 2).min(max_chunk));
        }
        if stats.total() > seen.total() || records == 0 {
            return;
        }
        let per_record = took.as_secs_f64() / records as f64;
        let fastest = pace.fastest.map_or(per_record, |f| f.min(per_record));
        pace.fastest = Some(fastest);
        // About as fast as the best so far: there is room for one more chunk at a time.
        if per_record <= fastest * 1.5 {
            let cap = pace.cap.min(max);
            pace.concurrency = Some((concurrency + 1).min(cap));
        }
    }
}

/// Typed writes of `kind`.
fn typed<E>(kind: Kind) -> TypedWrites<E> {
    TypedWrites {
        kind,
        entity: std::marker::PhantomData,
    }
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, LanePace> {
        // The pace is plain numbers: a panic elsewhere cannot leave it half-written.
        self.pace.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
