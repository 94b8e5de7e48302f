//! Claude Code: `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR`). Its hook
//! shape is the common ancestor of most agents' hooks, so it has no evidence
//! of its own: a Claude-shaped payload that no other agent claims is Claude's.

use super::{Agent, Payload, never, silent};
use crate::install::config_file::ConfigFile;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "claude",
    title: "Claude Code",
    evidence: never,
    transcript_marker: "/.claude/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("UserPromptExpansion", Phase::Prompt),
        ("MessageDisplay", Phase::AgentOutput),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PostToolUseFailure", Phase::ToolFailure),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PermissionRequest", Phase::Waiting),
        ("Elicitation", Phase::Waiting),
        ("PermissionDenied", Phase::Other),
        ("Notification", Phase::Other),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        ("Setup", Phase::Other),
        ("InstructionsLoaded", Phase::Other),
        ("ConfigChange", Phase::Other),
        ("CwdChanged", Phase::Other),
        ("DirectoryAdded", Phase::Other),
        ("FileChanged", Phase::Other),
        ("WorktreeCreate", Phase::Other),
        ("WorktreeRemove", Phase::Other),
        ("TaskCreated", Phase::Other),
        ("TaskCompleted", Phase::Other),
        ("TeammateIdle", Phase::Other),
        ("ElicitationResult", Phase::Other),
        ("PostToolBatch", Phase::Other),
    ],
    implied_tools: &[],
    guidance_files: &["CLAUDE.md", "CLAUDE.local.md", ".claude/CLAUDE.md"],
    guidance_dirs: &[".claude/rules"],
    reply: silent,
    reinterpret,
    version,
    config_problems,
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Never `WorktreeCreate` (its stdout is the worktree path) nor
        // `MessageDisplay`/`Elicitation*` (they hold the session on the hook).
        format: Format::Nested(Nested {
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
            short: &[],
        }),
        note: None,
    }),
    snippet: Some("claude-settings.json"),
};

/// `/compact`'s summariser ends with a SubagentStop whose `agent_type` is
/// empty (no SubagentStart came before it, its transcript is never written):
/// a compaction, not a subagent.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    let summariser = phase == Phase::SubagentStop && p.get("agent_type").and_then(Value::as_str) == Some("");
    summariser.then(|| (Phase::Other, "compaction summary: a SubagentStop with no agent type".to_string()))
}

/// `AI_AGENT=claude-code_2-1-332_harness` in the hook's environment.
fn version(_: &Payload) -> Option<String> {
    let tag = std::env::var("AI_AGENT").ok()?;
    let version = tag.strip_prefix("claude-code_")?.split('_').next()?;
    (!version.is_empty()).then(|| version.replace('-', "."))
}

/// `"disableAllHooks": true` in the user's settings turns every hook off.
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("settings.json");
    let Ok(settings) = ConfigFile::load(&path) else { return Vec::new() };
    if settings.value.get("disableAllHooks") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    vec![format!(
        "\"disableAllHooks\": true in {} turns off every Claude Code hook, kaizen-hook's too: remove it (or set it to false)",
        path.display()
    )]
}

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".claude"),
    }
}
