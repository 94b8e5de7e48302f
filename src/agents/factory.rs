//! Factory Droid: a near-exact clone of Claude Code's hooks, told apart only
//! by where its transcripts live.

use super::{Agent, as_named, never, no_config_problems, no_duration, no_version, silent};
use crate::recognize::Phase;

pub static AGENT: Agent = Agent {
    name: "factory",
    title: "Factory Droid",
    evidence: never,
    transcript_marker: "/.factory/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("Notification", Phase::Other),
        ("Stop", Phase::TurnEnd),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
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
