//! Where export stands, per session and signal: `$KAIZEN_HOME/export/<key>.cursor.json`
//! (logs) and `<key>.traces.cursor.json` (traces), replaced atomically and
//! only after the collector accepted what it covers.
//! One lock file serialises exporters, so two runs never send the same events.

use super::settings::Signal;
use crate::store::{events, fsutil};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Byte offset just past the last exported line (always a line start).
    pub offset: u64,
    /// The seq of the line at `offset`, to notice a file that is not the one the cursor was for.
    pub next_seq: u64,
    /// The events file's inode, for the same reason.
    pub inode: u64,
    /// Records the collector accepted, and rejected (partial success), over all runs.
    pub exported: u64,
    pub rejected: u64,
    /// The commit and branch of the last event that named them: `Cost` events
    /// (from transcripts) carry none, and take the turn end's before them.
    #[serde(default)]
    pub vcs: Vcs,
    /// Traces: the root span of the last turn sent, which the next one links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_turn: Option<SpanRef>,
}

/// A span another can link to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanRef {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vcs {
    pub commit: Option<String>,
    pub branch: Option<String>,
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("export")
}

pub fn path(home: &Path, key: &str, signal: Signal) -> PathBuf {
    match signal {
        Signal::Logs => dir(home).join(format!("{key}.cursor.json")),
        Signal::Traces => dir(home).join(format!("{key}.traces.cursor.json")),
    }
}

/// Blocks until no other exporter runs; released when the file is dropped.
pub fn lock(home: &Path) -> io::Result<File> {
    fsutil::ensure_private_dir(&dir(home))?;
    let file = fsutil::open_append(&dir(home).join("export.lock"))?;
    file.lock()?;
    Ok(file)
}

pub fn save(home: &Path, key: &str, signal: Signal, cursor: &Cursor) -> io::Result<()> {
    let bytes = serde_json::to_vec(cursor).map_err(io::Error::other)?;
    fsutil::write_atomic(&path(home, key, signal), &bytes)
}

/// The cursor to start from for this events file, and why it starts over
/// when it does: a missing cursor starts at 0 silently, an unreadable one or
/// one that does not fit the file starts at 0 too (at least once: the
/// collector may see some records again, recognisable by `log.record.uid`).
pub fn start(home: &Path, key: &str, signal: Signal, events: &File) -> io::Result<(Cursor, Option<String>)> {
    let meta = events.metadata()?;
    let fresh = Cursor { inode: meta.ino(), ..Cursor::default() };
    let bytes = match fsutil::read_private(&path(home, key, signal), 64 * 1024)? {
        None => return Ok((fresh, None)),
        Some(b) => b,
    };
    let cursor = match serde_json::from_slice::<Cursor>(&bytes) {
        Ok(c) => c,
        Err(e) => return Ok((fresh, Some(format!("cursor unreadable ({e}); starting over")))),
    };
    match misfit(&cursor, events, meta.ino(), meta.len())? {
        None => Ok((cursor, None)),
        Some(why) => Ok((Cursor { exported: cursor.exported, rejected: cursor.rejected, ..fresh }, Some(why))),
    }
}

fn misfit(cursor: &Cursor, events: &File, inode: u64, len: u64) -> io::Result<Option<String>> {
    if cursor.inode != inode {
        return Ok(Some("events file replaced since the last export; starting over".into()));
    }
    if cursor.offset > len {
        return Ok(Some(format!("cursor at byte {} is past the end ({len}); starting over", cursor.offset)));
    }
    if cursor.offset > 0 {
        let mut before = [0u8; 1];
        events.read_exact_at(&mut before, cursor.offset - 1)?;
        if before[0] != b'\n' {
            return Ok(Some(format!("cursor at byte {} is not a line start; starting over", cursor.offset)));
        }
    }
    if cursor.offset < len {
        let mut head = vec![0u8; (len - cursor.offset).min(4096) as usize];
        events.read_exact_at(&mut head, cursor.offset)?;
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        if let Some(seq) = events::seq_of_line(line).filter(|&s| s != cursor.next_seq) {
            return Ok(Some(format!(
                "cursor expects seq {} but the file has {seq} there; starting over",
                cursor.next_seq
            )));
        }
    }
    Ok(None)
}
