//! The sealed file format: `DYNSTORE` magic, a version byte, a 12-byte random nonce, the
//! AES-256-GCM ciphertext and its 16-byte tag. The magic and version are authenticated too.

use std::path::Path;

use openssl::rand::rand_bytes;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use super::ConnectionError;
use super::key::StoreKey;

const MAGIC: &[u8; 8] = b"DYNSTORE";
const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;
const HEADER: usize = MAGIC.len() + 1;

/// Encrypts `plain` under a fresh nonce.
pub(super) fn seal(key: &StoreKey, plain: &[u8]) -> Result<Vec<u8>, ConnectionError> {
    let mut nonce = [0u8; NONCE];
    rand_bytes(&mut nonce).map_err(ConnectionError::Crypto)?;
    let mut header = MAGIC.to_vec();
    header.push(VERSION);
    let mut tag = [0u8; TAG];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        key.bytes(),
        Some(&nonce),
        &header,
        plain,
        &mut tag,
    )
    .map_err(ConnectionError::Crypto)?;
    let mut out = header;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Checks and decrypts a sealed file; any mismatch refuses the whole file.
pub(super) fn open(key: &StoreKey, path: &Path, sealed: &[u8]) -> Result<Vec<u8>, ConnectionError> {
    if sealed.len() >= MAGIC.len() && &sealed[..MAGIC.len()] != MAGIC {
        return Err(ConnectionError::NotAStore {
            path: path.to_owned(),
            reason: "wrong magic bytes".into(),
        });
    }
    if sealed.len() < HEADER + NONCE + TAG {
        return Err(ConnectionError::Truncated {
            path: path.to_owned(),
            len: sealed.len(),
        });
    }
    if sealed[MAGIC.len()] != VERSION {
        return Err(ConnectionError::NotAStore {
            path: path.to_owned(),
            reason: format!("format version {} is not {VERSION}", sealed[MAGIC.len()]),
        });
    }
    let (header, rest) = sealed.split_at(HEADER);
    let (nonce, rest) = rest.split_at(NONCE);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG);
    decrypt_aead(
        Cipher::aes_256_gcm(),
        key.bytes(),
        Some(nonce),
        header,
        ciphertext,
        tag,
    )
    .map_err(|_| ConnectionError::Tampered {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_alteration_is_refused() {
        let key = StoreKey::from_bytes([7u8; 32]);
        let path = Path::new("test.store");
        let sealed = seal(&key, b"{\"secret\":\"value\"}").unwrap();
        assert_eq!(
            open(&key, path, &sealed).unwrap(),
            b"{\"secret\":\"value\"}"
        );
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert!(open(&key, path, &altered).is_err(), "byte {i} flipped");
        }
        for len in 0..sealed.len() {
            assert!(open(&key, path, &sealed[..len]).is_err(), "cut at {len}");
        }
        let other = StoreKey::from_bytes([8u8; 32]);
        assert!(matches!(
            open(&other, path, &sealed),
            Err(ConnectionError::Tampered { .. })
        ));
    }
}
