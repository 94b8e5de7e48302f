//! The one line format of a session's events file, and the only way an event
//! becomes a line. Every producer (a hook's own event, a transcript's `Cost`
//! and `Error` events, an inferred end) starts from `new_event` and hands the
//! store a `Sealed` event; only the store completes and writes it.
//!
//! What a line is, and what the readers in `events.rs` rely on, byte for byte:
//! - one JSON object and a `\n`, the fields of `Event` in their declared
//!   order (serde's), so `kind` comes before `tool_call_id`;
//! - a payload that begins `{"type":…,"phase":…`, before anything taken from
//!   the input: the duplicate check and the boundary search read the phase
//!   from that prefix (`Sealed::new` puts the two keys first if a producer
//!   did not);
//! - the running totals after everything else in the payload, then the
//!   delivery stamp (`"input_hash":…,"agent_process":…,"delivered_boot_ms":…`
//!   contiguous, in that order), then `recorded_ms` and `spooled`:
//!   `Totals::of_line` takes the last occurrence of each key, the duplicate
//!   check searches for the stamp as one string (`Sealed::finish`);
//! - at most the event cap in bytes: the recorded input is shrunk to fit
//!   (`Sealed::into_line`);
//! - no secret: every string derived from the agent, in any field, is
//!   redacted once, when the event is sealed, before it reaches the spool or
//!   the file. A sealed event is changed only here and in the store.

use super::events::{Delivery, Totals};
use crate::event::{Event, EventKind, EventSource};
use crate::phase::Phase;
use crate::{fit, redact};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

/// An event with every figure unknown and a payload of `type` and `phase`,
/// for its maker to fill in and then seal.
pub fn new_event(
    session_id: &str,
    kind: EventKind,
    source: EventSource,
    ts_ms: u64,
    event_type: &str,
    phase: Phase,
) -> Event {
    let mut payload = Map::new();
    payload.insert("type".into(), json!(event_type));
    payload.insert("phase".into(), json!(phase.name()));
    Event {
        session_id: session_id.to_string(),
        seq: 0,
        ts_ms,
        ts_exact: false,
        kind,
        source,
        tool: None,
        tool_call_id: None,
        tokens_in: None,
        tokens_out: None,
        reasoning_tokens: None,
        cost_usd_e6: None,
        stop_reason: None,
        latency_ms: None,
        ttft_ms: None,
        retry_count: None,
        context_used_tokens: None,
        context_max_tokens: None,
        cache_creation_tokens: None,
        cache_read_tokens: None,
        system_prompt_tokens: None,
        payload: Value::Object(payload),
    }
}

/// An event ready for the store: redacted, its payload's prefix in place.
/// Read back from a spool file, it is sealed again.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Sealed(Event);

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sealed, D::Error> {
        Event::deserialize(deserializer).map(Sealed::new)
    }
}

impl Sealed {
    pub fn new(mut event: Event) -> Sealed {
        redact_in_place(&mut event.session_id);
        for field in [&mut event.tool, &mut event.tool_call_id, &mut event.stop_reason].into_iter().flatten() {
            redact_in_place(field);
        }
        let payload = match std::mem::take(&mut event.payload) {
            Value::Object(payload) => payload,
            _ => Map::new(),
        };
        let mut payload = Value::Object(type_and_phase_first(payload));
        redact::redact_value(&mut payload);
        event.payload = payload;
        Sealed(event)
    }

    pub fn event(&self) -> &Event {
        &self.0
    }

    /// `payload.phase`, as the readers see it.
    pub fn phase(&self) -> &str {
        self.0.payload.get("phase").and_then(Value::as_str).unwrap_or("")
    }

    /// For the store's completion only: what it adds is its own (seq,
    /// totals, latency, stamps), never the agent's.
    pub(super) fn event_mut(&mut self) -> &mut Event {
        &mut self.0
    }

    pub(super) fn payload_mut(&mut self) -> &mut Map<String, Value> {
        if !self.0.payload.is_object() {
            self.0.payload = Value::Object(Map::new());
        }
        self.0.payload.as_object_mut().expect("an object, made so above")
    }

    /// The end of the payload, in the order the readers rely on: totals, the
    /// delivery stamp (when the event came from a hook delivery), the time it
    /// was recorded, the spool file it came from.
    pub(super) fn finish(&mut self, totals: &Totals, delivery: Option<&Delivery>, spooled: Option<&str>, now_ms: u64) {
        let payload = self.payload_mut();
        totals.stamp(payload);
        if let Some(delivery) = delivery {
            delivery.stamp(payload);
        }
        payload.insert("recorded_ms".into(), json!(now_ms));
        if let Some(name) = spooled {
            payload.insert("spooled".into(), json!(name));
        }
    }

    /// The event as one line, its recorded input shrunk to fit `cap`.
    pub(super) fn into_line(mut self, cap: usize) -> Result<Vec<u8>, String> {
        let event = &mut self.0;
        let mut line = serde_json::to_vec(event).map_err(|e| format!("serialize: {e}"))?;
        if line.len() >= cap {
            let overhead = line.len() - event.payload.get("input").map_or(0, |i| i.to_string().len());
            if let Some(input) = event.payload.get_mut("input") {
                fit::shrink(input, |i| overhead + i.to_string().len() >= cap);
            }
            line = serde_json::to_vec(event).map_err(|e| format!("serialize: {e}"))?;
        }
        line.push(b'\n');
        Ok(line)
    }
}

fn redact_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(clean) = redact::redact(text) {
        *text = clean;
    }
}

/// The payload with `type` and `phase` as its first two keys.
fn type_and_phase_first(mut payload: Map<String, Value>) -> Map<String, Value> {
    let mut keys = payload.keys();
    if keys.next().map(String::as_str) == Some("type") && keys.next().map(String::as_str) == Some("phase") {
        return payload;
    }
    let mut ordered = Map::new();
    for key in ["type", "phase"] {
        ordered.insert(key.into(), payload.remove(key).unwrap_or(Value::Null));
    }
    ordered.extend(payload);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

    #[test]
    fn every_string_from_the_agent_is_redacted_when_sealed() {
        let mut event = new_event("s", EventKind::Error, EventSource::Hook, 1, "tool_failure", Phase::ToolFailure);
        event.tool = Some(format!("Bash {TOKEN}"));
        event.tool_call_id = Some(format!("call {TOKEN}"));
        event.stop_reason = Some(format!("error {TOKEN}"));
        event.payload["phase_note"] = json!(format!("failed: {TOKEN}"));
        event.payload["subagent"] = json!({"type": format!("explorer {TOKEN}")});
        let sealed = Sealed::new(event);
        let line = serde_json::to_string(sealed.event()).unwrap();
        assert!(!line.contains(TOKEN), "{line}");
        assert_eq!(line.matches("<redacted:github>").count(), 5, "{line}");
    }

    #[test]
    fn the_payload_begins_with_type_and_phase_and_ends_with_totals_then_the_stamp() {
        let mut event = new_event("s", EventKind::ToolCall, EventSource::Hook, 1, "pre_tool_use", Phase::ToolCall);
        event.payload = json!({"input": {"a": 1}, "phase": "tool_call", "type": "pre_tool_use"});
        let mut sealed = Sealed::new(event);
        let delivery = Delivery { hash: "h".into(), by: Some("1:2".into()), boot_ms: 3 };
        sealed.finish(&Totals { tool_calls: 4, ..Totals::default() }, Some(&delivery), Some("f.json"), 5);
        let line = String::from_utf8(sealed.into_line(1 << 20).unwrap()).unwrap();
        assert!(line.contains(r#""payload":{"type":"pre_tool_use","phase":"tool_call","input""#), "{line}");
        let totals = line.find("\"session_tool_calls\":4").unwrap();
        let stamp = line.find(r#""input_hash":"h","agent_process":"1:2","delivered_boot_ms":3,"recorded_ms":5"#);
        assert!(stamp.is_some_and(|at| at > totals), "{line}");
        assert!(line.ends_with("\"spooled\":\"f.json\"}}\n"), "{line}");
    }

    #[test]
    fn a_sealed_event_read_back_is_sealed_again() {
        let mut event = new_event("s", EventKind::Hook, EventSource::Hook, 1, "x", Phase::Other);
        event.payload["note"] = json!(TOKEN);
        let raw = serde_json::to_string(&event).unwrap();
        let back: Sealed = serde_json::from_str(&raw).unwrap();
        assert!(!serde_json::to_string(back.event()).unwrap().contains(TOKEN));
    }
}
