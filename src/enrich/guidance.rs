//! `prompt_fingerprint`: a stable hash of the guidance files the agents read
//! in a workspace (each agent lists its own), so a later retro can tell
//! whether a rule change helped.

use crate::hash::Fnv64;
use std::fs;
use std::path::Path;

const MAX_FILE: u64 = 1 << 20;

/// `None` when the workspace has no guidance file at all.
pub fn fingerprint(workspace: &Path) -> Option<String> {
    let (files, dirs) = crate::agents::guidance();
    let mut found: Vec<String> = files.iter().filter(|f| workspace.join(f).is_file()).map(|f| f.to_string()).collect();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(workspace.join(dir)) else { continue };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                found.push(format!("{dir}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    found.sort();
    found.dedup();
    let mut hash = Fnv64::default();
    for relative in &found {
        let content = fs::File::open(workspace.join(relative))
            .and_then(|f| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_FILE), &mut bytes)?;
                Ok(bytes)
            })
            .unwrap_or_default();
        hash.write_parts(&[relative.as_bytes(), &content]);
    }
    Some(hash.hex())
}
