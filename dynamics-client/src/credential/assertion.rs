//! The signed client assertion (a compact JWS) that proves possession of the certificate's key.
//!
//! Signed directly with OpenSSL rather than through a JWT library: the header and claims are
//! fixed, so building the compact form is a few lines, and it keeps one crypto stack.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde::Serialize;

use crate::clock::unix_seconds;
use crate::error::{CredentialError, Result};
use crate::secret::Secret;

/// How the client assertion is signed and which certificate thumbprint its header names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and header `x5t#S256` (SHA-256 thumbprint): Microsoft's current
    /// guidance, and what MSAL sends.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and header `x5t` (SHA-1 thumbprint), for ADFS and older
    /// authorities.
    Rs256,
}

/// How long an assertion is valid: Entra asks for 5 to 10 minutes.
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// Base64url without padding, the JOSE encoding of binary header values.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(rename = "x5t", skip_serializing_if = "Option::is_none")]
    x5t: Option<&'a str>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    x5t_s256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5c: Option<&'a [String]>,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// What a certificate credential needs to sign assertions.
pub(crate) struct AssertionSigner {
    pub key: PKey<Private>,
    /// base64url SHA-1 thumbprint of the certificate's DER.
    pub x5t: String,
    /// base64url SHA-256 thumbprint of the certificate's DER.
    pub x5t_s256: String,
    /// Standard base64 DER of the certificate, then of its chain, for the `x5c` header.
    pub x5c: Vec<String>,
    /// Whether to send `x5c` (subject name and issuer authentication).
    pub send_x5c: bool,
}

impl AssertionSigner {
    /// Signs a fresh assertion for `audience` (the token endpoint) with a new random `jti`.
    pub fn sign(
        &self,
        algorithm: AssertionAlgorithm,
        client_id: &str,
        audience: &str,
        now: SystemTime,
    ) -> Result<Secret> {
        let x5c = self.send_x5c.then_some(self.x5c.as_slice());
        let header = match algorithm {
            AssertionAlgorithm::Ps256 => Header {
                alg: "PS256",
                typ: "JWT",
                x5t: None,
                x5t_s256: Some(&self.x5t_s256),
                x5c,
            },
            AssertionAlgorithm::Rs256 => Header {
                alg: "RS256",
                typ: "JWT",
                x5t: Some(&self.x5t),
                x5t_s256: None,
                x5c,
            },
        };
        let now = unix_seconds(now);
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let signing_input = format!("{}.{}", encode_json(&header), encode_json(&claims));
        let signature = sign_bytes(&self.key, algorithm, signing_input.as_bytes())
            .map_err(CredentialError::Signing)?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            base64url(&signature)
        )))
    }
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs of strings and integers cannot fail.
    base64url(&serde_json::to_vec(value).unwrap_or_default())
}

fn sign_bytes(
    key: &PKey<Private>,
    algorithm: AssertionAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    if algorithm == AssertionAlgorithm::Ps256 {
        signer.set_rsa_padding(Padding::PKCS1_PSS)?;
        signer.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        signer.set_rsa_mgf1_md(MessageDigest::sha256())?;
    }
    signer.update(data)?;
    signer.sign_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn x5t_of_microsofts_documented_thumbprint() {
        let thumbprint = hex("84E05C1D98BCE3A5421D225B140B36E86A3D5534");
        assert_eq!(base64url(&thumbprint), "hOBcHZi846VCHSJbFAs26Go9VTQ");
    }
}
