//! The expensive facts about a work tree, computed at session start, at each
//! turn end and at session end: whether it is dirty, how many files it holds
//! and how many lines they have. Nothing here writes to the repository.
//!
//! Files are what `git ls-files --cached --others --exclude-standard` lists,
//! kept when they are regular files on disk (symlinks are neither followed nor
//! counted; submodules and nested repositories are not entered). LOC is the
//! number of lines of those files that are text (no NUL in the first 8 KiB),
//! a last line without a newline counting as one.

use super::Missing;
use ignore::WalkBuilder;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: u32,
    pub loc: u64,
}

/// `git status --porcelain` would print something. Uses libgit2 with the
/// index left as it is: no refresh, no `index.lock`.
pub fn is_dirty(workdir: &Path) -> Result<bool, String> {
    let repo = git2::Repository::open(workdir).map_err(|e| format!("open {}: {e}", workdir.display()))?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(false)
        .update_index(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(|e| format!("status: {e}"))?;
    Ok(!statuses.is_empty())
}

/// Files and LOC of a git work tree: tracked files from the index, plus the
/// untracked files the standard excludes do not ignore.
pub fn count_git(workdir: &Path, deadline: Instant) -> Result<Counts, Missing> {
    let repo = git2::Repository::open(workdir).map_err(|e| format!("open {}: {e}", workdir.display()))?;
    let index = repo.index().map_err(|e| format!("index: {e}"))?;
    const GITLINK: u32 = 0o160000;
    let mut tracked: HashSet<Vec<u8>> = HashSet::with_capacity(index.len());
    let mut paths = Vec::with_capacity(index.len());
    for entry in index.iter() {
        if entry.mode & 0o170000 != GITLINK && tracked.insert(entry.path.clone()) {
            paths.push(workdir.join(OsStr::from_bytes(&entry.path)));
        }
    }
    drop(index);
    for entry in git_walk(workdir) {
        if Instant::now() > deadline {
            return Err(Missing::Deadline);
        }
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(workdir) else { continue };
        if !tracked.contains(relative.as_os_str().as_bytes()) {
            paths.push(entry.into_path());
        }
    }
    count_lines(&paths, deadline)
}

/// Files and LOC of a directory outside git, by `.gitignore`/`.ignore` rules.
pub fn count_plain(dir: &Path, deadline: Instant) -> Result<Counts, Missing> {
    let walker = WalkBuilder::new(dir)
        .hidden(false)
        .ignore(true)
        .git_ignore(true)
        .git_exclude(false)
        .git_global(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(not_a_git_dir_or_nested_repo)
        .build();
    let mut paths = Vec::new();
    for entry in walker {
        if Instant::now() > deadline {
            return Err(Missing::Deadline);
        }
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_some_and(|t| t.is_file()) {
            paths.push(entry.into_path());
        }
    }
    count_lines(&paths, deadline)
}

/// A walk of a git work tree by git's standard excludes (`.gitignore`,
/// `info/exclude`, the global excludes file; not `.ignore`), hidden files
/// included, symlinks not followed, `.git`, submodules and nested
/// repositories not entered: what `git ls-files --others --exclude-standard` sees.
pub(crate) fn git_walk(workdir: &Path) -> ignore::Walk {
    WalkBuilder::new(workdir)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(true)
        .follow_links(false)
        .filter_entry(not_a_git_dir_or_nested_repo)
        .build()
}

fn not_a_git_dir_or_nested_repo(entry: &ignore::DirEntry) -> bool {
    if entry.file_name() == ".git" {
        return false;
    }
    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
    !(is_dir && entry.depth() > 0 && entry.path().join(".git").exists())
}

/// Counts regular files and their lines on all cores, giving up at the deadline.
fn count_lines(paths: &[PathBuf], deadline: Instant) -> Result<Counts, Missing> {
    const BATCH: usize = 64;
    let next = AtomicUsize::new(0);
    let files = AtomicU64::new(0);
    let loc = AtomicU64::new(0);
    let late = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let work = || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let start = next.fetch_add(BATCH, Ordering::Relaxed);
            if start >= paths.len() || late.load(Ordering::Relaxed) {
                return;
            }
            if Instant::now() > deadline {
                late.store(true, Ordering::Relaxed);
                return;
            }
            let (mut f, mut l) = (0, 0);
            for path in &paths[start..(start + BATCH).min(paths.len())] {
                if let Some(lines) = lines_of_regular_file(path, &mut buf) {
                    f += 1;
                    l += lines;
                }
            }
            files.fetch_add(f, Ordering::Relaxed);
            loc.fetch_add(l, Ordering::Relaxed);
        }
    };
    std::thread::scope(|scope| {
        // This thread works too: a worker that cannot start (a thread or
        // memory limit) costs speed, not the count.
        for _ in 1..workers {
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    if late.load(Ordering::Relaxed) {
        return Err(Missing::Deadline);
    }
    Ok(Counts {
        files: u32::try_from(files.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
        loc: loc.load(Ordering::Relaxed),
    })
}

/// `None` when `path` is not a regular file (gone, a symlink, a FIFO...);
/// otherwise its line count, 0 for binary content, counted as the scan
/// counts (`lines::count_fd`: a NUL in the first 8 KiB is binary, and
/// nothing past the size `fstat` gave is read).
pub(crate) fn lines_of_regular_file(path: &Path, buf: &mut [u8]) -> Option<u64> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    Some(super::lines::count_fd(&file, meta.len(), buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_like_wc_plus_an_unterminated_last_line() {
        let dir = std::env::temp_dir().join(format!("kaizen-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"", Some(0)),
            (b"a", Some(1)),
            (b"a\n", Some(1)),
            (b"a\nb", Some(2)),
            (b"\n\n\n", Some(3)),
            (b"bin\0ary\n", Some(0)),
        ];
        let mut buf = vec![0u8; 4];
        for (i, (content, expected)) in cases.iter().enumerate() {
            let path = dir.join(format!("f{i}"));
            std::fs::write(&path, content).unwrap();
            assert_eq!(lines_of_regular_file(&path, &mut buf), *expected, "{content:?}");
        }
        std::os::unix::fs::symlink(dir.join("f1"), dir.join("link")).unwrap();
        assert_eq!(lines_of_regular_file(&dir.join("link"), &mut buf), None);
        assert_eq!(lines_of_regular_file(&dir.join("missing"), &mut buf), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The work tree's count and the scan's (`lines::open_and_count`) agree
    /// on every file and buffer size, binary detection included: a NUL past
    /// the first read but within 8 KiB is binary, one past 8 KiB is not.
    #[test]
    fn the_work_tree_and_the_scan_count_alike() {
        use std::ffi::CString;
        let dir = tempfile::tempdir().unwrap();
        let text = "line of text\n".repeat(1000);
        let nul_at = |at: usize| {
            let mut bytes = text.clone().into_bytes();
            bytes[at] = 0;
            bytes
        };
        let cases: Vec<(Vec<u8>, u64)> = vec![
            (b"".to_vec(), 0),
            (b"a".to_vec(), 1),
            (b"a\nb".to_vec(), 2),
            (b"\n\n\n".to_vec(), 3),
            (b"bin\0ary\n".to_vec(), 0),
            (text.clone().into_bytes(), 1000),
            (format!("{text}no newline").into_bytes(), 1001),
            (nul_at(6), 0),
            (nul_at(5000), 0),
            (nul_at(8191), 0),
            (nul_at(8192), 1000),
            (nul_at(12_000), 1000),
        ];
        let dir_fd = File::open(dir.path()).unwrap();
        for buf_len in [4, 100, 4096, 64 * 1024] {
            let mut buf = vec![0u8; buf_len];
            for (i, (content, expected)) in cases.iter().enumerate() {
                let name = format!("f{i}");
                std::fs::write(dir.path().join(&name), content).unwrap();
                let worktree = lines_of_regular_file(&dir.path().join(&name), &mut buf);
                let scan = super::super::lines::open_and_count(
                    std::os::fd::AsFd::as_fd(&dir_fd),
                    &CString::new(name.as_str()).unwrap(),
                    &mut buf,
                )
                .lines();
                assert_eq!(worktree, Some(scan), "case {i}, buffer {buf_len}");
                assert_eq!(scan, *expected, "case {i}, buffer {buf_len}");
            }
        }
    }
}
