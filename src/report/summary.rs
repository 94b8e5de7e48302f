//! One line that says what an event was about, from its recorded input:
//! the command a tool ran, the file it read, the prompt, the error.

use crate::event::{Event, EventKind};
use serde_json::Value;

const INPUT_KEYS: &[&str] =
    &["command", "command_line", "file_path", "filePath", "path", "pattern", "url", "query", "prompt", "description"];
const RESULT_KEYS: &[&str] = &["stdout", "textResultForLlm", "llmContent", "output", "result", "content"];
const ERROR_KEYS: &[&str] = &["error", "error_message", "message", "error_details"];
const TEXT_KEYS: &[&str] = &["prompt", "text", "prompt_response", "last_assistant_message", "last-assistant-message"];
const LIFECYCLE_KEYS: &[&str] =
    &["source", "reason", "last_assistant_message", "status", "trigger", "notification_type", "agent_type", "message"];

pub fn summary(event: &Event) -> String {
    let input = &event.payload["input"];
    let found = match event.kind {
        EventKind::ToolCall => tool_input(input),
        EventKind::ToolResult => tool_result(input),
        EventKind::Error => {
            first_text(input, ERROR_KEYS).or_else(|| input.get("error").and_then(|e| first_text(e, ERROR_KEYS)))
        }
        EventKind::Message => first_text(input, TEXT_KEYS),
        EventKind::Hook => event.payload["input_error"].as_str().map(|e| format!("unreadable input: {e}")),
        _ => first_text(input, LIFECYCLE_KEYS),
    };
    found.unwrap_or_default()
}

fn tool_input(input: &Value) -> Option<String> {
    let args = ["tool_input", "toolArgs", "parameters", "tool_info"].iter().find_map(|k| input.get(*k));
    let args = match args {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        Some(v) => v.clone(),
        None => input.clone(),
    };
    match &args {
        Value::String(s) => Some(s.clone()),
        _ => first_text(&args, INPUT_KEYS).or_else(|| (!args.is_null()).then(|| args.to_string())),
    }
}

fn tool_result(input: &Value) -> Option<String> {
    for key in ["tool_response", "tool_output", "toolResult", "result_json", "output", "edits"] {
        let Some(value) = input.get(key) else { continue };
        let value = match value {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
            v => v.clone(),
        };
        return match &value {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) => first_text(&value, RESULT_KEYS).or_else(|| Some(value.to_string())),
            other => Some(other.to_string()),
        };
    }
    tool_input(input)
}

fn first_text(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| value.get(*k).and_then(Value::as_str)).filter(|s| !s.trim().is_empty()).map(String::from)
}
