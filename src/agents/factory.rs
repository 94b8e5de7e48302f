//! Factory Droid: a near-exact clone of Claude Code's hooks, told apart only
//! by where its transcripts live.

use super::{Agent, DOCUMENTED, Payload, never, package_version};
use crate::cost::Tokens;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::store::fsutil::{self, End};
use crate::transcript::{Context, Failure, Reader, Response, Scope, count};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "factory",
    title: "Factory Droid",
    evidence: never,
    transcript_marker: "/.factory/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("Notification", Phase::Other),
        ("Stop", Phase::TurnEnd),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
    ],
    guidance_files: &["AGENTS.md"],
    version,
    config_problems,
    // Droid sends PostToolUse for a call that succeeded and nothing for one that
    // failed; the transcript says why (read first), this closes what it cannot.
    open_calls_fail_at_turn_end: true,
    transcript: Some(Reader {
        needles: &[
            b"\"tool_use\"",
            b"\"modelId\"",
            b"\"is_error\":true",
            STREAMING_RESULT.as_bytes(),
            SEND_MESSAGE.as_bytes(),
        ],
        parse: response,
        failure,
        paths: transcripts,
        scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", Category::SessionStart),
                ("SessionEnd", Category::SessionEnd),
                ("UserPromptSubmit", Category::Prompt),
                ("PreToolUse", Category::ToolUse),
                ("PostToolUse", Category::ToolUse),
                ("Notification", Category::Event),
                ("Stop", Category::Stop),
                ("SubagentStop", Category::Subagent),
                ("PreCompact", Category::Event),
            ],
            timeout: TIMEOUT_SECONDS,
            short: &[],
        }),
        note: None,
    }),
    snippet: Some("factory-settings.json"),
    ..DOCUMENTED
};

/// `"hooks": {"hooksDisabled": true}` in the user's settings turns every hook off.
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("settings.json");
    super::all_hooks_switched_off(&path, "/hooks/hooksDisabled", "\"hooks\": {\"hooksDisabled\": true}", AGENT.title)
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".factory")
}

/// Droid gives its version to no hook: it is in the `package.json` of the
/// platform package whose `bin/droid` delivers the hook.
fn version(_: &Payload) -> Option<String> {
    let droid = crate::process::delivering()?;
    let exe = std::fs::read_link(format!("/proc/{}/exe", droid.pid)).ok()?;
    exe.ancestors().skip(1).take(2).find_map(|dir| package_version(dir, |name| name.starts_with("@factory/cli")))
}

// The transcript: `~/.factory/sessions/<project>/<session>.jsonl`, Claude-like
// messages: assistant messages with `tool_use` blocks and the `modelId` they
// ran on, user messages with `tool_result` blocks (`is_error`). It keeps no
// per-response token counts (the `<session>.settings.json` beside it keeps
// only the session's totals); Droid's log does, one `[Agent] Streaming result`
// line per model response, tagged with its session. A subagent (the Task
// tool running a droid) is a session of its own, with its own hooks and
// transcript, whose first line names its caller (`callingSessionId`): its
// responses are counted once, in its caller's session. Droid sends no
// PostToolUse for a failed call and no failure event: the `tool_result` with
// `is_error: true` is the only sign, taken at the turn end.

/// The session's transcript, and Droid's log (`$FACTORY_LOG_FILE`, else
/// `<home>/logs/droid-log-single.log`: every session's, rotated daily), but
/// not for a subagent: its caller's reads count its responses.
fn transcripts(p: &Payload) -> Vec<PathBuf> {
    let Some(transcript) = transcript_path(p) else { return Vec::new() };
    let log = log_path(&transcript).filter(|_| calling_session(&transcript).is_none());
    std::iter::once(transcript).chain(log).collect()
}

fn transcript_path(p: &Payload) -> Option<PathBuf> {
    p.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()).map(PathBuf::from)
}

fn log_path(transcript: &Path) -> Option<PathBuf> {
    let given = std::env::var_os("FACTORY_LOG_FILE").filter(|f| !f.is_empty()).map(PathBuf::from);
    given.or_else(|| Some(droid_home(transcript)?.join("logs").join("droid-log-single.log")))
}

/// `<home>/sessions/<project>/<session>.jsonl`
fn droid_home(transcript: &Path) -> Option<PathBuf> {
    transcript.ancestors().nth(3).map(Path::to_path_buf)
}

/// What one turn end's read starts from: the session (the hook's call ids are
/// derived from it, the log's lines are told apart by it), the Droid home
/// (custom model names), and where the session's lines start in the log;
/// `response` adds the hook call id of each `tool_use` seen, by the
/// transcript's id.
fn scope(p: &Payload) -> Scope {
    let session = p.get("session_id").and_then(Value::as_str).unwrap_or("").to_string();
    let transcript = transcript_path(p);
    let home = transcript.as_deref().and_then(droid_home);
    let starts = transcript
        .as_deref()
        .and_then(|t| Some((log_path(t)?, session_start_ms(t)?)))
        .and_then(|(log, since)| Some((log.clone(), log_offset(&log, since.saturating_sub(LOG_MARGIN_MS))?)))
        .into_iter()
        .collect();
    Scope { session: Some(session), home, starts, ..Scope::default() }
}

/// The calls an assistant message makes, and the model it ran on; from the
/// log, a model response.
fn response(line: &Value, ctx: &mut Context, scope: &mut Scope) -> Option<Response> {
    if let Some(text) = line.as_str() {
        return logged_response(text, ctx, scope);
    }
    let message = line.get("message")?;
    if message.get("role")?.as_str()? != "assistant" {
        return None;
    }
    if let Some(id) = message.get("modelId").and_then(Value::as_str) {
        ctx.model = Some(model_name(id, scope.home.as_deref()));
    }
    let session = scope.session.as_deref().unwrap_or("");
    for block in message.get("content").and_then(Value::as_array).into_iter().flatten() {
        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        let (Some(id), Some(tool), Some(input)) =
            (block.get("id").and_then(Value::as_str), block.get("name").and_then(Value::as_str), block.get("input"))
        else {
            continue;
        };
        if let Some(hook_id) = hook_call_id(session, tool, input) {
            scope.calls.insert(id.to_string(), hook_id);
        }
    }
    None
}

const STREAMING_RESULT: &str = "[Agent] Streaming result";
const SEND_MESSAGE: &str = "[LLM] sendMessage";

/// `[<time>] INFO: [Agent] Streaming result | Context: {...}`, as Droid
/// 0.225.2 logs each model response it received: `inputTokens` without the
/// cache read (`totalInputTokens` with it), `cacheReadInputTokens`,
/// `cachedTokensWritten`, `outputTokens` with `reasoningTokens` in it, the
/// stop `reason`, and in `tags` the session. The model is the one its
/// `[LLM] sendMessage` line before named (a custom model's own name; `tags`
/// has only its `custom:` id, which the Droid home resolves, unknown when the
/// log is read again after the hooks). Droid writes these lines after its
/// hooks have returned (buffered): a later read takes them. A subagent's
/// lines count in its caller's read (`is_subagent`). No response id:
/// the line's time in the session is the key (Droid asks one request at a
/// time per session).
fn logged_response(line: &str, ctx: &mut Context, scope: &mut Scope) -> Option<Response> {
    let (head, context) = line.split_once(" | Context: ")?;
    let (time, rest) = head.strip_prefix('[')?.split_once(']')?;
    let sent = rest.ends_with(SEND_MESSAGE);
    if !sent && !rest.ends_with(STREAMING_RESULT) {
        return None;
    }
    let context: Value = serde_json::from_str(context).ok()?;
    let tags = context.get("tags")?;
    let session = tags.get("sessionId")?.as_str()?;
    let own = Some(session) == scope.session.as_deref();
    if session.is_empty() || !own && !is_subagent(session, scope) {
        return None;
    }
    if sent {
        // A subagent may run another model, side by side with its caller.
        let model = context.get("modelId").and_then(Value::as_str).filter(|m| !m.is_empty()).map(String::from);
        if own {
            ctx.model = model;
        } else if let Some(model) = model {
            scope.subagent_models.insert(session.to_string(), model);
        }
        return None;
    }
    let requested = if own { ctx.model.clone() } else { scope.subagent_models.get(session).cloned() };
    let tagged = || Some(model_name(tags.get("modelId")?.as_str()?, scope.home.as_deref()));
    Some(Response {
        key: format!("droid-log:{session}:{time}"),
        model: requested.or_else(tagged),
        tokens: Tokens {
            input: count(&context, "inputTokens"),
            output: count(&context, "outputTokens"),
            cache_read: count(&context, "cacheReadInputTokens"),
            cache_write: count(&context, "cachedTokensWritten"),
            ..Tokens::default()
        },
        reasoning: count(&context, "reasoningTokens"),
        ts_ms: crate::time::parse_timestamp(&Value::String(time.to_string())),
        stop_reason: context.get("reason").and_then(Value::as_str).map(String::from),
        ..Response::default()
    })
}

/// Whether the log's `session` is a subagent the read session called: its
/// transcript's first line says so (asked once a read).
fn is_subagent(session: &str, scope: &mut Scope) -> bool {
    if let Some(known) = scope.subagents.get(session) {
        return *known;
    }
    let caller = subagent_transcript(session, scope.home.as_deref()).and_then(|t| calling_session(&t));
    let called = caller.is_some() && caller == scope.session;
    scope.subagents.insert(session.to_string(), called);
    called
}

/// `<home>/sessions/<project>/<session>.jsonl`, in whichever project (a
/// subagent's is its caller's, unless it was given another directory). The
/// Droid home is the transcript's, else Droid's own default (a read again
/// after the hooks knows no transcript): `$FACTORY_HOME_OVERRIDE` or `$HOME`.
fn subagent_transcript(session: &str, home: Option<&Path>) -> Option<PathBuf> {
    if !session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let default = || {
        let base = std::env::var_os("FACTORY_HOME_OVERRIDE").filter(|h| !h.is_empty()).map(PathBuf::from);
        Some(base.or_else(crate::config::home_dir)?.join(".factory"))
    };
    let home = home.map(Path::to_path_buf).or_else(default)?;
    let name = format!("{session}.jsonl");
    std::fs::read_dir(home.join("sessions")).ok()?.flatten().map(|dir| dir.path().join(&name)).find(|t| t.is_file())
}

/// The session that called this one as a subagent: `callingSessionId` in
/// its transcript's first line (`"type": "session_start"`).
fn calling_session(transcript: &Path) -> Option<String> {
    let head = fsutil::read_agent_file(transcript, End::Head, 64 * 1024).ok()?;
    let first = head.split(|b| *b == b'\n').next()?;
    let start: Value = serde_json::from_slice(first).ok()?;
    start.get("callingSessionId")?.as_str().filter(|s| !s.is_empty()).map(String::from)
}

/// When the session started: the first timestamp in its transcript.
fn session_start_ms(transcript: &Path) -> Option<u64> {
    let head = fsutil::read_agent_file(transcript, End::Head, 64 * 1024).ok()?;
    head.split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .find_map(|line| crate::time::parse_timestamp(line.get("timestamp")?))
}

/// How long before the session's start its log lines may be: lines are
/// appended by every Droid process, not quite in time order.
const LOG_MARGIN_MS: u64 = 10 * 60 * 1000;

/// Where in the log the lines stamped at `since_ms` or later start, found by
/// bisection on the lines' times (a day's log can hold 100 MB), within
/// `LOG_CLOSE` bytes and always before them: a line start, 0 when in doubt.
fn log_offset(log: &Path, since_ms: u64) -> Option<u64> {
    let len = std::fs::metadata(log).ok()?.len();
    let (mut lo, mut hi) = (0, len);
    while hi - lo > LOG_CLOSE {
        let mid = lo + (hi - lo) / 2;
        match first_line_at(log, mid) {
            Some((_, ms)) if ms < since_ms => lo = mid,
            _ => hi = mid,
        }
    }
    if lo == 0 {
        return Some(0);
    }
    first_line_at(log, lo).map(|(start, _)| start).or(Some(0))
}

const LOG_CLOSE: u64 = 64 * 1024;
/// What is read to find a stamped line (Droid's lines are a kilobyte or two).
const LOG_PAGE: u64 = 8 * 1024;

/// The first stamped line starting after `offset` (within a page): where it starts, and its time.
fn first_line_at(log: &Path, offset: u64) -> Option<(u64, u64)> {
    let page = fsutil::read_agent_file(log, End::At(offset), LOG_PAGE).ok()?;
    let mut start = memchr::memchr(b'\n', &page)? + 1;
    while start < page.len() {
        let line = &page[start..];
        let end = memchr::memchr(b'\n', line)?;
        let time = line[..end].strip_prefix(b"[").and_then(|l| l.split(|b| *b == b']').next());
        let ms = time.and_then(|t| crate::time::parse_timestamp(&Value::String(String::from_utf8_lossy(t).into())));
        if let Some(ms) = ms {
            return Some((offset + start as u64, ms));
        }
        start += end + 1;
    }
    None
}

/// A `tool_result` with `is_error: true`, as the failure of the call id the
/// hooks gave its PreToolUse (Droid's hooks carry no call id: it is derived
/// from the session, the tool and its input, as recognition derives it).
fn failure(line: &Value, scope: &Scope) -> Option<Failure> {
    let content = line.get("message")?.get("content")?.as_array()?;
    content.iter().find_map(|block| {
        let failed = block.get("type")?.as_str()? == "tool_result" && block.get("is_error")?.as_bool()?;
        let id = block.get("tool_use_id")?.as_str()?;
        let call_id = scope.calls.get(id).cloned()?;
        let why = block.get("content").and_then(Value::as_str).unwrap_or("failed").to_string();
        failed.then_some(Failure { call_id, why })
    })
}

fn hook_call_id(session: &str, tool: &str, input: &Value) -> Option<String> {
    super::hook_call_id(session, tool, input)
}

/// A custom model's id (`custom:<display name>-<index>`) names the entry of
/// `custom_models` in `<home>/config.json`: its `model` is what ran.
fn model_name(id: &str, home: Option<&Path>) -> String {
    let custom = || {
        let rest = id.strip_prefix("custom:")?;
        let index: usize = rest.rsplit_once('-')?.1.parse().ok()?;
        let home = home?;
        let config: Value = serde_json::from_slice(&std::fs::read(home.join("config.json")).ok()?).ok()?;
        config.get("custom_models")?.get(index)?.get("model")?.as_str().map(String::from)
    };
    custom().unwrap_or_else(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log_line(time: &str, message: &str, session: &str, input: u64) -> String {
        let context = json!({"inputTokens": input, "cacheReadInputTokens": 7, "totalInputTokens": input + 7,
            "reasoningTokens": 2, "outputTokens": 5, "reason": "tool-calls", "cachedTokensWritten": 3,
            "tags": {"sessionId": session, "modelId": "claude-x"}});
        format!("[{time}] INFO: {message} | Context: {context}\n")
    }

    #[test]
    fn a_streaming_result_of_the_session_is_a_response() {
        let home = tempfile::tempdir().unwrap();
        let mut scope = Scope { session: Some("s1".into()), home: Some(home.path().into()), ..Scope::default() };
        let mut ctx = Context::default();
        let line = log_line("2026-12-07T05:56:16.420Z", STREAMING_RESULT, "s1", 100);
        let r = logged_response(line.trim_end(), &mut ctx, &mut scope).unwrap();
        assert_eq!(r.key, "droid-log:s1:2026-12-07T05:56:16.420Z");
        assert_eq!(
            (r.model.as_deref(), r.stop_reason.as_deref(), r.reasoning),
            (Some("claude-x"), Some("tool-calls"), 2)
        );
        let t = r.tokens;
        assert_eq!((t.input, t.cache_read, t.cache_write, t.output), (100, 7, 3, 5));
        assert_eq!(r.ts_ms, crate::time::parse_timestamp(&json!("2026-12-07T05:56:16.420Z")));
        // The model the request before named wins over the tags' id.
        let sent = log_line("2026-12-07T05:56:16.300Z", SEND_MESSAGE, "s1", 0)
            .replace("\"inputTokens\"", "\"modelId\":\"kz-model\",\"x\"");
        assert_eq!(logged_response(sent.trim_end(), &mut ctx, &mut scope), None);
        assert_eq!(logged_response(line.trim_end(), &mut ctx, &mut scope).unwrap().model.as_deref(), Some("kz-model"));
        let other = log_line("2026-12-07T05:56:16.420Z", STREAMING_RESULT, "s2", 100);
        assert_eq!(logged_response(other.trim_end(), &mut ctx, &mut scope), None, "another session's");
        let prepared = log_line("2026-12-07T05:56:16.420Z", "[Agent] Outbound request prepared", "s1", 100);
        assert_eq!(logged_response(prepared.trim_end(), &mut ctx, &mut scope), None);
        assert_eq!(logged_response("TypeError: getaddrinfo ENOTFOUND", &mut ctx, &mut scope), None);
    }

    #[test]
    fn a_subagents_responses_count_in_its_callers_read_only() {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("sessions").join("-work-project");
        std::fs::create_dir_all(&project).unwrap();
        let start = |id: &str, caller: &str| {
            let line =
                json!({"type": "session_start", "id": id, "callingSessionId": caller, "callingToolUseId": "call_1"});
            std::fs::write(project.join(format!("{id}.jsonl")), format!("{line}\n")).unwrap();
        };
        start("child", "s1");
        start("other-child", "s2");
        std::fs::write(project.join("s1.jsonl"), "{\"type\":\"session_start\",\"id\":\"s1\"}\n").unwrap();
        let mut scope = Scope { session: Some("s1".into()), home: Some(home.path().into()), ..Scope::default() };
        let mut ctx = Context::default();
        let mut read = |session: &str| {
            let line = log_line("2026-12-07T05:56:16.420Z", STREAMING_RESULT, session, 100);
            logged_response(line.trim_end(), &mut ctx, &mut scope).map(|r| r.key)
        };
        assert_eq!(read("child").as_deref(), Some("droid-log:child:2026-12-07T05:56:16.420Z"));
        assert_eq!(read("other-child"), None, "another session's subagent");
        assert_eq!(read("unknown"), None, "no transcript");
        assert_eq!(read("../child"), None, "not a session id");
        // Each session's responses are tagged with the model its own last request named.
        let sent = |session: &str, model: &str| {
            log_line("2026-12-07T05:56:16.300Z", SEND_MESSAGE, session, 0)
                .replace("\"inputTokens\"", &format!("\"modelId\":\"{model}\",\"x\""))
        };
        let mut model_of = |line: String| logged_response(line.trim_end(), &mut ctx, &mut scope).and_then(|r| r.model);
        assert_eq!(model_of(sent("s1", "kz-caller")), None);
        assert_eq!(model_of(sent("child", "kz-child")), None);
        let result = |session: &str| log_line("2026-12-07T05:56:17.000Z", STREAMING_RESULT, session, 100);
        assert_eq!(model_of(result("child")).as_deref(), Some("kz-child"));
        assert_eq!(model_of(result("s1")).as_deref(), Some("kz-caller"));
        assert_eq!(ctx.model.as_deref(), Some("kz-caller"), "the session's model stays its own");
        let known: Vec<_> = scope.subagents.iter().map(|(s, called)| (s.as_str(), *called)).collect();
        assert_eq!(known, [("../child", false), ("child", true), ("other-child", false), ("unknown", false)]);
        // The subagent's own reads take its transcript, not the log.
        let payload = |id: &str| {
            let path = project.join(format!("{id}.jsonl"));
            json!({"session_id": id, "transcript_path": path}).as_object().unwrap().clone()
        };
        assert_eq!(transcripts(&payload("child")), [project.join("child.jsonl")]);
        assert_eq!(transcripts(&payload("s1")).len(), 2, "the caller reads the log");
    }

    #[test]
    fn the_session_starts_in_the_log_where_its_time_does() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("droid-log-single.log");
        let mut text = String::new();
        for minute in 0..60 {
            for second in 0..60 {
                let time = format!("2026-12-07T05:{minute:02}:{second:02}.000Z");
                text += &log_line(&time, "[Agent] Outbound request prepared", "other", 1);
                text += "    at async uH (fetch.ts:165:26)\n";
            }
        }
        std::fs::write(&log, &text).unwrap();
        let at = |time: &str| crate::time::parse_timestamp(&json!(time)).unwrap();
        let wanted = text.find("[2026-12-07T05:30:00.000Z]").unwrap() as u64;
        let start = log_offset(&log, at("2026-12-07T05:30:00.000Z")).unwrap();
        assert!(start <= wanted && wanted - start <= 2 * LOG_CLOSE, "{start} {wanted}");
        assert!(text[..start as usize].ends_with('\n'), "a line start");
        assert_eq!(log_offset(&log, at("2026-12-07T04:00:00.000Z")), Some(0));
        let end = log_offset(&log, at("2026-12-07T07:00:00.000Z")).unwrap();
        assert!(text.len() as u64 - end <= 2 * LOG_CLOSE);
    }

    #[test]
    fn a_failed_result_fails_the_call_id_its_pre_tool_use_got() {
        let payload = json!({"session_id": "s1", "transcript_path": "/nowhere/.factory/sessions/p/s1.jsonl"});
        let mut scope = scope(payload.as_object().unwrap());
        let input = json!({"command": "exit 2", "riskLevel": "low"});
        let call = json!({"type": "message", "message": {"role": "assistant", "modelId": "claude-x",
            "content": [{"type": "tool_use", "id": "call_1", "name": "Execute", "input": input}]}});
        let mut ctx = Context::default();
        assert_eq!(response(&call, &mut ctx, &mut scope), None);
        assert_eq!(ctx.model.as_deref(), Some("claude-x"));
        let result = json!({"type": "message", "message": {"role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "is_error": true, "content": "Error: exit code 2"}]}});
        let failed = failure(&result, &scope).unwrap();
        assert_eq!(Some(failed.call_id), hook_call_id("s1", "Execute", &input));
        let unknown =
            json!({"message": {"content": [{"type": "tool_result", "tool_use_id": "other", "is_error": true}]}});
        assert_eq!(failure(&unknown, &scope), None);
    }
}
