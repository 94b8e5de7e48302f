//! Claude Code: `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR`). Never
//! `WorktreeCreate` (its stdout is the worktree path) nor
//! `MessageDisplay`/`Elicitation*` (they hold the session on the hook).

use super::nested::Nested;
use super::{Format, TIMEOUT_SECONDS, Target};
use std::path::{Path, PathBuf};

const FORMAT: Nested = Nested {
    events: &[
        ("SessionStart", "session-start"),
        ("SessionEnd", "session-end"),
        ("UserPromptSubmit", "prompt"),
        ("PreToolUse", "tool-use"),
        ("PostToolUse", "tool-use"),
        ("PostToolUseFailure", "tool-use"),
        ("PermissionRequest", "event"),
        ("PermissionDenied", "event"),
        ("Notification", "event"),
        ("Stop", "stop"),
        ("StopFailure", "stop"),
        ("SubagentStart", "subagent"),
        ("SubagentStop", "subagent"),
        ("PreCompact", "event"),
        ("PostCompact", "event"),
    ],
    timeout: TIMEOUT_SECONDS,
};

pub const TARGET: Target =
    Target { agent: "claude", dir: config_dir, file: "settings.json", format: Format::Nested(FORMAT), note: None };

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".claude"),
    }
}
