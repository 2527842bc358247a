//! Self-signed RSA certificates for app registrations, made with openssl. The private key
//! goes to the encrypted store or to a password-protected PKCS#12 file, never to the screen.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dynamics_client::Secret;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

use crate::error::{CliError, Result};

/// The smallest RSA key Entra ID accepts for certificate credentials.
pub(crate) const MIN_BITS: u32 = 2048;

/// Refuses a key too small for Entra ID, or a certificate valid for no day.
pub(crate) fn check_parameters(days: u32, bits: u32) -> Result<()> {
    if bits < MIN_BITS {
        return Err(CliError::Usage(format!(
            "RSA keys must have at least {MIN_BITS} bits"
        )));
    }
    if days == 0 {
        return Err(CliError::Usage("--days must be at least 1".into()));
    }
    Ok(())
}

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
        check_parameters(days, bits)?;
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

    /// A PKCS#12 archive of the key and certificate, sealed with `password`: key and
    /// certificate bags in PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC), the MAC with
    /// SHA-256, whatever the system OpenSSL's defaults (OpenSSL 1.1 would pick 3DES and
    /// RC2-40).
    pub(crate) fn pkcs12(&self, name: &str, password: &Secret) -> Result<Vec<u8>> {
        let archive = Pkcs12::builder()
            .name(name)
            .pkey(&self.key)
            .cert(&self.x509)
            .key_algorithm(Nid::AES_256_CBC)
            .cert_algorithm(Nid::AES_256_CBC)
            .mac_md(MessageDigest::sha256())
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

/// Writes a public file atomically (see `dynamics_fs`).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(dynamics_fs::AtomicWrite::new().write(path, bytes)?)
}

/// Writes a secret owner-only, atomically; an existing file is replaced only when `replace`.
pub(crate) fn write_secret(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let write = dynamics_fs::AtomicWrite::new().private();
    let write = if replace { write } else { write.no_replace() };
    Ok(write.write(path, bytes)?)
}

/// Files written by `dynamics cert new`.
pub(crate) struct Written {
    pub(crate) pem: PathBuf,
    pub(crate) cer: PathBuf,
    pub(crate) pfx: PathBuf,
    pub(crate) password_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The object identifiers of a DER document, in order, in dotted form. OCTET STRINGs that
    /// hold DER themselves (PKCS#12 nests its safes in them) are read too; encrypted ones are not
    /// DER and are skipped.
    fn oids(der: &[u8]) -> Vec<String> {
        fn walk(mut der: &[u8], out: &mut Vec<String>) -> Option<()> {
            while !der.is_empty() {
                let tag = der[0];
                let (len, header) = match *der.get(1)? {
                    n if n < 0x80 => (n as usize, 2),
                    n => {
                        let bytes = (n & 0x7f) as usize;
                        let len = der
                            .get(2..2 + bytes)?
                            .iter()
                            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
                        (len, 2 + bytes)
                    }
                };
                let body = der.get(header..header + len)?;
                match tag {
                    0x06 => out.push(dotted(body)),
                    0x04 => {
                        let mut inner = Vec::new();
                        if walk(body, &mut inner).is_some() {
                            out.extend(inner);
                        }
                    }
                    t if t & 0x20 != 0 => walk(body, out)?,
                    _ => {}
                }
                der = &der[header + len..];
            }
            Some(())
        }
        fn dotted(body: &[u8]) -> String {
            let mut parts = Vec::new();
            let mut value = 0u64;
            for b in body {
                value = (value << 7) | u64::from(b & 0x7f);
                if b & 0x80 == 0 {
                    if parts.is_empty() {
                        parts.push((value / 40).min(2));
                        parts.push(value - 40 * (value / 40).min(2));
                    } else {
                        parts.push(value);
                    }
                    value = 0;
                }
            }
            parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        }
        let mut out = Vec::new();
        walk(der, &mut out);
        out
    }

    const PBES2: &str = "1.2.840.113549.1.5.13";
    const PBKDF2: &str = "1.2.840.113549.1.5.12";
    const HMAC_SHA256: &str = "1.2.840.113549.2.9";
    const AES_256_CBC: &str = "2.16.840.1.101.3.4.1.42";
    const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    /// The legacy PKCS#12 PBEs (3DES, RC2-40 and the rest of 1.2.840.113549.1.12.1) and SHA-1.
    const LEGACY: [&str; 2] = ["1.2.840.113549.1.12.1.", "1.3.14.3.2.26"];

    /// Issue 22, item 12: the archive's protection is set here, not left to the system
    /// OpenSSL's defaults. Read back from the DER: both bags PBES2 with PBKDF2-HMAC-SHA-256 and
    /// AES-256-CBC, and the MAC (the document's last algorithm) SHA-256.
    #[test]
    fn pkcs12_algorithms_are_aes256_pbkdf2_and_sha256() {
        let cert = NewCertificate::generate("CN=algorithms", 1, MIN_BITS).unwrap();
        let der = cert
            .pkcs12("algorithms", &Secret::new("pass word"))
            .unwrap();
        let found = oids(&der);
        let count = |oid: &str| found.iter().filter(|o| *o == oid).count();
        // One for the shrouded key bag, one for the encrypted certificate safe.
        assert_eq!(count(PBES2), 2, "{found:?}");
        assert_eq!(count(PBKDF2), 2, "{found:?}");
        assert_eq!(count(HMAC_SHA256), 2, "{found:?}");
        assert_eq!(count(AES_256_CBC), 2, "{found:?}");
        assert_eq!(found.last().map(String::as_str), Some(SHA256), "{found:?}");
        for legacy in LEGACY {
            assert!(
                !found.iter().any(|o| o.starts_with(legacy)),
                "{legacy} in {found:?}"
            );
        }
        // And the archive opens with its password.
        let parsed = Pkcs12::from_der(&der).unwrap().parse2("pass word").unwrap();
        assert!(parsed.pkey.is_some() && parsed.cert.is_some());
    }
}
