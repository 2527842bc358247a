//! One parse per metadata file and table selection per compiler process, however many times
//! the macro is used: parsed documents are kept by path and selection, and reused while the
//! file's modification time and size are unchanged.
//!
//! Each parse reads only what the selected tables need (`Metadata::from_path_for_tables`):
//! the macro runs unoptimised inside the compiler, where reading every table of a large
//! document costs most of the expansion.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use dynamics_codegen::csdl::Metadata;

/// Modification time and size: what tells a changed file apart.
type Stamp = (Option<SystemTime>, u64);
/// The file and the table names asked for, sorted.
type Key = (PathBuf, Vec<String>);
type Parsed = HashMap<Key, (Stamp, Arc<Metadata>)>;

static CACHE: Mutex<Option<Parsed>> = Mutex::new(None);

/// The document at `path`, read for `tables`, from the cache when the file has not changed.
pub(crate) fn load(
    path: &Path,
    tables: &[String],
) -> Result<Arc<Metadata>, dynamics_codegen::Error> {
    let stamp = std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .map_err(|source| dynamics_codegen::Error::Io {
            path: path.to_owned(),
            source,
        })?;
    let mut tables = tables.to_vec();
    tables.sort();
    tables.dedup();
    let key = (path.to_owned(), tables);
    {
        let cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, metadata)) = cache.as_ref().and_then(|c| c.get(&key))
            && *cached == stamp
        {
            return Ok(Arc::clone(metadata));
        }
    }
    let metadata = Arc::new(Metadata::from_path_for_tables(path, &key.1)?);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .get_or_insert_with(HashMap::new)
        .insert(key, (stamp, Arc::clone(&metadata)));
    Ok(metadata)
}
