//! A string that must never be printed: passwords, client secrets, assertions and tokens.

use std::fmt;

use zeroize::Zeroize;

/// Secret text (a password, client secret, client assertion or access token).
///
/// `Debug` prints `Secret(REDACTED)` and there is no `Display`, so a secret cannot end up in a log
/// line, an error message or a panic by accident. Read it with [`Secret::expose`] at the one place
/// that has to send it. The memory is overwritten when the secret is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the code that has to send it over the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

// Lets token responses deserialize straight into a `Secret`, never living in a plain `String`.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(REDACTED)");
        assert_eq!(format!("{secret:#?}"), "Secret(REDACTED)");
        assert_eq!(secret.expose(), "hunter2");
    }
}
