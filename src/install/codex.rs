//! Codex CLI: `~/.codex/hooks.json` (or `$CODEX_HOME`), the nested format with
//! timeouts in seconds. Codex runs a new or changed hook only once the user
//! trusts it in `/hooks`.

use super::nested::Nested;
use super::{Format, TIMEOUT_SECONDS, Target};
use std::path::{Path, PathBuf};

const FORMAT: Nested = Nested {
    events: &[
        ("SessionStart", "session-start"),
        ("UserPromptSubmit", "prompt"),
        ("PreToolUse", "tool-use"),
        ("PostToolUse", "tool-use"),
        ("PermissionRequest", "event"),
        ("Stop", "stop"),
        ("SubagentStart", "subagent"),
        ("SubagentStop", "subagent"),
        ("PreCompact", "event"),
        ("PostCompact", "event"),
    ],
    timeout: TIMEOUT_SECONDS,
};

pub const TARGET: Target = Target {
    agent: "codex",
    dir: config_dir,
    file: "hooks.json",
    format: Format::Nested(FORMAT),
    note: Some("Codex runs new hooks only once trusted: open /hooks in Codex and trust the kaizen-hook entries"),
};

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("CODEX_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".codex"),
    }
}
