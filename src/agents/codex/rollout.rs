//! The rollout (docs/tokens-and-cost.md): tokens, model and cost per model response, and the
//! calls that failed with no hook saying so.

use crate::cost::Tokens;
use crate::payload::Payload;
use crate::store::fsutil::{self, End};
use crate::transcript::{Context, Failure, Response, Scope, count};
use memchr::memmem;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Lines worth parsing: usage records, the model and version they run under,
/// and the outcomes of calls that failed (a denied call gets only its
/// PreToolUse; an interrupted one too).
pub(super) const NEEDLES: &[&[u8]] = &[
    b"\"token_usage_record\"",
    b"\"turn_context\"",
    b"\"session_meta\"",
    b"\"status\":\"failed\"",
    b"\"status\":\"declined\"",
    b"Rejected(",
    b"exec_command failed",
    b"aborted by user",
];

/// One `token_usage_record` line is one model response, keyed by its
/// `response_id`. Nothing else counts: `event_msg`/`token_count` repeats
/// running totals (reset after compaction), and a `compacted` line re-contains
/// old history and the latest record. Its `input_tokens` includes the cached
/// and cache-written tokens, its `output_tokens` the reasoning. The model is
/// the one of the turn's `turn_context`, the version `session_meta`'s.
pub(super) fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    let payload = line.get("payload")?;
    let text = |key: &str| payload.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    match line.get("type")?.as_str()? {
        "session_meta" => {
            ctx.version = text("cli_version").or(ctx.version.take());
            return None;
        }
        "turn_context" => {
            ctx.model = text("model").or(ctx.model.take());
            return None;
        }
        "token_usage_record" => {}
        _ => return None,
    }
    let usage = payload.get("usage").filter(|u| u.is_object())?;
    let (cached, written) = (count(usage, "cached_input_tokens"), count(usage, "cache_write_input_tokens"));
    Some(Response {
        key: text("response_id")?,
        model: ctx.model.clone(),
        tokens: Tokens {
            input: count(usage, "input_tokens").saturating_sub(cached + written),
            output: count(usage, "output_tokens"),
            cache_read: cached,
            cache_write: written,
            cache_write_1h: 0,
        },
        reasoning: count(usage, "reasoning_output_tokens"),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        // The user's turn: a subagent's or the reviewer's responses belong to
        // the turn that started them.
        turn: text("root_turn_id").or_else(|| text("turn_id")),
        ..Response::default()
    })
}

/// A call that failed: its `item_completed` (status failed or declined, or
/// a non-zero exit code; an interrupted command's too), or a tool output
/// that says it was rejected (execpolicy, the reviewer) or aborted.
pub(super) fn failure(line: &Value, _: &Scope) -> Option<Failure> {
    let payload = line.get("payload")?;
    match (line.get("type")?.as_str()?, payload.get("type")?.as_str()?) {
        ("event_msg", "item_completed") => {
            let item = payload.get("item")?;
            let code = item.get("exit_code").and_then(Value::as_i64).filter(|c| *c != 0);
            let status = item.get("status").and_then(Value::as_str).filter(|s| matches!(*s, "failed" | "declined"));
            let why = code.map(|c| format!("exit code {c}")).or(status.map(String::from))?;
            Some(Failure { call_id: item.get("id")?.as_str()?.to_string(), why })
        }
        ("response_item", "function_call_output" | "custom_tool_call_output") => {
            let output = output_text(payload.get("output")?)?;
            let first = output.lines().next().unwrap_or_default();
            let failed = first.starts_with("exec_command failed")
                || first.contains("Rejected(")
                || output.trim_end().ends_with("aborted by user");
            let call_id = payload.get("call_id")?.as_str()?.to_string();
            failed.then_some(Failure { call_id, why: output })
        }
        _ => None,
    }
}

/// A tool output as text: a string, or content items with `text`.
fn output_text(output: &Value) -> Option<String> {
    match output {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            Some(items.iter().filter_map(|i| i.get("text")?.as_str()).collect::<Vec<_>>().join("\n"))
        }
        _ => None,
    }
}

/// The session's rollout, the subagent's that just stopped, and the other
/// threads of the session found beside them.
pub(super) fn transcripts(p: &Payload) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["transcript_path", "agent_transcript_path"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .map(PathBuf::from)
        .collect();
    if let (Some(main), Some(session)) = (paths.first().cloned(), p.get("session_id").and_then(Value::as_str)) {
        for path in threads_of(&main, session) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// The most rollouts whose first line is looked at per turn end.
const MAX_NEIGHBOURS: usize = 256;

/// Every thread of a session has its own rollout whose `session_meta` names
/// the session: the subagents (SubagentStop names those too) and the
/// automatic reviewer of `--approve-for-me`, which no hook names. They are
/// looked for where Codex writes them, `sessions/YYYY/MM/DD/`: in the day
/// directory of the session's rollout (those started after it) and in the
/// newest day directory (a session resumed or running past midnight), at
/// most `MAX_NEIGHBOURS` of the newest, reading only the head of each.
fn threads_of(main: &Path, session: &str) -> Vec<PathBuf> {
    let (Some(day), Some(name)) = (main.parent(), main.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    if !name.starts_with("rollout-") {
        return Vec::new();
    }
    let mut candidates: Vec<PathBuf> =
        rollouts_in(day).into_iter().filter(|p| p.file_name() > main.file_name()).collect();
    if let Some(newest) = newest_day(day).filter(|d| d != day) {
        candidates.extend(rollouts_in(&newest));
    }
    candidates.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let skip = candidates.len().saturating_sub(MAX_NEIGHBOURS);
    let needle = format!("\"session_id\":{}", Value::from(session));
    candidates
        .into_iter()
        .skip(skip)
        .filter(|path| {
            let head = fsutil::read_agent_file(path, End::Head, 1024).unwrap_or_default();
            let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
            memmem::find(first, b"\"type\":\"session_meta\"").is_some()
                && memmem::find(first, needle.as_bytes()).is_some()
        })
        .collect()
}

fn rollouts_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        })
        .collect()
}

/// `sessions/YYYY/MM/DD` with the largest numbers, from one day directory of it.
fn newest_day(day: &Path) -> Option<PathBuf> {
    let sessions = day.parent()?.parent()?.parent()?;
    let newest = |dir: &Path| {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
            .max_by_key(|e| e.file_name())
            .map(|e| e.path())
    };
    newest(&newest(&newest(sessions)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Values of every JSON type, nested where the parser looks.
    fn odd_values() -> Vec<Value> {
        let leaves =
            [json!(null), json!(true), json!(-1), json!(1e300), json!("x"), json!([]), json!({}), json!([1, "a"])];
        let mut out = leaves.to_vec();
        for leaf in &leaves {
            for kind in
                ["token_usage_record", "turn_context", "session_meta", "event_msg", "response_item", "compacted"]
            {
                out.push(json!({"type": kind, "payload": leaf}));
                out.push(json!({"type": kind, "payload": {"usage": leaf, "response_id": leaf, "model": leaf,
                    "cli_version": leaf, "type": leaf, "item": leaf, "output": leaf, "call_id": leaf}}));
                out.push(json!({"type": kind, "payload": {"type": "item_completed", "item": {"id": leaf, "status": leaf, "exit_code": leaf}}}));
                out.push(json!({"type": kind, "payload": {"type": "function_call_output", "call_id": leaf, "output": [leaf]}}));
            }
        }
        out
    }

    #[test]
    fn no_json_makes_the_parser_panic() {
        let mut ctx = Context::default();
        for value in odd_values() {
            let _ = response(&value, &mut ctx, &mut Scope::default());
            let _ = failure(&value, &Scope::default());
        }
    }

    #[test]
    fn the_record_names_the_model_of_its_turn_and_splits_the_input() {
        let mut ctx = Context::default();
        assert_eq!(
            response(
                &json!({"type": "turn_context", "payload": {"model": "gpt-5.5"}}),
                &mut ctx,
                &mut Scope::default()
            ),
            None
        );
        let line = json!({"type": "token_usage_record", "payload": {"response_id": "r", "turn_id": "t",
            "usage": {"input_tokens": 3403, "cached_input_tokens": 2001, "cache_write_input_tokens": 301,
                      "output_tokens": 31, "reasoning_output_tokens": 11}}});
        let r = response(&line, &mut ctx, &mut Scope::default()).unwrap();
        let t = &r.tokens;
        assert_eq!((t.input, t.cache_read, t.cache_write, t.output, r.reasoning), (1101, 2001, 301, 31, 11));
        assert_eq!((r.model.as_deref(), r.turn.as_deref()), (Some("gpt-5.5"), Some("t")));
    }

    #[test]
    fn only_rollouts_laid_out_as_codex_does_have_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rollout-b.jsonl"),
            "{\"type\":\"session_meta\",\"payload\":{\"session_id\":\"s\"}}\n",
        )
        .unwrap();
        assert_eq!(threads_of(&dir.path().join("other.jsonl"), "s"), Vec::<PathBuf>::new());
        assert_eq!(threads_of(&dir.path().join("rollout-a.jsonl"), "s"), [dir.path().join("rollout-b.jsonl")]);
        assert_eq!(threads_of(Path::new("/"), "s"), Vec::<PathBuf>::new());
    }
}
