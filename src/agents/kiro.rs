//! Kiro CLI (and Amazon Q Developer CLI): lower camelCase event names and no
//! session id at all, so its sessions are per agent and directory.

use super::{Agent, DOCUMENTED, Payload, event_name, has};
use crate::phase::Phase;

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
    guidance_dirs: &[".kiro/steering"],
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    const SESSION_KEYS: &[&str] = &["session_id", "conversation_id", "sessionId"];
    let name = event_name(p);
    name == "agentSpawn"
        || (matches!(name, "userPromptSubmit" | "preToolUse" | "postToolUse" | "stop")
            && !SESSION_KEYS.iter().any(|k| has(p, k)))
}
