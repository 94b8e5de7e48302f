//! Digests of settled sessions, kept so a report need not read their files
//! again: `$KAIZEN_HOME/cache/digests/<key>.json`, one small file each,
//! valid while the events file is the one it was made from (same inode,
//! size and modification time) and the format is this `VERSION`. Losing the
//! cache costs time, never a wrong number: anything that does not match is
//! read again from the events file.

use super::digest::Digest;
use crate::store::fsutil;
use serde::{Deserialize, Serialize};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Raised whenever `Digest`, or how one is made from an events file, changes.
const VERSION: u32 = 1;
/// A digest is small; anything bigger is not one we wrote.
const MAX_BYTES: u64 = 64 << 20;

/// Which events file a digest was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i64,
}

impl Identity {
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    identity: Identity,
    digest: Digest,
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("cache").join("digests")
}

fn path(home: &Path, key: &str) -> PathBuf {
    dir(home).join(format!("{key}.json"))
}

/// The digest kept for this session, if it was made from this very file.
pub fn load(home: &Path, key: &str, identity: &Identity) -> Option<Digest> {
    let bytes = fsutil::read_private(&path(home, key), MAX_BYTES).ok()??;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    (entry.version == VERSION && entry.identity == *identity).then_some(entry.digest)
}

/// Keeps a settled session's digest. A home that cannot hold it only costs
/// the next report the time to read the file again.
pub fn save(home: &Path, key: &str, identity: &Identity, digest: &Digest) {
    let dir = dir(home);
    if fsutil::ensure_private_dir(&home.join("cache")).and_then(|()| fsutil::ensure_private_dir(&dir)).is_err() {
        return;
    }
    let entry = Entry { version: VERSION, identity: *identity, digest: digest.clone() };
    if let Ok(bytes) = serde_json::to_vec(&entry) {
        let _ = fsutil::write_atomic(&path(home, key), &bytes);
    }
}
