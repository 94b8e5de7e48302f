//! Codex CLI: `~/.codex/hooks.json` (or `$CODEX_HOME`), the nested format with
//! timeouts in seconds, and the legacy `notify` program, which gets its
//! payload as the last argument. Codex runs a new or changed hook only once
//! the user trusts it in `/hooks`.

use super::{Agent, Payload, has, no_config_problems, no_failure, no_version, silent};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "codex",
    title: "Codex CLI",
    evidence,
    transcript_marker: "/.codex/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PermissionRequest", Phase::Waiting),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        // The user interrupted the turn: it ended, not on an error of the agent's.
        ("Interrupt", Phase::TurnEnd),
        ("PreModelRequest", Phase::Other),
        ("PostModelRequest", Phase::Other),
        // `notify`'s only event.
        ("agent-turn-complete", Phase::TurnEnd),
    ],
    implied_tools: &[],
    guidance_files: &["AGENTS.md", "AGENTS.override.md"],
    guidance_dirs: &[],
    reply: silent,
    tool_failure: no_failure,
    version: no_version,
    config_problems: no_config_problems,
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.json",
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", "session-start"),
                ("SessionEnd", "session-end"),
                ("UserPromptSubmit", "prompt"),
                ("PreToolUse", "tool-use"),
                ("PostToolUse", "tool-use"),
                ("PermissionRequest", "event"),
                ("Stop", "stop"),
                ("SubagentStart", "subagent"),
                ("SubagentStop", "subagent"),
                ("PreCompact", "event"),
                ("PostCompact", "event"),
                ("Interrupt", "stop"),
            ],
            timeout: TIMEOUT_SECONDS,
            // Codex clamps these to 3 s, with a warning for anything above.
            short: &[("SessionEnd", 3), ("Interrupt", 3)],
        }),
        note: Some("Codex runs new hooks only once trusted: open /hooks in Codex and trust the kaizen-hook entries"),
    }),
    snippet: Some("codex-hooks.json"),
};

fn evidence(p: &Payload) -> bool {
    // `notify` payloads are kebab-case; hook payloads pair a turn id with the model.
    has(p, "thread-id") || (has(p, "turn_id") && has(p, "model") && !has(p, "message_id"))
}

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("CODEX_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".codex"),
    }
}
