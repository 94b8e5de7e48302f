//! Codex CLI: `~/.codex/hooks.json` (or `$CODEX_HOME`), the nested format with
//! timeouts in seconds, and the legacy `notify` program, which gets its
//! payload as the last argument. Codex runs a new or changed hook only once
//! the user trusts it in `/hooks`, or `install --trust` does.

mod rollout;
mod trust;

pub use trust::TRUST;

use super::{Agent, DOCUMENTED, Outcome, Payload, env_dir_or_home, has};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::store::fsutil::{self, End};
use crate::transcript::{Reader, no_scope};
use memchr::memmem;
use rollout::{NEEDLES, failure, response, transcripts};
use serde_json::Value;
use std::path::{Path, PathBuf};
use trust::config_problems;

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
    guidance_files: &["AGENTS.md", "AGENTS.override.md"],
    outcome,
    version,
    config_problems,
    transcript: Some(Reader {
        needles: NEEDLES,
        parse: response,
        failure,
        paths: transcripts,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.json",
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", Category::SessionStart),
                ("SessionEnd", Category::SessionEnd),
                ("UserPromptSubmit", Category::Prompt),
                ("PreToolUse", Category::ToolUse),
                ("PostToolUse", Category::ToolUse),
                ("PermissionRequest", Category::Event),
                ("Stop", Category::Stop),
                ("SubagentStart", Category::Subagent),
                ("SubagentStop", Category::Subagent),
                ("PreCompact", Category::Event),
                ("PostCompact", Category::Event),
                ("Interrupt", Category::Stop),
            ],
            timeout: TIMEOUT_SECONDS,
            // Codex clamps these to 3 s, with a warning for anything above.
            short: &[("SessionEnd", 3), ("Interrupt", 3)],
        }),
        // Whether Codex trusts them is a config problem, which install reports.
        note: None,
    }),
    snippet: Some("codex-hooks.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    // `notify` payloads are kebab-case; hook payloads pair a turn id with the model.
    has(p, "thread-id") || (has(p, "turn_id") && has(p, "model") && !has(p, "message_id"))
}

/// Codex's PostToolUse does not say how a command ended nor how long it
/// took; its rollout does, in the call's `item_completed` line, written
/// before the hook runs.
fn outcome(p: &Payload) -> Option<Outcome> {
    let call = p.get("tool_use_id")?.as_str()?;
    let completed = find_completed_item(call, p.get("transcript_path")?.as_str()?)?;
    Some(Outcome { failure: failure_of(&completed), duration_ms: duration_of(&completed) })
}

/// A command that exited non-zero, or an item whose status is `failed`.
fn failure_of(completed: &Value) -> Option<String> {
    let item = completed.get("item")?;
    match (item.get("exit_code").and_then(Value::as_i64), item.get("status").and_then(Value::as_str)) {
        (Some(code), _) if code != 0 => Some(format!("exit code {code}")),
        (_, Some("failed")) => Some("failed".to_string()),
        _ => None,
    }
}

/// The call's own start and end.
fn duration_of(completed: &Value) -> Option<u32> {
    let ms = |key: &str| completed.get(key).and_then(Value::as_u64);
    u32::try_from(ms("completed_at_ms")?.checked_sub(ms("started_at_ms")?)?).ok()
}

fn find_completed_item(call: &str, rollout: &str) -> Option<Value> {
    let tail = fsutil::read_agent_file(Path::new(rollout), End::Tail, ROLLOUT_TAIL).ok()?;
    let needle = format!("\"id\":{}", Value::from(call));
    tail.rsplit(|b| *b == b'\n')
        .filter(|line| {
            memmem::find(line, needle.as_bytes()).is_some() && memmem::find(line, b"item_completed").is_some()
        })
        .find_map(|line| {
            let mut line: Value = serde_json::from_slice(line).ok()?;
            let completed = line.get_mut("payload")?.take();
            (completed.get("item")?.get("id")?.as_str()? == call).then_some(completed)
        })
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
    env_dir_or_home("CODEX_HOME", home, ".codex")
}
