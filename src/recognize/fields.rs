//! Looking fields up in a payload whatever the agent's spelling. A field is
//! searched at the top level, then in the places agents nest it: Windsurf's
//! `tool_info`, and Cline's object named after the event (`preToolUse: {...}`).

use serde_json::{Map, Value};

pub struct Fields<'a> {
    scopes: Vec<&'a Map<String, Value>>,
    /// The object named after the event (Cline's `tool_call: {id, name}`), if any.
    own: Option<&'a Map<String, Value>>,
}

impl<'a> Fields<'a> {
    pub fn new(payload: &'a Map<String, Value>, event_name: Option<&str>) -> Fields<'a> {
        let mut scopes = vec![payload];
        if let Some(Value::Object(info)) = payload.get("tool_info") {
            scopes.push(info);
        }
        let mut own = None;
        if let Some(name) = event_name {
            let mut chars = name.chars();
            let camel = chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default();
            if let Some(Value::Object(body)) = payload.get(&camel) {
                scopes.push(body);
                own = Some(body);
            }
        }
        Fields { scopes, own }
    }

    /// A non-empty string field of the object named after the event only:
    /// for names too generic to look up anywhere else (`id`, `name`).
    pub fn own_text(&self, key: &str) -> Option<String> {
        self.own?.get(key)?.as_str().filter(|s| !s.is_empty()).map(String::from)
    }

    /// A non-empty string at `outer.inner` of the payload itself.
    pub fn nested_text(&self, outer: &str, inner: &str) -> Option<String> {
        self.scopes[0].get(outer)?.get(inner)?.as_str().filter(|s| !s.is_empty()).map(String::from)
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

    /// Whether the payload itself has `key`, even as `null`.
    pub fn has_key(&self, key: &str) -> bool {
        self.scopes[0].contains_key(key)
    }

    pub fn has_any(&self, keys: &[&str]) -> bool {
        self.value(keys).is_some()
    }
}
