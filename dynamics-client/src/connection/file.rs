//! Files of the store: an owner-only directory, atomic replacement (see `dynamics_fs`) and a
//! lock file that serialises concurrent writers.

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

/// Makes the config directory owner-only: created `0700` when missing, tightened (with a
/// warning) when others could reach it, refused when another user owns it.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), ConnectionError> {
    if let dynamics_fs::DirState::Tightened { was } = dynamics_fs::ensure_private_dir(dir)? {
        tracing::warn!(
            dir = %dir.display(),
            "the config directory had mode {was:o}, which let others list it; set it to 700"
        );
    }
    Ok(())
}

/// The whole file, or `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, ConnectionError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Replaces `path` with `bytes` so that readers see the old file or the new one, never a mix,
/// through an exclusively created owner-only temporary file.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ConnectionError> {
    Ok(dynamics_fs::AtomicWrite::new()
        .private()
        .write(path, bytes)?)
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
