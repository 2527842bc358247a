//! Secrets placed in credentials must never appear in Debug, Display, errors or tracing output.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use dynamics_client::{
    Client, ClientCertificateCredential, ClientSecretCredential, CredentialOptions,
    EnvironmentCredential, Secret, TokenCredential,
};
use support::Account;
use support::certs::TestCert;
use support::stub::{Reply, Stub, token_json};
use tracing_subscriber::fmt::format::FmtSpan;
use uuid::Uuid;

const PASSWORD: &str = "SENTINEL-PASSWORD";
const CLIENT_SECRET: &str = "SENTINEL-CLIENT-SECRET";
const TOKEN: &str = "SENTINEL-ACCESS-TOKEN";

/// Collects everything the fmt subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lines of the private key's PEM body: any of them showing up would leak key material.
fn key_fragments(cert: &TestCert) -> Vec<String> {
    String::from_utf8(cert.key_pem())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .map(str::to_owned)
        .collect()
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} leaks a secret ({secret}):\n{text}"
        );
    }
}

#[tokio::test]
async fn secrets_never_leak() {
    let cert = TestCert::rsa();
    let mut secrets: Vec<String> = vec![PASSWORD.into(), CLIENT_SECRET.into(), TOKEN.into()];
    secrets.extend(key_fragments(&cert));

    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Token endpoint and Dataverse on one stub: tokens for /token, a 401 first, then data.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stub = Stub::start(move |r| {
        if r.path.ends_with("/oauth2/v2.0/token") {
            if r.body.contains("client_secret=") {
                return Reply::json(
                    401,
                    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
                );
            }
            return Reply::json(200, token_json(TOKEN));
        }
        match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Reply::new(401),
            1 => Reply::json(200, r#"{"value":[{"name":"a"}]}"#),
            _ => Reply::error(400, "0x80040265", "bad request"),
        }
    })
    .await;
    let options = || CredentialOptions {
        authority_host: stub.url.clone(),
        ..CredentialOptions::default()
    };

    let certificate = ClientCertificateCredential::from_pem(
        "tenant",
        "client",
        &cert.combined_pem_encrypted(PASSWORD),
        Some(&Secret::new(PASSWORD)),
        options(),
    )
    .unwrap();
    let assertion = certificate.client_assertion().unwrap();
    let signature = assertion.expose().rsplit('.').next().unwrap().to_owned();
    secrets.push(signature);
    secrets.push(assertion.expose().to_owned());
    let certificate = Arc::new(certificate);
    let client = Client::builder(&stub.url)
        .credential(certificate.clone())
        .build()
        .unwrap();

    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, text: String| outputs.push((what.to_owned(), text));

    // A full run: token request with an assertion, a 401 replay, a query, a failing delete.
    let page = client.query_raw::<Account>("$select=name").await.unwrap();
    record("page", format!("{page:?}"));
    let err = client.delete::<Account>(Uuid::nil()).await.unwrap_err();
    record("api error", format!("{err} {err:?} {err:#?}"));
    let token_requests = stub.requests_to("/oauth2/v2.0/token");
    assert_eq!(
        token_requests.len(),
        2,
        "first token, then one refresh after the 401"
    );
    // The assertions actually sent are secrets too.
    for r in &token_requests {
        let sent = r
            .body
            .split('&')
            .find_map(|kv| kv.strip_prefix("client_assertion="))
            .unwrap()
            .to_owned();
        secrets.push(sent);
    }

    let token = certificate.get_token("http://x/.default").await.unwrap();
    record("token", format!("{token:?} {token:#?}"));
    record(
        "certificate credential",
        format!("{certificate:?} {certificate:#?}"),
    );
    record("client", format!("{client:?} {client:#?}"));
    record("assertion", format!("{assertion:?}"));
    record(
        "client builder",
        format!(
            "{:?}",
            Client::builder(&stub.url).credential(certificate.clone())
        ),
    );

    let secret_credential =
        ClientSecretCredential::new("tenant", "client", Secret::new(CLIENT_SECRET), options())
            .unwrap();
    record(
        "secret credential",
        format!("{secret_credential:?} {secret_credential:#?}"),
    );
    let err = secret_credential.get_token("s/.default").await.unwrap_err();
    record("auth error", format!("{err} {err:?} {err:#?}"));

    let env = EnvironmentCredential::from_lookup(
        |name| match name {
            "AZURE_TENANT_ID" => Some("t".into()),
            "AZURE_CLIENT_ID" => Some("c".into()),
            "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.into()),
            _ => None,
        },
        CredentialOptions::default(),
    )
    .unwrap();
    record("environment credential", format!("{env:?} {env:#?}"));

    let err = ClientCertificateCredential::from_pem(
        "tenant",
        "client",
        &cert.combined_pem_encrypted(PASSWORD),
        Some(&Secret::new("SENTINEL-WRONG-PASSWORD")),
        CredentialOptions::default(),
    )
    .unwrap_err();
    record("bad password error", format!("{err} {err:?} {err:#?}"));
    secrets.push("SENTINEL-WRONG-PASSWORD".into());

    let p12 = ClientCertificateCredential::from_pkcs12(
        "tenant",
        "client",
        &cert.pkcs12(PASSWORD),
        &Secret::new(PASSWORD),
        CredentialOptions::default(),
    )
    .unwrap();
    record("PKCS#12 credential", format!("{p12:?} {p12:#?}"));
    let err = ClientCertificateCredential::from_pkcs12(
        "tenant",
        "client",
        &cert.pkcs12(PASSWORD),
        &Secret::new("SENTINEL-WRONG-PASSWORD"),
        CredentialOptions::default(),
    )
    .unwrap_err();
    record(
        "PKCS#12 bad password error",
        format!("{err} {err:?} {err:#?}"),
    );

    // A token response that fails to decode must not quote the body.
    let bad_stub = Stub::start(|_| {
        Reply::json(
            200,
            format!(r#"{{"access_token":"{TOKEN}","expires_in":"soon"}}"#),
        )
    })
    .await;
    let bad = ClientSecretCredential::new(
        "tenant",
        "client",
        Secret::new(CLIENT_SECRET),
        CredentialOptions {
            authority_host: bad_stub.url.clone(),
            ..CredentialOptions::default()
        },
    )
    .unwrap();
    let err = bad.get_token("s/.default").await.unwrap_err();
    record("token decode error", format!("{err} {err:?} {err:#?}"));

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("dynamics.request"),
        "request spans were captured:\n{logs}"
    );
    assert!(
        logs.contains("dynamics.token"),
        "token spans were captured:\n{logs}"
    );
    assert!(
        logs.contains("status=401"),
        "statuses are recorded:\n{logs}"
    );
    for field in [
        "method=GET",
        "entity_set=\"accounts\"",
        "attempt=2",
        "elapsed_ms=",
    ] {
        assert!(logs.contains(field), "{field} is recorded:\n{logs}");
    }
    outputs.push(("tracing output".into(), logs));

    for (what, text) in &outputs {
        assert_clean(what, text, &secrets);
    }
    // The check itself catches a leak.
    let leaked = format!("x {TOKEN} y");
    assert!(std::panic::catch_unwind(|| assert_clean("probe", &leaked, &secrets)).is_err());
}
