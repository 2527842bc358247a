//! Certificate credential: signs a client assertion per token request.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;

use super::assertion::{AssertionAlgorithm, AssertionSigner, base64url};
use super::token_endpoint::{TokenEndpoint, form};
use super::{AccessToken, CredentialOptions, TokenCredential};
use crate::clock::{BoxFuture, unix_seconds};
use crate::error::{CredentialError, Result};
use crate::secret::Secret;

/// Authenticates an application with a certificate (OAuth client credentials with a signed
/// client assertion).
///
/// The certificate and key are checked once, at construction: the key must be RSA, must match
/// the certificate, and the certificate must be within its validity period. Each token request
/// then signs a fresh assertion, by default PS256 with an `x5t#S256` header
/// ([`AssertionAlgorithm::Ps256`]).
///
/// ```no_run
/// use dynamics_client::{ClientCertificateCredential, CredentialOptions, Secret};
///
/// # fn run() -> dynamics_client::Result<()> {
/// let pem = std::fs::read("app.pem").expect("certificate file");
/// let credential = ClientCertificateCredential::from_pem(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     &pem,
///     Some(&Secret::new("key passphrase")),
///     CredentialOptions::default(),
/// )?;
/// # Ok(()) }
/// ```
pub struct ClientCertificateCredential {
    client_id: String,
    endpoint: TokenEndpoint,
    signer: AssertionSigner,
    algorithm: AssertionAlgorithm,
}

impl fmt::Debug for ClientCertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateCredential")
            .field("client_id", &self.client_id)
            .field("token_endpoint", &self.endpoint.url.as_str())
            .field("algorithm", &self.algorithm)
            .field("x5t#S256", &self.signer.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl ClientCertificateCredential {
    /// Builds the credential from PEM text holding both the certificate and its private key
    /// (PKCS#8 or PKCS#1, optionally encrypted with `password`).
    pub fn from_pem(
        tenant_id: &str,
        client_id: &str,
        pem: &[u8],
        password: Option<&Secret>,
        options: CredentialOptions,
    ) -> Result<Self> {
        Self::from_pem_parts(tenant_id, client_id, pem, pem, password, options)
    }

    /// Builds the credential from a PEM certificate and a separate PEM private key.
    pub fn from_pem_parts(
        tenant_id: &str,
        client_id: &str,
        certificate_pem: &[u8],
        key_pem: &[u8],
        password: Option<&Secret>,
        options: CredentialOptions,
    ) -> Result<Self> {
        let parse_error = |source| CredentialError::Parse {
            what: "PEM certificate",
            source,
        };
        // The first certificate is the application's; any that follow are its chain.
        let mut certificates = X509::stack_from_pem(certificate_pem)
            .map_err(parse_error)?
            .into_iter();
        let certificate = match certificates.next() {
            Some(c) => c,
            // Let OpenSSL say why there is no certificate.
            None => X509::from_pem(certificate_pem).map_err(parse_error)?,
        };
        let key = read_pem_key(key_pem, password)?;
        Self::new(
            tenant_id,
            client_id,
            certificate,
            certificates.collect(),
            key,
            options,
        )
    }

    /// Builds the credential from a PKCS#12 (`.pfx`/`.p12`) archive and its password.
    pub fn from_pkcs12(
        tenant_id: &str,
        client_id: &str,
        der: &[u8],
        password: &Secret,
        options: CredentialOptions,
    ) -> Result<Self> {
        let archive = Pkcs12::from_der(der).map_err(|source| CredentialError::Parse {
            what: "PKCS#12 archive",
            source,
        })?;
        let parsed = archive.parse2(password.expose()).map_err(|source| {
            if is_bad_password(&source) {
                CredentialError::BadPassword {
                    what: "PKCS#12 archive",
                }
            } else {
                CredentialError::Parse {
                    what: "PKCS#12 archive",
                    source,
                }
            }
        })?;
        let (Some(certificate), Some(key)) = (parsed.cert, parsed.pkey) else {
            return Err(CredentialError::Configuration(
                "the PKCS#12 archive must hold a certificate and its private key".into(),
            )
            .into());
        };
        let chain = parsed.ca.map(|stack| stack.into_iter().collect());
        Self::new(
            tenant_id,
            client_id,
            certificate,
            chain.unwrap_or_default(),
            key,
            options,
        )
    }

    /// Reads a certificate file: PEM (certificate and key in one file) or PKCS#12, told apart by
    /// content.
    pub fn from_file(
        tenant_id: &str,
        client_id: &str,
        path: impl AsRef<Path>,
        password: Option<&Secret>,
        options: CredentialOptions,
    ) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CredentialError::Io {
            path: path.to_owned(),
            source,
        })?;
        if contains(&bytes, b"-----BEGIN") {
            Self::from_pem(tenant_id, client_id, &bytes, password, options)
        } else {
            let empty = Secret::new("");
            Self::from_pkcs12(
                tenant_id,
                client_id,
                &bytes,
                password.unwrap_or(&empty),
                options,
            )
        }
    }

    fn new(
        tenant_id: &str,
        client_id: &str,
        certificate: X509,
        chain: Vec<X509>,
        key: PKey<Private>,
        options: CredentialOptions,
    ) -> Result<Self> {
        if client_id.is_empty() {
            return Err(CredentialError::Configuration("client id is empty".into()).into());
        }
        if key.id() != Id::RSA {
            return Err(CredentialError::UnsupportedKey {
                key_type: key_type_name(key.id()),
            }
            .into());
        }
        let public = certificate
            .public_key()
            .map_err(|source| CredentialError::Parse {
                what: "certificate public key",
                source,
            })?;
        if !public.public_eq(&key) {
            return Err(CredentialError::KeyMismatch.into());
        }
        check_validity(&certificate, options.clock.now())?;
        let digest = |md| {
            certificate
                .digest(md)
                .map_err(|source| CredentialError::Parse {
                    what: "certificate thumbprint",
                    source,
                })
        };
        let x5c = std::iter::once(&certificate)
            .chain(&chain)
            .map(|c| c.to_der().map(|der| STANDARD.encode(der)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CredentialError::Parse {
                what: "certificate chain",
                source,
            })?;
        let signer = AssertionSigner {
            x5t: base64url(&digest(MessageDigest::sha1())?),
            x5t_s256: base64url(&digest(MessageDigest::sha256())?),
            x5c,
            send_x5c: false,
            key,
        };
        Ok(Self {
            client_id: client_id.to_owned(),
            endpoint: TokenEndpoint::new(tenant_id, &options)?,
            signer,
            algorithm: AssertionAlgorithm::default(),
        })
    }

    /// Chooses how assertions are signed (PS256 + `x5t#S256` by default).
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sends the certificate and its chain in the assertion's `x5c` header, as subject name and
    /// issuer authentication (certificates trusted by name rather than uploaded) requires.
    pub fn with_certificate_chain(mut self, send: bool) -> Self {
        self.signer.send_x5c = send;
        self
    }

    /// The token endpoint, which is also the assertion's `aud`.
    pub fn token_endpoint(&self) -> &str {
        self.endpoint.url.as_str()
    }

    /// Signs a fresh client assertion, as sent with each token request.
    ///
    /// Useful for diagnostics and for callers that post token requests themselves.
    pub fn client_assertion(&self) -> Result<Secret> {
        self.signer.sign(
            self.algorithm,
            &self.client_id,
            self.endpoint.url.as_str(),
            self.endpoint.clock.now(),
        )
    }
}

impl TokenCredential for ClientCertificateCredential {
    fn get_token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.endpoint.request(move || {
            let assertion = self.client_assertion()?;
            Ok(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("scope", scope),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.expose()),
            ]))
        }))
    }
}

/// Reads a PEM private key. Always passes a password (empty if none) so OpenSSL never prompts on
/// a terminal for an encrypted key.
fn read_pem_key(pem: &[u8], password: Option<&Secret>) -> Result<PKey<Private>> {
    let encrypted = contains(pem, b"ENCRYPTED");
    if encrypted && password.is_none() {
        return Err(CredentialError::PasswordRequired.into());
    }
    let pass = password.map(Secret::expose).unwrap_or("");
    PKey::private_key_from_pem_passphrase(pem, pass.as_bytes()).map_err(|source| {
        if encrypted {
            CredentialError::BadPassword {
                what: "private key",
            }
        } else {
            CredentialError::Parse {
                what: "PEM private key",
                source,
            }
        }
        .into()
    })
}

fn is_bad_password(errors: &openssl::error::ErrorStack) -> bool {
    errors.errors().iter().any(|e| {
        e.reason()
            .is_some_and(|r| r.contains("mac verify failure") || r.contains("bad decrypt"))
    })
}

fn check_validity(certificate: &X509, now: SystemTime) -> Result<()> {
    let now_secs = i64::try_from(unix_seconds(now)).unwrap_or(i64::MAX);
    let now = Asn1Time::from_unix(now_secs).map_err(|source| CredentialError::Parse {
        what: "current time",
        source,
    })?;
    let before = |a: &Asn1TimeRef, b: &Asn1TimeRef| a.compare(b).map(|o| o.is_lt());
    let parse_err = |source| CredentialError::Parse {
        what: "certificate validity",
        source,
    };
    if before(&now, certificate.not_before()).map_err(parse_err)? {
        return Err(CredentialError::NotYetValid {
            not_before: certificate.not_before().to_string(),
        }
        .into());
    }
    if before(certificate.not_after(), &now).map_err(parse_err)? {
        return Err(CredentialError::Expired {
            not_after: certificate.not_after().to_string(),
        }
        .into());
    }
    Ok(())
}

fn key_type_name(id: Id) -> String {
    match id {
        Id::EC => "EC".into(),
        Id::DSA => "DSA".into(),
        Id::ED25519 => "Ed25519".into(),
        Id::ED448 => "Ed448".into(),
        Id::RSA_PSS => "RSA-PSS".into(),
        other => format!("OpenSSL key id {}", other.as_raw()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
