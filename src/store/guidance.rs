//! `$KAIZEN_HOME/guidance/<fingerprint>.json`: what each guidance version
//! was (the files its `prompt_fingerprint` covers, each with its own hash and
//! size, never their contents), where and when it was seen. Reports read it
//! to say which files changed from one version to the next.
//!
//! The hook notes a version at session start. It must stay fast: the file's
//! modification time is the version's last sighting, so the common case
//! (a file written less than an hour ago) costs one `stat` and no write.

use super::fsutil;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A version seen this recently is not written again: `last_seen_ms` is
/// exact to the hour.
pub const REFRESH: Duration = Duration::from_secs(3600);
/// The workspaces kept per version: enough to say where it is used.
const MAX_WORKSPACES: usize = 32;
/// A version's file is small; one bigger than this is not ours.
const MAX_BYTES: u64 = 1 << 20;

/// One guidance file as the fingerprint saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidanceFile {
    /// Relative to the workspace: `CLAUDE.md`, `.cursor/rules/style.mdc`.
    pub path: String,
    /// FNV-1a 64 of its content, in hex (of its size and modification time
    /// when it did not fit the content cap).
    pub hash: String,
    pub size: u64,
}

/// A guidance version: one file per fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub fingerprint: String,
    pub files: Vec<GuidanceFile>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// The workspaces it was seen in (at most 32), in the order first seen.
    pub workspaces: Vec<String>,
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("guidance")
}

/// A fingerprint is 16 hex digits (`enrich::guidance`); anything else is
/// never made into a path.
fn path_of(home: &Path, fingerprint: &str) -> Option<PathBuf> {
    let plain = fingerprint.len() == 16 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
    plain.then(|| dir(home).join(format!("{fingerprint}.json")))
}

/// Notes that `files` (hashing to `fingerprint`) were seen in `workspace`
/// at `now_ms`. Writes only when the version has no file yet or its file is
/// older than `REFRESH`. `Ok(true)` when it wrote.
pub fn note(home: &Path, fingerprint: &str, files: &[GuidanceFile], workspace: &str, now_ms: u64) -> io::Result<bool> {
    let path = path_of(home, fingerprint).ok_or_else(|| io::Error::other("not a fingerprint"))?;
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && meta.is_file()
        && meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).is_some_and(|age| age < REFRESH)
    {
        return Ok(false);
    }
    fsutil::ensure_private_dir(&dir(home))?;
    // An unreadable or foreign file is replaced: the version starts again from now.
    let known = load_path(&path).ok().flatten().filter(|v| v.fingerprint == fingerprint);
    let mut version = known.unwrap_or_else(|| Version {
        fingerprint: fingerprint.to_string(),
        files: files.to_vec(),
        first_seen_ms: now_ms,
        last_seen_ms: now_ms,
        workspaces: Vec::new(),
    });
    version.last_seen_ms = version.last_seen_ms.max(now_ms);
    if !version.workspaces.iter().any(|w| w == workspace) && version.workspaces.len() < MAX_WORKSPACES {
        version.workspaces.push(workspace.to_string());
    }
    let mut bytes = serde_json::to_vec_pretty(&version).map_err(io::Error::other)?;
    bytes.push(b'\n');
    fsutil::write_atomic(&path, &bytes)?;
    Ok(true)
}

/// The version of `fingerprint`, when its file exists and reads.
pub fn load(home: &Path, fingerprint: &str) -> Option<Version> {
    let path = path_of(home, fingerprint)?;
    load_path(&path).ok().flatten().filter(|v| v.fingerprint == fingerprint)
}

fn load_path(path: &Path) -> io::Result<Option<Version>> {
    match fsutil::read_private(path, MAX_BYTES)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
    }
}

/// What changed from one version's files to the next's, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

impl Changes {
    pub fn between(before: &[GuidanceFile], after: &[GuidanceFile]) -> Changes {
        let find = |files: &[GuidanceFile], path: &str| files.iter().find(|f| f.path == path).map(|f| f.hash.clone());
        let mut changes = Changes::default();
        for file in after {
            match find(before, &file.path) {
                None => changes.added.push(file.path.clone()),
                Some(hash) if hash != file.hash => changes.modified.push(file.path.clone()),
                Some(_) => {}
            }
        }
        changes.removed = before.iter().filter(|f| find(after, &f.path).is_none()).map(|f| f.path.clone()).collect();
        changes
    }

    /// `CLAUDE.md modified, .claude/rules/a.md added`.
    pub fn describe(&self) -> String {
        let mut said = Vec::new();
        for (paths, what) in [(&self.modified, "modified"), (&self.added, "added"), (&self.removed, "removed")] {
            said.extend(paths.iter().map(|p| format!("{p} {what}")));
        }
        if said.is_empty() { "no file changed".into() } else { said.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(path: &str, hash: &str) -> GuidanceFile {
        GuidanceFile { path: path.into(), hash: hash.into(), size: 1 }
    }

    #[test]
    fn a_version_is_written_once_then_only_when_an_hour_old() {
        let home = tempfile::tempdir().unwrap();
        let fp = "0123456789abcdef";
        let files = [file("CLAUDE.md", "aa")];
        assert!(note(home.path(), fp, &files, "/w/one", 1000).unwrap());
        assert!(!note(home.path(), fp, &files, "/w/two", 2000).unwrap(), "fresh: one stat, no write");
        let path = path_of(home.path(), fp).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // An hour later (the file's time moved back), the sighting is written.
        let old = SystemTime::now() - REFRESH - Duration::from_secs(5);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(note(home.path(), fp, &files, "/w/two", 9000).unwrap());
        let v = load(home.path(), fp).unwrap();
        assert_eq!((v.first_seen_ms, v.last_seen_ms), (1000, 9000));
        assert_eq!(v.workspaces, ["/w/one", "/w/two"]);
        assert_eq!(v.files, files);
    }

    #[test]
    fn only_fingerprints_become_paths_and_symlinks_are_not_followed() {
        let home = tempfile::tempdir().unwrap();
        assert!(note(home.path(), "../../etc/passwd", &[], "/w", 1).is_err());
        assert!(load(home.path(), "../x").is_none());
        std::fs::create_dir_all(dir(home.path())).unwrap();
        let precious = home.path().join("precious");
        std::fs::write(&precious, "keep").unwrap();
        let fp = "00000000000000ff";
        std::os::unix::fs::symlink(&precious, path_of(home.path(), fp).unwrap()).unwrap();
        assert!(load(home.path(), fp).is_none(), "a symlink is not read through");
        note(home.path(), fp, &[file("AGENTS.md", "bb")], "/w", 5).unwrap();
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
        assert_eq!(load(home.path(), fp).unwrap().first_seen_ms, 5);
    }

    #[test]
    fn changes_name_each_file_added_removed_or_modified() {
        let before = [file("A.md", "1"), file("B.md", "2"), file("C.md", "3")];
        let after = [file("A.md", "1"), file("B.md", "9"), file("D.md", "4")];
        let c = Changes::between(&before, &after);
        assert_eq!((c.added, c.removed, c.modified), (vec!["D.md".into()], vec!["C.md".into()], vec!["B.md".into()]));
        assert_eq!(Changes::between(&before, &before).describe(), "no file changed");
        assert_eq!(Changes::between(&before[..1], &before[..2]).describe(), "B.md added");
    }
}
