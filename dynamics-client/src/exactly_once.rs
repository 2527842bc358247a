//! How creates are made safe to retry, so that each record is created exactly once even when
//! requests fail, time out or lose their answers. This module holds documentation only.
//!
//! # Why a plain `POST` create is unsafe to retry
//!
//! A create is normally `POST /accounts` with the record in the body; the service picks the id
//! and answers `204` with an `OData-EntityId` header. When that answer never arrives (a 500,
//! 502 or 504 from a gateway, a client timeout, a connection closed after the request was
//! sent) the client cannot tell whether the record was written. Sending the `POST` again may
//! create a second record; not sending it may lose the first. So the retry policy
//! ([`RetryPolicy`](crate::retry::RetryPolicy)) sends a `POST` again only when it certainly did not
//! take effect: when it was throttled (429) or the connection was never made.
//!
//! # What the client does instead
//!
//! A create whose record carries an id is sent as a **create-only upsert**:
//! `PATCH /accounts(<id>)` with `If-None-Match: *`. Dataverse creates the record when no record
//! has that id and answers `412 Precondition Failed` when one does, never updating it. Sending
//! the same request twice therefore cannot create two records, and the pipeline retries it like
//! any idempotent request (5xx, timeouts, lost connections, throttling).
//!
//! * [`Client::bulk_create`](crate::Client::bulk_create) gives every record without an id a
//!   new random (UUID v4) id before anything is sent, and sends create-only upserts in
//!   `$batch`es. When a whole batch's answer is lost the batch is sent again as it was, which
//!   is safe for the same reason. Result `i` is always the outcome of input `i`: `Ok(id)` or a
//!   typed error.
//! * [`Client::create`](crate::Client::create) and
//!   [`create_and_return`](crate::Client::create_and_return) do the same for a record whose id
//!   you set. A record without an id is still `POST`ed (the service then picks a sequential
//!   id), with the cautious retries above.
//! * [`Client::upsert`](crate::Client::upsert) (and
//!   [`EntitySet::upsert`](crate::entity::EntitySet::upsert)) and
//!   [`Client::bulk_upsert`](crate::Client::bulk_upsert) with
//!   [`UpsertMode::CreateOnly`](crate::entity::UpsertMode::CreateOnly) are the same create-only
//!   upserts under the id you pass, and read a 412 the same way.
//! * A create-only upsert that you put into a [`Batch`](crate::batch::Batch) yourself and send with
//!   [`execute_batch`](crate::Client::execute_batch) is retried as safely (a batch without a
//!   `POST` in it is sent again as it was), but its 412 is handed to you as it came: the
//!   client does not know which of your requests to read back. Use the bulk methods above to
//!   have that done.
//!
//! # What a 412 means
//!
//! * **On the first try** of a create-only upsert, a 412 is a real conflict: a record with that
//!   id already exists. The result is [`Error::ConcurrencyConflict`](crate::Error::ConcurrencyConflict).
//! * **On a retry after a try whose outcome is unknown** (a 5xx, a timeout, a lost connection),
//!   a 412 normally means that the earlier try landed. The client then reads the record back by
//!   id: when it is there, the create succeeded and the result is `Ok(id)`; when it is not
//!   (the 412 came from something else, such as a clashing alternate key), the result is the
//!   conflict. A retry after throttling only is not such a retry: a throttled request was not
//!   run, so a 412 after it is a conflict again.
//!
//! # Upserts by alternate key
//!
//! [`Client::upsert_by_key`](crate::Client::upsert_by_key) with
//! [`UpsertMode::CreateOnly`](crate::entity::UpsertMode::CreateOnly) is retried in the same way, but a
//! 412 is always [`Error::ConcurrencyConflict`](crate::Error::ConcurrencyConflict), also after
//! a try whose outcome is unknown. Reading the record back would find it whoever created it,
//! and an alternate key is business data (an account number, an e-mail address) that other
//! writers create records under, unlike a fresh id that only this caller uses: a record found
//! under the key is no sign that the earlier try made it. When such a conflict follows a lost
//! answer, read the record by its key to decide.
//!
//! # Your own ids
//!
//! The reasoning above holds when the id is new: nobody else creates a record with it. Use a
//! fresh UUID v4 per record, or a UUID derived from a key of your own source data (v5) that no
//! other writer uses. Reusing an id that may already exist turns a conflict on a retry into a
//! reported success for a record you did not write. Keeping the ids of your inputs (set them on
//! the records before calling) also lets you resume after an error: sending the same records
//! again creates only those that are missing, and the others answer with a 412 conflict.
//!
//! When the client gives up on a batch (its retry budget is spent), every request of it gets a
//! [`BatchError::Failed`](crate::error::BatchError::Failed) result: those records may or may not
//! exist. Sending them again with the same ids settles it.
//!
//! # With an identity pool
//!
//! A client over several application users ([`pool`](crate::pool)) may send the tries of one
//! request as different users: a try throttled on one goes out again at once on another. What
//! is said above holds unchanged, because a create-only upsert under a fresh id cannot create
//! twice whoever sends it, and a throttled try was not run. The record's owner and `createdby`
//! are the user whose try created it.
//!
//! # Deletes
//!
//! A delete needs no id of its own to be safe to send again: deleting twice leaves no record
//! either way. [`Client::bulk_delete`](crate::Client::bulk_delete) therefore retries like any
//! idempotent request, and when a try whose answer was lost is followed by a `404`, the
//! result is `Ok`: the record is gone, as asked. A `404` on a first try stays
//! [`Error::NotFound`](crate::Error::NotFound).
