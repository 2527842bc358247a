//! The catalogue of bad inputs in `docs/bad-inputs.md`: each one, and the exact error it gives.
//! Numbers match the catalogue.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dynamics_client::{
    AccessToken, BoxFuture, Client, ClientCertificateCredential, CredentialOptions, Error, Query,
    Secret, TokenCredential, error::CredentialError, retry::RetryPolicy,
};
use dynamics_codegen::Error as MetadataError;
use dynamics_codegen::choices::Choices;
use dynamics_codegen::csdl::Metadata;
use dynamics_emulator::TestCertificate;
use dynamics_tests::built::{Account, EntitySets};
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::X509;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000bb";

// ---- metadata -------------------------------------------------------------------------------

fn metadata_error(text: &str) -> MetadataError {
    Metadata::parse(text).expect_err("the document is refused")
}

const HEAD: &str = "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices>\n<Schema Namespace=\"N\" Alias=\"n\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n";
const TAIL: &str = "\n</Schema></edmx:DataServices></edmx:Edmx>";

#[test]
fn m01_malformed_xml() {
    let e = metadata_error(&format!(
        "{HEAD}<EntityType Name=\"a\">\n</ComplexType>{TAIL}"
    ));
    assert_eq!(
        e.to_string(),
        "line 4, column 1: malformed XML: ill-formed document: expected `</EntityType>`, but `</ComplexType>` was found"
    );
}

#[test]
fn m02_an_html_page_instead_of_metadata() {
    let e = metadata_error("<!DOCTYPE html>\n<html><body>Sign in</body></html>");
    assert_eq!(
        e.to_string(),
        "line 2, column 1: not an OData CSDL document: the root element is <html>, not <edmx:Edmx>"
    );
}

#[test]
fn m03_an_empty_file() {
    let e = metadata_error("");
    assert_eq!(
        e.to_string(),
        "line 1, column 1: not an OData CSDL document: the document has no root element"
    );
}

#[test]
fn m04_a_dangling_type() {
    let e = metadata_error(&format!(
        "{HEAD}<ComplexType Name=\"c\"><Property Name=\"x\" Type=\"n.Missing\"/></ComplexType>{TAIL}"
    ));
    assert_eq!(
        e.to_string(),
        "line 3, column 23: property `x` of complex type `c` refers to unknown type `n.Missing`"
    );
}

#[test]
fn m05_an_entity_set_without_key() {
    let e = metadata_error(&format!(
        "{HEAD}<EntityType Name=\"a\"/>\n<EntityContainer Name=\"S\"><EntitySet Name=\"as\" EntityType=\"n.a\"/></EntityContainer>{TAIL}"
    ));
    assert_eq!(
        e.to_string(),
        "line 3, column 1: entity type `a` has entity set `as` but no key"
    );
}

#[test]
fn m06_two_types_of_one_name() {
    let e = metadata_error(&format!(
        "{HEAD}<ComplexType Name=\"c\"/>\n<ComplexType Name=\"c\"/>{TAIL}"
    ));
    assert_eq!(
        e.to_string(),
        "line 4, column 1: duplicate type `N.c` (first declared at line 3)"
    );
}

#[test]
fn m07_not_utf8() {
    let e = Metadata::parse_bytes(b"<edmx:Edmx>\xff").expect_err("refused");
    assert_eq!(
        e.to_string(),
        "line 1, column 12: malformed XML: the document is not valid UTF-8"
    );
}

#[test]
fn m08_a_missing_file() {
    let e = Metadata::from_path("/nonexistent/dataverse.xml").expect_err("refused");
    assert!(matches!(e, MetadataError::Io { .. }));
    assert_eq!(
        e.to_string(),
        "cannot read /nonexistent/dataverse.xml: No such file or directory (os error 2)"
    );
}

#[test]
fn m09_a_broken_choices_document() {
    let e =
        Choices::parse("{\"EntityDefinitions\": [ {\"LogicalName\": 5} ]}").expect_err("refused");
    assert_eq!(e.location().map(|l| (l.line, l.column)), Some((1, 41)));
    assert!(
        e.to_string()
            == "line 1, column 41: invalid choices document: invalid type: integer `5`, expected a string",
        "{e}"
    );
}

#[test]
fn m10_an_unknown_table() {
    let metadata = Metadata::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures/sample.xml"
    ))
    .expect("sample");
    let e = metadata.find_entity_type("acount").expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("unknown table `acount`; did you mean `account`?"),
        "{e}"
    );
}

// ---- certificates, keys and passwords -------------------------------------------------------

/// A key and its certificate valid from `from_days` to `to_days` relative to now, made by the
/// test kit's one certificate generator.
fn certificate(from_days: i64, to_days: i64) -> (PKey<Private>, X509) {
    let now = SystemTime::now();
    let at = |days: i64| {
        let span = Duration::from_secs(days.unsigned_abs() * 86_400);
        if days < 0 { now - span } else { now + span }
    };
    parts(
        TestCertificate::generate_valid("bad-inputs", at(from_days), at(to_days))
            .expect("certificate"),
    )
}

fn parts(generated: TestCertificate) -> (PKey<Private>, X509) {
    (
        PKey::private_key_from_pem(generated.key_pem().as_bytes()).expect("key"),
        X509::from_pem(generated.cert_pem().as_bytes()).expect("certificate"),
    )
}

fn pem_credential(
    cert: &[u8],
    key: &[u8],
    password: Option<&str>,
) -> Result<ClientCertificateCredential, Error> {
    ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT_ID,
        cert,
        key,
        password.map(Secret::new).as_ref(),
        CredentialOptions::default(),
    )
}

fn credential_error(result: Result<ClientCertificateCredential, Error>) -> CredentialError {
    match result {
        Err(Error::Credential(e)) => e,
        Err(other) => panic!("expected a credential error, got {other}"),
        Ok(_) => panic!("expected a credential error, got a credential"),
    }
}

#[test]
fn c11_garbage_instead_of_a_certificate() {
    let e = credential_error(pem_credential(b"not a certificate", b"nor a key", None));
    assert!(matches!(e, CredentialError::Parse { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("could not read the PEM certificate"),
        "{e}"
    );
}

#[test]
fn c12_an_encrypted_key_without_password() {
    let (key, cert) = certificate(-1, 30);
    let cert = cert.to_pem().expect("pem");
    let encrypted = key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"s3cret")
        .expect("pem");
    let e = credential_error(pem_credential(&cert, &encrypted, None));
    assert_eq!(
        e.to_string(),
        "the private key is encrypted but no password was given"
    );
}

#[test]
fn c13_a_wrong_key_password() {
    let (key, cert) = certificate(-1, 30);
    let cert = cert.to_pem().expect("pem");
    let encrypted = key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"s3cret")
        .expect("pem");
    let e = credential_error(pem_credential(&cert, &encrypted, Some("guess")));
    assert!(matches!(e, CredentialError::BadPassword { .. }), "{e}");
    assert!(e.to_string().starts_with("wrong password for the"), "{e}");
    assert!(
        !format!("{e:?}").contains("guess"),
        "the password never shows"
    );
}

#[test]
fn c14_a_wrong_pkcs12_password() {
    let (key, cert) = certificate(-1, 30);
    let archive = openssl::pkcs12::Pkcs12::builder()
        .name("bad-inputs")
        .pkey(&key)
        .cert(&cert)
        .build2("right")
        .expect("pkcs12")
        .to_der()
        .expect("der");
    let e = credential_error(ClientCertificateCredential::from_pkcs12(
        TENANT,
        CLIENT_ID,
        &archive,
        &Secret::new("wrong"),
        CredentialOptions::default(),
    ));
    assert!(matches!(e, CredentialError::BadPassword { .. }), "{e}");
}

#[test]
fn c15_a_key_of_another_certificate() {
    let cert = certificate(-1, 30).1.to_pem().expect("pem");
    let other = certificate(-1, 30)
        .0
        .private_key_to_pem_pkcs8()
        .expect("pem");
    let e = credential_error(pem_credential(&cert, &other, None));
    assert_eq!(
        e.to_string(),
        "the private key does not match the certificate's public key"
    );
}

#[test]
fn c16_an_expired_certificate() {
    let (key, cert) = certificate(-30, -1);
    let cert = cert.to_pem().expect("pem");
    let e = credential_error(pem_credential(
        &cert,
        &key.private_key_to_pem_pkcs8().expect("pem"),
        None,
    ));
    assert!(matches!(e, CredentialError::Expired { .. }), "{e}");
    assert!(
        e.to_string().starts_with("the certificate expired on"),
        "{e}"
    );
}

#[test]
fn c17_a_certificate_not_yet_valid() {
    let (key, cert) = certificate(2, 30);
    let cert = cert.to_pem().expect("pem");
    let e = credential_error(pem_credential(
        &cert,
        &key.private_key_to_pem_pkcs8().expect("pem"),
        None,
    ));
    assert!(matches!(e, CredentialError::NotYetValid { .. }), "{e}");
}

#[test]
fn c18_an_elliptic_curve_key() {
    let (key, cert) = parts(TestCertificate::generate_ec("bad-inputs").expect("certificate"));
    let cert = cert.to_pem().expect("pem");
    let e = credential_error(pem_credential(
        &cert,
        &key.private_key_to_pem_pkcs8().expect("pem"),
        None,
    ));
    assert!(matches!(e, CredentialError::UnsupportedKey { .. }), "{e}");
    assert!(
        e.to_string().contains("client assertions need an RSA key"),
        "{e}"
    );
}

#[test]
fn c19_a_missing_certificate_file() {
    let e = credential_error(ClientCertificateCredential::from_file(
        TENANT,
        CLIENT_ID,
        "/nonexistent/app.pfx",
        None,
        CredentialOptions::default(),
    ));
    assert!(matches!(e, CredentialError::Io { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("could not read /nonexistent/app.pfx"),
        "{e}"
    );
}

// ---- URLs -------------------------------------------------------------------------------------

/// A credential that hands out a fixed token: for requests to stub servers.
#[derive(Debug)]
struct FixedToken;

impl TokenCredential for FixedToken {
    fn get_token<'a>(
        &'a self,
        _scope: &'a str,
    ) -> BoxFuture<'a, dynamics_client::Result<AccessToken>> {
        Box::pin(async {
            Ok(AccessToken::new(
                Secret::new("fixed-token"),
                SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

fn client(url: &str) -> Result<Client, Error> {
    Client::builder(url)
        .credential(Arc::new(FixedToken))
        .build()
}

#[test]
fn u20_plain_http_to_a_remote_host() {
    let e = client("http://contoso.crm.dynamics.com").expect_err("refused");
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert!(e.to_string().contains("https"), "{e}");
}

#[test]
fn u21_not_a_url() {
    let e = client("contoso").expect_err("refused");
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
}

#[test]
fn u22_plain_http_authority() {
    let (key, cert) = certificate(-1, 30);
    let cert = cert.to_pem().expect("pem");
    let e = ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT_ID,
        &cert,
        &key.private_key_to_pem_pkcs8().expect("pem"),
        None,
        CredentialOptions {
            authority_host: "http://login.example.com".into(),
            ..CredentialOptions::default()
        },
    )
    .expect_err("refused");
    assert!(e.to_string().contains("https"), "{e}");
}

// ---- keys and literals ------------------------------------------------------------------------

#[test]
fn k23_a_quote_in_a_filter_value_stays_inside_the_literal() {
    let query = Query::<Account>::new().filter(Account::NAME.eq("x' or name ne 'zz"));
    assert_eq!(
        query.to_query_string(),
        "$filter=name%20eq%20'x''%20or%20name%20ne%20''zz'"
    );
}

#[test]
fn k24_delimiters_in_a_filter_value_are_encoded() {
    let query = Query::<Account>::new().filter(Account::NAME.eq("A&B=#1+%"));
    assert_eq!(
        query.to_query_string(),
        "$filter=name%20eq%20'A%26B%3D%231%2B%25'"
    );
}

#[test]
fn k25_an_expand_that_is_not_a_name() {
    let e = Query::<Account>::new()
        .expand("primarycontactid($select=*)", &[])
        .expect_err("refused");
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
}

// ---- server responses -------------------------------------------------------------------------

/// A server on loopback that answers every request with one canned HTTP response: the status
/// line, extra headers, and a body whose length it counts. An empty status line closes the
/// connection without a word.
async fn canned(status: &str, headers: &str, body: &str) -> String {
    let response = if status.is_empty() {
        String::new()
    } else {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let response = Arc::new(response);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = Arc::clone(&response);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

fn no_retries(url: &str) -> Client {
    Client::builder(url)
        .credential(Arc::new(FixedToken))
        .retry(RetryPolicy::none())
        .build()
        .expect("client")
}

/// The error of retrieving an account from a server that always gives this answer.
async fn retrieve_error(status: &str, headers: &str, body: &str) -> Error {
    let url = canned(status, headers, body).await;
    no_retries(&url)
        .accounts()
        .retrieve(uuid())
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn s26_a_body_that_is_not_json() {
    let e = retrieve_error("200 OK", "Content-Type: application/json\r\n", "<b>oops</").await;
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert!(e.to_string().contains("body starts with: <b>oops</"), "{e}");
}

#[tokio::test]
async fn s27_a_field_of_the_wrong_type_is_named() {
    let url = canned(
        "200 OK",
        "Content-Type: application/json\r\n",
        "{\"value\":[{\"numberofemployees\":\"many\"}]}",
    )
    .await;
    let e = no_retries(&url)
        .accounts()
        .query(&Query::new())
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert!(
        e.to_string().contains("at `value[0].numberofemployees`"),
        "{e}"
    );
}

#[tokio::test]
async fn s28_a_gateway_error_page() {
    let e = retrieve_error(
        "500 Internal Server Error",
        "Content-Type: text/html\r\n",
        "<h1>Server Error</h1>",
    )
    .await;
    assert_eq!(e.status(), Some(500), "{e}");
    assert!(
        e.to_string()
            .starts_with("Dataverse request failed with HTTP 500"),
        "{e}"
    );
}

#[tokio::test]
async fn s29_a_missing_record() {
    let e = retrieve_error(
        "404 Not Found",
        "Content-Type: application/json\r\n",
        "{\"error\":{\"code\":\"0x80040217\",\"message\":\"account With Id = 1 Does Not Exist\"}}",
    )
    .await;
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("0x80040217"), "{e}");
}

#[tokio::test]
async fn s30_a_stale_etag() {
    let url = canned(
        "412 Precondition Failed",
        "Content-Type: application/json\r\n",
        "{\"error\":{\"code\":\"0x80060882\",\"message\":\"The version has changed.\"}}",
    )
    .await;
    let e = no_retries(&url)
        .accounts()
        .update_if_match(uuid(), &Account::default(), "W/\"1\"")
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::ConcurrencyConflict { .. }), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn s31_throttled_past_the_retry_budget() {
    let e = retrieve_error("429 Too Many Requests",
        "Retry-After: 3600\r\nContent-Type: application/json\r\n",
        "{\"error\":{\"code\":\"0x80072322\",\"message\":\"Number of requests exceeded the limit.\"}}").await;
    assert!(matches!(e, Error::Throttled(_)), "{e}");
    assert_eq!(e.status(), Some(429));
}

#[tokio::test]
async fn s32_a_connection_closed_without_answer() {
    let e = retrieve_error("", "", "").await;
    assert!(matches!(e, Error::Transport(_)), "{e}");
}

fn uuid() -> dynamics_client::__private::uuid::Uuid {
    dynamics_client::__private::uuid::Uuid::from_u128(1)
}
