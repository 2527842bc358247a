//! Reads and writes of a table known only at run time, with records as JSON: for tools that
//! read the table's shape from `$metadata` when they run (the `dynamics data import` and
//! `export` commands) rather than from generated types.

use futures::stream::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::batch::{Batch, BulkOptions, Handle, no_body};
use crate::changes::{Change, ChangeBody, ChangePage, DeltaLink, change};
use crate::client::Client;
use crate::crud::{UpsertMode, check_name};
use crate::engine::Writes;
use crate::error::{Error, Result};
use crate::multiple::{BulkMessages, Kind, MessageTable};
use crate::paging::{self, Cursor, Linked};
use crate::request::{ApiRequest, Prefer};
use crate::typed::{AlternateKey, Literal};

/// A table named at run time: its entity set (`accounts`), as `$metadata` names it, and, when
/// told, which bulk operation messages its environment binds to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    entity_set: String,
    /// What the bulk messages need ([`Table::with_bulk_messages`]).
    bulk: Option<BulkBinding>,
}

/// The bulk messages bound to a table, and the names they need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BulkBinding {
    logical_name: String,
    primary_key: String,
    messages: BulkMessages,
}

impl Table {
    /// The table whose entity set is `entity_set`. Only letters, digits and `_` are taken.
    /// Bulk writes of it go through `$batch` until it is told which messages are bound
    /// ([`with_bulk_messages`](Self::with_bulk_messages)).
    pub fn new(entity_set: impl Into<String>) -> Result<Self> {
        let entity_set = entity_set.into();
        check_name("entity set", &entity_set)?;
        Ok(Table {
            entity_set,
            bulk: None,
        })
    }

    /// The entity set's name.
    pub fn entity_set(&self) -> &str {
        &self.entity_set
    }

    /// Tells the table which bulk operation messages (`CreateMultiple`, ...) its environment's
    /// `$metadata` binds to it, with the two names every target of a message needs: the
    /// table's logical name (`@odata.type` is `Microsoft.Dynamics.CRM.<logical name>`) and its
    /// primary key (each target carries its id there), as "Use bulk operation messages"
    /// describes them (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>).
    /// dynamics-codegen reads all three from `$metadata` (`Metadata::bulk_messages` and the
    /// entity type). The [`BulkEngine`](crate::bulk::BulkEngine) then sends the bound
    /// messages; what is not bound goes through `$batch`.
    pub fn with_bulk_messages(
        mut self,
        logical_name: impl Into<String>,
        primary_key: impl Into<String>,
        messages: BulkMessages,
    ) -> Result<Self> {
        let logical_name = logical_name.into();
        let primary_key = primary_key.into();
        check_name("logical name", &logical_name)?;
        check_name("primary key", &primary_key)?;
        self.bulk = Some(BulkBinding {
            logical_name,
            primary_key,
            messages,
        });
        Ok(self)
    }

    /// The bulk operation messages the table was told are bound ([`BulkMessages::NONE`] until
    /// [`with_bulk_messages`](Self::with_bulk_messages)).
    pub fn bulk_messages(&self) -> BulkMessages {
        self.bulk
            .as_ref()
            .map_or(BulkMessages::NONE, |bulk| bulk.messages)
    }
}

/// Which record a [`JsonWrite`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    /// The record with this id.
    Id(Uuid),
    /// The record with these alternate key values: the text between the parentheses of
    /// `accounts(...)`, made by [`RecordKey::alternate`].
    Alternate(String),
}

impl RecordKey {
    /// An alternate key of columns named at run time, each with its value; values are
    /// written as OData literals and refused when Dataverse cannot take them in a key URL.
    pub fn alternate(parts: &[(&str, &dyn Literal)]) -> Result<Self> {
        let mut key: Option<AlternateKey<()>> = None;
        for (name, value) in parts {
            // The typed key keeps `'static` names; a tool names a handful of key columns per
            // run, so keeping them for the life of the process costs nothing worth counting.
            let name: &'static str = Box::leak((*name).to_owned().into_boxed_str());
            key = Some(match key {
                None => AlternateKey::column(name, *value)?,
                Some(key) => key.and_column(name, *value)?,
            });
        }
        key.map(|k| RecordKey::Alternate(k.to_path_segment()))
            .ok_or_else(|| Error::invalid_input("an alternate key needs at least one column"))
    }

    fn path(&self, table: &Table) -> String {
        match self {
            RecordKey::Id(id) => format!("{}({})", table.entity_set, id.hyphenated()),
            RecordKey::Alternate(segment) => format!("{}({segment})", table.entity_set),
        }
    }
}

/// One write of a record given as JSON: an upsert limited by `mode` (create-only, update-only
/// or either) of the record at `key`, with the columns of `body` (`"nav@odata.bind"` entries
/// set lookups).
#[derive(Clone, Debug, PartialEq)]
pub struct JsonWrite {
    /// Which record.
    pub key: RecordKey,
    /// What the write may do: create only (`If-None-Match: *`), update only (`If-Match: *`),
    /// or either.
    pub mode: UpsertMode,
    /// The columns to write.
    pub body: Map<String, Value>,
}

impl Batch {
    /// Adds a write of a record given as JSON to a table named at run time.
    pub fn write_json(&mut self, table: &Table, write: &JsonWrite) -> Result<Handle<()>> {
        let mut request = ApiRequest::to_path(
            Method::PATCH,
            write.key.path(table),
            table.entity_set.clone(),
        )
        .json(&write.body)?;
        request.condition = write.mode.condition();
        self.single(request, no_body)
    }
}

/// Writes of JSON records to a run-time table, as the bulk engine sends them.
pub(crate) struct JsonWrites<'t> {
    pub table: &'t Table,
}

impl JsonWrites<'_> {
    /// The bound message that carries every one of `writes`, and the names it needs: only
    /// writes by id that share one mode (a message has no per-target condition).
    fn message(&self, writes: &[JsonWrite]) -> Option<(MessageTable<'_>, Kind)> {
        let bulk = self.table.bulk.as_ref()?;
        let mode = writes.first()?.mode;
        let kind = match mode {
            UpsertMode::CreateOnly => Kind::Create,
            UpsertMode::UpdateOnly => Kind::Update,
            _ => Kind::Upsert,
        };
        let all = writes
            .iter()
            .all(|w| w.mode == mode && matches!(w.key, RecordKey::Id(_)));
        (all && bulk.messages.contains(kind.message())).then_some((
            MessageTable {
                entity_set: &self.table.entity_set,
                logical_name: &bulk.logical_name,
                primary_key: &bulk.primary_key,
            },
            kind,
        ))
    }
}

impl Writes for JsonWrites<'_> {
    type Item = JsonWrite;
    type Out = ();

    fn bound(&self, first: Option<&JsonWrite>) -> bool {
        first.is_some_and(|w| self.message(std::slice::from_ref(w)).is_some())
    }

    async fn send(
        &self,
        client: &Client,
        items: &[JsonWrite],
        as_batch: bool,
    ) -> Result<Vec<Result<()>>> {
        let Some((table, kind)) = self.message(items).filter(|_| !as_batch) else {
            return client.write_json_batch(self.table, items).await;
        };
        let mut ids = Vec::with_capacity(items.len());
        let mut targets = Vec::with_capacity(items.len());
        for write in items {
            let RecordKey::Id(id) = write.key else {
                unreachable!("a message carries writes by id only")
            };
            let mut target = write.body.clone();
            target.insert("@odata.type".to_owned(), table.odata_type().into());
            target.insert(
                table.primary_key.to_owned(),
                id.hyphenated().to_string().into(),
            );
            targets.push(
                serde_json::to_vec(&target).map_err(|e| {
                    Error::invalid_input(format!("could not serialize a target: {e}"))
                })?,
            );
            ids.push(id);
        }
        client.send_message(table, kind, targets, &ids).await?;
        Ok(items.iter().map(|_| Ok(())).collect())
    }
}

impl Client {
    /// One `$batch` of JSON writes (at most 1,000); a 412 to a create-only write by id that a
    /// lost answer may have landed is checked by reading the record back.
    async fn write_json_batch(
        &self,
        table: &Table,
        writes: &[JsonWrite],
    ) -> Result<Vec<Result<()>>> {
        let options = BulkOptions::default()
            .batch_size(writes.len().clamp(1, crate::batch::MAX_BATCH_REQUESTS))
            .concurrency(1);
        let sent = self
            .bulk_sent(writes, &options, |batch, write: &&JsonWrite| {
                batch.write_json(table, write)
            })
            .await?;
        let ids: Vec<Option<Uuid>> = writes
            .iter()
            .map(|w| match (&w.key, w.mode) {
                (RecordKey::Id(id), UpsertMode::CreateOnly) => Some(*id),
                _ => None,
            })
            .collect();
        let primary_key = table.bulk.as_ref().map(|b| b.primary_key.as_str());
        Ok(self
            .settle_creates(&table.entity_set, primary_key, sent, &ids)
            .await)
    }
}

/// One page of records read as JSON objects.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JsonPage {
    /// The records, as the service wrote them (annotations included).
    pub records: Vec<Map<String, Value>>,
    /// `@odata.nextLink`, when more pages follow.
    pub next_link: Option<String>,
}

impl Linked for JsonPage {
    fn next_link(&self) -> Option<&String> {
        self.next_link.as_ref()
    }
}

#[derive(Deserialize)]
struct JsonPageBody {
    value: Vec<Map<String, Value>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

impl Client {
    /// Every page of a raw OData query on a table named at run time (see
    /// [`query_raw`](Client::query_raw) for how `query` is written), `page_size` records at most per
    /// page (`Prefer: odata.maxpagesize`, 1 to 5,000), one page held at a time.
    /// `annotations` are asked for with `Prefer: odata.include-annotations` when not empty
    /// (e.g. `Microsoft.Dynamics.CRM.lookuplogicalname`).
    pub fn json_pages<'a>(
        &'a self,
        table: &'a Table,
        query: &str,
        page_size: u32,
        annotations: &[&str],
    ) -> impl Stream<Item = Result<JsonPage>> + Send + 'a {
        let query = query.trim_start_matches('?').to_owned();
        let annotations = annotations.join(",");
        paging::pages(self.max_pages(), move |cursor| {
            let url = match cursor {
                Cursor::First => self.url(&table.entity_set).map(|mut url| {
                    if !query.is_empty() {
                        url.set_query(Some(&query));
                    }
                    url
                }),
                Cursor::Next(link) => self.next_link_url(&link),
            };
            let prefer = page_preferences(false, page_size, &annotations);
            async move {
                let response = self.get_page(table, url, prefer).await?;
                let body: JsonPageBody =
                    Error::decode_json(&format!("{} page", table.entity_set), &response.body)?;
                Ok(JsonPage {
                    records: body.value,
                    next_link: body.next_link,
                })
            }
        })
    }

    /// Every page of the changes to a table named at run time since `since`, or without it
    /// every record (the first sync), as [`changes`](Client::changes) reads them for typed
    /// records; records come as JSON objects.
    pub fn json_changes<'a>(
        &'a self,
        table: &'a Table,
        columns: &[&str],
        since: Option<&DeltaLink>,
        page_size: u32,
        annotations: &[&str],
    ) -> impl Stream<Item = Result<ChangePage<Map<String, Value>>>> + Send + 'a {
        let select = columns.join(",");
        let since = since.cloned();
        let annotations = annotations.join(",");
        paging::pages(self.max_pages(), move |cursor| {
            let url = match (cursor, &since) {
                (Cursor::First, Some(since)) => self.next_link_url(since.as_str()),
                (Cursor::First, None) => self.url(&table.entity_set).map(|mut url| {
                    if !select.is_empty() {
                        url.query_pairs_mut().append_pair("$select", &select);
                    }
                    url
                }),
                (Cursor::Next(link), _) => self.next_link_url(&link),
            };
            let prefer = page_preferences(true, page_size, &annotations);
            async move {
                let response = self.get_page(table, url, prefer).await?;
                let what = format!("{} changes", table.entity_set);
                let body: ChangeBody<'_> = Error::decode_json(&what, &response.body)?;
                let changes = body
                    .value
                    .iter()
                    .map(|entry| change::<Map<String, Value>>(&what, entry))
                    .collect::<Result<Vec<Change<_>>>>()?;
                Ok(ChangePage {
                    changes,
                    next_link: body.next_link,
                    delta_link: body.delta_link.map(DeltaLink::new),
                })
            }
        })
    }
}

impl Client {
    /// One page's `GET`, with the preferences its pager worked out.
    async fn get_page(
        &self,
        table: &Table,
        url: Result<url::Url>,
        prefer: Result<Prefer>,
    ) -> Result<crate::client::Response> {
        let request = ApiRequest::at(Method::GET, url?, table.entity_set.clone()).prefer(prefer?);
        self.run(request).await
    }

    /// The environment's `$metadata` (CSDL XML), with the annotations Dataverse leaves out by
    /// default (`?annotations=true`: descriptions, read-only columns, alternate keys, change
    /// tracking), for tools that read a table's shape when they run.
    pub async fn metadata_document(&self) -> Result<String> {
        let request = ApiRequest::to_path(Method::GET, "$metadata?annotations=true", "$metadata")
            .header("Accept", "application/xml");
        let response = self.run(request).await?;
        String::from_utf8(response.body)
            .map_err(|e| Error::invalid_input(format!("$metadata is not UTF-8: {e}")))
    }
}

/// The preferences of every page of a run-time table's query or sync.
fn page_preferences(track_changes: bool, page_size: u32, annotations: &str) -> Result<Prefer> {
    Prefer::default()
        .track_changes(track_changes)
        .annotations(annotations.to_owned())
        .page_size(Some(page_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_paths() {
        let table = Table::new("accounts").unwrap();
        let id = Uuid::from_u128(1);
        assert_eq!(
            RecordKey::Id(id).path(&table),
            "accounts(00000000-0000-0000-0000-000000000001)"
        );
        let key = RecordKey::alternate(&[("accountnumber", &"O'Neil & Co" as &dyn Literal)]);
        assert!(key.is_err(), "`&` cannot go into a key URL");
        let key = RecordKey::alternate(&[
            ("accountnumber", &"A 1" as &dyn Literal),
            ("region", &7i32 as &dyn Literal),
        ])
        .unwrap();
        assert_eq!(key.path(&table), "accounts(accountnumber='A%201',region=7)");
        assert!(Table::new("accounts?x").is_err());
        assert!(RecordKey::alternate(&[]).is_err());
    }
}
