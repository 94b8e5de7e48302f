//! Qwen Code: a Gemini CLI fork with Claude-shaped hooks in `~/.qwen/settings.json`.

use super::{Agent, DOCUMENTED, Payload};
use crate::recognize::Phase;
use serde_json::Value;

pub static AGENT: Agent = Agent {
    name: "qwen",
    title: "Qwen Code",
    evidence,
    transcript_marker: "/.qwen/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("SessionDelete", Phase::Other),
        ("UserPromptSubmit", Phase::Prompt),
        ("MessageDisplay", Phase::AgentOutput),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PostToolUseFailure", Phase::ToolFailure),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        ("Notification", Phase::Other),
        ("PermissionRequest", Phase::Waiting),
        ("PermissionDenied", Phase::Other),
        ("TodoCreated", Phase::Other),
        ("TodoCompleted", Phase::Other),
    ],
    guidance_files: &["QWEN.md"],
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    // Qwen's permission modes differ from Claude's.
    matches!(p.get("permission_mode").and_then(Value::as_str), Some("auto_edit" | "yolo"))
}
