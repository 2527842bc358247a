//! Self-signed RSA certificates for app registrations, made with openssl. The private key
//! goes to the encrypted store or to a password-protected PKCS#12 file, never to the screen.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dynamics_client::Secret;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

use crate::error::{CliError, Result};

/// The smallest RSA key Entra ID accepts for certificate credentials.
pub(crate) const MIN_BITS: u32 = 2048;

/// A new certificate and its key.
pub(crate) struct NewCertificate {
    pub(crate) x509: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for NewCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCertificate")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl NewCertificate {
    /// A self-signed certificate for `subject` (`CN=...` or a bare name), valid `days` days.
    pub(crate) fn generate(subject: &str, days: u32, bits: u32) -> Result<Self> {
        if bits < MIN_BITS {
            return Err(CliError::Usage(format!(
                "RSA keys must have at least {MIN_BITS} bits"
            )));
        }
        if days == 0 {
            return Err(CliError::Usage("--days must be at least 1".into()));
        }
        let key = PKey::from_rsa(Rsa::generate(bits)?)?;
        let cn = subject.strip_prefix("CN=").unwrap_or(subject);
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", cn)
            .map_err(|_| CliError::Usage(format!("`{subject}` is not a usable subject name")))?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // Back-dated five minutes so a slightly slow clock elsewhere still accepts it.
        let (not_before, not_after) = (
            Asn1Time::from_unix(now - 300)?,
            Asn1Time::days_from_now(days)?,
        );
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.append_extension(BasicConstraints::new().build()?)?;
        builder.append_extension(KeyUsage::new().digital_signature().build()?)?;
        builder.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(Self {
            x509: builder.build(),
            key,
        })
    }

    pub(crate) fn cert_pem(&self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.x509.to_pem()?).into_owned())
    }

    pub(crate) fn cert_der(&self) -> Result<Vec<u8>> {
        Ok(self.x509.to_der()?)
    }

    /// The DER certificate in standard base64, as Graph's `keyCredentials.key` takes it.
    pub(crate) fn cert_base64(&self) -> Result<String> {
        Ok(STANDARD.encode(self.cert_der()?))
    }

    pub(crate) fn key_pem(&self) -> Result<Secret> {
        let pem = self.key.private_key_to_pem_pkcs8()?;
        Ok(Secret::new(String::from_utf8_lossy(&pem).into_owned()))
    }

    /// SHA-1 thumbprint, upper-case hex, as the Azure portal shows it.
    pub(crate) fn thumbprint(&self) -> String {
        thumbprint(&self.x509)
    }

    pub(crate) fn not_after(&self) -> String {
        self.x509.not_after().to_string()
    }

    /// A PKCS#12 archive of the key and certificate, sealed with `password` (AES-256).
    pub(crate) fn pkcs12(&self, name: &str, password: &Secret) -> Result<Vec<u8>> {
        let archive = Pkcs12::builder()
            .name(name)
            .pkey(&self.key)
            .cert(&self.x509)
            .build2(password.expose())?;
        Ok(archive.to_der()?)
    }
}

pub(crate) fn thumbprint(x509: &X509) -> String {
    x509.digest(MessageDigest::sha1())
        .map(|d| d.iter().map(|b| format!("{b:02X}")).collect())
        .unwrap_or_default()
}

/// A random password for a PKCS#12 file: 24 bytes, base64url.
pub(crate) fn random_password() -> Result<Secret> {
    let mut bytes = [0u8; 24];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ))
}

/// Writes a file readable only by its owner when it holds a secret.
pub(crate) fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(CliError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(CliError::io("write", path))
}

/// Files written by `dynamics cert new`.
pub(crate) struct Written {
    pub(crate) pem: PathBuf,
    pub(crate) cer: PathBuf,
    pub(crate) pfx: PathBuf,
    pub(crate) password_file: Option<PathBuf>,
}
