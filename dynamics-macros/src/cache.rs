//! One parse per metadata file per compiler process, however many times the macro is used:
//! parsed documents are kept by path, and reused while the file's modification time and size
//! are unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use dynamics_codegen::csdl::Metadata;

/// Modification time and size: what tells a changed file apart.
type Stamp = (Option<SystemTime>, u64);
type Parsed = HashMap<PathBuf, (Stamp, Arc<Metadata>)>;

static CACHE: Mutex<Option<Parsed>> = Mutex::new(None);

/// The parsed document at `path`, from the cache when the file has not changed.
pub(crate) fn load(path: &Path) -> Result<Arc<Metadata>, dynamics_codegen::Error> {
    let stamp = std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .map_err(|source| dynamics_codegen::Error::Io {
            path: path.to_owned(),
            source,
        })?;
    {
        let cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, metadata)) = cache.as_ref().and_then(|c| c.get(path))
            && *cached == stamp
        {
            return Ok(Arc::clone(metadata));
        }
    }
    let metadata = Arc::new(Metadata::from_path(path)?);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .get_or_insert_with(HashMap::new)
        .insert(path.to_owned(), (stamp, Arc::clone(&metadata)));
    Ok(metadata)
}
