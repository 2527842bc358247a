#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why a file or directory was not written or not accepted. Nothing was changed at `path`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target is a symbolic link; writing through it could replace any file the user owns.
    #[error("{} is a symbolic link; refusing to write through it", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The target exists and the write was asked not to replace it.
    #[error("{} already exists; refusing to replace it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file or directory that must be private belongs to another user.
    #[error("{} belongs to user {owner}, not to this user ({me}); refusing to use it", path.display())]
    NotOwned {
        /// The file or directory.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// A file that must be private can be read or written by others.
    #[error("{} has mode {mode:o}, which lets others read it; run `chmod 600 {}`", path.display(), path.display())]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system refused.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `write`, `rename into`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Error::Symlink { path }
            | Error::Exists { path }
            | Error::NotOwned { path, .. }
            | Error::NotPrivate { path, .. }
            | Error::Io { path, .. } => path,
        }
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// An atomic write: the file at the target is the old one or the new one, never a mix, and
/// never one that somebody else prepared.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("dynamics-fs-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let key = dir.join("app.key");
/// dynamics_fs::AtomicWrite::new().private().write(&key, b"secret")?;
/// // A second write of a key that must not be replaced is refused.
/// let again = dynamics_fs::AtomicWrite::new().private().no_replace().write(&key, b"other");
/// assert!(matches!(again, Err(dynamics_fs::Error::Exists { .. })));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), dynamics_fs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct AtomicWrite {
    private: bool,
    no_replace: bool,
}

/// How many random names are tried before giving up (each clash means a file appeared there).
const TRIES: u32 = 16;

impl AtomicWrite {
    /// A write readable as the umask allows, replacing an existing file.
    pub fn new() -> Self {
        Self::default()
    }

    /// The file is readable and writable by its owner only (`0600` on Unix).
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// An existing file at the target is left alone and the write fails with [`Error::Exists`].
    pub fn no_replace(mut self) -> Self {
        self.no_replace = true;
        self
    }

    /// Writes `bytes` to `path`.
    pub fn write(self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        refuse_symlink(path)?;
        if self.no_replace && path.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: path.to_owned(),
            });
        }
        let (temp, mut file) = self.create_temporary(dir, path)?;
        let result = (|| {
            file.write_all(bytes).map_err(io("write", &temp))?;
            file.sync_all().map_err(io("fsync", &temp))?;
            drop(file);
            if self.no_replace {
                // A hard link never replaces an existing name: a file created meanwhile wins.
                std::fs::hard_link(&temp, path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::Exists {
                            path: path.to_owned(),
                        }
                    } else {
                        io("link into", path)(e)
                    }
                })?;
                let _ = std::fs::remove_file(&temp);
            } else {
                // A symbolic link planted since the check is replaced, not followed.
                std::fs::rename(&temp, path).map_err(io("rename into", path))?;
            }
            // The new name is durable once the directory is synced (Unix only).
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

    /// A new file beside `path`, created exclusively under a random name.
    fn create_temporary(&self, dir: &Path, path: &Path) -> Result<(PathBuf, std::fs::File), Error> {
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut options = std::fs::OpenOptions::new();
        // `create_new` is O_CREAT | O_EXCL: it fails on any existing name, links included.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if self.private { 0o600 } else { 0o644 });
        }
        let mut last = None;
        for _ in 0..TRIES {
            let temp = dir.join(format!(".{stem}.{:016x}.tmp", random()));
            match options.open(&temp) {
                Ok(file) => return Ok((temp, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io("create", &temp)(e)),
            }
        }
        Err(io("create a temporary file beside", path)(
            last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
        ))
    }
}

/// 64 unpredictable bits: std seeds each `RandomState` from the operating system's generator.
fn random() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// Refuses a symbolic link at `path`; an absent path is fine.
pub fn refuse_symlink(path: &Path) -> Result<(), Error> {
    match path.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::Symlink {
            path: path.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Refuses a file that is not a regular file of this user, or that others may read or write.
pub fn check_private_file(path: &Path) -> Result<(), Error> {
    refuse_symlink(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).map_err(io("stat", path))?;
        check_owner(path, meta.uid())?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::NotPrivate {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

/// What [`ensure_private_dir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirState {
    /// The directory was already private.
    Private,
    /// It did not exist and was created owner-only.
    Created,
    /// Others could enter or read it; its mode was tightened to `0700`. The old mode is kept
    /// here for the message the caller shows.
    Tightened {
        /// The mode it had.
        was: u32,
    },
}

/// Makes `dir` an owner-only directory of this user: creates it (`0700`) when missing,
/// tightens one that others can reach, refuses one that another user owns.
pub fn ensure_private_dir(dir: &Path) -> Result<DirState, Error> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(io("create directory", dir))?;
            return Ok(DirState::Created);
        }
        Err(e) => return Err(io("stat", dir)(e)),
    };
    if !meta.is_dir() {
        return Err(io("use as a directory", dir)(std::io::Error::from(
            std::io::ErrorKind::NotADirectory,
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        check_owner(dir, meta.uid())?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io("chmod 700", dir))?;
            return Ok(DirState::Tightened { was: mode });
        }
    }
    Ok(DirState::Private)
}

#[cfg(unix)]
fn check_owner(path: &Path, owner: u32) -> Result<(), Error> {
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        return Err(Error::NotOwned {
            path: path.to_owned(),
            owner,
            me,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "dynamics-fs-{name}-{}-{:x}",
                std::process::id(),
                random()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn a_private_file_over_a_readable_one_ends_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("mode");
        let path = dir.0.join("app.pfx.password");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        AtomicWrite::new().private().write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
        assert!(leftovers(&dir.0).is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn a_symlinked_target_is_refused_and_its_target_untouched() {
        let dir = TempDir::new("link");
        let victim = dir.0.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let link = dir.0.join("app.pfx.password");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = AtomicWrite::new().private().write(&link, b"x").unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        assert_eq!(err.path(), link);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(leftovers(&dir.0).is_empty());
    }

    #[test]
    fn no_replace_leaves_an_existing_file() {
        let dir = TempDir::new("keep");
        let path = dir.0.join("app.pfx");
        std::fs::write(&path, "old key").unwrap();
        let err = AtomicWrite::new()
            .private()
            .no_replace()
            .write(&path, b"new key")
            .unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old key");
        assert!(leftovers(&dir.0).is_empty());
        let fresh = dir.0.join("fresh.pfx");
        AtomicWrite::new()
            .private()
            .no_replace()
            .write(&fresh, b"k")
            .unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"k");
        assert!(leftovers(&dir.0).is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn a_pre_created_temporary_name_is_never_opened() {
        // The old scheme's predictable name, pre-created world-writable, stays as it was.
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("planted");
        let path = dir.0.join("connections.store");
        let planted = dir
            .0
            .join(format!(".connections.store.{}.tmp", std::process::id()));
        std::fs::write(&planted, "").unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
        AtomicWrite::new()
            .private()
            .write(&path, b"sealed")
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&planted).unwrap(), b"");
    }

    #[test]
    #[cfg(unix)]
    fn private_dirs_are_created_tightened_or_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("dir");
        let config = dir.0.join("a/b");
        assert_eq!(ensure_private_dir(&config).unwrap(), DirState::Created);
        assert_eq!(mode(&config), 0o700);
        assert_eq!(ensure_private_dir(&config).unwrap(), DirState::Private);
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            ensure_private_dir(&config).unwrap(),
            DirState::Tightened { was: 0o755 }
        );
        assert_eq!(mode(&config), 0o700);
    }

    #[test]
    #[cfg(unix)]
    fn private_files_must_be_owner_only_and_not_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("check");
        let key = dir.0.join("store.key");
        AtomicWrite::new().private().write(&key, b"k").unwrap();
        check_private_file(&key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_private_file(&key).unwrap_err();
        assert!(
            matches!(err, Error::NotPrivate { mode: 0o640, .. }),
            "{err}"
        );
        let link = dir.0.join("link.key");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        assert!(matches!(
            check_private_file(&link),
            Err(Error::Symlink { .. })
        ));
    }

    #[test]
    #[cfg(unix)]
    fn a_file_of_another_user_is_refused() {
        let me = rustix::process::geteuid().as_raw();
        let other = me.wrapping_add(1);
        let err = check_owner(Path::new("store.key"), other).unwrap_err();
        assert!(
            matches!(err, Error::NotOwned { owner, me: m, .. } if owner == other && m == me),
            "{err}"
        );
        check_owner(Path::new("store.key"), me).unwrap();
    }
}
