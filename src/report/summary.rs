//! One line that says what an event was about, from its recorded (already
//! redacted) input: the command a tool ran, the file it read or wrote, the
//! prompt, the answer, the error. Every event gets one. The agents' payloads
//! differ in shape, so each phase looks for what matters in it, then for the
//! first telling field, then says the event's name: never raw JSON.

use crate::event::{Event, EventKind};
use crate::phase::Phase;
use crate::report::style::one_line;
use serde_json::{Map, Value};

/// Summaries are cut to this many characters.
pub const MAX: usize = 300;

/// Where the arguments of a tool call are, by agent: Claude, Codex, Gemini,
/// Cursor `tool_input`; Copilot `toolArgs` (`toolInput` in its permission
/// requests); Cline `parameters`; Windsurf `tool_info`.
const ARGS_KEYS: &[&str] = &["tool_input", "toolInput", "toolArgs", "parameters", "tool_info"];
/// What a call is about, most telling first.
const ARG_KEYS: &[&str] = &[
    "command",
    "command_line",
    "cmd",
    "file_path",
    "filePath",
    "notebook_path",
    "absolute_path",
    "path",
    "dir_path",
    "url",
    "query",
    "sql",
    "prompt",
    "description",
    "message",
    "result",
    "name",
];
/// Where a tool's result is.
const RESPONSE_KEYS: &[&str] = &["tool_response", "tool_output", "toolResult", "result_json", "tool_result", "output"];
/// The text of a result or a message object, most telling first (Gemini's
/// `returnDisplay` is what its user saw; `llmContent` what the model got).
const TEXT_KEYS: &[&str] = &[
    "error",
    "returnDisplay",
    "stdout",
    "stderr",
    "textResultForLlm",
    "llmContent",
    "output",
    "result",
    "response",
    "content",
    "text",
    "message",
    "summary",
];
const ERROR_KEYS: &[&str] = &["error", "error_message", "errorMessage", "message", "error_details"];
const PROMPT_KEYS: &[&str] = &["prompt", "text", "transformedPrompt", "initialPrompt", "input-messages", "delta"];
const ANSWER_KEYS: &[&str] = &[
    "last_assistant_message",
    "last-assistant-message",
    "prompt_response",
    "response",
    "summary",
    "text",
    "delta",
    "message",
];
/// What any other event is about, most telling first.
const ABOUT_KEYS: &[&str] = &[
    "error",
    "message",
    "last_assistant_message",
    "last-assistant-message",
    "prompt_response",
    "response",
    "summary",
    "compact_summary",
    "prompt",
    "text",
    "delta",
    "task_subject",
    "task",
    "description",
    "command",
    "file_path",
    "filePath",
    "path",
    "directory",
    "worktree_path",
    "name",
    "teammate_name",
    "agentName",
    "reason",
    "stopReason",
    "stop_reason",
    "status",
    "source",
    "trigger",
    "notification_type",
    "action",
];
/// Fields that never say what an event was about: ids, paths of the agent's
/// own files, versions, settings.
const NOISE_KEYS: &[&str] = &[
    "session_id",
    "sessionId",
    "conversation_id",
    "generation_id",
    "transcript_path",
    "transcriptPath",
    "agent_transcript_path",
    "cwd",
    "hook_event_name",
    "hookEventName",
    "hookName",
    "timestamp",
    "permission_mode",
    "prompt_id",
    "model_params",
    "cursor_version",
    "user_email",
    "thread_id",
    "thread-id",
    "turn_id",
    "turn-id",
    "request_id",
    "tool_use_id",
    "agent_id",
    "agentId",
    "parentAgentId",
    "type",
    "client",
    "id",
    "model",
    "model_id",
    "model_name",
];

pub fn summary(event: &Event) -> String {
    if event.kind == EventKind::Cost {
        return cost(event);
    }
    let payload = &event.payload;
    let input = &payload["input"];
    let said = match payload["input_error"].as_str() {
        Some(error) if input.is_null() => Some(format!("unreadable input: {error}")),
        _ => {
            let recorded = payload["phase"].as_str().map(|name| Phase::from_name(name).unwrap_or(Phase::Unknown));
            let phase = recorded.unwrap_or_else(|| phase_of_kind(event));
            by_phase(phase, input, &payload["subagent"]).or_else(|| other(input))
        }
    };
    let said = noted(payload["phase_note"].as_str(), said.unwrap_or_default());
    let said = one_line(&said, MAX);
    if said.is_empty() {
        return name_of(event);
    }
    if looks_like_json(&said) {
        // A field cut short by the field cap no longer parses: say whose it is.
        return one_line(&format!("{}: {said}", name_of(event)), MAX);
    }
    said
}

/// A model response: its model, tokens and price (`correction` when it only adds a difference).
fn cost(event: &Event) -> String {
    let n = |v: Option<u32>| crate::report::tokens(u64::from(v.unwrap_or(0)));
    let model = event.payload["model"].as_str().unwrap_or("unknown model");
    let price = event.cost_usd_e6.map_or_else(|| "no known price".to_string(), crate::report::usd);
    let correction = if event.payload["correction"] == true { "correction: " } else { "" };
    let cache = match (event.cache_read_tokens.unwrap_or(0), event.cache_creation_tokens.unwrap_or(0)) {
        (0, 0) => String::new(),
        (read, written) => format!(" (cache {} read, {} written)", n(Some(read)), n(Some(written))),
    };
    format!("{correction}{model}: {} in{cache}, {} out, {price}", n(event.tokens_in), n(event.tokens_out))
}

/// Events recorded before `payload.phase` existed.
fn phase_of_kind(event: &Event) -> Phase {
    match (&event.kind, &event.tool) {
        (EventKind::ToolCall, _) => Phase::ToolCall,
        (EventKind::ToolResult, _) => Phase::ToolResult,
        (EventKind::Error, Some(_)) => Phase::ToolFailure,
        (EventKind::Error, None) => Phase::Failure,
        (EventKind::Message, _) => Phase::Prompt,
        _ => Phase::Other,
    }
}

fn by_phase(phase: Phase, input: &Value, subagent: &Value) -> Option<String> {
    match phase {
        Phase::ToolCall => tool_call(input),
        Phase::ToolResult => tool_result(input),
        Phase::ToolFailure => first_text(input, ERROR_KEYS).or_else(|| tool_result(input)),
        Phase::Prompt => first_text(input, PROMPT_KEYS),
        Phase::AgentOutput | Phase::TurnEnd => first_text(input, ANSWER_KEYS),
        Phase::TurnFailure | Phase::Failure => failure(input),
        Phase::SessionStart => session_start(input),
        Phase::SessionEnd => joined(input, &[&["reason"], &["final_status"]]),
        Phase::SubagentStart => subagent_event(input, subagent, &["task", "description", "prompt"]),
        Phase::SubagentStop => {
            subagent_event(input, subagent, &["last_assistant_message", "response", "summary", "status"])
        }
        Phase::Waiting | Phase::Other | Phase::Unknown => None,
    }
}

/// Why the phase is not what the event's name says, before what it says.
fn noted(note: Option<&str>, said: String) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        None => said,
        Some(note) if said.trim().is_empty() => note.to_string(),
        Some(note) if said.to_lowercase().contains(&note.to_lowercase()) => said,
        Some(note) => format!("{note}: {said}"),
    }
}

fn name_of(event: &Event) -> String {
    let name = event.payload["type"].as_str().filter(|t| !t.is_empty() && *t != "unknown");
    name.or(event.tool.as_deref()).unwrap_or("event").replace('_', " ")
}

fn looks_like_json(text: &str) -> bool {
    ["{\"", "{}", "[{", "[\"", "[]", "[["].iter().any(|p| text.starts_with(p)) || parse_json(text).is_some()
}

fn tool_call(input: &Value) -> Option<String> {
    describe_args(&args(input))
}

/// The call's arguments (a JSON string is read), or the whole input for
/// agents that send them at the top level (Cursor's `command`, `file_path`).
fn args(input: &Value) -> Value {
    match ARGS_KEYS.iter().find_map(|k| input.get(*k).filter(|v| !v.is_null())) {
        Some(Value::String(s)) => parse_json(s).unwrap_or_else(|| Value::String(s.clone())),
        Some(v) => v.clone(),
        None => input.clone(),
    }
}

fn describe_args(args: &Value) -> Option<String> {
    let Value::Object(map) = args else { return describe(args) };
    agent_task(map)
        .or_else(|| search(map))
        .or_else(|| first_text(args, ARG_KEYS))
        .or_else(|| count(map, "todos", "todo"))
        .or_else(|| any_field(args))
}

/// A call that starts a subagent (Claude `Agent`, Copilot `task`, Gemini
/// `invoke_agent`): its kind and its task.
fn agent_task(map: &Map<String, Value>) -> Option<String> {
    let kind = text_at(map, &["subagent_type", "agent_type", "agent_name"])?;
    let task = text_at(map, &["description", "prompt"]);
    Some(task.map_or_else(|| kind.clone(), |task| format!("{kind}: {task}")))
}

fn search(map: &Map<String, Value>) -> Option<String> {
    let pattern = text_at(map, &["pattern", "regex", "glob"])?;
    Some(match text_at(map, &["path", "dir_path", "directory"]) {
        Some(path) => format!("{pattern} in {path}"),
        None => pattern,
    })
}

fn tool_result(input: &Value) -> Option<String> {
    let response = RESPONSE_KEYS.iter().find_map(|k| input.get(*k).filter(|v| !v.is_null()));
    let Some(response) = response else { return edits(input).or_else(|| tool_call(input)) };
    describe(response).or_else(|| tool_call(input).map(|target| format!("{target}: no output")))
}

/// Cursor's file edits: the file and how many edits, not their text.
fn edits(input: &Value) -> Option<String> {
    let n = input.get("edits")?.as_array()?.len();
    let path = input.get("file_path").and_then(Value::as_str).unwrap_or("a file");
    Some(format!("{path}: {}", plural(n, "edit")))
}

/// What a value says, whatever its shape: text as it is (JSON text is
/// read), a list of message parts joined, an object by the shapes tools
/// answer with, then by its text fields, then by its first telling field.
fn describe(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => match parse_json(s) {
            Some(parsed) => describe(&parsed),
            None => Some(s.trim()).filter(|s| !s.is_empty()).map(String::from),
        },
        Value::Array(items) => parts(items),
        Value::Object(map) => file_outcome(map)
            .or_else(|| listing(map))
            .or_else(|| first_text(value, TEXT_KEYS))
            .or_else(|| any_field(value)),
        _ => None,
    }
}

/// `[{"type": "text", "text": "..."}, ...]` or `["...", ...]`.
fn parts(items: &[Value]) -> Option<String> {
    let texts: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            Value::String(_) => describe(item),
            Value::Object(_) => first_text(item, &["text", "content", "message"]),
            _ => None,
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join(" "))
}

/// Claude Code's file tools: `Read` answers `{file: {filePath, numLines}}`,
/// `Write` and `Edit` `{filePath, type, oldString, structuredPatch...}`.
fn file_outcome(map: &Map<String, Value>) -> Option<String> {
    if let Some(Value::Object(file)) = map.get("file") {
        let path = text_at(file, &["filePath", "file_path", "path"])?;
        return Some(match file.get("numLines").and_then(Value::as_u64) {
            Some(n) => format!("{path} ({n} lines)"),
            None => path,
        });
    }
    let path = text_at(map, &["filePath"])?;
    let done = match map.get("type").and_then(Value::as_str) {
        Some("create") => "created",
        Some("update") => "rewritten",
        _ if map.contains_key("oldString") || map.contains_key("structuredPatch") => "edited",
        _ => return Some(path),
    };
    Some(format!("{path} ({done})"))
}

/// Search and list results: how many, and the first few names.
fn listing(map: &Map<String, Value>) -> Option<String> {
    if let Some(todos) = count(map, "newTodos", "todo") {
        return Some(todos);
    }
    let names = map.get("filenames")?.as_array()?;
    let n = map.get("numFiles").and_then(Value::as_u64).unwrap_or(names.len() as u64);
    let first: Vec<&str> = names.iter().filter_map(Value::as_str).take(3).collect();
    let more = if n as usize > first.len() { ", …" } else { "" };
    Some(format!("{}: {}{more}", plural(n as usize, "file"), first.join(", ")).trim_end_matches(": ").into())
}

fn count(map: &Map<String, Value>, key: &str, what: &str) -> Option<String> {
    Some(plural(map.get(key)?.as_array()?.len(), what))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn failure(input: &Value) -> Option<String> {
    let context = text_at_value(input, &["errorContext", "error_context"]);
    let error = first_text(input, ERROR_KEYS);
    let more = first_text(input, &["error_details", "last_assistant_message"]).filter(|m| Some(m) != error.as_ref());
    let said: Vec<String> = [context, error, more].into_iter().flatten().collect();
    (!said.is_empty()).then(|| said.join(": "))
}

fn session_start(input: &Value) -> Option<String> {
    let how = joined(input, &[&["source", "composer_mode"], &["model", "model_id"]]);
    match (how, text_at_value(input, &["initialPrompt"])) {
        (Some(how), Some(prompt)) => Some(format!("{how}: {prompt}")),
        (how, prompt) => how.or(prompt),
    }
}

/// `general-purpose a223ee1a: what it was asked, or what it answered`.
fn subagent_event(input: &Value, subagent: &Value, said: &[&str]) -> Option<String> {
    let kind = subagent["type"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(String::from)
        .or_else(|| text_at_value(input, &["agentName", "agent_type", "agentType", "subagent_type"]));
    let id = subagent["id"]
        .as_str()
        .map(String::from)
        .or_else(|| text_at_value(input, &["agent_id", "agentId", "subagent_id"]))
        .map(|id| id.chars().take(8).collect::<String>());
    let what = first_text(input, said).or_else(|| first_text(input, &["task", "description", "stopReason"]));
    let who = [kind, id].into_iter().flatten().collect::<Vec<_>>().join(" ");
    match (who.is_empty(), what) {
        (true, what) => what,
        (false, Some(what)) => Some(format!("{who}: {what}")),
        (false, None) => Some(who),
    }
}

/// Any other event: a permission asked for a tool call, a model request, a
/// batch of calls, a move, then its most telling field.
fn other(input: &Value) -> Option<String> {
    tool_request(input)
        .or_else(|| model_call(input))
        .or_else(|| batch(input))
        .or_else(|| moved(input))
        .or_else(|| first_text(input, ABOUT_KEYS))
        .or_else(|| any_field(input))
}

/// A permission request or denial: `Bash: git push (Blocked by classifier)`.
fn tool_request(input: &Value) -> Option<String> {
    let tool = text_at_value(input, &["tool_name", "toolName"])?;
    let target = ARGS_KEYS.iter().find_map(|k| input.get(*k)).map(|_| describe_args(&args(input)));
    let said = match target.flatten() {
        Some(target) => format!("{tool}: {target}"),
        None => tool,
    };
    Some(match text_at_value(input, &["reason", "message"]) {
        Some(reason) => format!("{said} ({reason})"),
        None => said,
    })
}

/// Gemini's Before/AfterModel and BeforeToolSelection; Codex's
/// Pre/PostModelRequest: the model, the answer, the tokens, the error.
fn model_call(input: &Value) -> Option<String> {
    if let Some(request) = input.get("llm_request") {
        let response = &input["llm_response"];
        let messages = request["messages"].as_array().map(|m| plural(m.len(), "message"));
        let answer = response["candidates"][0]["content"]["parts"].as_array().and_then(|p| parts(p));
        let said: Vec<String> = [
            request["model"].as_str().map(String::from),
            if response.is_null() { messages } else { answer },
            response["candidates"][0]["finishReason"].as_str().map(String::from),
            tokens(&response["usageMetadata"], "promptTokenCount", "candidatesTokenCount"),
        ]
        .into_iter()
        .flatten()
        .collect();
        return Some(if said.is_empty() { "model request".into() } else { said.join(", ") });
    }
    input.get("request_id")?;
    let attempt = input["attempt_number"].as_u64().filter(|n| *n > 1).map(|n| format!("attempt {n}"));
    let said: Vec<String> = [
        text_at_value(input, &["kind"]),
        text_at_value(input, &["status"]),
        first_text(input, &["error"]),
        tokens(&input["token_usage"], "input_tokens", "output_tokens"),
        attempt,
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(if said.is_empty() { "model request".into() } else { said.join(", ") })
}

fn tokens(usage: &Value, input: &str, output: &str) -> Option<String> {
    let tokens_in = usage[input].as_u64()?;
    Some(match usage[output].as_u64() {
        Some(out) => format!("{tokens_in} tokens in, {out} out"),
        None => format!("{tokens_in} tokens in"),
    })
}

/// Claude's PostToolBatch: `2 tool calls: Read, Read`.
fn batch(input: &Value) -> Option<String> {
    let calls = input.get("tool_calls")?.as_array()?;
    let tools: Vec<&str> = calls.iter().filter_map(|c| c["tool_name"].as_str().or(c["toolName"].as_str())).collect();
    Some(format!("{}: {}", plural(calls.len(), "tool call"), tools.join(", ")).trim_end_matches(": ").into())
}

fn moved(input: &Value) -> Option<String> {
    let from = input.get("old_cwd")?.as_str()?;
    Some(format!("{from} → {}", input.get("new_cwd").and_then(Value::as_str).unwrap_or("?")))
}

/// The first of `keys` that says something.
fn first_text(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| value.get(*k).and_then(describe))
}

fn text_at(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| map.get(*k)?.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn text_at_value(value: &Value, keys: &[&str]) -> Option<String> {
    value.as_object().and_then(|map| text_at(map, keys))
}

/// The first text of each group of keys, each said once: `resume, gpt-5.5`.
fn joined(value: &Value, groups: &[&[&str]]) -> Option<String> {
    let map = value.as_object()?;
    let mut said: Vec<String> = Vec::new();
    for text in groups.iter().filter_map(|keys| text_at(map, keys)) {
        if !said.contains(&text) {
            said.push(text);
        }
    }
    (!said.is_empty()).then(|| said.join(", "))
}

/// The first field with some text, not an id or a setting: `sql: SELECT 1`;
/// nested objects are looked into (Codex's `{"status": {"<id>": {"completed": "..."}}}`).
fn any_field(value: &Value) -> Option<String> {
    leaf(value, 3)
}

fn leaf(value: &Value, depth: u8) -> Option<String> {
    value.as_object()?.iter().filter(|(k, _)| !NOISE_KEYS.contains(&k.as_str())).find_map(|(k, v)| {
        let text = match v {
            Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty() && parse_json(s).is_none()).map(String::from),
            Value::Array(items) => items.iter().find_map(Value::as_str).filter(|s| !s.is_empty()).map(String::from),
            Value::Object(_) if depth > 1 => return leaf(v, depth - 1),
            _ => None,
        };
        text.map(|t| format!("{k}: {t}"))
    })
}

/// JSON text holding an object or a list, read.
fn parse_json(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Value>(trimmed).ok().filter(|v| v.is_object() || v.is_array())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventSource;
    use crate::phase::Phase;
    use crate::store::line::new_event;
    use serde_json::json;

    fn event(kind: EventKind, tool: Option<&str>, payload: Value) -> Event {
        let blank = new_event("s", kind, EventSource::Hook, 0, "", Phase::Other);
        Event { tool: tool.map(String::from), payload, ..blank }
    }

    #[test]
    fn events_recorded_before_phases_are_summarised_by_their_kind() {
        let failed =
            json!({"type": "post_tool_use_failure", "input": {"error": "boom", "tool_input": {"command": "x"}}});
        assert_eq!(summary(&event(EventKind::Error, Some("Bash"), failed)), "boom");
        let call = json!({"type": "pre_tool_use", "input": {"tool_input": {"command": "ls -la"}}});
        assert_eq!(summary(&event(EventKind::ToolCall, Some("Bash"), call)), "ls -la");
    }

    #[test]
    fn a_note_comes_first_once() {
        assert_eq!(noted(Some("exit code 2"), "oops".into()), "exit code 2: oops");
        assert_eq!(noted(Some("exit code 2"), "failed with Exit Code 2".into()), "failed with Exit Code 2");
        assert_eq!(noted(Some("exit code 2"), String::new()), "exit code 2");
        assert_eq!(noted(None, "oops".into()), "oops");
    }

    #[test]
    fn nothing_said_falls_back_to_the_name_and_json_is_never_shown_raw() {
        let bare = json!({"type": "interrupt", "phase": "turn_end", "input": {"hook_event_name": "Interrupt"}});
        assert_eq!(summary(&event(EventKind::Lifecycle, None, bare)), "interrupt");
        // Cut by the field cap, the text no longer parses: it is said whose it is.
        let cut = json!({"type": "post_tool_use", "phase": "tool_result", "input": {"tool_response": "{\"a\": [1, 2"}});
        assert_eq!(summary(&event(EventKind::ToolResult, Some("Bash"), cut)), "post tool use: {\"a\": [1, 2");
        let unreadable = json!({"type": "unknown", "input": null, "input_error": "not JSON"});
        assert_eq!(summary(&event(EventKind::Hook, None, unreadable)), "unreadable input: not JSON");
    }

    #[test]
    fn message_parts_and_json_text_are_read() {
        let parts = json!([{"type": "text", "text": "one"}, {"type": "image"}, "two"]);
        assert_eq!(describe(&parts).as_deref(), Some("one two"));
        let wrapped = json!({"error": {"message": "{\"message\":\"Internal\",\"type\":\"server_error\"}"}});
        assert_eq!(describe(&wrapped).as_deref(), Some("Internal"));
        assert_eq!(describe(&json!({"filenames": [], "numFiles": 0})).as_deref(), Some("0 files"));
        assert_eq!(describe(&json!({"oldTodos": [], "newTodos": [{}, {}]})).as_deref(), Some("2 todos"));
        let waited = json!({"status": {"01a22a09": {"completed": "notes.txt has 3 lines."}}});
        assert_eq!(describe(&waited).as_deref(), Some("completed: notes.txt has 3 lines."));
    }
}
