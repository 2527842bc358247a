//! Compact JWS (RFC 7515) signed and verified with openssl: RS256 and PS256 only, the two
//! algorithms Entra ID accepts for certificate client assertions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use serde_json::{Map, Value};

/// A JWS signature algorithm accepted by the emulator's token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; Entra pairs it with an `x5t` (SHA-1) thumbprint.
    Rs256,
    /// RSASSA-PSS with SHA-256; Entra pairs it with an `x5t#S256` (SHA-256) thumbprint.
    Ps256,
}

impl SigningAlgorithm {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }
}

/// Unpadded base64url, as JOSE requires.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Signs `header.claims` and returns the compact serialisation.
pub(crate) fn sign(
    alg: SigningAlgorithm,
    key: &PKey<Private>,
    header: &Value,
    claims: &Value,
) -> Result<String, ErrorStack> {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    if alg == SigningAlgorithm::Ps256 {
        signer.set_rsa_padding(Padding::PKCS1_PSS)?;
        // RFC 7518 §3.5: the salt is as long as the hash.
        signer.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        signer.set_rsa_mgf1_md(MessageDigest::sha256())?;
    }
    signer.update(input.as_bytes())?;
    let signature = signer.sign_to_vec()?;
    Ok(format!("{input}.{}", b64url(&signature)))
}

/// A compact JWS split into its decoded parts; nothing is trusted until [`verify`] says so.
#[derive(Debug)]
pub(crate) struct Jws {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes; `None` when the text is not three base64url parts of JSON objects.
    pub(crate) fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header = serde_json::from_slice::<Map<String, Value>>(&b64url_decode(h)?).ok()?;
        let claims = serde_json::from_slice::<Map<String, Value>>(&b64url_decode(c)?).ok()?;
        Some(Self {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature: b64url_decode(s)?,
        })
    }

    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    pub(crate) fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric date claim (seconds since the epoch); floats are truncated as RFC 7519 allows.
    pub(crate) fn claim_time(&self, name: &str) -> Option<i64> {
        let value = self.claims.get(name)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    }

    /// Checks the signature with `key`; any openssl failure counts as a bad signature.
    pub(crate) fn verify<T: HasPublic>(&self, alg: SigningAlgorithm, key: &PKeyRef<T>) -> bool {
        let check = || -> Result<bool, ErrorStack> {
            let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
            if alg == SigningAlgorithm::Ps256 {
                verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
                verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                verifier.set_rsa_mgf1_md(MessageDigest::sha256())?;
            }
            verifier.update(self.signing_input.as_bytes())?;
            verifier.verify(&self.signature)
        };
        check().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;
    use serde_json::json;

    fn key() -> PKey<Private> {
        let rsa = Rsa::generate(2048).expect("rsa key");
        PKey::from_rsa(rsa).expect("pkey")
    }

    #[test]
    fn round_trips_both_algorithms_and_rejects_tampering() {
        let key = key();
        for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
            let token =
                sign(alg, &key, &json!({"alg": alg.name()}), &json!({"a": 1})).expect("sign");
            let jws = Jws::parse(&token).expect("parse");
            assert!(jws.verify(alg, &key));
            assert_eq!(jws.claim_time("a"), Some(1));
            let other = if alg == SigningAlgorithm::Rs256 {
                SigningAlgorithm::Ps256
            } else {
                SigningAlgorithm::Rs256
            };
            assert!(!jws.verify(other, &key), "padding must matter");
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64url(br#"{"a":2}"#);
            parts[1] = &forged;
            let tampered = Jws::parse(&parts.join(".")).expect("parse tampered");
            assert!(!tampered.verify(alg, &key));
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for text in ["", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.!!", "W10.e30."] {
            assert!(Jws::parse(text).is_none(), "{text}");
        }
    }
}
