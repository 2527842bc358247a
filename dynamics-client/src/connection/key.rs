//! The store key: 32 random bytes for AES-256-GCM, and where they come from.
//!
//! In order: `DYNAMICS_STORE_KEY` (base64 of 32 bytes, for CI and tests), else the key file
//! `store.key` beside the store, created with mode 0600 on first use and refused when others
//! can read it. No OS keyring backend is built in: the desktop keyrings need D-Bus or platform
//! frameworks this crate does not pull in, so the key file is the default and
//! [`KeySource`] always says which one was used. There is never a plaintext fallback.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::rand::rand_bytes;
use zeroize::Zeroize;

use super::ConnectionError;

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
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "the {STORE_KEY_VAR} environment variable"),
            Self::KeyFile(path) => write!(
                f,
                "the key file {} (owner-only; no OS keyring backend is built in)",
                path.display()
            ),
            Self::Explicit => f.write_str("a key given by the caller"),
        }
    }
}

/// The AES-256 key of the store. `Debug` shows only its source; the bytes are zeroed on drop.
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

    /// `DYNAMICS_STORE_KEY`, else `dir/store.key` (created when missing).
    pub fn resolve(dir: &Path) -> Result<Self, ConnectionError> {
        if let Some(value) = std::env::var_os(STORE_KEY_VAR).filter(|v| !v.is_empty()) {
            let text = value.to_string_lossy();
            let bytes = decode(text.trim(), &KeySource::Environment)?;
            return Ok(Self {
                bytes,
                source: KeySource::Environment,
            });
        }
        let path = dir.join(KEY_FILE);
        let source = KeySource::KeyFile(path.clone());
        match std::fs::read_to_string(&path) {
            Ok(mut text) => {
                if let Err(refused) = check_private(&path) {
                    text.zeroize();
                    return Err(refused);
                }
                let bytes = decode(text.trim(), &source);
                text.zeroize();
                Ok(Self {
                    bytes: bytes?,
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path, source),
            Err(source) => Err(ConnectionError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }
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

fn create(path: &Path, source: KeySource) -> Result<StoreKey, ConnectionError> {
    let mut bytes = [0u8; 32];
    rand_bytes(&mut bytes).map_err(ConnectionError::Crypto)?;
    let mut text = STANDARD.encode(bytes);
    // Never replaces a key another process has just created: that one wins.
    let written = dynamics_fs::AtomicWrite::new()
        .private()
        .no_replace()
        .write(path, text.as_bytes());
    text.zeroize();
    written?;
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
