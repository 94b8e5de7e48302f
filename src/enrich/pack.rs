//! Blobs read straight from git's pack files: an index lookup, the pack read
//! whole (once, shared) or in large windows when it is large, zlib inflate,
//! and delta chains applied. Nothing is locked: each scan thread has its own
//! `Reader` (window, inflater, cache of recent objects) over the shared,
//! read-only `Packs`. Anything unexpected (a corrupt or truncated pack, an
//! object in no pack: loose, or in an alternate) is `None`, and the caller
//! reads the work tree instead.

use super::index::OID_LEN;
use super::regular;
use crate::store::fsutil::read_at_most;
use flate2::{Decompress, FlushDecompress, Status};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;
use std::sync::OnceLock;

/// A pack index larger than this is not read (one for a million objects is about 30 MB).
const MAX_INDEX: u64 = 256 << 20;
/// How much of a large pack one read brings in.
const WINDOW: usize = 1 << 20;
/// A pack up to this size is read whole, in one sequential read: delta
/// chains jump backwards anywhere in it.
const WHOLE: u64 = 64 << 20;
/// Recent objects kept per thread, as delta bases: past this many bytes the cache starts over.
const CACHE_BYTES: usize = 4 << 20;
/// Objects larger than this are not kept as bases.
const CACHE_OBJECT: usize = 64 << 10;
/// Git's own limit on a delta chain.
const MAX_CHAIN: usize = 4095;

const OBJ_BLOB: u8 = 3;
const OBJ_OFS_DELTA: u8 = 6;
const OBJ_REF_DELTA: u8 = 7;

/// Where an object is: which pack, and where in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pack: usize,
    offset: u64,
}

/// The packs of an object directory: each index read whole, each pack open.
pub struct Packs {
    packs: Vec<Pack>,
}

struct Pack {
    index: Vec<u8>,
    objects: usize,
    file: File,
    len: u64,
    /// The whole pack, read once on first use when it is at most
    /// `whole_up_to` bytes, and shared by the threads; larger ones are read in windows.
    whole: OnceLock<Option<Vec<u8>>>,
    whole_up_to: u64,
}

impl Packs {
    /// Every pack in `objects/pack` with a readable version-2 index.
    pub fn open(objects: &Path) -> Packs {
        Packs::open_reading_whole(objects, WHOLE)
    }

    /// `open`, with packs up to `whole` bytes read whole and larger ones in windows.
    fn open_reading_whole(objects: &Path, whole: u64) -> Packs {
        let mut packs = Vec::new();
        let Ok(entries) = std::fs::read_dir(objects.join("pack")) else { return Packs { packs } };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "idx")
                && let Some(pack) = Pack::open(&path, whole)
            {
                packs.push(pack);
            }
        }
        Packs { packs }
    }

    pub fn is_empty(&self) -> bool {
        self.packs.is_empty()
    }

    /// Which pack holds `oid`, and where.
    fn find(&self, oid: &[u8]) -> Option<Location> {
        self.packs.iter().enumerate().find_map(|(pack, p)| Some(Location { pack, offset: p.offset_of(oid)? }))
    }
}

impl Pack {
    fn open(idx: &Path, whole_up_to: u64) -> Option<Pack> {
        let (index, _) = regular::read(idx, MAX_INDEX).ok()?;
        if index.get(..8)? != b"\xfftOc\0\0\0\x02" {
            return None;
        }
        let objects = be32(&index, 8 + 255 * 4)? as usize;
        // Fan-out, ids, CRCs, offsets, and the two trailing checksums at least.
        if index.len() < 8 + 1024 + objects * (OID_LEN + 8) + 2 * OID_LEN {
            return None;
        }
        let (file, meta) = regular::open(&idx.with_extension("pack")).ok()?;
        let mut header = [0u8; 12];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..4] != b"PACK" || meta.len() < 12 {
            return None;
        }
        Some(Pack { index, objects, file, len: meta.len(), whole_up_to, whole: OnceLock::new() })
    }

    /// The whole pack, when it is small enough to hold (read on the first call).
    fn whole(&self) -> Option<&[u8]> {
        let whole = self.whole.get_or_init(|| {
            let len = usize::try_from(self.len).ok().filter(|_| self.len <= self.whole_up_to)?;
            let mut bytes = vec![0u8; len];
            (read_at_most(&self.file, &mut bytes, 0).ok()? == len).then_some(bytes)
        });
        whole.as_deref()
    }

    /// The offset of `oid` in the pack, from the index's fan-out and sorted ids.
    fn offset_of(&self, oid: &[u8]) -> Option<u64> {
        let first = usize::from(oid[0]);
        let lo = if first == 0 { 0 } else { be32(&self.index, 8 + (first - 1) * 4)? as usize };
        let hi = (be32(&self.index, 8 + first * 4)? as usize).min(self.objects);
        let ids = 8 + 1024;
        let id = |i: usize| &self.index[ids + i * OID_LEN..ids + (i + 1) * OID_LEN];
        let (mut lo, mut hi) = (lo, hi);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match id(mid).cmp(oid) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.offset_at(mid),
            }
        }
        None
    }

    fn offset_at(&self, i: usize) -> Option<u64> {
        let offsets = 8 + 1024 + self.objects * (OID_LEN + 4);
        let small = be32(&self.index, offsets + i * 4)?;
        if small & 0x8000_0000 == 0 {
            return Some(u64::from(small));
        }
        let large = offsets + self.objects * 4 + (small & 0x7fff_ffff) as usize * 8;
        Some(u64::from_be_bytes(self.index.get(large..large + 8)?.try_into().ok()?))
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// One thread's way into the packs. Its buffers are reused: a scan reads
/// thousands of objects, and in a process that lives milliseconds every
/// fresh page of memory costs more than the copy that avoids it.
pub struct Reader<'a> {
    packs: &'a Packs,
    window: Window,
    inflater: Decompress,
    /// The object last read.
    object: Vec<u8>,
    /// A delta's instructions, inflated.
    delta: Vec<u8>,
    /// The object a delta builds, before it becomes `object`.
    next: Vec<u8>,
    /// Recent objects by where they are, kept as delta bases: their bytes in
    /// `slab`, one allocation filled in turn and emptied when full.
    cache: HashMap<Location, std::ops::Range<usize>>,
    slab: Vec<u8>,
    /// The delta chain being walked.
    chain: Vec<(Location, Entry)>,
}

/// A stretch of one pack read into memory.
#[derive(Default)]
struct Window {
    pack: usize,
    start: u64,
    bytes: Vec<u8>,
}

/// An object's entry in a pack: its type, its size once inflated, and where
/// its data (after the header, and after a delta's base reference) starts.
struct Entry {
    kind: u8,
    size: usize,
    data: u64,
    base: Option<Base>,
}

enum Base {
    At(u64),
    Id([u8; OID_LEN]),
}

impl<'a> Reader<'a> {
    pub fn new(packs: &'a Packs) -> Reader<'a> {
        Reader {
            packs,
            window: Window::default(),
            inflater: Decompress::new(true),
            object: Vec::new(),
            delta: Vec::new(),
            next: Vec::new(),
            cache: HashMap::new(),
            slab: Vec::new(),
            chain: Vec::new(),
        }
    }

    /// Where a pack holds `oid`: reading blobs in this order reads each pack
    /// forwards, and finds a delta's base (which comes before it) in the cache.
    pub fn locate(&self, oid: &[u8; OID_LEN]) -> Option<Location> {
        self.packs.find(oid)
    }

    /// The content of the blob at `at`.
    pub fn blob(&mut self, at: Location) -> Option<&[u8]> {
        self.read_object(at, OBJ_BLOB)?;
        Some(&self.object)
    }

    /// Reads the object at `at`, of type `want`, into `self.object`: walked
    /// back along its delta chain to a full object (or one in the cache),
    /// then rebuilt forwards, each step kept as a base for later objects.
    fn read_object(&mut self, at: Location, want: u8) -> Option<()> {
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        let read = self.walk_and_rebuild(at, want, &mut chain);
        self.chain = chain;
        read
    }

    fn walk_and_rebuild(&mut self, at: Location, want: u8, chain: &mut Vec<(Location, Entry)>) -> Option<()> {
        let mut at = at;
        loop {
            if let Some(hit) = self.cache.get(&at) {
                self.object.clear();
                self.object.extend_from_slice(&self.slab[hit.clone()]);
                break;
            }
            let entry = self.entry(at)?;
            match entry.base {
                None if entry.kind == want => {
                    let mut object = std::mem::take(&mut self.object);
                    let inflated = self.inflate(at.pack, entry.data, entry.size, &mut object);
                    self.object = object;
                    inflated?;
                    if !chain.is_empty() {
                        self.keep(at);
                    }
                    break;
                }
                None => return None,
                Some(ref base) => {
                    let next = match base {
                        Base::At(offset) => Location { offset: *offset, ..at },
                        Base::Id(id) => self.packs.find(id)?,
                    };
                    chain.push((at, entry));
                    if chain.len() > MAX_CHAIN {
                        return None;
                    }
                    at = next;
                }
            }
        }
        while let Some((at, delta)) = chain.pop() {
            let mut instructions = std::mem::take(&mut self.delta);
            let inflated = self.inflate(at.pack, delta.data, delta.size, &mut instructions);
            self.delta = instructions;
            inflated?;
            apply(&self.object, &self.delta, &mut self.next)?;
            std::mem::swap(&mut self.object, &mut self.next);
            self.keep(at);
        }
        Some(())
    }

    /// Keeps a copy of `self.object`, read at `at`, as a base for later objects.
    fn keep(&mut self, at: Location) {
        let len = self.object.len();
        if len > CACHE_OBJECT || self.cache.contains_key(&at) {
            return;
        }
        if self.slab.capacity() == 0 {
            self.slab.reserve_exact(CACHE_BYTES);
        }
        if self.slab.len() + len > CACHE_BYTES {
            self.cache.clear();
            self.slab.clear();
        }
        let start = self.slab.len();
        self.slab.extend_from_slice(&self.object);
        self.cache.insert(at, start..self.slab.len());
    }

    /// The entry header at `at`.
    fn entry(&mut self, at: Location) -> Option<Entry> {
        let (pack, offset) = (at.pack, at.offset);
        let bytes = self.window.at(self.packs, pack, offset, 32)?;
        let mut i = 0;
        let mut c = *bytes.first()?;
        let kind = (c >> 4) & 7;
        let mut size = usize::from(c & 15);
        let mut shift = 4;
        while c & 0x80 != 0 {
            i += 1;
            c = *bytes.get(i)?;
            size |= usize::from(c & 0x7f).checked_shl(shift)?;
            shift += 7;
        }
        i += 1;
        let base = match kind {
            OBJ_OFS_DELTA => {
                let mut c = *bytes.get(i)?;
                let mut back = u64::from(c & 0x7f);
                while c & 0x80 != 0 {
                    i += 1;
                    c = *bytes.get(i)?;
                    back = back.checked_add(1)?.checked_shl(7)? | u64::from(c & 0x7f);
                }
                i += 1;
                Some(Base::At(offset.checked_sub(back).filter(|_| back > 0)?))
            }
            OBJ_REF_DELTA => {
                let id = bytes.get(i..i + OID_LEN)?.try_into().ok()?;
                i += OID_LEN;
                Some(Base::Id(id))
            }
            _ => None,
        };
        Some(Entry { kind, size, data: offset + i as u64, base })
    }

    /// `size` bytes inflated from the zlib stream at `offset`, into `out`.
    fn inflate(&mut self, pack: usize, mut offset: u64, size: usize, out: &mut Vec<u8>) -> Option<()> {
        out.clear();
        // One byte more than expected: a stream that holds more is refused, not cut.
        out.reserve(size + 1);
        self.inflater.reset(true);
        loop {
            let (read, written) = (self.inflater.total_in(), out.len());
            let input = self.window.at(self.packs, pack, offset, 1)?;
            let status = self.inflater.decompress_vec(input, out, FlushDecompress::None).ok()?;
            if status == Status::StreamEnd {
                break;
            }
            let consumed = self.inflater.total_in() - read;
            if consumed == 0 && out.len() == written {
                return None; // no progress: a corrupt stream, or more output than its header said
            }
            offset += consumed;
        }
        (out.len() == size).then_some(())
    }
}

impl Window {
    /// At least `min` bytes of pack `pack` from `offset` (fewer at its end).
    fn at<'s>(&'s mut self, packs: &'s Packs, pack: usize, offset: u64, min: usize) -> Option<&'s [u8]> {
        let whole = packs.packs.get(pack)?.whole();
        if let Some(bytes) = whole {
            return bytes.get(usize::try_from(offset).ok()?..).filter(|b| !b.is_empty());
        }
        let end = self.start + self.bytes.len() as u64;
        if self.pack != pack || offset < self.start || offset + min as u64 > end {
            // A quarter of the window before the offset: a delta's base comes
            // a little before it, and a chain is walked backwards.
            self.pack = pack;
            self.start = offset.saturating_sub(WINDOW as u64 / 4);
            self.bytes.resize(WINDOW.max(min + WINDOW / 4), 0);
            let n = read_at_most(&packs.packs.get(pack)?.file, &mut self.bytes, self.start).ok()?;
            self.bytes.truncate(n);
        }
        self.bytes.get((offset - self.start) as usize..).filter(|b| !b.is_empty())
    }
}

/// A delta's instructions applied to `base`, into `out`: copies from it and inserts.
fn apply(base: &[u8], delta: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    let mut varint = || {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let c = *delta.get(i)?;
            i += 1;
            value |= usize::from(c & 0x7f).checked_shl(shift)?;
            shift += 7;
            if c & 0x80 == 0 {
                return Some(value);
            }
        }
    };
    let (base_size, size) = (varint()?, varint()?);
    if base_size != base.len() {
        return None;
    }
    out.clear();
    out.reserve(size);
    while i < delta.len() {
        let op = delta[i];
        i += 1;
        if op & 0x80 != 0 {
            let mut field = |bits: u8, first: u32| {
                let mut value = 0usize;
                for k in 0..bits {
                    if op & (1 << (first + u32::from(k))) != 0 {
                        value |= usize::from(*delta.get(i)?) << (8 * k);
                        i += 1;
                    }
                }
                Some(value)
            };
            let from = field(4, 0)?;
            let len = match field(3, 4)? {
                0 => 0x10000,
                len => len,
            };
            out.extend_from_slice(base.get(from..from.checked_add(len)?)?);
        } else if op != 0 {
            out.extend_from_slice(delta.get(i..i + usize::from(op))?);
            i += usize::from(op);
        } else {
            return None;
        }
    }
    (out.len() == size).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_delta_copies_and_inserts_and_refuses_what_does_not_fit() {
        let base = b"hello, world\n";
        let apply = |base: &[u8], delta: &[u8]| {
            let mut out = vec![b'?'; 3];
            apply(base, delta, &mut out).map(|()| out)
        };
        // base size 13, result size 13: copy 7 bytes from 0, insert "there\n".
        let delta = [&[13u8, 13, 0x90, 7, 6][..], b"there\n"].concat();
        assert_eq!(apply(base, &delta).as_deref(), Some(&b"hello, there\n"[..]));
        let wrong_base = [&[12u8, 13, 0x90, 7, 6][..], b"there\n"].concat();
        assert_eq!(apply(base, &wrong_base), None, "the base is not the one the delta was made for");
        assert_eq!(apply(base, &[13, 20, 0x91, 10, 20]), None, "a copy past the base's end");
        assert_eq!(apply(base, &[13, 1, 0]), None, "the reserved instruction");
        assert_eq!(apply(base, &[13, 8, 0x90, 7]), None, "fewer bytes than the result size says");
        assert_eq!(apply(base, &[13, 3, 5, b'a']), None, "an insert cut short");
        let big = vec![b'x'; 0x10000];
        assert_eq!(
            apply(&big, &[0x80, 0x80, 4, 0x80, 0x80, 4, 0x80]).map(|v| v.len()),
            Some(0x10000),
            "size 0 is 64 KiB"
        );
    }

    fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// A blob's id and content.
    type Blob = ([u8; OID_LEN], Vec<u8>);

    /// A packed repository of similar files and one file's history (delta
    /// chains), and each blob's id and content.
    fn packed_repo() -> (tempfile::TempDir, Vec<Blob>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q"]);
        for i in 0..40 {
            let body: String = (0..(i % 9 + 1) * 20).map(|l| format!("line {l} of a shared text\n")).collect();
            std::fs::write(repo.join(format!("f{i}.txt")), format!("file {i}\n{body}")).unwrap();
        }
        std::fs::write(repo.join("big.txt"), "0123456789abcdef\n".repeat(20_000)).unwrap();
        // One file's history: each version a delta of the next, in chains.
        let mut story = String::new();
        for version in 0..30 {
            story.insert_str(story.len() / 2, &format!("version {version} adds this line\n"));
            std::fs::write(repo.join("story.txt"), &story).unwrap();
            git(repo, &["add", "."]);
            git(repo, &["commit", "-qm", &format!("version {version}")]);
        }
        git(repo, &["repack", "-adfq", "--depth=20", "--window=40"]);
        let listed = git(repo, &["cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)"]);
        let blobs = String::from_utf8(listed)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("blob "))
            .map(|hex| {
                let id =
                    (0..OID_LEN).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>();
                (id.try_into().unwrap(), git(repo, &["cat-file", "blob", hex]))
            })
            .collect();
        (dir, blobs)
    }

    #[test]
    fn every_blob_of_a_packed_repository_reads_as_git_reads_it() {
        let (dir, blobs) = packed_repo();
        let verify = git(dir.path(), &["verify-pack", "-v", &pack_path(dir.path(), "idx")]);
        let verify = String::from_utf8_lossy(&verify);
        assert!(verify.contains("chain length = 2"), "delta chains to read: {verify}");
        // Read whole, and in windows (as a pack too large to hold is).
        for whole in [WHOLE, 0] {
            let packs = Packs::open_reading_whole(&dir.path().join(".git/objects"), whole);
            let mut reader = Reader::new(&packs);
            for (id, content) in blobs.iter().rev().chain(blobs.iter()) {
                assert_eq!(read(&mut reader, id).as_deref(), Some(content.as_slice()));
            }
        }
        let packs = Packs::open(&dir.path().join(".git/objects"));
        let reader = Reader::new(&packs);
        assert!(reader.locate(&[0xab; OID_LEN]).is_none(), "an id in no pack");
        // Bases named by id instead of by offset, as older packs have them.
        git(dir.path(), &["-c", "repack.useDeltaBaseOffset=false", "repack", "-adfq", "--depth=20"]);
        let packs = Packs::open(&dir.path().join(".git/objects"));
        let mut reader = Reader::new(&packs);
        for (id, content) in &blobs {
            assert_eq!(read(&mut reader, id).as_deref(), Some(content.as_slice()));
        }
    }

    fn read(reader: &mut Reader, id: &[u8; OID_LEN]) -> Option<Vec<u8>> {
        let at = reader.locate(id)?;
        reader.blob(at).map(<[u8]>::to_vec)
    }

    fn pack_path(repo: &Path, ext: &str) -> String {
        let dir = repo.join(".git/objects/pack");
        let name = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == ext));
        name.unwrap().to_string_lossy().into_owned()
    }

    /// A pack damaged anywhere gives the right blob or none: never a wrong
    /// one that passed, a panic, or a loop.
    #[test]
    fn a_damaged_pack_gives_the_right_blob_or_none() {
        let (dir, blobs) = packed_repo();
        let pack = PathBuf::from(pack_path(dir.path(), "pack"));
        let good = std::fs::read(&pack).unwrap();
        let mut damaged_reads = 0;
        for at in (12..good.len() - 20).step_by(97) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            std::fs::write(&pack, &bad).unwrap();
            let packs = Packs::open(&dir.path().join(".git/objects"));
            let mut reader = Reader::new(&packs);
            for (id, content) in &blobs {
                match read(&mut reader, id) {
                    Some(read) => assert_eq!(read, *content, "byte {at} damaged"),
                    None => damaged_reads += 1,
                }
            }
        }
        assert!(damaged_reads > 0, "the damage was noticed");
        std::fs::write(&pack, &good).unwrap();
    }
}
