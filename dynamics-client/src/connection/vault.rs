//! Where an OS keyring keeps the store key, behind a small trait so that tests can put an
//! in-memory vault in its place. Which vault is asked, and what is done with its answer, is
//! decided in `key.rs`.

use std::path::Path;

use zeroize::Zeroizing;

/// One entry of a keyring that can hold the store key (base64 of its 32 bytes).
///
/// Errors are reasons for people: they never contain the key.
pub(super) trait KeyVault {
    /// The keyring, for messages: "the macOS Keychain".
    fn name(&self) -> &str;
    /// The entry inside it, for people who look for it with the platform's own tools.
    fn entry(&self) -> &str;
    /// Whether a key put here survives a reboot. The store only ever puts its key into a
    /// durable vault; any other is only read.
    fn durable(&self) -> bool;
    /// The key's text, or `None` when the entry does not exist.
    fn get(&self) -> Result<Option<Zeroizing<String>>, String>;
    /// Stores the key's text, replacing the entry's.
    fn set(&self, key: &str) -> Result<(), String>;
    /// Removes the entry.
    fn delete(&self) -> Result<(), String>;
}

/// The entry of the store in `dir` in the platform's keyring, where the `keyring` feature
/// brings one.
pub(super) fn platform(dir: &Path) -> Option<Box<dyn KeyVault>> {
    #[cfg(all(
        feature = "keyring",
        any(target_os = "linux", target_os = "macos", windows)
    ))]
    {
        // The same directory reached by another path is the same store, with the same key.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        Some(os::open(&dir.display().to_string()))
    }
    #[cfg(not(all(
        feature = "keyring",
        any(target_os = "linux", target_os = "macos", windows)
    )))]
    {
        let _ = dir;
        None
    }
}

/// The platform's keyring. Built only where the `keyring` feature brings a native backend;
/// elsewhere there is none (never the keyring crate's in-memory mock, which would forget the
/// key when the process ends).
#[cfg(all(
    feature = "keyring",
    any(target_os = "linux", target_os = "macos", windows)
))]
pub(super) mod os {
    use keyring::credential::CredentialPersistence;
    use zeroize::Zeroizing;

    use super::KeyVault;

    /// The service name of the store key's entry; the account is the config directory, so that
    /// each store (`DYNAMICS_CONFIG_DIR`) has its own key.
    pub(crate) const SERVICE: &str = "dynamics-rs";

    #[cfg(target_os = "linux")]
    const NAME: &str = "the Linux kernel keyring";
    #[cfg(target_os = "macos")]
    const NAME: &str = "the macOS Keychain";
    #[cfg(windows)]
    const NAME: &str = "the Windows Credential Manager";

    /// The entry of the config directory `account` in the platform's keyring; one that cannot
    /// be opened answers every call with the reason.
    pub(crate) fn open(account: &str) -> Box<dyn KeyVault> {
        #[cfg(target_os = "linux")]
        let builder = keyring::keyutils::default_credential_builder();
        #[cfg(target_os = "macos")]
        let builder = keyring::macos::default_credential_builder();
        #[cfg(windows)]
        let builder = keyring::windows::default_credential_builder();
        // The backend says itself whether its entries outlive a reboot (keyutils: they do not).
        let durable = matches!(builder.persistence(), CredentialPersistence::UntilDelete);

        let entry = if cfg!(target_os = "linux") {
            // keyutils' description of the key, as `keyctl` shows and takes it.
            format!("keyutils key `keyring-rs:{account}@{SERVICE}`")
        } else {
            format!("service `{SERVICE}`, account `{account}`")
        };
        // Not keyring's `KeyutilsCredential::new_with_target`: it links the persistent keyring
        // into the session keyring, which in a process without a session keyring of its own
        // (a container, cron) gives it a new one, and every key of the old one turns
        // unreadable. Only reading, this one needs neither.
        #[cfg(target_os = "linux")]
        let credential = {
            use linux_keyutils::{KeyRing, KeyRingIdentifier};
            KeyRing::from_special_id(KeyRingIdentifier::Session, false)
                .map_err(keyring::keyutils::decode_error)
                .map(|session| {
                    Box::new(keyring::keyutils::KeyutilsCredential {
                        session,
                        persistent: None,
                        description: format!("keyring-rs:{account}@{SERVICE}"),
                    }) as Box<keyring::credential::Credential>
                })
        };
        #[cfg(not(target_os = "linux"))]
        let credential = builder.build(None, SERVICE, account);
        let keyring = credential
            .map(keyring::Entry::new_with_credential)
            .map_err(reason);
        Box::new(OsKeyring {
            keyring,
            entry,
            durable,
        })
    }

    /// An entry of the platform's keyring, or why it could not be opened.
    struct OsKeyring {
        keyring: Result<keyring::Entry, String>,
        entry: String,
        durable: bool,
    }

    impl OsKeyring {
        fn opened(&self) -> Result<&keyring::Entry, String> {
            self.keyring.as_ref().map_err(Clone::clone)
        }
    }

    impl KeyVault for OsKeyring {
        fn name(&self) -> &str {
            NAME
        }

        fn entry(&self) -> &str {
            &self.entry
        }

        fn durable(&self) -> bool {
            self.durable
        }

        fn get(&self) -> Result<Option<Zeroizing<String>>, String> {
            match self.opened()?.get_password() {
                Ok(text) => Ok(Some(Zeroizing::new(text))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(reason(e)),
            }
        }

        fn set(&self, key: &str) -> Result<(), String> {
            self.opened()?.set_password(key).map_err(reason)
        }

        fn delete(&self) -> Result<(), String> {
            match self.opened()?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(reason(e)),
            }
        }
    }

    /// The keyring crate's error as a reason. `BadEncoding` carries the entry's bytes and
    /// `Ambiguous` the matching credentials: neither is ever shown.
    fn reason(error: keyring::Error) -> String {
        match error {
            keyring::Error::BadEncoding(_) => "the entry is not text".to_owned(),
            keyring::Error::Ambiguous(found) => format!("{} entries match", found.len()),
            other => other.to_string(),
        }
    }
}
