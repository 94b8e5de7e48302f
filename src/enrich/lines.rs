//! Lines of one file of a work tree, in as few system calls as the answer
//! allows: opened relative to its directory's descriptor (one path component
//! to resolve), `fstat` on the open descriptor (the file type and the index's
//! stat data in one call, and the size, so a file is read in one `read` when
//! it fits the buffer, with no second read to find the end), then closed.
//! A file is never read past the size `fstat` gave: a device or a file that
//! grows while it is read cannot keep the scan reading.

use std::ffi::CStr;

/// What `open_and_count` found.
pub enum Found {
    /// A regular file: its stat data and its lines (0 for binary content).
    File(libc::stat, u64),
    /// Something else (a symlink, a directory, a FIFO...): its stat data.
    Other(libc::stat),
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

/// Opens `name` in the directory `dir` (a descriptor) without following a
/// symlink or blocking on a FIFO, and counts its lines if it is a regular file.
pub fn open_and_count(dir: i32, name: &CStr, buf: &mut [u8]) -> Found {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: a valid C string and descriptor; the fd is closed below.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if fd < 0 {
        // A symlink (ELOOP), or gone: the caller's lstat tells which.
        return lstat_at(dir, name).map_or(Found::Missing, Found::Other);
    }
    // SAFETY: fstat fills the zeroed stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let found = if unsafe { libc::fstat(fd, &mut st) } != 0 {
        Found::Missing
    } else if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        Found::Other(st)
    } else {
        Found::File(st, count_fd(fd, st.st_size.max(0) as u64, buf))
    };
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    found
}

/// `lstat` of `name` in the directory `dir`.
pub fn lstat_at(dir: i32, name: &CStr) -> Option<libc::stat> {
    // SAFETY: fstatat fills the zeroed stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0;
    ok.then_some(st)
}

/// Lines in the first `size` bytes of `fd`: newlines, plus one for a last
/// line without one; 0 when the first 8 KiB hold a NUL (binary).
pub(crate) fn count_fd(fd: i32, size: u64, buf: &mut [u8]) -> u64 {
    const SNIFF: u64 = 8192;
    let (mut seen, mut lines, mut last) = (0u64, 0u64, b'\n');
    while seen < size {
        let want = buf.len().min(usize::try_from(size - seen).unwrap_or(usize::MAX));
        // SAFETY: reading into our own buffer, at most its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), want) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        let Ok(n @ 1..) = usize::try_from(n) else { break };
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
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn dir_fd(path: &std::path::Path) -> i32 {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY) }
    }

    #[test]
    fn counts_like_the_definition_in_any_buffer_size() {
        let dir = std::env::temp_dir().join(format!("kaizen-lines-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: &[(&[u8], u64)] =
            &[(b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n\n", 3), (b"bin\0ary\n", 0), (b"abcdefgh\ni", 2)];
        let fd = dir_fd(&dir);
        for buf_len in [1, 3, 4, 64] {
            let mut buf = vec![0u8; buf_len];
            for (i, (content, expected)) in cases.iter().enumerate() {
                std::fs::write(dir.join(format!("f{i}")), content).unwrap();
                let name = CString::new(format!("f{i}")).unwrap();
                match open_and_count(fd, &name, &mut buf) {
                    Found::File(st, lines) => {
                        assert_eq!((lines, st.st_size as usize), (*expected, content.len()), "{content:?} {buf_len}")
                    }
                    _ => panic!("{content:?} is a regular file"),
                }
            }
        }
        std::os::unix::fs::symlink(dir.join("f1"), dir.join("link")).unwrap();
        assert!(
            matches!(open_and_count(fd, c"link", &mut [0; 8]), Found::Other(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        );
        assert!(matches!(open_and_count(fd, c"missing", &mut [0; 8]), Found::Missing));
        unsafe { libc::close(fd) };
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
