//! Reading `.git/index` directly (versions 2, 3 and 4): the tracked paths with
//! the stat data git recorded for them, and the cache-tree root. libgit2 also
//! verifies the whole file's checksum and allocates every entry; on a large
//! repository this is most of a warm scan. Layouts this reader does not know
//! (split or sparse index, SHA-256 object ids) are refused, and the caller
//! falls back to libgit2.

use std::path::Path;

pub const OID_LEN: usize = 20;

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub ctime: (u32, u32),
    pub mtime: (u32, u32),
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
    pub oid: [u8; OID_LEN],
    pub stage: u8,
    /// Sparse checkout or `update-index --skip-worktree`: not on disk by design.
    pub skip_worktree: bool,
    /// `update-index --assume-unchanged`: git does not look at the file.
    pub assume_valid: bool,
    /// `git add -N`: staged as a new file with no content yet.
    pub intent_to_add: bool,
}

pub struct Index {
    pub entries: Vec<Entry>,
    /// The cache-tree's root tree id, when it is valid for the whole index.
    pub root_tree: Option<[u8; OID_LEN]>,
    /// The index file's own mtime: entries modified at or after it are "racily clean".
    pub mtime: (i64, u32),
}

pub const MODE_GITLINK: u32 = 0o160000;

/// Larger than any index this reader should hold in memory (a 200,000-file
/// repository's is about 20 MB); past it, libgit2 reads the index.
const MAX_INDEX: u64 = 256 << 20;

/// `Ok(None)` when the repository has no index yet.
pub fn read(git_dir: &Path) -> Result<Option<Index>, String> {
    let path = git_dir.join("index");
    // A FIFO or a device here is refused, not read (it would block or never end).
    let (bytes, meta) = match super::regular::read(&path, MAX_INDEX) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    let mtime = {
        use std::os::unix::fs::MetadataExt;
        (meta.mtime(), meta.mtime_nsec() as u32)
    };
    let (entries, root_tree) = parse(&bytes)?;
    Ok(Some(Index { entries, root_tree, mtime }))
}

fn parse(b: &[u8]) -> Result<(Vec<Entry>, Option<[u8; OID_LEN]>), String> {
    if b.len() < 12 + OID_LEN || &b[..4] != b"DIRC" {
        return Err("not an index file".into());
    }
    // The trailing checksum is not content.
    let r = Bytes(&b[..b.len() - OID_LEN]);
    let version = r.u32_at(4)?;
    if !(2..=4).contains(&version) {
        return Err(format!("index version {version} is not supported"));
    }
    let count = r.u32_at(8)? as usize;
    // A corrupt count must not reserve gigabytes: an entry takes at least 62 bytes.
    let mut entries = Vec::with_capacity(count.min(r.0.len() / 62));
    let mut at = 12;
    let mut previous: &[u8] = &[];
    for _ in 0..count {
        let (entry, next) = parse_entry(&r, at, version, previous)?;
        entries.push(entry);
        previous = &entries[entries.len() - 1].path;
        at = next;
    }
    let root_tree = parse_extensions(&r, at, entries.len())?;
    Ok((entries, root_tree))
}

/// Bounds-checked reads: a truncated or corrupt index is an error (the
/// caller then asks libgit2), never a panic.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8], String> {
        at.checked_add(len).and_then(|end| self.0.get(at..end)).ok_or_else(|| "index truncated".to_string())
    }

    fn from(&self, at: usize) -> Result<&'a [u8], String> {
        self.0.get(at..).ok_or_else(|| "index truncated".to_string())
    }

    fn u32_at(&self, at: usize) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.slice(at, 4)?.try_into().expect("4 bytes")))
    }

    fn u16_at(&self, at: usize) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.slice(at, 2)?.try_into().expect("2 bytes")))
    }
}

/// One entry starting at `start`; returns it and where the next one starts.
fn parse_entry(r: &Bytes, start: usize, version: u32, previous: &[u8]) -> Result<(Entry, usize), String> {
    let field = |i: usize| r.u32_at(start + i * 4);
    let oid: [u8; OID_LEN] = r.slice(start + 40, OID_LEN)?.try_into().expect("20 bytes");
    let flags = r.u16_at(start + 60)?;
    let mut at = start + 62;
    let mut extended = 0u16;
    if flags & 0x4000 != 0 {
        if version < 3 {
            return Err("extended flags in a version 2 index".into());
        }
        extended = r.u16_at(at)?;
        at += 2;
    }
    let path = if version == 4 {
        let (strip, used) = varint(r.from(at)?).ok_or("index truncated")?;
        at += used;
        let nul = memchr::memchr(0, r.from(at)?).ok_or("index truncated")?;
        let keep = previous.len().checked_sub(strip as usize).ok_or("bad path compression")?;
        let mut path = previous[..keep].to_vec();
        path.extend_from_slice(r.slice(at, nul)?);
        at += nul + 1;
        path
    } else {
        let nul = memchr::memchr(0, r.from(at)?).ok_or("index truncated")?;
        let path = r.slice(at, nul)?.to_vec();
        // Entries are NUL-padded to a multiple of eight bytes.
        at = start + ((at - start + nul + 8) & !7);
        path
    };
    if at > r.0.len() {
        return Err("index truncated".into());
    }
    let entry = Entry {
        path,
        ctime: (field(0)?, field(1)?),
        mtime: (field(2)?, field(3)?),
        ino: field(5)?,
        mode: field(6)?,
        uid: field(7)?,
        gid: field(8)?,
        size: field(9)?,
        oid,
        stage: ((flags >> 12) & 3) as u8,
        assume_valid: flags & 0x8000 != 0,
        skip_worktree: extended & 0x4000 != 0,
        intent_to_add: extended & 0x2000 != 0,
    };
    Ok((entry, at))
}

/// The extensions after the entries: the cache-tree root, if valid; layouts
/// this reader does not know are refused.
fn parse_extensions(r: &Bytes, mut at: usize, entries: usize) -> Result<Option<[u8; OID_LEN]>, String> {
    let mut root_tree = None;
    while at + 8 <= r.0.len() {
        let signature = r.slice(at, 4)?;
        let size = r.u32_at(at + 4)? as usize;
        let data = r.slice(at + 8, size).map_err(|_| "index extension truncated")?;
        match signature {
            b"TREE" => root_tree = cache_tree_root(data, entries),
            b"link" | b"sdir" => return Err("split or sparse index is not supported".into()),
            [b'A'..=b'Z', ..] => {}
            _ => return Err(format!("required index extension {:?}", String::from_utf8_lossy(signature))),
        }
        at += 8 + size;
    }
    Ok(root_tree)
}

/// The root entry of the TREE extension: `"\0" count " " subtrees "\n" oid`,
/// valid when it covers every entry.
fn cache_tree_root(data: &[u8], entries: usize) -> Option<[u8; OID_LEN]> {
    let (path_end, rest) = (memchr::memchr(0, data)?, data);
    if path_end != 0 {
        return None;
    }
    let line_end = memchr::memchr(b'\n', rest)?;
    let header = std::str::from_utf8(&rest[1..line_end]).ok()?;
    let count: i64 = header.split(' ').next()?.parse().ok()?;
    if count < 0 || count as usize != entries {
        return None;
    }
    rest.get(line_end + 1..line_end + 1 + OID_LEN)?.try_into().ok()
}

/// Git's offset varint (index v4 path compression).
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    let mut byte = *b.first()?;
    let mut value = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        i += 1;
        byte = *b.get(i)?;
        value = ((value + 1) << 7) | u64::from(byte & 0x7f);
    }
    Some((value, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_like_git() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x81, 0x7f]), Some((383, 2)));
        assert_eq!(varint(&[0x80]), None);
    }

    #[test]
    fn a_truncated_or_corrupt_index_is_an_error_not_a_panic() {
        let mut v2 = b"DIRC\0\0\0\x02\xff\xff\xff\xff".to_vec();
        v2.extend_from_slice(&[0x41; 100]);
        v2.extend_from_slice(&[0; 20]);
        for cut in 12..v2.len() {
            let mut bytes = v2[..cut].to_vec();
            bytes.extend_from_slice(&[0; 20]);
            assert!(parse(&bytes).is_err(), "cut at {cut}");
        }
        let mut v4 = b"DIRC\0\0\0\x04\0\0\0\x02".to_vec();
        v4.extend_from_slice(&[0; 62]);
        v4.extend_from_slice(&[0xff, 0xff, 0xff]);
        v4.extend_from_slice(&[0; 20]);
        assert!(parse(&v4).is_err());
    }

    /// Every cut and every single-byte corruption of real v2, v3 and v4
    /// indexes is an error or a parse, never a panic.
    #[test]
    fn damaged_real_indexes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git").args(args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        for name in ["a", "b/c", "b/d/e", "long-name-to-compress-1", "long-name-to-compress-2"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
        git(&["add", "."]);
        for version in ["2", "3", "4"] {
            git(&["update-index", "--index-version", version]);
            git(&["write-tree"]);
            let good = std::fs::read(dir.path().join(".git/index")).unwrap();
            assert_eq!(parse(&good).unwrap().0.len(), 5, "version {version}");
            for cut in 0..good.len() {
                let _ = parse(&good[..cut]);
            }
            for at in 0..good.len() {
                for flip in [0xff, 0x80, 0x01] {
                    let mut bad = good.clone();
                    bad[at] ^= flip;
                    let _ = parse(&bad);
                }
            }
        }
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(parse(b"nope").is_err());
        let mut v5 = b"DIRC\0\0\0\x05\0\0\0\0".to_vec();
        v5.extend_from_slice(&[0; 20]);
        assert!(parse(&v5).unwrap_err().contains("version 5"));
    }
}
