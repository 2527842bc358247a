//! Where the store key comes from: the order of the sources, the move of a key file's key into
//! a keyring, the fallbacks when the keyring fails, and that no key is ever shown. The keyring
//! is an in-memory vault here; one test uses the real Linux kernel keyring where it can.

use std::cell::{Cell, RefCell};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::key::resolve_from;
use super::tests::{connection, scratch};
use super::vault::KeyVault;
use super::*;

const ENV_KEY: [u8; 32] = [0x0E; 32];
const FILE_KEY: [u8; 32] = [0xF1; 32];
const VAULT_KEY: [u8; 32] = [0x5A; 32];

fn b64(bytes: [u8; 32]) -> String {
    STANDARD.encode(bytes)
}

/// A keyring in memory, which can be told to fail the way real ones do.
#[derive(Default)]
struct MemoryVault {
    durable: bool,
    held: RefCell<Option<String>>,
    /// `get` fails with this reason (no daemon, access denied).
    refuse_get: Option<&'static str>,
    /// `set` fails.
    refuse_set: bool,
    /// `set` keeps something other than what it was given.
    garble: bool,
    sets: Cell<usize>,
}

impl MemoryVault {
    fn durable() -> Self {
        Self {
            durable: true,
            ..Self::default()
        }
    }

    fn holding(self, key: [u8; 32]) -> Self {
        *self.held.borrow_mut() = Some(b64(key));
        self
    }

    fn held(&self) -> Option<String> {
        self.held.borrow().clone()
    }
}

impl KeyVault for MemoryVault {
    fn name(&self) -> &str {
        "the test keyring"
    }

    fn entry(&self) -> &str {
        "entry `test`"
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn get(&self) -> Result<Option<Zeroizing<String>>, String> {
        match self.refuse_get {
            Some(reason) => Err(reason.to_owned()),
            None => Ok(self.held().map(Zeroizing::new)),
        }
    }

    fn set(&self, key: &str) -> Result<(), String> {
        self.sets.set(self.sets.get() + 1);
        if self.refuse_set {
            return Err("access denied".to_owned());
        }
        let kept = if self.garble {
            key.chars().rev().collect()
        } else {
            key.to_owned()
        };
        *self.held.borrow_mut() = Some(kept);
        Ok(())
    }

    fn delete(&self) -> Result<(), String> {
        *self.held.borrow_mut() = None;
        Ok(())
    }
}

fn put_key_file(dir: &Path, key: [u8; 32]) {
    dynamics_fs::AtomicWrite::new()
        .private()
        .write(&dir.join(KEY_FILE), b64(key).as_bytes())
        .unwrap();
}

fn key_file_holds(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(KEY_FILE)).ok()
}

/// Neither the key's base64 nor its bytes appear in `text`.
fn assert_hidden(text: &str, keys: &[[u8; 32]]) {
    for key in keys {
        assert!(!text.contains(&b64(*key)), "a key's base64 in: {text}");
        assert!(
            !text.contains(&format!("{:?}", &key[..4])),
            "a key's bytes in: {text}"
        );
    }
}

#[test]
fn the_environment_variable_comes_before_the_keyring_and_the_key_file() {
    let dir = scratch();
    put_key_file(&dir, FILE_KEY);
    let vault = MemoryVault::durable().holding(VAULT_KEY);
    let key = resolve_from(&dir, Some(&b64(ENV_KEY)), Some(&vault)).unwrap();
    assert_eq!(key.bytes(), ENV_KEY);
    assert_eq!(key.source(), &KeySource::Environment);
    assert_eq!(vault.held(), Some(b64(VAULT_KEY)));
    assert_eq!(key_file_holds(&dir), Some(b64(FILE_KEY)));
}

#[test]
fn a_new_store_gets_its_key_in_a_durable_keyring_and_no_key_file() {
    let dir = scratch();
    let vault = MemoryVault::durable();
    let first = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert!(matches!(first.source(), KeySource::Keyring { .. }));
    assert_eq!(vault.held(), Some(STANDARD.encode(first.bytes())));
    assert_eq!(key_file_holds(&dir), None);
    assert!(!dir.join("connections.lock").exists());

    let second = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(first.bytes(), second.bytes());
    assert_eq!(vault.sets.get(), 1, "the key was put there again");
}

#[test]
fn a_key_files_key_moves_into_a_durable_keyring_and_the_store_still_opens() {
    let dir = scratch();
    let before = resolve_from(&dir, None, None).unwrap();
    let store = ConnectionStore::with_key(&dir, before).unwrap();
    store
        .update(|c| {
            c.connections.insert("kept".into(), connection("kept"));
            Ok::<_, ConnectionError>(())
        })
        .unwrap();
    let in_file = key_file_holds(&dir).unwrap();

    let vault = MemoryVault::durable();
    let moved = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert!(matches!(moved.source(), KeySource::Keyring { .. }));
    assert_eq!(vault.held().as_deref(), Some(in_file.trim()));
    assert_eq!(key_file_holds(&dir), None, "the key file was kept");
    let reopened = ConnectionStore::with_key(&dir, moved).unwrap();
    assert!(reopened.load().unwrap().connections.contains_key("kept"));
}

#[test]
fn a_move_cut_short_is_finished_on_the_next_run() {
    let dir = scratch();
    put_key_file(&dir, VAULT_KEY);
    let vault = MemoryVault::durable().holding(VAULT_KEY);
    let key = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(key.bytes(), VAULT_KEY);
    assert_eq!(key_file_holds(&dir), None);
    assert_eq!(vault.sets.get(), 0);
}

#[test]
fn a_key_file_with_another_key_beside_the_keyring_is_refused_and_both_are_kept() {
    let dir = scratch();
    put_key_file(&dir, FILE_KEY);
    let vault = MemoryVault::durable().holding(VAULT_KEY);
    let error = resolve_from(&dir, None, Some(&vault)).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ConnectionError::Key { .. }), "{text}");
    assert!(text.contains("the test keyring"), "{text}");
    assert!(
        text.contains(&dir.join(KEY_FILE).display().to_string()),
        "{text}"
    );
    assert_hidden(&format!("{text} {error:?}"), &[FILE_KEY, VAULT_KEY]);
    assert_eq!(key_file_holds(&dir), Some(b64(FILE_KEY)));
    assert_eq!(vault.held(), Some(b64(VAULT_KEY)));
}

#[test]
fn an_unreadable_keyring_falls_back_to_the_key_file_and_says_why() {
    let dir = scratch();
    put_key_file(&dir, FILE_KEY);
    let vault = MemoryVault {
        refuse_get: Some("no keyring daemon"),
        ..MemoryVault::durable()
    };
    let key = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(key.bytes(), FILE_KEY);
    let said = key.source().to_string();
    assert!(
        said.contains("because the test keyring could not be used: no keyring daemon"),
        "{said}"
    );
    assert!(said.contains(&dir.join(KEY_FILE).display().to_string()));
    assert_eq!(vault.sets.get(), 0);
    assert_eq!(key_file_holds(&dir), Some(b64(FILE_KEY)));
}

#[test]
fn an_unreadable_keyring_makes_a_key_file_only_when_there_is_no_store_yet() {
    let vault = MemoryVault {
        refuse_get: Some("access denied"),
        ..MemoryVault::durable()
    };
    let fresh = scratch();
    let key = resolve_from(&fresh, None, Some(&vault)).unwrap();
    assert!(matches!(
        key.source(),
        KeySource::KeyFileInsteadOfKeyring { .. }
    ));
    assert_eq!(key_file_holds(&fresh), Some(STANDARD.encode(key.bytes())));

    let sealed = scratch();
    std::fs::write(sealed.join(STORE_FILE), b"sealed with the keyring's key").unwrap();
    let error = resolve_from(&sealed, None, Some(&vault)).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("no new key was made"), "{text}");
    assert!(text.contains(STORE_KEY_VAR), "{text}");
    assert_eq!(key_file_holds(&sealed), None, "a key file was made");
}

#[test]
fn a_keyring_that_refuses_the_key_leaves_it_in_the_key_file() {
    let vault = MemoryVault {
        refuse_set: true,
        ..MemoryVault::durable()
    };
    let dir = scratch();
    put_key_file(&dir, FILE_KEY);
    let key = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(key.bytes(), FILE_KEY);
    assert!(key.source().to_string().contains("access denied"));
    assert_eq!(key_file_holds(&dir), Some(b64(FILE_KEY)));

    let fresh = scratch();
    let key = resolve_from(&fresh, None, Some(&vault)).unwrap();
    assert!(matches!(
        key.source(),
        KeySource::KeyFileInsteadOfKeyring { .. }
    ));
    assert_eq!(key_file_holds(&fresh), Some(STANDARD.encode(key.bytes())));
}

#[test]
fn a_keyring_that_gives_back_another_key_is_emptied_and_the_key_file_kept() {
    let vault = MemoryVault {
        garble: true,
        ..MemoryVault::durable()
    };
    let dir = scratch();
    put_key_file(&dir, FILE_KEY);
    let key = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(key.bytes(), FILE_KEY);
    let said = key.source().to_string();
    assert!(said.contains("did not give the key back"), "{said}");
    assert_eq!(vault.sets.get(), 1);
    assert_eq!(vault.held(), None, "the garbled entry was left behind");
    assert_eq!(key_file_holds(&dir), Some(b64(FILE_KEY)));
}

#[test]
fn a_keyring_that_forgets_at_reboot_is_read_but_never_written() {
    let dir = scratch();
    let vault = MemoryVault::default();
    let key = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(key.source(), &KeySource::KeyFile(dir.join(KEY_FILE)));
    assert_eq!(vault.sets.get(), 0);
    assert_eq!(vault.held(), None);

    // A key the user loaded there comes first, and the key file is left alone.
    let loaded = MemoryVault::default().holding(VAULT_KEY);
    let key = resolve_from(&dir, None, Some(&loaded)).unwrap();
    assert_eq!(key.bytes(), VAULT_KEY);
    assert!(matches!(key.source(), KeySource::Keyring { .. }));
    assert!(key_file_holds(&dir).is_some());
}

#[test]
fn a_keyring_entry_that_is_not_a_key_is_refused_not_skipped() {
    let dir = scratch();
    let vault = MemoryVault::durable();
    *vault.held.borrow_mut() = Some("not a key".to_owned());
    let error = resolve_from(&dir, None, Some(&vault)).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("store key from the test keyring"),
        "{text}"
    );
    assert!(!text.contains("not a key"), "the entry was echoed: {text}");
    assert_eq!(key_file_holds(&dir), None);
}

#[test]
fn every_source_is_named_and_no_key_is_shown() {
    let dir = scratch();
    let path = dir.join(KEY_FILE);
    let shown = |source: &KeySource| source.to_string();

    let env = resolve_from(&dir, Some(&b64(ENV_KEY)), None).unwrap();
    assert_eq!(
        shown(env.source()),
        "the DYNAMICS_STORE_KEY environment variable"
    );

    let vault = MemoryVault::durable().holding(VAULT_KEY);
    let in_vault = resolve_from(&dir, None, Some(&vault)).unwrap();
    assert_eq!(shown(in_vault.source()), "the test keyring (entry `test`)");

    put_key_file(&dir, FILE_KEY);
    let in_file = resolve_from(&dir, None, None).unwrap();
    let said = shown(in_file.source());
    assert!(
        said.starts_with(&format!("the key file {} (owner-only", path.display())),
        "{said}"
    );

    let refused = MemoryVault {
        refuse_get: Some("the keychain is locked"),
        ..MemoryVault::durable()
    };
    let instead = resolve_from(&dir, None, Some(&refused)).unwrap();
    assert_eq!(
        shown(instead.source()),
        format!(
            "the key file {} (owner-only), because the test keyring could not be used: the keychain is locked",
            path.display()
        )
    );

    let everything = format!(
        "{env:?} {in_vault:?} {in_file:?} {instead:?} {} {} {} {}",
        env.source(),
        in_vault.source(),
        in_file.source(),
        instead.source()
    );
    assert_hidden(&everything, &[ENV_KEY, VAULT_KEY, FILE_KEY]);
}

/// The real kernel keyring: a key loaded there is found and used, and the store writes nothing
/// there. Skipped (with the reason) where the kernel refuses keyctl, as in some containers.
#[cfg(all(feature = "keyring", target_os = "linux"))]
#[test]
fn the_linux_kernel_keyring_is_read() {
    struct Remove<'a>(&'a dyn KeyVault);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.delete();
        }
    }

    let dir = scratch();
    let Some(vault) = super::vault::platform(&dir) else {
        panic!("the keyring feature on Linux brings the kernel keyring");
    };
    // Whatever happens below, nothing is left in the kernel keyring.
    let _remove = Remove(&*vault);
    assert!(!vault.durable(), "keyutils keys do not survive a reboot");
    assert_eq!(vault.name(), "the Linux kernel keyring");

    // Nothing there yet: the key file, and the keyring stays empty.
    match vault.get() {
        Ok(None) => {}
        Ok(Some(_)) => panic!("a fresh directory already has a key in the kernel keyring"),
        Err(reason) => {
            eprintln!("skipped: the kernel keyring cannot be read here: {reason}");
            return;
        }
    }
    let from_file = resolve_from(&dir, None, Some(&*vault)).unwrap();
    assert_eq!(from_file.source(), &KeySource::KeyFile(dir.join(KEY_FILE)));
    assert!(
        matches!(vault.get(), Ok(None)),
        "the store wrote a key there"
    );

    // As `keyctl padd user <entry> @s` would load it.
    if let Err(reason) = vault.set(&b64(VAULT_KEY)) {
        eprintln!("skipped: the kernel refuses a key in the session keyring: {reason}");
        return;
    }
    let key = resolve_from(&dir, None, Some(&*vault)).unwrap();
    assert_eq!(key.bytes(), VAULT_KEY);
    let said = key.source().to_string();
    assert!(
        said.starts_with("the Linux kernel keyring (keyutils key `keyring-rs:"),
        "{said}"
    );
    assert!(said.ends_with("@dynamics-rs`)"), "{said}");
    assert_hidden(&format!("{said} {key:?}"), &[VAULT_KEY]);
}
