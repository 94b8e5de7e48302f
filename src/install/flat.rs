//! The flat hook format: `{"version": 1, "hooks": {event: [entries]}}`, one
//! list of entries per event. Cursor's entries are `{command, timeout}`;
//! Copilot CLI's are `{type: "command", bash, timeoutSec}`, and its payloads
//! name no event, so each of its commands says `--event <event>`.

use super::{Registration, is_ours};
use crate::phase::Category;
use serde_json::{Map, Value, json};

pub struct Flat {
    /// Agent event → kaizen-hook subcommand.
    pub events: &'static [(&'static str, Category)],
    /// The entry timeout, in seconds.
    pub timeout: u64,
    /// How the agent spells an entry.
    pub entry: Entry,
}

/// The shape of one hook entry.
pub struct Entry {
    /// The key holding the command line: `command` (Cursor), `bash` (Copilot CLI).
    pub command: &'static str,
    /// The key holding the timeout in seconds: `timeout`, `timeoutSec`.
    pub timeout: &'static str,
    /// Whether each entry says `"type": "command"`.
    pub typed: bool,
    /// Whether each command names its event (`--event preToolUse`), for
    /// agents whose payloads carry no event name.
    pub names_event: bool,
}

/// Cursor's entries: `{command, timeout}`.
pub const CURSOR: Entry = Entry { command: "command", timeout: "timeout", typed: false, names_event: false };

/// Copilot CLI's entries: `{type: "command", bash, timeoutSec}`, each naming its event.
pub const COPILOT: Entry = Entry { command: "bash", timeout: "timeoutSec", typed: true, names_event: true };

/// Every key an entry of ours may hold its command under, whichever agent wrote it.
const COMMAND_KEYS: [&str; 2] = ["command", "bash"];

impl Flat {
    pub fn register(&self, config: &mut Value, registration: &Registration, agent: &str) -> Result<(), String> {
        let hooks = hooks_of(config)?;
        for (event, _) in self.events {
            if !matches!(hooks.get(*event), None | Some(Value::Null | Value::Array(_))) {
                return Err(format!("\"hooks.{event}\" is not a list: left untouched"));
            }
        }
        for (event, category) in self.events {
            let command = self.command(registration, category.subcommand(), agent, event);
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
                    return false; // a duplicate of ours
                }
                found = true;
                self.update(entry, &command);
                true
            });
            if !found {
                let mut entry = Value::Object(Map::new());
                self.update(&mut entry, &command);
                entries.push(entry);
            }
        }
        Ok(())
    }

    fn command(&self, registration: &Registration, subcommand: &str, agent: &str, event: &str) -> String {
        let command = registration.command(subcommand, agent);
        // Event names are the agents' own identifiers (`preToolUse`): no quoting needed.
        if self.entry.names_event { format!("{command} --event {event}") } else { command }
    }

    /// Makes `entry` ours as this agent spells it, keeping whatever else it holds.
    fn update(&self, entry: &mut Value, command: &str) {
        let Some(fields) = entry.as_object_mut() else { return };
        if self.entry.typed {
            fields.insert("type".into(), json!("command"));
        }
        // Ours under another agent's key would run a second, stale command.
        fields.retain(|key, value| {
            key == self.entry.command || !COMMAND_KEYS.contains(&key.as_str()) || !holds_ours(value)
        });
        fields.insert(self.entry.command.into(), json!(command));
        fields.insert(self.entry.timeout.into(), json!(self.timeout));
    }
}

fn hooks_of(config: &mut Value) -> Result<&mut Map<String, Value>, String> {
    let root = config.as_object_mut().ok_or("hooks.json is not a JSON object")?;
    if !root.contains_key("version") {
        // Required; put it first, where the agents' own examples have it.
        let rest = std::mem::take(root);
        root.insert("version".into(), json!(1));
        root.extend(rest);
    }
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    if hooks.is_null() {
        *hooks = json!({});
    }
    hooks.as_object_mut().ok_or_else(|| "\"hooks\" is not an object: left untouched".to_string())
}

fn holds_ours(value: &Value) -> bool {
    value.as_str().is_some_and(is_ours)
}

/// The command of ours an entry runs, under whichever key holds it.
fn our_command(entry: &Value) -> Option<&str> {
    COMMAND_KEYS.iter().filter_map(|key| entry.get(*key)?.as_str()).find(|c| is_ours(c))
}

fn entry_is_ours(entry: &Value) -> bool {
    our_command(entry).is_some()
}

pub fn unregister(config: &mut Value) -> usize {
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

pub fn registered(config: &Value) -> Vec<(String, String)> {
    let Some(hooks) = config.get("hooks").and_then(Value::as_object) else { return Vec::new() };
    hooks
        .iter()
        .flat_map(|(event, entries)| {
            entries
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |entry| Some((event.clone(), our_command(entry)?.to_string())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[(&str, Category)] = &[("preToolUse", Category::ToolUse)];

    fn flat(entry: Entry) -> Flat {
        Flat { events: EVENTS, timeout: 5, entry }
    }

    fn registration() -> Registration {
        Registration { binary: "/b/kaizen-hook".into() }
    }

    #[test]
    fn each_agent_gets_its_own_entry_shape() {
        let mut cursor = json!({});
        flat(CURSOR).register(&mut cursor, &registration(), "cursor").unwrap();
        assert_eq!(
            serde_json::to_string(&cursor).unwrap(),
            r#"{"version":1,"hooks":{"preToolUse":[{"command":"/b/kaizen-hook tool-use --agent cursor","timeout":5}]}}"#
        );
        let mut copilot = json!({});
        flat(COPILOT).register(&mut copilot, &registration(), "copilot").unwrap();
        assert_eq!(
            serde_json::to_string(&copilot["hooks"]["preToolUse"]).unwrap(),
            r#"[{"type":"command","bash":"/b/kaizen-hook tool-use --agent copilot --event preToolUse","timeoutSec":5}]"#
        );
    }

    #[test]
    fn ours_is_recognised_under_either_key_and_rewritten_in_the_agents_shape() {
        let mut config = json!({"hooks": {"preToolUse": [
            {"command": "/old/kaizen-hook tool-use --agent copilot", "cwd": "/x"},
            {"bash": "/old/kaizen-hook tool-use", "timeoutSec": 30},
            {"bash": "./mine.sh"}
        ]}});
        assert_eq!(registered(&config).len(), 2);
        flat(COPILOT).register(&mut config, &registration(), "copilot").unwrap();
        assert_eq!(
            config["hooks"]["preToolUse"],
            json!([
                {"cwd": "/x", "type": "command", "bash": "/b/kaizen-hook tool-use --agent copilot --event preToolUse", "timeoutSec": 5},
                {"bash": "./mine.sh"}
            ]),
            "the stale `command` is gone, the duplicate dropped, the other hook and field kept"
        );
        assert_eq!(unregister(&mut config), 1);
        assert_eq!(config["hooks"]["preToolUse"], json!([{"bash": "./mine.sh"}]));
    }
}
