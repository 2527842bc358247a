//! The store key: 32 random bytes for AES-256-GCM, and where they come from.
//!
//! Their order, and why a key is put into some keyrings and only read from others, is
//! documented on [`StoreKey`].

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::rand::rand_bytes;
use zeroize::{Zeroize, Zeroizing};

use super::vault::{self, KeyVault};
use super::{ConnectionError, STORE_FILE, file};

/// The environment variable that can hold the store key (base64 of 32 bytes).
pub const STORE_KEY_VAR: &str = "DYNAMICS_STORE_KEY";

/// The key file's name inside the config directory.
pub const KEY_FILE: &str = "store.key";

/// Where the store key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// The `DYNAMICS_STORE_KEY` environment variable.
    Environment,
    /// A key file readable only by its owner.
    KeyFile(PathBuf),
    /// Given by the caller.
    Explicit,
    /// An OS keyring (feature `keyring`).
    Keyring {
        /// The keyring: "the macOS Keychain", "the Windows Credential Manager", "the Linux
        /// kernel keyring".
        keyring: String,
        /// The entry in it.
        entry: String,
    },
    /// The key file, because the OS keyring could not be used (feature `keyring`).
    KeyFileInsteadOfKeyring {
        /// The key file.
        path: PathBuf,
        /// The keyring that could not be used.
        keyring: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "the {STORE_KEY_VAR} environment variable"),
            Self::KeyFile(path) => write!(
                f,
                "the key file {} (owner-only; {KEY_FILE_NOTE})",
                path.display()
            ),
            Self::Explicit => f.write_str("a key given by the caller"),
            Self::Keyring { keyring, entry } => write!(f, "{keyring} ({entry})"),
            Self::KeyFileInsteadOfKeyring {
                path,
                keyring,
                reason,
            } => write!(
                f,
                "the key file {} (owner-only), because {keyring} could not be used: {reason}",
                path.display()
            ),
        }
    }
}

/// Why the key file is used when no keyring answered for it. (With the feature on macOS and
/// Windows the keyring is always asked, and a key file then shows as
/// [`KeySource::KeyFileInsteadOfKeyring`].)
const KEY_FILE_NOTE: &str = if cfg!(all(feature = "keyring", target_os = "linux")) {
    "the kernel keyring holds no key for this store, and none is put there: it forgets keys at reboot"
} else {
    "no OS keyring backend is built in"
};

/// The AES-256 key of the store. `Debug` shows only its source; the bytes are zeroed on drop.
///
/// [`StoreKey::resolve`] takes it from, in order:
///
/// 1. `DYNAMICS_STORE_KEY` (base64 of 32 bytes, for CI and tests);
/// 2. with the `keyring` feature, the OS keyring's entry for the config directory
///    (service `dynamics-rs`, account the directory's full path, symbolic links resolved);
/// 3. the key file `store.key` beside the store, created with mode 0600 on first use and
///    refused when others can read it.
///
/// [`KeySource`] always says which one was used, and there is never a plaintext fallback.
///
/// Losing the key loses every stored connection, so a key is only ever put where it outlives
/// a reboot:
///
/// * The macOS Keychain and the Windows Credential Manager keep their entries until deleted,
///   so there the keyring holds the key alone. The first run moves an existing key file's key
///   into it: the key is written, read back and compared, and only then is the file removed
///   (a copy left by an interrupted move is removed on the next run; a key file with a
///   *different* key is refused, and neither is touched). A new store's key is made there.
/// * The Linux kernel keyring (keyutils) forgets everything at reboot, so it never holds the
///   only copy; nor is it a cache in front of the key file, which would then be read anyway.
///   It is only read: a key the user loads there (e.g. from a password manager at login, with
///   `keyctl padd user 'keyring-rs:<config dir>@dynamics-rs' @u`) is used, and the store never
///   writes one there itself. Without one, the key file is used as without the feature.
///   Secret Service (GNOME Keyring, KWallet) is not built in: it needs D-Bus and a second
///   crypto stack.
/// * When the keyring cannot be used (no keyring daemon, access denied), the key file is used
///   instead and [`KeySource::KeyFileInsteadOfKeyring`] says why. A new key file is then only
///   made when there is no store yet: an existing store was probably sealed with the key the
///   keyring holds, and a new key could not open it.
///
/// Two processes putting a new key into the keyring at once would each seal with their own,
/// so that step runs under the store's lock.
pub struct StoreKey {
    bytes: [u8; 32],
    source: KeySource,
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Drop for StoreKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl StoreKey {
    /// A key given by the caller.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            source: KeySource::Explicit,
        }
    }

    /// Where the key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `DYNAMICS_STORE_KEY`, else (feature `keyring`) the OS keyring, else `dir/store.key`
    /// (created when missing); see [`StoreKey`] for what is written where.
    pub fn resolve(dir: &Path) -> Result<Self, ConnectionError> {
        let env = std::env::var_os(STORE_KEY_VAR).filter(|v| !v.is_empty());
        if let Some(value) = env {
            return resolve_from(dir, Some(&value.to_string_lossy()), None);
        }
        let keyring = vault::platform(dir);
        resolve_from(dir, None, keyring.as_deref())
    }
}

/// [`StoreKey::resolve`] with the environment variable's value and the keyring given.
pub(super) fn resolve_from(
    dir: &Path,
    env: Option<&str>,
    vault: Option<&dyn KeyVault>,
) -> Result<StoreKey, ConnectionError> {
    if let Some(text) = env {
        let bytes = decode(text.trim(), &KeySource::Environment)?;
        return Ok(StoreKey {
            bytes,
            source: KeySource::Environment,
        });
    }
    let path = dir.join(KEY_FILE);
    let Some(vault) = vault else {
        return key_file(&path, KeySource::KeyFile(path.clone()));
    };
    match vault.get() {
        Err(reason) => instead_of_keyring(dir, vault, reason),
        Ok(Some(text)) => from_keyring(&path, vault, &text),
        Ok(None) if !vault.durable() => key_file(&path, KeySource::KeyFile(path.clone())),
        Ok(None) => {
            let _lock = file::Lock::acquire(dir)?;
            // Looked at again under the lock: another process may have just put a key there.
            match vault.get() {
                Err(reason) => instead_of_keyring(dir, vault, reason),
                Ok(Some(text)) => from_keyring(&path, vault, &text),
                Ok(None) => into_keyring(&path, vault),
            }
        }
    }
}

fn keyring_source(vault: &dyn KeyVault) -> KeySource {
    KeySource::Keyring {
        keyring: vault.name().to_owned(),
        entry: vault.entry().to_owned(),
    }
}

/// The keyring's key. Beside a durable keyring, a key file with the same key is what an
/// interrupted move left behind and is removed; one with another key is refused.
fn from_keyring(
    path: &Path,
    vault: &dyn KeyVault,
    text: &str,
) -> Result<StoreKey, ConnectionError> {
    let source = keyring_source(vault);
    let bytes = decode(text.trim(), &source)?;
    if vault.durable() {
        match read_key_file(path)? {
            None => {}
            Some(in_file) if *in_file == bytes => remove_moved_key_file(path),
            Some(_) => {
                return Err(ConnectionError::Key {
                    source_name: source.to_string(),
                    reason: format!(
                        "the key file {} holds a different key; neither was changed. Keep the one \
                         that opens the store: delete the keyring entry, or move the key file away",
                        path.display()
                    ),
                });
            }
        }
    }
    Ok(StoreKey { bytes, source })
}

/// Puts the key file's key (or a new one) into an empty durable keyring, under the store's
/// lock. The key file is removed only once the keyring gives the key back.
fn into_keyring(path: &Path, vault: &dyn KeyVault) -> Result<StoreKey, ConnectionError> {
    let from_file = read_key_file(path)?;
    let bytes = match &from_file {
        Some(bytes) => **bytes,
        None => random_key()?,
    };
    let text = Zeroizing::new(STANDARD.encode(bytes));
    let stored = vault.set(&text).and_then(|()| match vault.get()? {
        Some(back) if back.trim() == text.as_str() => Ok(()),
        _ => Err("it did not give the key back".to_owned()),
    });
    match stored {
        Ok(()) => {
            if from_file.is_some() {
                remove_moved_key_file(path);
            }
            Ok(StoreKey {
                bytes,
                source: keyring_source(vault),
            })
        }
        Err(reason) => {
            // A half-stored key would be taken for the store's next time.
            if let Err(also) = vault.delete() {
                tracing::warn!(keyring = vault.name(), reason = %also, "could not remove a store key entry that failed to read back");
            }
            let source = KeySource::KeyFileInsteadOfKeyring {
                path: path.to_owned(),
                keyring: vault.name().to_owned(),
                reason,
            };
            match from_file {
                Some(_) => Ok(StoreKey { bytes, source }),
                None => write_key_file(path, bytes, source),
            }
        }
    }
}

/// The key file when the keyring cannot be read. No new key is made beside an existing store:
/// that store was probably sealed with the key the keyring holds.
fn instead_of_keyring(
    dir: &Path,
    vault: &dyn KeyVault,
    reason: String,
) -> Result<StoreKey, ConnectionError> {
    let path = dir.join(KEY_FILE);
    if let Some(bytes) = read_key_file(&path)? {
        let source = KeySource::KeyFileInsteadOfKeyring {
            path,
            keyring: vault.name().to_owned(),
            reason,
        };
        return Ok(StoreKey {
            bytes: *bytes,
            source,
        });
    }
    let store = dir.join(STORE_FILE);
    if store.exists() {
        return Err(ConnectionError::Key {
            source_name: keyring_source(vault).to_string(),
            reason: format!(
                "{reason}; {} exists and there is no key file, so its key is probably in the \
                 keyring and no new key was made (set {STORE_KEY_VAR} to open it meanwhile)",
                store.display()
            ),
        });
    }
    let source = KeySource::KeyFileInsteadOfKeyring {
        path: path.clone(),
        keyring: vault.name().to_owned(),
        reason,
    };
    write_key_file(&path, random_key()?, source)
}

/// The key file's key, or a new key file.
fn key_file(path: &Path, source: KeySource) -> Result<StoreKey, ConnectionError> {
    match read_key_file(path)? {
        Some(bytes) => Ok(StoreKey {
            bytes: *bytes,
            source,
        }),
        None => write_key_file(path, random_key()?, source),
    }
}

/// The key in the key file, or `None` when there is no key file.
fn read_key_file(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, ConnectionError> {
    let source = KeySource::KeyFile(path.to_owned());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            check_private(path)?;
            Ok(Some(Zeroizing::new(decode(text.trim(), &source)?)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConnectionError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Removes a key file whose key the keyring now holds. Failing is not fatal: the next run
/// finds the same key in both and tries again.
fn remove_moved_key_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove the key file after moving its key into the keyring");
    }
}

fn random_key() -> Result<[u8; 32], ConnectionError> {
    let mut bytes = [0u8; 32];
    rand_bytes(&mut bytes).map_err(ConnectionError::Crypto)?;
    Ok(bytes)
}

fn decode(text: &str, source: &KeySource) -> Result<[u8; 32], ConnectionError> {
    let fail = |reason: &str| ConnectionError::Key {
        source_name: source.to_string(),
        reason: reason.to_owned(),
    };
    let mut raw = STANDARD
        .decode(text)
        .map_err(|_| fail("not base64 (expected base64 of 32 random bytes)"))?;
    let result = <[u8; 32]>::try_from(raw.as_slice())
        .map_err(|_| fail(&format!("{} bytes, expected 32", raw.len())));
    raw.zeroize();
    result
}

fn write_key_file(
    path: &Path,
    bytes: [u8; 32],
    source: KeySource,
) -> Result<StoreKey, ConnectionError> {
    let text = Zeroizing::new(STANDARD.encode(bytes));
    // Never replaces a key another process has just created: that one wins.
    dynamics_fs::AtomicWrite::new()
        .private()
        .no_replace()
        .write(path, text.as_bytes())?;
    Ok(StoreKey { bytes, source })
}

/// Refuses a key file that is not this user's own, that group or others can read or write, or
/// that is a symbolic link.
fn check_private(path: &Path) -> Result<(), ConnectionError> {
    dynamics_fs::check_private_file(path).map_err(|e| match e {
        dynamics_fs::Error::Io { .. } => ConnectionError::File(e),
        other => ConnectionError::Key {
            source_name: KeySource::KeyFile(path.to_owned()).to_string(),
            reason: other.to_string(),
        },
    })
}
