//! Where sessions live: `$KAIZEN_HOME/sessions/<key>.jsonl` (events) and
//! `<key>.session.json` (the record). A session id is input, never a path.

pub mod events;
pub mod fsutil;
pub mod guidance;
pub mod line;
pub mod record;
pub mod spool;
pub mod writer;

use crate::hash;
use std::io;
use std::path::{Path, PathBuf};

/// The events file's suffix: `<key>.jsonl`.
const EVENTS: &str = ".jsonl";
/// The record's suffix: `<key>.session.json`.
const RECORD: &str = ".session.json";

pub struct SessionFiles {
    pub key: String,
    pub events: PathBuf,
    pub record: PathBuf,
    /// Where reading the agent's transcripts stands (`transcript.rs`).
    pub transcripts: PathBuf,
    /// Events waiting for the lock (`spool.rs`).
    pub spool: PathBuf,
}

impl SessionFiles {
    /// The files of the session with this id (as the agent sent it).
    pub fn new(home: &Path, session_id: &str) -> SessionFiles {
        SessionFiles::in_dir(&sessions_dir(home), session_key(session_id))
    }

    /// The files of the session stored under `key` (a name from `list`, or a
    /// `session_key`): the one place their names are made.
    pub fn from_key(home: &Path, key: &str) -> SessionFiles {
        SessionFiles::in_dir(&sessions_dir(home), key.to_string())
    }

    // Inlined so `new`, on the hook's path, stays one function (link/hot-functions.ld).
    #[inline]
    fn in_dir(dir: &Path, key: String) -> SessionFiles {
        SessionFiles {
            events: dir.join(format!("{key}{EVENTS}")),
            record: dir.join(format!("{key}{RECORD}")),
            transcripts: dir.join(format!("{key}.transcripts.json")),
            spool: dir.join(format!("{key}.spool")),
            key,
        }
    }
}

pub fn sessions_dir(home: &Path) -> PathBuf {
    home.join("sessions")
}

/// Which of a session's files a listing goes by: a record can exist before
/// the first event is written, and an events file whose record is unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// `<key>.jsonl`
    Events,
    /// `<key>.session.json`
    Record,
}

/// The sessions under `home` that have the `by` file, in directory order,
/// read lazily (memory does not grow with the number of sessions). Only names
/// that are valid keys count: nothing else in `sessions/` is a session's.
/// `Err` when `sessions/` cannot be read (it does not exist yet, for one).
pub fn list(home: &Path, by: Listed) -> io::Result<impl Iterator<Item = SessionFiles>> {
    let dir = sessions_dir(home);
    let entries = std::fs::read_dir(&dir)?;
    let suffix = match by {
        Listed::Events => EVENTS,
        Listed::Record => RECORD,
    };
    Ok(entries.flatten().filter_map(move |entry| {
        let name = entry.file_name().into_string().ok()?;
        let key = name.strip_suffix(suffix)?;
        (session_key(key) == key).then(|| SessionFiles::in_dir(&dir, key.to_string()))
    }))
}

/// How many hex digits of SHA-256 name a session whose id is not a plain
/// name: 128 bits, so no two ids share a file even when chosen to (a
/// birthday search for a 64-bit hash takes about 2^32 tries).
const KEY_HASH_HEX: usize = 32;

/// The id itself when it matches `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
/// otherwise `id-` and the SHA-256 of it (`KEY_HASH_HEX` digits).
pub fn session_key(id: &str) -> String {
    let b = id.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if plain { id.to_string() } else { format!("id-{}", hash::sha256_hex_of_parts(&[b], KEY_HASH_HEX)) }
}

/// The session of an agent that sent no id: one per agent and directory,
/// named so a person can recognise it (`kiro-acme-api-1f2e3d4c5b6a`).
pub fn fallback_session_id(agent: &str, cwd: &Path) -> String {
    let name: String = cwd
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(40)
        .collect();
    let digest = hash::sha256_hex_of_parts(&[agent.as_bytes(), cwd.as_os_str().as_encoded_bytes()], 12);
    let agent: String = agent.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    let agent = if agent.is_empty() { "unknown".to_string() } else { agent };
    if name.is_empty() { format!("{agent}-{digest}") } else { format!("{agent}-{name}-{digest}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_their_own_key() {
        for id in ["5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47", "a", "A.b_c-d", &"x".repeat(128)] {
            assert_eq!(session_key(id), id);
        }
    }

    #[test]
    fn anything_else_is_hashed_stably() {
        for id in ["", "../../etc/passwd", "/abs", "a/b", ".hidden", "-dash", "nul\0byte", "é", &"x".repeat(129)] {
            let key = session_key(id);
            assert!(key.starts_with("id-") && key.len() == 3 + KEY_HASH_HEX, "{id:?} -> {key}");
            assert!(key[3..].bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
            assert_eq!(session_key(&key), key, "a key is a plain id");
            assert_eq!(key, session_key(id), "stable");
            assert!(!key.contains('/') && !key.contains(".."));
        }
        assert_ne!(session_key("../a"), session_key("../b"));
    }

    #[test]
    fn listed_sessions_are_named_as_from_key_names_them() {
        let home = tempfile::tempdir().unwrap();
        let dir = sessions_dir(home.path());
        std::fs::create_dir_all(dir.join("a.spool")).unwrap();
        let hostile = SessionFiles::new(home.path(), "../h");
        for file in [
            "a.jsonl",
            "a.session.json",
            "b.session.json",
            "a.transcripts.json",
            ".a.session.json.1.2.tmp",
            "not a key.jsonl",
            ".jsonl",
        ] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        std::fs::write(&hostile.events, "").unwrap();
        let keys = |by| {
            let mut listed: Vec<SessionFiles> = list(home.path(), by).unwrap().collect();
            listed.sort_by(|a, b| a.key.cmp(&b.key));
            for files in &listed {
                let made = SessionFiles::from_key(home.path(), &files.key);
                assert_eq!((&files.events, &files.record), (&made.events, &made.record));
            }
            listed.into_iter().map(|f| f.key).collect::<Vec<_>>()
        };
        assert_eq!(keys(Listed::Events), ["a", hostile.key.as_str()]);
        assert_eq!(keys(Listed::Record), ["a", "b"]);
        let a = SessionFiles::new(home.path(), "a");
        assert_eq!(a.events, dir.join("a.jsonl"));
        assert_eq!(a.record, dir.join("a.session.json"));
        assert!(list(&home.path().join("nowhere"), Listed::Events).is_err());
    }

    #[test]
    fn fallback_ids_are_valid_keys_per_agent_and_directory() {
        let a = fallback_session_id("kiro", Path::new("/home/dev/acme api"));
        assert!(a.starts_with("kiro-acme-api-"), "{a}");
        assert_eq!(session_key(&a), a);
        assert_ne!(a, fallback_session_id("kiro", Path::new("/other/acme api")));
        assert_ne!(a, fallback_session_id("cline", Path::new("/home/dev/acme api")));
        let root = fallback_session_id("", Path::new("/"));
        assert_eq!(session_key(&root), root);
    }
}
