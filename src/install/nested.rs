//! The hook format Claude Code introduced and Codex and Gemini CLI share:
//! `hooks` → event → matcher groups → handlers `{type, command, timeout}`.
//! An agent using it is a table of events and a timeout.

use super::{Registration, is_ours};
use crate::phase::{Category, normalize};
use serde_json::{Map, Value, json};

pub struct Nested {
    /// Agent event → kaizen-hook subcommand.
    pub events: &'static [(&'static str, Category)],
    /// The handler timeout, in the agent's own unit (seconds or milliseconds).
    pub timeout: u64,
    /// Events the agent allows less time, with the timeout they get instead.
    pub short: &'static [(&'static str, u64)],
}

impl Nested {
    pub fn register(&self, settings: &mut Value, registration: &Registration, agent: &str) -> Result<(), String> {
        // OpenHands also reads its events at the top level (`{"stop": [...]}`)
        // and then ignores them once a `hooks` object is there: adding one
        // would silently turn the user's hooks off.
        if settings.get("hooks").is_none()
            && let Some(key) = settings.as_object().and_then(|root| {
                root.keys().find(|key| self.events.iter().any(|(event, _)| normalize(event) == normalize(key)))
            })
        {
            return Err(format!(
                "\"{key}\" is a hook event outside \"hooks\": left untouched (move its events under \"hooks\", where the agent reads them the same, and install again)"
            ));
        }
        let hooks = hooks_of(settings)?;
        for (event, _) in self.events {
            if !matches!(hooks.get(*event), None | Some(Value::Null | Value::Array(_))) {
                return Err(format!("\"hooks.{event}\" is not a list: left untouched"));
            }
        }
        for (event, category) in self.events {
            let command = registration.command(category.subcommand(), agent);
            let timeout = self.short.iter().find(|(e, _)| e == event).map_or(self.timeout, |(_, t)| *t);
            let groups = hooks.entry(*event).or_insert_with(|| json!([]));
            if groups.is_null() {
                *groups = json!([]);
            }
            let groups = groups.as_array_mut().expect("checked above");
            let mut found = false;
            groups.retain_mut(|group| {
                let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else { return true };
                let before = handlers.len();
                handlers.retain_mut(|handler| {
                    if !handler_is_ours(handler) {
                        return true;
                    }
                    if found {
                        return false; // a duplicate of ours
                    }
                    found = true;
                    handler["type"] = json!("command");
                    handler["command"] = json!(command);
                    handler["timeout"] = json!(timeout);
                    true
                });
                // Drop a group only when removing a duplicate of ours emptied it.
                !(handlers.is_empty() && before > 0)
            });
            if !found {
                groups.push(json!({"hooks": [{"type": "command", "command": command, "timeout": timeout}]}));
            }
        }
        Ok(())
    }
}

fn hooks_of(settings: &mut Value) -> Result<&mut Map<String, Value>, String> {
    let root = settings.as_object_mut().ok_or("the settings are not a JSON object")?;
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    if hooks.is_null() {
        *hooks = json!({});
    }
    hooks.as_object_mut().ok_or_else(|| "\"hooks\" is not an object: left untouched".to_string())
}

fn handler_is_ours(handler: &Value) -> bool {
    handler.get("command").and_then(Value::as_str).is_some_and(is_ours)
}

pub fn unregister(settings: &mut Value) -> usize {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else { return 0 };
    let mut removed = 0;
    hooks.retain(|_, groups| {
        let Some(list) = groups.as_array_mut() else { return true };
        let before = removed;
        list.retain_mut(|group| {
            let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else { return true };
            let count = handlers.len();
            handlers.retain(|h| !handler_is_ours(h));
            removed += count - handlers.len();
            !(handlers.is_empty() && count > 0)
        });
        !(list.is_empty() && removed > before)
    });
    if removed > 0 && hooks.is_empty() {
        settings.as_object_mut().map(|root| root.remove("hooks"));
    }
    removed
}

pub fn registered(settings: &Value) -> Vec<(String, String)> {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else { return Vec::new() };
    let mut found = Vec::new();
    for (event, groups) in hooks {
        for group in groups.as_array().into_iter().flatten() {
            for handler in group.get("hooks").and_then(Value::as_array).into_iter().flatten() {
                if let Some(command) = handler.get("command").and_then(Value::as_str).filter(|c| is_ours(c)) {
                    found.push((event.clone(), command.to_string()));
                }
            }
        }
    }
    found
}
