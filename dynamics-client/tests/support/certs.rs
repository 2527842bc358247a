//! Throwaway certificates and keys, generated per test run (never committed) by the test kit's
//! one generator, the emulator's `TestCertificate`.

use std::time::{Duration, SystemTime};

use dynamics_emulator::TestCertificate;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::X509;

pub struct TestCert {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl TestCert {
    /// An RSA 2048 self-signed certificate valid from yesterday to tomorrow.
    pub fn rsa() -> Self {
        Self::rsa_valid(-1, 1)
    }

    /// An RSA certificate valid from `from_days` to `to_days` relative to now.
    pub fn rsa_valid(from_days: i64, to_days: i64) -> Self {
        let now = SystemTime::now();
        let at = |days: i64| {
            let span = Duration::from_secs(days.unsigned_abs() * 86_400);
            if days < 0 { now - span } else { now + span }
        };
        Self::from(
            TestCertificate::generate_valid("dynamics-client test", at(from_days), at(to_days))
                .unwrap(),
        )
    }

    /// A P-256 EC certificate, which client assertions cannot use.
    pub fn ec() -> Self {
        Self::from(TestCertificate::generate_ec("dynamics-client test").unwrap())
    }

    fn from(generated: TestCertificate) -> Self {
        Self {
            key: PKey::private_key_from_pem(generated.key_pem().as_bytes()).unwrap(),
            cert: X509::from_pem(generated.cert_pem().as_bytes()).unwrap(),
        }
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }

    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().unwrap()
    }

    /// Certificate followed by an unencrypted PKCS#8 key.
    pub fn combined_pem(&self) -> Vec<u8> {
        [self.cert_pem(), self.key_pem()].concat()
    }

    /// Certificate followed by a PKCS#8 key encrypted with `password`.
    pub fn combined_pem_encrypted(&self, password: &str) -> Vec<u8> {
        let key = self
            .key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), password.as_bytes())
            .unwrap();
        [self.cert_pem(), key].concat()
    }

    pub fn pkcs12(&self, password: &str) -> Vec<u8> {
        Pkcs12::builder()
            .name("test")
            .pkey(&self.key)
            .cert(&self.cert)
            .build2(password)
            .unwrap()
            .to_der()
            .unwrap()
    }
}
