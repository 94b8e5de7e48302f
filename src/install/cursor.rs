//! Cursor: `~/.cursor/hooks.json`, `{"version": 1, "hooks": {event: [entries]}}`.
//! Only the generic tool events (`preToolUse`/`postToolUse`/...): adding the
//! specific shell and MCP ones too would record each shell call twice.

use super::{Format, Registration, TIMEOUT_SECONDS, Target, is_ours};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

pub const EVENTS: &[(&str, &str)] = &[
    ("sessionStart", "session-start"),
    ("sessionEnd", "session-end"),
    ("beforeSubmitPrompt", "prompt"),
    ("preToolUse", "tool-use"),
    ("postToolUse", "tool-use"),
    ("postToolUseFailure", "tool-use"),
    ("subagentStart", "subagent"),
    ("subagentStop", "subagent"),
    ("stop", "stop"),
    ("preCompact", "event"),
    ("afterAgentResponse", "event"),
];

pub const TARGET: Target =
    Target { agent: "cursor", dir: config_dir, file: "hooks.json", format: Format::Cursor, note: None };

fn config_dir(home: &Path) -> PathBuf {
    home.join(".cursor")
}

pub(super) fn register(config: &mut Value, registration: &Registration) -> Result<(), String> {
    let root = config.as_object_mut().ok_or("hooks.json is not a JSON object")?;
    if !root.contains_key("version") {
        // Cursor requires it; put it first, where Cursor's own examples have it.
        let rest = std::mem::take(root);
        root.insert("version".into(), json!(1));
        root.extend(rest);
    }
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    if hooks.is_null() {
        *hooks = json!({});
    }
    let hooks: &mut Map<String, Value> = hooks.as_object_mut().ok_or("\"hooks\" is not an object: left untouched")?;
    for (event, _) in EVENTS {
        if !matches!(hooks.get(*event), None | Some(Value::Null | Value::Array(_))) {
            return Err(format!("\"hooks.{event}\" is not a list: left untouched"));
        }
    }
    for (event, subcommand) in EVENTS {
        let command = registration.command(subcommand, "cursor");
        let entries = hooks.entry(*event).or_insert_with(|| json!([]));
        if entries.is_null() {
            *entries = json!([]);
        }
        let entries = entries.as_array_mut().expect("checked above");
        let mut found = false;
        entries.retain_mut(|entry| {
            if !entry_is_ours(entry) {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            entry["command"] = json!(command);
            entry["timeout"] = json!(TIMEOUT_SECONDS);
            true
        });
        if !found {
            entries.push(json!({"command": command, "timeout": TIMEOUT_SECONDS}));
        }
    }
    Ok(())
}

fn entry_is_ours(entry: &Value) -> bool {
    entry.get("command").and_then(Value::as_str).is_some_and(is_ours)
}

pub(super) fn unregister(config: &mut Value) -> usize {
    let Some(hooks) = config.get_mut("hooks").and_then(Value::as_object_mut) else { return 0 };
    let mut removed = 0;
    hooks.retain(|_, entries| {
        let Some(list) = entries.as_array_mut() else { return true };
        let count = list.len();
        list.retain(|e| !entry_is_ours(e));
        removed += count - list.len();
        !(list.is_empty() && count > 0)
    });
    removed
}

pub(super) fn registered(config: &Value) -> Vec<(String, String)> {
    let Some(hooks) = config.get("hooks").and_then(Value::as_object) else { return Vec::new() };
    hooks
        .iter()
        .flat_map(|(event, entries)| {
            entries.as_array().into_iter().flatten().filter_map(move |entry| {
                let command = entry.get("command").and_then(Value::as_str).filter(|c| is_ours(c))?;
                Some((event.clone(), command.to_string()))
            })
        })
        .collect()
}

/// Whether `~/.cursor/hooks.json` has kaizen registered for `event`: then a
/// Cursor payload reaching our Claude Code entry (Cursor runs those too) is
/// already recorded by Cursor's own entry.
pub fn records_event(home: &Path, event: &str) -> bool {
    let Ok(bytes) = std::fs::read(TARGET.path(home)) else { return false };
    let Ok(config) = serde_json::from_slice::<Value>(&bytes) else { return false };
    registered(&config).iter().any(|(registered, _)| registered == event)
}
