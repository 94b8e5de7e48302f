//! Factory Droid: a near-exact clone of Claude Code's hooks, told apart only
//! by where its transcripts live.

use super::{Agent, DOCUMENTED, never};
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
    ..DOCUMENTED
};
