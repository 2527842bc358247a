//! The connection store as the CLI uses it: sealed, owner-only key file, tampering and
//! truncation refused with exit code 6, concurrent runs all saved.

mod support;

use support::{ADMIN, ok, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_is_sealed_and_alterations_are_refused() {
    let f = support::start().await;
    ok(&f.login(ADMIN).await);
    let base = f.emulator.base_url().to_owned();
    let out = support::scratch("store");

    // Eight concurrent runs, each adding a connection under the store lock.
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let name = format!("team-{i}");
            let mut command = f.command(&[
                "connection",
                "request",
                &name,
                "--environment",
                &base,
                "--admin-email",
                "admin@contoso.example",
                "--out",
                out.to_str().unwrap(),
            ]);
            std::thread::spawn(move || command.output().unwrap())
        })
        .collect();
    for run in runs {
        ok(&run.join().unwrap());
    }
    let listed = support::json_of(&f.run(&["connection", "list", "--json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 8);

    let path = f.store_file();
    let sealed = std::fs::read(&path).unwrap();
    support::assert_sealed(&sealed);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = std::fs::metadata(f.config.join("store.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        let store = std::fs::metadata(&path).unwrap();
        assert_eq!(store.permissions().mode() & 0o077, 0);
    }
    assert!(ok(&f.run(&["connection", "list"]).await).contains("team-7"));
    let list = f.run(&["connection", "list"]).await;
    assert!(
        stderr(&list).contains("store.key"),
        "the key source is stated"
    );

    // One flipped byte anywhere: refused whole.
    let mut altered = sealed.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x20;
    std::fs::write(&path, &altered).unwrap();
    let refused = f.run(&["connection", "list"]).await;
    assert_eq!(refused.status.code(), Some(6));
    assert!(stderr(&refused).contains("failed authentication"));
    assert!(refused.stdout.is_empty());

    // Cut short: refused whole.
    std::fs::write(&path, &sealed[..sealed.len() - 10]).unwrap();
    let refused = f.run(&["connection", "list"]).await;
    assert_eq!(refused.status.code(), Some(6));
    std::fs::write(&path, &sealed[..20]).unwrap();
    let refused = f.run(&["connection", "list"]).await;
    assert_eq!(refused.status.code(), Some(6));
    assert!(stderr(&refused).contains("truncated"));

    // Another key: refused, not misread.
    std::fs::write(&path, &sealed).unwrap();
    let other_key = f
        .command(&["connection", "list"])
        .env(
            "DYNAMICS_STORE_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .output()
        .unwrap();
    assert_eq!(other_key.status.code(), Some(6));

    // A key file others can read is refused rather than trusted.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = f.config.join("store.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = f.run(&["connection", "list"]).await;
        assert_eq!(refused.status.code(), Some(6));
        assert!(stderr(&refused).contains("chmod 600"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    ok(&f.run(&["connection", "list"]).await);
}

#[test]
fn store_key_from_the_environment_is_stated() {
    let config = support::scratch("envkey");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args(["connection", "list"])
        .env("DYNAMICS_CONFIG_DIR", &config)
        .env(
            "DYNAMICS_STORE_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        )
        .output()
        .unwrap();
    ok(&output);
    assert!(stderr(&output).contains("DYNAMICS_STORE_KEY"));
    assert!(!config.join("store.key").exists());

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args(["connection", "list"])
        .env("DYNAMICS_CONFIG_DIR", &config)
        .env("DYNAMICS_STORE_KEY", "too-short")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(6));
    assert!(!stderr(&bad).contains("too-short"));
}

#[test]
fn complete_refuses_malformed_ids_before_touching_the_store() {
    let config = support::scratch("complete-ids");
    for (tenant, client) in [
        ("contoso.onmicrosoft.com", "not-a-guid"),
        ("bad tenant/../x", "6f1c4b9e-3a52-4c1e-9d0b-2f7e8a1c5d34"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
            .args([
                "connection",
                "complete",
                "x",
                "--tenant-id",
                tenant,
                "--client-id",
                client,
            ])
            .env("DYNAMICS_CONFIG_DIR", &config)
            .env_remove("DYNAMICS_STORE_KEY")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    }
    assert!(!config.join("connections.store").exists());
}

/// With the `keyring` feature on Linux, `connection list` says the kernel keyring was looked
/// at; a key loaded there with `keyctl padd` (as the README says) is used, and the store
/// never writes one there. Skipped, with the reason, without `keyctl` or where the kernel
/// refuses it.
#[cfg(all(feature = "keyring", target_os = "linux"))]
#[test]
fn a_key_loaded_into_the_kernel_keyring_is_used_and_named() {
    use std::process::{Command, Stdio};

    let config = support::scratch("keyring");
    let list = || {
        Command::new(env!("CARGO_BIN_EXE_dynamics"))
            .args(["connection", "list"])
            .env("DYNAMICS_CONFIG_DIR", &config)
            .env_remove("DYNAMICS_STORE_KEY")
            .output()
            .unwrap()
    };
    let said = stderr(&list());
    assert!(
        said.contains("store.key (owner-only; the kernel keyring holds no key"),
        "{said}"
    );

    let dir = std::fs::canonicalize(&config).unwrap();
    let description = format!("keyring-rs:{}@dynamics-rs", dir.display());
    let key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let loaded = Command::new("keyctl")
        .args(["padd", "user", &description, "@u"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut keyctl| {
            use std::io::Write as _;
            if let Some(mut input) = keyctl.stdin.take() {
                input.write_all(key.as_bytes())?;
            }
            keyctl.wait_with_output()
        });
    match loaded {
        Ok(done) if done.status.success() => {}
        Ok(done) => {
            eprintln!("skipped: keyctl refused: {}", stderr(&done));
            return;
        }
        Err(e) => {
            eprintln!("skipped: no keyctl here: {e}");
            return;
        }
    }
    let listed = list();
    let _ = Command::new("keyctl")
        .args(["purge", "user", &description])
        .output();
    ok(&listed);
    let said = stderr(&listed);
    assert!(
        said.contains(&format!(
            "key from the Linux kernel keyring (keyutils key `{description}`)"
        )),
        "{said}"
    );
    assert!(!said.contains(key));
}
