//! Where sessions live: `$KAIZEN_HOME/sessions/<key>.jsonl` (events) and
//! `<key>.session.json` (the record). A session id is input, never a path.

pub mod events;
pub mod fsutil;
pub mod line;
pub mod record;
pub mod spool;
pub mod writer;

use crate::hash;
use std::path::{Path, PathBuf};

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
    pub fn new(home: &Path, session_id: &str) -> SessionFiles {
        let key = session_key(session_id);
        let dir = sessions_dir(home);
        SessionFiles {
            events: dir.join(format!("{key}.jsonl")),
            record: dir.join(format!("{key}.session.json")),
            transcripts: dir.join(format!("{key}.transcripts.json")),
            spool: dir.join(format!("{key}.spool")),
            key,
        }
    }
}

pub fn sessions_dir(home: &Path) -> PathBuf {
    home.join("sessions")
}

/// The id itself when it matches `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
/// otherwise `id-` and a stable hash of it.
pub fn session_key(id: &str) -> String {
    let b = id.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if plain { id.to_string() } else { format!("id-{}", hash::hex_of_parts(&[b])) }
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
    let digest = hash::hex_of_parts(&[agent.as_bytes(), cwd.as_os_str().as_encoded_bytes()]);
    let agent: String = agent.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    let agent = if agent.is_empty() { "unknown".to_string() } else { agent };
    if name.is_empty() { format!("{agent}-{}", &digest[..12]) } else { format!("{agent}-{name}-{}", &digest[..12]) }
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
            assert!(key.starts_with("id-") && key.len() == 19, "{id:?} -> {key}");
            assert_eq!(key, session_key(id), "stable");
            assert!(!key.contains('/') && !key.contains(".."));
        }
        assert_ne!(session_key("../a"), session_key("../b"));
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
