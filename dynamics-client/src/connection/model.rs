//! What the store holds: named connections and the signed-in user's session, and their
//! serialised form (JSON, only ever written inside the sealed file).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConnectionError;
use crate::secret::Secret;

/// The decrypted store.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreContents {
    /// Connections by name.
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
    /// The user signed in with `dynamics login`, if any.
    #[serde(default)]
    pub session: Option<UserSession>,
}

/// A named connection: one application's access to one environment.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// The name apps use (`Client::from_connection(name)`).
    pub name: String,
    /// The environment URL, e.g. `https://contoso.crm.dynamics.com`.
    pub environment_url: String,
    /// The Entra tenant id.
    pub tenant_id: String,
    /// The application (client) id; `None` until an administrator has registered it.
    pub client_id: Option<String>,
    /// The Entra authority host (public cloud, a sovereign cloud, or an emulator).
    pub authority_host: String,
    /// The public certificate, PEM.
    pub certificate_pem: String,
    /// The private key, PEM PKCS#8. Never shown.
    #[serde(with = "secret_text")]
    pub private_key_pem: Secret,
    /// The SHA-1 thumbprint of the certificate, upper-case hex.
    pub thumbprint: String,
    /// The security role given to the application user, when known.
    pub role: Option<String>,
    /// The Graph object id of the app registration, when this tool made it.
    pub application_object_id: Option<String>,
    /// Who made the connection (user principal name).
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When the connection last passed `dynamics connection test` (RFC 3339).
    pub last_tested_at: Option<String>,
}

impl Connection {
    /// A connection with the fields every connection has; the others (client id, role,
    /// creator, times) start empty and are set by the caller.
    pub fn new(
        name: impl Into<String>,
        environment_url: impl Into<String>,
        tenant_id: impl Into<String>,
        authority_host: impl Into<String>,
        certificate_pem: impl Into<String>,
        private_key_pem: Secret,
        thumbprint: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            environment_url: environment_url.into(),
            tenant_id: tenant_id.into(),
            client_id: None,
            authority_host: authority_host.into(),
            certificate_pem: certificate_pem.into(),
            private_key_pem,
            thumbprint: thumbprint.into(),
            role: None,
            application_object_id: None,
            created_by: String::new(),
            created_at: String::new(),
            last_tested_at: None,
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("environment_url", &self.environment_url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("thumbprint", &self.thumbprint)
            .field("role", &self.role)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

/// The user signed in with the device code flow: who, and the tokens to act as them.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserSession {
    /// The tenant signed in to.
    pub tenant_id: String,
    /// The authority host used.
    pub authority_host: String,
    /// The public client id the tokens were issued to.
    pub client_id: String,
    /// The user principal name.
    pub user: String,
    /// The user's object id.
    pub object_id: String,
    /// The refresh token. Never shown.
    #[serde(with = "secret_text")]
    pub refresh_token: Secret,
    /// Access tokens by resource, with their expiry (Unix seconds).
    #[serde(default)]
    pub access_tokens: BTreeMap<String, CachedToken>,
}

impl UserSession {
    /// A session with no cached access token yet.
    pub fn new(
        tenant_id: impl Into<String>,
        authority_host: impl Into<String>,
        client_id: impl Into<String>,
        user: impl Into<String>,
        object_id: impl Into<String>,
        refresh_token: Secret,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            authority_host: authority_host.into(),
            client_id: client_id.into(),
            user: user.into(),
            object_id: object_id.into(),
            refresh_token,
            access_tokens: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for UserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSession")
            .field("tenant_id", &self.tenant_id)
            .field("user", &self.user)
            .field("resources", &self.access_tokens.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A cached access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CachedToken {
    /// The token. Never shown.
    #[serde(with = "secret_text")]
    pub token: Secret,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl CachedToken {
    /// A token and its expiry.
    pub fn new(token: Secret, expires_at: i64) -> Self {
        Self { token, expires_at }
    }
}

/// Serialises a [`Secret`] as its text; used only inside the sealed store.
mod secret_text {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::secret::Secret;

    pub(super) fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        Secret::deserialize(d)
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    format: u32,
    #[serde(flatten)]
    contents: StoreContents,
}

const FORMAT: u32 = 1;

pub(super) fn encode(contents: &StoreContents) -> Result<Vec<u8>, ConnectionError> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        format: u32,
        #[serde(flatten)]
        contents: &'a StoreContents,
    }
    serde_json::to_vec(&Borrowed {
        format: FORMAT,
        contents,
    })
    .map_err(|e| ConnectionError::Corrupt {
        path: "<memory>".into(),
        reason: e.to_string(),
    })
}

pub(super) fn decode(path: &Path, plain: &[u8]) -> Result<StoreContents, ConnectionError> {
    let corrupt = |reason: String| ConnectionError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    // serde_json errors name a line and column, never the value.
    let document: Document = serde_json::from_slice(plain).map_err(|e| corrupt(e.to_string()))?;
    if document.format != FORMAT {
        return Err(corrupt(format!(
            "format {} is not {FORMAT}",
            document.format
        )));
    }
    Ok(document.contents)
}
