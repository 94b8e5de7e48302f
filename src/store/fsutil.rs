//! File-system primitives that never follow a planted symlink, never block on
//! a planted FIFO, and create everything private (dirs 0700, files 0600).

use rustix::fs::{Mode, OFlags};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
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

/// Opens `path` close-on-exec in one system call (`mode` for a file it
/// creates). std's open costs two on musl: it adds an `fcntl(F_SETFD)` to
/// every close-on-exec open, and a hook run opens five files.
pub fn open(path: &Path, flags: OFlags, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::from_raw_mode(mode))
        .map_err(|e| with_path(e.into(), path))?;
    Ok(File::from(fd))
}

/// Opens `path` for appending (created 0600) without following a symlink or
/// blocking on a FIFO. The caller checks that it is a regular file
/// (`ensure_regular`), once it holds the lock and needs the size anyway.
pub fn open_append_unchecked(path: &Path) -> io::Result<File> {
    open(path, OFlags::RDWR | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK, 0o600)
}

/// Opens `path` for appending (created 0600), refusing symlinks and anything
/// that is not a regular file.
pub fn open_append(path: &Path) -> io::Result<File> {
    let file = open_append_unchecked(path)?;
    ensure_regular(&file, path)?;
    Ok(file)
}

/// Reads a whole file (up to `limit` bytes) without following a symlink.
/// `Ok(None)` when it does not exist.
pub fn read_private(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let file = match open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK, 0) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = ensure_regular(&file, path)?;
    read_up_to(&file, size.min(limit)).map(Some)
}

/// The first `size` bytes of `file` (fewer if it is shorter), `size` known
/// from `fstat`: no last `read` to find the end, which a whole-file read makes.
pub fn read_up_to(file: &File, size: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(usize::MAX)];
    let filled = read_at_most(file, &mut bytes, 0)?;
    bytes.truncate(filled);
    Ok(bytes)
}

/// Fills `buf` from `offset` in `file` until it is full or the file ends
/// (it may have shrunk meanwhile); how many bytes were read.
pub fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match std::os::unix::fs::FileExt::read_at(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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
    let filled = read_at_most(&file, &mut buf, offset)?;
    buf.truncate(filled);
    Ok(buf)
}

/// How `replace` makes the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replace {
    /// The new file's permission bits.
    pub mode: u32,
    /// Set `mode` on the written file past the umask (a person's config keeps
    /// its mode); otherwise the umask may narrow it.
    pub exact_mode: bool,
    /// `fsync` the file before the rename and its directory after it.
    pub sync: bool,
}

impl Replace {
    /// kaizen's own files (records, cursors, caches, spool files): 0600, not synced.
    pub const PRIVATE: Replace = Replace { mode: 0o600, exact_mode: false, sync: false };

    /// A person's file (an agent's config, a hook file): its mode exactly, synced.
    pub const fn person(mode: u32) -> Replace {
        Replace { mode, exact_mode: true, sync: true }
    }
}

/// Replaces `path` atomically: the bytes go to a temp file beside it, then a
/// rename puts it in place. The one temp+rename of the crate.
///
/// - The temp file is `.<name>.kaizen-<pid>-<n>-<nanos>.tmp`: unique per
///   process and per call, created `O_EXCL|O_NOFOLLOW` (a name planted there,
///   a symlink included, is never written through: another name is tried),
///   removed when anything fails.
/// - The rename replaces a symlink planted at `path` instead of following it.
///   (A caller that means to write through a symlink resolves it first.)
///
/// Durability. Readers see the old file or the new one, whole, never a mix:
/// a crash or kill of the process at any point never leaves a torn file (a
/// killed writer can leave a temp file, which `spool` removes when stale).
/// Without `sync` (the hook's writes: `Replace::PRIVATE`), a power loss or
/// kernel crash may lose the last replacements, never tear one; on ext4
/// (`auto_da_alloc`) the rename over an existing file flushes its data first,
/// on file systems without that heuristic the replaced file may be empty or
/// the old version after the crash. With `sync` (`Replace::person`: install
/// and uninstall, run by a person) the file is `fsync`ed before the rename and
/// the directory after it, so a replacement that returned survives a power loss.
///
/// Why the hook does not sync (docs/reliability.md has the table): on the
/// development machine (ext4 on a virtual disk, 2 cores under load), 1,000
/// replacements of a 700-byte file cost 0.1-0.5 ms each at the median
/// without `fsync`; 0.9-7.6 ms with the file's, 1.7-4.0 ms with the
/// directory's, 1.1-5.1 ms with both (p99 up to 39 ms, worst 160 ms), while a
/// whole `tool-use` run costs about 1 ms (docs/performance.md). A record
/// update lost to a power loss is redone by the session's next event.
pub fn replace(path: &Path, bytes: &[u8], how: Replace) -> io::Result<()> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut tries = 0;
    let (file, tmp) = loop {
        tries += 1;
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let tmp = path.with_file_name(format!(".{name}.kaizen-{}-{n}-{nanos}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).mode(how.mode).custom_flags(NO_FOLLOW).open(&tmp) {
            Ok(file) => break (file, tmp),
            // Left by a dead process with our pid, or planted: never reused.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => continue,
            Err(e) => return Err(with_path(e, path)),
        }
    };
    let result = (|| {
        let mut file = file;
        file.write_all(bytes)?;
        if how.exact_mode {
            file.set_permissions(fs::Permissions::from_mode(how.mode))?;
        }
        if how.sync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| with_path(e, path))?;
    if how.sync {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match File::open(dir).and_then(|d| d.sync_all()) {
            // The file is in place: a directory this user cannot open, or a file
            // system that cannot sync one (EINVAL), only loses the guarantee.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EINVAL) => {}
            other => other.map_err(|e| with_path(e, dir))?,
        }
    }
    Ok(())
}

/// Replaces one of kaizen's own files: `replace` with `Replace::PRIVATE`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, Replace::PRIVATE)
}

/// The file's size, when it is a regular file.
pub fn ensure_regular(file: &File, path: &Path) -> io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn replace_puts_the_whole_file_in_place_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        for how in [Replace::PRIVATE, Replace::person(0o640)] {
            replace(&path, b"one", how).unwrap();
            replace(&path, b"two", how).unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"two");
            assert_eq!(names(dir.path()), ["f.json"]);
        }
        let missing = dir.path().join("no/such/dir/f.json");
        assert_eq!(replace(&missing, b"x", Replace::PRIVATE).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn replace_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious");
        fs::write(&precious, "keep").unwrap();
        let path = dir.path().join("f.json");
        std::os::unix::fs::symlink(&precious, &path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&precious).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&path).unwrap().is_file(), "the link itself was replaced");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_person_s_file_gets_its_mode_past_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.sh");
        // 0o757 is wider than any umask lets through (others may write).
        replace(&path, b"#!/bin/sh\n", Replace::person(0o757)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o757);
        write_atomic(&path, b"x").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0, "our own files are private");
    }
}
