//! Which agent sent a payload. Each agent is one row: the payload shapes only
//! it sends, and the directory its transcripts live in. Adding an agent is
//! adding a row. Evidence beats the registered `--agent` flag because agents
//! run each other's hook files (Cursor and VS Code run `~/.claude/settings.json`).

use serde_json::{Map, Value};

type Payload = Map<String, Value>;

pub struct Agent {
    pub name: &'static str,
    /// True when the payload could only have come from this agent.
    pub evidence: fn(&Payload) -> bool,
    /// A path fragment found in this agent's transcript paths.
    pub transcript_marker: &'static str,
}

/// Most specific first: the first row whose evidence matches wins.
pub const AGENTS: &[Agent] = &[
    Agent { name: "windsurf", evidence: windsurf, transcript_marker: "/.windsurf/" },
    Agent { name: "cline", evidence: cline, transcript_marker: "/Cline/" },
    Agent { name: "cursor", evidence: cursor, transcript_marker: "/.cursor/" },
    Agent { name: "vscode", evidence: vscode, transcript_marker: "/Code/User/" },
    Agent { name: "copilot", evidence: copilot, transcript_marker: "/.copilot/" },
    Agent { name: "codex", evidence: codex, transcript_marker: "/.codex/" },
    Agent { name: "gemini", evidence: gemini, transcript_marker: "/.gemini/" },
    Agent { name: "qwen", evidence: qwen, transcript_marker: "/.qwen/" },
    Agent { name: "factory", evidence: never, transcript_marker: "/.factory/" },
    Agent { name: "kiro", evidence: kiro, transcript_marker: "/.kiro/" },
    Agent { name: "claude", evidence: never, transcript_marker: "/.claude/" },
];

/// The agent the payload itself proves, if any.
pub fn detect(payload: &Payload) -> Option<&'static str> {
    if let Some(agent) = AGENTS.iter().find(|a| (a.evidence)(payload)) {
        return Some(agent.name);
    }
    let transcript =
        ["transcript_path", "transcriptPath"].iter().find_map(|k| payload.get(*k).and_then(Value::as_str))?;
    AGENTS.iter().find(|a| transcript.contains(a.transcript_marker)).map(|a| a.name)
}

/// A registered `--agent` value, made safe to store and compare.
pub fn normalize_flag(flag: &str) -> Option<String> {
    let name: String = flag
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

fn has(p: &Payload, key: &str) -> bool {
    p.contains_key(key)
}

fn event_name(p: &Payload) -> &str {
    p.get("hook_event_name").and_then(Value::as_str).unwrap_or("")
}

fn never(_: &Payload) -> bool {
    false
}

fn windsurf(p: &Payload) -> bool {
    has(p, "agent_action_name") || has(p, "trajectory_id")
}

fn cline(p: &Payload) -> bool {
    has(p, "clineVersion") || has(p, "hookName")
}

fn cursor(p: &Payload) -> bool {
    has(p, "cursor_version") || (has(p, "conversation_id") && has(p, "generation_id"))
}

fn vscode(p: &Payload) -> bool {
    has(p, "sessionId") && has(p, "hookEventName")
}

fn copilot(p: &Payload) -> bool {
    let camel_tool = has(p, "toolName") || has(p, "toolArgs");
    has(p, "sessionId") || (camel_tool && p.get("timestamp").is_some_and(Value::is_number))
}

fn codex(p: &Payload) -> bool {
    // `notify` payloads are kebab-case; hook payloads pair a turn id with the model.
    has(p, "thread-id") || (has(p, "turn_id") && has(p, "model") && !has(p, "message_id"))
}

fn gemini(p: &Payload) -> bool {
    const ONLY_GEMINI: &[&str] = &[
        "BeforeTool",
        "AfterTool",
        "BeforeAgent",
        "AfterAgent",
        "BeforeModel",
        "AfterModel",
        "BeforeToolSelection",
        "PreCompress",
    ];
    ONLY_GEMINI.contains(&event_name(p))
}

fn qwen(p: &Payload) -> bool {
    // Qwen's permission modes differ from Claude's.
    matches!(p.get("permission_mode").and_then(Value::as_str), Some("auto_edit" | "yolo"))
}

fn kiro(p: &Payload) -> bool {
    const SESSION_KEYS: &[&str] = &["session_id", "conversation_id", "sessionId"];
    let name = event_name(p);
    name == "agentSpawn"
        || (matches!(name, "userPromptSubmit" | "preToolUse" | "postToolUse" | "stop")
            && !SESSION_KEYS.iter().any(|k| has(p, k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detect_json(v: Value) -> Option<&'static str> {
        detect(v.as_object().unwrap())
    }

    #[test]
    fn evidence_identifies_each_agent() {
        assert_eq!(detect_json(json!({"conversation_id": "c", "generation_id": "g"})), Some("cursor"));
        assert_eq!(detect_json(json!({"session_id": "s", "cursor_version": "3.1"})), Some("cursor"));
        assert_eq!(detect_json(json!({"agent_action_name": "pre_run_command"})), Some("windsurf"));
        assert_eq!(detect_json(json!({"hookName": "PreToolUse", "taskId": "t"})), Some("cline"));
        assert_eq!(detect_json(json!({"sessionId": "s", "hookEventName": "Stop"})), Some("vscode"));
        assert_eq!(detect_json(json!({"sessionId": "s", "timestamp": 1})), Some("copilot"));
        assert_eq!(detect_json(json!({"thread-id": "t", "type": "agent-turn-complete"})), Some("codex"));
        assert_eq!(detect_json(json!({"session_id": "s", "turn_id": "t", "model": "gpt"})), Some("codex"));
        assert_eq!(detect_json(json!({"session_id": "s", "hook_event_name": "AfterTool"})), Some("gemini"));
        assert_eq!(detect_json(json!({"hook_event_name": "agentSpawn", "cwd": "/"})), Some("kiro"));
        assert_eq!(
            detect_json(json!({"session_id": "s", "transcript_path": "/h/.claude/projects/x/s.jsonl"})),
            Some("claude")
        );
    }

    #[test]
    fn no_evidence_leaves_it_to_the_flag() {
        assert_eq!(detect_json(json!({"session_id": "s", "hook_event_name": "Stop"})), None);
        assert_eq!(
            detect_json(json!({"session_id": "s", "turn_id": "t", "model": "m", "message_id": "x"})),
            None,
            "Claude's MessageDisplay carries a turn id too"
        );
    }

    #[test]
    fn flags_are_sanitized() {
        assert_eq!(normalize_flag(" Cursor "), Some("cursor".into()));
        assert_eq!(normalize_flag("../x"), Some("..x".into()));
        assert_eq!(normalize_flag("  "), None);
    }
}
