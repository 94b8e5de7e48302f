//! `<key>.session.json`: the session's `SessionRecord`, read under the session
//! lock and replaced atomically (temp file + rename) when it changes.

use super::fsutil;
use crate::event::SessionRecord;
use std::io;
use std::path::Path;

const MAX_RECORD: u64 = 1 << 20;

/// The stored record; `Ok(None)` when there is none, `Err` when it is unreadable.
pub fn load(path: &Path) -> io::Result<Option<SessionRecord>> {
    match fsutil::read_private(path, MAX_RECORD)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
    }
}

pub fn save(path: &Path, record: &SessionRecord) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    bytes.push(b'\n');
    fsutil::write_atomic(path, &bytes)
}
