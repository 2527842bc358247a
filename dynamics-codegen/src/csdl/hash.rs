//! A fast hasher for the crate's internal maps, whose keys are short names from one document.
//!
//! The multiply-rotate scheme of the Firefox and rustc hashers: a few instructions per eight
//! bytes, where the standard SipHash costs many times that. It does not resist crafted
//! collisions; the maps only index names of the metadata document being read.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildFastHasher>;

/// Builds [`FastHasher`]s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BuildFastHasher;

impl BuildHasher for BuildFastHasher {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher { hash: 0 }
    }
}

/// The hasher itself.
pub(crate) struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Spread the well-mixed high bits into the low ones the table indexes with.
        self.hash ^ (self.hash >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_names_hash_apart_and_maps_work() {
        let hash = |s: &str| BuildFastHasher.hash_one(s);
        assert_ne!(hash("account"), hash("accounts"));
        assert_ne!(hash("a"), hash("b"));
        assert_ne!(hash(""), hash("\0"));
        let mut map: FastMap<String, usize> = FastMap::default();
        for i in 0..1000 {
            map.insert(format!("Microsoft.Dynamics.CRM.new_table{i:04}"), i);
        }
        assert_eq!(map.get("Microsoft.Dynamics.CRM.new_table0042"), Some(&42));
        assert_eq!(map.len(), 1000);
    }
}
