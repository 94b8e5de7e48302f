//! What kaizen adds to an event: where it happened (workspace, commit, branch)
//! on every event, and a snapshot of the work tree (dirty, files, LOC, OS,
//! arch) at session start, turn end and session end. Every slow part runs
//! against the run's deadline; what does not fit is recorded as unknown.

pub mod git;
mod guidance;
mod index;
mod lines;
mod objects;
mod pack;
mod regular;
mod scan;
pub mod worktree;

pub use guidance::Guidance;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use worktree::Counts;

pub struct Context {
    pub cwd: PathBuf,
    pub workspace: PathBuf,
    /// How the workspace was found: `git:payload.cwd`, `dir:process`, ...
    pub binding: String,
    pub head: Option<git::Head>,
    pub snapshot: Option<Snapshot>,
    /// The guidance files' fingerprint and per-file hashes, at session start.
    pub guidance: Option<Guidance>,
}

pub struct Snapshot {
    /// `None` when unknown: no work tree, or it did not fit the deadline.
    pub dirty: Option<bool>,
    pub counts: Option<Counts>,
    pub os: &'static str,
    pub os_version: Option<String>,
    pub arch: &'static str,
    /// Why a figure is missing, for the log.
    pub problems: Vec<String>,
}

/// Why a figure is missing. Running out of time is told apart from a
/// failure: after a failure the slower, surer way is tried; after the
/// deadline nothing is.
#[derive(Debug)]
pub enum Missing {
    Deadline,
    Failed(String),
}

impl From<String> for Missing {
    fn from(reason: String) -> Missing {
        Missing::Failed(reason)
    }
}

impl From<&str> for Missing {
    fn from(reason: &str) -> Missing {
        Missing::Failed(reason.to_string())
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Deadline => f.write_str("deadline"),
            Missing::Failed(reason) => f.write_str(reason),
        }
    }
}

pub struct Wanted {
    pub snapshot: bool,
    pub fingerprint: bool,
    /// Where scans keep what makes the next one fast (`$KAIZEN_HOME/cache`).
    pub cache_dir: Option<PathBuf>,
}

/// The directory an event happened in: the payload's, else the hook's own.
pub fn resolve_cwd(cwd: Option<&str>) -> PathBuf {
    // The hook's own directory is asked for only when needed: a getcwd on every run otherwise.
    let process_cwd = || std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let joined = match cwd.map(expand_tilde) {
        Some(path) if path.is_absolute() => path,
        Some(relative) => process_cwd().join(relative),
        None => process_cwd(),
    };
    normalize(&joined)
}

/// Drops `.` and folds `..` without touching the file system: the directory
/// may not exist, and resolving symlinks would change the path people know.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub fn gather(cwd: &Path, cwd_source: &str, wanted: Wanted, deadline: Instant) -> Context {
    let cwd = cwd.to_path_buf();
    let repo = git::discover(&cwd);
    let (workspace, how) = match &repo {
        Some(git::Repo { workdir: Some(top), .. }) => (top.clone(), "git"),
        Some(repo) => (repo.git_dir.clone(), "bare"),
        None => (cwd.clone(), "dir"),
    };
    let head = repo.as_ref().map(git::Repo::head);
    // Before the snapshot, which may use the time up to the deadline.
    let guidance = if wanted.fingerprint { guidance::fingerprint(&workspace, deadline) } else { None };
    let snapshot = wanted.snapshot.then(|| snapshot(&workspace, repo, wanted.cache_dir.as_deref(), deadline));
    Context { cwd, binding: format!("{how}:{cwd_source}"), workspace, head, snapshot, guidance }
}

fn expand_tilde(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), crate::config::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

fn snapshot(workspace: &Path, repo: Option<git::Repo>, cache_dir: Option<&Path>, deadline: Instant) -> Snapshot {
    let mut problems = Vec::new();
    let scanned = match repo {
        Some(repo) if repo.workdir.is_none() => {
            problems.push(format!("bare repository at {}: no work tree to count", workspace.display()));
            None
        }
        Some(repo) => {
            let cache = cache_dir.map(|dir| {
                dir.join(format!("scan-{}.bin", crate::hash::hex_of_parts(&[workspace.as_os_str().as_encoded_bytes()])))
            });
            Some(on_a_thread(move || scan_git(&repo, cache.as_deref(), deadline)))
        }
        None if !workspace.is_dir() => {
            problems.push(format!("{} is not a directory here: nothing to count", workspace.display()));
            None
        }
        None if is_home_or_root(workspace) => {
            problems.push(format!("not counting files outside a repository at {}", workspace.display()));
            None
        }
        None => {
            let dir = workspace.to_path_buf();
            Some(on_a_thread(move || worktree::count_plain(&dir, deadline).map(|counts| (None, counts))))
        }
    };
    let os_version = sysinfo::System::long_os_version().ok();
    let (dirty, counts) = match scanned.and_then(|rx| receive(rx, deadline, "dirty/files/LOC", &mut problems)) {
        Some((dirty, counts)) => (dirty, Some(counts)),
        None => (None, None),
    };
    Snapshot { dirty, counts, os: std::env::consts::OS, os_version, arch: std::env::consts::ARCH, problems }
}

/// The fast scan, or libgit2 when the repository uses what the scan does not read.
fn scan_git(repo: &git::Repo, cache: Option<&Path>, deadline: Instant) -> Result<(Option<bool>, Counts), Missing> {
    // Both read git's files with plain blocking opens: a FIFO there would hold the scan to the deadline.
    repo.files_are_plain()?;
    // A panic in the scan (a thread that cannot start, a bug on odd input) leaves the figures
    // unknown, named as such; libgit2 is not tried then: it needs more of what may have run out.
    let fast = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scan::scan(repo, cache, deadline)))
        .map_err(|_| Missing::Failed("the scan panicked (logged above); not retried".into()))?;
    match fast {
        Ok(outcome) => Ok((Some(outcome.dirty), outcome.counts)),
        Err(Missing::Deadline) => Err(Missing::Deadline),
        Err(_) => {
            let workdir = repo.workdir.as_deref().ok_or("no work tree")?;
            let dirty = worktree::is_dirty(workdir)?;
            Ok((Some(dirty), worktree::count_git(workdir, deadline)?))
        }
    }
}

/// Runs `work` on its own thread. If it is still running at the deadline the
/// thread is abandoned (it dies with the process; it holds no stdio).
fn on_a_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Missing> + Send + 'static,
) -> mpsc::Receiver<Result<T, Missing>> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().spawn(move || {
        let _ = tx.send(work());
    });
    if let Err(e) = spawned {
        let (tx, failed) = mpsc::channel();
        let _ = tx.send(Err(Missing::Failed(format!("cannot start a thread: {e}"))));
        return failed;
    }
    rx
}

fn receive<T>(
    rx: mpsc::Receiver<Result<T, Missing>>,
    deadline: Instant,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            problems.push(format!("{what}: {e}"));
            None
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            problems.push(format!("{what}: did not finish within the budget"));
            None
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            problems.push(format!("{what}: the worker stopped without an answer (see the panic above)"));
            None
        }
    }
}

fn is_home_or_root(dir: &Path) -> bool {
    dir.parent().is_none() || crate::config::home_dir().is_some_and(|home| home == dir)
}

impl Context {
    pub fn commit(&self) -> Option<&str> {
        self.head.as_ref().and_then(git::Head::commit)
    }

    pub fn branch(&self) -> Option<&str> {
        self.head.as_ref().and_then(git::Head::branch)
    }

    pub fn dirty(&self) -> Option<bool> {
        self.snapshot.as_ref().and_then(|s| s.dirty)
    }

    pub fn counts(&self) -> Option<Counts> {
        self.snapshot.as_ref().and_then(|s| s.counts)
    }

    /// `payload.context`: the where on every event; the snapshot's figures
    /// only on events that take one (`null` there means "tried, unknown").
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("cwd".into(), json!(self.cwd.to_string_lossy()));
        map.insert("workspace".into(), json!(self.workspace.to_string_lossy()));
        map.insert("repo_binding_source".into(), json!(self.binding));
        map.insert("commit".into(), json!(self.commit()));
        map.insert("branch".into(), json!(self.branch()));
        map.insert("head".into(), json!(self.head.as_ref().map(git::Head::state)));
        if let Some(s) = &self.snapshot {
            map.insert("dirty".into(), json!(s.dirty));
            map.insert("repo_file_count".into(), json!(s.counts.map(|c| c.files)));
            map.insert("repo_total_loc".into(), json!(s.counts.map(|c| c.loc)));
            map.insert("os".into(), json!(s.os));
            map.insert("os_version".into(), json!(s.os_version));
            map.insert("arch".into(), json!(s.arch));
        }
        Value::Object(map)
    }
}
