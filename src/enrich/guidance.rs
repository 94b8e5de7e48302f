//! `prompt_fingerprint`: a stable hash of the guidance files the agents read
//! in a workspace (each agent lists its own), so a later retro can tell
//! whether a rule change helped.
//!
//! A rules directory can hold thousands of large files: the content read is
//! capped (per file and in all), files past the cap count by their size and
//! modification time, and the whole stops at the deadline (then the
//! fingerprint is unknown rather than a hash of whatever fitted).

use super::regular;
use crate::hash::Fnv64;
use crate::store::guidance::GuidanceFile;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

const MAX_FILE: u64 = 1 << 20;
/// Content hashed in all; past it, files are known by size and mtime.
const MAX_CONTENT: u64 = 4 << 20;
/// Entries looked at per rules directory.
const MAX_ENTRIES: usize = 4096;

/// A workspace's guidance: the fingerprint of all its files, and each
/// file's own hash and size (what the registry keeps, `store::guidance`).
pub struct Guidance {
    pub fingerprint: String,
    pub files: Vec<GuidanceFile>,
}

/// `None` when the workspace has no guidance file at all, or when hashing
/// them did not fit before the deadline.
pub fn fingerprint(workspace: &Path, deadline: Instant) -> Option<Guidance> {
    let (files, dirs) = crate::agents::guidance();
    let mut found: Vec<String> = files.iter().filter(|f| workspace.join(f).is_file()).map(|f| f.to_string()).collect();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(workspace.join(dir)) else { continue };
        for entry in entries.flatten().take(MAX_ENTRIES) {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                found.push(format!("{dir}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    if found.is_empty() || Instant::now() > deadline {
        return None;
    }
    found.sort();
    found.dedup();
    let mut hash = Fnv64::default();
    let mut content_left = MAX_CONTENT;
    let mut content = Vec::new();
    let mut files = Vec::with_capacity(found.len());
    for relative in found {
        if Instant::now() > deadline {
            return None;
        }
        content.clear();
        let mut size = 0;
        // A FIFO or device planted in a rules directory hashes as empty, unread.
        if let Ok((file, meta)) = regular::open(&workspace.join(&relative)) {
            size = meta.len();
            let hashed = size.min(MAX_FILE);
            if hashed <= content_left {
                content_left -= hashed;
                let _ = file.take(MAX_FILE).read_to_end(&mut content);
            } else {
                let stamp = format!("size {} mtime {}.{}", meta.len(), meta.mtime(), meta.mtime_nsec());
                content.extend_from_slice(stamp.as_bytes());
            }
        }
        // The whole's hash is unchanged from before files were listed, so
        // old records' fingerprints still name the same versions.
        hash.write_parts(&[relative.as_bytes(), &content]);
        let mut own = Fnv64::default();
        own.write(&content);
        files.push(GuidanceFile { path: relative, hash: own.hex(), size });
    }
    Some(Guidance { fingerprint: hash.hex(), files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_fingerprint_is_the_one_old_records_hold_and_each_file_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("CLAUDE.md"), "be brief\n").unwrap();
        fs::write(dir.path().join("AGENTS.md"), "run the tests\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let g = fingerprint(dir.path(), deadline).unwrap();
        // FNV-1a 64 over (length, bytes) of each path and content, by path:
        // the value records made before files were listed carry.
        assert_eq!(g.fingerprint, "189cf15023d424a0");
        let paths: Vec<&str> = g.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["AGENTS.md", "CLAUDE.md"]);
        assert_eq!((g.files[1].size, g.files[1].hash.as_str()), (9, "2f8f041adbcedaa6"));
        fs::write(dir.path().join("CLAUDE.md"), "be brief, always\n").unwrap();
        let changed = fingerprint(dir.path(), deadline).unwrap();
        assert_ne!(changed.fingerprint, g.fingerprint);
        assert_eq!(changed.files[0], g.files[0], "an unchanged file keeps its hash");
        assert_ne!(changed.files[1].hash, g.files[1].hash);
    }
}
