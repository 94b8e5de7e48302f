//! One event, one OTLP log record: the attribute mapping docs/export.md's table
//! documents. OpenTelemetry's names where a convention exists (`session.id`,
//! `vcs.*`, `gen_ai.*`), `kaizen.*` for the rest.

use super::cursor::Vcs;
use super::otlp::{Attribute, LogRecord, Origin, Value};
use super::settings::Settings;
use crate::event::{Event, EventKind};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

const SEVERITY_INFO: i32 = 9;
const SEVERITY_ERROR: i32 = 17;

/// Stable and unique per event: the same event re-sent gets the same uid.
pub fn uid(event: &Event) -> String {
    let mut h = Sha256::new();
    for part in [event.session_id.as_bytes(), &event.seq.to_le_bytes(), &event.ts_ms.to_le_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps the commit and branch of the latest event that names them.
pub fn remember_vcs(event: &Event, vcs: &mut Vcs) {
    if let Some(commit) = payload_str(event, &["context", "commit"]) {
        vcs.commit = Some(commit.to_string());
        vcs.branch = payload_str(event, &["context", "branch"]).map(String::from);
    }
}

/// `line` is the event as recorded: it becomes the record's body, verbatim.
/// `vcs` is the session's latest commit and branch, for events that name none.
pub fn log_record(event: &Event, line: &str, vcs: &Vcs, observed_ns: u64) -> LogRecord {
    let kind = format!("{:?}", event.kind);
    let kind_name = payload_str(event, &["type"]).map(String::from).unwrap_or_else(|| snake(&kind));
    let event_name = format!("kaizen.{kind_name}");
    let mut attrs: Vec<Attribute> = Vec::with_capacity(24);
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            attrs.push((key.to_string(), v));
        }
    };
    let text = |s: Option<&str>| s.map(|s| Value::Str(s.to_string()));
    let int = |n: Option<u64>| n.map(|n| Value::Int(n as i64));
    put("log.record.uid", Some(Value::Str(uid(event))));
    put("event.name", Some(Value::Str(event_name.clone())));
    put("session.id", Some(Value::Str(event.session_id.clone())));
    put("kaizen.event.kind", Some(Value::Str(kind)));
    put("kaizen.event.seq", int(Some(event.seq)));
    put("kaizen.event.source", Some(Value::Str(format!("{:?}", event.source))));
    put("kaizen.agent", text(payload_str(event, &["agent"])));
    put("kaizen.hook_event_name", text(payload_str(event, &["hook_event_name"])));
    put("gen_ai.tool.name", text(event.tool.as_deref()));
    put("gen_ai.tool.call.id", text(event.tool_call_id.as_deref()));
    put("vcs.ref.head.revision", text(vcs.commit.as_deref()));
    put("vcs.ref.head.name", text(vcs.branch.as_deref()));
    put("kaizen.workspace", text(payload_str(event, &["context", "workspace"])));
    put("kaizen.latency_ms", int(event.latency_ms.map(u64::from)));
    if event.kind == EventKind::Cost {
        attrs.extend(usage(event));
    }
    let severity_number = if event.kind == EventKind::Error { SEVERITY_ERROR } else { SEVERITY_INFO };
    LogRecord {
        time_unix_nano: event.ts_ms.saturating_mul(1_000_000),
        observed_time_unix_nano: observed_ns,
        severity_number,
        severity_text: if severity_number == SEVERITY_ERROR { "ERROR" } else { "INFO" },
        body: line.to_string(),
        event_name,
        attributes: attrs,
    }
}

/// The GenAI conventions' model and usage names. Their `input_tokens`
/// includes cached input; kaizen's `tokens_in` does not, so the cache parts
/// are added back. Cache writes are `cache_write` in the current
/// conventions; `cache_creation`, their former name, is kept for dashboards
/// built on it.
pub fn usage(event: &Event) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = Vec::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.push((key.to_string(), v));
        }
    };
    let int = |n: Option<u32>| n.map(|n| Value::Int(i64::from(n)));
    let cached = u64::from(event.cache_read_tokens.unwrap_or(0)) + u64::from(event.cache_creation_tokens.unwrap_or(0));
    put("gen_ai.request.model", payload_str(event, &["model"]).map(|m| Value::Str(m.to_string())));
    put("gen_ai.response.id", payload_str(event, &["response_id"]).map(|m| Value::Str(m.to_string())));
    put("gen_ai.usage.input_tokens", event.tokens_in.map(|n| Value::Int((u64::from(n) + cached) as i64)));
    put("gen_ai.usage.output_tokens", int(event.tokens_out));
    put("gen_ai.usage.cache_read.input_tokens", int(event.cache_read_tokens));
    put("gen_ai.usage.cache_write.input_tokens", int(event.cache_creation_tokens));
    put("gen_ai.usage.cache_creation.input_tokens", int(event.cache_creation_tokens));
    put("gen_ai.usage.reasoning.output_tokens", int(event.reasoning_tokens));
    put("gen_ai.response.finish_reasons", event.stop_reason.clone().map(|r| Value::StrArray(vec![r])));
    put("kaizen.cost_usd", event.cost_usd_e6.map(|c| Value::Double(c as f64 / 1e6)));
    put("kaizen.ttft_ms", int(event.ttft_ms));
    out
}

fn payload_str<'a>(event: &'a Event, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(&event.payload, |v, k| v.get(k)).and_then(Json::as_str)
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// This machine and program, once per run: `service.name`, host, OS, arch.
pub fn origin(settings: &Settings) -> Origin {
    let mut resource: Vec<Attribute> = vec![
        ("service.name".into(), Value::Str(settings.service_name.clone())),
        ("service.version".into(), Value::Str(env!("CARGO_PKG_VERSION").into())),
        ("os.type".into(), Value::Str(std::env::consts::OS.into())),
        ("host.arch".into(), Value::Str(host_arch().into())),
    ];
    if let Some(host) = host_name() {
        resource.push(("host.name".into(), Value::Str(host)));
    }
    for (key, value) in &settings.resource {
        resource.retain(|(k, _)| k != key);
        resource.push((key.clone(), Value::Str(value.clone())));
    }
    Origin { resource, scope_name: "kaizen-hook", scope_version: env!("CARGO_PKG_VERSION") }
}

/// The `host.arch` values of the conventions.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The host name, as `gethostname` gives it (the `nodename` of `uname`).
fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_bytes();
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventSource;
    use crate::phase::Phase;
    use crate::store::line::new_event;
    use serde_json::json;

    fn blank_event(
        session_id: &str,
        kind: EventKind,
        source: EventSource,
        ts_ms: u64,
        payload: serde_json::Value,
    ) -> Event {
        Event { payload, ..new_event(session_id, kind, source, ts_ms, "", Phase::Other) }
    }

    fn attr<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
        r.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn cost_events_carry_genai_usage_with_cache_in_input() {
        let mut e = blank_event(
            "s1",
            EventKind::Cost,
            EventSource::Tail,
            5,
            json!({"type": "model_response", "model": "claude-x"}),
        );
        (e.tokens_in, e.cache_read_tokens, e.cache_creation_tokens, e.tokens_out) =
            (Some(10), Some(100), Some(5), Some(7));
        e.cost_usd_e6 = Some(1_500_000);
        let vcs = Vcs { commit: Some("abc".into()), branch: Some("main".into()) };
        let r = log_record(&e, "{}", &vcs, 0);
        assert_eq!(attr(&r, "vcs.ref.head.revision"), Some(&Value::Str("abc".into())), "the turn end's commit");
        assert_eq!(attr(&r, "gen_ai.request.model"), Some(&Value::Str("claude-x".into())));
        assert_eq!(attr(&r, "gen_ai.usage.input_tokens"), Some(&Value::Int(115)));
        assert_eq!(attr(&r, "gen_ai.usage.output_tokens"), Some(&Value::Int(7)));
        assert_eq!(attr(&r, "gen_ai.usage.cache_read.input_tokens"), Some(&Value::Int(100)));
        assert_eq!(attr(&r, "kaizen.cost_usd"), Some(&Value::Double(1.5)));
        assert_eq!(r.event_name, "kaizen.model_response");
        assert_eq!(r.time_unix_nano, 5_000_000);
    }

    #[test]
    fn uids_differ_per_event_and_repeat_per_event() {
        let a = blank_event("s1", EventKind::Hook, EventSource::Hook, 5, json!({}));
        let mut b = a.clone();
        b.seq = 1;
        assert_eq!(uid(&a), uid(&a.clone()));
        assert_ne!(uid(&a), uid(&b));
        assert_eq!(uid(&a).len(), 32);
        let r = log_record(&b, "{}", &Vcs::default(), 0);
        assert_eq!(r.event_name, "kaizen.hook");
        assert!(attr(&r, "gen_ai.usage.input_tokens").is_none(), "usage on Cost events only");
    }
}
