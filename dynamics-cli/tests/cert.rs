//! `dynamics cert new`: files written, key protected, nothing secret printed.

mod support;

use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;

#[test]
fn writes_pem_der_and_a_password_protected_pkcs12() {
    let out = support::scratch("cert");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args([
            "cert",
            "new",
            "--subject",
            "CN=sales-sync",
            "--days",
            "30",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = support::ok(&output);
    assert!(!text.contains("PRIVATE"), "{text}");

    let pem = X509::from_pem(&std::fs::read(out.join("sales-sync.pem")).unwrap()).unwrap();
    let der = X509::from_der(&std::fs::read(out.join("sales-sync.cer")).unwrap()).unwrap();
    assert_eq!(pem.to_der().unwrap(), der.to_der().unwrap());
    assert!(text.contains(&support::thumbprint(&pem)));
    let subject = format!("{:?}", pem.subject_name());
    assert!(subject.contains("sales-sync"), "{subject}");
    assert!(pem.public_key().unwrap().rsa().unwrap().size() * 8 >= 2048);

    let password = std::fs::read_to_string(out.join("sales-sync.pfx.password")).unwrap();
    assert!(!text.contains(&password), "the password is not printed");
    assert!(!support::stderr(&output).contains(&password));
    let pfx = std::fs::read(out.join("sales-sync.pfx")).unwrap();
    let archive = Pkcs12::from_der(&pfx).unwrap();
    assert!(archive.parse2("wrong password").is_err());
    let parsed = archive.parse2(&password).unwrap();
    let key = parsed.pkey.unwrap();
    assert!(key.public_eq(&pem.public_key().unwrap()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in ["sales-sync.pfx", "sales-sync.pfx.password"] {
            let mode = std::fs::metadata(out.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file}");
        }
    }
}

#[test]
fn password_from_an_environment_variable_and_small_keys_refused() {
    let out = support::scratch("cert-env");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args([
            "cert",
            "new",
            "--subject",
            "app",
            "--password-env",
            "PFX_PASSWORD",
            "--out",
        ])
        .arg(&out)
        .env("PFX_PASSWORD", "correct horse")
        .output()
        .unwrap();
    support::ok(&output);
    let pfx = std::fs::read(out.join("app.pfx")).unwrap();
    assert!(
        Pkcs12::from_der(&pfx)
            .unwrap()
            .parse2("correct horse")
            .is_ok()
    );
    assert!(!out.join("app.pfx.password").exists());

    let small = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args(["cert", "new", "--subject", "app", "--bits", "1024", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(small.status.code(), Some(2));
    assert!(support::stderr(&small).contains("2048"));
}

fn cert_new(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .args(["cert", "new", "--subject", "CN=app", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Issue 22, item 2: pre-existing world-readable `.pfx` and `.pfx.password` files kept mode
/// 0644 with the new password inside. Now they are left alone without `--force`, and replaced
/// by owner-only files with it.
#[cfg(unix)]
#[test]
fn existing_key_files_are_kept_without_force_and_made_private_with_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let out = support::scratch("cert-existing");
    for file in ["app.pfx", "app.pfx.password"] {
        std::fs::write(out.join(file), "old").unwrap();
        std::fs::set_permissions(out.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let refused = cert_new(&out, &[]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        support::stderr(&refused)
    );
    assert!(support::stderr(&refused).contains("--force"));
    for file in ["app.pfx", "app.pfx.password"] {
        assert_eq!(std::fs::read(out.join(file)).unwrap(), b"old", "{file}");
    }
    assert!(
        !out.join("app.pem").exists(),
        "nothing is written after a refusal"
    );

    support::ok(&cert_new(&out, &["--force"]));
    for file in ["app.pfx", "app.pfx.password"] {
        let mode = std::fs::metadata(out.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let password = std::fs::read_to_string(out.join("app.pfx.password")).unwrap();
    let pfx = std::fs::read(out.join("app.pfx")).unwrap();
    assert!(Pkcs12::from_der(&pfx).unwrap().parse2(&password).is_ok());
}

/// Issue 22, item 2: a symlinked `.pfx.password` overwrote its target. Now it is refused,
/// with `--force` too, and no file is written.
#[cfg(unix)]
#[test]
fn a_symlinked_password_file_is_refused() {
    let out = support::scratch("cert-link");
    let victim = out.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("app.pfx.password")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let refused = cert_new(&out, extra);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{}",
            support::stderr(&refused)
        );
        assert!(
            support::stderr(&refused).contains("symbolic link"),
            "{}",
            support::stderr(&refused)
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(!out.join("app.pfx").exists());
    }
}
