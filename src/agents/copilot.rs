//! GitHub Copilot CLI: camelCase payloads with `sessionId` and an epoch-ms
//! `timestamp`, and no event name: it is registered with `--event`. It runs
//! every `~/.copilot/hooks/*.json` (`$COPILOT_HOME/hooks/`); ours is
//! `kaizen-hook.json`, so the user's own hook files are never edited.

use super::{Agent, DOCUMENTED, Payload, env_dir, env_dir_or_home, failed_exit, has};
use crate::cost::Tokens;
use crate::install::flat::{self, Flat};
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "copilot",
    title: "Copilot CLI",
    evidence,
    transcript_marker: "/.copilot/",
    events: &[
        ("sessionStart", Phase::SessionStart),
        ("sessionEnd", Phase::SessionEnd),
        ("userPromptSubmitted", Phase::Prompt),
        // The same prompt again, after Copilot expanded it: not a second prompt.
        ("userPromptTransformed", Phase::Other),
        ("preToolUse", Phase::ToolCall),
        ("postToolUse", Phase::ToolResult),
        ("postToolUseFailure", Phase::ToolFailure),
        ("agentStop", Phase::TurnEnd),
        ("subagentStart", Phase::SubagentStart),
        ("subagentStop", Phase::SubagentStop),
        ("errorOccurred", Phase::Failure),
        ("preCompact", Phase::Other),
        ("permissionRequest", Phase::Waiting),
        ("notification", Phase::Other),
    ],
    guidance_files: &[".github/copilot-instructions.md"],
    guidance_dirs: &[".github/instructions"],
    reinterpret,
    version,
    transcript: Some(Reader {
        needles: &[
            b"session.usage_record",
            b"session.compaction_complete",
            b"session.start",
            b"session.resume",
            b"session.model_change",
        ],
        parse: response,
        // A call denied by permissions ends in `tool.execution_complete`
        // (`error.code: "denied"`) under Copilot's own call id, which the hooks
        // never send: the recorded call has a derived id no transcript line
        // names, so no line here can close it.
        failure: no_failure,
        paths: transcripts,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks/kaizen-hook.json",
        // camelCase names: PascalCase ones make Copilot send Claude-shaped
        // payloads, which would be taken for Claude's. `notification` is left
        // out: it never fires headless, and permissionRequest already says
        // the agent waits. A non-zero exit from preToolUse denies the tool;
        // kaizen-hook always exits 0, and a timeout lets the tool run.
        format: Format::Flat(Flat {
            events: &[
                ("sessionStart", Category::SessionStart),
                ("sessionEnd", Category::SessionEnd),
                ("userPromptSubmitted", Category::Prompt),
                ("userPromptTransformed", Category::Event),
                ("preToolUse", Category::ToolUse),
                ("postToolUse", Category::ToolUse),
                ("postToolUseFailure", Category::ToolUse),
                ("agentStop", Category::Stop),
                ("subagentStart", Category::Subagent),
                ("subagentStop", Category::Subagent),
                ("permissionRequest", Category::Event),
                ("errorOccurred", Category::Event),
                ("preCompact", Category::Event),
            ],
            timeout: TIMEOUT_SECONDS,
            entry: flat::COPILOT,
        }),
        note: None,
    }),
    snippet: Some("copilot-hooks.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    let camel_tool = has(p, "toolName") || has(p, "toolArgs");
    has(p, "sessionId") || (camel_tool && p.get("timestamp").is_some_and(Value::is_number))
}

/// A shell command's exit status is only in the result's text
/// (`<shellId: 1 completed with exit code 2>`); `resultType` says success.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let result = p.get("toolResult")?;
    if let Some(kind) = result.get("resultType").and_then(Value::as_str).filter(|k| *k != "success") {
        return Some((Phase::ToolFailure, format!("result type {kind}")));
    }
    failed_exit(result.get("textResultForLlm").and_then(Value::as_str), "exit code")
}

/// Copilot CLI names its version in every hook's environment.
fn version(_: &Payload) -> Option<String> {
    std::env::var("COPILOT_CLI_BINARY_VERSION").ok().filter(|v| !v.is_empty())
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("COPILOT_HOME", home, ".copilot")
}

/// One model call per `session.usage_record` (the subagents' too, in the
/// parent's file, marked `agentId`), keyed by `accounting.usageId`; the
/// compaction's call has none and is counted from `session.compaction_complete`.
/// `session.shutdown` and `session.usage_checkpoint` repeat running totals:
/// never counted.
fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    let data = line.get("data")?;
    let own = line.get("agentId").is_none();
    match line.get("type")?.as_str()? {
        "session.start" => {
            ctx.version = text(data, "copilotVersion").or(ctx.version.take());
            ctx.model = text(data, "selectedModel").or(ctx.model.take());
            None
        }
        "session.resume" if own => {
            ctx.model = text(data, "selectedModel").or(ctx.model.take());
            None
        }
        "session.model_change" if own => {
            ctx.model = text(data, "newModel").or(ctx.model.take());
            None
        }
        "session.usage_record" => usage_record(line, data.get("usage")?, ctx, own),
        "session.compaction_complete" => compaction(line, data, ctx),
        _ => None,
    }
}

fn usage_record(line: &Value, usage: &Value, ctx: &mut Context, own: bool) -> Option<Response> {
    let key = usage
        .get("accounting")
        .and_then(|a| text(a, "usageId"))
        .or_else(|| text(usage, "apiCallId"))
        .or_else(|| text(line, "id"))?;
    let model = text(usage, "model").or_else(|| ctx.model.clone());
    if own && model.is_some() {
        ctx.model = model.clone();
    }
    Some(Response {
        key,
        model,
        tokens: split(usage),
        reasoning: count(usage, "reasoningTokens"),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        stop_reason: text(usage, "finishReason"),
        ttft_ms: usage.get("timeToFirstTokenMs").and_then(millis),
        latency_ms: usage.get("duration").and_then(millis),
        context_max: Some(count(usage, "maxPromptTokens")).filter(|n| *n > 0),
        ..Response::default()
    })
}

/// The compaction's summary call, with `compactionTokensUsed` (the same
/// figures as a usage record, summed over its `requestCount` calls) and no
/// reasoning count: Copilot keeps none for it, so its `reasoning` stays 0
/// (its `outputTokens` still include any).
fn compaction(line: &Value, data: &Value, ctx: &Context) -> Option<Response> {
    let used = data.get("compactionTokensUsed")?;
    let model = text(used, "model").or_else(|| text(data, "behaviorModelId")).or_else(|| ctx.model.clone());
    Some(Response {
        key: text(data, "compactionAttemptId")?,
        model,
        tokens: split(used),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        latency_ms: used.get("duration").and_then(millis),
        context_max: Some(count(data, "tokenLimit")).filter(|n| *n > 0),
        ..Response::default()
    })
}

/// Copilot's `inputTokens` is the whole prompt, as the OpenAI wire's
/// `prompt_tokens`: cache reads and writes included. `outputTokens` includes
/// the reasoning.
fn split(usage: &Value) -> Tokens {
    let (cache_read, cache_write) = (count(usage, "cacheReadTokens"), count(usage, "cacheWriteTokens"));
    Tokens::of_prompt(count(usage, "inputTokens"), cache_read, cache_write, count(usage, "outputTokens"))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().filter(|s| !s.is_empty()).map(String::from)
}

/// Milliseconds, as Copilot writes them (integers, or fractions for the
/// time to first token).
fn millis(value: &Value) -> Option<u32> {
    value.as_f64().filter(|ms| (0.0..f64::from(u32::MAX)).contains(ms)).map(|ms| ms.round() as u32)
}

/// The transcript a turn end names (`transcriptPath`; a subagent's names its
/// parent's), else the session's own where Copilot keeps it: `sessionEnd`
/// names none, and what Copilot wrote after the last `agentStop` (a
/// background compaction's figures) is taken there.
fn transcripts(p: &Payload) -> Vec<PathBuf> {
    if let Some(path) = p.get("transcriptPath").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let session = ["parentAgentId", "sessionId"].iter().find_map(|k| p.get(*k).and_then(Value::as_str));
    let Some(session) = session.filter(|id| plain_id(id)) else { return Vec::new() };
    let dir = match crate::config::home_dir() {
        Some(home) => config_dir(&home),
        None => match env_dir("COPILOT_HOME") {
            Some(dir) => dir,
            None => return Vec::new(),
        },
    };
    vec![dir.join("session-state").join(session).join("events.jsonl")]
}

/// A session id safe to use as a directory name (Copilot's are UUIDs).
fn plain_id(id: &str) -> bool {
    id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USAGE: &str = r#"{"type":"session.usage_record","data":{"usage":{"model":"gpt-4.1","inputTokens":1101,"outputTokens":31,"cacheReadTokens":501,"cacheWriteTokens":51,"reasoningTokens":11,"cost":0.0,"duration":52,"timeToFirstTokenMs":44.997524999999996,"maxPromptTokens":64000,"apiCallId":"chatcmpl-kz-main-1-bash_ok","accounting":{"sourceSessionId":"991a43a4-fb55-4992-9c3d-0a74d01577fc","sequence":1,"usageId":"chatcmpl-kz-main-1-bash_ok"},"finishReason":"tool_calls"}},"id":"39c2d1b1-b4d7-4e94-b327-959940f39d6d","timestamp":"2026-11-30T01:40:07.745Z","parentId":"79dac1b4-92aa-4beb-b5d1-efb7bb3c89a8"}"#;

    #[test]
    fn a_usage_record_splits_the_prompt_into_fresh_cache_read_and_cache_write() {
        let mut ctx = Context::default();
        let r = response(&serde_json::from_str(USAGE).unwrap(), &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!(r.key, "chatcmpl-kz-main-1-bash_ok");
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.cache_write), (549, 501, 51));
        assert_eq!((r.tokens.output, r.reasoning), (31, 11));
        assert_eq!((r.ttft_ms, r.latency_ms, r.context_max), (Some(45), Some(52), Some(64000)));
        assert_eq!((r.stop_reason.as_deref(), r.agent_cost_usd), (Some("tool_calls"), None));
        assert_eq!(ctx.model.as_deref(), Some("gpt-4.1"));
    }

    #[test]
    fn a_subagent_does_not_change_the_model_in_force() {
        let mut ctx = Context { model: Some("gpt-4.1".into()), version: None };
        let mut line: Value = serde_json::from_str(USAGE).unwrap();
        line["agentId"] = json!("6cd5dc3f");
        line["data"]["usage"]["model"] = json!("claude-haiku-4.5");
        let r = response(&line, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!(r.model.as_deref(), Some("claude-haiku-4.5"));
        let change = json!({"type": "session.model_change", "agentId": "6cd5dc3f", "data": {"newModel": "x"}});
        assert!(response(&change, &mut ctx, &mut Scope::default()).is_none());
        assert_eq!(ctx.model.as_deref(), Some("gpt-4.1"));
    }

    #[test]
    fn session_start_names_the_version_and_model() {
        let mut ctx = Context::default();
        let start = json!({"type": "session.start", "data": {"copilotVersion": "1.0.102", "selectedModel": "gpt-4.1"}});
        assert!(response(&start, &mut ctx, &mut Scope::default()).is_none());
        assert_eq!((ctx.version.as_deref(), ctx.model.as_deref()), (Some("1.0.102"), Some("gpt-4.1")));
        let mut line: Value = serde_json::from_str(USAGE).unwrap();
        line["data"]["usage"].as_object_mut().unwrap().remove("model");
        assert_eq!(
            response(&line, &mut ctx, &mut Scope::default()).unwrap().model.as_deref(),
            Some("gpt-4.1"),
            "the model in force"
        );
    }

    #[test]
    fn figures_that_do_not_add_up_are_not_trusted() {
        let mut ctx = Context::default();
        let usage = json!({"type": "session.usage_record", "id": "e1", "data": {"usage": {
            "inputTokens": 10, "cacheReadTokens": 50, "cacheWriteTokens": -3, "outputTokens": "7",
            "reasoningTokens": 1u64 << 50, "duration": -1, "timeToFirstTokenMs": 1e300, "maxPromptTokens": null}}});
        let r = response(&usage, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!(r.key, "e1", "no usageId nor apiCallId: the line's own id");
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.cache_write, r.tokens.output), (0, 50, 0, 0));
        assert_eq!((r.reasoning, r.latency_ms, r.ttft_ms, r.context_max), (0, None, None, None));
    }

    #[test]
    fn any_json_is_harmless() {
        let mut ctx = Context::default();
        let odd = [
            json!(null),
            json!([1, 2]),
            json!({"type": 5}),
            json!({"type": "session.usage_record"}),
            json!({"type": "session.usage_record", "data": []}),
            json!({"type": "session.usage_record", "data": {"usage": "x"}}),
            json!({"type": "session.compaction_complete", "data": {"compactionTokensUsed": {}}}),
            json!({"type": "session.start", "data": {"copilotVersion": 7, "selectedModel": ""}}),
            json!({"type": "session.shutdown", "data": {"modelMetrics": {"gpt-4.1": {"usage": {"inputTokens": 5}}}}}),
        ];
        for line in odd {
            assert_eq!(response(&line, &mut ctx, &mut Scope::default()), None, "{line}");
        }
        assert_eq!(ctx, Context::default());
    }

    #[test]
    fn the_compaction_is_keyed_by_its_attempt() {
        let line = json!({"type": "session.compaction_complete", "timestamp": "2026-11-30T01:40:28.350Z", "data": {
            "compactionAttemptId": "3ba6e1f0", "tokenLimit": 64000, "behaviorModelId": "gpt-4.1",
            "compactionTokensUsed": {"requestCount": 1, "inputTokens": 7101, "outputTokens": 71,
                "cacheReadTokens": 3001, "cacheWriteTokens": 91, "duration": 45}}});
        let r = response(&line, &mut Context::default(), &mut Scope::default()).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("3ba6e1f0", Some("gpt-4.1")));
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.cache_write, r.tokens.output), (4009, 3001, 91, 71));
        assert_eq!((r.latency_ms, r.context_max, r.ts_ms.is_some()), (Some(45), Some(64000), true));
    }

    #[test]
    fn a_session_id_is_a_directory_name_only_when_plain() {
        assert!(plain_id("991a43a4-fb55-4992-9c3d-0a74d01577fc"));
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", &"x".repeat(129)] {
            assert!(!plain_id(bad), "{bad}");
        }
        let named = json!({"transcriptPath": "/t/events.jsonl", "sessionId": "s"});
        assert_eq!(transcripts(named.as_object().unwrap()), [PathBuf::from("/t/events.jsonl")]);
        let climbing = json!({"sessionId": "../x"});
        assert!(transcripts(climbing.as_object().unwrap()).is_empty());
    }
}
