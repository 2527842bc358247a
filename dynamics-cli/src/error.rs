//! The CLI's errors and the exit code of each.

use std::path::PathBuf;

/// Why a command failed. `Display` is what the user reads; it never holds a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command needs the user's own sign-in.
    #[error("not signed in: run `dynamics login` first")]
    NotSignedIn,
    /// The signed-in user is not allowed to do this.
    #[error("refused: {0}")]
    Refused(String),
    /// A named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The arguments do not say enough (e.g. which environment) and there is no terminal to ask.
    #[error("{0}")]
    Usage(String),
    /// The connection store could not be used.
    #[error(transparent)]
    Store(#[from] dynamics_client::error::ConnectionError),
    /// Entra ID refused a sign-in or token request.
    #[error("sign-in failed: {0}")]
    Auth(String),
    /// A service answered with an error.
    #[error("{service} answered {status}: {message}")]
    Service {
        /// Which service.
        service: &'static str,
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The network failed.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// A service answered with a redirect, which is never followed.
    #[error("{url} answered HTTP {status} pointing at {}; redirects are not followed", .location.as_deref().unwrap_or("nowhere (no Location header)"))]
    Redirected {
        /// The request's URL.
        url: String,
        /// The status.
        status: u16,
        /// Its `Location` header.
        location: Option<String>,
    },
    /// The Dataverse client failed.
    #[error(transparent)]
    Client(#[from] dynamics_client::Error),
    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file was refused (a symbolic link, an existing key without `--force`, not the user's
    /// own) or could not be written; nothing was written half-way.
    #[error(transparent)]
    File(#[from] dynamics_fs::Error),
    /// Generating a key or certificate failed.
    #[error("certificate: {0}")]
    Crypto(String),
    /// The code generator failed.
    #[error(transparent)]
    Codegen(#[from] dynamics_codegen::Error),
    /// An import finished, but some rows were rejected (they are in the rejects file).
    #[error("{0} row(s) were rejected")]
    Rejected(u64),
}

impl CliError {
    /// The process exit code: 1 failure, 2 usage, 3 sign-in needed or refused by Entra,
    /// 4 refused for lack of rights, 5 not found, 6 connection store unusable, 7 service error,
    /// 8 import finished with rejected rows.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 2,
            Self::NotSignedIn | Self::Auth(_) => 3,
            Self::Refused(_) => 4,
            Self::NotFound(_) => 5,
            Self::Store(dynamics_client::error::ConnectionError::NotFound(_)) => 5,
            Self::Store(_) => 6,
            Self::Service { .. }
            | Self::Transport { .. }
            | Self::Redirected { .. }
            | Self::Client(_) => 7,
            Self::Io { .. } | Self::File(_) | Self::Crypto(_) | Self::Codegen(_) => 1,
            Self::Rejected(_) => crate::data::EXIT_REJECTED,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

impl From<openssl::error::ErrorStack> for CliError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Crypto(e.to_string())
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;
