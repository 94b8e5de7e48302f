//! Kiro CLI (and Amazon Q Developer CLI): lower camelCase event names and no
//! session id at all, so its sessions are per agent and directory.

use super::{Agent, Payload, as_named, event_name, has, no_config_problems, no_duration, no_version, silent};
use crate::recognize::Phase;

pub static AGENT: Agent = Agent {
    name: "kiro",
    title: "Kiro",
    evidence,
    transcript_marker: "/.kiro/",
    events: &[
        ("agentSpawn", Phase::SessionStart),
        ("userPromptSubmit", Phase::Prompt),
        ("preToolUse", Phase::ToolCall),
        ("postToolUse", Phase::ToolResult),
        ("stop", Phase::TurnEnd),
    ],
    implied_tools: &[],
    guidance_files: &[],
    guidance_dirs: &[".kiro/steering"],
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
    const SESSION_KEYS: &[&str] = &["session_id", "conversation_id", "sessionId"];
    let name = event_name(p);
    name == "agentSpawn"
        || (matches!(name, "userPromptSubmit" | "preToolUse" | "postToolUse" | "stop")
            && !SESSION_KEYS.iter().any(|k| has(p, k)))
}
