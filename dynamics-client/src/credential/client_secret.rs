//! Client-secret credential: OAuth client credentials with a shared secret.

use std::fmt;

use super::token_endpoint::{TokenEndpoint, form};
use super::{AccessToken, CredentialOptions, TokenCredential};
use crate::clock::BoxFuture;
use crate::error::{CredentialError, Result};
use crate::secret::Secret;

/// Authenticates an application with a client secret.
///
/// Prefer [`ClientCertificateCredential`](super::ClientCertificateCredential) in production:
/// a certificate's key never leaves the machine, a secret travels with every token request.
pub struct ClientSecretCredential {
    client_id: String,
    secret: Secret,
    endpoint: TokenEndpoint,
}

impl fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("client_id", &self.client_id)
            .field("token_endpoint", &self.endpoint.url.as_str())
            .finish_non_exhaustive()
    }
}

impl ClientSecretCredential {
    /// Builds the credential for an application registered in `tenant_id`.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        secret: Secret,
        options: CredentialOptions,
    ) -> Result<Self> {
        if client_id.is_empty() {
            return Err(CredentialError::Configuration("client id is empty".into()).into());
        }
        if secret.expose().is_empty() {
            return Err(CredentialError::Configuration("client secret is empty".into()).into());
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            secret,
            endpoint: TokenEndpoint::new(tenant_id, &options)?,
        })
    }
}

impl TokenCredential for ClientSecretCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.endpoint.request(move || {
            Ok(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("scope", scope),
                ("client_secret", self.secret.expose()),
            ]))
        }))
    }
}
