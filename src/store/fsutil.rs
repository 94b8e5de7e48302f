//! File-system primitives that never follow a planted symlink, never block on
//! a planted FIFO, and create everything private (dirs 0700, files 0600).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

const NO_FOLLOW: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// Creates `dir` (0700) if missing; refuses anything that is not a real
/// directory, so a symlink planted at `sessions/` cannot redirect writes.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            // A racing process may have planted something between the check and the create.
            match fs::symlink_metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(()),
                _ => Err(io::Error::other(format!("{} is not a directory", dir.display()))),
            }
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending (created 0600), refusing symlinks and anything
/// that is not a regular file.
pub fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(NO_FOLLOW)
        .open(path)
        .map_err(|e| with_path(e, path))?;
    ensure_regular(&file, path)?;
    Ok(file)
}

/// Reads a whole file (up to `limit` bytes) without following a symlink.
/// `Ok(None)` when it does not exist.
pub fn read_private(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let file = match OpenOptions::new().read(true).custom_flags(NO_FOLLOW).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(with_path(e, path)),
    };
    let size = ensure_regular(&file, path)?;
    let mut bytes = Vec::with_capacity(size.min(limit) as usize + 1);
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Which part of an agent's file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
    /// From this offset on.
    At(u64),
}

/// At most `limit` bytes from one end (or an offset) of a file an agent wrote (a
/// transcript): regular files only (never a FIFO or a device: opened
/// non-blocking, checked after open), symlinks followed (agents link their
/// own files), never more than asked, whatever the file's size.
pub fn read_agent_file(path: &Path, end: End, limit: u64) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let size = ensure_regular(&file, path)?;
    let (offset, len) = match end {
        End::Head => (0, size.min(limit)),
        End::Tail => (size - size.min(limit), size.min(limit)),
        End::At(offset) => (offset, size.saturating_sub(offset).min(limit)),
    };
    let mut buf = vec![0u8; len as usize];
    let mut filled = 0;
    while filled < buf.len() {
        match std::os::unix::fs::FileExt::read_at(&file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break, // the file shrank meanwhile
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Replaces `path` atomically: a private temp file beside it, then rename.
/// The rename replaces a symlink planted at `path` instead of following it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(NO_FOLLOW).open(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| with_path(e, path))
}

/// The file's size, when it is a regular file.
fn ensure_regular(file: &File, path: &Path) -> io::Result<u64> {
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(meta.len());
    }
    let what = if kind.is_fifo() { "a FIFO" } else { "not a regular file" };
    Err(io::Error::other(format!("{} is {what}", path.display())))
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
