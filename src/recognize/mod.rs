//! From a payload (and the flags it was registered with) to an `Observation`:
//! which agent, which session, which event, which tool. Pure: no I/O (what an
//! agent recorded elsewhere, such as Codex's rollout, is read by the pipeline
//! after recognition: `Agent::outcome`).

mod fields;

use crate::agents::{self, AgentId};
use crate::call_id;
use crate::phase::{Category, Phase, snake_case};
use fields::Fields;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy)]
pub struct Flags<'a> {
    pub category: Category,
    pub agent: Option<&'a str>,
    pub event: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subagent {
    pub id: String,
    /// What kind of subagent (`general-purpose`, `explore`...), when said.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub agent: AgentId,
    /// The `--agent` it was registered under, when the payload says otherwise.
    pub registered_agent: Option<AgentId>,
    /// The event name exactly as the payload sent it.
    pub sent_event_name: Option<String>,
    /// snake_case of the event name (sent, `--event`, or the subcommand's).
    pub event_type: String,
    pub phase: Phase,
    pub session_id: Option<String>,
    pub cwd: Option<String>,
    /// How `cwd` was found: `payload.cwd`, `payload.workspace_roots`...
    pub cwd_source: &'static str,
    pub tool: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_call_id_derived: bool,
    pub agent_duration_ms: Option<u32>,
    pub agent_ts_ms: Option<u64>,
    pub model: Option<String>,
    pub agent_version: Option<String>,
    pub transcript_path: Option<String>,
    pub parent_session_id: Option<String>,
    pub stop_reason: Option<String>,
    /// Why `phase` is not what the event's name says (a failed "successful"
    /// result, a compaction that looks like a subagent).
    pub phase_note: Option<String>,
    /// The subagent this event comes from or is about.
    pub subagent: Option<Subagent>,
    /// Known fields that were present but unusable (wrong type, bad timestamp).
    pub problems: Vec<String>,
}

/// OpenHands names its event `event_type`.
const EVENT_NAME_KEYS: &[&str] = &["hook_event_name", "hookEventName", "agent_action_name", "hookName", "event_type"];
const SESSION_KEYS: &[&str] =
    &["conversation_id", "session_id", "sessionId", "trajectory_id", "taskId", "thread-id", "thread_id", "threadId"];
const SUBAGENT_ID_KEYS: &[&str] = &["agent_id", "agentId"];
const TOOL_KEYS: &[&str] = &["tool_name", "toolName", "mcp_tool_name"];
const CALL_ID_KEYS: &[&str] = &["tool_use_id", "toolUseId", "tool_call_id", "toolCallId", "call_id", "callId"];
/// Windsurf's id of one action: a call id only when the action is a tool call.
const ACTION_ID_KEYS: &[&str] = &["execution_id"];
const DURATION_KEYS: &[&str] = &["duration_ms", "duration", "durationMs", "executionTimeMs"];
const RESULT_KEYS: &[&str] = &["toolResult", "tool_response", "tool_output", "output", "result_json", "result"];
const FAILURE_KEYS: &[&str] = &["error", "error_message"];
const SUBAGENT_STOP_KEYS: &[&str] =
    &["response", "stopReason", "stop_reason", "last_assistant_message", "agent_transcript_path", "summary", "status"];

pub fn recognize(payload: Option<&Map<String, Value>>, flags: Flags) -> Observation {
    let empty = Map::new();
    let p = payload.unwrap_or(&empty);
    let (agent, registered_agent) = identify(p, flags.agent);
    let sent_event_name = sent_event_name(p);
    let named = sent_event_name.as_deref().or(flags.event.filter(|e| !e.is_empty()));
    let f = Fields::new(p, named);
    let (event_name, phase) = match (named, payload) {
        // Input that is not a JSON object says nothing we can trust: a Hook event.
        (_, None) => (named.map(String::from), Phase::Unknown),
        (Some(name), Some(_)) => (Some(name.to_string()), agents::phase_of(agent.known(), name)),
        (None, Some(_)) => by_category(flags.category, &f),
    };
    // From the name as it will be recorded: a secret in it, once snake_cased,
    // would no longer look like one to the redaction.
    let event_type =
        event_name.as_deref().map_or_else(|| "unknown".into(), |name| snake_case(&crate::redact::redact(name)));
    let subagent = subagent(&f);
    let (phase, phase_note) = reinterpreted(p, phase, agent.known(), subagent.is_some());
    let session_id = session(&f);
    let (cwd, cwd_source) = cwd(&f);
    let tool = tool(&f, phase, agent.known(), event_name.as_deref());
    let (tool_call_id, tool_call_id_derived) = call_id(&f, phase, session_id.as_deref(), tool.as_deref());
    let agent_duration_ms = match phase {
        Phase::ToolCall | Phase::ToolResult | Phase::ToolFailure => f.millis(DURATION_KEYS),
        _ => None,
    };
    // Droid's subagent names its caller in its SessionStart only (`calling_session_id`).
    let parent_session_id = f
        .text(&["parent_conversation_id", "parent_session_id", "parentSessionId", "calling_session_id"])
        .filter(|parent| Some(parent) != session_id.as_ref());
    Observation {
        problems: unusable_fields(p),
        agent,
        registered_agent,
        sent_event_name,
        event_type,
        phase,
        session_id,
        cwd,
        cwd_source,
        tool,
        tool_call_id,
        tool_call_id_derived,
        agent_duration_ms,
        agent_ts_ms: f.value(&["timestamp"]).and_then(crate::time::parse_timestamp),
        model: model(p, &f),
        agent_version: f.text(&["cursor_version", "clineVersion", "agent_version"]),
        transcript_path: f.text(&["transcript_path", "transcriptPath"]),
        parent_session_id,
        stop_reason: stop_reason(&f, phase),
        phase_note,
        subagent,
    }
}

/// The phase once the agent has had its say (a tool result that reports a
/// failure is a failure), with why it changed.
fn reinterpreted(
    p: &Map<String, Value>,
    phase: Phase,
    agent: Option<&'static agents::Agent>,
    subagent: bool,
) -> (Phase, Option<String>) {
    match agent.and_then(|known| (known.reinterpret)(p, phase)) {
        Some((phase, why)) => (phase, Some(why)),
        // A subagent's own start or end (Copilot CLI sends them) is not the session's.
        None if subagent && Phase::BOUNDARIES.contains(&phase) => {
            (Phase::Other, Some(format!("the subagent's own {}", phase.name())))
        }
        None => (phase, None),
    }
}

/// The event's name as the payload gives it (Codex's `notify` names it `type`).
fn sent_event_name(p: &Map<String, Value>) -> Option<String> {
    EVENT_NAME_KEYS
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
        .or_else(|| p.contains_key("thread-id").then(|| p.get("type").and_then(Value::as_str)).flatten())
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Where the event happened, and which field said so.
fn cwd(f: &Fields) -> (Option<String>, &'static str) {
    if let Some(cwd) = f.text(&["cwd"]) {
        return (Some(cwd), "payload.cwd");
    }
    if let Some(root) = f.first_of_list(&["workspace_roots", "workspaceRoots"]) {
        return (Some(root), "payload.workspace_roots");
    }
    // OpenHands's.
    match f.text(&["working_dir"]) {
        Some(dir) => (Some(dir), "payload.working_dir"),
        None => (None, "process"),
    }
}

/// The tool: named by the payload, by the event's own object (Cline 3.x:
/// `tool_call: {id, name}`), or implied by the event's name.
fn tool(f: &Fields, phase: Phase, agent: Option<&'static agents::Agent>, event_name: Option<&str>) -> Option<String> {
    f.text(TOOL_KEYS)
        .or_else(|| phase.is_tool().then(|| f.own_text("name")).flatten())
        .or_else(|| agents::implied_tool(agent, event_name?).map(String::from))
}

/// The agent the payload proves, else the one it was registered for, else
/// Claude Code for its shape (the common ancestor of most agents' hooks);
/// and the registered one too when the two differ.
fn identify(p: &Map<String, Value>, flag: Option<&str>) -> (AgentId, Option<AgentId>) {
    let registered = flag.and_then(AgentId::from_flag);
    let agent = match (agents::detect(p), &registered) {
        (Some(detected), _) => AgentId::Known(detected),
        (None, Some(registered)) => registered.clone(),
        (None, None) if p.contains_key("session_id") && p.contains_key("hook_event_name") => {
            AgentId::Known(agents::CLAUDE_SHAPED)
        }
        (None, None) => AgentId::Unknown,
    };
    let registered = registered.filter(|r| *r != agent);
    (agent, registered)
}

/// The payload's call id; for agents that send none, one derived from the call itself.
fn call_id(f: &Fields, phase: Phase, session: Option<&str>, tool: Option<&str>) -> (Option<String>, bool) {
    let sent = f
        .text(CALL_ID_KEYS)
        .or_else(|| phase.is_tool().then(|| f.text(ACTION_ID_KEYS).or_else(|| f.own_text("id"))).flatten());
    match sent {
        Some(id) => (Some(id), false),
        None if phase.is_tool() => {
            let derived = derive_call_id(f, session, tool);
            let is_derived = derived.is_some();
            (derived, is_derived)
        }
        None => (None, false),
    }
}

/// A subagent's events carry its id (and type). Claude Code and Codex file
/// them under the parent's session id; Copilot CLI under the subagent's own,
/// naming the parent in `parentAgentId`: they go to the parent's session.
fn subagent(f: &Fields) -> Option<Subagent> {
    // Cline names its root agent too, with `parent_agent_id: null`: not a subagent.
    if f.has_key("parent_agent_id") && f.value(&["parent_agent_id"]).is_none() {
        return None;
    }
    let id = f.text(SUBAGENT_ID_KEYS)?;
    Some(Subagent { id, kind: f.text(&["agent_type", "agentType"]) })
}

fn session(f: &Fields) -> Option<String> {
    // Cline's own session (what `cline --id` takes); its `taskId` is one run inside it.
    let own = f.nested_text("sessionContext", "rootSessionId").or_else(|| f.text(SESSION_KEYS));
    match (f.text(SUBAGENT_ID_KEYS), f.text(&["parentAgentId"])) {
        (Some(sub), Some(parent)) if own.as_ref() == Some(&sub) && parent != sub => Some(parent),
        _ => own,
    }
}

fn stop_reason(f: &Fields, phase: Phase) -> Option<String> {
    f.text(&["stop_reason", "stopReason"]).or_else(|| match phase {
        Phase::TurnEnd => f.text(&["status"]),
        Phase::SessionEnd => f.text(&["reason"]),
        Phase::TurnFailure => f.text(&["error"]),
        _ => None,
    })
}

fn model(p: &Map<String, Value>, f: &Fields) -> Option<String> {
    f.text(&["model", "model_name", "modelName"]).or_else(|| {
        let request = p.get("llm_request")?.as_object()?;
        request.get("model")?.as_str().map(String::from)
    })
}

/// Fields we rely on that hold something other than text or a number.
fn unusable_fields(p: &Map<String, Value>) -> Vec<String> {
    const CHECKED: &[&str] = &["cwd", "tool_name", "tool_use_id", "transcript_path", "model"];
    let mut problems: Vec<String> = SESSION_KEYS
        .iter()
        .chain(EVENT_NAME_KEYS)
        .chain(CHECKED)
        .filter_map(|k| match p.get(*k)? {
            Value::String(_) | Value::Number(_) | Value::Null => None,
            other => Some(format!("field {k} ignored: {} is not text", type_name(other))),
        })
        .collect();
    if let Some(ts) = p.get("timestamp").filter(|ts| crate::time::parse_timestamp(ts).is_none()) {
        problems.push(format!("field timestamp ignored: {} is not a time", type_name(ts)));
    }
    problems
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The event a subcommand stands for when the payload names none (Copilot
/// CLI's camelCase payloads): the payload's shape tells before from after.
fn by_category(category: Category, f: &Fields) -> (Option<String>, Phase) {
    let (name, phase) = match category {
        Category::SessionStart => ("SessionStart", Phase::SessionStart),
        Category::SessionEnd => ("SessionEnd", Phase::SessionEnd),
        Category::Prompt => ("UserPromptSubmit", Phase::Prompt),
        Category::Stop => ("Stop", Phase::TurnEnd),
        Category::ToolUse if f.has_any(FAILURE_KEYS) => ("PostToolUseFailure", Phase::ToolFailure),
        Category::ToolUse if f.has_any(RESULT_KEYS) => ("PostToolUse", Phase::ToolResult),
        Category::ToolUse => ("PreToolUse", Phase::ToolCall),
        Category::Subagent if f.has_any(SUBAGENT_STOP_KEYS) => ("SubagentStop", Phase::SubagentStop),
        Category::Subagent => ("SubagentStart", Phase::SubagentStart),
        Category::Event => return (None, Phase::Unknown),
    };
    (Some(name.to_string()), phase)
}

/// A call id for agents that send none, from the call's turn and input.
fn derive_call_id(f: &Fields, session: Option<&str>, tool: Option<&str>) -> Option<String> {
    let material = f.value(call_id::MATERIAL_KEYS)?;
    let turn = f.text(call_id::TURN_KEYS).unwrap_or_default();
    call_id::derive(session.unwrap_or(""), &turn, tool.unwrap_or(""), material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observe(v: Value, category: Category, agent: Option<&str>, event: Option<&str>) -> Observation {
        recognize(v.as_object(), Flags { category, agent, event })
    }

    #[test]
    fn subcommand_words_and_categories_round_trip() {
        let words = Category::ALL.map(Category::subcommand);
        assert_eq!(words, ["session-start", "session-end", "prompt", "tool-use", "stop", "subagent", "event"]);
        for category in Category::ALL {
            assert_eq!(Category::from_subcommand(category.subcommand()), Some(category));
        }
        for word in ["", "install", "Stop", "tool_use", "session-start ", "help"] {
            assert_eq!(Category::from_subcommand(word), None, "{word:?}");
        }
    }

    #[test]
    fn payload_evidence_beats_the_flag_and_both_are_kept() {
        let o = observe(
            json!({"conversation_id": "c1", "generation_id": "g", "hook_event_name": "preToolUse", "tool_name": "Shell", "tool_use_id": "t1"}),
            Category::ToolUse,
            Some("claude"),
            None,
        );
        assert_eq!(o.agent.name(), "cursor");
        assert_eq!(o.registered_agent.as_ref().map(AgentId::name), Some("claude"));
        assert_eq!(o.session_id.as_deref(), Some("c1"));
        assert_eq!(o.phase, Phase::ToolCall);
        assert_eq!(o.tool_call_id.as_deref(), Some("t1"));
    }

    #[test]
    fn camel_case_payloads_take_the_event_from_the_flag_or_their_shape() {
        let pre = json!({"sessionId": "s", "timestamp": 1_787_307_342_123u64, "toolName": "bash", "toolArgs": "{\"command\":\"ls\"}"});
        let mut post = pre.clone();
        post["toolResult"] = json!({"resultType": "success"});
        let a = observe(pre, Category::ToolUse, Some("copilot"), None);
        let b = observe(post.clone(), Category::ToolUse, Some("copilot"), None);
        assert_eq!((a.phase, b.phase), (Phase::ToolCall, Phase::ToolResult));
        assert_eq!(a.agent.name(), "copilot");
        assert!(a.tool_call_id_derived && a.tool_call_id == b.tool_call_id);
        assert_eq!(a.agent_ts_ms, Some(1_787_307_342_123));
        let flagged = observe(post, Category::Event, Some("copilot"), Some("postToolUse"));
        assert_eq!((flagged.phase, flagged.event_type.as_str()), (Phase::ToolResult, "post_tool_use"));
    }

    #[test]
    fn cursor_shell_pairs_share_a_derived_call_id() {
        let before = json!({"conversation_id": "c", "generation_id": "g1", "hook_event_name": "beforeShellExecution", "command": "ls"});
        let after = json!({"conversation_id": "c", "generation_id": "g1", "hook_event_name": "afterShellExecution", "command": "ls", "output": "x", "duration": 41});
        let other_turn = json!({"conversation_id": "c", "generation_id": "g2", "hook_event_name": "beforeShellExecution", "command": "ls"});
        let (a, b, c) = (
            observe(before, Category::Event, None, None),
            observe(after, Category::Event, None, None),
            observe(other_turn, Category::Event, None, None),
        );
        assert_eq!(a.tool.as_deref(), Some("Shell"));
        assert_eq!(a.tool_call_id, b.tool_call_id);
        assert_ne!(a.tool_call_id, c.tool_call_id);
        assert_eq!(b.agent_duration_ms, Some(41));
    }

    #[test]
    fn transcript_readers_derive_the_call_id_their_pre_tool_hook_got() {
        // Gemini CLI's and Factory Droid's transcripts name a failed call by its
        // session, tool and input only: their readers derive its id with
        // `call_id::derive(session, "", tool, input)`, which must be this.
        let input = json!({"command": "rm -f notes.txt", "description": "denied by policy"});
        for (agent, event) in [("gemini", "BeforeTool"), ("factory", "PreToolUse")] {
            let payload = json!({"session_id": "s-1", "hook_event_name": event, "tool_name": "run_shell_command",
                "tool_input": input, "cwd": "/w", "timestamp": "2026-11-30T01:40:46.251Z"});
            let o = observe(payload, Category::ToolUse, Some(agent), Some(event));
            assert_eq!(o.agent.name(), agent);
            assert!(o.tool_call_id_derived);
            assert_eq!(o.tool_call_id, call_id::derive("s-1", "", "run_shell_command", &input), "{agent}");
        }
    }

    #[test]
    fn no_payload_at_all_is_still_an_observation() {
        let o = recognize(None, Flags { category: Category::Event, agent: Some("gemini"), event: None });
        assert_eq!((o.agent.name(), o.phase, o.session_id.as_deref()), ("gemini", Phase::Unknown, None));
        assert_eq!(o.event_type, "unknown");
    }

    #[test]
    fn wrong_types_are_ignored_not_trusted() {
        let o = observe(
            json!({"session_id": {"a": 1}, "hook_event_name": 7, "cwd": ["x"], "tool_name": null, "duration_ms": "slow"}),
            Category::ToolUse,
            None,
            None,
        );
        assert_eq!(o.session_id, None);
        assert_eq!(o.cwd, None);
        assert_eq!(o.tool, None);
        assert_eq!(o.phase, Phase::ToolCall);
    }

    #[test]
    fn windsurf_and_cline_nest_their_fields() {
        let w = observe(
            json!({"agent_action_name": "post_run_command", "trajectory_id": "t", "execution_id": "e1", "tool_info": {"command_line": "ls", "cwd": "/w"}}),
            Category::Event,
            None,
            None,
        );
        assert_eq!((w.agent.name(), w.phase), ("windsurf", Phase::ToolResult));
        assert_eq!(w.session_id.as_deref(), Some("t"));
        assert_eq!(w.tool_call_id.as_deref(), Some("e1"));
        assert_eq!(w.cwd.as_deref(), Some("/w"));
        assert_eq!(w.tool.as_deref(), Some("run_command"));
        let c = observe(
            json!({"hookName": "PostToolUse", "clineVersion": "3.4", "taskId": "k", "workspaceRoots": ["/r"], "postToolUse": {"toolName": "read_file", "executionTimeMs": 12}}),
            Category::Event,
            None,
            None,
        );
        assert_eq!((c.agent.name(), c.session_id.as_deref(), c.cwd.as_deref()), ("cline", Some("k"), Some("/r")));
        assert_eq!((c.tool.as_deref(), c.agent_duration_ms), (Some("read_file"), Some(12)));
    }
}
