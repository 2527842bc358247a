//! Every command of `dynamics`, end to end against the emulator: sign-in, discovery, metadata,
//! code generation, certificates, and connections with and without admin rights.

mod support;

use serde_json::{Value, json};
use support::{ADMIN, MEMBER, ROLE, json_of, ok, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_up_a_connection_that_apps_use_by_name() {
    let f = support::start().await;
    let base = f.emulator.base_url().to_owned();

    // Nothing works before signing in, and says so with exit code 3.
    let output = f.run(&["environments"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("dynamics login"));

    let login = f.login(ADMIN).await;
    assert!(ok(&login).contains(&format!("Signed in as {ADMIN}")));
    assert!(stderr(&login).contains("enter the code EMU"));

    // Three environments; without --environment and without a terminal, a usage error.
    let environments = json_of(&f.run(&["environments", "--json"]).await);
    let list = environments.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["url"], base);
    assert_eq!(list[1]["friendly_name"], "Contoso (test)");
    assert_eq!(list[1]["region"], "EMEA");
    assert_eq!(list[1]["state"], "Enabled");
    let table = ok(&f.run(&["environments"]).await);
    assert!(table.starts_with("FRIENDLY NAME"));
    assert!(table.contains("contosodev"));

    let dir = support::scratch("admin");
    let metadata = dir.join("metadata.xml");
    let metadata_arg = metadata.to_str().unwrap();
    let ambiguous = f.run(&["metadata", "pull", "-o", metadata_arg]).await;
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(stderr(&ambiguous).contains("--environment"));
    assert!(!metadata.exists());

    // metadata pull uses a token for the environment, got with the cached refresh token.
    ok(&f
        .run(&[
            "metadata",
            "pull",
            "--environment",
            &base,
            "-o",
            metadata_arg,
        ])
        .await);
    let pulled = support::read(&metadata);
    assert!(pulled.contains("systemuserroles_association"));

    let code_file = dir.join("entities.rs");
    ok(&f
        .run(&[
            "codegen",
            "--metadata",
            metadata_arg,
            "--entities",
            "systemuser,role",
            "-o",
            code_file.to_str().unwrap(),
        ])
        .await);
    let code = support::read(&code_file);
    assert!(code.starts_with("// @generated"));
    assert!(code.contains("pub struct Systemuser") || code.contains("pub struct SystemUser"));

    // connection create: Graph registration, key credential, service principal, application
    // user with the role, saved, tested.
    let created = f
        .run(&[
            "connection",
            "create",
            "sales-prod",
            "--environment",
            &base,
            "--role",
            ROLE,
        ])
        .await;
    let text = ok(&created);
    assert!(text.contains("Connection `sales-prod` is ready"), "{text}");
    for step in ["[1/6]", "[2/6]", "[6/6]"] {
        assert!(stderr(&created).contains(step), "progress {step}");
    }
    let apps = f.emulator.identity().applications();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].display_name, "dynamics-sales-prod");
    assert_eq!(
        f.emulator.identity().service_principals(),
        vec![apps[0].app_id.clone()]
    );

    let shown = json_of(&f.run(&["connection", "show", "sales-prod", "--json"]).await);
    assert_eq!(shown["client_id"], apps[0].app_id);
    assert_eq!(shown["status"], "ready");
    assert_eq!(shown["role"], ROLE);
    assert_eq!(shown["created_by"], ADMIN);
    assert_eq!(shown["thumbprint"], apps[0].certificate_thumbprints[0]);
    assert!(!shown.to_string().contains("PRIVATE"));

    // The application user exists with the role.
    let users = f.emulator.records("systemusers").unwrap();
    let app_user = users
        .iter()
        .find(|u| u["applicationid"] == apps[0].app_id)
        .expect("application user");
    let app_user_id = app_user["systemuserid"].as_str().unwrap().to_owned();

    // An app uses the connection by name and never touches a credential.
    let store = dynamics_client::connection::ConnectionStore::open(&f.config).unwrap();
    let client = store.client("sales-prod").unwrap();
    let who: Value = client.get("WhoAmI()").await.unwrap();
    assert_eq!(who["UserId"], app_user_id);
    let roles: Value = client
        .get(&format!(
            "systemusers({app_user_id})/systemuserroles_association?$select=name"
        ))
        .await
        .unwrap();
    assert_eq!(roles["value"][0]["name"], ROLE);

    // DYNAMICS_CONNECTION with Client::from_env, in a process of its own.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "from_env_uses_dynamics_connection",
            "--nocapture",
        ])
        .env("DYNAMICS_CONFIG_DIR", &f.config)
        .env("DYNAMICS_CONNECTION", "sales-prod")
        .env("EXPECTED_USER_ID", &app_user_id)
        .env_remove("DYNAMICS_STORE_KEY")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&child.stdout)
    );

    // list and test.
    let listed = json_of(&f.run(&["connection", "list", "--json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(ok(&f.run(&["connection", "list"]).await).contains("sales-prod"));
    let tested = ok(&f.run(&["connection", "test", "sales-prod"]).await);
    assert!(tested.contains(&app_user_id));

    // rotate-cert: a new certificate, tested, and the old one gone from the registration.
    let before = shown["thumbprint"].as_str().unwrap().to_owned();
    ok(&f.run(&["connection", "rotate-cert", "sales-prod"]).await);
    let after = json_of(&f.run(&["connection", "show", "sales-prod", "--json"]).await);
    assert_ne!(after["thumbprint"], before);
    let apps = f.emulator.identity().applications();
    assert_eq!(
        apps[0].certificate_thumbprints,
        vec![after["thumbprint"].as_str().unwrap().to_owned()]
    );
    ok(&f.run(&["connection", "test", "sales-prod"]).await);

    // edit: rename the registration.
    ok(&f
        .run(&[
            "connection",
            "edit",
            "sales-prod",
            "--display-name",
            "Sales integration",
        ])
        .await);
    assert_eq!(
        f.emulator.identity().applications()[0].display_name,
        "Sales integration"
    );

    // edit: one more role for the application user.
    ok(&f
        .run(&["connection", "edit", "sales-prod", "--role", "Basic User"])
        .await);
    let roles: Value = client
        .get(&format!(
            "systemusers({app_user_id})/systemuserroles_association?$select=name"
        ))
        .await
        .unwrap();
    let mut names: Vec<&str> = roles["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Basic User", ROLE]);

    // A member's sign-in does not let them change the admin's registration.
    let member_login = f.login(MEMBER).await;
    ok(&member_login);
    let refused = f.run(&["connection", "rotate-cert", "sales-prod"]).await;
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("Insufficient privileges"));
    let unchanged = json_of(&f.run(&["connection", "show", "sales-prod", "--json"]).await);
    assert_eq!(unchanged["thumbprint"], after["thumbprint"]);

    // delete --unregister needs the admin again.
    ok(&f.login(ADMIN).await);
    ok(&f
        .run(&["connection", "delete", "sales-prod", "--unregister"])
        .await);
    assert!(f.emulator.identity().applications().is_empty());
    let gone = f.run(&["connection", "show", "sales-prod"]).await;
    assert_eq!(gone.status.code(), Some(5));

    // Nothing secret is in the store file, though it held keys and tokens.
    let sealed = std::fs::read(f.store_file()).unwrap();
    support::assert_sealed(&sealed);
}

/// Run by `admin_sets_up_a_connection_that_apps_use_by_name` in a child process with
/// `DYNAMICS_CONNECTION` set; ignored otherwise.
#[tokio::test]
#[ignore = "run by another test with DYNAMICS_CONNECTION set"]
async fn from_env_uses_dynamics_connection() {
    let client = dynamics_client::Client::from_env().unwrap();
    let who: Value = client.get("WhoAmI()").await.unwrap();
    assert_eq!(
        who["UserId"].as_str(),
        std::env::var("EXPECTED_USER_ID").ok().as_deref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_rights_request_then_complete() {
    let f = support::start().await;
    let base = f.emulator.base_url().to_owned();
    ok(&f.login(MEMBER).await);

    // A member cannot register an app: refused, exit 4, nothing saved.
    let refused = f
        .run(&[
            "connection",
            "create",
            "crm-sync",
            "--environment",
            &base,
            "--role",
            ROLE,
        ])
        .await;
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("Authorization_RequestDenied"));
    assert!(f.emulator.identity().applications().is_empty());
    let none = json_of(&f.run(&["connection", "list", "--json"]).await);
    assert_eq!(none, json!([]));

    let out = support::scratch("request");
    let requested = f
        .run(&[
            "connection",
            "request",
            "crm-sync",
            "--environment",
            &base,
            "--admin-email",
            "it-admin@contoso.example",
            "--role",
            ROLE,
            "--out",
            out.to_str().unwrap(),
        ])
        .await;
    let text = ok(&requested);
    assert!(text.contains("dynamics connection complete crm-sync"));
    let package = out.join("crm-sync-request");
    let der = std::fs::read(package.join("crm-sync.cer")).unwrap();
    let cert = openssl::x509::X509::from_der(&der).unwrap();
    let markdown = support::read(&package.join("request.md"));
    let thumbprint = support::thumbprint(&cert);
    assert!(markdown.contains(&thumbprint));
    assert!(markdown.contains(ROLE));
    assert!(markdown.contains(&base));
    assert!(markdown.contains("Application users"));
    let eml = support::read(&package.join("request.eml"));
    assert!(eml.contains("To: it-admin@contoso.example\r\n"));
    assert!(eml.contains(&format!("From: {MEMBER}\r\n")));
    assert!(eml.contains("Content-Disposition: attachment; filename=\"crm-sync.cer\""));
    for file in ["request.md", "request.eml", "crm-sync.cer", "crm-sync.pem"] {
        assert!(
            !support::read_lossy(&package.join(file)).contains("PRIVATE KEY"),
            "{file}"
        );
    }
    let pending = json_of(&f.run(&["connection", "show", "crm-sync", "--json"]).await);
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["client_id"], Value::Null);

    // Testing a pending connection says what to do.
    let early = f.run(&["connection", "test", "crm-sync"]).await;
    assert_eq!(early.status.code(), Some(6));
    assert!(stderr(&early).contains("connection complete crm-sync"));

    // The administrator follows the steps with their own tools (here: Graph and the Web API).
    let admin = support::user_token(&f.emulator, ADMIN).await;
    let http = reqwest::Client::new();
    let app: Value = http
        .post(format!("{base}/v1.0/applications"))
        .bearer_auth(&admin)
        .json(&json!({
            "displayName": "dynamics-crm-sync",
            "keyCredentials": [{
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": base64_of(&der),
            }],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = app["appId"].as_str().unwrap().to_owned();
    let tenant = f.emulator.tenant_id().to_owned();

    // Before the application user exists, complete fails the test and says why.
    let not_yet = f
        .run(&[
            "connection",
            "complete",
            "crm-sync",
            "--tenant-id",
            &tenant,
            "--client-id",
            &client_id,
        ])
        .await;
    assert_eq!(not_yet.status.code(), Some(7), "{}", stderr(&not_yet));
    assert!(stderr(&not_yet).contains("not a member of the organization"));

    let unit = f.emulator.records("businessunits").unwrap()[0]["businessunitid"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = http
        .post(format!("{base}/api/data/v9.2/systemusers"))
        .bearer_auth(&admin)
        .json(&json!({
            "applicationid": client_id,
            "businessunitid@odata.bind": format!("/businessunits({unit})"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 204);

    let done = f
        .run(&[
            "connection",
            "complete",
            "crm-sync",
            "--tenant-id",
            &tenant,
            "--client-id",
            &client_id,
        ])
        .await;
    assert!(ok(&done).contains("Connection `crm-sync` is ready"));
    let ready = json_of(&f.run(&["connection", "show", "crm-sync", "--json"]).await);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["tenant_id"], tenant);
    ok(&f.run(&["connection", "test", "crm-sync"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_sign_in_fails_with_exit_code_3() {
    let f = support::start().await;
    let mut command = f.command(&["login"]);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let code = loop {
        if let Some(code) = f.emulator.identity().pending_device_codes().pop() {
            break code;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    f.emulator
        .identity()
        .decline_device_code(&code.user_code)
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("declined"));
    assert!(stdout(&output).is_empty());
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_role_stops_create_before_anything_is_registered() {
    let f = support::start().await;
    let base = f.emulator.base_url().to_owned();
    ok(&f.login(ADMIN).await);
    let output = f
        .run(&[
            "connection",
            "create",
            "typo",
            "--environment",
            &base,
            "--role",
            "Sales Mangler",
        ])
        .await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stderr(&output).contains("Sales Mangler"));
    assert!(f.emulator.identity().applications().is_empty());
    let listed = json_of(&f.run(&["connection", "list", "--json"]).await);
    assert_eq!(listed, json!([]));
}
