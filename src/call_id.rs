//! Call ids for agents that send none (Cursor's shell and MCP hooks, Copilot
//! CLI, Gemini CLI, Factory Droid): the same in a call's before and after
//! events, because both carry the same session, turn, tool and input. Two
//! identical calls in one turn share it. A leaf: recognition derives the id
//! from a hook's payload, and the transcript readers (`agents`) derive it
//! again from the transcript's record of the same call, to match the two.

use crate::hash;
use serde_json::Value;

/// What identifies a tool call's input in both its before and after events.
pub const MATERIAL_KEYS: &[&str] = &["tool_input", "toolArgs", "command", "command_line", "parameters", "file_path"];
/// What identifies the turn a call belongs to, when the agent says.
pub const TURN_KEYS: &[&str] = &["generation_id", "turn_id", "turn-id", "prompt_id"];

/// The call id of a call to `tool` with input `material` (text as is, any
/// other JSON as written), in `turn` of `session` (empty when not said);
/// `None` when there is no input to identify it by.
pub fn derive(session: &str, turn: &str, tool: &str, material: &Value) -> Option<String> {
    let material = match material {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let digest = hash::hex_of_parts(&[session.as_bytes(), turn.as_bytes(), tool.as_bytes(), material.as_bytes()]);
    Some(format!("derived-{digest}"))
}
