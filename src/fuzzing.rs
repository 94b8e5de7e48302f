//! The input path's invariants, checked on arbitrary bytes: by the cargo-fuzz
//! target in `fuzz/` and by a randomized test in the suite (stable Rust).
//! Whatever the bytes, nothing panics, and:
//! - bytes that are valid JSON are still valid JSON once capped (unless
//!   nested past the parser's depth limit), and no string in them is longer
//!   than the cap plus its truncation marker;
//! - the recorded input survives a serialize/parse round trip after redaction.

use crate::input;
use crate::phase::Category;
use crate::recognize::{self, Flags};
use crate::redact;
use serde_json::Value;

pub const FIELD_CAP: usize = 64;
const HARD_CAP: usize = 1 << 16;
/// `…[truncated: N bytes]` is at most this long.
const MARKER_MAX: usize = 40;

pub fn check_input_path(data: &[u8]) -> Result<(), String> {
    let mut parsed = input::from_bytes(data, FIELD_CAP, HARD_CAP);
    let original: Result<Value, _> = serde_json::from_slice(data);
    let flags = Flags { category: Category::ToolUse, agent: Some("claude"), event: None };
    recognize::recognize(parsed.value.as_ref().and_then(Value::as_object), flags);
    match (&original, &mut parsed.value) {
        (Ok(_), None) if data.len() < HARD_CAP / 2 && !parsed.error.as_deref().unwrap_or("").contains("recursion") => {
            return Err(format!("valid JSON became unparseable: {:?}", parsed.error));
        }
        (_, Some(value)) => {
            longest_string(value, 0).map_err(|len| format!("a {len}-byte string survived the {FIELD_CAP}-byte cap"))?;
            redact::redact_value(value);
            let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
            let back: Value = serde_json::from_slice(&bytes).map_err(|e| format!("round trip: {e}"))?;
            if &back != value {
                return Err("the recorded input changed in a round trip".into());
            }
        }
        _ => {}
    }
    Ok(())
}

fn longest_string(value: &Value, depth: usize) -> Result<(), usize> {
    let ok = |s: &str| if s.len() <= FIELD_CAP + MARKER_MAX { Ok(()) } else { Err(s.len()) };
    match value {
        Value::String(s) => ok(s),
        Value::Array(items) if depth < 200 => items.iter().try_for_each(|v| longest_string(v, depth + 1)),
        Value::Object(map) if depth < 200 => {
            map.iter().try_for_each(|(k, v)| ok(k).and_then(|_| longest_string(v, depth + 1)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutations of the agents' own payloads: bytes flipped, cut, inserted
    /// (quotes, backslashes, escapes, multi-byte characters, brackets).
    #[test]
    fn thousands_of_mutated_payloads_keep_the_invariants() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        for agent in ["claude", "cursor", "codex", "gemini"] {
            for entry in std::fs::read_dir(dir.join(agent)).unwrap().flatten() {
                seeds.push(std::fs::read(entry.path()).unwrap());
            }
        }
        let inserts: &[&[u8]] = &[
            b"\"",
            b"\\",
            b"\\u",
            b"\\ud83d",
            b"\\ude00",
            "é".as_bytes(),
            "😀".as_bytes(),
            b"{",
            b"]",
            b"\x00",
            b"\xff",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut data = seeds[round % seeds.len()].clone();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % (data.len() + 1);
                match next() % 4 {
                    0 if !data.is_empty() => {
                        let last = data.len() - 1;
                        data[at.min(last)] = next() as u8;
                    }
                    1 => data.truncate(at),
                    _ => {
                        let piece = inserts[(next() as usize) % inserts.len()];
                        data.splice(at..at, piece.iter().copied());
                    }
                }
            }
            if let Err(e) = check_input_path(&data) {
                panic!("round {round}: {e}\ninput: {}", String::from_utf8_lossy(&data));
            }
        }
    }

    /// Inputs the fuzzer found that once broke an invariant.
    #[test]
    fn inputs_the_fuzzer_found_stay_fixed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-found");
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            check_input_path(&data).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        }
    }

    #[test]
    fn long_strings_in_valid_json_are_capped() {
        let long = format!("{{\"session_id\": \"{}\", \"x\": [\"{}\"]}}", "s".repeat(500), "é".repeat(500));
        check_input_path(long.as_bytes()).unwrap();
    }
}
