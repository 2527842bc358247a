//! The in-memory records: one table per entity set, each record with a version that makes its
//! weak ETag, plus the many-to-many links. One `RwLock` guards it all, so a `$batch` change set
//! can run under one write guard and roll back by restoring a snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};
use uuid::Uuid;

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

/// All records.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    sets: HashMap<String, HashMap<Uuid, Record>>,
    /// Many-to-many links: (navigation property, from, to), stored in both directions.
    links: BTreeSet<(String, Uuid, Uuid)>,
    next_version: u64,
    next_seq: u64,
}

impl Tables {
    fn bump(&mut self) -> u64 {
        // Dataverse versions are large row versions; start high so etags look alike.
        self.next_version += 1;
        1_000_000 + self.next_version
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
        self.sets
            .entry(set.to_owned())
            .or_default()
            .insert(id, record);
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
        let record = self.sets.get_mut(set)?.get_mut(id)?;
        record.version = version;
        let result = edit(record);
        stamp(&mut record.fields, version);
        Some(result)
    }

    pub(crate) fn remove(&mut self, set: &str, id: &Uuid) -> Option<Record> {
        let removed = self.sets.get_mut(set)?.remove(id)?;
        self.links.retain(|(_, a, b)| a != id && b != id);
        Some(removed)
    }

    /// Records of a set in creation order.
    pub(crate) fn rows(&self, set: &str) -> Vec<(Uuid, &Record)> {
        let mut rows: Vec<(Uuid, &Record)> = self
            .sets
            .get(set)
            .map(|m| m.iter().map(|(id, r)| (*id, r)).collect())
            .unwrap_or_default();
        rows.sort_by_key(|(_, r)| r.seq);
        rows
    }

    /// Every (set, id) whose lookup `property` holds `target`, for unlinking a deleted record.
    pub(crate) fn referencing(&self, target: &Uuid) -> Vec<(String, Uuid, String)> {
        let target = target.to_string();
        let mut found = Vec::new();
        for (set, rows) in &self.sets {
            for (id, record) in rows {
                for property in record.lookups.keys() {
                    if record.fields.get(property).and_then(Value::as_str) == Some(&target) {
                        found.push((set.clone(), *id, property.clone()));
                    }
                }
            }
        }
        found
    }

    pub(crate) fn link(&mut self, navigation: &str, from: Uuid, to: Uuid) {
        self.links.insert((navigation.to_owned(), from, to));
    }

    pub(crate) fn unlink(&mut self, navigation: &str, from: Uuid, to: Uuid) -> bool {
        self.links.remove(&(navigation.to_owned(), from, to))
    }

    pub(crate) fn linked(&self, navigation: &str, from: Uuid) -> Vec<Uuid> {
        self.links
            .iter()
            .filter(|(n, a, _)| n == navigation && *a == from)
            .map(|(_, _, b)| *b)
            .collect()
    }
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
}
