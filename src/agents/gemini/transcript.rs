//! The transcript (docs/tokens-and-cost.md): `~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`,
//! a metadata line, then records by `id` and `{"$set": {...}}` updates; a
//! subagent's in `chats/<session id>/<its id>.jsonl`, named by no hook.

use crate::cost::Tokens;
use crate::payload::Payload;
use crate::transcript::{Context, Failure, Response, Scope, count};
use serde_json::Value;
use std::path::PathBuf;

/// Lines worth parsing: a model response carries `tokens`, a denied call `"status":"error"`.
pub(super) const NEEDLES: &[&[u8]] = &[b"\"tokens\":{", b"\"status\":\"error\""];

/// One `type: "gemini"` record is one model response, keyed by its `id`.
/// Gemini writes a record again each time it changes (its tokens arrive,
/// then its tool calls): the transcript module keeps one per id, with its
/// largest figures. `{"$set": {"messages": [...]}}` (written at resume and at
/// compression) repeats the history without new responses and is skipped:
/// its records carry no `tokens` at resume, the same ones otherwise.
/// `tokens.input` includes `cached`; `output` excludes `thoughts`; `tool`
/// (the prompt of a built-in tool's call) is billed as input.
pub(super) fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    if line.get("type")?.as_str()? != "gemini" {
        return None;
    }
    let tokens = line.get("tokens").filter(|t| t.is_object())?;
    let key = line.get("id")?.as_str().filter(|id| !id.is_empty())?.to_string();
    if let Some(model) = line.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
        ctx.model = Some(model.to_string());
    }
    let (cached, thoughts) = (count(tokens, "cached"), count(tokens, "thoughts"));
    Some(Response {
        key,
        model: ctx.model.clone(),
        tokens: Tokens {
            input: count(tokens, "input").saturating_sub(cached) + count(tokens, "tool"),
            output: count(tokens, "output") + thoughts,
            cache_read: cached,
            ..Tokens::default()
        },
        reasoning: thoughts,
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        ..Response::default()
    })
}

/// The session whose turn end is read. Gemini's hooks carry no call id, so
/// kaizen-hook derives one from the session, tool and input; a failed call in
/// the transcript is matched to its `BeforeTool` by the same derivation,
/// which needs the session.
pub(super) fn scope(p: &Payload) -> Scope {
    let session = p.get("session_id").and_then(Value::as_str).filter(|s| !s.is_empty());
    Scope { session: session.map(String::from), ..Scope::default() }
}

/// A tool call the transcript says ended in an error (`toolCalls[].status`):
/// a call denied by a policy gets only its `BeforeTool`, no `AfterTool`.
/// Calls whose `AfterTool` came are closed already and are not reported twice.
pub(super) fn failure(line: &Value, scope: &Scope) -> Option<Failure> {
    if line.get("type")?.as_str()? != "gemini" {
        return None;
    }
    let session = scope.session.as_deref()?;
    line.get("toolCalls")?.as_array()?.iter().find_map(|call| {
        if call.get("status")?.as_str()? != "error" {
            return None;
        }
        let tool = call.get("name")?.as_str()?;
        let why = call
            .pointer("/result/0/functionResponse/response/error")
            .or_else(|| call.get("resultDisplay"))
            .and_then(Value::as_str)
            .unwrap_or("error");
        Some(Failure { call_id: hook_call_id(session, tool, call.get("args")?)?, why: why.to_string() })
    })
}

/// The call id kaizen-hook gave this call's `BeforeTool`.
fn hook_call_id(session: &str, tool: &str, args: &Value) -> Option<String> {
    crate::agents::hook_call_id(session, tool, args)
}

/// The most subagent transcripts listed for one session.
const MAX_SUBAGENTS: usize = 256;

/// The session's transcript and its subagents' (`chats/<session id>/*.jsonl`,
/// named by no hook).
pub(super) fn transcripts(p: &Payload) -> Vec<PathBuf> {
    let session = p.get("session_id").and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(main) = p.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()).map(PathBuf::from)
    else {
        return Vec::new();
    };
    let mut subagents: Vec<PathBuf> = match (main.parent(), session) {
        (Some(chats), Some(session)) => std::fs::read_dir(chats.join(file_name_part(session)))
            .into_iter()
            .flatten()
            .flatten()
            .take(MAX_SUBAGENTS)
            .map(|e| e.path())
            .filter(|path| path.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        _ => Vec::new(),
    };
    subagents.sort();
    std::iter::once(main).chain(subagents).collect()
}

/// A session id as Gemini puts it in a file name: every UTF-16 unit that is
/// not `[A-Za-z0-9_-]` becomes `_` (so no id can climb out of `chats/`).
fn file_name_part(id: &str) -> String {
    id.chars()
        .flat_map(|c| {
            let keep = c.is_ascii_alphanumeric() || c == '_' || c == '-';
            std::iter::repeat_n(if keep { c } else { '_' }, if keep { 1 } else { c.len_utf16() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real record (Gemini CLI 0.61), as first written: its tokens, no tool calls yet.
    const RECORD: &str = r#"{"id":"90a00941-077c-4dcb-928d-23516528e766","timestamp":"2026-11-30T01:40:17.870Z","type":"gemini","content":"","thoughts":[{"subject":"","description":"Run a command.","timestamp":"2026-11-30T01:40:17.870Z"}],"tokens":{"input":1101,"output":31,"cached":211,"thoughts":8,"tool":0,"total":1140},"model":"gemini-3.8-flash"}"#;
    /// A real record of a call denied by policy, its description cut short.
    const DENIED: &str = r#"{"id":"49a329ca-3cdc-43a4-953c-5ee88be1f848","timestamp":"2026-11-30T01:40:46.251Z","type":"gemini","content":"","thoughts":[],"tokens":{"input":2111,"output":41,"cached":321,"thoughts":18,"tool":0,"total":2170},"model":"gemini-3.8-flash","toolCalls":[{"id":"run_shell_command__r2-denied","name":"run_shell_command","args":{"command":"rm -f notes.txt","description":"denied by policy"},"result":[{"functionResponse":{"id":"run_shell_command__r2-denied","name":"run_shell_command","response":{"error":"Tool execution denied by policy."}}}],"status":"error","timestamp":"2026-11-30T01:40:46.510Z","resultDisplay":"Tool execution denied by policy.","description":"This tool executes a given shell command","displayName":"Shell","renderOutputAsMarkdown":false}]}"#;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_record_is_a_response_in_the_spec_meanings() {
        let mut ctx = Context::default();
        let r = response(&parse(RECORD), &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!(r.key, "90a00941-077c-4dcb-928d-23516528e766");
        assert_eq!(r.model.as_deref(), Some("gemini-3.8-flash"));
        assert_eq!(r.tokens, Tokens { input: 890, output: 39, cache_read: 211, ..Tokens::default() });
        assert_eq!(r.reasoning, 8, "thoughts: billed as output, not in Gemini's `output`");
        assert_eq!(r.ts_ms, Some(1_796_002_817_870));
        assert_eq!(ctx.model.as_deref(), Some("gemini-3.8-flash"));
    }

    #[test]
    fn tool_prompt_tokens_are_input_and_a_model_named_earlier_holds() {
        let mut ctx = Context { model: Some("gemini-2.5-pro".into()), version: None };
        let line = json!({"id": "a", "type": "gemini", "tokens": {"input": 100, "cached": 30, "tool": 7}});
        let r = response(&line, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.model.as_deref()), (77, 30, Some("gemini-2.5-pro")));
    }

    #[test]
    fn what_is_not_a_response_is_none_and_bad_values_are_not_trusted() {
        let mut ctx = Context::default();
        let set = json!({"$set": {"messages": [parse(RECORD)], "lastUpdated": "2026-11-30T01:40:44.502Z"}});
        assert_eq!(
            response(&set, &mut ctx, &mut Scope::default()),
            None,
            "a history re-written by `$set` repeats old records"
        );
        for line in [
            json!({"id": "a", "type": "gemini", "tokens": null}),
            json!({"id": "a", "type": "gemini", "tokens": [1, 2]}),
            json!({"id": "a", "type": "user", "tokens": {"input": 1}}),
            json!({"id": 7, "type": "gemini", "tokens": {"input": 1}}),
            json!({"id": "", "type": "gemini", "tokens": {"input": 1}}),
            json!({"type": "gemini", "tokens": {"input": 1}}),
            json!({"id": "a", "type": 3, "tokens": {"input": 1}}),
            json!([1, 2]),
            json!("gemini"),
        ] {
            assert_eq!(response(&line, &mut ctx, &mut Scope::default()), None, "{line}");
        }
        let odd = json!({"id": "a", "type": "gemini", "model": 5,
            "tokens": {"input": -5, "output": 1u64 << 50, "cached": "12", "thoughts": 2.5, "tool": u64::MAX}});
        let r = response(&odd, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.tokens, r.reasoning, r.model), (Tokens::default(), 0, None));
    }

    #[test]
    fn a_denied_call_fails_with_the_call_id_its_before_tool_got() {
        assert_eq!(failure(&parse(DENIED), &Scope::default()), None, "no session, no id to match");
        let payload = json!({"session_id": "s-1", "transcript_path": "/nowhere/chats/t.jsonl"});
        let scope = scope(payload.as_object().unwrap());
        let args = json!({"command": "rm -f notes.txt", "description": "denied by policy"});
        let hooked = hook_call_id("s-1", "run_shell_command", &args).unwrap();
        let failed = failure(&parse(DENIED), &scope).unwrap();
        assert_eq!((failed.call_id, failed.why.as_str()), (hooked, "Tool execution denied by policy."));
        assert_eq!(failure(&parse(RECORD), &scope), None, "no call failed");
        assert_eq!(failure(&json!({"type": "gemini", "toolCalls": [{"status": "error"}, 5, null]}), &scope), None);
    }

    #[test]
    fn the_subagents_are_listed_beside_the_session_and_no_id_climbs_out() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("session-2026-11-30T01-40-e9a258eb.jsonl");
        std::fs::create_dir_all(dir.path().join("e9a258eb-1")).unwrap();
        std::fs::write(dir.path().join("e9a258eb-1/b.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("e9a258eb-1/a.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("e9a258eb-1/notes.txt"), "").unwrap();
        let payload = json!({"session_id": "e9a258eb-1", "transcript_path": main});
        let paths = transcripts(payload.as_object().unwrap());
        let sub = |name: &str| dir.path().join("e9a258eb-1").join(name);
        assert_eq!(paths, [main, sub("a.jsonl"), sub("b.jsonl")]);
        assert_eq!(transcripts(json!({"session_id": "x"}).as_object().unwrap()), Vec::<PathBuf>::new());
        assert_eq!(file_name_part("../../etc"), "______etc");
        assert_eq!(file_name_part("a.b/c_d-é😀"), "a_b_c_d-___", "one `_` per UTF-16 unit, as JavaScript counts");
    }
}
