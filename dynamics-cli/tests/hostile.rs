//! Issue 22, items 1 and 10: the CLI's own HTTP calls follow the library's rules, and what
//! servers say reaches the terminal cleaned of escapes. Each test reproduced the weakness.

mod support;

use std::process::Command;

use dynamics_emulator::{DiscoveryInstance, Emulator, UserRights};
use support::stub::{Answer, Stub};
use support::{ADMIN, stderr, stdout};

fn dynamics(config: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynamics"));
    command
        .args(args)
        .env("DYNAMICS_CONFIG_DIR", config)
        .env_remove("DYNAMICS_STORE_KEY")
        .env_remove("DYNAMICS_ENVIRONMENT")
        .stdin(std::process::Stdio::null());
    command
}

async fn output(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Item 1: a `307` from the authority's `/token` endpoint re-sent the sign-in's secret (the
/// device code here, the refresh token on refresh: the same code path) to another host.
#[tokio::test]
async fn a_redirected_token_request_is_refused_and_goes_nowhere() {
    let elsewhere = Stub::start(|_| Answer::json(200, "{}"));
    let target = format!("{}/steal", elsewhere.url);
    let authority = Stub::start(move |path| {
        if path.ends_with("/devicecode") {
            Answer::json(
                200,
                r#"{"device_code":"SECRET-DEVICE-CODE","user_code":"U","verification_uri":"x","message":"go","interval":1,"expires_in":60}"#,
            )
        } else {
            Answer::json(307, "").header("Location", &target)
        }
    });
    let config = support::scratch("hostile-redirect");
    let mut command = dynamics(&config, &["login"]);
    command.env("DYNAMICS_AUTHORITY_HOST", &authority.url);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("redirects are not followed")
            && stderr(&out).contains(&elsewhere.url),
        "{}",
        stderr(&out)
    );
    assert!(elsewhere.paths().is_empty(), "{:?}", elsewhere.paths());
}

/// Item 1: `DYNAMICS_AUTHORITY_HOST`, `DYNAMICS_GRAPH_URL` and `DYNAMICS_DISCOVERY_URL` took
/// `http://` on any host, and `metadata pull --environment http://<host>` sent the bearer token
/// in plain text. Each is now refused before anything is sent (exit code 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_host_is_refused_everywhere() {
    let config = support::scratch("hostile-http");
    let mut login = dynamics(&config, &["login"]);
    login.env("DYNAMICS_AUTHORITY_HOST", "http://203.0.113.9");
    let out = output(login).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("plain http"), "{}", stderr(&out));

    let fixture = support::start().await;
    support::ok(&fixture.login(ADMIN).await);
    let environment = fixture.emulator.base_url().to_owned();
    let target = support::scratch("hostile-pull").join("metadata.xml");
    let pull = fixture
        .run(&[
            "metadata",
            "pull",
            "--environment",
            "http://203.0.113.9",
            "--output",
            target.to_str().unwrap(),
        ])
        .await;
    assert_eq!(pull.status.code(), Some(2), "{}", stderr(&pull));
    assert!(stderr(&pull).contains("plain http"), "{}", stderr(&pull));
    assert!(!target.exists());

    let mut environments = fixture.command(&["environments"]);
    environments.env("DYNAMICS_DISCOVERY_URL", "http://203.0.113.9");
    let mut create = fixture.command(&[
        "connection",
        "create",
        "x",
        "--environment",
        &environment,
        "--role",
        support::ROLE,
    ]);
    create.env("DYNAMICS_GRAPH_URL", "http://203.0.113.9");
    for (name, command) in [("discovery", environments), ("graph", create)] {
        let out = output(command).await;
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("plain http"),
            "{name}: {}",
            stderr(&out)
        );
    }
    assert!(fixture.emulator.identity().applications().is_empty());
}

/// Item 10: environment names from Global Discovery and server error messages reached the
/// terminal raw (`ESC ]0;…` retitles the window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_from_servers_are_escaped() {
    let hostile = Stub::start(|_| {
        Answer::json(
            400,
            "{\"error\":\"invalid_client\",\"error_description\":\"\\u001b]0;pwned\\u0007bad \\u202eclient\"}",
        )
    });
    let config = support::scratch("hostile-escape");
    let mut login = dynamics(&config, &["login"]);
    login.env("DYNAMICS_AUTHORITY_HOST", &hostile.url);
    let out = output(login).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("\\u{1b}]0;pwned\\u{7}bad \\u{202e}client"),
        "{text}"
    );

    let metadata = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/security.xml");
    let emulator = Emulator::builder()
        .metadata_file(metadata)
        .user(ADMIN, UserRights::Admin)
        .discovery_instance(DiscoveryInstance {
            unique_name: "evil".into(),
            friendly_name: "\u{1b}]0;pwned\u{7}Contoso".into(),
            url: "https://evil.crm4.dynamics.com".into(),
            region: "EMEA\r".into(),
            version: "9.2".into(),
        })
        .start()
        .await
        .unwrap();
    let fixture = support::Fixture {
        emulator,
        config: support::scratch("hostile-escape-config"),
    };
    support::ok(&fixture.login(ADMIN).await);
    let listed = fixture.run(&["environments"]).await;
    let text = support::ok(&listed);
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(text.contains("\\u{1b}]0;pwned\\u{7}Contoso"), "{text}");
    // `--json` is JSON: the escape is written as JSON writes it.
    let json = support::ok(&fixture.run(&["environments", "--json"]).await);
    assert!(!json.contains('\u{1b}'), "{json:?}");
    let _ = stdout(&listed);
}

/// Item 3: a server answering `$metadata` with 100,000 nested `Collection(` levels crashed
/// `metadata pull` with a stack overflow. It is now a located refusal, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_pull_refuses_a_hostile_document() {
    let depth = 100_000;
    let document = format!(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices>\
         <Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\
         <ComplexType Name=\"c\"><Property Name=\"deep\" Type=\"{}Edm.String{}\"/></ComplexType>\
         </Schema></edmx:DataServices></edmx:Edmx>",
        "Collection(".repeat(depth),
        ")".repeat(depth)
    );
    let server = Stub::start(move |_| Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: document.clone(),
    });
    let fixture = support::start().await;
    support::ok(&fixture.login(ADMIN).await);
    let target = support::scratch("hostile-deep").join("metadata.xml");
    let pull = fixture
        .run(&[
            "metadata",
            "pull",
            "--environment",
            &server.url,
            "--output",
            target.to_str().unwrap(),
        ])
        .await;
    assert_eq!(pull.status.code(), Some(1), "{}", stderr(&pull));
    assert!(
        stderr(&pull).contains("nesting exceeds the limit"),
        "{}",
        stderr(&pull)
    );
    assert!(!target.exists());
}
