//! GitHub Copilot CLI: camelCase payloads with `sessionId` and an epoch-ms
//! `timestamp`, and no event name: it is registered with `--event`. It runs
//! every `~/.copilot/hooks/*.json` (`$COPILOT_HOME/hooks/`); ours is
//! `kaizen-hook.json`, so the user's own hook files are never edited.

use super::{Agent, Payload, failed_exit, has, no_config_problems, no_duration, silent};
use crate::install::flat::{self, Flat};
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "copilot",
    title: "Copilot CLI",
    evidence,
    transcript_marker: "/.copilot/",
    events: &[
        ("sessionStart", Phase::SessionStart),
        ("sessionEnd", Phase::SessionEnd),
        ("userPromptSubmitted", Phase::Prompt),
        // The same prompt again, after Copilot expanded it: not a second prompt.
        ("userPromptTransformed", Phase::Other),
        ("preToolUse", Phase::ToolCall),
        ("postToolUse", Phase::ToolResult),
        ("postToolUseFailure", Phase::ToolFailure),
        ("agentStop", Phase::TurnEnd),
        ("subagentStart", Phase::SubagentStart),
        ("subagentStop", Phase::SubagentStop),
        ("errorOccurred", Phase::Failure),
        ("preCompact", Phase::Other),
        ("permissionRequest", Phase::Waiting),
        ("notification", Phase::Other),
    ],
    implied_tools: &[],
    guidance_files: &[".github/copilot-instructions.md"],
    guidance_dirs: &[".github/instructions"],
    reply: silent,
    reinterpret,
    duration: no_duration,
    version,
    config_problems: no_config_problems,
    transcript: None,
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks/kaizen-hook.json",
        // camelCase names: PascalCase ones make Copilot send Claude-shaped
        // payloads, which would be taken for Claude's. `notification` is left
        // out: it never fires headless, and permissionRequest already says
        // the agent waits. A non-zero exit from preToolUse denies the tool;
        // kaizen-hook always exits 0, and a timeout lets the tool run.
        format: Format::Flat(Flat {
            events: &[
                ("sessionStart", "session-start"),
                ("sessionEnd", "session-end"),
                ("userPromptSubmitted", "prompt"),
                ("userPromptTransformed", "event"),
                ("preToolUse", "tool-use"),
                ("postToolUse", "tool-use"),
                ("postToolUseFailure", "tool-use"),
                ("agentStop", "stop"),
                ("subagentStart", "subagent"),
                ("subagentStop", "subagent"),
                ("permissionRequest", "event"),
                ("errorOccurred", "event"),
                ("preCompact", "event"),
            ],
            timeout: TIMEOUT_SECONDS,
            entry: flat::COPILOT,
        }),
        note: None,
    }),
    snippet: Some("copilot-hooks.json"),
};

fn evidence(p: &Payload) -> bool {
    let camel_tool = has(p, "toolName") || has(p, "toolArgs");
    has(p, "sessionId") || (camel_tool && p.get("timestamp").is_some_and(Value::is_number))
}

/// A shell command's exit status is only in the result's text
/// (`<shellId: 1 completed with exit code 2>`); `resultType` says success.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let result = p.get("toolResult")?;
    if let Some(kind) = result.get("resultType").and_then(Value::as_str).filter(|k| *k != "success") {
        return Some((Phase::ToolFailure, format!("result type {kind}")));
    }
    failed_exit(result.get("textResultForLlm").and_then(Value::as_str), "exit code")
}

/// Copilot CLI names its version in every hook's environment.
fn version(_: &Payload) -> Option<String> {
    std::env::var("COPILOT_CLI_BINARY_VERSION").ok().filter(|v| !v.is_empty())
}

fn config_dir(home: &Path) -> PathBuf {
    match std::env::var_os("COPILOT_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home.join(".copilot"),
    }
}
