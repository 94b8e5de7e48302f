//! Keeping one event line under the event cap. Fields were already capped
//! while reading; an event can still be too large when it has many of them.
//! Strings in the recorded input are cut shorter and shorter, and as a last
//! resort only the input's top-level scalars are kept, with a marker.

use serde_json::{Map, Value, json};

const STEPS: &[usize] = &[8192, 2048, 512, 128];

/// Shrinks `input` until `too_big(input)` is false. Returns whether it changed.
pub fn shrink(input: &mut Value, too_big: impl Fn(&Value) -> bool) -> bool {
    if !too_big(input) {
        return false;
    }
    for &limit in STEPS {
        cut_strings(input, limit);
        if !too_big(input) {
            return true;
        }
    }
    let original = input.to_string().len();
    let mut kept = Map::new();
    if let Value::Object(map) = input {
        for (key, value) in map.iter().take(64) {
            match value {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    kept.insert(key.chars().take(128).collect(), value.clone());
                }
                _ => {}
            }
        }
    }
    kept.insert("_kaizen_truncated".into(), json!(format!("input over the event cap: {original} bytes")));
    *input = Value::Object(kept);
    true
}

/// Cuts every string (object keys too) longer than `limit` bytes, at a
/// character boundary, with the marker.
pub fn cut_strings(value: &mut Value, limit: usize) {
    match value {
        Value::String(s) => cut(s, limit),
        Value::Array(items) => items.iter_mut().for_each(|v| cut_strings(v, limit)),
        Value::Object(map) => {
            if map.keys().any(|k| k.len() > limit) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(mut k, v)| {
                        cut(&mut k, limit);
                        (k, v)
                    })
                    .collect();
            }
            map.values_mut().for_each(|v| cut_strings(v, limit));
        }
        _ => {}
    }
}

fn cut(s: &mut String, limit: usize) {
    if s.len() <= limit {
        return;
    }
    let mut at = limit;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let original = s.len();
    s.truncate(at);
    s.push_str(&truncation_marker(original as u64));
}

/// What replaces the cut part of a string, with the original length in bytes.
pub fn truncation_marker(original: u64) -> String {
    format!("…[truncated: {original} bytes]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_small_input_alone() {
        let mut v = json!({"a": "b"});
        assert!(!shrink(&mut v, |v| v.to_string().len() > 100));
        assert_eq!(v, json!({"a": "b"}));
    }

    #[test]
    fn cuts_strings_then_keeps_only_scalars() {
        let mut v = json!({"big": "x".repeat(20_000), "n": 1});
        assert!(shrink(&mut v, |v| v.to_string().len() > 10_000));
        assert!(v["big"].as_str().unwrap().ends_with("…[truncated: 20000 bytes]"));
        assert_eq!(v["n"], 1);

        let mut v = json!({"id": "s", "many": (0..5000).collect::<Vec<_>>()});
        assert!(shrink(&mut v, |v| v.to_string().len() > 1000));
        assert_eq!(v["id"], "s");
        assert!(v.get("many").is_none());
        assert!(v["_kaizen_truncated"].as_str().unwrap().starts_with("input over the event cap"));
    }
}
