//! FNV-1a, 64 bit: tiny, dependency-free and stable across releases, which is
//! what delivery identities, derived call ids and cache names need (std's
//! `DefaultHasher` may change between Rust versions). Its collisions can be
//! constructed, so what an adversary could aim at (the file a hostile session
//! id is stored in) is named by SHA-256 instead (`sha256_hex_of_parts`).

use sha2::{Digest, Sha256};

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(OFFSET)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Hashes `parts` so that `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn write_parts(&mut self, parts: &[&[u8]]) {
        for part in parts {
            self.write(&(part.len() as u64).to_le_bytes());
            self.write(part);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

pub fn hex_of_parts(parts: &[&[u8]]) -> String {
    let mut h = Fnv64::default();
    h.write_parts(parts);
    h.hex()
}

/// The first `len` hex digits (at most 64) of the SHA-256 of `parts`,
/// delimited as `Fnv64::write_parts` delimits them.
pub fn sha256_hex_of_parts(parts: &[&[u8]], len: usize) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let mut hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(len);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_vectors() {
        let mut h = Fnv64::default();
        h.write(b"");
        assert_eq!(h.hex(), "cbf29ce484222325");
        let mut h = Fnv64::default();
        h.write(b"a");
        assert_eq!(h.hex(), "af63dc4c8601ec8c");
        let mut h = Fnv64::default();
        h.write(b"foobar");
        assert_eq!(h.hex(), "85944171f73967e8");
    }

    #[test]
    fn parts_are_delimited() {
        assert_ne!(hex_of_parts(&[b"ab", b"c"]), hex_of_parts(&[b"a", b"bc"]));
        assert_ne!(sha256_hex_of_parts(&[b"ab", b"c"], 64), sha256_hex_of_parts(&[b"a", b"bc"], 64));
    }

    #[test]
    fn sha256_matches_a_reference_vector() {
        // printf '\3\0\0\0\0\0\0\0abc' | sha256sum
        let full = sha256_hex_of_parts(&[b"abc"], 64);
        assert_eq!(full, "ce91dc5eec0139adf091900d225971d6ad246a845bad791b5693a9d0d55dd391");
        assert_eq!(sha256_hex_of_parts(&[b"abc"], 32), full[..32]);
    }
}
