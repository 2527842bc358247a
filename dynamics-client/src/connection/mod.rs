//! Named connections, encrypted at rest: what [`Client::from_connection`] reads.
//!
//! A connection is everything an app needs to reach one environment as one application: the
//! environment URL, the tenant and client ids, the certificate and its private key. The
//! `dynamics` CLI creates them; apps open them by name and never handle credentials.
//!
//! All connections of a user live in one file, `connections.store`, in the config directory
//! (`DYNAMICS_CONFIG_DIR`, else the platform's: `$XDG_CONFIG_HOME/dynamics` or
//! `~/.config/dynamics` on Linux, `~/Library/Application Support/dynamics` on macOS,
//! `%APPDATA%\dynamics` on Windows). The file is sealed with AES-256-GCM (see [`StoreKey`] for
//! where the key comes from), written atomically under a lock, and refused whole when it has
//! been altered or cut short.

mod cipher;
mod file;
mod key;
#[cfg(test)]
mod key_tests;
mod model;
#[cfg(test)]
mod tests;
mod vault;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use key::{KEY_FILE, KeySource, STORE_KEY_VAR, StoreKey};
pub use model::{CachedToken, Connection, StoreContents, UserSession};

use crate::client::Client;
use crate::credential::{ClientCertificateCredential, CredentialOptions};
use crate::error::{CredentialError, Error};
use crate::options::Settings;

/// The store file's name inside the config directory.
pub const STORE_FILE: &str = "connections.store";

/// Why the connection store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// No config directory: neither `DYNAMICS_CONFIG_DIR` nor the platform's is known.
    #[error(
        "no config directory: set DYNAMICS_CONFIG_DIR (neither HOME nor the platform's config directory is set)"
    )]
    NoConfigDir,
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The store key is unusable (wrong length, bad encoding, or a key file readable by others).
    #[error("store key from {source_name}: {reason}")]
    Key {
        /// Where the key came from.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not a connection store (wrong magic or an unknown format version).
    #[error("{} is not a dynamics connection store ({reason})", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// The file is shorter than its header and authentication tag.
    #[error("{} is truncated ({len} bytes); nothing was read from it", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Decryption failed: the file was altered, or was sealed with another key.
    #[error(
        "{} failed authentication: it was altered or truncated, or it was sealed with another key; nothing was read from it",
        path.display()
    )]
    Tampered {
        /// The file.
        path: PathBuf,
    },
    /// The decrypted contents are not a store document of this version.
    #[error("{} decrypted but its contents are unreadable: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// Another process held the store lock for too long.
    #[error("{} is locked by another process (waited {waited_ms} ms)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited_ms: u128,
    },
    /// A file or directory of the store is unsafe to use (a symbolic link, another user's,
    /// readable by others) or could not be written; nothing was written half-way.
    #[error(transparent)]
    File(#[from] dynamics_fs::Error),
    /// An encryption primitive failed.
    #[error("encryption failed: {0}")]
    Crypto(#[source] openssl::error::ErrorStack),
    /// No connection has that name.
    #[error("no connection named `{0}`")]
    NotFound(String),
    /// The connection exists but is not finished (it has no client id yet).
    #[error(
        "connection `{0}` is not complete: run `dynamics connection complete {0} --tenant-id ... --client-id ...`"
    )]
    Incomplete(String),
    /// Building the client from the connection failed.
    #[error("connection `{name}`: {source}")]
    Client {
        /// The connection.
        name: String,
        /// The client's error.
        #[source]
        source: Box<Error>,
    },
}

/// The connection store of one user: the file, its key, and the lock that serialises writers.
#[derive(Debug)]
pub struct ConnectionStore {
    dir: PathBuf,
    key: StoreKey,
}

impl ConnectionStore {
    /// Opens the store in the default config directory with the default key source.
    pub fn open_default() -> Result<Self, ConnectionError> {
        let dir = default_config_dir().ok_or(ConnectionError::NoConfigDir)?;
        Self::open(dir)
    }

    /// Opens the store in `dir`, with the key from `DYNAMICS_STORE_KEY`, the OS keyring
    /// (feature `keyring`) or `dir/store.key` (see [`StoreKey::resolve`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ConnectionError> {
        let dir = dir.into();
        file::ensure_dir(&dir)?;
        let key = StoreKey::resolve(&dir)?;
        Ok(Self { dir, key })
    }

    /// Opens the store in `dir` with an explicit key.
    pub fn with_key(dir: impl Into<PathBuf>, key: StoreKey) -> Result<Self, ConnectionError> {
        let dir = dir.into();
        file::ensure_dir(&dir)?;
        Ok(Self { dir, key })
    }

    /// The encrypted store file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// The config directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the store key came from.
    pub fn key_source(&self) -> &KeySource {
        self.key.source()
    }

    /// Reads and decrypts the whole store; an absent file is an empty store.
    pub fn load(&self) -> Result<StoreContents, ConnectionError> {
        let path = self.path();
        match file::read(&path)? {
            None => Ok(StoreContents::default()),
            Some(bytes) => {
                let plain = cipher::open(&self.key, &path, &bytes)?;
                model::decode(&path, &plain)
            }
        }
    }

    /// Changes the store under its lock: reads it, lets `change` edit it, and writes it back
    /// atomically (temporary file, fsync, rename). Nothing is written when `change` fails.
    pub fn update<R, E>(
        &self,
        change: impl FnOnce(&mut StoreContents) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<ConnectionError>,
    {
        let _lock = file::Lock::acquire(&self.dir)?;
        let mut contents = self.load()?;
        let result = change(&mut contents)?;
        let plain = model::encode(&contents)?;
        let sealed = cipher::seal(&self.key, &plain)?;
        file::write_atomic(&self.path(), &sealed)?;
        Ok(result)
    }

    /// One connection by name.
    pub fn connection(&self, name: &str) -> Result<Connection, ConnectionError> {
        self.load()?
            .connections
            .remove(name)
            .ok_or_else(|| ConnectionError::NotFound(name.to_owned()))
    }

    /// A client for the named connection.
    pub fn client(&self, name: &str) -> Result<Client, ConnectionError> {
        let connection = self.connection(name)?;
        connection_client(&connection)
    }
}

/// Builds a [`Client`] for a complete connection.
pub fn connection_client(connection: &Connection) -> Result<Client, ConnectionError> {
    let credential = connection_credential(connection)?;
    Client::with_settings(&connection.environment_url, credential, Settings::default()).map_err(
        |source| ConnectionError::Client {
            name: connection.name.clone(),
            source: Box::new(source),
        },
    )
}

/// Builds one [`Client`] that sends as every one of these connections: an identity pool (see
/// [`ClientBuilder::credentials`](crate::ClientBuilder::credentials)). They must all reach the same environment.
pub fn pool_client(connections: &[Connection]) -> Result<Client, ConnectionError> {
    let Some(first) = connections.first() else {
        return Err(ConnectionError::NotFound(
            "(no connection was named for the pool)".to_owned(),
        ));
    };
    let environment = first.environment_url.trim_end_matches('/');
    let mut credentials = Vec::with_capacity(connections.len());
    for connection in connections {
        if connection.environment_url.trim_end_matches('/') != environment {
            return Err(ConnectionError::Client {
                name: connection.name.clone(),
                source: Box::new(Error::invalid_input(format!(
                    "an identity pool needs one environment, but `{}` reaches {} and `{}` {}",
                    first.name, first.environment_url, connection.name, connection.environment_url
                ))),
            });
        }
        credentials.push(connection_credential(connection)?);
    }
    Client::with_identities(&first.environment_url, credentials, Settings::default()).map_err(
        |source| ConnectionError::Client {
            name: first.name.clone(),
            source: Box::new(source),
        },
    )
}

/// The certificate credential of a complete connection.
fn connection_credential(
    connection: &Connection,
) -> Result<Arc<dyn crate::credential::TokenCredential>, ConnectionError> {
    let client_id = connection
        .client_id
        .as_deref()
        .ok_or_else(|| ConnectionError::Incomplete(connection.name.clone()))?;
    let wrap = |source: Error| ConnectionError::Client {
        name: connection.name.clone(),
        source: Box::new(source),
    };
    let options = CredentialOptions {
        authority_host: connection.authority_host.clone(),
        ..CredentialOptions::default()
    };
    let credential = ClientCertificateCredential::from_pem_parts(
        &connection.tenant_id,
        client_id,
        connection.certificate_pem.as_bytes(),
        connection.private_key_pem.expose().as_bytes(),
        None,
        options,
    )
    .map_err(wrap)?;
    Ok(Arc::new(credential))
}

/// The config directory: `DYNAMICS_CONFIG_DIR`, else the platform's.
pub fn default_config_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("DYNAMICS_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if cfg!(windows) {
        return var("APPDATA").map(|d| PathBuf::from(d).join("dynamics"));
    }
    if cfg!(target_os = "macos") {
        return var("HOME").map(|h| PathBuf::from(h).join("Library/Application Support/dynamics"));
    }
    var("XDG_CONFIG_HOME")
        .map(|d| PathBuf::from(d).join("dynamics"))
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config/dynamics")))
}

impl Client {
    /// Creates a client from the named connection in the user's connection store (made with
    /// `dynamics connection create`, or `request` then `complete`).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), dynamics_client::error::ConnectionError> {
    /// let client = dynamics_client::Client::from_connection("sales-prod")?;
    /// # Ok(()) }
    /// ```
    pub fn from_connection(name: &str) -> Result<Self, ConnectionError> {
        ConnectionStore::open_default()?.client(name)
    }

    /// Creates one client over several named connections, each an application user of the
    /// same environment: an identity pool, whose requests are spread over the users so that
    /// a load can use the service protection budget of each (see
    /// [`ClientBuilder::credentials`](crate::ClientBuilder::credentials)).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), dynamics_client::error::ConnectionError> {
    /// let client = dynamics_client::Client::from_connections(["loader-1", "loader-2"])?;
    /// assert_eq!(client.identity_count(), 2);
    /// # Ok(()) }
    /// ```
    pub fn from_connections<I>(names: I) -> Result<Self, ConnectionError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        ConnectionStore::open_default()?.pool(names)
    }
}

impl ConnectionStore {
    /// A client over several named connections: an identity pool (see
    /// [`Client::from_connections`]). The store is read once.
    pub fn pool<I>(&self, names: I) -> Result<Client, ConnectionError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut contents = self.load()?;
        let mut connections: Vec<Connection> = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            match contents.connections.remove(name) {
                Some(connection) => connections.push(connection),
                // The same application user twice would be counted as two budgets.
                None if connections.iter().any(|c| c.name == name) => {
                    return Err(ConnectionError::Client {
                        name: name.to_owned(),
                        source: Box::new(Error::invalid_input(format!(
                            "connection `{name}` is named twice in the identity pool"
                        ))),
                    });
                }
                None => return Err(ConnectionError::NotFound(name.to_owned())),
            }
        }
        pool_client(&connections)
    }
}

/// `Client::from_env` with `DYNAMICS_CONNECTION` set (one name, or several separated by
/// commas for an identity pool): the error folded into the client's.
pub(crate) fn from_env_connection(names: &str) -> Result<Client, Error> {
    let list: Vec<&str> = names.split(',').map(str::trim).collect();
    let opened = match list.as_slice() {
        [one] => Client::from_connection(one),
        several => Client::from_connections(several),
    };
    opened.map_err(|e| match e {
        ConnectionError::Client { source, .. } => *source,
        other => Error::Credential(CredentialError::Configuration(format!(
            "DYNAMICS_CONNECTION={names}: {other}"
        ))),
    })
}
