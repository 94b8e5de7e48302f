//! Lines of one file of a work tree, in as few system calls as the answer
//! allows: opened relative to its directory's descriptor (one path component
//! to resolve), `fstat` on the open descriptor (the file type and the index's
//! stat data in one call, and the size, so a file is read in one `read` when
//! it fits the buffer, with no second read to find the end), then closed.
//! A file is never read past the size `fstat` gave: a device or a file that
//! grows while it is read cannot keep the scan reading.

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::ffi::CStr;

/// What `open_and_count` found.
pub enum Found {
    /// A regular file: its stat data and its lines (0 for binary content).
    File(Stat, u64),
    /// Something else (a symlink, a directory, a FIFO...): its stat data.
    Other(Stat),
    /// Gone, or not openable.
    Missing,
}

impl Found {
    /// The lines of a regular file; 0 for anything else.
    pub fn lines(&self) -> u64 {
        match self {
            Found::File(_, lines) => *lines,
            _ => 0,
        }
    }
}

/// Opens `name` in the directory `dir` without following a symlink or
/// blocking on a FIFO, and counts its lines if it is a regular file.
pub fn open_and_count(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Found {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    // Closed when it goes out of scope.
    let Ok(fd) = rustix::fs::openat(dir, name, flags, Mode::empty()) else {
        // A symlink (ELOOP), or gone: the caller's lstat tells which.
        return lstat_at(dir, name).map_or(Found::Missing, Found::Other);
    };
    match rustix::fs::fstat(&fd) {
        Err(_) => Found::Missing,
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => Found::Other(st),
        Ok(st) => Found::File(st, count_fd(fd, st.st_size.max(0) as u64, buf)),
    }
}

/// `lstat` of `name` in the directory `dir`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> Option<Stat> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

/// Where a NUL makes a file binary (0 lines): the first 8 KiB, as git looks.
const SNIFF: u64 = 8192;

/// Lines in `bytes`, as `count_fd` counts a file holding them.
pub fn count(bytes: &[u8]) -> u64 {
    if memchr::memchr(0, &bytes[..bytes.len().min(SNIFF as usize)]).is_some() {
        return 0;
    }
    memchr::memchr_iter(b'\n', bytes).count() as u64 + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// Lines in the first `size` bytes of `fd`: newlines, plus one for a last
/// line without one; 0 when the first 8 KiB hold a NUL (binary).
pub(crate) fn count_fd(fd: impl rustix::fd::AsFd, size: u64, buf: &mut [u8]) -> u64 {
    let (mut seen, mut lines, mut last) = (0u64, 0u64, b'\n');
    while seen < size {
        let want = buf.len().min(usize::try_from(size - seen).unwrap_or(usize::MAX));
        let n = match rustix::io::read(&fd, &mut buf[..want]) {
            Err(Errno::INTR) => continue,
            Ok(n @ 1..) => n,
            _ => break,
        };
        let chunk = &buf[..n];
        if seen < SNIFF && memchr::memchr(0, &chunk[..n.min((SNIFF - seen) as usize)]).is_some() {
            return 0;
        }
        lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        last = chunk[n - 1];
        seen += n as u64;
    }
    lines + u64::from(last != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;
    use std::ffi::CString;

    fn dir_fd(path: &std::path::Path) -> rustix::fd::OwnedFd {
        rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn counts_like_the_definition_in_any_buffer_size() {
        let dir = std::env::temp_dir().join(format!("kaizen-lines-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: &[(&[u8], u64)] =
            &[(b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n\n", 3), (b"bin\0ary\n", 0), (b"abcdefgh\ni", 2)];
        let late_nul = [vec![b'x'; 8192], b"\0\n".to_vec()].concat();
        let cases = [cases, &[(late_nul.as_slice(), 1)]].concat();
        let fd = dir_fd(&dir);
        for buf_len in [1, 3, 4, 64] {
            let mut buf = vec![0u8; buf_len];
            for (i, (content, expected)) in cases.iter().enumerate() {
                std::fs::write(dir.join(format!("f{i}")), content).unwrap();
                let name = CString::new(format!("f{i}")).unwrap();
                assert_eq!(count(content), *expected, "{content:?} in memory");
                match open_and_count(fd.as_fd(), &name, &mut buf) {
                    Found::File(st, lines) => {
                        assert_eq!((lines, st.st_size as usize), (*expected, content.len()), "{content:?} {buf_len}")
                    }
                    _ => panic!("{content:?} is a regular file"),
                }
            }
        }
        std::os::unix::fs::symlink(dir.join("f1"), dir.join("link")).unwrap();
        assert!(
            matches!(open_and_count(fd.as_fd(), c"link", &mut [0; 8]), Found::Other(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        );
        assert!(matches!(open_and_count(fd.as_fd(), c"missing", &mut [0; 8]), Found::Missing));
        drop(fd);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
