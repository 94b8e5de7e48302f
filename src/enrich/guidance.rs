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

/// `None` when the workspace has no guidance file at all, or when hashing
/// them did not fit before the deadline.
pub fn fingerprint(workspace: &Path, deadline: Instant) -> Option<String> {
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
    for relative in &found {
        if Instant::now() > deadline {
            return None;
        }
        content.clear();
        // A FIFO or device planted in a rules directory hashes as empty, unread.
        if let Ok((file, meta)) = regular::open(&workspace.join(relative)) {
            let size = meta.len().min(MAX_FILE);
            if size <= content_left {
                content_left -= size;
                let _ = file.take(MAX_FILE).read_to_end(&mut content);
            } else {
                let stamp = format!("size {} mtime {}.{}", meta.len(), meta.mtime(), meta.mtime_nsec());
                content.extend_from_slice(stamp.as_bytes());
            }
        }
        hash.write_parts(&[relative.as_bytes(), &content]);
    }
    Some(hash.hex())
}
