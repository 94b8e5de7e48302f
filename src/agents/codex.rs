//! Codex CLI: `~/.codex/hooks.json` (or `$CODEX_HOME`), the nested format with
//! timeouts in seconds, and the legacy `notify` program, which gets its
//! payload as the last argument. Codex runs a new or changed hook only once
//! the user trusts it in `/hooks`.

use super::{Agent, Payload, has, no_config_problems, silent};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use crate::store::fsutil::{self, End};
use memchr::memmem;
use serde_json::Value;
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
        // `notify`'s only event. With the hooks registered too, Stop has
        // already ended the turn: the pipeline records it as a repeat then.
        ("agent-turn-complete", Phase::TurnEnd),
    ],
    implied_tools: &[],
    guidance_files: &["AGENTS.md", "AGENTS.override.md"],
    guidance_dirs: &[],
    reply: silent,
    reinterpret,
    version,
    config_problems: no_config_problems,
    transcript: None,
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

/// Codex's PostToolUse does not say how a command ended; its rollout does,
/// and the call's `item_completed` line is written before the hook runs.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let call = p.get("tool_use_id")?.as_str()?;
    let tail = fsutil::read_agent_file(Path::new(p.get("transcript_path")?.as_str()?), End::Tail, ROLLOUT_TAIL).ok()?;
    let needle = format!("\"id\":{}", Value::from(call));
    let item = tail
        .rsplit(|b| *b == b'\n')
        .filter(|line| {
            memmem::find(line, needle.as_bytes()).is_some() && memmem::find(line, b"item_completed").is_some()
        })
        .find_map(|line| {
            let line: Value = serde_json::from_slice(line).ok()?;
            let item = line.get("payload")?.get("item")?;
            (item.get("id")?.as_str()? == call).then(|| item.clone())
        })?;
    match (item.get("exit_code").and_then(Value::as_i64), item.get("status").and_then(Value::as_str)) {
        (Some(code), _) if code != 0 => Some((Phase::ToolFailure, format!("exit code {code}"))),
        (_, Some("failed")) => Some((Phase::ToolFailure, "failed".to_string())),
        _ => None,
    }
}

/// How much of the rollout's end is searched for a call's outcome.
const ROLLOUT_TAIL: u64 = 256 * 1024;

/// `session_meta.payload.cli_version`, on the rollout's first line.
fn version(p: &Payload) -> Option<String> {
    let head = fsutil::read_agent_file(Path::new(p.get("transcript_path")?.as_str()?), End::Head, 16 * 1024).ok()?;
    let key = b"\"cli_version\":\"";
    let at = memmem::find(&head, key)? + key.len();
    let len = memchr::memchr(b'"', &head[at..])?;
    Some(String::from_utf8_lossy(&head[at..at + len]).into_owned()).filter(|v| !v.is_empty())
}

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("CODEX_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".codex"),
    }
}
