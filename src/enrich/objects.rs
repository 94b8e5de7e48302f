//! Lines of clean tracked files from git's object database instead of their
//! work tree files. On a first run nothing is cached, and reading a file
//! costs an open, an `fstat`, a read and a close; where system calls are
//! slow that loses to a parallel walk however few calls it makes. A clean
//! file's bytes are its blob's, and a blob in a pack costs no call of its
//! own: the pack is read in large windows (`pack`). The scan still `lstat`s
//! every file (dirty state needs that), and reads the work tree where the
//! blob cannot answer: a file whose stat data differs, a blob in no pack
//! (loose), and every file of a repository where checking out may change a
//! file's bytes (filters such as LFS, eol conversion that is not git's own
//! text detection, working-tree encodings).

use super::git::Repo;
use super::index::{Index, OID_LEN};
use super::lines;
use super::pack::{Location, Packs, Reader};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Larger blobs are read from the work tree: a blob is inflated whole into
/// memory, a file is read in a fixed buffer.
const MAX_BLOB: u32 = 1 << 20;

/// The packs of a repository, found and checked only when a first blob is
/// wanted: a warm scan wants none, and reads nothing for them.
pub struct Objects<'a> {
    repo: &'a Repo,
    workdir: &'a Path,
    index: &'a Index,
    repo_config: &'a str,
    packs: OnceLock<Option<Packs>>,
}

impl<'a> Objects<'a> {
    pub fn new(repo: &'a Repo, workdir: &'a Path, index: &'a Index, repo_config: &'a str) -> Objects<'a> {
        Objects { repo, workdir, index, repo_config, packs: OnceLock::new() }
    }

    /// The packs, when the repository has some and its blobs are byte for
    /// byte what a clean work tree holds.
    fn packs(&self) -> Option<&Packs> {
        let packs = self.packs.get_or_init(|| {
            if checkout_may_change_bytes(self.repo, self.workdir, self.index, self.repo_config) {
                return None;
            }
            Some(Packs::open(&self.repo.common_dir.join("objects"))).filter(|packs| !packs.is_empty())
        });
        packs.as_ref()
    }

    /// Whether blobs can be read from packs here (found out on the first call).
    pub fn available(&self) -> bool {
        self.packs().is_some()
    }

    /// A reader for one scan thread.
    pub fn reader(&self) -> BlobLines<'_> {
        BlobLines { objects: self, reader: None, wanted: Vec::new() }
    }
}

/// Lines of blobs, for one thread: each blob asked for is noted with where
/// its pack holds it, and all are read at the end in pack order, so each
/// pack is read forwards and a delta's base is still in the cache.
pub struct BlobLines<'a> {
    objects: &'a Objects<'a>,
    reader: Option<Reader<'a>>,
    wanted: Vec<(Location, usize)>,
}

/// What `BlobLines::read` read.
pub struct Read {
    /// The lines of each blob read, by the key it was wanted for; `None`
    /// when its pack could not give it (then read the file).
    pub lines: Vec<(usize, Option<u64>)>,
    /// Every blob wanted was read (false: `stop` said so first).
    pub complete: bool,
}

impl Read {
    /// No blob wanted, none read.
    pub fn nothing() -> Read {
        Read { lines: Vec::new(), complete: true }
    }
}

impl BlobLines<'_> {
    /// Notes the blob `oid` of `size` bytes for `key`; false when it is to be
    /// read from the work tree instead: too large, or in no pack (loose).
    pub fn want(&mut self, key: usize, oid: &[u8; OID_LEN], size: u32) -> bool {
        if size > MAX_BLOB {
            return false;
        }
        let Some(packs) = self.objects.packs() else { return false };
        let Some(at) = self.reader.get_or_insert_with(|| Reader::new(packs)).locate(oid) else { return false };
        self.wanted.push((at, key));
        true
    }

    /// Reads the blobs wanted, in pack order, until `stop` says so.
    pub fn read(mut self, mut stop: impl FnMut() -> bool) -> Read {
        let Some(mut reader) = self.reader else { return Read::nothing() };
        self.wanted.sort_unstable();
        let mut read = Read { lines: Vec::with_capacity(self.wanted.len()), complete: true };
        for (at, key) in self.wanted {
            if stop() {
                read.complete = false;
                break;
            }
            read.lines.push((key, reader.blob(at).map(lines::count)));
        }
        read
    }
}

/// Whether checking a file out may give it other bytes, or other lines, than
/// its blob holds: any attributes file that names a filter, an encoding, an
/// eol or a text setting other than `text=auto` (git's own detection leaves a
/// file with a NUL alone, and CRLF and LF count the same lines), or a config
/// that points at attributes elsewhere.
fn checkout_may_change_bytes(repo: &Repo, workdir: &Path, index: &Index, repo_config: &str) -> bool {
    let mut configs = vec![Some(repo_config.to_string())];
    let mut attributes = vec![repo.common_dir.join("info/attributes"), PathBuf::from("/etc/gitattributes")];
    for entry in index.entries.iter().filter(|e| e.path.ends_with(b".gitattributes")) {
        attributes.push(workdir.join(OsStr::from_bytes(&entry.path)));
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    let home = crate::config::home_dir();
    if let Some(config_home) = xdg.or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        attributes.push(config_home.join("git/attributes"));
        configs.push(small_text(&config_home.join("git/config")));
    }
    if let Some(home) = &home {
        configs.push(small_text(&home.join(".gitconfig")));
    }
    configs.push(small_text(Path::new("/etc/gitconfig")));
    // A file that is there but cannot be read (too large, not a regular file) may say anything.
    let elsewhere = configs.iter().any(|c| {
        c.as_ref().is_none_or(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("attributesfile") || c.contains("[attr")
        })
    });
    elsewhere || attributes.iter().any(|path| small_text(path).is_none_or(|text| changes_bytes(&text)))
}

/// A config or attributes file's text; empty when there is none, `None` when
/// there is one that cannot be read.
fn small_text(path: &Path) -> Option<String> {
    match super::regular::read(path, super::regular::SMALL * 16) {
        Ok((bytes, _)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(String::new()),
        Err(_) => None,
    }
}

/// Whether a `.gitattributes` text sets anything that changes a file's bytes
/// or lines on checkout. Unset (`-text`, `!eol`) and `binary` change nothing.
fn changes_bytes(attributes: &str) -> bool {
    attributes.lines().any(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return false;
        }
        // The first word is the pattern (or `[attr]name` for a macro, whose attributes count too).
        line.split_ascii_whitespace().skip(1).any(|word| {
            if word.starts_with('-') || word.starts_with('!') {
                return false;
            }
            let (name, value) = word.split_once('=').unwrap_or((word, ""));
            match name {
                "text" => value != "auto",
                "filter" | "eol" | "crlf" | "working-tree-encoding" => true,
                _ => false,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settings_that_change_bytes_count() {
        assert!(!changes_bytes(""));
        assert!(!changes_bytes("# * filter=lfs\n*.png binary\n* text=auto\n*.sh -text\n*.md linguist-documentation\n"));
        assert!(!changes_bytes("*.bat !eol\n*.c diff=cpp\n"));
        assert!(changes_bytes("*.psd filter=lfs diff=lfs merge=lfs -text\n"));
        assert!(changes_bytes("*.sh text eol=lf\n"));
        assert!(changes_bytes("* text\n"));
        assert!(changes_bytes("*.txt working-tree-encoding=UTF-16\n"));
        assert!(changes_bytes("[attr]crlfy eol=crlf\n"));
        assert!(changes_bytes("  *.c   crlf\n"));
    }

    #[test]
    fn a_file_that_is_there_but_unreadable_is_no_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(small_text(&dir.path().join("missing")).as_deref(), Some(""));
        std::fs::write(dir.path().join("attributes"), "* text=auto\n").unwrap();
        assert_eq!(small_text(&dir.path().join("attributes")).as_deref(), Some("* text=auto\n"));
        assert_eq!(small_text(dir.path()), None, "a directory where a file should be");
        std::fs::write(dir.path().join("huge"), vec![b'#'; 2 << 20]).unwrap();
        assert_eq!(small_text(&dir.path().join("huge")), None, "past the cap");
    }
}
