//! Kimi Code CLI (npm `@moonshot-ai/kimi-code`): Claude's event names and
//! payload shape, registered as `[[hooks]]` tables in `~/.kimi-code/config.toml`
//! (or `$KIMI_CODE_HOME/config.toml`). Its payloads carry no transcript path:
//! each agent of a session keeps a wire log, found from the session id.

use super::{Agent, DOCUMENTED, Payload, env_dir_or_home};
use crate::cost::Tokens;
use crate::install::toml_hooks::{self, TomlHooks};
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::{Category, Phase};
use crate::store::fsutil::{self, End};
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every event 2.1 accepts in a `[[hooks]]` entry; any other name makes it
/// ignore the whole `hooks` section.
const ACCEPTED: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "PermissionResult",
    "UserPromptSubmit",
    "UserPromptQueued",
    "TurnStarted",
    "Stop",
    "StopFailure",
    "Interrupt",
    "SessionStart",
    "SessionEnd",
    "SessionHeartbeat",
    "SubagentStart",
    "SubagentStop",
    "TaskStarted",
    "PreCompact",
    "PostCompact",
    "Notification",
];

/// The 16 documented events; not the four more it accepts (`TurnStarted`
/// and `UserPromptQueued` repeat the prompt, `SessionHeartbeat` ticks,
/// `TaskStarted` is a background task's own start).
const HOOK_EVENTS: &[(&str, Category)] = &[
    ("SessionStart", Category::SessionStart),
    ("SessionEnd", Category::SessionEnd),
    ("UserPromptSubmit", Category::Prompt),
    ("PreToolUse", Category::ToolUse),
    ("PostToolUse", Category::ToolUse),
    ("PostToolUseFailure", Category::ToolUse),
    ("PermissionRequest", Category::Event),
    ("PermissionResult", Category::Event),
    ("Notification", Category::Event),
    ("Stop", Category::Stop),
    ("StopFailure", Category::Stop),
    ("Interrupt", Category::Stop),
    ("SubagentStart", Category::Subagent),
    ("SubagentStop", Category::Subagent),
    ("PreCompact", Category::Event),
    ("PostCompact", Category::Event),
];

pub static AGENT: Agent = Agent {
    name: "kimi",
    title: "Kimi Code",
    evidence,
    transcript_marker: "/.kimi-code/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PostToolUseFailure", Phase::ToolFailure),
        ("PermissionRequest", Phase::Waiting),
        ("PermissionResult", Phase::Other),
        ("Notification", Phase::Other),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("Interrupt", Phase::TurnEnd),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
    ],
    guidance_files: &["AGENTS.md"],
    version,
    config_problems,
    transcript: Some(Reader {
        needles: &[b"\"llm.request\"", b"\"step.end\""],
        parse: response,
        failure: no_failure,
        paths: wire_logs,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "config.toml",
        format: Format::TomlHooks(TomlHooks {
            events: HOOK_EVENTS,
            event_key: "event",
            named: false,
            timeout: TIMEOUT_SECONDS,
        }),
        note: None,
    }),
    snippet: Some("kimi-config.toml"),
    subagents_send_turn_end: true,
    ..DOCUMENTED
};

/// Every payload names the client that sent it: `"client_type": "kimi_code_cli"`.
fn evidence(p: &Payload) -> bool {
    p.get("client_type").and_then(Value::as_str).is_some_and(|client| client.starts_with("kimi_code"))
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("KIMI_CODE_HOME", home, ".kimi-code")
}

/// Kimi gives its version to no hook, and hides its script's path (its
/// process is renamed `kimi-code`). Its update check notes the running
/// version at each start, `"current"` in `updates/rollout.log` (not written
/// when `KIMI_CODE_NO_AUTO_UPDATE` turns the check off): the last line's.
fn version(_: &Payload) -> Option<String> {
    let home = crate::config::home_dir()?;
    let log = config_dir(&home).join("updates").join("rollout.log");
    last_current(&fsutil::read_agent_file(&log, End::Tail, 4096).ok()?)
}

/// The `"current"` version of the last whole line that names one.
fn last_current(tail: &[u8]) -> Option<String> {
    tail.split(|b| *b == b'\n').rev().find_map(|line| {
        let line: Value = serde_json::from_slice(line).ok()?;
        line.get("current")?.as_str().filter(|v| !v.is_empty()).map(String::from)
    })
}

/// One `[[hooks]]` entry Kimi rejects makes it ignore the whole `hooks`
/// section: kaizen-hook's entries with the rest. Its schema: `event` one of
/// `ACCEPTED`, `command` not empty, `matcher` a string, `timeout` 1 to 600,
/// and no other key.
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("config.toml");
    let Ok(file) = crate::install::toml_file::TomlFile::load(&path) else { return Vec::new() };
    let wrong = match toml_hooks::entries(&file.doc) {
        None => Some("\"hooks\" is not a list of tables".to_string()),
        Some(entries) => {
            entries.into_iter().enumerate().find_map(|(i, entry)| Some(format!("hook {}: {}", i + 1, rejected(entry)?)))
        }
    };
    let fix = "it then ignores every hook, kaizen-hook's too: fix or remove it";
    wrong.map(|why| format!("{} holds hooks Kimi Code rejects ({why}); {fix}", path.display())).into_iter().collect()
}

/// Why Kimi's schema rejects one `[[hooks]]` entry, if it does.
fn rejected(entry: &dyn toml_edit::TableLike) -> Option<String> {
    if let Some((key, _)) = entry.iter().find(|(key, _)| !matches!(*key, "event" | "matcher" | "command" | "timeout")) {
        return Some(format!("unknown key {key:?}"));
    }
    match entry.get("event").map(|e| e.as_str()) {
        None => return Some("no event".into()),
        Some(Some(event)) if ACCEPTED.contains(&event) => {}
        Some(event) => {
            return Some(format!("unknown event {}", event.map_or("(not a string)".into(), |e| format!("{e:?}"))));
        }
    }
    if entry.get("command").and_then(toml_edit::Item::as_str).is_none_or(str::is_empty) {
        return Some("no command".into());
    }
    if entry.get("matcher").is_some_and(|m| m.as_str().is_none()) {
        return Some("a matcher that is not a string".into());
    }
    match entry.get("timeout").map(toml_edit::Item::as_integer) {
        None | Some(Some(1..=600)) => None,
        Some(_) => Some("a timeout that is not a whole number of seconds from 1 to 600".into()),
    }
}

// The wire logs: `<kimi home>/sessions/wd_<dir>_<hash>/<session>/agents/<agent>/wire.jsonl`,
// one per agent of the session (`main`, and each subagent's). Each model call
// is an `llm.request` line (the provider's model name) followed by a
// `context.append_loop_event` line whose `step.end` event holds the call's
// `usage` (`inputOther`, `inputCacheRead`, `inputCacheCreation`, `output`),
// its latencies and the provider's `messageId`. The `usage.record` line
// between them repeats the same usage: not counted.

/// The session's wire logs, found from the session id: its directory is in
/// the bucket of its working directory, which is looked up rather than
/// computed (the bucket's name is Kimi's own slug and hash of the path).
fn wire_logs(p: &Payload) -> Vec<PathBuf> {
    let Some(session) = p.get("session_id").and_then(Value::as_str).filter(|s| super::is_plain_name(s)) else {
        return Vec::new();
    };
    let Some(home) = crate::config::home_dir() else { return Vec::new() };
    let sessions = config_dir(&home).join("sessions");
    let Some(dir) = std::fs::read_dir(&sessions)
        .into_iter()
        .flatten()
        .flatten()
        .map(|bucket| bucket.path().join(session))
        .find(|dir| dir.is_dir())
    else {
        return Vec::new();
    };
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir.join("agents"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|agent| agent.path().join("wire.jsonl"))
        .filter(|log| log.is_file())
        .collect();
    logs.sort();
    logs
}

fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    match line.get("type")?.as_str()? {
        "llm.request" => {
            ctx.model = line.get("model").and_then(Value::as_str).map(String::from).or(ctx.model.take());
            None
        }
        "context.append_loop_event" => {
            let step = line.get("event")?;
            if step.get("type")?.as_str()? != "step.end" {
                return None;
            }
            let usage = step.get("usage")?;
            let millis = |key| step.get(key).and_then(Value::as_u64).and_then(|ms| u32::try_from(ms).ok());
            let key = step.get("messageId").or(step.get("uuid"))?.as_str()?;
            Some(Response {
                key: key.to_string(),
                model: ctx.model.clone(),
                tokens: Tokens {
                    input: count(usage, "inputOther"),
                    output: count(usage, "output"),
                    cache_read: count(usage, "inputCacheRead"),
                    cache_write: count(usage, "inputCacheCreation"),
                    ..Tokens::default()
                },
                ts_ms: line.get("time").and_then(Value::as_u64),
                stop_reason: step.get("providerFinishReason").and_then(Value::as_str).map(String::from),
                ttft_ms: millis("llmFirstTokenLatencyMs"),
                latency_ms: millis("llmFirstTokenLatencyMs")
                    .zip(millis("llmStreamDurationMs"))
                    .map(|(first, stream)| first.saturating_add(stream)),
                turn: step.get("turnId").and_then(Value::as_str).map(String::from),
                ..Response::default()
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines (Kimi Code 2.1.0), the system prompt left out.
    const REQUEST: &str = r#"{"type":"llm.request","agentId":"main","kind":"loop","provider":"openai","model":"kimi-mock","modelAlias":"mock","thinkingEffort":"off","maxTokens":131072,"toolSelect":false,"messageCount":3,"turnStep":"0.1","time":1796622284830}"#;
    const STEP_END: &str = r#"{"type":"context.append_loop_event","agentId":"main","event":{"type":"step.end","uuid":"78244d52-02da-42f8-902e-2c9868cbc5a6","turnId":"0","step":1,"finishReason":"tool_use","usage":{"inputOther":900,"output":30,"inputCacheRead":100,"inputCacheCreation":0},"llmFirstTokenLatencyMs":29,"llmStreamDurationMs":6,"llmRequestBuildMs":2,"llmServerFirstTokenMs":27,"llmServerDecodeMs":5,"llmClientConsumeMs":1,"llmClientBlockedMs":5,"messageId":"chatcmpl-kz-main-1-bash_ok","providerFinishReason":"tool_calls","rawFinishReason":"tool_calls"},"time":1796622284980}"#;
    const USAGE_RECORD: &str = r#"{"type":"usage.record","agentId":"main","model":"mock","usage":{"inputOther":900,"output":30,"inputCacheRead":100,"inputCacheCreation":0},"usageScope":"turn","time":1796622284866}"#;

    #[test]
    fn a_step_end_is_a_response_on_the_model_its_request_named() {
        let (mut ctx, mut scope) = (Context::default(), Scope::default());
        let mut parse = |line: &str| response(&serde_json::from_str(line).unwrap(), &mut ctx, &mut scope);
        assert_eq!(parse(REQUEST), None);
        assert_eq!(parse(USAGE_RECORD), None, "the same usage again");
        let r = parse(STEP_END).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("chatcmpl-kz-main-1-bash_ok", Some("kimi-mock")));
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.cache_write, r.tokens.output), (900, 100, 0, 30));
        assert_eq!((r.ttft_ms, r.latency_ms, r.ts_ms), (Some(29), Some(35), Some(1796622284980)));
        assert_eq!((r.stop_reason.as_deref(), r.turn.as_deref()), (Some("tool_calls"), Some("0")));
    }

    #[test]
    fn the_version_is_the_last_start_s() {
        let log = br#"{"ts":"2026-12-07T05:42:26.635Z","phase":"startup-cache","reason":"no-latest","current":"2.0.2","latest":null}
{"ts":"2026-12-07T05:44:44.286Z","phase":"startup-cache","reason":"no-latest","current":"2.1.0","latest":null}
{"ts":"2026-12-07T05:44:45.0"#;
        assert_eq!(last_current(log).as_deref(), Some("2.1.0"), "the torn last line is skipped");
        assert_eq!(last_current(b"garbage\n"), None);
    }

    #[test]
    fn only_a_plain_session_id_names_a_directory() {
        let is_plain_name = super::super::is_plain_name;
        assert!(is_plain_name("session_41b9f309-be9e-47f2-bb33-2447b0a51ebd"));
        for bad in ["", "..", "a/b", "../../etc", "session_x\0"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_entry_kimi_rejects_is_named() {
        let entry = |text: &str| {
            let doc: toml_edit::DocumentMut = text.parse().unwrap();
            rejected(doc["hooks"].as_array_of_tables().unwrap().get(0).unwrap())
        };
        assert_eq!(entry("[[hooks]]\nevent = \"Stop\"\ncommand = \"x\"\ntimeout = 5\nmatcher = \"\"\n"), None);
        assert_eq!(
            entry("[[hooks]]\nevent = \"Bogus\"\ncommand = \"x\"\n").as_deref(),
            Some("unknown event \"Bogus\"")
        );
        assert_eq!(
            entry("[[hooks]]\nevent = \"Stop\"\ncommand = \"x\"\nname = \"n\"\n").as_deref(),
            Some("unknown key \"name\"")
        );
        assert!(entry("[[hooks]]\nevent = \"Stop\"\ncommand = \"x\"\ntimeout = 601\n").is_some());
        assert!(entry("[[hooks]]\nevent = \"Stop\"\ncommand = \"\"\n").is_some());
        assert!(HOOK_EVENTS.iter().all(|(event, _)| ACCEPTED.contains(event)));
    }
}
