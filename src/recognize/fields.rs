//! Looking fields up in a payload whatever the agent's spelling. A field is
//! searched at the top level, then in the places agents nest it: Windsurf's
//! `tool_info`, and Cline's object named after the event (`preToolUse: {...}`).

use serde_json::{Map, Value};

pub struct Fields<'a> {
    scopes: Vec<&'a Map<String, Value>>,
}

impl<'a> Fields<'a> {
    pub fn new(payload: &'a Map<String, Value>, event_name: Option<&str>) -> Fields<'a> {
        let mut scopes = vec![payload];
        if let Some(Value::Object(info)) = payload.get("tool_info") {
            scopes.push(info);
        }
        if let Some(name) = event_name {
            let mut chars = name.chars();
            let camel = chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default();
            if let Some(Value::Object(body)) = payload.get(&camel) {
                scopes.push(body);
            }
        }
        Fields { scopes }
    }

    /// The first of `keys` present (with a non-null value) in any scope.
    pub fn value(&self, keys: &[&str]) -> Option<&'a Value> {
        self.scopes.iter().find_map(|scope| keys.iter().find_map(|k| scope.get(*k).filter(|v| !v.is_null())))
    }

    /// A non-empty string (numbers are accepted and written out: some agents send numeric ids).
    pub fn text(&self, keys: &[&str]) -> Option<String> {
        self.scopes.iter().find_map(|scope| {
            keys.iter().find_map(|k| match scope.get(*k)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        })
    }

    /// The first string element of an array field (`workspace_roots`).
    pub fn first_of_list(&self, keys: &[&str]) -> Option<String> {
        match self.value(keys)? {
            Value::Array(items) => items.iter().find_map(Value::as_str).filter(|s| !s.is_empty()).map(String::from),
            _ => None,
        }
    }

    /// A non-negative duration in milliseconds that fits the event's `u32`.
    pub fn millis(&self, keys: &[&str]) -> Option<u32> {
        let n = self.value(keys)?.as_f64()?;
        (n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX)).then(|| n.round() as u32)
    }

    pub fn has_any(&self, keys: &[&str]) -> bool {
        self.value(keys).is_some()
    }
}
