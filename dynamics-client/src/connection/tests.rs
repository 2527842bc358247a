//! The store on its own: round trip, nothing readable in the file, every alteration refused,
//! concurrent writers all kept, secrets out of `Debug`.

use std::path::PathBuf;

use super::*;
use crate::secret::Secret;

const KEY_SENTINEL: &str =
    "-----BEGIN PRIVATE KEY-----\nSENTINEL-KEY-MATERIAL\n-----END PRIVATE KEY-----\n";
const TOKEN_SENTINEL: &str = "SENTINEL-REFRESH-TOKEN-0123456789";

pub(super) fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("dynamics-store-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn store(dir: &std::path::Path) -> ConnectionStore {
    ConnectionStore::with_key(dir, StoreKey::from_bytes([42; 32])).unwrap()
}

pub(super) fn connection(name: &str) -> Connection {
    let mut c = Connection::new(
        name,
        "https://contoso.crm.dynamics.com",
        "tenant",
        "https://login.microsoftonline.com",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        Secret::new(KEY_SENTINEL),
        "AB12",
    );
    c.client_id = Some("client".into());
    c
}

#[test]
fn round_trip_keeps_everything_and_the_file_shows_nothing() {
    let dir = scratch();
    let store = store(&dir);
    assert!(store.load().unwrap().connections.is_empty());
    store
        .update(|c| {
            c.connections
                .insert("sales-prod".into(), connection("sales-prod"));
            c.session = Some(UserSession::new(
                "tenant",
                "https://login.microsoftonline.com",
                "public-client",
                "someone@contoso.example",
                "oid",
                Secret::new(TOKEN_SENTINEL),
            ));
            Ok::<_, ConnectionError>(())
        })
        .unwrap();
    let loaded = store.load().unwrap();
    let back = &loaded.connections["sales-prod"];
    assert_eq!(back.private_key_pem.expose(), KEY_SENTINEL);
    assert_eq!(
        loaded.session.as_ref().unwrap().refresh_token.expose(),
        TOKEN_SENTINEL
    );

    let bytes = std::fs::read(store.path()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for needle in [
        "SENTINEL",
        "PRIVATE KEY",
        "CERTIFICATE",
        "sales-prod",
        "contoso",
        "refresh_token",
    ] {
        assert!(!text.contains(needle), "{needle} in the store file");
    }
    let debug = format!("{loaded:?} {back:?} {store:?}");
    assert!(!debug.contains("SENTINEL"), "{debug}");
}

#[test]
fn altered_truncated_or_foreign_files_are_refused_whole() {
    let dir = scratch();
    let store = store(&dir);
    store
        .update(|c| {
            c.connections.insert("a".into(), connection("a"));
            Ok::<_, ConnectionError>(())
        })
        .unwrap();
    let path = store.path();
    let sealed = std::fs::read(&path).unwrap();

    let mut altered = sealed.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    std::fs::write(&path, &altered).unwrap();
    let error = store.load().unwrap_err();
    assert!(matches!(error, ConnectionError::Tampered { .. }), "{error}");
    assert!(error.to_string().contains("nothing was read"));

    std::fs::write(&path, &sealed[..12]).unwrap();
    assert!(matches!(
        store.load().unwrap_err(),
        ConnectionError::Truncated { .. }
    ));

    std::fs::write(&path, b"{\"connections\":{}}").unwrap();
    assert!(matches!(
        store.load().unwrap_err(),
        ConnectionError::NotAStore { .. }
    ));

    // A failed load leaves the file alone: update refuses rather than overwrite.
    let refused = store.update(|_| Ok::<_, ConnectionError>(()));
    assert!(refused.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"connections\":{}}");

    std::fs::write(&path, &sealed).unwrap();
    let other = ConnectionStore::with_key(&dir, StoreKey::from_bytes([1; 32])).unwrap();
    assert!(matches!(
        other.load().unwrap_err(),
        ConnectionError::Tampered { .. }
    ));
    assert_eq!(store.load().unwrap().connections.len(), 1);
}

#[test]
fn concurrent_writers_are_serialised() {
    let dir = scratch();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let store = store(&dir);
                for j in 0..5 {
                    let name = format!("c-{i}-{j}");
                    store
                        .update(|c| {
                            c.connections.insert(name.clone(), connection(&name));
                            Ok::<_, ConnectionError>(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store(&dir).load().unwrap().connections.len(), 40);
    assert!(!dir.join("connections.lock").exists());
}

#[test]
fn a_failed_change_writes_nothing() {
    let dir = scratch();
    let store = store(&dir);
    let result = store.update(|c| {
        c.connections.insert("x".into(), connection("x"));
        Err::<(), _>(ConnectionError::NotFound("y".into()))
    });
    assert!(result.is_err());
    assert!(!store.path().exists());
}

#[cfg(unix)]
#[test]
fn the_key_file_is_created_owner_only_and_reused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch();
    let path = dir.join(KEY_FILE);
    // Neither DYNAMICS_STORE_KEY nor a keyring: the key file alone.
    let resolve = || key::resolve_from(&dir, None, None);
    let first = resolve().unwrap();
    assert_eq!(first.source(), &KeySource::KeyFile(path.clone()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let second = resolve().unwrap();
    assert_eq!(first.bytes(), second.bytes());
    assert!(!format!("{first:?}").contains(&format!("{:?}", first.bytes())));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = resolve().unwrap_err();
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

/// Issue 22, item 8: a temporary file pre-created world-readable under the name the store
/// used to write through (`.connections.store.<pid>.tmp`) left the store readable by all.
#[cfg(unix)]
#[test]
fn a_planted_temporary_file_never_becomes_the_store() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch();
    let planted = dir.join(format!(".{STORE_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&planted, "").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    let store = store(&dir);
    store
        .update(|c| {
            c.connections.insert("x".into(), connection("x"));
            Ok::<_, ConnectionError>(())
        })
        .unwrap();
    let mode = std::fs::metadata(store.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read(&planted).unwrap(),
        b"",
        "the planted file was written"
    );
    assert!(store.load().unwrap().connections.contains_key("x"));
}

/// Issue 22, item 8: a store file replaced by a symbolic link is not written through.
#[cfg(unix)]
#[test]
fn a_symlinked_store_file_is_refused() {
    let dir = scratch();
    // A dangling link: the store reads as empty, and a write through it would create `victim`.
    let victim = dir.join("victim");
    std::os::unix::fs::symlink(&victim, dir.join(STORE_FILE)).unwrap();
    let store = store(&dir);
    let error = store.update(|_| Ok::<_, ConnectionError>(())).unwrap_err();
    assert!(
        matches!(
            error,
            ConnectionError::File(dynamics_fs::Error::Symlink { .. })
        ),
        "{error}"
    );
    assert!(!victim.exists(), "the store was written through the link");
}

/// Issue 22, item 8: a config directory others can list is made owner-only on open.
#[cfg(unix)]
#[test]
fn the_config_directory_is_made_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _store = store(&dir);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
