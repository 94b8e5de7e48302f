//! Claude Code: `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR`). Its hook
//! shape is the common ancestor of most agents' hooks, so it has no evidence
//! of its own: a Claude-shaped payload that no other agent claims is Claude's.

use super::{Agent, DOCUMENTED, Payload, env_dir_or_home, never};
use crate::cost::Tokens;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::transcript::{Context, Failure, Reader, Response, Scope, count, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The events the installer registers, and their subcommands. Qwen Code's
/// hooks take the same names.
pub const HOOK_EVENTS: &[(&str, Category)] = &[
    ("SessionStart", Category::SessionStart),
    ("SessionEnd", Category::SessionEnd),
    ("UserPromptSubmit", Category::Prompt),
    ("PreToolUse", Category::ToolUse),
    ("PostToolUse", Category::ToolUse),
    ("PostToolUseFailure", Category::ToolUse),
    ("PermissionRequest", Category::Event),
    ("PermissionDenied", Category::Event),
    ("Notification", Category::Event),
    ("Stop", Category::Stop),
    ("StopFailure", Category::Stop),
    ("SubagentStart", Category::Subagent),
    ("SubagentStop", Category::Subagent),
    ("PreCompact", Category::Event),
    ("PostCompact", Category::Event),
];

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
    guidance_files: &["CLAUDE.md", "CLAUDE.local.md", ".claude/CLAUDE.md"],
    guidance_dirs: &[".claude/rules"],
    reinterpret,
    version,
    config_problems,
    transcript: Some(Reader {
        needles: &[b"\"usage\"", b"\"is_error\":true"],
        parse: response,
        failure,
        paths: transcripts,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Never `WorktreeCreate` (its stdout is the worktree path) nor
        // `MessageDisplay`/`Elicitation*` (they hold the session on the hook).
        format: Format::Nested(Nested { events: HOOK_EVENTS, timeout: TIMEOUT_SECONDS, short: &[] }),
        note: None,
    }),
    snippet: Some("claude-settings.json"),
    ..DOCUMENTED
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

/// One content block of a response per `assistant` line, all sharing
/// `message.id`; the transcript module keeps the largest figures. Error
/// lines (`model: "<synthetic>"`, `isApiErrorMessage`) are not responses.
fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    if let Some(version) = line.get("version").and_then(Value::as_str) {
        ctx.version = Some(version.to_string());
    }
    if line.get("type")?.as_str()? != "assistant" || line.get("isApiErrorMessage") == Some(&Value::Bool(true)) {
        return None;
    }
    let message = line.get("message")?;
    let model = message.get("model").and_then(Value::as_str).filter(|m| *m != "<synthetic>")?;
    let usage = message.get("usage")?;
    let one_hour = usage.get("cache_creation").map_or(0, |c| count(c, "ephemeral_1h_input_tokens"));
    ctx.model = Some(model.to_string());
    Some(Response {
        key: message.get("id")?.as_str()?.to_string(),
        model: Some(model.to_string()),
        tokens: Tokens {
            input: count(usage, "input_tokens"),
            output: count(usage, "output_tokens"),
            cache_read: count(usage, "cache_read_input_tokens"),
            cache_write: count(usage, "cache_creation_input_tokens"),
            cache_write_1h: one_hour,
        },
        reasoning: usage.get("output_tokens_details").map_or(0, |d| count(d, "thinking_tokens")),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        stop_reason: message.get("stop_reason").and_then(Value::as_str).map(String::from),
        turn: line.get("promptId").or(line.get("prompt_id")).and_then(Value::as_str).map(String::from),
        ..Response::default()
    })
}

/// A `tool_result` with `is_error`: a call denied in headless mode gets only
/// its PreToolUse (and PermissionRequest); this is where it ended.
fn failure(line: &Value, _: &Scope) -> Option<Failure> {
    let content = line.get("message")?.get("content")?.as_array()?;
    content.iter().find_map(|block| {
        let failed = block.get("type")?.as_str()? == "tool_result" && block.get("is_error")?.as_bool()?;
        let why = match block.get("content")? {
            Value::String(text) => text.clone(),
            other => other.pointer("/0/text").and_then(Value::as_str).unwrap_or("failed").to_string(),
        };
        let call_id = block.get("tool_use_id")?.as_str()?.to_string();
        failed.then_some(Failure { call_id, why })
    })
}

/// The session's transcript, the subagent's that just stopped, and every
/// subagent transcript beside the session's (`<session>/subagents/agent-*.jsonl`).
/// CodeBuddy Code keeps the same layout.
pub(super) fn transcripts(p: &Payload) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["transcript_path", "agent_transcript_path"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .map(PathBuf::from)
        .collect();
    if let Some(main) = paths.first().cloned() {
        let dir = main.with_extension("").join("subagents");
        let mut subagents: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|path| path.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        subagents.sort();
        paths.extend(subagents);
    }
    paths.dedup();
    paths
}

/// `"disableAllHooks": true` in the user's settings turns every hook off.
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("settings.json");
    super::all_hooks_switched_off(&path, "/disableAllHooks", "\"disableAllHooks\": true", AGENT.title)
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("CLAUDE_CONFIG_DIR", home, ".claude")
}
