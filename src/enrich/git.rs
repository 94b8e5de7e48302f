//! Finding the repository and reading HEAD straight from `.git`: a few small
//! file reads instead of opening the repository with libgit2, because this
//! runs on every event. Handles linked worktrees and submodules (`.git` is a
//! file), bare repositories, detached and unborn HEADs, packed refs.

use std::fs;
use std::path::{Path, PathBuf};

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
        if let Ok(meta) = fs::metadata(&dot_git) {
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
        let common_dir = fs::read_to_string(git_dir.join("commondir"))
            .ok()
            .map(|c| git_dir.join(c.trim()))
            .unwrap_or_else(|| git_dir.clone());
        Repo { workdir, git_dir, common_dir }
    }

    pub fn head(&self) -> Head {
        let Ok(head) = fs::read_to_string(self.git_dir.join("HEAD")) else {
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
            if let Ok(content) = fs::read_to_string(dir.join(refname)) {
                let content = content.trim();
                return match content.strip_prefix("ref:") {
                    Some(next) => self.resolve(next.trim(), depth + 1),
                    None => is_object_id(content).then(|| content.to_string()),
                };
            }
        }
        let packed = fs::read_to_string(self.common_dir.join("packed-refs")).ok()?;
        packed.lines().find_map(|line| {
            let (id, name) = line.split_once(' ')?;
            (name == refname && is_object_id(id)).then(|| id.to_string())
        })
    }
}

fn gitdir_from_file(dot_git: &Path, workdir: &Path) -> Option<PathBuf> {
    let content = fs::read_to_string(dot_git).ok()?;
    let target = content.lines().next()?.strip_prefix("gitdir:")?.trim();
    Some(workdir.join(target))
}

fn looks_like_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && (dir.join("refs").is_dir() || dir.join("commondir").is_file())
}

fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
