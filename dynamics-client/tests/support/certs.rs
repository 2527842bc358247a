//! Throwaway certificates and keys, generated per test run (never committed).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::{X509, X509NameBuilder};

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
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = self_signed(&key, from_days, to_days);
        Self { key, cert }
    }

    /// A P-256 EC certificate, which client assertions cannot use.
    pub fn ec() -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let cert = self_signed(&key, -1, 1);
        Self { key, cert }
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

fn self_signed(key: &PKey<Private>, from_days: i64, to_days: i64) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "dynamics-client test")
        .unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(key).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = 86_400;
    builder
        .set_not_before(&Asn1Time::from_unix(now + from_days * day).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(now + to_days * day).unwrap())
        .unwrap();
    builder.sign(key, MessageDigest::sha256()).unwrap();
    builder.build()
}
