//! A streaming filter over the raw hook input. It never holds more than the
//! capped JSON: every string literal longer than the field cap is cut (at a
//! character and escape boundary) and closed with a marker that gives its
//! original length, so a 50 MB `tool_response` costs 32 KiB of memory, not 50 MB.
//! Along the way it hashes every raw byte (the delivery's identity) and keeps a
//! short raw prefix to record when the input turns out not to be JSON.
//!
//! Many small values cost more once parsed than their text (a `1,` becomes a
//! 72-byte `Value`), so containers are weighed too: a nested object or array
//! whose kept text and values outweigh its budget is replaced by a marker
//! string giving its original length. The budget halves with each level, so
//! the innermost large container goes first; the top-level fields (session,
//! event, agent) are always kept, however large the rest. Nesting deeper
//! than the parser accepts is cut the same way.

use crate::hash::Fnv64;

/// What one kept value costs once parsed, beyond its text (a `Value`, a map slot).
const VALUE_WEIGHT: usize = 64;
/// The weight a top-level field's value may have (halving with each level below).
const NESTED_BUDGET: usize = 256 * 1024;
/// Containers deeper than this are weighed as part of their ancestors only.
const MAX_TRACKED: usize = 64;
/// Containers nested deeper than this are replaced by a marker: the parser
/// refuses more than 128 levels, and no agent nests this deep.
const MAX_DEPTH: u32 = 100;

/// A nested container being kept: where it started and what it may weigh.
#[derive(Debug, Clone, Copy)]
struct Open {
    depth: u32,
    json_at: usize,
    values_at: usize,
    raw_at: u64,
    limit: usize,
    /// The smallest limit of the containers around it.
    trip_before: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    InString,
    Escape,
    Unicode(u8),
}

pub struct Capture {
    /// The input with long strings capped; valid JSON whenever the input was.
    pub json: Vec<u8>,
    /// The first bytes of the raw input, for recording input that is not JSON.
    pub raw_prefix: Vec<u8>,
    pub raw_len: u64,
    pub hash: Fnv64,
    /// The capped input outgrew `hard_cap` and was dropped.
    pub overflow: bool,
    pub truncated_fields: u32,
    field_cap: u64,
    hard_cap: usize,
    state: State,
    depth: u32,
    started: bool,
    complete: bool,
    // The string literal being read:
    str_start: usize,
    encoded_len: u64,
    decoded_len: u64,
    keeping: bool,
    unicode_value: u32,
    last_unicode_end: usize,
    last_unicode_high: bool,
    // Weighing containers:
    /// Values kept (strings, numbers, literals, containers).
    values: usize,
    in_literal: bool,
    open: Vec<Open>,
    /// The weight at which the first open container outgrows its budget.
    trip: usize,
    /// Raw offset of the byte being read.
    pos: u64,
    /// A container outgrew its budget: its depth and raw start; nothing is kept until it closes.
    skipping: Option<(u32, u64)>,
    /// Where the current top-level member starts in the kept text.
    member_start: usize,
    /// The top level outgrew the hard cap: the members read so far are kept, the rest dropped.
    dropping: bool,
}

impl Capture {
    pub fn new(field_cap: usize, hard_cap: usize) -> Capture {
        Capture {
            json: Vec::new(),
            raw_prefix: Vec::new(),
            raw_len: 0,
            hash: Fnv64::default(),
            overflow: false,
            truncated_fields: 0,
            field_cap: field_cap as u64,
            hard_cap,
            state: State::Outside,
            depth: 0,
            started: false,
            complete: false,
            str_start: 0,
            encoded_len: 0,
            decoded_len: 0,
            keeping: true,
            unicode_value: 0,
            last_unicode_end: usize::MAX,
            last_unicode_high: false,
            values: 0,
            in_literal: false,
            open: Vec::new(),
            trip: usize::MAX,
            pos: 0,
            skipping: None,
            member_start: 0,
            dropping: false,
        }
    }

    pub fn field_cap(&self) -> usize {
        self.field_cap as usize
    }

    /// A whole top-level object, array or string has been read: whatever
    /// follows is at most trailing white space.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.hash.write(chunk);
        self.raw_len += chunk.len() as u64;
        let room = (self.field_cap as usize).saturating_sub(self.raw_prefix.len());
        self.raw_prefix.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if self.overflow {
            return;
        }
        let base = self.raw_len - chunk.len() as u64;
        let mut i = 0;
        while i < chunk.len() {
            if self.weight() > self.trip {
                self.collapse();
            }
            if self.state == State::InString {
                i += self.string_run(&chunk[i..]);
                continue;
            }
            let b = chunk[i];
            self.pos = base + i as u64;
            i += 1;
            match self.state {
                State::Outside => self.outside(b),
                State::Escape => {
                    self.string_byte(b);
                    if b == b'u' {
                        self.unicode_value = 0;
                        self.state = State::Unicode(4);
                    } else {
                        self.decoded_len += 1;
                        self.state = State::InString;
                        self.check_cap();
                    }
                }
                State::Unicode(left) => {
                    self.string_byte(b);
                    let digit = (b as char).to_digit(16).unwrap_or(0);
                    self.unicode_value = self.unicode_value * 16 + digit;
                    if left > 1 {
                        self.state = State::Unicode(left - 1);
                    } else {
                        self.end_unicode_escape();
                    }
                }
                State::InString => unreachable!("handled by string_run"),
            }
        }
        if self.weight() > self.hard_cap {
            self.drop_the_rest();
        }
    }

    /// Too many top-level members: the whole ones kept so far stay (agents
    /// send their ids first), the rest is dropped. Input that is not an
    /// object or array is dropped whole.
    fn drop_the_rest(&mut self) {
        if self.depth == 0 || self.member_start == 0 || self.dropping {
            self.overflow = true;
            self.json = Vec::new();
        } else {
            self.json.truncate(self.member_start);
            while self.json.last().is_some_and(|&b| b == b',' || b.is_ascii_whitespace()) {
                self.json.pop();
            }
            self.dropping = true;
            self.keeping = false;
            self.truncated_fields += 1;
        }
        self.open = Vec::new();
        self.trip = usize::MAX;
        self.skipping = None;
        self.values = 0;
    }

    fn weight(&self) -> usize {
        self.json.len() + self.values * VALUE_WEIGHT
    }

    fn outside(&mut self, b: u8) {
        let keep = self.skipping.is_none() && !self.dropping;
        if keep {
            self.json.push(b);
        }
        if keep && self.depth == 1 && b == b',' {
            self.member_start = self.json.len();
        }
        let literal = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
        if literal && !self.in_literal && keep {
            self.values += 1;
        }
        self.in_literal = literal;
        match b {
            b'"' => {
                self.values += usize::from(keep);
                self.state = State::InString;
                self.str_start = self.json.len();
                self.encoded_len = 0;
                self.decoded_len = 0;
                self.keeping = keep;
                self.last_unicode_end = usize::MAX;
            }
            b'{' | b'[' => {
                self.started = true;
                self.depth += 1;
                if keep && self.depth == 1 {
                    self.member_start = self.json.len();
                }
                if keep && self.depth > MAX_DEPTH {
                    // Deeper than the parser goes: replaced whole, like a container over budget.
                    self.json.pop();
                    self.skipping = Some((self.depth, self.pos));
                } else if keep {
                    self.values += 1;
                    self.track_open();
                }
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.dropping && self.depth == 0 {
                    self.dropping = false;
                    self.json.push(b);
                }
                self.close();
                if self.started && self.depth == 0 {
                    self.complete = true;
                }
            }
            _ => {}
        }
    }

    /// Starts weighing a container below the top level (its `{` or `[` is
    /// the last byte kept).
    fn track_open(&mut self) {
        if self.depth < 2 || self.open.len() >= MAX_TRACKED {
            return;
        }
        let floor = self.field_cap as usize + 4096;
        let top = NESTED_BUDGET.max(4 * self.field_cap as usize + 4096);
        let limit = (top >> (self.depth - 2).min(31)).max(floor);
        let here = Open {
            depth: self.depth,
            json_at: self.json.len() - 1,
            values_at: self.values - 1,
            raw_at: self.pos,
            limit: (self.weight() - 1 - VALUE_WEIGHT).saturating_add(limit),
            trip_before: self.trip,
        };
        self.trip = self.trip.min(here.limit);
        self.open.push(here);
    }

    /// A container closed (`depth` is already the one around it): stop
    /// weighing it, or end the skip that replaced it.
    fn close(&mut self) {
        if let Some((depth, raw_at)) = self.skipping {
            if self.depth + 1 == depth {
                self.skipping = None;
                let marker = crate::fit::truncation_marker(self.pos + 1 - raw_at);
                self.json.push(b'"');
                self.json.extend_from_slice(marker.as_bytes());
                self.json.push(b'"');
                self.values += 1;
                self.truncated_fields += 1;
            }
            return;
        }
        if self.open.last().is_some_and(|o| o.depth == self.depth + 1) {
            let closed = self.open.pop().expect("just seen");
            self.trip = closed.trip_before;
        }
    }

    /// The innermost container over its budget is dropped from the kept
    /// text; input is then skipped until it closes, where a marker replaces it.
    fn collapse(&mut self) {
        let weight = self.weight();
        let Some(at) = self.open.iter().rposition(|o| o.limit < weight) else {
            self.trip = usize::MAX;
            return;
        };
        let victim = self.open[at];
        self.open.truncate(at);
        self.json.truncate(victim.json_at);
        self.values = victim.values_at;
        self.trip = victim.trip_before;
        self.keeping = false;
        self.skipping = Some((victim.depth, victim.raw_at));
    }

    /// Plain string content up to the next quote or backslash, copied while
    /// under the cap. Returns how many bytes of `rest` it consumed.
    fn string_run(&mut self, rest: &[u8]) -> usize {
        let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
        if self.keeping {
            let room = self.field_cap.saturating_sub(self.encoded_len) as usize;
            self.json.extend_from_slice(&rest[..run.min(room)]);
            if run >= room {
                self.stop_keeping();
            }
        }
        self.encoded_len += run as u64;
        self.decoded_len += run as u64;
        if run == rest.len() {
            return run;
        }
        if rest[run] == b'\\' {
            self.string_byte(b'\\');
            self.state = State::Escape;
        } else {
            self.end_string();
        }
        run + 1
    }

    fn string_byte(&mut self, b: u8) {
        self.encoded_len += 1;
        if self.keeping {
            self.json.push(b);
        }
    }

    fn end_unicode_escape(&mut self) {
        let value = self.unicode_value;
        let high = (0xD800..0xDC00).contains(&value);
        self.decoded_len += match value {
            0..=0x7F => 1,
            0x80..=0x7FF => 2,
            0xD800..=0xDBFF => 4, // the pair's four bytes; its low half adds none
            0xDC00..=0xDFFF => 0,
            _ => 3,
        };
        if self.keeping {
            self.last_unicode_end = self.json.len();
            self.last_unicode_high = high;
        }
        self.state = State::InString;
        self.check_cap();
    }

    fn check_cap(&mut self) {
        if self.keeping && self.encoded_len >= self.field_cap {
            self.stop_keeping();
        }
    }

    /// Cuts the kept content back to a boundary where it is still valid:
    /// never half a UTF-8 character, never a lone high surrogate escape.
    fn stop_keeping(&mut self) {
        self.keeping = false;
        if self.last_unicode_high && self.last_unicode_end == self.json.len() {
            self.json.truncate(self.json.len() - 6);
        }
        let content = &self.json[self.str_start..];
        let tail_start = content.len().saturating_sub(4);
        if let Some(lead) = (tail_start..content.len()).rev().find(|&i| content[i] & 0xC0 != 0x80) {
            let need = match content[lead] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            if content.len() - lead < need {
                self.json.truncate(self.str_start + lead);
            }
        }
    }

    fn end_string(&mut self) {
        if self.skipping.is_some() || self.dropping {
            self.state = State::Outside;
            return;
        }
        if !self.keeping {
            self.truncated_fields += 1;
            self.json.extend_from_slice(crate::fit::truncation_marker(self.decoded_len).as_bytes());
        }
        self.json.push(b'"');
        self.state = State::Outside;
        if self.depth == 0 {
            self.complete = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn capped(input: &[u8], cap: usize, chunk: usize) -> Capture {
        let mut c = Capture::new(cap, 1 << 20);
        for part in input.chunks(chunk.max(1)) {
            c.feed(part);
        }
        c
    }

    fn value(c: &Capture) -> Value {
        serde_json::from_slice(&c.json).expect("capped output stays valid JSON")
    }

    #[test]
    fn short_input_passes_through_byte_for_byte() {
        let input = br#"{"a": "x\"y\\z\u00e9", "b": [1, 2.5, null, true], "c": {}}"#;
        for chunk in [1, 3, 1000] {
            let c = capped(input, 1024, chunk);
            assert_eq!(c.json, input.to_vec());
            assert!(c.is_complete());
            assert_eq!(c.truncated_fields, 0);
        }
    }

    #[test]
    fn long_strings_are_cut_with_their_original_length() {
        let long = "a".repeat(10_000);
        let input = format!(r#"{{"tool_response": "{long}", "keep": "ok"}}"#);
        for chunk in [1, 7, 4096, 1 << 20] {
            let c = capped(input.as_bytes(), 100, chunk);
            let v = value(&c);
            assert_eq!(v["tool_response"], format!("{}…[truncated: 10000 bytes]", "a".repeat(100)));
            assert_eq!(v["keep"], "ok");
            assert_eq!(c.truncated_fields, 1);
        }
    }

    #[test]
    fn cuts_never_split_characters_escapes_or_surrogate_pairs() {
        let samples = [
            "é".repeat(300),
            "\\n".repeat(300),
            "\\u00e9".repeat(300),
            "\\ud83d\\ude00".repeat(300),
            "x\\ud83d\\ude00".repeat(300),
            "😀".repeat(300),
        ];
        for s in samples {
            for cap in 1..40 {
                let input = format!(r#"["{s}"]"#);
                let c = capped(input.as_bytes(), cap, 5);
                let v = value(&c);
                let text = v[0].as_str().unwrap();
                assert!(text.contains("…[truncated: "), "{text}");
            }
        }
    }

    #[test]
    fn reports_decoded_length() {
        let c = capped(br#"["\u00e9\u00e9\n\ud83d\ude00abc"]"#, 2, 3);
        assert!(value(&c)[0].as_str().unwrap().ends_with("…[truncated: 12 bytes]"));
    }

    #[test]
    fn too_many_top_level_members_keep_the_first_ones() {
        let members: String = (0..20_000).map(|i| format!(r#","k{i}": {i}"#)).collect();
        let input = format!(r#"{{"session_id": "s", "hook_event_name": "Stop"{members}, "last": 1}}"#);
        for chunk in [1, 4096] {
            let c = capped(input.as_bytes(), 64, chunk);
            let v = value(&c);
            assert_eq!((v["session_id"].as_str(), v["hook_event_name"].as_str()), (Some("s"), Some("Stop")));
            assert!(v.get("last").is_none() && c.json.len() < (1 << 20) && !c.overflow);
        }
    }

    #[test]
    fn overflow_drops_the_capped_copy_but_keeps_identity() {
        let input = format!("{}1", "1 ".repeat(10_000));
        let mut c = Capture::new(64, 1000);
        c.feed(input.as_bytes());
        assert!(c.overflow);
        assert!(c.json.is_empty());
        assert_eq!(c.raw_len, input.len() as u64);
        assert_eq!(c.raw_prefix.len(), 64);
    }

    #[test]
    fn many_small_values_collapse_the_innermost_large_container() {
        let items = vec!["abcdefgh"; 200_000];
        let input = serde_json::json!({"session_id": "s", "r": {"files": items, "n": 3}, "after": "kept"}).to_string();
        for chunk in [1, 7, 65536] {
            let c = capped(input.as_bytes(), 1000, chunk);
            let v = value(&c);
            assert_eq!(
                (v["session_id"].as_str(), v["after"].as_str(), v["r"]["n"].as_u64()),
                (Some("s"), Some("kept"), Some(3))
            );
            let files_len = serde_json::to_string(&items).unwrap().len();
            assert_eq!(v["r"]["files"], format!("…[truncated: {files_len} bytes]"));
            assert!(c.json.len() < 64 * 1024, "{}", c.json.len());
            assert_eq!(c.truncated_fields, 1);
        }
    }

    #[test]
    fn nesting_deeper_than_the_parser_goes_is_replaced() {
        let deep = format!("{{\"id\": \"d\", \"a\": {}1{}}}", "[".repeat(5000), "]".repeat(5000));
        let v = value(&capped(deep.as_bytes(), 32 * 1024, 13));
        let mut inner = &v["a"];
        for _ in 0..(MAX_DEPTH - 1) {
            inner = &inner[0];
        }
        assert_eq!(inner.as_str(), Some(format!("…[truncated: {} bytes]", 2 * (5000 - 99) + 1).as_str()));
        assert_eq!(v["id"], "d");
    }

    #[test]
    fn completion_is_seen_only_after_the_closing_bracket() {
        let mut c = Capture::new(64, 1000);
        c.feed(br#"{"a": "}", "b": ["#);
        assert!(!c.is_complete());
        c.feed(b"]}");
        assert!(c.is_complete());
    }
}
