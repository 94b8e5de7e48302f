//! Events that reached us while another run held the session lock past the
//! point of waiting (a frozen or very slow holder). Each is written, without
//! the lock, to a private file of its own in `<key>.spool/` beside the
//! session's files, and merged into the events file, in arrival order, by
//! the next run that gets the lock: nothing that reached us is lost.
//!
//! - A spool file appears whole or not at all: written to a dot-named temp
//!   file (`O_EXCL`, 0600, no symlink followed), then renamed. A temp file
//!   left by a killed writer is removed once it is older than any run.
//! - A merged line carries `"spooled": <name>`; a spool file whose name is
//!   already in the tail (the merger died before removing it) is removed,
//!   never merged twice.
//! - A spool file that cannot be read back is renamed `*.bad` and logged
//!   (`doctor` lists them), never retried forever.

use super::events::Delivery;
use super::fsutil;
use super::line::Sealed;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Longer than any run can last (`KAIZEN_HOOK_BUDGET_MS` is at most 60 s).
const STALE_TEMP: Duration = Duration::from_secs(120);
const MAX_SPOOLED: u64 = 512 << 20;

/// One event waiting to be merged: everything but what depends on the file
/// (its seq, the running totals, a hook-measured latency).
#[derive(Debug, Serialize, Deserialize)]
pub struct Spooled {
    /// When it reached us, on the boot clock then the wall clock: the merge order.
    pub arrival_boot_ms: u64,
    pub arrival_wall_ms: u64,
    pub delivery: Delivery,
    pub event: Sealed,
    /// A turn end that may be a subagent's (see `Agent::subagents_send_turn_end`):
    /// decided against the tail, like a repeat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subagents_send_turn_end: bool,
}

impl Spooled {
    /// The merge order: arrival, then the name (unique) as the tie-break.
    pub fn order(&self, name: &str) -> (u64, u64, String) {
        (self.arrival_boot_ms, self.arrival_wall_ms, name.to_string())
    }
}

/// A spool file's name: arrival first, so names sort in arrival order.
fn file_name(spooled: &Spooled) -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:013}-{:013}-{}-{nanos:09}.json", spooled.arrival_boot_ms, spooled.arrival_wall_ms, std::process::id())
}

/// Writes one spooled event; returns its file.
pub fn write(dir: &Path, spooled: &Spooled) -> io::Result<PathBuf> {
    fsutil::ensure_private_dir(dir)?;
    let path = dir.join(file_name(spooled));
    let mut bytes = serde_json::to_vec(spooled).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let result = match fsutil::write_atomic(&path, &bytes) {
        // A merger removes the directory once it has emptied it: make it again.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fsutil::ensure_private_dir(dir).and_then(|()| fsutil::write_atomic(&path, &bytes))
        }
        other => other,
    };
    result.map(|()| path).map_err(|e| io::Error::new(e.kind(), format!("spool {}: {e}", dir.display())))
}

/// A spool file read back, with its name.
pub struct Pending {
    pub name: String,
    pub path: PathBuf,
    pub spooled: Spooled,
}

/// The spooled events of a session, oldest arrival first. One failed
/// `read_dir` when there are none: the common case costs nothing more.
pub fn pending(dir: &Path, problems: &mut Vec<String>) -> Vec<Pending> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') && name.ends_with(".tmp") {
            remove_if_stale(&path);
            continue;
        }
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        match read_one(&path) {
            Ok(spooled) => found.push(Pending { name, path, spooled }),
            Err(e) => {
                let bad = dir.join(format!("{name}.bad"));
                let _ = fs::rename(&path, &bad);
                problems.push(format!("unreadable spool file set aside as {}: {e}", bad.display()));
            }
        }
    }
    found.sort_by_cached_key(|p| p.spooled.order(&p.name));
    found
}

fn read_one(path: &Path) -> io::Result<Spooled> {
    let bytes = fsutil::read_private(path, MAX_SPOOLED)?.ok_or_else(|| io::Error::other("vanished"))?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

fn remove_if_stale(path: &Path) {
    let old = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMP));
    if old {
        let _ = fs::remove_file(path);
    }
}

/// Removes what was merged, and the directory once empty (a racing writer's
/// new file keeps it).
pub fn remove_merged(dir: &Path, merged: &[PathBuf]) {
    for path in merged {
        let _ = fs::remove_file(path);
    }
    if !merged.is_empty() {
        let _ = fs::remove_dir(dir);
    }
}

/// What `doctor` reports: spooled events not merged yet, and set-aside files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub waiting: usize,
    pub bad: usize,
}

pub fn backlog(sessions: &Path) -> Backlog {
    let mut backlog = Backlog::default();
    for dir in fs::read_dir(sessions).into_iter().flatten().flatten() {
        if !dir.file_name().to_string_lossy().ends_with(".spool") {
            continue;
        }
        for entry in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if name.ends_with(".json") {
                backlog.waiting += 1;
            } else if name.ends_with(".bad") {
                backlog.bad += 1;
            }
        }
    }
    backlog
}
