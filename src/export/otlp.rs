//! OTLP on the wire, both encodings of `ExportLogsServiceRequest` and
//! `ExportTraceServiceRequest` (opentelemetry-proto `collector/{logs,trace}/v1`),
//! written by hand: the exporter sends a few nested messages and reads two
//! small answers, which takes less code than the build step of generated
//! types would. The tests decode every request with the official definitions.

use serde_json::{Value as Json, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    StrArray(Vec<String>),
}

pub type Attribute = (String, Value);

#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: &'static str,
    pub body: String,
    pub event_name: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Client = 3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Unset,
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<Attribute>,
    /// Other spans this one follows from: (trace id, span id).
    pub links: Vec<([u8; 16], [u8; 8])>,
    pub status: Status,
}

/// The spans of one turn, with what is known of where it ran (added to the resource).
pub struct Trace {
    pub resource: Vec<Attribute>,
    pub spans: Vec<Span>,
}

/// Who sent the records: the resource, and the scope (this program).
pub struct Origin {
    pub resource: Vec<Attribute>,
    pub scope_name: &'static str,
    pub scope_version: &'static str,
}

// Field numbers from opentelemetry/proto/{collector/logs,logs,common,resource}/v1.
mod field {
    pub const REQUEST_RESOURCE_LOGS: u32 = 1;
    pub const RESOURCE_LOGS_RESOURCE: u32 = 1;
    pub const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
    pub const RESOURCE_ATTRIBUTES: u32 = 1;
    pub const SCOPE_LOGS_SCOPE: u32 = 1;
    pub const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
    pub const SCOPE_NAME: u32 = 1;
    pub const SCOPE_VERSION: u32 = 2;
    pub const LOG_TIME: u32 = 1;
    pub const LOG_SEVERITY_NUMBER: u32 = 2;
    pub const LOG_SEVERITY_TEXT: u32 = 3;
    pub const LOG_BODY: u32 = 5;
    pub const LOG_ATTRIBUTES: u32 = 6;
    pub const LOG_OBSERVED_TIME: u32 = 11;
    pub const LOG_EVENT_NAME: u32 = 12;
    pub const KEY_VALUE_KEY: u32 = 1;
    pub const KEY_VALUE_VALUE: u32 = 2;
    pub const ANY_STRING: u32 = 1;
    pub const ANY_INT: u32 = 3;
    pub const ANY_DOUBLE: u32 = 4;
    pub const ANY_ARRAY: u32 = 5;
    pub const ARRAY_VALUES: u32 = 1;
}

// Field numbers from opentelemetry/proto/{collector/trace,trace}/v1.
mod span_field {
    pub const REQUEST_RESOURCE_SPANS: u32 = 1;
    pub const RESOURCE_SPANS_RESOURCE: u32 = 1;
    pub const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
    pub const SCOPE_SPANS_SCOPE: u32 = 1;
    pub const SCOPE_SPANS_SPANS: u32 = 2;
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START: u32 = 7;
    pub const END: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const LINKS: u32 = 13;
    pub const STATUS: u32 = 15;
    pub const LINK_TRACE_ID: u32 = 1;
    pub const LINK_SPAN_ID: u32 = 2;
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
    pub const STATUS_CODE_ERROR: u64 = 2;
}

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    tag(out, field, LEN);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A nested message: encoded apart, then written with its length.
fn message(out: &mut Vec<u8>, field: u32, encode: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    encode(&mut inner);
    bytes(out, field, &inner);
}

fn any_value(out: &mut Vec<u8>, value: &Value) {
    use field::*;
    match value {
        Value::Str(s) => bytes(out, ANY_STRING, s.as_bytes()),
        Value::Int(i) => {
            tag(out, ANY_INT, VARINT);
            varint(out, *i as u64);
        }
        Value::Double(d) => {
            tag(out, ANY_DOUBLE, FIXED64);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::StrArray(items) => message(out, ANY_ARRAY, |a| {
            for item in items {
                message(a, ARRAY_VALUES, |v| bytes(v, ANY_STRING, item.as_bytes()));
            }
        }),
    }
}

fn attributes(out: &mut Vec<u8>, field: u32, attrs: &[Attribute]) {
    for (key, value) in attrs {
        message(out, field, |kv| {
            bytes(kv, field::KEY_VALUE_KEY, key.as_bytes());
            message(kv, field::KEY_VALUE_VALUE, |v| any_value(v, value));
        });
    }
}

fn log_record(out: &mut Vec<u8>, r: &LogRecord) {
    use field::*;
    tag(out, LOG_TIME, FIXED64);
    out.extend_from_slice(&r.time_unix_nano.to_le_bytes());
    tag(out, LOG_SEVERITY_NUMBER, VARINT);
    varint(out, r.severity_number as u64);
    bytes(out, LOG_SEVERITY_TEXT, r.severity_text.as_bytes());
    message(out, LOG_BODY, |v| bytes(v, ANY_STRING, r.body.as_bytes()));
    attributes(out, LOG_ATTRIBUTES, &r.attributes);
    tag(out, LOG_OBSERVED_TIME, FIXED64);
    out.extend_from_slice(&r.observed_time_unix_nano.to_le_bytes());
    bytes(out, LOG_EVENT_NAME, r.event_name.as_bytes());
}

/// `ExportLogsServiceRequest` in protobuf (`application/x-protobuf`).
pub fn encode_protobuf(origin: &Origin, records: &[LogRecord]) -> Vec<u8> {
    use field::*;
    let mut out = Vec::with_capacity(records.iter().map(|r| r.body.len() + 512).sum());
    message(&mut out, REQUEST_RESOURCE_LOGS, |rl| {
        message(rl, RESOURCE_LOGS_RESOURCE, |res| attributes(res, RESOURCE_ATTRIBUTES, &origin.resource));
        message(rl, RESOURCE_LOGS_SCOPE_LOGS, |sl| {
            message(sl, SCOPE_LOGS_SCOPE, |s| {
                bytes(s, SCOPE_NAME, origin.scope_name.as_bytes());
                bytes(s, SCOPE_VERSION, origin.scope_version.as_bytes());
            });
            for r in records {
                message(sl, SCOPE_LOGS_LOG_RECORDS, |lr| log_record(lr, r));
            }
        });
    });
    out
}

fn span(out: &mut Vec<u8>, s: &Span) {
    use span_field::*;
    bytes(out, TRACE_ID, &s.trace_id);
    bytes(out, SPAN_ID, &s.span_id);
    if let Some(parent) = &s.parent_span_id {
        bytes(out, PARENT_SPAN_ID, parent);
    }
    bytes(out, NAME, s.name.as_bytes());
    tag(out, KIND, VARINT);
    varint(out, s.kind as u64);
    tag(out, START, FIXED64);
    out.extend_from_slice(&s.start_time_unix_nano.to_le_bytes());
    tag(out, END, FIXED64);
    out.extend_from_slice(&s.end_time_unix_nano.to_le_bytes());
    attributes(out, ATTRIBUTES, &s.attributes);
    for (trace_id, span_id) in &s.links {
        message(out, LINKS, |l| {
            bytes(l, LINK_TRACE_ID, trace_id);
            bytes(l, LINK_SPAN_ID, span_id);
        });
    }
    if let Status::Error(text) = &s.status {
        message(out, STATUS, |st| {
            bytes(st, STATUS_MESSAGE, text.as_bytes());
            tag(st, STATUS_CODE, VARINT);
            varint(st, STATUS_CODE_ERROR);
        });
    }
}

/// `ExportTraceServiceRequest` in protobuf: a resource per turn (the
/// origin's attributes, then the turn's own).
pub fn encode_traces_protobuf(origin: &Origin, traces: &[Trace]) -> Vec<u8> {
    use span_field::*;
    let mut out = Vec::new();
    for trace in traces {
        message(&mut out, REQUEST_RESOURCE_SPANS, |rs| {
            message(rs, RESOURCE_SPANS_RESOURCE, |res| {
                attributes(res, field::RESOURCE_ATTRIBUTES, &origin.resource);
                attributes(res, field::RESOURCE_ATTRIBUTES, &trace.resource);
            });
            message(rs, RESOURCE_SPANS_SCOPE_SPANS, |ss| {
                message(ss, SCOPE_SPANS_SCOPE, |s| {
                    bytes(s, field::SCOPE_NAME, origin.scope_name.as_bytes());
                    bytes(s, field::SCOPE_VERSION, origin.scope_version.as_bytes());
                });
                for sp in &trace.spans {
                    message(ss, SCOPE_SPANS_SPANS, |m| span(m, sp));
                }
            });
        });
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ExportTraceServiceRequest` in OTLP/JSON: ids as hex, as the spec says.
pub fn encode_traces_json(origin: &Origin, traces: &[Trace]) -> Vec<u8> {
    let resource_spans: Vec<Json> = traces
        .iter()
        .map(|trace| {
            let spans: Vec<Json> = trace
                .spans
                .iter()
                .map(|s| {
                    let mut span = json!({
                        "traceId": hex(&s.trace_id),
                        "spanId": hex(&s.span_id),
                        "name": s.name,
                        "kind": s.kind as u8,
                        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "attributes": json_attributes(&s.attributes),
                        "links": s.links.iter().map(|(t, sp)| json!({"traceId": hex(t), "spanId": hex(sp)})).collect::<Vec<_>>(),
                    });
                    if let Some(parent) = &s.parent_span_id {
                        span["parentSpanId"] = json!(hex(parent));
                    }
                    if let Status::Error(text) = &s.status {
                        span["status"] = json!({"code": 2, "message": text});
                    }
                    span
                })
                .collect();
            let mut resource = origin.resource.clone();
            resource.extend(trace.resource.iter().cloned());
            json!({
                "resource": {"attributes": json_attributes(&resource)},
                "scopeSpans": [{"scope": {"name": origin.scope_name, "version": origin.scope_version}, "spans": spans}],
            })
        })
        .collect();
    serde_json::to_vec(&json!({"resourceSpans": resource_spans})).expect("a JSON value always serializes")
}

fn json_value(value: &Value) -> Json {
    match value {
        Value::Str(s) => json!({"stringValue": s}),
        // OTLP/JSON writes 64-bit integers as strings.
        Value::Int(i) => json!({"intValue": i.to_string()}),
        Value::Double(d) => json!({"doubleValue": d}),
        Value::StrArray(items) => {
            json!({"arrayValue": {"values": items.iter().map(|s| json!({"stringValue": s})).collect::<Vec<_>>()}})
        }
    }
}

fn json_attributes(attrs: &[Attribute]) -> Json {
    attrs.iter().map(|(k, v)| json!({"key": k, "value": json_value(v)})).collect()
}

/// `ExportLogsServiceRequest` in OTLP/JSON (`application/json`).
pub fn encode_json(origin: &Origin, records: &[LogRecord]) -> Vec<u8> {
    let logs: Vec<Json> = records
        .iter()
        .map(|r| {
            json!({
                "timeUnixNano": r.time_unix_nano.to_string(),
                "observedTimeUnixNano": r.observed_time_unix_nano.to_string(),
                "severityNumber": r.severity_number,
                "severityText": r.severity_text,
                "body": {"stringValue": r.body},
                "eventName": r.event_name,
                "attributes": json_attributes(&r.attributes),
            })
        })
        .collect();
    let request = json!({"resourceLogs": [{
        "resource": {"attributes": json_attributes(&origin.resource)},
        "scopeLogs": [{"scope": {"name": origin.scope_name, "version": origin.scope_version}, "logRecords": logs}],
    }]});
    serde_json::to_vec(&request).expect("a JSON value always serializes")
}

/// What a 2xx answer said: how many records the collector rejected, and why.
#[derive(Debug, Default, PartialEq)]
pub struct PartialSuccess {
    pub rejected: u64,
    pub message: String,
}

/// Reads `partial_success` of an `ExportLogsServiceResponse` or
/// `ExportTraceServiceResponse` (the same field numbers) from either encoding; an
/// empty or unreadable body means everything was accepted.
pub fn partial_success(body: &[u8], is_json: bool) -> PartialSuccess {
    if is_json {
        let v: Json = serde_json::from_slice(body).unwrap_or_default();
        let p = &v["partialSuccess"];
        let count = if p["rejectedSpans"].is_null() { &p["rejectedLogRecords"] } else { &p["rejectedSpans"] };
        let rejected = match count {
            Json::String(s) => s.parse().unwrap_or(0),
            n => n.as_u64().unwrap_or(0),
        };
        return PartialSuccess { rejected, message: p["errorMessage"].as_str().unwrap_or_default().to_string() };
    }
    let mut out = PartialSuccess::default();
    if let Some(inner) = fields(body).into_iter().find_map(|(f, v)| (f == 1).then_some(v)) {
        for (f, v) in fields(inner.bytes()) {
            match (f, v) {
                (1, Field::Varint(n)) => out.rejected = n,
                (2, Field::Bytes(b)) => out.message = String::from_utf8_lossy(b).into_owned(),
                _ => {}
            }
        }
    }
    out
}

/// The message of an error answer: `google.rpc.Status.message` when the
/// body is one (JSON or protobuf, as its content type says), else the body's
/// text, on one line.
pub fn error_message(body: &[u8], content_type: &str) -> String {
    let status = if content_type.contains("json") {
        serde_json::from_slice::<Json>(body).ok().and_then(|v| v["message"].as_str().map(String::from))
    } else if content_type.contains("protobuf") {
        fields(body).into_iter().find_map(|(f, v)| match (f, v) {
            (2, Field::Bytes(b)) => std::str::from_utf8(b).ok().map(String::from),
            _ => None,
        })
    } else {
        None
    };
    let text = status.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() { "(no message)".to_string() } else { line.chars().take(500).collect() }
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

impl<'a> Field<'a> {
    fn bytes(&self) -> &'a [u8] {
        match self {
            Field::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// The top-level fields of a protobuf message; stops at the first malformed one.
fn fields(mut buf: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    while let Some(key) = read_varint(&mut buf) {
        let field = match key & 7 {
            0 => match read_varint(&mut buf) {
                Some(v) => Field::Varint(v),
                None => break,
            },
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                let Some(rest) = buf.get(n..) else { break };
                buf = rest;
                Field::Other
            }
            2 => {
                let Some(len) = read_varint(&mut buf).and_then(|l| usize::try_from(l).ok()) else { break };
                let (Some(data), Some(rest)) = (buf.get(..len), buf.get(len..)) else { break };
                buf = rest;
                Field::Bytes(data)
            }
            _ => break,
        };
        out.push((key >> 3, field));
    }
    out
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_reference() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut buf = &out[..];
        assert_eq!(read_varint(&mut buf), Some(300));
        let mut neg = Vec::new();
        any_value(&mut neg, &Value::Int(-1));
        assert_eq!(neg.len(), 1 + 10, "negative int64 is ten bytes, two's complement");
    }

    #[test]
    fn partial_success_in_both_encodings() {
        // partial_success { rejected_log_records: 3, error_message: "too big" }
        let mut inner = Vec::new();
        tag(&mut inner, 1, VARINT);
        varint(&mut inner, 3);
        bytes(&mut inner, 2, b"too big");
        let mut body = Vec::new();
        bytes(&mut body, 1, &inner);
        assert_eq!(partial_success(&body, false), PartialSuccess { rejected: 3, message: "too big".into() });
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too big"}}"#;
        assert_eq!(partial_success(json, true), PartialSuccess { rejected: 3, message: "too big".into() });
        assert_eq!(partial_success(b"", false), PartialSuccess::default());
        assert_eq!(partial_success(b"{}", true), PartialSuccess::default());
    }

    #[test]
    fn error_messages_from_status_or_text() {
        let mut status = Vec::new();
        tag(&mut status, 1, VARINT);
        varint(&mut status, 3);
        bytes(&mut status, 2, b"bad\nrecord");
        assert_eq!(error_message(&status, "application/x-protobuf"), "bad record");
        assert_eq!(error_message(br#"{"code":3,"message":"nope"}"#, "application/json"), "nope");
        assert_eq!(error_message(b"Bad Request: plain", "text/plain"), "Bad Request: plain");
        assert_eq!(error_message(b"plain text", "application/json"), "plain text");
        assert_eq!(error_message(b"", "application/x-protobuf"), "(no message)");
    }
}
