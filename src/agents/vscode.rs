//! VS Code agent hooks: `sessionId` and `hookEventName` in camelCase, the
//! rest Claude-shaped. VS Code also runs `~/.claude/settings.json`.

use super::{Agent, DOCUMENTED, Payload, has};
use crate::phase::Phase;

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
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    has(p, "sessionId") && has(p, "hookEventName")
}
