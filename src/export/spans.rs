//! A turn as a trace, in the GenAI conventions' shape: an `invoke_agent
//! {agent}` root from the prompt to the turn's end, an `execute_tool {tool}`
//! child per tool call (from the call to its result; ERROR when it failed),
//! a `chat {model}` child per model response, and the work of a subagent
//! under an `invoke_agent {subagent}` span of its own. Ids are derived from
//! the session, the turn's first event, the call and the response, so a
//! turn exported again has the same ids and a backend can drop the repeat.

use super::cursor::{SpanRef, Vcs};
use super::otlp::{Span, SpanKind, Status, Value};
use super::record;
use crate::event::{Event, EventKind};
use crate::phase::Phase;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The phase an event was recorded with.
pub fn phase(event: &Event) -> Option<Phase> {
    event.payload["phase"].as_str().and_then(Phase::from_name)
}

/// Whether `event` begins a new turn after the events of the current one: a
/// session start always does; a prompt does unless the turn so far is only
/// a session start (the first prompt belongs to the turn the start opened).
pub fn opens_after(turn: &[Event], event: &Event) -> bool {
    match phase(event) {
        Some(Phase::SessionStart) => !turn.is_empty(),
        Some(Phase::Prompt) => turn.iter().any(|e| phase(e) != Some(Phase::SessionStart)),
        _ => false,
    }
}

/// Whether this event ends one.
pub fn ends_turn(event: &Event) -> bool {
    matches!(phase(event), Some(Phase::TurnEnd | Phase::TurnFailure | Phase::SessionEnd))
}

fn id<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let digest = h.finalize();
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    // An all-zero id is invalid in OTLP.
    if out.iter().all(|&b| b == 0) {
        out[N - 1] = 1;
    }
    out
}

fn ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// The spans of one turn (its events in file order), the trace's root first,
/// and a reference to the root for the next turn to link to.
pub fn turn(events: &[Event], previous: Option<&SpanRef>) -> (Vec<Span>, SpanRef) {
    let first = &events[0];
    let session = first.session_id.as_bytes();
    let seq = first.seq.to_le_bytes();
    let trace_id: [u8; 16] = id(&[b"trace", session, &seq]);
    let root_id: [u8; 8] = id(&[b"turn", session, &seq]);
    let mut chats = Vec::new();
    // Where the turn started (its first event that names a commit), and where it ended.
    let mut start_vcs = Vcs::default();
    if let Some(e) = events.iter().find(|e| e.payload["context"]["commit"].is_string()) {
        record::remember_vcs(e, &mut start_vcs);
    }
    let mut end_vcs = Vcs::default();
    events.iter().for_each(|e| record::remember_vcs(e, &mut end_vcs));
    let agent = events.iter().find_map(|e| e.payload["agent"].as_str()).unwrap_or("agent").to_string();
    let start_ms = events.iter().filter(|e| e.kind != EventKind::Cost).map(|e| e.ts_ms).min().unwrap_or(first.ts_ms);
    let mut end_ms = events.iter().map(|e| e.ts_ms).max().unwrap_or(first.ts_ms);
    let child = |name: String, kind: SpanKind, span_id: [u8; 8], parent: [u8; 8], start: u64, end: u64| Span {
        trace_id,
        span_id,
        parent_span_id: Some(parent),
        name,
        kind,
        start_time_unix_nano: ns(start),
        end_time_unix_nano: ns(end.max(start)),
        attributes: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
    };
    let subagents = subagent_spans(events, &child, session, &seq, root_id);
    let parent_of = |e: &Event| {
        e.payload["subagent"]["id"].as_str().and_then(|id| subagents.get(id)).map_or(root_id, |s| s.span_id)
    };
    // Calls waiting for their result, by call id. Agents that send no call id
    // get one derived from the call, which repeats when the same command runs
    // again: each call is known by its id and how many came before it.
    let mut open: BTreeMap<String, Call> = BTreeMap::new();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut tools: Vec<Span> = Vec::new();
    let mut failed_turn = None;
    let mut usage = Usage::default();
    for e in events {
        match (&e.kind, phase(e)) {
            (EventKind::Cost, _) => {
                usage.add(e);
                chats.push(chat(e, &child, &trace_id, parent_of(e)));
            }
            (EventKind::ToolCall, _) => {
                let Some(call) = e.tool_call_id.clone() else { continue };
                let key = occurrence(&mut seen, &call);
                let tool = e.tool.clone().unwrap_or_default();
                open.insert(call, Call { start: e.ts_ms, parent: parent_of(e), key, tool });
            }
            (EventKind::ToolResult | EventKind::Error, _) if e.tool.is_some() => {
                let call = e.tool_call_id.clone().unwrap_or_else(|| format!("seq {}", e.seq));
                let (start, parent, key) = match open.remove(&call) {
                    Some(c) => (c.start, c.parent, c.key),
                    None => {
                        let start = e.ts_ms.saturating_sub(e.latency_ms.map_or(0, u64::from));
                        (start, parent_of(e), occurrence(&mut seen, &call))
                    }
                };
                let span_id = id(&[b"tool", &trace_id, key.as_bytes()]);
                tools.push(tool_span(e, &child, span_id, parent, start));
            }
            (EventKind::Error, Some(Phase::TurnFailure | Phase::Failure)) => {
                failed_turn = Some(crate::report::summary::summary(e));
            }
            _ => {}
        }
        if ends_turn(e) && e.kind != EventKind::Cost {
            end_ms = end_ms.max(e.ts_ms);
        }
    }
    // Calls whose result never came (the turn was cut short): open to the turn's end.
    for (call, c) in open {
        let span_id = id(&[b"tool", &trace_id, c.key.as_bytes()]);
        let mut span =
            child(format!("execute_tool {}", c.tool), SpanKind::Internal, span_id, c.parent, c.start, end_ms);
        span.attributes.push(("gen_ai.operation.name".into(), Value::Str("execute_tool".into())));
        span.attributes.push(("gen_ai.tool.name".into(), Value::Str(c.tool)));
        span.attributes.push(("gen_ai.tool.call.id".into(), Value::Str(call)));
        span.attributes.push(("kaizen.tool.outcome".into(), Value::Str("no result recorded".into())));
        tools.push(span);
    }
    let mut root = Span {
        trace_id,
        span_id: root_id,
        parent_span_id: None,
        name: format!("invoke_agent {agent}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: ns(start_ms),
        end_time_unix_nano: ns(end_ms.max(start_ms)),
        attributes: vec![
            ("gen_ai.operation.name".into(), Value::Str("invoke_agent".into())),
            ("gen_ai.agent.name".into(), Value::Str(agent.clone())),
            ("gen_ai.conversation.id".into(), Value::Str(first.session_id.clone())),
            ("session.id".into(), Value::Str(first.session_id.clone())),
            ("kaizen.turn.first_seq".into(), Value::Int(first.seq as i64)),
        ],
        links: previous.map(|p| vec![(p.trace_id, p.span_id)]).unwrap_or_default(),
        status: match failed_turn {
            Some(message) => Status::Error(message),
            None => Status::Unset,
        },
    };
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            root.attributes.push((key.to_string(), v));
        }
    };
    put("vcs.ref.head.revision", start_vcs.commit.clone().map(Value::Str));
    put("vcs.ref.head.name", start_vcs.branch.clone().map(Value::Str));
    let produced = end_vcs.commit.clone().filter(|c| Some(c) != start_vcs.commit.as_ref());
    put("kaizen.turn.end_commit", produced.map(Value::Str));
    put(
        "kaizen.workspace",
        events.iter().find_map(|e| e.payload["context"]["workspace"].as_str()).map(|w| Value::Str(w.into())),
    );
    usage.put(&mut put);
    let reference = SpanRef { trace_id, span_id: root_id };
    let mut out = vec![root];
    out.extend(subagents.into_values());
    out.extend(tools);
    out.extend(chats);
    (out, reference)
}

/// A span per subagent seen in the turn, from its first event to its last.
fn subagent_spans(
    events: &[Event],
    child: &dyn Fn(String, SpanKind, [u8; 8], [u8; 8], u64, u64) -> Span,
    session: &[u8],
    seq: &[u8],
    root: [u8; 8],
) -> BTreeMap<String, Span> {
    let mut spans: BTreeMap<String, Span> = BTreeMap::new();
    for e in events {
        let Some(sub) = e.payload["subagent"]["id"].as_str().filter(|s| !s.is_empty()) else { continue };
        let kind = e.payload["subagent"]["type"].as_str().filter(|t| !t.is_empty()).unwrap_or("subagent");
        let span = spans.entry(sub.to_string()).or_insert_with(|| {
            let mut span = child(
                format!("invoke_agent {kind}"),
                SpanKind::Internal,
                id(&[b"subagent", session, seq, sub.as_bytes()]),
                root,
                e.ts_ms,
                e.ts_ms,
            );
            span.attributes.push(("gen_ai.operation.name".into(), Value::Str("invoke_agent".into())));
            span.attributes.push(("gen_ai.agent.name".into(), Value::Str(kind.to_string())));
            span.attributes.push(("gen_ai.agent.id".into(), Value::Str(sub.to_string())));
            span
        });
        span.start_time_unix_nano = span.start_time_unix_nano.min(ns(e.ts_ms));
        span.end_time_unix_nano = span.end_time_unix_nano.max(ns(e.ts_ms));
    }
    spans
}

/// A tool call waiting for its result.
struct Call {
    start: u64,
    parent: [u8; 8],
    /// The call id and how many calls with it came before, in this turn.
    key: String,
    tool: String,
}

/// `id#n`: the n-th call with this id in the turn.
fn occurrence(seen: &mut BTreeMap<String, u32>, call: &str) -> String {
    let n = seen.entry(call.to_string()).or_insert(0);
    *n += 1;
    format!("{call}#{n}")
}

fn tool_span(
    e: &Event,
    child: &dyn Fn(String, SpanKind, [u8; 8], [u8; 8], u64, u64) -> Span,
    span_id: [u8; 8],
    parent: [u8; 8],
    start: u64,
) -> Span {
    let tool = e.tool.clone().unwrap_or_default();
    let mut span = child(format!("execute_tool {tool}"), SpanKind::Internal, span_id, parent, start, e.ts_ms);
    span.attributes.push(("gen_ai.operation.name".into(), Value::Str("execute_tool".into())));
    span.attributes.push(("gen_ai.tool.name".into(), Value::Str(tool)));
    if let Some(call) = &e.tool_call_id {
        span.attributes.push(("gen_ai.tool.call.id".into(), Value::Str(call.clone())));
    }
    if let Some(ms) = e.latency_ms {
        span.attributes.push(("kaizen.latency_ms".into(), Value::Int(i64::from(ms))));
    }
    if e.kind == EventKind::Error {
        let message = crate::report::summary::summary(e);
        span.attributes.push(("error.type".into(), Value::Str("tool_error".into())));
        if let Some(code) = exit_code(e) {
            span.attributes.push(("process.exit.code".into(), Value::Int(code)));
        }
        span.status = Status::Error(message);
    }
    span
}

/// The exit code the agent reported, where the payload says one.
fn exit_code(e: &Event) -> Option<i64> {
    let note = e.payload["phase_note"].as_str()?;
    note.strip_prefix("exit code ")?.trim().parse().ok()
}

fn chat(
    e: &Event,
    child: &dyn Fn(String, SpanKind, [u8; 8], [u8; 8], u64, u64) -> Span,
    trace: &[u8],
    parent: [u8; 8],
) -> Span {
    let model = e.payload["model"].as_str().unwrap_or("unknown");
    let key = e.payload["response_id"].as_str().map_or_else(|| format!("seq {}", e.seq), String::from);
    let start = e.ts_ms.saturating_sub(e.latency_ms.map_or(0, u64::from));
    let mut span =
        child(format!("chat {model}"), SpanKind::Client, id(&[b"chat", trace, key.as_bytes()]), parent, start, e.ts_ms);
    span.attributes.push(("gen_ai.operation.name".into(), Value::Str("chat".into())));
    span.attributes.extend(record::usage(e));
    span
}

/// A turn's responses added up, on its root.
#[derive(Default)]
struct Usage {
    responses: i64,
    input: i64,
    output: i64,
    cost_e6: Option<i64>,
}

impl Usage {
    fn add(&mut self, e: &Event) {
        let cached = i64::from(e.cache_read_tokens.unwrap_or(0)) + i64::from(e.cache_creation_tokens.unwrap_or(0));
        self.responses += 1;
        self.input += i64::from(e.tokens_in.unwrap_or(0)) + cached;
        self.output += i64::from(e.tokens_out.unwrap_or(0));
        if let Some(c) = e.cost_usd_e6 {
            self.cost_e6 = Some(self.cost_e6.unwrap_or(0) + c);
        }
    }

    fn put(&self, put: &mut dyn FnMut(&str, Option<Value>)) {
        if self.responses == 0 {
            return;
        }
        put("kaizen.responses", Some(Value::Int(self.responses)));
        put("gen_ai.usage.input_tokens", Some(Value::Int(self.input)));
        put("gen_ai.usage.output_tokens", Some(Value::Int(self.output)));
        put("kaizen.cost_usd", self.cost_e6.map(|c| Value::Double(c as f64 / 1e6)));
    }
}
