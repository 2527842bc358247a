//! One read per input file and compiler process, however many times the macro is used with it:
//! parsed metadata is kept by path and table selection (so each distinct selection reads the
//! file once, and after a few selections the whole document is read once for all of them),
//! choices documents by path, and both are reused while the file's modification time and size
//! are unchanged.
//!
//! Metadata is read only as far as the selected tables need (`Metadata::from_path_for_tables`):
//! the macro runs unoptimised inside the compiler, where reading every table of a large
//! document costs most of the expansion.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use dynamics_codegen::Error;
use dynamics_codegen::choices::Choices;
use dynamics_codegen::csdl::Metadata;

/// Modification time and size: what tells a changed file apart.
type Stamp = (Option<SystemTime>, u64);
type Cache<K, T> = Mutex<Option<HashMap<K, (Stamp, Arc<T>)>>>;

/// By file and the table names asked for, sorted.
static METADATA: Cache<(PathBuf, Vec<String>), Metadata> = Mutex::new(None);
static CHOICES: Cache<PathBuf, Choices> = Mutex::new(None);

/// Distinct selections of one document read table by table; past this many, the whole
/// document is read once (about four table-only reads' worth) and serves every selection.
const SELECTIONS_BEFORE_FULL: usize = 4;

/// The document at `path`, read for `tables`, from the cache when the file has not changed.
/// A whole document already read serves any selection.
pub(crate) fn load(path: &Path, tables: &[String]) -> Result<Arc<Metadata>, Error> {
    let all = vec!["*".to_owned()];
    let stamp = stamp(path)?;
    let (full, selections) = {
        let cache = METADATA.lock().unwrap_or_else(PoisonError::into_inner);
        let current = cache
            .iter()
            .flatten()
            .filter(|((p, _), (s, _))| p == path && *s == stamp);
        let mut full = None;
        let mut selections = 0;
        for ((_, selected), (_, metadata)) in current {
            match *selected == all {
                true => full = Some(Arc::clone(metadata)),
                false => selections += 1,
            }
        }
        (full, selections)
    };
    if let Some(full) = full {
        return Ok(full);
    }
    // Tried once: when the whole document does not read, selections go on alone.
    if selections == SELECTIONS_BEFORE_FULL {
        let whole = cached(&METADATA, stamp, (path.to_owned(), all), |(path, all)| {
            Metadata::from_path_for_tables(path, all)
        });
        // A mistake in a table no selection asked for is not this selection's: read its own.
        if whole.is_ok() {
            return whole;
        }
    }
    let mut tables = tables.to_vec();
    tables.sort();
    tables.dedup();
    cached(
        &METADATA,
        stamp,
        (path.to_owned(), tables),
        |(path, tables)| Metadata::from_path_for_tables(path, tables),
    )
}

/// Modification time and size of the file at `path`.
fn stamp(path: &Path) -> Result<Stamp, Error> {
    std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

/// The choices document at `path`, from the cache when the file has not changed.
pub(crate) fn load_choices(path: &Path) -> Result<Arc<Choices>, Error> {
    cached(&CHOICES, stamp(path)?, path.to_owned(), |path| {
        Choices::from_path(path)
    })
}

fn cached<K: Eq + Hash, T>(
    cache: &Cache<K, T>,
    stamp: Stamp,
    key: K,
    read: impl FnOnce(&K) -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    {
        let cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, value)) = cache.as_ref().and_then(|c| c.get(&key))
            && *cached == stamp
        {
            return Ok(Arc::clone(value));
        }
    }
    let value = Arc::new(read(&key)?);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .get_or_insert_with(HashMap::new)
        .insert(key, (stamp, Arc::clone(&value)));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.xml"
    );

    /// A copy of the sample under a path no other test uses (the cache is per process),
    /// with `edit` applied to its text.
    fn copy(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let text = std::fs::read_to_string(SAMPLE).expect("the sample metadata");
        let path = std::env::temp_dir().join(format!(
            "dynamics-macros-cache-{name}-{}.xml",
            std::process::id()
        ));
        std::fs::write(&path, edit(text)).expect("a temporary file");
        path
    }

    fn select(path: &Path, tables: &[&str]) -> Arc<Metadata> {
        let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
        load(path, &tables).expect("the selection reads")
    }

    #[test]
    fn after_a_few_selections_the_whole_document_serves_them_all() {
        let path = copy("whole", |text| text);
        // How many columns `new_project` has when its body is read, and when it is not.
        let columns = |m: &Metadata| {
            m.entity_type("new_project")
                .map_or(0, |t| t.properties.len())
        };
        let all = columns(&Metadata::from_path(&path).expect("the whole sample"));
        for tables in [["account"], ["contact"], ["task"], ["team"]] {
            let read = select(&path, &tables);
            assert!(columns(&read) < all, "a selection reads its tables only");
        }
        let fifth = select(&path, &["systemuser"]);
        assert_eq!(columns(&fifth), all, "the whole document");
        let sixth = select(&path, &["new_project"]);
        assert!(Arc::ptr_eq(&fifth, &sixth), "read once, then reused");
        let again = select(&path, &["account"]);
        assert!(Arc::ptr_eq(&fifth, &again));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_mistake_outside_every_selection_does_not_fail_one() {
        // A table no selection asks for names a type the document lacks.
        let path = copy("broken", |text| {
            text.replacen(
                "<EntityType Name=\"task\"",
                "<EntityType Name=\"broken\"><Key><PropertyRef Name=\"brokenid\"/></Key>\
                 <Property Name=\"brokenid\" Type=\"Edm.Guid\"/>\
                 <Property Name=\"bad\" Type=\"mscrm.nothing\"/></EntityType>\
                 <EntityType Name=\"task\"",
                1,
            )
        });
        for tables in [["account"], ["contact"], ["task"], ["team"], ["systemuser"]] {
            let read = select(&path, &tables);
            assert!(read.entity_type(tables[0]).is_some(), "{tables:?}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
