//! One pass over a git work tree that answers both questions a snapshot asks:
//! is it dirty (would `git status --porcelain` print anything), and how many
//! files and lines does it hold (see `worktree` for the exact definitions).
//!
//! It does what `git status` does, and remembers what it learnt in
//! `$KAIZEN_HOME/cache/` so the next scan of the same tree does less:
//! - tracked files: stat each index entry (relative to an open directory, on
//!   all cores) against the stat data in the index; a file that differs is
//!   hashed to tell a real change from a touch. LOC is cached by blob id, so
//!   an unchanged file is never read twice, in any session.
//! - staged changes: the index's cache-tree root against HEAD's tree (libgit2's
//!   tree-to-index diff only when the cache-tree is not valid).
//! - untracked files: the walk by the standard excludes is skipped when no
//!   directory's mtime and no ignore file changed since a trusted scan (the
//!   idea of git's untracked cache); directories modified in the two seconds
//!   before a scan make it untrusted, because their mtime may not move again.
//!
//! What this scan does not read is left to libgit2: a clean verdict in a
//! repository with submodules (libgit2 looks inside them), and a change seen
//! only in raw bytes where eol conversion or filters may apply (libgit2
//! hashes through them). Nothing is written to the repository.

use super::Missing;
use super::git::Repo;
use super::index::{self, Entry, Index, OID_LEN};
use super::lines;
use super::objects::Objects;
use super::worktree::{self, Counts};
use crate::hash::Fnv64;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, Stat};
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"KZSCAN01";
/// Directory changes this recent may share an mtime with a later change.
const RACY_SECONDS: i64 = 2;

pub struct Outcome {
    pub dirty: bool,
    pub counts: Counts,
}

/// Scans `repo`'s work tree. `Err` when the repository uses something this
/// scan does not read (the caller then asks libgit2), or at the deadline.
pub fn scan(repo: &Repo, cache_file: Option<&Path>, deadline: Instant) -> Result<Outcome, Missing> {
    let workdir = repo.workdir.as_deref().ok_or("no work tree")?;
    let config = std::fs::read_to_string(repo.common_dir.join("config")).unwrap_or_default();
    if config.to_ascii_lowercase().contains("objectformat") {
        return Err("repository object format not supported by the fast scan".into());
    }
    let started_wall = unix_seconds();
    let stop = leave_time_to_save(deadline);
    let index = index::read(&repo.git_dir)?.unwrap_or(Index { entries: Vec::new(), root_tree: None, mtime: (0, 0) });
    let old = cache_file.map(Cache::load).unwrap_or_default();

    let fingerprint = ignore_fingerprint(repo, &old.ignore_files);
    let reuse = old.trusted && old.fingerprint == fingerprint && dirs_unchanged(workdir, &old.dirs);
    let reused = if reuse { refresh_untracked(workdir, &old.untracked) } else { None };
    let walks = reused.is_none();
    // The untracked walk runs beside the tracked files' scan: it is mostly
    // directory reads and ignore rules, they are mostly opens and reads.
    let (tracked, walked) = std::thread::scope(|scope| {
        let walker = walks.then(|| scope.spawn(|| walk(workdir, &index, &old, stop)));
        let objects = Objects::new(repo, workdir, &index, &config);
        let tracked = scan_tracked(workdir, &index, &old, &objects, &Limits::new(stop, deadline));
        let walked = match (walker, reused) {
            (Some(walker), _) => walker.join().unwrap_or_else(|_| Walked::unfinished()),
            (None, untracked) => Walked {
                untracked: untracked.unwrap_or_default(),
                dirs: old.dirs.clone(),
                ignore_files: old.ignore_files.clone(),
                complete: true,
            },
        };
        (tracked, walked)
    });
    if !tracked.complete || !walked.complete {
        // Keep what was learnt, so the next scan starts further on and a big
        // tree converges over a few runs instead of starting over each time.
        if let Some(path) = cache_file {
            old.with_progress(tracked.blobs, walked.untracked).save(path);
        }
        return Err(Missing::Deadline);
    }
    let dirty = tracked_dirt(repo, workdir, &index, &tracked, &config)? || !walked.untracked.is_empty();
    let fingerprint = if walks { ignore_fingerprint(repo, &walked.ignore_files) } else { fingerprint };
    let files = tracked.files + walked.untracked.len() as u64;
    let loc = tracked.loc + walked.untracked.iter().map(|u| u.lines).sum::<u64>();
    if let Some(path) = cache_file {
        let trusted = walked.dirs.iter().all(|d| d.mtime.0 < started_wall - RACY_SECONDS);
        let mut blobs = tracked.blobs;
        blobs.sort_unstable_by_key(|b| b.0);
        blobs.dedup_by_key(|b| b.0);
        let (ignore_files, dirs, untracked) = (walked.ignore_files, walked.dirs, walked.untracked);
        let new = Cache { trusted, fingerprint, ignore_files, dirs, untracked, blobs };
        if new != old {
            new.save(path);
        }
    }
    Ok(Outcome { dirty, counts: Counts { files: u32::try_from(files).unwrap_or(u32::MAX), loc } })
}

/// Whether the tracked files are dirty as git status says: changed, staged,
/// or, where this scan cannot tell, as libgit2 says.
fn tracked_dirt(repo: &Repo, workdir: &Path, index: &Index, tracked: &Tracked, config: &str) -> Result<bool, Missing> {
    let dirty = tracked.dirty || staged_changes(repo, index)?;
    let has_submodules = index.entries.iter().any(|e| e.mode == index::MODE_GITLINK);
    let only_by_hash = !dirty && tracked.hash_differs;
    if (!dirty && has_submodules) || (only_by_hash && filters_may_apply(repo, index, config)) {
        // Dirt git sees through what this scan does not read: inside submodules, or content
        // that differs raw but not once cleaned (eol conversion, filters). libgit2 reads both.
        return Ok(worktree::is_dirty(workdir)?);
    }
    Ok(dirty || tracked.hash_differs)
}

/// The scan's own deadline: an eighth of the time left before `deadline`
/// is kept for saving what it learnt, so an unfinished scan still counts.
fn leave_time_to_save(deadline: Instant) -> Instant {
    let now = Instant::now();
    now + deadline.saturating_duration_since(now) * 7 / 8
}

struct Tracked {
    /// Deleted, conflicted, staged as new, or of another type or mode.
    dirty: bool,
    /// A file's raw content is not its index blob (git may still call it clean, after filters).
    hash_differs: bool,
    files: u64,
    loc: u64,
    /// Line counts of the index blobs seen, for the next scan.
    blobs: Vec<([u8; OID_LEN], u64)>,
    /// Every entry was looked at (false: the deadline came first).
    complete: bool,
}

impl Tracked {
    fn empty() -> Tracked {
        Tracked { dirty: false, hash_differs: false, files: 0, loc: 0, blobs: Vec::new(), complete: true }
    }
}

/// When the tracked files' scan stops, shared by its threads.
struct Limits {
    /// Stop here once this run has read something new.
    stop: Instant,
    /// Stop here regardless.
    deadline: Instant,
    /// A thread stopped: the others stop too, once they have read something new.
    late: AtomicBool,
    /// Files of unknown lines this run may still read (see `read_cap`).
    reads_left: AtomicUsize,
}

impl Limits {
    fn new(stop: Instant, deadline: Instant) -> Limits {
        Limits { stop, deadline, late: AtomicBool::new(false), reads_left: AtomicUsize::new(read_cap()) }
    }

    /// Whether a thread that has read `reads` new files stops before the next
    /// entry; `unknown`: that entry's lines are not cached, so it would be read.
    fn reached(&self, reads: usize, unknown: bool) -> bool {
        let now = Instant::now();
        let reached = now > self.deadline
            || ((now > self.stop || self.late.load(Ordering::Relaxed)) && reads > 0)
            || (unknown
                && self.reads_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_err());
        if reached {
            self.late.store(true, Ordering::Relaxed);
        }
        reached
    }
}

/// Test builds only: `KAIZEN_HOOK_TEST_SCAN_READS` caps the files of unknown
/// lines one run reads, so a test can make a tree too big for one run on any
/// machine, however fast, without a clock. Release builds have no such switch.
fn read_cap() -> usize {
    if !cfg!(debug_assertions) {
        return usize::MAX;
    }
    std::env::var("KAIZEN_HOOK_TEST_SCAN_READS").ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

fn scan_tracked(workdir: &Path, index: &Index, cache: &Cache, objects: &Objects, limits: &Limits) -> Tracked {
    let entries = &index.entries;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let chunk = entries.len().div_ceil(workers).max(1);
    let parts: Vec<Tracked> = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| scope.spawn(|| scan_entries(workdir, part, index.mtime, cache, objects, limits)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(Tracked { complete: false, ..Tracked::empty() })).collect()
    });
    let mut total = Tracked::empty();
    for part in parts {
        total.dirty |= part.dirty;
        total.hash_differs |= part.hash_differs;
        total.files += part.files;
        total.loc += part.loc;
        total.blobs.extend(part.blobs);
        total.complete &= part.complete;
    }
    total
}

/// Stops at the first deadline once it has read at least one file whose lines
/// were not known (so every run adds to the cache, and a big tree converges
/// even when restatting what is known takes most of the time), and at the
/// second in any case. The clock is read before every file to read, and
/// every 256 entries otherwise. A file of unknown lines whose stat data vouches
/// for it is counted from its blob when `objects` can (no read of the file).
fn scan_entries(
    workdir: &Path,
    entries: &[Entry],
    index_mtime: (i64, u32),
    cache: &Cache,
    objects: &Objects,
    limits: &Limits,
) -> Tracked {
    let mut out = Tracked::empty();
    let mut dir = DirHandle::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut blobs = objects.reader();
    let mut previous_path: &[u8] = &[];
    let mut reads = 0;
    for (i, entry) in entries.iter().enumerate() {
        let cached = cache.blob_lines(&entry.oid);
        if (cached.is_none() || i % 256 == 0) && limits.reached(reads, cached.is_none()) {
            out.complete = false;
            break;
        }
        if entry.stage != 0 || entry.intent_to_add {
            out.dirty = true; // a conflict, or a file staged to be added
        }
        let repeated = entry.path.as_slice() == previous_path; // conflict stages share a path
        previous_path = &entry.path;
        if repeated || entry.mode == index::MODE_GITLINK || entry.skip_worktree {
            continue;
        }
        let Some((fd, name)) = dir.enter(workdir, &entry.path) else {
            out.dirty = true; // its directory is gone
            continue;
        };
        reads += usize::from(cached.is_none());
        // A blob of unknown lines may come from a pack: then the file needs only its stat.
        let stat_only = cached.is_some() || objects.available();
        let Some((stat, read)) = stat_or_count(fd, &name, stat_only, &mut buf) else {
            out.dirty = true; // deleted
            continue;
        };
        let is_file = stat.st_mode & libc::S_IFMT == libc::S_IFREG;
        let full = || workdir.join(OsStr::from_bytes(&entry.path));
        let verified = stat_matches(entry, &stat) && !is_racy(&stat, index_mtime);
        let content_matches = entry.assume_valid || verified || content_equals(&full(), &stat, &entry.oid);
        out.hash_differs |= !content_matches;
        out.dirty |= mode_differs(entry, &stat);
        if !is_file {
            continue;
        }
        out.files += 1;
        let lines = match (content_matches, cached, read) {
            (true, Some(lines), _) => lines,
            (_, _, Some(lines)) => lines,
            // Counted below, with the other blobs read from the packs.
            _ if verified && blobs.want(i, &entry.oid, entry.size) => continue,
            _ => lines::open_and_count(fd, &name, &mut buf).lines(),
        };
        if content_matches {
            out.blobs.push((entry.oid, lines));
        }
        out.loc += lines;
    }
    // The blobs wanted so far, in pack order, even when the scan stopped: the
    // files' read allowance was spent on them. Only the clock stops these.
    let read = blobs.read(|| Instant::now() > limits.stop);
    out.complete &= read.complete;
    for (i, lines) in read.lines {
        let entry = &entries[i];
        let from_file = || worktree::lines_of_regular_file(&workdir.join(OsStr::from_bytes(&entry.path)), &mut buf);
        let Some(lines) = lines.or_else(from_file) else { continue };
        out.blobs.push((entry.oid, lines));
        out.loc += lines;
    }
    out
}

/// A tracked file's stat data, and its lines when they were not `known`:
/// for a known blob a stat is enough, otherwise the file is opened at once
/// and its stat data taken from the open file. `None`: it is gone.
fn stat_or_count(dir: BorrowedFd<'_>, name: &CStr, known: bool, buf: &mut [u8]) -> Option<(Stat, Option<u64>)> {
    if known {
        return lines::lstat_at(dir, name).map(|stat| (stat, None));
    }
    match lines::open_and_count(dir, name, buf) {
        lines::Found::File(stat, lines) => Some((stat, Some(lines))),
        lines::Found::Other(stat) => Some((stat, None)),
        lines::Found::Missing => None,
    }
}

/// Stats paths relative to an open descriptor of their directory: one path
/// component to resolve per file instead of the whole path.
#[derive(Default)]
struct DirHandle {
    dir: Vec<u8>,
    fd: Option<OwnedFd>,
}

impl DirHandle {
    /// The descriptor of `path`'s directory (opened when it changes) and its last component.
    fn enter(&mut self, workdir: &Path, path: &[u8]) -> Option<(BorrowedFd<'_>, CString)> {
        let (dir, name) = match memchr::memrchr(b'/', path) {
            Some(slash) => (&path[..slash], &path[slash + 1..]),
            None => (&[][..], path),
        };
        if self.fd.is_none() || self.dir != dir {
            self.fd = None; // closes the previous one
            let full = if dir.is_empty() { workdir.to_path_buf() } else { workdir.join(OsStr::from_bytes(dir)) };
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            self.fd = rustix::fs::open(&full, flags, Mode::empty()).ok();
            self.dir = dir.to_vec();
        }
        Some((self.fd.as_ref()?.as_fd(), CString::new(name).ok()?))
    }
}

/// The comparison `git status` makes before trusting an entry unchanged
/// (index fields are the low 32 bits of the stat values).
fn stat_matches(e: &Entry, st: &Stat) -> bool {
    e.mtime == (st.st_mtime as u32, st.st_mtime_nsec as u32)
        && e.ctime == (st.st_ctime as u32, st.st_ctime_nsec as u32)
        && e.size == st.st_size as u32
        && e.ino == st.st_ino as u32
        && e.uid == st.st_uid
        && e.gid == st.st_gid
        && !mode_differs(e, st)
}

/// A changed file type or executable bit is a change even when the content is not.
fn mode_differs(e: &Entry, st: &Stat) -> bool {
    let file_type = st.st_mode & libc::S_IFMT;
    file_type != e.mode & 0o170000 || (file_type == libc::S_IFREG && (e.mode & 0o100 != 0) != (st.st_mode & 0o100 != 0))
}

/// Modified no earlier than the index was written: the stat data cannot vouch for it.
fn is_racy(st: &Stat, index_mtime: (i64, u32)) -> bool {
    (st.st_mtime, st.st_mtime_nsec as u32) >= index_mtime
}

/// Whether the file's content is the blob `oid` (a symlink: its target text).
fn content_equals(path: &Path, st: &Stat, oid: &[u8; OID_LEN]) -> bool {
    let hashed = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        std::fs::read_link(path)
            .ok()
            .and_then(|target| git2::Oid::hash_object(git2::ObjectType::Blob, target.as_os_str().as_bytes()).ok())
    } else {
        git2::Oid::hash_file(git2::ObjectType::Blob, path).ok()
    };
    hashed.is_some_and(|h| h.as_bytes() == oid)
}

/// Whether git could see a file's content differently from its raw bytes:
/// attributes files, or eol/filter settings in the repository's or user's config.
fn filters_may_apply(repo: &Repo, index: &Index, repo_config: &str) -> bool {
    let mentions = |config: &str| {
        let config = config.to_ascii_lowercase();
        config.contains("autocrlf") || config.contains("[filter") || config.contains("eol")
    };
    let user_config = crate::config::home_dir()
        .map(|home| std::fs::read_to_string(home.join(".gitconfig")).unwrap_or_default())
        .unwrap_or_default();
    index.entries.iter().any(|e| e.path.ends_with(b".gitattributes"))
        || repo.common_dir.join("info/attributes").exists()
        || mentions(repo_config)
        || mentions(&user_config)
}

/// Whether the index differs from HEAD: staged changes.
fn staged_changes(repo: &Repo, index: &Index) -> Result<bool, String> {
    let Some(head) = repo.head().commit().map(String::from) else {
        return Ok(!index.entries.is_empty()); // unborn: anything staged is new
    };
    let git = git2::Repository::open(repo.workdir.as_deref().unwrap_or(&repo.git_dir)).map_err(|e| e.to_string())?;
    let head_oid = git2::Oid::from_str(&head).map_err(|e| e.to_string())?;
    let head_tree = git.find_commit(head_oid).map_err(|e| e.to_string())?.tree().map_err(|e| e.to_string())?;
    if let Some(root) = index.root_tree {
        return Ok(head_tree.id().as_bytes() != root);
    }
    let git_index = git.index().map_err(|e| e.to_string())?;
    let diff = git.diff_tree_to_index(Some(&head_tree), Some(&git_index), None).map_err(|e| e.to_string())?;
    Ok(diff.deltas().len() > 0)
}

struct Walked {
    untracked: Vec<Untracked>,
    dirs: Vec<Dir>,
    ignore_files: Vec<PathBuf>,
    /// The whole tree was walked (false: the deadline came first).
    complete: bool,
}

impl Walked {
    fn unfinished() -> Walked {
        Walked { untracked: Vec::new(), dirs: Vec::new(), ignore_files: Vec::new(), complete: false }
    }
}

/// The walk by the standard excludes: untracked files (with their lines),
/// the directories it went through, the ignore files it met.
fn walk(workdir: &Path, index: &Index, cache: &Cache, deadline: Instant) -> Walked {
    let tracked: HashSet<&[u8]> = index.entries.iter().map(|e| e.path.as_slice()).collect();
    let known: HashMap<&Path, &Untracked> = cache.untracked.iter().map(|u| (u.path.as_path(), u)).collect();
    let mut out = Walked { complete: true, ..Walked::unfinished() };
    let mut buf = vec![0u8; 64 * 1024];
    for (i, entry) in worktree::git_walk(workdir).enumerate() {
        if i % 64 == 0 && Instant::now() > deadline {
            out.complete = false;
            return out;
        }
        let Ok(entry) = entry else { continue };
        let Some(kind) = entry.file_type() else { continue };
        let Ok(relative) = entry.path().strip_prefix(workdir) else { continue };
        if kind.is_dir() {
            if let Ok(meta) = entry.metadata() {
                out.dirs.push(Dir { path: relative.to_path_buf(), mtime: (meta.mtime(), meta.mtime_nsec() as u32) });
            }
            continue;
        }
        if entry.file_name() == ".gitignore" {
            out.ignore_files.push(relative.to_path_buf());
        }
        if !kind.is_file() || tracked.contains(relative.as_os_str().as_bytes()) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        let key = StatKey::of(&meta);
        let lines = match known.get(relative) {
            Some(known) if known.stat == key => known.lines,
            _ => worktree::lines_of_regular_file(entry.path(), &mut buf).unwrap_or(0),
        };
        out.untracked.push(Untracked { path: relative.to_path_buf(), stat: key, lines });
    }
    out
}

fn dirs_unchanged(workdir: &Path, dirs: &[Dir]) -> bool {
    !dirs.is_empty()
        && dirs.iter().all(|d| {
            std::fs::symlink_metadata(workdir.join(&d.path))
                .is_ok_and(|m| m.is_dir() && (m.mtime(), m.mtime_nsec() as u32) == d.mtime)
        })
}

/// The cached untracked files, restatted (their content may have changed in
/// place); `None` when one is gone, which means walking again.
fn refresh_untracked(workdir: &Path, known: &[Untracked]) -> Option<Vec<Untracked>> {
    let mut buf = vec![0u8; 64 * 1024];
    known
        .iter()
        .map(|u| {
            let path = workdir.join(&u.path);
            let key = StatKey::of(&std::fs::symlink_metadata(&path).ok().filter(|m| m.is_file())?);
            let lines = if key == u.stat { u.lines } else { worktree::lines_of_regular_file(&path, &mut buf)? };
            Some(Untracked { path: u.path.clone(), stat: key, lines })
        })
        .collect()
}

/// What the ignore rules depend on: every `.gitignore` met, `info/exclude`,
/// the global excludes file and the git configs that may name another one.
fn ignore_fingerprint(repo: &Repo, ignore_files: &[PathBuf]) -> u64 {
    let mut paths: Vec<PathBuf> =
        ignore_files.iter().map(|p| repo.workdir.as_deref().unwrap_or(Path::new("")).join(p)).collect();
    paths.push(repo.common_dir.join("info/exclude"));
    paths.push(repo.common_dir.join("config"));
    if let Some(home) = crate::config::home_dir() {
        paths.push(home.join(".gitconfig"));
        paths.push(home.join(".config/git/ignore"));
        paths.push(home.join(".config/git/config"));
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME") {
        paths.push(PathBuf::from(xdg).join("git/ignore"));
    }
    let mut hash = Fnv64::default();
    for path in paths {
        let key = std::fs::metadata(&path).map(|m| StatKey::of(&m)).unwrap_or_default();
        hash.write_parts(&[path.as_os_str().as_bytes(), &key.bytes()]);
    }
    u64::from_str_radix(&hash.hex(), 16).unwrap_or(0)
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StatKey {
    size: u64,
    mtime: i64,
    mtime_ns: u32,
    ino: u64,
}

impl StatKey {
    fn of(meta: &std::fs::Metadata) -> StatKey {
        StatKey { size: meta.len(), mtime: meta.mtime(), mtime_ns: meta.mtime_nsec() as u32, ino: meta.ino() }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dir {
    path: PathBuf,
    mtime: (i64, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Untracked {
    path: PathBuf,
    stat: StatKey,
    lines: u64,
}

/// What one scan leaves for the next, in a small binary file per work tree.
#[derive(Debug, Default, PartialEq, Eq)]
struct Cache {
    /// No directory had changed within `RACY_SECONDS` of the scan.
    trusted: bool,
    fingerprint: u64,
    ignore_files: Vec<PathBuf>,
    dirs: Vec<Dir>,
    untracked: Vec<Untracked>,
    /// Lines per blob id, sorted by id.
    blobs: Vec<([u8; OID_LEN], u64)>,
}

impl Cache {
    /// This cache plus what an unfinished scan learnt: more blobs' lines and
    /// untracked files' lines. Untrusted, so the next scan walks again.
    fn with_progress(&self, blobs: Vec<([u8; OID_LEN], u64)>, untracked: Vec<Untracked>) -> Cache {
        let mut all_blobs = self.blobs.clone();
        all_blobs.extend(blobs);
        all_blobs.sort_unstable_by_key(|b| b.0);
        all_blobs.dedup_by_key(|b| b.0);
        let mut all_untracked = untracked;
        let seen: HashSet<PathBuf> = all_untracked.iter().map(|u| u.path.clone()).collect();
        all_untracked.extend(self.untracked.iter().filter(|u| !seen.contains(&u.path)).cloned());
        Cache {
            trusted: false,
            fingerprint: self.fingerprint,
            ignore_files: self.ignore_files.clone(),
            dirs: Vec::new(),
            untracked: all_untracked,
            blobs: all_blobs,
        }
    }

    fn blob_lines(&self, oid: &[u8; OID_LEN]) -> Option<u64> {
        self.blobs.binary_search_by_key(oid, |b| b.0).ok().map(|i| self.blobs[i].1)
    }

    /// An unreadable or foreign cache is an empty one.
    fn load(path: &Path) -> Cache {
        std::fs::read(path).ok().and_then(|bytes| Reader { b: &bytes, at: 0 }.cache()).unwrap_or_default()
    }

    fn save(&self, path: &Path) {
        let mut w = Vec::with_capacity(64 + self.blobs.len() * 28);
        w.extend_from_slice(MAGIC);
        w.push(u8::from(self.trusted));
        w.extend_from_slice(&self.fingerprint.to_le_bytes());
        let put_path = |w: &mut Vec<u8>, p: &Path| {
            let bytes = p.as_os_str().as_bytes();
            w.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            w.extend_from_slice(bytes);
        };
        w.extend_from_slice(&(self.ignore_files.len() as u32).to_le_bytes());
        for p in &self.ignore_files {
            put_path(&mut w, p);
        }
        w.extend_from_slice(&(self.dirs.len() as u32).to_le_bytes());
        for d in &self.dirs {
            w.extend_from_slice(&d.mtime.0.to_le_bytes());
            w.extend_from_slice(&d.mtime.1.to_le_bytes());
            put_path(&mut w, &d.path);
        }
        w.extend_from_slice(&(self.untracked.len() as u32).to_le_bytes());
        for u in &self.untracked {
            w.extend_from_slice(&u.stat.bytes());
            w.extend_from_slice(&u.lines.to_le_bytes());
            put_path(&mut w, &u.path);
        }
        w.extend_from_slice(&(self.blobs.len() as u32).to_le_bytes());
        for (oid, lines) in &self.blobs {
            w.extend_from_slice(oid);
            w.extend_from_slice(&lines.to_le_bytes());
        }
        if let Some(dir) = path.parent()
            && crate::store::fsutil::ensure_private_dir(dir).is_ok()
        {
            let _ = crate::store::fsutil::write_atomic(path, &w);
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn path(&mut self) -> Option<PathBuf> {
        let len = self.u32()? as usize;
        Some(PathBuf::from(OsStr::from_bytes(self.take(len)?)))
    }
    fn stat(&mut self) -> Option<StatKey> {
        Some(StatKey { size: self.u64()?, mtime: self.i64()?, mtime_ns: self.u32()?, ino: self.u64()? })
    }
    fn count(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        // Each record is at least four bytes: a count beyond that is corruption.
        (n <= self.b.len() / 4).then_some(n)
    }

    fn cache(mut self) -> Option<Cache> {
        if self.take(8)? != MAGIC {
            return None;
        }
        let trusted = self.take(1)?[0] == 1;
        let fingerprint = self.u64()?;
        let ignore_files = (0..self.count()?).map(|_| self.path()).collect::<Option<_>>()?;
        let dirs = (0..self.count()?)
            .map(|_| Some(Dir { mtime: (self.i64()?, self.u32()?), path: self.path()? }))
            .collect::<Option<_>>()?;
        let untracked = (0..self.count()?)
            .map(|_| Some(Untracked { stat: self.stat()?, lines: self.u64()?, path: self.path()? }))
            .collect::<Option<_>>()?;
        let blobs = (0..self.count()?)
            .map(|_| Some((self.take(OID_LEN)?.try_into().ok()?, self.u64()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Cache { trusted, fingerprint, ignore_files, dirs, untracked, blobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_round_trips_and_rejects_garbage() {
        let cache = Cache {
            trusted: true,
            fingerprint: 42,
            ignore_files: vec![PathBuf::from(".gitignore")],
            dirs: vec![Dir { path: PathBuf::from("src"), mtime: (1_700_000_000, 5) }],
            untracked: vec![Untracked {
                path: PathBuf::from("notes.txt"),
                stat: StatKey { size: 3, mtime: 1, mtime_ns: 2, ino: 9 },
                lines: 1,
            }],
            blobs: vec![([1; OID_LEN], 10), ([2; OID_LEN], 20)],
        };
        let dir = std::env::temp_dir().join(format!("kaizen-scan-cache-{}", std::process::id()));
        let path = dir.join("c.bin");
        cache.save(&path);
        assert_eq!(Cache::load(&path), cache);
        assert_eq!(Cache::load(&path).blob_lines(&[2; OID_LEN]), Some(20));
        std::fs::write(&path, b"KZSCAN01\x01garbage").unwrap();
        assert_eq!(Cache::load(&path), Cache::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
