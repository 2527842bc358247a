//! Certificates: the public [`Certificate`] an app is registered with, and [`TestCertificate`],
//! a throwaway self-signed certificate and key made with openssl for tests and quickstarts.

use std::fmt;
use std::time::{Duration, SystemTime};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

use crate::Error;
use crate::jws::{self, SigningAlgorithm};

/// An X.509 certificate registered for an app: its public key verifies client assertions and its
/// thumbprints select it from the assertion header.
#[derive(Clone)]
pub struct Certificate {
    public_key: PKey<Public>,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
}

impl Certificate {
    /// Reads a PEM certificate (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let cert = X509::from_pem(pem)
            .map_err(|e| Error::Certificate(format!("not a PEM certificate: {e}")))?;
        Self::from_x509(&cert).map_err(|e| Error::Certificate(e.to_string()))
    }

    fn from_x509(cert: &X509) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Self {
            public_key: cert.public_key()?,
            sha1: cert.digest(MessageDigest::sha1())?.to_vec(),
            sha256: cert.digest(MessageDigest::sha256())?.to_vec(),
        })
    }

    pub(crate) fn public_key(&self) -> &PKey<Public> {
        &self.public_key
    }

    /// `x5t`: unpadded base64url of the SHA-1 digest of the DER certificate.
    pub fn x5t(&self) -> String {
        jws::b64url(&self.sha1)
    }

    /// `x5t#S256`: unpadded base64url of the SHA-256 digest of the DER certificate.
    pub fn x5t_s256(&self) -> String {
        jws::b64url(&self.sha256)
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
    pub fn sha1_thumbprint_hex(&self) -> String {
        hex_upper(&self.sha1)
    }

    /// The SHA-256 thumbprint in upper-case hex.
    pub fn sha256_thumbprint_hex(&self) -> String {
        hex_upper(&self.sha256)
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("sha1", &self.sha1_thumbprint_hex())
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch, negative before it.
fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A self-signed RSA-2048 certificate and its private key, generated in memory.
///
/// Meant for tests: register [`TestCertificate::certificate`] with the emulator and give the PEMs
/// to the client under test. `Debug` never shows the private key.
///
/// ```
/// let cert = dynamics_emulator::TestCertificate::generate("CN=dynamics-rs test").unwrap();
/// assert!(cert.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
/// ```
pub struct TestCertificate {
    cert_pem: String,
    key_pem: String,
    key: PKey<Private>,
    certificate: Certificate,
}

impl TestCertificate {
    /// Generates an RSA-2048 key pair and a certificate valid from one hour ago for one year.
    ///
    /// `subject` is either a bare common name (`my-app`) or `CN=...`.
    pub fn generate(subject: &str) -> Result<Self, Error> {
        let now = SystemTime::now();
        // Back-dated an hour so a skewed clock does not make it "not yet valid".
        Self::generate_valid(
            subject,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(365 * 86_400),
        )
    }

    /// Generates an RSA-2048 key pair and a certificate valid from `not_before` to `not_after`
    /// (either may lie in the past or the future), for tests of expired or not yet valid
    /// certificates.
    pub fn generate_valid(
        subject: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, Error> {
        let build = || {
            let key = PKey::from_rsa(Rsa::generate(2048)?)?;
            Self::from_key(key, subject, not_before, not_after)
        };
        build().map_err(|e: openssl::error::ErrorStack| Error::Certificate(e.to_string()))
    }

    /// Generates a P-256 EC key pair and a certificate valid from one hour ago for one year:
    /// a certificate Entra ID does not take for client assertions, for tests that must refuse
    /// it.
    pub fn generate_ec(subject: &str) -> Result<Self, Error> {
        let now = SystemTime::now();
        let build = || {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
            Self::from_key(
                key,
                subject,
                now - Duration::from_secs(3600),
                now + Duration::from_secs(365 * 86_400),
            )
        };
        build().map_err(|e: openssl::error::ErrorStack| Error::Certificate(e.to_string()))
    }

    /// The one self-signed certificate builder of the test kit: `key`'s certificate for
    /// `subject`, valid from `not_before` to `not_after`, signed with SHA-256.
    fn from_key(
        key: PKey<Private>,
        subject: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, openssl::error::ErrorStack> {
        let cn = subject.strip_prefix("CN=").unwrap_or(subject);
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", cn)?;
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
        let not_before = Asn1Time::from_unix(unix_seconds(not_before))?;
        let not_after = Asn1Time::from_unix(unix_seconds(not_after))?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let cert = builder.build();
        let certificate = Certificate::from_x509(&cert)?;
        Ok(Self {
            cert_pem: String::from_utf8_lossy(&cert.to_pem()?).into_owned(),
            key_pem: String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned(),
            key,
            certificate,
        })
    }

    /// The certificate, PEM-encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM-encoded PKCS#8. Treat it as a secret.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The public certificate, to pass to `register_app`.
    pub fn certificate(&self) -> Certificate {
        self.certificate.clone()
    }

    /// The SHA-1 thumbprint in upper-case hex.
    pub fn sha1_thumbprint_hex(&self) -> String {
        self.certificate.sha1_thumbprint_hex()
    }

    /// The SHA-256 thumbprint in upper-case hex.
    pub fn sha256_thumbprint_hex(&self) -> String {
        self.certificate.sha256_thumbprint_hex()
    }

    /// `x5t`: unpadded base64url SHA-1 thumbprint.
    pub fn x5t(&self) -> String {
        self.certificate.x5t()
    }

    /// `x5t#S256`: unpadded base64url SHA-256 thumbprint.
    pub fn x5t_s256(&self) -> String {
        self.certificate.x5t_s256()
    }

    /// Signs `claims` as a client assertion, with the header Entra expects for `alg`
    /// (`x5t` for RS256, `x5t#S256` for PS256). Lets tests craft valid and invalid assertions.
    pub fn sign_assertion(&self, alg: SigningAlgorithm, claims: &Value) -> Result<String, Error> {
        let header = match alg {
            SigningAlgorithm::Rs256 => json!({"alg": alg.name(), "typ": "JWT", "x5t": self.x5t()}),
            SigningAlgorithm::Ps256 => {
                json!({"alg": alg.name(), "typ": "JWT", "x5t#S256": self.x5t_s256()})
            }
        };
        self.sign_with_header(alg, &header, claims)
    }

    /// Signs `claims` under an arbitrary JOSE header (for tests of malformed headers).
    pub fn sign_with_header(
        &self,
        alg: SigningAlgorithm,
        header: &Value,
        claims: &Value,
    ) -> Result<String, Error> {
        jws::sign(alg, &self.key, header, claims).map_err(|e| Error::Certificate(e.to_string()))
    }
}

impl From<&TestCertificate> for Certificate {
    fn from(test: &TestCertificate) -> Self {
        test.certificate()
    }
}

impl fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCertificate")
            .field("sha1", &self.sha1_thumbprint_hex())
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_thumbprints() {
        let test = TestCertificate::generate("CN=round-trip").expect("generate");
        let parsed = Certificate::from_pem(test.cert_pem().as_bytes()).expect("parse");
        assert_eq!(parsed.x5t(), test.x5t());
        assert_eq!(parsed.x5t_s256(), test.x5t_s256());
        assert_eq!(test.sha1_thumbprint_hex().len(), 40);
        assert_eq!(test.sha256_thumbprint_hex().len(), 64);
        assert!(!test.x5t().contains('=') && !test.x5t().contains('+'));
        assert!(test.key_pem().contains("PRIVATE KEY"));
        assert!(Certificate::from_pem(b"junk").is_err());
    }

    #[test]
    fn validity_and_key_type_are_as_asked() {
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let expired = TestCertificate::generate_valid("old", now - 3 * day, now - day).unwrap();
        let x509 = X509::from_pem(expired.cert_pem().as_bytes()).unwrap();
        let today = Asn1Time::days_from_now(0).unwrap();
        assert!(x509.not_after() < today, "expired");
        assert!(x509.not_before() < x509.not_after());
        let ec = TestCertificate::generate_ec("CN=ec").unwrap();
        let x509 = X509::from_pem(ec.cert_pem().as_bytes()).unwrap();
        assert!(x509.public_key().unwrap().ec_key().is_ok(), "an EC key");
        assert!(ec.key_pem().contains("PRIVATE KEY"));
    }
}
