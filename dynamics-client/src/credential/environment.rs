//! A credential configured from the Azure SDK environment variables.

use std::fmt;

use super::{
    AccessToken, ClientCertificateCredential, ClientSecretCredential, CredentialOptions, Settings,
    TokenCredential,
};
use crate::clock::BoxFuture;
use crate::error::{CredentialError, Result};
use crate::secret::Secret;

/// A certificate or secret credential configured from the Azure SDK conventions:
///
/// | variable | meaning |
/// |---|---|
/// | `AZURE_TENANT_ID` | tenant id or domain (required) |
/// | `AZURE_CLIENT_ID` | application (client) id (required) |
/// | `AZURE_CLIENT_CERTIFICATE_PATH` | PEM (certificate + key) or `.pfx`/`.p12` file |
/// | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | password of the key or archive, if any |
/// | `AZURE_CLIENT_SECRET` | client secret, used when no certificate path is set |
/// | `AZURE_AUTHORITY_HOST` | authority host, default `https://login.microsoftonline.com` |
pub struct EnvironmentCredential {
    inner: Box<dyn TokenCredential>,
}

impl fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentCredential")
            .field("inner", &self.inner)
            .finish()
    }
}

impl EnvironmentCredential {
    /// Reads the process environment.
    pub fn new(options: CredentialOptions) -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok(), options)
    }

    /// Reads the variables through `lookup` instead of the process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        options: CredentialOptions,
    ) -> Result<Self> {
        let settings = Settings(lookup);
        let get = |name: &str| settings.get(name);
        let tenant_id = settings.required("AZURE_TENANT_ID")?;
        let client_id = settings.required("AZURE_CLIENT_ID")?;
        let options = settings.authority_host(options);
        let inner: Box<dyn TokenCredential> =
            if let Some(path) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
                let password = get("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::new);
                Box::new(ClientCertificateCredential::from_file(
                    &tenant_id,
                    &client_id,
                    path,
                    password.as_ref(),
                    options,
                )?)
            } else if let Some(secret) = get("AZURE_CLIENT_SECRET") {
                Box::new(ClientSecretCredential::new(
                    &tenant_id,
                    &client_id,
                    Secret::new(secret),
                    options,
                )?)
            } else {
                return Err(CredentialError::Configuration(
                    "set AZURE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_SECRET".into(),
                )
                .into());
            };
        Ok(Self { inner })
    }
}

impl TokenCredential for EnvironmentCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        self.inner.get_token(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secret_from_environment() {
        let c = EnvironmentCredential::from_lookup(
            lookup(&[
                ("AZURE_TENANT_ID", "t1"),
                ("AZURE_CLIENT_ID", "c1"),
                ("AZURE_CLIENT_SECRET", "SENTINEL-SECRET"),
                ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us"),
            ]),
            CredentialOptions::default(),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("ClientSecretCredential"), "{debug}");
        assert!(
            debug.contains("https://login.microsoftonline.us/t1/oauth2/v2.0/token"),
            "{debug}"
        );
        assert!(!debug.contains("SENTINEL"), "{debug}");
    }

    #[test]
    fn missing_variables_are_named() {
        let err = EnvironmentCredential::from_lookup(lookup(&[]), CredentialOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");
        let err = EnvironmentCredential::from_lookup(
            lookup(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]),
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Credential(_)));
        assert!(err.to_string().contains("AZURE_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn missing_certificate_file_is_reported() {
        let err = EnvironmentCredential::from_lookup(
            lookup(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/app.pem"),
            ]),
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/app.pem"), "{err}");
    }

    #[test]
    fn plain_http_authority_is_refused() {
        let err = EnvironmentCredential::from_lookup(
            lookup(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s"),
                ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
            ]),
            CredentialOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
}
