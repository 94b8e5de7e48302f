//! VS Code agent hooks: `sessionId` and `hookEventName` in camelCase, the
//! rest Claude-shaped. VS Code also runs `~/.claude/settings.json`.

use super::{Agent, Payload, as_named, has, no_config_problems, no_duration, no_version, silent};
use crate::recognize::Phase;

pub static AGENT: Agent = Agent {
    name: "vscode",
    title: "VS Code",
    evidence,
    transcript_marker: "/Code/User/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PreCompact", Phase::Other),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("Stop", Phase::TurnEnd),
    ],
    implied_tools: &[],
    guidance_files: &[],
    guidance_dirs: &[],
    reply: silent,
    reinterpret: as_named,
    duration: no_duration,
    version: no_version,
    config_problems: no_config_problems,
    transcript: None,
    installer: None,
    snippet: None,
};

fn evidence(p: &Payload) -> bool {
    has(p, "sessionId") && has(p, "hookEventName")
}
