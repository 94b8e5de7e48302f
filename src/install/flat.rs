//! The flat hook format Cursor uses: `{"version": 1, "hooks": {event:
//! [{command, timeout}]}}`, one list of entries per event.

use super::{Registration, is_ours};
use serde_json::{Map, Value, json};

pub struct Flat {
    /// Agent event → kaizen-hook subcommand.
    pub events: &'static [(&'static str, &'static str)],
    /// The entry timeout, in seconds.
    pub timeout: u64,
}

impl Flat {
    pub fn register(&self, config: &mut Value, registration: &Registration, agent: &str) -> Result<(), String> {
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
        let hooks: &mut Map<String, Value> =
            hooks.as_object_mut().ok_or("\"hooks\" is not an object: left untouched")?;
        for (event, _) in self.events {
            if !matches!(hooks.get(*event), None | Some(Value::Null | Value::Array(_))) {
                return Err(format!("\"hooks.{event}\" is not a list: left untouched"));
            }
        }
        for (event, subcommand) in self.events {
            let command = registration.command(subcommand, agent);
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
                entry["timeout"] = json!(self.timeout);
                true
            });
            if !found {
                entries.push(json!({"command": command, "timeout": self.timeout}));
            }
        }
        Ok(())
    }
}

fn entry_is_ours(entry: &Value) -> bool {
    entry.get("command").and_then(Value::as_str).is_some_and(is_ours)
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
            entries.as_array().into_iter().flatten().filter_map(move |entry| {
                let command = entry.get("command").and_then(Value::as_str).filter(|c| is_ours(c))?;
                Some((event.clone(), command.to_string()))
            })
        })
        .collect()
}
