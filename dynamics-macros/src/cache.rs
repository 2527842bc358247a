//! One read per input file and compiler process, however many times the macro is used with it:
//! parsed metadata is kept by path and table selection (so each distinct selection reads the
//! file once), choices documents by path, and both are reused while the file's modification
//! time and size are unchanged.
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

/// The document at `path`, read for `tables`, from the cache when the file has not changed.
pub(crate) fn load(path: &Path, tables: &[String]) -> Result<Arc<Metadata>, Error> {
    let mut tables = tables.to_vec();
    tables.sort();
    tables.dedup();
    cached(
        &METADATA,
        path,
        (path.to_owned(), tables),
        |(path, tables)| Metadata::from_path_for_tables(path, tables),
    )
}

/// The choices document at `path`, from the cache when the file has not changed.
pub(crate) fn load_choices(path: &Path) -> Result<Arc<Choices>, Error> {
    cached(&CHOICES, path, path.to_owned(), |path| {
        Choices::from_path(path)
    })
}

fn cached<K: Eq + Hash, T>(
    cache: &Cache<K, T>,
    path: &Path,
    key: K,
    read: impl FnOnce(&K) -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    let stamp = std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
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
