//! The bulk operation messages on typed entity sets: `create_multiple`, `update_multiple`,
//! `upsert_multiple` and `delete_multiple`.
//!
//! Each is the Web API action bound to the entity set (`POST accounts/Microsoft.Dynamics.CRM.
//! CreateMultiple` with `{"Targets": [...]}`, every target carrying `@odata.type`), as Microsoft
//! Learn describes it in "Use bulk operation messages"
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>).
//!
//! **Which path.** A message is used only where the environment's `$metadata` binds it to the
//! table. Generated code carries that as [`Entity::BULK_MESSAGES`] (read from the document it
//! was generated from); a table it does not bind, and every hand-written [`Entity`] that does
//! not say otherwise, goes through `$batch` of single requests instead (the `bulk_*` methods of
//! [`Client`]). Older environments bind none of the messages (a v9.1 document binds none).
//! Dataverse documents that some standard tables refuse the messages even so ("Not all
//! standard tables support these messages"); such a table answers with an error, which is
//! returned as is.
//!
//! **Exactly once.** Creates carry ids chosen here (the record's own, or a new random one), so
//! a `CreateMultiple` whose answer was lost is sent again safely: standard tables write all
//! targets or none, and a resend that finds the records (a `412` for the duplicate key) is
//! checked by reading the ids back, as [`exactly_once`](crate::exactly_once) describes.

use reqwest::Method;
use uuid::Uuid;

use crate::batch::BulkOptions;
use crate::client::Client;
use crate::crud::UpsertMode;
use crate::entity::Entity;
use crate::error::BatchError;
use crate::error::{Error, Result};
use crate::request::{ApiRequest, Body, RetryClass, write_record};
use crate::typed::EntitySet;

/// The bulk operation messages a table's metadata binds: a small set of flags.
///
/// ```
/// use dynamics_client::bulk::BulkMessages;
///
/// const BOUND: BulkMessages = BulkMessages::CREATE.and(BulkMessages::UPDATE);
/// assert!(BOUND.contains(BulkMessages::CREATE));
/// assert!(!BOUND.contains(BulkMessages::DELETE));
/// assert!(!BulkMessages::NONE.contains(BulkMessages::UPSERT));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BulkMessages(u8);

impl BulkMessages {
    /// No message: every bulk write goes through `$batch`.
    pub const NONE: BulkMessages = BulkMessages(0);
    /// `CreateMultiple`.
    pub const CREATE: BulkMessages = BulkMessages(1);
    /// `UpdateMultiple`.
    pub const UPDATE: BulkMessages = BulkMessages(2);
    /// `UpsertMultiple`.
    pub const UPSERT: BulkMessages = BulkMessages(4);
    /// `DeleteMultiple` (Dataverse binds it to elastic tables only).
    pub const DELETE: BulkMessages = BulkMessages(8);

    /// Both sets.
    pub const fn and(self, other: BulkMessages) -> BulkMessages {
        BulkMessages(self.0 | other.0)
    }

    /// Whether every message of `other` is in this set.
    pub const fn contains(self, other: BulkMessages) -> bool {
        self.0 & other.0 == other.0
    }

    /// The message with this action name (`CreateMultiple`, ...), if it is one of the four.
    pub fn named(name: &str) -> Option<BulkMessages> {
        Some(match name {
            "CreateMultiple" => Self::CREATE,
            "UpdateMultiple" => Self::UPDATE,
            "UpsertMultiple" => Self::UPSERT,
            "DeleteMultiple" => Self::DELETE,
            _ => return None,
        })
    }
}

/// One kind of bulk write, as the engine and the typed methods share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Create,
    Update,
    Upsert,
    Delete,
}

impl Kind {
    pub(crate) fn message(self) -> BulkMessages {
        match self {
            Kind::Create => BulkMessages::CREATE,
            Kind::Update => BulkMessages::UPDATE,
            Kind::Upsert => BulkMessages::UPSERT,
            Kind::Delete => BulkMessages::DELETE,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kind::Create => "CreateMultiple",
            Kind::Update => "UpdateMultiple",
            Kind::Upsert => "UpsertMultiple",
            Kind::Delete => "DeleteMultiple",
        }
    }
}

/// One item of a bulk write: the record's id (client-chosen for creates) and, but for deletes,
/// the record.
pub(crate) type Item<E> = (Uuid, Option<E>);

impl Client {
    /// Writes one chunk: the bound message when `E`'s metadata binds it, else `$batch`. The
    /// outer error is the request's own failure (nothing written, for a message); the inner
    /// results are per item, in order.
    pub(crate) async fn write_chunk<E: Entity>(
        &self,
        kind: Kind,
        items: Vec<Item<E>>,
    ) -> Result<Vec<Result<Uuid>>> {
        self.write_chunk_as(kind, items, false).await
    }

    /// [`Client::write_chunk`], through `$batch` whatever the metadata binds when `as_batch`.
    pub(crate) async fn write_chunk_as<E: Entity>(
        &self,
        kind: Kind,
        items: Vec<Item<E>>,
        as_batch: bool,
    ) -> Result<Vec<Result<Uuid>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if !as_batch && E::BULK_MESSAGES.contains(kind.message()) {
            let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
            let targets = items
                .iter()
                .map(|(id, record)| typed_target::<E>(*id, record.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            self.send_message(MessageTable::of::<E>(), kind, targets, &ids)
                .await?;
            return Ok(ids.into_iter().map(Ok).collect());
        }
        let options = BulkOptions::default()
            .batch_size(items.len().min(crate::batch::MAX_BATCH_REQUESTS))
            .concurrency(1);
        let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
        let results = match kind {
            Kind::Delete => {
                self.bulk_delete::<E, _>(ids.iter().copied(), &options)
                    .await?
            }
            _ => {
                let records = items
                    .into_iter()
                    .filter_map(|(id, record)| Some((id, record?)));
                match kind {
                    Kind::Create => {
                        self.bulk_upsert(records, UpsertMode::CreateOnly, &options)
                            .await?
                    }
                    Kind::Update => self.bulk_update(records, &options).await?,
                    _ => {
                        self.bulk_upsert(records, UpsertMode::CreateOrUpdate, &options)
                            .await?
                    }
                }
            }
        };
        Ok(results
            .into_iter()
            .zip(ids)
            .map(|(result, id)| result.map(|()| id))
            .collect())
    }

    /// `POST {set}/Microsoft.Dynamics.CRM.{Action}` with `targets`, the records with these
    /// `ids` in order, each target a JSON object naming its type and carrying its id.
    pub(crate) async fn send_message(
        &self,
        table: MessageTable<'_>,
        kind: Kind,
        targets: Vec<Vec<u8>>,
        ids: &[Uuid],
    ) -> Result<()> {
        // The targets are JSON already: joined as written, never parsed again.
        let mut body = Vec::with_capacity(targets.iter().map(|t| t.len() + 1).sum::<usize>() + 14);
        body.extend_from_slice(b"{\"Targets\":[");
        for (n, target) in targets.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(target);
        }
        body.extend_from_slice(b"]}");
        let path = format!(
            "{}/Microsoft.Dynamics.CRM.{}",
            table.entity_set,
            kind.action()
        );
        let mut request = ApiRequest::to_path(Method::POST, path, table.entity_set.to_owned());
        request.body = Some(Body::Json(body));
        // Every target names its record, so sending the message again is safe; a create that
        // finds its records already there after a lost answer is checked below.
        request.retry = if kind == Kind::Create {
            RetryClass::CreateOnly
        } else {
            RetryClass::Idempotent
        };
        let response = self.run(request).await?;
        if response.status.is_success() {
            return Ok(());
        }
        // A 412 after an earlier try whose answer was lost: did that try create them all?
        let found = self
            .confirm_created_in(table.entity_set, Some(table.primary_key), ids)
            .await?;
        if found.iter().all(|f| *f) {
            return Ok(());
        }
        Err(BatchError::Failed(format!(
            "{} answered {} after an earlier try was lost, and {} of its {} records are not there",
            kind.action(),
            response.status.as_u16(),
            found.iter().filter(|f| !**f).count(),
            ids.len()
        ))
        .into())
    }
}

/// The names of a table that a bulk message needs, as the metadata gives them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageTable<'a> {
    /// Where the message is bound (`accounts`).
    pub entity_set: &'a str,
    /// Each target's `@odata.type` is `Microsoft.Dynamics.CRM.<logical name>`.
    pub logical_name: &'a str,
    /// Each target carries its id under this column.
    pub primary_key: &'a str,
}

impl MessageTable<'static> {
    fn of<E: Entity>() -> Self {
        MessageTable {
            entity_set: E::ENTITY_SET_NAME,
            logical_name: E::LOGICAL_NAME,
            primary_key: E::PRIMARY_KEY,
        }
    }
}

impl MessageTable<'_> {
    /// `@odata.type` of every target.
    pub(crate) fn odata_type(&self) -> String {
        format!("Microsoft.Dynamics.CRM.{}", self.logical_name)
    }
}

/// One typed target: the record's writable columns (none for a delete), its type and its id
/// over whatever the record says.
fn typed_target<E: Entity>(id: Uuid, record: Option<&E>) -> Result<Vec<u8>> {
    let table = MessageTable::of::<E>();
    let extra = [
        ("@odata.type".to_owned(), table.odata_type()),
        (E::PRIMARY_KEY.to_owned(), id.hyphenated().to_string()),
    ];
    match record {
        Some(record) => write_record(record, None, &extra),
        None => serde_json::to_vec(
            &extra
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .map_err(|e| Error::invalid_input(format!("could not serialize a target: {e}"))),
    }
}

impl<E: Entity> EntitySet<'_, E> {
    /// Creates every record with one `CreateMultiple` when the table's metadata binds it (all
    /// records or none, on a standard table), else with `$batch` (each record on its own).
    /// Result `i` is the id of record `i`: its own id, or a new random one chosen here, so a
    /// resend never creates a record twice. The outer error is the request's own failure.
    pub async fn create_multiple(
        &self,
        records: impl IntoIterator<Item = E>,
    ) -> Result<Vec<Result<Uuid>>> {
        let items = records
            .into_iter()
            .map(|record| (record.id().unwrap_or_else(Uuid::new_v4), Some(record)))
            .collect();
        self.client().write_chunk::<E>(Kind::Create, items).await
    }

    /// Updates every `(id, changes)` with one `UpdateMultiple` when bound, else with `$batch`;
    /// result `i` says how update `i` went. An update never creates a record.
    pub async fn update_multiple(
        &self,
        changes: impl IntoIterator<Item = (Uuid, E)>,
    ) -> Result<Vec<Result<()>>> {
        self.write_unit(Kind::Update, changes).await
    }

    /// Creates or updates every `(id, record)` with one `UpsertMultiple` when bound, else with
    /// `$batch`; result `i` says how upsert `i` went.
    pub async fn upsert_multiple(
        &self,
        records: impl IntoIterator<Item = (Uuid, E)>,
    ) -> Result<Vec<Result<()>>> {
        self.write_unit(Kind::Upsert, records).await
    }

    /// Deletes every record with these ids with one `DeleteMultiple` when bound (Dataverse binds
    /// it to elastic tables only), else with `$batch`; result `i` says how delete `i` went.
    pub async fn delete_multiple(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<Vec<Result<()>>> {
        let items: Vec<Item<E>> = ids.into_iter().map(|id| (id, None)).collect();
        let results = self.client().write_chunk::<E>(Kind::Delete, items).await?;
        Ok(results.into_iter().map(|r| r.map(|_| ())).collect())
    }

    async fn write_unit(
        &self,
        kind: Kind,
        items: impl IntoIterator<Item = (Uuid, E)>,
    ) -> Result<Vec<Result<()>>> {
        let items = items.into_iter().map(|(id, r)| (id, Some(r))).collect();
        let results = self.client().write_chunk::<E>(kind, items).await?;
        Ok(results.into_iter().map(|r| r.map(|_| ())).collect())
    }
}

/// Typed writes of one kind, as the bulk engine sends them: the bound message, else `$batch`.
pub(crate) struct TypedWrites<E> {
    pub kind: Kind,
    pub entity: std::marker::PhantomData<fn() -> E>,
}

impl<E: Entity + Clone> crate::engine::Writes for TypedWrites<E> {
    type Item = Item<E>;
    type Out = Uuid;

    fn bound(&self, _first: Option<&Item<E>>) -> bool {
        E::BULK_MESSAGES.contains(self.kind.message())
    }

    fn send<'a>(
        &'a self,
        client: &'a Client,
        items: &'a [Item<E>],
        as_batch: bool,
    ) -> impl std::future::Future<Output = Result<Vec<Result<Uuid>>>> + Send + 'a {
        client.write_chunk_as::<E>(self.kind, items.to_vec(), as_batch)
    }
}
