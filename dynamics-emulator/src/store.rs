//! The in-memory records: one table per entity set, each record with a version that makes its
//! weak ETag, plus the many-to-many links. One `RwLock` guards it all, so a `$batch` change set
//! or a deep insert runs under one write guard and, on failure, rolls back through an undo
//! journal of what it changed (never a copy of the whole store, which made large change sets
//! quadratic).
//!
//! Versions come from one counter for the whole store, so they also order every change in
//! time: change tracking reads the records whose version is newer than a delta token's, and
//! the tombstones a deletion leaves (set, id, the deletion's own version).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::odata::filter::comparable_json;
use crate::schema::Kind;

/// The alternate keys of one entity set, in the schema's order: each key's properties with
/// their kinds, which decide how values compare (text ignores case, dates compare as instants).
pub(crate) type AlternateKeys = Vec<Vec<(String, Option<Kind>)>>;

/// Entity set → the columns whose records [`Tables::find_text`] finds in one lookup. Unlike
/// alternate keys, several records may hold the same value.
pub(crate) type IndexedColumns = HashMap<String, Vec<String>>;

/// Which table a lookup points at, and through which navigation property it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LookupRef {
    pub(crate) logical_name: String,
    pub(crate) navigation: String,
}

/// One stored record.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    /// Property values by wire name, lookups as `_x_value` GUID strings.
    pub(crate) fields: Map<String, Value>,
    /// Bumped on every write; the weak ETag is this number.
    pub(crate) version: u64,
    /// Creation order, which is the default order of query results.
    pub(crate) seq: u64,
    /// `_x_value` → the table and navigation property behind it.
    pub(crate) lookups: HashMap<String, LookupRef>,
}

impl Record {
    pub(crate) fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// The records of one entity set, kept in creation order so a query reads them without
/// sorting.
#[derive(Debug, Default)]
struct Set {
    /// One slot per record ever stored, by creation order: (the record's `seq`, its id, the
    /// record, or `None` once it is deleted or its creation undone). Slots are never removed,
    /// so an undone deletion puts the record back in its place.
    slots: Vec<(u64, Uuid, Option<Record>)>,
    /// Record id → its slot, for every record the set holds.
    ids: HashMap<Uuid, usize>,
}

impl Set {
    fn get(&self, id: &Uuid) -> Option<&Record> {
        let (_, held, record) = self.slots.get(*self.ids.get(id)?)?;
        record.as_ref().filter(|_| held == id)
    }

    fn get_mut(&mut self, id: &Uuid) -> Option<&mut Record> {
        let (_, held, record) = self.slots.get_mut(*self.ids.get(id)?)?;
        record.as_mut().filter(|_| held == id)
    }

    /// The records, oldest first.
    fn records(&self) -> impl Iterator<Item = (Uuid, &Record)> {
        self.slots
            .iter()
            .filter_map(|(_, id, record)| Some((*id, record.as_ref()?)))
    }

    /// Puts `record` in the slot of its creation order as record `id`, and returns the record
    /// `id` was before.
    fn insert(&mut self, id: Uuid, record: Record) -> Option<Record> {
        let before = self.remove(&id);
        let seq = record.seq;
        let slot = match self.slots.binary_search_by_key(&seq, |(seq, _, _)| *seq) {
            Ok(slot) => {
                if let Some(held) = self.slots.get_mut(slot) {
                    *held = (seq, id, Some(record));
                }
                slot
            }
            Err(slot) if slot == self.slots.len() => {
                self.slots.push((seq, id, Some(record)));
                slot
            }
            // Not reached: a new record is the newest, an undone one has its slot. Kept
            // correct anyway, at the cost of renumbering the slots after it.
            Err(slot) => {
                self.slots.insert(slot, (seq, id, Some(record)));
                for (number, (_, held, record)) in self.slots.iter().enumerate().skip(slot) {
                    if record.is_some() {
                        self.ids.insert(*held, number);
                    }
                }
                slot
            }
        };
        self.ids.insert(id, slot);
        before
    }

    /// Empties the slot of record `id`, returning the record.
    fn remove(&mut self, id: &Uuid) -> Option<Record> {
        let slot = self.ids.remove(id)?;
        self.slots.get_mut(slot)?.2.take()
    }
}

/// All records.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    sets: HashMap<String, Set>,
    /// Many-to-many links, by the record they start from: (from, navigation property, to).
    /// Each is stored in both directions, as two links.
    links: BTreeSet<(Uuid, String, Uuid)>,
    /// The same links by the record they end at: (to, navigation property, from), so a
    /// deletion finds the links into its record without reading every link.
    backlinks: BTreeSet<(Uuid, String, Uuid)>,
    next_version: u64,
    next_seq: u64,
    /// While [`Tables::atomically`] runs: how to undo each change, oldest first.
    journal: Option<Vec<Undo>>,
    /// Entity set → id of a deleted record → the version its (last) deletion took. Kept for
    /// the life of the store: a delta token of any age still learns of every deletion.
    tombstones: HashMap<String, HashMap<Uuid, u64>>,
    /// Entity set → its alternate keys, as declared by [`Store::new`].
    alternate_keys: Arc<HashMap<String, AlternateKeys>>,
    /// Entity set → key number → the key's value on each record that has it → that record.
    /// Kept up to date by every write, so a uniqueness check is one lookup, not a scan. Keyed
    /// by set first, so a lookup borrows the set's name instead of building a key.
    key_index: HashMap<String, Vec<HashMap<String, Uuid>>>,
    /// Entity set → its indexed columns, as declared by [`Store::new`].
    indexed: Arc<IndexedColumns>,
    /// Entity set → indexed column number → that column's index. Kept up to date by every
    /// write, as the key index is.
    text_index: HashMap<String, Vec<TextIndex>>,
    /// Id a lookup points at → each record whose lookup holds it → that record's (entity set,
    /// lookup property) pairs. Kept up to date by every write, so a delete finds the lookups to
    /// clear without reading every record.
    references: HashMap<Uuid, BTreeMap<Uuid, Vec<(String, String)>>>,
}

/// One indexed column: each text value, ASCII-lowercased → the records holding it, by creation
/// order.
type TextIndex = HashMap<String, BTreeMap<u64, Uuid>>;

/// What the indexes hold for one record.
#[derive(Debug, Default)]
struct Entries {
    /// (alternate key number, the key's value).
    keys: Vec<(usize, String)>,
    /// (indexed column number, its text ASCII-lowercased).
    texts: Vec<(usize, String)>,
    /// The record's creation order, which orders the text index.
    seq: u64,
    /// (the id a lookup holds, that lookup's property).
    references: Vec<(Uuid, String)>,
}

/// A many-to-many link: (navigation property, from, to).
type Link = (String, Uuid, Uuid);

/// How to take one change back.
#[derive(Debug)]
enum Undo {
    /// Put back what a record slot held before (`None`: it was empty).
    Restore(String, Uuid, Option<Record>),
    /// Remove a link that was added: (navigation property, from, to).
    Unlink(Link),
    /// Add back a link that was removed.
    Relink(Link),
    /// Put back the tombstone a deletion replaced (`None`: there was none).
    Tombstone(String, Uuid, Option<u64>),
}

/// Versions start above this, so ETags look like Dataverse's large row versions; a store
/// with no change yet is at this version.
pub(crate) const FIRST_VERSION: u64 = 1_000_000;

impl Tables {
    fn bump(&mut self) -> u64 {
        self.next_version += 1;
        self.change_version()
    }

    /// The version of the latest change (or [`FIRST_VERSION`] before any): every
    /// record and tombstone has a version at most this, and every later change a higher one.
    /// A rolled-back change keeps the versions it took, unused.
    pub(crate) fn change_version(&self) -> u64 {
        FIRST_VERSION + self.next_version
    }

    /// The records of `set` created or changed after version `after`, up to version `upto`,
    /// oldest change first.
    pub(crate) fn changed_between(&self, set: &str, after: u64, upto: u64) -> Vec<(Uuid, &Record)> {
        let mut rows: Vec<(Uuid, &Record)> = self
            .sets
            .get(set)
            .into_iter()
            .flat_map(Set::records)
            .filter(|(_, r)| r.version > after && r.version <= upto)
            .collect();
        rows.sort_by_key(|(_, r)| r.version);
        rows
    }

    /// The ids of `set` deleted after version `after`, up to version `upto`, with the version
    /// of their deletion, oldest first; a record that exists again (created anew with the same
    /// id) is left out, since it reads as created.
    pub(crate) fn deleted_between(&self, set: &str, after: u64, upto: u64) -> Vec<(Uuid, u64)> {
        let mut gone: Vec<(Uuid, u64)> = self
            .tombstones
            .get(set)
            .into_iter()
            .flatten()
            .filter(|(id, v)| **v > after && **v <= upto && !self.contains(set, id))
            .map(|(id, v)| (*id, *v))
            .collect();
        gone.sort_by_key(|(_, v)| *v);
        gone
    }

    /// The value of alternate key number `key` of `set` in `fields`, in a form where equal keys
    /// are equal strings; `None` unless every part has a non-null value.
    fn key_value(&self, set: &str, key: usize, fields: &Map<String, Value>) -> Option<String> {
        let parts = self.alternate_keys.get(set)?.get(key)?;
        let mut value = String::new();
        for (property, kind) in parts {
            let part = fields.get(property).filter(|v| !v.is_null())?;
            let _ = write!(value, "{:?}\u{1f}", comparable_json(part, *kind));
        }
        Some(value)
    }

    /// The record whose alternate key number `key` has the value it has in `fields`.
    pub(crate) fn key_lookup(
        &self,
        set: &str,
        key: usize,
        fields: &Map<String, Value>,
    ) -> Option<Uuid> {
        let index = self.key_index.get(set)?.get(key)?;
        index.get(&self.key_value(set, key, fields)?).copied()
    }

    /// Like [`Tables::key_lookup`], but a record other than `except`.
    pub(crate) fn key_holder(
        &self,
        set: &str,
        key: usize,
        fields: &Map<String, Value>,
        except: Uuid,
    ) -> Option<Uuid> {
        self.key_lookup(set, key, fields)
            .filter(|holder| *holder != except)
    }

    /// The records of `set` whose indexed `column` holds the text `value` (ASCII case
    /// ignored), oldest first; none when the column is not indexed.
    pub(crate) fn find_text<'t>(
        &'t self,
        set: &'t str,
        column: &str,
        value: &str,
    ) -> impl Iterator<Item = (Uuid, &'t Record)> + 't {
        let holders = self
            .indexed
            .get(set)
            .and_then(|columns| columns.iter().position(|c| c == column))
            .and_then(|number| self.text_index.get(set)?.get(number))
            .and_then(|index| index.get(&value.to_ascii_lowercase()));
        holders
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter_map(move |id| Some((*id, self.get(set, id)?)))
    }

    /// What the indexes hold for `record` of `set`.
    fn entries(&self, set: &str, record: &Record) -> Entries {
        let keys = self.alternate_keys.get(set).map_or(0, Vec::len);
        let texts = self
            .indexed
            .get(set)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(number, column)| {
                let text = record.fields.get(column)?.as_str()?;
                Some((number, text.to_ascii_lowercase()))
            })
            .collect();
        Entries {
            keys: (0..keys)
                .filter_map(|key| Some((key, self.key_value(set, key, &record.fields)?)))
                .collect(),
            texts,
            seq: record.seq,
            references: record
                .lookups
                .keys()
                .filter_map(|property| {
                    let value = record.fields.get(property)?.as_str()?;
                    Some((lookup_target(value)?, property.clone()))
                })
                .collect(),
        }
    }

    /// Puts `record` in the slot of `id` (or empties it) and returns what it held, keeping the
    /// indexes in step. Every insert, removal and undo goes through here; `update` edits in
    /// place and reindexes itself.
    fn put(&mut self, set: &str, id: Uuid, record: Option<Record>) -> Option<Record> {
        let before = match record {
            Some(record) => self
                .sets
                .entry(set.to_owned())
                .or_default()
                .insert(id, record),
            None => self.sets.get_mut(set).and_then(|rows| rows.remove(&id)),
        };
        let old = match &before {
            Some(before) => self.entries(set, before),
            None => Entries::default(),
        };
        self.reindex(set, id, old);
        before
    }

    /// Moves the index entries of record `id` from `old` to the ones it has now.
    fn reindex(&mut self, set: &str, id: Uuid, old: Entries) {
        if let Some(indexes) = self.key_index.get_mut(set) {
            for (key, value) in old.keys {
                if let Some(index) = indexes.get_mut(key)
                    && index.get(&value) == Some(&id)
                {
                    index.remove(&value);
                }
            }
        }
        if let Some(indexes) = self.text_index.get_mut(set) {
            for (number, value) in old.texts {
                let Some(index) = indexes.get_mut(number) else {
                    continue;
                };
                if let Some(holders) = index.get_mut(&value)
                    && holders.get(&old.seq) == Some(&id)
                {
                    holders.remove(&old.seq);
                    if holders.is_empty() {
                        index.remove(&value);
                    }
                }
            }
        }
        for (target, _) in old.references {
            if let Some(holders) = self.references.get_mut(&target) {
                if let Some(properties) = holders.get_mut(&id) {
                    properties.retain(|(holder, _)| holder != set);
                    if properties.is_empty() {
                        holders.remove(&id);
                    }
                }
                if holders.is_empty() {
                    self.references.remove(&target);
                }
            }
        }
        let Some(new) = self.get(set, &id).map(|record| self.entries(set, record)) else {
            return;
        };
        for (target, property) in new.references {
            self.references
                .entry(target)
                .or_default()
                .entry(id)
                .or_default()
                .push((set.to_owned(), property));
        }
        if let Some(indexes) = self.key_index.get_mut(set) {
            for (key, value) in new.keys {
                if let Some(index) = indexes.get_mut(key) {
                    index.insert(value, id);
                }
            }
        }
        if let Some(indexes) = self.text_index.get_mut(set) {
            for (number, value) in new.texts {
                if let Some(index) = indexes.get_mut(number) {
                    index.entry(value).or_default().insert(new.seq, id);
                }
            }
        }
    }

    /// Runs `change`; when it fails, every change it made is undone. Nests: an inner failure
    /// undoes only the inner changes.
    pub(crate) fn atomically<T, E>(
        &mut self,
        change: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let outermost = self.journal.is_none();
        let mark = self.journal.get_or_insert_with(Vec::new).len();
        let result = change(self);
        if result.is_err() {
            self.undo_to(mark);
        }
        if outermost {
            self.journal = None;
        }
        result
    }

    fn undo_to(&mut self, mark: usize) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let undo: Vec<Undo> = journal.drain(mark..).rev().collect();
        for step in undo {
            match step {
                Undo::Restore(set, id, record) => {
                    self.put(&set, id, record);
                }
                Undo::Unlink(link) => {
                    self.drop_link(link);
                }
                Undo::Relink(link) => {
                    self.add_link(link);
                }
                Undo::Tombstone(set, id, before) => {
                    let tombstones = self.tombstones.entry(set).or_default();
                    match before {
                        Some(version) => tombstones.insert(id, version),
                        None => tombstones.remove(&id),
                    };
                }
            }
        }
    }

    fn record_undo(&mut self, undo: impl FnOnce() -> Undo) {
        if let Some(journal) = self.journal.as_mut() {
            journal.push(undo());
        }
    }

    pub(crate) fn get(&self, set: &str, id: &Uuid) -> Option<&Record> {
        self.sets.get(set)?.get(id)
    }

    pub(crate) fn contains(&self, set: &str, id: &Uuid) -> bool {
        self.get(set, id).is_some()
    }

    /// Stores a new record and returns its version.
    pub(crate) fn insert(
        &mut self,
        set: &str,
        id: Uuid,
        fields: Map<String, Value>,
        lookups: HashMap<String, LookupRef>,
    ) -> u64 {
        let version = self.bump();
        self.next_seq += 1;
        let mut fields = fields;
        stamp(&mut fields, version);
        let record = Record {
            fields,
            version,
            seq: self.next_seq,
            lookups,
        };
        let before = self.put(set, id, Some(record));
        self.record_undo(|| Undo::Restore(set.to_owned(), id, before));
        version
    }

    /// Edits a record and gives it a new version; `None` when it does not exist.
    pub(crate) fn update<R>(
        &mut self,
        set: &str,
        id: &Uuid,
        edit: impl FnOnce(&mut Record) -> R,
    ) -> Option<R> {
        let version = self.bump();
        let old = self.entries(set, self.get(set, id)?);
        let record = self.sets.get_mut(set)?.get_mut(id)?;
        // Edited in place: a copy only when the change may have to be undone.
        if let Some(journal) = self.journal.as_mut() {
            journal.push(Undo::Restore(set.to_owned(), *id, Some(record.clone())));
        }
        record.version = version;
        let result = edit(record);
        stamp(&mut record.fields, version);
        self.reindex(set, *id, old);
        Some(result)
    }

    /// Removes a record, leaving a tombstone with a new version for change tracking.
    pub(crate) fn remove(&mut self, set: &str, id: &Uuid) -> Option<Record> {
        let removed = self.put(set, *id, None)?;
        self.record_undo(|| Undo::Restore(set.to_owned(), *id, Some(removed.clone())));
        let version = self.bump();
        let before = self
            .tombstones
            .entry(set.to_owned())
            .or_default()
            .insert(*id, version);
        self.record_undo(|| Undo::Tombstone(set.to_owned(), *id, before));
        let start = (*id, String::new(), Uuid::nil());
        let from = self.links.range(start.clone()..);
        let to = self.backlinks.range(start..);
        let unlinked: BTreeSet<Link> = from
            .take_while(|(a, _, _)| a == id)
            .map(|(a, navigation, b)| (navigation.clone(), *a, *b))
            .chain(
                to.take_while(|(b, _, _)| b == id)
                    .map(|(b, navigation, a)| (navigation.clone(), *a, *b)),
            )
            .collect();
        for link in unlinked {
            if self.drop_link(link.clone()) {
                self.record_undo(|| Undo::Relink(link));
            }
        }
        Some(removed)
    }

    /// Records of a set in creation order.
    pub(crate) fn rows(&self, set: &str) -> Vec<(Uuid, &Record)> {
        self.sets
            .get(set)
            .map(|rows| rows.records().collect())
            .unwrap_or_default()
    }

    /// Every (set, id) whose lookup `property` holds `target`, for unlinking a deleted record.
    pub(crate) fn referencing(&self, target: &Uuid) -> Vec<(String, Uuid, String)> {
        self.references
            .get(target)
            .into_iter()
            .flatten()
            .flat_map(|(id, properties)| {
                properties
                    .iter()
                    .map(|(set, property)| (set.clone(), *id, property.clone()))
            })
            .collect()
    }

    /// Adds a link to both link sets; false when it was there already.
    fn add_link(&mut self, (navigation, from, to): Link) -> bool {
        self.backlinks.insert((to, navigation.clone(), from));
        self.links.insert((from, navigation, to))
    }

    /// Removes a link from both link sets; false when it was not there.
    fn drop_link(&mut self, (navigation, from, to): Link) -> bool {
        self.backlinks.remove(&(to, navigation.clone(), from));
        self.links.remove(&(from, navigation, to))
    }

    pub(crate) fn link(&mut self, navigation: &str, from: Uuid, to: Uuid) {
        let link = (navigation.to_owned(), from, to);
        if self.add_link(link.clone()) {
            self.record_undo(|| Undo::Unlink(link));
        }
    }

    pub(crate) fn unlink(&mut self, navigation: &str, from: Uuid, to: Uuid) -> bool {
        let link = (navigation.to_owned(), from, to);
        let removed = self.drop_link(link.clone());
        if removed {
            self.record_undo(|| Undo::Relink(link));
        }
        removed
    }

    /// The records `from` links to through `navigation`, in id order.
    pub(crate) fn linked(&self, navigation: &str, from: Uuid) -> Vec<Uuid> {
        self.links
            .range((from, navigation.to_owned(), Uuid::nil())..)
            .take_while(|(a, n, _)| *a == from && n == navigation)
            .map(|(_, _, b)| *b)
            .collect()
    }
}

/// The id a lookup's value names, when it is written as ids are stored (hyphenated, lower
/// case): a lookup holding any other text points at no record.
fn lookup_target(value: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(value).ok()?;
    let mut canonical = [0; uuid::fmt::Hyphenated::LENGTH];
    (&*id.hyphenated().encode_lower(&mut canonical) == value).then_some(id)
}

/// `versionnumber` is the row version, where the table has it.
fn stamp(fields: &mut Map<String, Value>, version: u64) {
    if let Some(value) = fields.get_mut("versionnumber") {
        *value = Value::from(version);
    }
}

/// The store shared by all requests.
#[derive(Debug, Default)]
pub(crate) struct Store {
    tables: RwLock<Tables>,
}

impl Store {
    /// An empty store that keeps each entity set's alternate keys unique and indexes the
    /// `indexed` columns.
    pub(crate) fn new(
        alternate_keys: HashMap<String, AlternateKeys>,
        indexed: IndexedColumns,
    ) -> Self {
        // Every index exists from the start, so writes and lookups never add a set's name.
        let key_index = alternate_keys
            .iter()
            .map(|(set, keys)| (set.clone(), vec![HashMap::new(); keys.len()]))
            .collect();
        let text_index = indexed
            .iter()
            .map(|(set, columns)| (set.clone(), vec![HashMap::new(); columns.len()]))
            .collect();
        let tables = Tables {
            alternate_keys: Arc::new(alternate_keys),
            key_index,
            indexed: Arc::new(indexed),
            text_index,
            ..Tables::default()
        };
        Self {
            tables: RwLock::new(tables),
        }
    }

    // A panicking request cannot leave the tables half-written: writes finish before any
    // fallible step or are rolled back by their change set, so poisoning is ignored.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_change_on_every_write() {
        let mut tables = Tables::default();
        let id = Uuid::new_v4();
        let v1 = tables.insert("accounts", id, Map::new(), HashMap::new());
        let v2 = tables
            .update("accounts", &id, |r| r.version)
            .unwrap_or_default();
        assert_ne!(v1, v2);
        assert!(tables.update("accounts", &Uuid::new_v4(), |_| ()).is_none());
        assert_eq!(tables.rows("accounts").len(), 1);
        tables.link("n", id, id);
        assert_eq!(tables.linked("n", id), vec![id]);
        assert!(tables.remove("accounts", &id).is_some());
        assert!(tables.linked("n", id).is_empty());
    }

    fn fields(name: &str) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), Value::from(name));
        fields
    }

    fn names(tables: &Tables) -> Vec<String> {
        tables
            .rows("accounts")
            .into_iter()
            .map(|(_, r)| r.fields["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn a_failed_change_is_undone_in_full() {
        let mut tables = Tables::default();
        let (kept, edited, removed) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        tables.insert("accounts", kept, fields("kept"), HashMap::new());
        tables.insert("accounts", edited, fields("edited"), HashMap::new());
        tables.insert("accounts", removed, fields("removed"), HashMap::new());
        tables.link("n", kept, removed);
        tables.link("n", removed, kept);
        let before = names(&tables);

        let outcome: Result<(), &str> = tables.atomically(|t| {
            t.insert("accounts", Uuid::new_v4(), fields("new"), HashMap::new());
            t.update("accounts", &edited, |r| {
                r.fields.insert("name".into(), Value::from("changed"))
            });
            t.remove("accounts", &removed);
            t.link("n", kept, edited);
            t.unlink("n", kept, removed);
            Err("fails last")
        });

        assert_eq!(outcome, Err("fails last"));
        assert_eq!(names(&tables), before);
        assert_eq!(tables.linked("n", kept), vec![removed]);
        assert_eq!(tables.linked("n", removed), vec![kept]);
        assert!(tables.journal.is_none());
    }

    #[test]
    fn the_key_index_follows_every_write_and_every_undo() {
        let keys = HashMap::from([("accounts".to_owned(), vec![vec![("name".to_owned(), None)]])]);
        let store = Store::new(keys, IndexedColumns::new());
        let mut tables = store.write();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        tables.insert("accounts", a, fields("Contoso"), HashMap::new());
        let holder = |t: &Tables, name: &str| t.key_holder("accounts", 0, &fields(name), b);
        // Text keys ignore case, as Dataverse's do.
        assert_eq!(holder(&tables, "CONTOSO"), Some(a));
        assert_eq!(
            tables.key_holder("accounts", 0, &fields("Contoso"), a),
            None
        );

        tables.update("accounts", &a, |r| {
            r.fields.insert("name".into(), Value::from("Fabrikam"))
        });
        assert_eq!(holder(&tables, "Contoso"), None);
        assert_eq!(holder(&tables, "fabrikam"), Some(a));

        let failed: Result<(), ()> = tables.atomically(|t| {
            t.remove("accounts", &a);
            t.insert("accounts", b, fields("Fabrikam"), HashMap::new());
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(holder(&tables, "Fabrikam"), Some(a));
        assert!(tables.get("accounts", &b).is_none());

        tables.remove("accounts", &a);
        assert_eq!(holder(&tables, "Fabrikam"), None);
    }

    #[test]
    fn the_text_index_follows_every_write_and_every_undo() {
        let indexed = IndexedColumns::from([("users".to_owned(), vec!["appid".to_owned()])]);
        let store = Store::new(HashMap::new(), indexed);
        let mut tables = store.write();
        let app = |value: &str| {
            let mut fields = Map::new();
            fields.insert("appid".into(), Value::from(value));
            fields
        };
        let found = |t: &Tables, value: &str| -> Vec<Uuid> {
            t.find_text("users", "appid", value)
                .map(|(id, _)| id)
                .collect()
        };
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        tables.insert("users", a, app("App-1"), HashMap::new());
        tables.insert("users", b, app("app-2"), HashMap::new());
        tables.insert("users", c, app("APP-1"), HashMap::new());
        // ASCII case is ignored; holders come oldest first.
        assert_eq!(found(&tables, "app-1"), [a, c]);
        assert!(tables.find_text("users", "other", "app-1").next().is_none());
        assert!(
            tables
                .find_text("nosuch", "appid", "app-1")
                .next()
                .is_none()
        );

        tables.update("users", &a, |r| {
            r.fields.insert("appid".into(), Value::from("app-2"))
        });
        assert_eq!(found(&tables, "App-1"), [c]);
        assert_eq!(found(&tables, "APP-2"), [a, b]);
        tables.update("users", &b, |r| {
            r.fields.insert("appid".into(), Value::Null)
        });
        assert_eq!(found(&tables, "app-2"), [a]);

        let failed: Result<(), ()> = tables.atomically(|t| {
            t.remove("users", &c);
            t.update("users", &a, |r| {
                r.fields.insert("appid".into(), Value::from("app-3"))
            });
            t.insert("users", Uuid::new_v4(), app("app-1"), HashMap::new());
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(found(&tables, "app-1"), [c]);
        assert_eq!(found(&tables, "app-2"), [a]);
        assert!(found(&tables, "app-3").is_empty());

        tables.remove("users", &c);
        assert!(found(&tables, "app-1").is_empty());
    }

    #[test]
    fn creation_order_follows_every_write_and_every_undo() {
        let mut tables = Tables::default();
        let ids = |t: &Tables| {
            t.rows("accounts")
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>()
        };
        let (a, b, c, d) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        for id in [a, b, c] {
            tables.insert("accounts", id, fields("x"), HashMap::new());
        }
        tables.update("accounts", &a, |r| {
            r.fields.insert("name".into(), Value::from("edited"))
        });
        assert_eq!(ids(&tables), [a, b, c], "an update keeps the place");

        let failed: Result<(), ()> = tables.atomically(|t| {
            t.remove("accounts", &b);
            t.insert("accounts", d, fields("d"), HashMap::new());
            t.update("accounts", &c, |_| ());
            t.remove("accounts", &c);
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(
            ids(&tables),
            [a, b, c],
            "undone deletes take their place back"
        );

        tables.remove("accounts", &b);
        assert_eq!(ids(&tables), [a, c]);
        // Created again with the same id: once, and last.
        tables.insert("accounts", b, fields("b again"), HashMap::new());
        tables.insert("accounts", a, fields("a again"), HashMap::new());
        assert_eq!(ids(&tables), [c, b, a]);
        assert!(tables.rows("contacts").is_empty());
    }

    #[test]
    fn a_set_keeps_creation_order_whatever_order_records_come_back_in() {
        let record = |seq: u64| Record {
            fields: Map::new(),
            version: seq,
            seq,
            lookups: HashMap::new(),
        };
        let mut set = Set::default();
        let ids = [
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        ];
        for (seq, id) in [(4, ids[3]), (1, ids[0]), (3, ids[2]), (2, ids[1])] {
            assert!(set.insert(id, record(seq)).is_none());
        }
        let order = |set: &Set| set.records().map(|(id, r)| (id, r.seq)).collect::<Vec<_>>();
        assert_eq!(
            order(&set),
            ids.iter().copied().zip(1..).collect::<Vec<_>>()
        );
        for (seq, id) in (1..).zip(ids) {
            assert_eq!(set.get(&id).map(|r| r.seq), Some(seq));
        }
        assert_eq!(set.remove(&ids[1]).map(|r| r.seq), Some(2));
        assert!(set.get(&ids[1]).is_none() && set.remove(&ids[1]).is_none());
        // Back in its place, and a record stored again under its id moves to its new place.
        assert!(set.insert(ids[1], record(2)).is_none());
        assert_eq!(set.insert(ids[0], record(5)).map(|r| r.seq), Some(1));
        assert_eq!(
            order(&set),
            [(ids[1], 2), (ids[2], 3), (ids[3], 4), (ids[0], 5)]
        );
        if let Some(r) = set.get_mut(&ids[2]) {
            r.version = 9;
        }
        assert_eq!(set.get(&ids[2]).map(|r| r.version), Some(9));
    }

    /// A record whose lookup `property` holds `target` (as written, not necessarily an id).
    fn referring(property: &str, target: &str) -> (Map<String, Value>, HashMap<String, LookupRef>) {
        let mut fields = fields("referring");
        fields.insert(property.into(), Value::from(target));
        let lookup = LookupRef {
            logical_name: "account".into(),
            navigation: "nav".into(),
        };
        (fields, HashMap::from([(property.to_owned(), lookup)]))
    }

    fn referrers(tables: &Tables, target: Uuid) -> Vec<(String, Uuid, String)> {
        let mut found = tables.referencing(&target);
        found.sort();
        found
    }

    #[test]
    fn the_reference_index_follows_every_write_and_every_undo() {
        let mut tables = Tables::default();
        let (account, other, contact, task) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let parent = "_parentcustomerid_value";
        let regarding = "_regardingobjectid_value";
        let of = |set: &str, id: Uuid, property: &str| (set.to_owned(), id, property.to_owned());
        let (f, l) = referring(parent, &account.to_string());
        tables.insert("contacts", contact, f, l);
        let (f, l) = referring(regarding, &account.to_string());
        tables.insert("tasks", task, f, l);
        // Held as text but not as ids are written, or in a column that is not a lookup.
        let (f, l) = referring(parent, &account.to_string().to_uppercase());
        tables.insert("contacts", Uuid::new_v4(), f, l);
        let mut plain = fields("plain");
        plain.insert(parent.into(), Value::from(account.to_string()));
        tables.insert("contacts", Uuid::new_v4(), plain, HashMap::new());
        assert_eq!(
            referrers(&tables, account),
            [
                of("contacts", contact, parent),
                of("tasks", task, regarding)
            ]
        );

        tables.update("contacts", &contact, |r| {
            r.fields
                .insert(parent.into(), Value::from(other.to_string()))
        });
        assert_eq!(referrers(&tables, account), [of("tasks", task, regarding)]);
        assert_eq!(referrers(&tables, other), [of("contacts", contact, parent)]);

        let failed: Result<(), ()> = tables.atomically(|t| {
            t.remove("tasks", &task);
            t.update("contacts", &contact, |r| {
                r.fields.insert(parent.into(), Value::Null);
                r.lookups.remove(parent);
            });
            let (f, l) = referring(regarding, &other.to_string());
            t.insert("tasks", Uuid::new_v4(), f, l);
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(referrers(&tables, account), [of("tasks", task, regarding)]);
        assert_eq!(referrers(&tables, other), [of("contacts", contact, parent)]);

        tables.remove("tasks", &task);
        tables.update("contacts", &contact, |r| {
            r.fields.insert(parent.into(), Value::Null)
        });
        assert!(referrers(&tables, account).is_empty());
        assert!(referrers(&tables, other).is_empty());
        assert!(tables.references.is_empty(), "no empty entries are left");
    }

    /// Whether the links by end are exactly the links by start, reversed.
    fn mirrored(tables: &Tables) -> bool {
        let reversed: BTreeSet<_> = tables
            .links
            .iter()
            .map(|(from, navigation, to)| (*to, navigation.clone(), *from))
            .collect();
        reversed == tables.backlinks
    }

    #[test]
    fn links_are_found_from_either_end_after_every_write_and_every_undo() {
        let mut tables = Tables::default();
        let mut ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        ids.sort();
        let [a, b, c] = ids;
        for id in ids {
            tables.insert("accounts", id, fields("x"), HashMap::new());
        }
        // One direction only, as a navigation without a partner stores them.
        tables.link("n", a, c);
        tables.link("n", a, b);
        tables.link("m", a, b);
        tables.link("n", c, a);
        assert_eq!(tables.linked("n", a), [b, c]);
        assert_eq!(tables.linked("m", a), [b]);
        assert!(tables.linked("n", b).is_empty());
        assert!(tables.linked("o", a).is_empty());

        let failed: Result<(), ()> = tables.atomically(|t| {
            t.remove("accounts", &b);
            t.unlink("n", c, a);
            t.link("n", b, c);
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(tables.linked("n", a), [b, c]);
        assert_eq!(tables.linked("m", a), [b]);
        assert_eq!(tables.linked("n", c), [a]);
        assert!(tables.linked("n", b).is_empty());
        assert!(mirrored(&tables));

        // Links into a deleted record go, though only the other end names them.
        tables.remove("accounts", &b);
        assert_eq!(tables.linked("n", a), [c]);
        assert!(tables.linked("m", a).is_empty());
        assert!(tables.unlink("n", a, c));
        assert!(!tables.unlink("n", a, c));
        tables.remove("accounts", &a);
        assert!(tables.linked("n", c).is_empty());
        assert!(tables.links.is_empty() && tables.backlinks.is_empty());
    }

    #[test]
    fn changes_and_deletions_come_in_version_order_between_two_versions() {
        let mut tables = Tables::default();
        let start = tables.change_version();
        assert_eq!(start, FIRST_VERSION);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        tables.insert("accounts", a, fields("a"), HashMap::new());
        tables.insert("accounts", b, fields("b"), HashMap::new());
        let middle = tables.change_version();
        tables.insert("accounts", c, fields("c"), HashMap::new());
        tables.update("accounts", &a, |_| ());
        let ids =
            |rows: Vec<(Uuid, &Record)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        let now = tables.change_version();
        assert_eq!(
            ids(tables.changed_between("accounts", start, now)),
            [b, c, a]
        );
        assert_eq!(ids(tables.changed_between("accounts", middle, now)), [c, a]);
        assert_eq!(ids(tables.changed_between("accounts", start, middle)), [b]);
        assert!(tables.changed_between("contacts", start, now).is_empty());

        tables.remove("accounts", &c);
        tables.remove("accounts", &b);
        let deleted = tables.change_version();
        let gone = tables.deleted_between("accounts", now, deleted);
        assert_eq!(gone.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [c, b]);
        assert!(gone[0].1 > now && gone[1].1 == deleted);
        assert!(
            tables
                .deleted_between("accounts", deleted, deleted)
                .is_empty()
        );
        assert!(tables.deleted_between("accounts", start, now).is_empty());
        // Created again with the same id: it reads as created, not deleted.
        tables.insert("accounts", b, fields("b again"), HashMap::new());
        let again = tables.change_version();
        assert_eq!(tables.deleted_between("accounts", now, again).len(), 1);
        assert_eq!(ids(tables.changed_between("accounts", deleted, again)), [b]);
    }

    #[test]
    fn a_failed_change_leaves_no_change_and_no_tombstone() {
        let mut tables = Tables::default();
        let (kept, edited) = (Uuid::new_v4(), Uuid::new_v4());
        tables.insert("accounts", kept, fields("kept"), HashMap::new());
        tables.insert("accounts", edited, fields("edited"), HashMap::new());
        let before = tables.change_version();
        let failed: Result<(), ()> = tables.atomically(|t| {
            t.insert("accounts", Uuid::new_v4(), fields("new"), HashMap::new());
            t.update("accounts", &edited, |_| ());
            t.remove("accounts", &kept);
            Err(())
        });
        assert!(failed.is_err());
        let now = tables.change_version();
        assert!(
            now > before,
            "versions taken by the failed change are not reused"
        );
        assert!(tables.changed_between("accounts", before, now).is_empty());
        assert!(tables.deleted_between("accounts", before, now).is_empty());
        assert!(
            tables
                .tombstones
                .get("accounts")
                .is_none_or(HashMap::is_empty)
        );
    }

    #[test]
    fn a_nested_failure_undoes_only_its_own_changes() {
        let mut tables = Tables::default();
        let outcome: Result<(), ()> = tables.atomically(|t| {
            t.insert("accounts", Uuid::new_v4(), fields("outer"), HashMap::new());
            let inner: Result<(), ()> = t.atomically(|t| {
                t.insert("accounts", Uuid::new_v4(), fields("inner"), HashMap::new());
                Err(())
            });
            assert!(inner.is_err());
            Ok(())
        });
        assert!(outcome.is_ok());
        assert_eq!(names(&tables), ["outer"]);
    }
}
