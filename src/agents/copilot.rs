//! GitHub Copilot CLI: camelCase payloads with `sessionId` and an epoch-ms
//! `timestamp`, and no event name: it is registered with `--event`.

use super::{Agent, Payload, has, no_config_problems, no_failure, no_version, silent};
use crate::recognize::Phase;
use serde_json::Value;

pub static AGENT: Agent = Agent {
    name: "copilot",
    title: "Copilot CLI",
    evidence,
    transcript_marker: "/.copilot/",
    events: &[
        ("sessionStart", Phase::SessionStart),
        ("sessionEnd", Phase::SessionEnd),
        ("userPromptSubmitted", Phase::Prompt),
        ("userPromptTransformed", Phase::Prompt),
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
    tool_failure: no_failure,
    version: no_version,
    config_problems: no_config_problems,
    installer: None,
    snippet: None,
};

fn evidence(p: &Payload) -> bool {
    let camel_tool = has(p, "toolName") || has(p, "toolArgs");
    has(p, "sessionId") || (camel_tool && p.get("timestamp").is_some_and(Value::is_number))
}
