//! Files of the store: atomic replacement (temporary file, fsync, rename, fsync of the
//! directory) and a lock file that serialises concurrent writers.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::ConnectionError;

const LOCK_FILE: &str = "connections.lock";
/// How long a writer waits for the lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// A lock older than this was left by a process that died; it is broken.
const STALE_LOCK: Duration = Duration::from_secs(120);

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ConnectionError {
    let path = path.to_owned();
    move |source| ConnectionError::Io {
        action,
        path,
        source,
    }
}

/// Creates the config directory (owner-only on Unix) when missing.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), ConnectionError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io("create directory", dir))
}

/// The whole file, or `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, ConnectionError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Replaces `path` with `bytes` so that readers see the old file or the new one, never a mix.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ConnectionError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&temp).map_err(io("create", &temp))?;
        file.write_all(bytes).map_err(io("write", &temp))?;
        file.sync_all().map_err(io("fsync", &temp))?;
        drop(file);
        std::fs::rename(&temp, path).map_err(io("rename into", path))?;
        // The rename itself is durable once the directory is synced (Unix only).
        #[cfg(unix)]
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// An exclusive lock on the store, held while it exists.
#[derive(Debug)]
pub(super) struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Creates the lock file exclusively, waiting while another process holds it.
    pub(super) fn acquire(dir: &Path) -> Result<Self, ConnectionError> {
        let path = dir.join(LOCK_FILE);
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let _ = writeln!(file, "{}", std::process::id());
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if is_stale(&path) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(ConnectionError::Locked {
                            path,
                            waited_ms: started.elapsed().as_millis(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(io("create lock", &path)(e)),
            }
        }
    }
}

fn is_stale(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > STALE_LOCK)
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
