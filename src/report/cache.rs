//! Digests of settled sessions, kept so a report need not read their files
//! again: `$KAIZEN_HOME/cache/digests/<nn>.jsonl`, the sessions spread over
//! `SHARDS` files by key, one line per session. A line is valid while the
//! events file is the one it was made from (same device, inode, size and
//! modification time) and its format is this `VERSION`. Losing the cache
//! costs time, never a wrong number: a line that does not match, or does not
//! parse, is made again from the events file.
//!
//! Why a few shard files rather than one file per session: making thousands
//! of small files made a first report three times slower than reading the
//! events themselves; a shard is rewritten whole (atomically), at most once
//! per report.

use super::digest::Digest;
use crate::store::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Raised whenever `Digest`, or how one is made from an events file, changes.
const VERSION: u32 = 2;
/// How many files the digests are spread over: a report reads and rewrites
/// one at a time per thread.
pub const SHARDS: usize = 64;
/// A shard's lines are small; a file bigger than this is not one we wrote.
const MAX_BYTES: u64 = 1 << 30;

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
    key: String,
    version: u32,
    identity: Identity,
    digest: Digest,
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("cache").join("digests")
}

/// The shard a session's digest is kept in.
pub fn shard_of(key: &str) -> usize {
    key.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) as usize % SHARDS
}

/// The cache's directory, made if missing. `None` when it cannot be, or when
/// something that is not a directory (a planted symlink) stands in its place:
/// the report then reads every file, and writes nothing.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open(home: &Path) -> Option<Cache> {
        let dir = dir(home);
        fsutil::ensure_private_dir(&home.join("cache")).ok()?;
        fsutil::ensure_private_dir(&dir).ok()?;
        Some(Cache { dir })
    }

    /// One shard's digests (none when its file is missing or unreadable).
    pub fn shard(&self, n: usize) -> Shard {
        let path = self.dir.join(format!("{n:02}.jsonl"));
        let bytes = fsutil::read_private(&path, MAX_BYTES).ok().flatten().unwrap_or_default();
        let entries = bytes
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<Entry>(line).ok())
            .filter(|e| e.version == VERSION)
            .map(|e| (e.key.clone(), e))
            .collect();
        Shard { path, entries, changed: false }
    }
}

pub struct Shard {
    path: PathBuf,
    entries: HashMap<String, Entry>,
    changed: bool,
}

impl Shard {
    /// The digest kept for this session, if it was made from this very file.
    pub fn get(&self, key: &str, identity: &Identity) -> Option<&Digest> {
        self.entries.get(key).filter(|e| e.identity == *identity).map(|e| &e.digest)
    }

    /// Keeps a settled session's digest, in place of a stale one.
    pub fn put(&mut self, key: &str, identity: &Identity, digest: &Digest) {
        let entry = Entry { key: key.to_string(), version: VERSION, identity: *identity, digest: digest.clone() };
        self.entries.insert(key.to_string(), entry);
        self.changed = true;
    }

    /// Writes the shard back when a digest was added. One that cannot be
    /// written only costs the next report the time to read the files again.
    pub fn save(self) {
        if !self.changed {
            return;
        }
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        let mut bytes = Vec::new();
        for key in keys {
            if serde_json::to_writer(&mut bytes, &self.entries[key]).is_ok() {
                bytes.push(b'\n');
            }
        }
        let _ = fsutil::write_atomic(&self.path, &bytes);
    }
}
