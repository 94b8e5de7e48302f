//! Finding the repository and reading HEAD straight from `.git`: a few small
//! file reads instead of opening the repository with libgit2, because this
//! runs on every event. Handles linked worktrees and submodules (`.git` is a
//! file), bare repositories, detached and unborn HEADs, packed refs. Every
//! file is read through `regular`: a FIFO or a device where git keeps a file
//! reads as missing, never blocks.

use super::regular;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// How much of `packed-refs` is looked through for a ref (sorted files stop
/// early, at the first name past it).
const PACKED_REFS_CAP: u64 = 256 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The work tree's top level; `None` for a bare repository.
    pub workdir: Option<PathBuf>,
    /// This work tree's git directory (HEAD lives here).
    pub git_dir: PathBuf,
    /// Where shared refs live (differs from `git_dir` in linked worktrees).
    pub common_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    Branch {
        name: String,
        commit: Option<String>,
    },
    Detached {
        commit: String,
    },
    /// HEAD names something we cannot read (a reftable repository, a broken ref).
    Unreadable,
}

impl Head {
    pub fn commit(&self) -> Option<&str> {
        match self {
            Head::Branch { commit, .. } => commit.as_deref(),
            Head::Detached { commit } => Some(commit),
            Head::Unreadable => None,
        }
    }

    pub fn branch(&self) -> Option<&str> {
        match self {
            Head::Branch { name, .. } => Some(name),
            _ => None,
        }
    }

    /// `branch`, `unborn` (a branch with no commit yet), `detached` or `unreadable`.
    pub fn state(&self) -> &'static str {
        match self {
            Head::Branch { commit: Some(_), .. } => "branch",
            Head::Branch { commit: None, .. } => "unborn",
            Head::Detached { .. } => "detached",
            Head::Unreadable => "unreadable",
        }
    }
}

/// The repository containing `start`, walking up like `git rev-parse` does.
pub fn discover(start: &Path) -> Option<Repo> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        if let Ok(meta) = std::fs::metadata(&dot_git) {
            let git_dir = if meta.is_dir() { Some(dot_git) } else { gitdir_from_file(&dot_git, d) };
            if let Some(git_dir) = git_dir.filter(|g| looks_like_git_dir(g)) {
                return Some(Repo::new(Some(d.to_path_buf()), git_dir));
            }
        }
        if looks_like_git_dir(d) && d.join("objects").is_dir() {
            return Some(Repo::new(None, d.to_path_buf()));
        }
        dir = d.parent();
    }
    None
}

impl Repo {
    fn new(workdir: Option<PathBuf>, git_dir: PathBuf) -> Repo {
        let common_dir = regular::small_text(&git_dir.join("commondir"))
            .map(|c| git_dir.join(c.trim()))
            .unwrap_or_else(|| git_dir.clone());
        Repo { workdir, git_dir, common_dir }
    }

    pub fn head(&self) -> Head {
        let Some(head) = regular::small_text(&self.git_dir.join("HEAD")) else {
            return Head::Unreadable;
        };
        let head = head.trim();
        match head.strip_prefix("ref:") {
            Some(target) => {
                let target = target.trim();
                let name = target.strip_prefix("refs/heads/").unwrap_or(target);
                if name == ".invalid" {
                    return Head::Unreadable; // reftable keeps its refs elsewhere
                }
                Head::Branch { name: name.to_string(), commit: self.resolve(target, 0) }
            }
            None if is_object_id(head) => Head::Detached { commit: head.to_string() },
            None => Head::Unreadable,
        }
    }

    fn resolve(&self, refname: &str, depth: u8) -> Option<String> {
        if depth > 4 || refname.split('/').any(|part| part == "..") {
            return None;
        }
        for dir in [&self.git_dir, &self.common_dir] {
            if let Some(content) = regular::small_text(&dir.join(refname)) {
                let content = content.trim();
                return match content.strip_prefix("ref:") {
                    Some(next) => self.resolve(next.trim(), depth + 1),
                    None => is_object_id(content).then(|| content.to_string()),
                };
            }
        }
        packed_ref(&self.common_dir.join("packed-refs"), refname)
    }
}

impl Repo {
    /// `Err` naming the first file git reads that is something other than a
    /// regular file: the scan and libgit2 open them blocking and read them whole.
    pub fn files_are_plain(&self) -> Result<(), String> {
        let mut files = vec![self.git_dir.join("HEAD"), self.git_dir.join("index"), self.git_dir.join("commondir")];
        for name in ["config", "packed-refs", "info/exclude", "objects/info/alternates"] {
            files.push(self.common_dir.join(name));
        }
        if let Head::Branch { name, .. } = self.head() {
            let refname = format!("refs/heads/{name}");
            files.extend([self.git_dir.join(&refname), self.common_dir.join(&refname)]);
        }
        if let Some(workdir) = &self.workdir {
            files.push(workdir.join(".gitignore"));
        }
        if let Some(home) = crate::config::home_dir() {
            files.extend([home.join(".gitconfig"), home.join(".config/git/config"), home.join(".config/git/ignore")]);
        }
        match files.iter().find(|f| !regular::is_regular_or_absent(f)) {
            Some(odd) => Err(format!("{} is not a regular file: the repository is not read", odd.display())),
            None => Ok(()),
        }
    }
}

/// `refname`'s id in `packed-refs`, read line by line: a large file costs
/// some time (capped) but no memory; a sorted one (what git writes) is read
/// only up to where the name would be.
fn packed_ref(path: &Path, refname: &str) -> Option<String> {
    const LINE_MAX: u64 = 4096;
    let (file, _) = regular::open(path).ok()?;
    let mut reader = BufReader::with_capacity(64 * 1024, file.take(PACKED_REFS_CAP));
    let mut line = Vec::new();
    let mut sorted = false;
    loop {
        line.clear();
        if reader.by_ref().take(LINE_MAX).read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let text = std::str::from_utf8(&line).unwrap_or("").trim_end();
        if let Some(traits) = text.strip_prefix("# pack-refs with:") {
            sorted = traits.split(' ').any(|t| t == "sorted");
        }
        let Some((id, name)) = text.split_once(' ') else { continue };
        if name == refname {
            return is_object_id(id).then(|| id.to_string());
        }
        if sorted && !id.starts_with('#') && name > refname {
            return None;
        }
    }
}

fn gitdir_from_file(dot_git: &Path, workdir: &Path) -> Option<PathBuf> {
    let content = regular::small_text(dot_git)?;
    let target = content.lines().next()?.strip_prefix("gitdir:")?.trim();
    Some(workdir.join(target))
}

fn looks_like_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && (dir.join("refs").is_dir() || dir.join("commondir").is_file())
}

fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
