//! Cline: hook executables named after their event, payloads with `hookName`,
//! `taskId` and the event's details in an object named after it.

use super::{Agent, DOCUMENTED, Payload, has};
use crate::recognize::Phase;

pub static AGENT: Agent = Agent {
    name: "cline",
    title: "Cline",
    evidence,
    transcript_marker: "/Cline/",
    events: &[
        ("TaskStart", Phase::SessionStart),
        ("TaskResume", Phase::SessionStart),
        ("TaskComplete", Phase::SessionEnd),
        ("TaskCancel", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PreCompact", Phase::Other),
    ],
    guidance_files: &[".clinerules"],
    guidance_dirs: &[".clinerules"],
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    // Copilot CLI's permissionRequest also names its event `hookName`; only Cline keys on a task.
    has(p, "clineVersion") || (has(p, "hookName") && has(p, "taskId"))
}
