//! Interop with the Azure SDK for Rust: its credentials (`azure_identity`) in this client, and
//! this crate's credentials in Azure SDK clients. Behind the `azure-core` feature, which brings
//! `azure_core` without its default features, so without a TLS stack of its own.

use std::fmt;
use std::sync::Arc;

use super::{AccessToken, TokenCredential};
use crate::clock::BoxFuture;
use crate::error::{CredentialError, Error, Result};
use crate::secret::Secret;

/// An Azure SDK credential (anything implementing `azure_core::credentials::TokenCredential`,
/// such as `azure_identity`'s) used as this client's [`TokenCredential`].
///
/// Its failures become [`CredentialError::Unavailable`] naming `AzureSdkCredential` and
/// quoting the Azure SDK's error.
pub struct AzureSdkCredential {
    inner: Arc<dyn azure_core::credentials::TokenCredential>,
}

impl fmt::Debug for AzureSdkCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureSdkCredential")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AzureSdkCredential {
    /// Wraps an Azure SDK credential.
    pub fn new(inner: Arc<dyn azure_core::credentials::TokenCredential>) -> Self {
        Self { inner }
    }
}

impl TokenCredential for AzureSdkCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let token = self.inner.get_token(&[scope], None).await.map_err(|e| {
                Error::from(CredentialError::Unavailable {
                    credential: "AzureSdkCredential",
                    reason: e.to_string(),
                })
            })?;
            Ok(AccessToken::new(
                Secret::new(token.token.secret()),
                token.expires_on.into(),
            ))
        })
    }
}

/// One of this crate's credentials used as an Azure SDK
/// `azure_core::credentials::TokenCredential`, for Azure SDK clients. It takes exactly one
/// scope per request, as every credential of this crate does.
pub struct AsAzureSdkCredential {
    inner: Arc<dyn TokenCredential>,
}

impl fmt::Debug for AsAzureSdkCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsAzureSdkCredential")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsAzureSdkCredential {
    /// Wraps one of this crate's credentials.
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self { inner }
    }
}

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for AsAzureSdkCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        use azure_core::error::{Error as AzureError, ErrorKind};
        let [scope] = scopes else {
            return Err(AzureError::with_message(
                ErrorKind::Credential,
                format!("exactly one scope is needed, got {}", scopes.len()),
            ));
        };
        let token = self
            .inner
            .get_token(scope)
            .await
            .map_err(|e| AzureError::new(ErrorKind::Credential, e))?;
        Ok(azure_core::credentials::AccessToken::new(
            token.token.expose().to_owned(),
            token.expires_on.into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[derive(Debug)]
    struct Fixed;

    impl TokenCredential for Fixed {
        fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
            Box::pin(async move {
                Ok(AccessToken::new(
                    Secret::new(format!("token-for {scope}")),
                    SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000),
                ))
            })
        }
    }

    #[tokio::test]
    async fn round_trip_through_the_azure_sdk_trait() {
        let ours: Arc<dyn TokenCredential> = Arc::new(Fixed);
        let theirs: Arc<dyn azure_core::credentials::TokenCredential> =
            Arc::new(AsAzureSdkCredential::new(ours));
        let back = AzureSdkCredential::new(theirs.clone());
        let token = back
            .get_token("https://o.crm.dynamics.com/.default")
            .await
            .unwrap();
        assert_eq!(
            token.token.expose(),
            "token-for https://o.crm.dynamics.com/.default"
        );
        assert_eq!(
            token.expires_on,
            SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
        let err = theirs.get_token(&["a", "b"], None).await.unwrap_err();
        assert!(err.to_string().contains("exactly one scope"), "{err}");
        assert!(!format!("{back:?}").contains("token-for"));
    }
}
