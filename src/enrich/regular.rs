//! Reading the files of a repository we do not control. A FIFO, a device or a
//! directory can sit where git keeps a file (planted, or a symlink to
//! `/dev/zero`): opening a FIFO blocks until a writer comes, a device reads
//! forever. So every read here opens without blocking, checks with `fstat`
//! that the open file is a regular one, and reads at most a cap.

use crate::store::fsutil;
use rustix::fs::OFlags;
use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

/// HEAD, a loose ref, `commondir`, a `.git` file: a line of text each.
pub const SMALL: u64 = 64 * 1024;

/// Opens `path` (symlinks followed, as git does) if it is a regular file.
pub fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = fsutil::open(path, OFlags::RDONLY | OFlags::NONBLOCK, 0)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    Ok((file, meta))
}

/// The whole file, when it is a regular file of at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> io::Result<(Vec<u8>, Metadata)> {
    let (file, meta) = open(path)?;
    if meta.len() > cap {
        let why = format!("{} is {} bytes, more than the {cap} read here", path.display(), meta.len());
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    // Read to the size `fstat` gave: a file growing meanwhile is cut there.
    let bytes = fsutil::read_up_to(&file, meta.len())?;
    Ok((bytes, meta))
}

/// A small text file (HEAD, a ref): `None` when it is missing, not a regular
/// file, too large or not UTF-8.
pub fn small_text(path: &Path) -> Option<String> {
    let (bytes, _) = read(path, SMALL).ok()?;
    String::from_utf8(bytes).ok()
}

/// What libgit2 would trip on is something other than a regular file where
/// it reads one: it opens files blocking and reads them whole. A missing or
/// unreadable file only makes it fail, fast.
pub fn is_regular_or_absent(path: &Path) -> bool {
    std::fs::metadata(path).map_or(true, |meta| meta.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "ref: refs/heads/main\n").unwrap();
        assert_eq!(small_text(&file).as_deref(), Some("ref: refs/heads/main\n"));
        assert!(read(&file, 4).is_err(), "larger than the cap");
        let fifo = dir.path().join("fifo");
        use rustix::fs::{CWD, FileType, Mode, mknodat};
        mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert!(open(&fifo).is_err(), "a FIFO is refused without blocking");
        assert!(open(Path::new("/dev/zero")).is_err());
        assert!(open(dir.path()).is_err());
        assert!(!is_regular_or_absent(&fifo));
        assert!(is_regular_or_absent(&dir.path().join("missing")));
    }
}
