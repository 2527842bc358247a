//! Certificate credentials: loading, validation errors, and the signed client assertion checked
//! independently (decoded, signature verified with the certificate's public key, claims checked).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dynamics_client::{
    AssertionAlgorithm, ClientCertificateCredential, CredentialOptions, Error, Secret,
    error::CredentialError,
};
use openssl::hash::MessageDigest;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::Value;
use support::certs::TestCert;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const AUDIENCE: &str =
    "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token";

fn credential(cert: &TestCert) -> ClientCertificateCredential {
    ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &cert.combined_pem(),
        None,
        CredentialOptions::default(),
    )
    .unwrap()
}

struct Decoded {
    header: Value,
    claims: Value,
}

/// Splits a compact JWS, verifies its signature with `cert`'s public key and decodes it.
fn verify(assertion: &str, cert: &TestCert, algorithm: AssertionAlgorithm) -> Decoded {
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS has three parts");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let public = cert.cert.public_key().unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    if algorithm == AssertionAlgorithm::Ps256 {
        verifier.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        verifier
            .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
            .unwrap();
        verifier.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
    }
    verifier
        .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    assert!(verifier.verify(&signature).unwrap(), "signature verifies");
    let json =
        |s: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    Decoded {
        header: json(parts[0]),
        claims: json(parts[1]),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn check_claims(claims: &Value) {
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    let jti = claims["jti"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "jti is a GUID: {jti}");
    let nbf = claims["nbf"].as_u64().unwrap();
    let iat = claims["iat"].as_u64().unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(now().abs_diff(nbf) <= 5, "nbf is now");
    assert_eq!(iat, nbf);
    let lifetime = exp - nbf;
    assert!((300..=600).contains(&lifetime), "lifetime {lifetime}s");
}

#[test]
fn ps256_assertion_by_default() {
    let cert = TestCert::rsa();
    let credential = credential(&cert);
    assert_eq!(credential.token_endpoint(), AUDIENCE);
    let assertion = credential.client_assertion().unwrap();
    let decoded = verify(assertion.expose(), &cert, AssertionAlgorithm::Ps256);
    assert_eq!(decoded.header["alg"], "PS256");
    assert_eq!(decoded.header["typ"], "JWT");
    let sha256 = cert.cert.digest(MessageDigest::sha256()).unwrap();
    assert_eq!(decoded.header["x5t#S256"], URL_SAFE_NO_PAD.encode(sha256));
    assert!(decoded.header.get("x5t").is_none());
    check_claims(&decoded.claims);
}

#[test]
fn rs256_assertion_as_an_option() {
    let cert = TestCert::rsa();
    let credential = credential(&cert).with_algorithm(AssertionAlgorithm::Rs256);
    let assertion = credential.client_assertion().unwrap();
    let decoded = verify(assertion.expose(), &cert, AssertionAlgorithm::Rs256);
    assert_eq!(decoded.header["alg"], "RS256");
    let sha1 = cert.cert.digest(MessageDigest::sha1()).unwrap();
    let x5t = decoded.header["x5t"].as_str().unwrap();
    assert_eq!(x5t, URL_SAFE_NO_PAD.encode(sha1));
    assert!(!x5t.contains('=') && !x5t.contains('+') && !x5t.contains('/'));
    assert!(decoded.header.get("x5t#S256").is_none());
    check_claims(&decoded.claims);
}

#[test]
fn a_pss_signature_does_not_verify_as_pkcs1() {
    let cert = TestCert::rsa();
    let assertion = credential(&cert).client_assertion().unwrap();
    let parts: Vec<&str> = assertion.expose().split('.').collect();
    let public = cert.cert.public_key().unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    verifier
        .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert!(!verifier.verify(&signature).unwrap_or(false));
}

#[test]
fn every_assertion_has_a_new_jti() {
    let cert = TestCert::rsa();
    let credential = credential(&cert);
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let assertion = credential.client_assertion().unwrap();
        let claims = assertion.expose().split('.').nth(1).unwrap().to_owned();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert!(seen.insert(claims["jti"].as_str().unwrap().to_owned()));
    }
}

#[test]
fn loads_encrypted_pem_separate_parts_pkcs12_and_files() {
    let cert = TestCert::rsa();
    let pw = Secret::new("correct horse");
    let opts = CredentialOptions::default;
    ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &cert.combined_pem_encrypted("correct horse"),
        Some(&pw),
        opts(),
    )
    .unwrap();
    ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT,
        &cert.cert_pem(),
        &cert.key_pem(),
        None,
        opts(),
    )
    .unwrap();
    let pkcs1 = cert.key.rsa().unwrap().private_key_to_pem().unwrap();
    ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT,
        &cert.cert_pem(),
        &pkcs1,
        None,
        opts(),
    )
    .unwrap();
    let p12 = ClientCertificateCredential::from_pkcs12(
        TENANT,
        CLIENT,
        &cert.pkcs12("pfx pw"),
        &Secret::new("pfx pw"),
        opts(),
    )
    .unwrap();
    let decoded = verify(
        p12.client_assertion().unwrap().expose(),
        &cert,
        AssertionAlgorithm::Ps256,
    );
    check_claims(&decoded.claims);

    let dir = std::env::temp_dir().join(format!("dynamics-client-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem_path = dir.join("app.pem");
    std::fs::write(&pem_path, cert.combined_pem()).unwrap();
    let pfx_path = dir.join("app.pfx");
    std::fs::write(&pfx_path, cert.pkcs12("pfx pw")).unwrap();
    ClientCertificateCredential::from_file(TENANT, CLIENT, &pem_path, None, opts()).unwrap();
    ClientCertificateCredential::from_file(
        TENANT,
        CLIENT,
        &pfx_path,
        Some(&Secret::new("pfx pw")),
        opts(),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn credential_error(
    result: dynamics_client::Result<ClientCertificateCredential>,
) -> CredentialError {
    match result {
        Err(Error::Credential(e)) => e,
        Err(other) => panic!("expected a credential error, got {other:?}"),
        Ok(c) => panic!("expected an error, got {c:?}"),
    }
}

#[test]
fn construction_errors_are_clear() {
    let cert = TestCert::rsa();
    let opts = CredentialOptions::default;
    let encrypted = cert.combined_pem_encrypted("right");

    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &encrypted,
        None,
        opts(),
    ));
    assert!(matches!(e, CredentialError::PasswordRequired), "{e}");

    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &encrypted,
        Some(&Secret::new("wrong")),
        opts(),
    ));
    assert!(matches!(e, CredentialError::BadPassword { .. }), "{e}");
    assert_eq!(e.to_string(), "wrong password for the private key");

    let e = credential_error(ClientCertificateCredential::from_pkcs12(
        TENANT,
        CLIENT,
        &cert.pkcs12("right"),
        &Secret::new("wrong"),
        opts(),
    ));
    assert!(
        matches!(
            e,
            CredentialError::BadPassword {
                what: "PKCS#12 archive"
            }
        ),
        "{e}"
    );

    let other = TestCert::rsa();
    let e = credential_error(ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT,
        &cert.cert_pem(),
        &other.key_pem(),
        None,
        opts(),
    ));
    assert!(matches!(e, CredentialError::KeyMismatch), "{e}");

    let ec = TestCert::ec();
    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &ec.combined_pem(),
        None,
        opts(),
    ));
    assert!(matches!(e, CredentialError::UnsupportedKey { .. }), "{e}");
    assert!(e.to_string().contains("EC"), "{e}");

    let expired = TestCert::rsa_valid(-10, -1);
    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &expired.combined_pem(),
        None,
        opts(),
    ));
    assert!(matches!(e, CredentialError::Expired { .. }), "{e}");
    assert!(
        e.to_string().starts_with("the certificate expired on"),
        "{e}"
    );

    let future = TestCert::rsa_valid(2, 10);
    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &future.combined_pem(),
        None,
        opts(),
    ));
    assert!(matches!(e, CredentialError::NotYetValid { .. }), "{e}");

    let e = credential_error(ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        b"not a pem",
        None,
        opts(),
    ));
    assert!(
        matches!(
            e,
            CredentialError::Parse {
                what: "PEM certificate",
                ..
            }
        ),
        "{e}"
    );

    let e = credential_error(ClientCertificateCredential::from_pkcs12(
        TENANT,
        CLIENT,
        b"junk",
        &Secret::new(""),
        opts(),
    ));
    assert!(matches!(e, CredentialError::Parse { .. }), "{e}");
}

#[test]
fn plain_http_authority_is_refused_but_loopback_allowed() {
    let cert = TestCert::rsa();
    let options = |host: &str| CredentialOptions {
        authority_host: host.to_owned(),
        ..CredentialOptions::default()
    };
    let err = ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &cert.combined_pem(),
        None,
        options("http://login.example.com"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let ok = ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &cert.combined_pem(),
        None,
        options("http://127.0.0.1:9"),
    )
    .unwrap();
    assert_eq!(
        ok.token_endpoint(),
        format!("http://127.0.0.1:9/{TENANT}/oauth2/v2.0/token")
    );
}

#[test]
fn certificate_chain_is_sent_only_when_asked() {
    let cert = TestCert::rsa();
    let issuer = TestCert::rsa();
    let pem = [cert.cert_pem(), issuer.cert_pem(), cert.key_pem()].concat();
    let plain = ClientCertificateCredential::from_pem(
        TENANT,
        CLIENT,
        &pem,
        None,
        CredentialOptions::default(),
    )
    .unwrap();
    let decoded = verify(
        plain.client_assertion().unwrap().expose(),
        &cert,
        AssertionAlgorithm::Ps256,
    );
    assert!(decoded.header.get("x5c").is_none());

    let with_chain = plain.with_certificate_chain(true);
    let decoded = verify(
        with_chain.client_assertion().unwrap().expose(),
        &cert,
        AssertionAlgorithm::Ps256,
    );
    let standard = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        decoded.header["x5c"],
        serde_json::json!([
            standard.encode(cert.cert.to_der().unwrap()),
            standard.encode(issuer.cert.to_der().unwrap())
        ])
    );
    check_claims(&decoded.claims);
}
