//! CodeBuddy Code (Tencent): `~/.codebuddy/settings.json` (or
//! `$CODEBUDDY_CONFIG_DIR`), Claude Code's hook names and shape. Every payload
//! also carries `client` and `version` (the CLI adds them to each hook's
//! input), which Claude Code's never do: that is how its payloads are told apart.

use super::{Agent, DOCUMENTED, Payload, env_dir_or_home, event_name, has};
use crate::cost::Tokens;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::{Category, Phase};
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Claude Code's events without `Notification`: the first one CodeBuddy
/// sends, `auth_success`, comes before any session and names none, so it
/// would be filed under a session of its own that never ends; the others
/// (`idle_prompt`, `permission_prompt`) mean nothing to a session's record
/// (`PermissionRequest` is registered).
const HOOK_EVENTS: &[(&str, Category)] = &[
    ("SessionStart", Category::SessionStart),
    ("SessionEnd", Category::SessionEnd),
    ("UserPromptSubmit", Category::Prompt),
    ("PreToolUse", Category::ToolUse),
    ("PostToolUse", Category::ToolUse),
    ("PostToolUseFailure", Category::ToolUse),
    ("PermissionRequest", Category::Event),
    ("PermissionDenied", Category::Event),
    ("Stop", Category::Stop),
    ("StopFailure", Category::Stop),
    ("SubagentStart", Category::Subagent),
    ("SubagentStop", Category::Subagent),
    ("PreCompact", Category::Event),
    ("PostCompact", Category::Event),
];

pub static AGENT: Agent = Agent {
    name: "codebuddy",
    title: "CodeBuddy Code",
    evidence,
    transcript_marker: "/.codebuddy/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PostToolUseFailure", Phase::ToolFailure),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PermissionRequest", Phase::Waiting),
        ("Elicitation", Phase::Waiting),
        ("PermissionDenied", Phase::Other),
        ("Notification", Phase::Other),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        ("Setup", Phase::Other),
        ("InstructionsLoaded", Phase::Other),
        ("ConfigChange", Phase::Other),
        ("CwdChanged", Phase::Other),
        ("FileChanged", Phase::Other),
        ("WorktreeCreate", Phase::Other),
        ("WorktreeRemove", Phase::Other),
        ("TaskCreated", Phase::Other),
        ("TaskCompleted", Phase::Other),
        ("TeammateIdle", Phase::Other),
        ("ElicitationResult", Phase::Other),
        ("FinalStop", Phase::Other),
    ],
    guidance_files: &["CODEBUDDY.md", "CODEBUDDY.local.md", "AGENTS.md"],
    guidance_dirs: &[".codebuddy/rules"],
    reinterpret,
    version,
    transcript: Some(Reader {
        needles: &[b"\"usage\""],
        parse: response,
        failure: no_failure,
        paths: super::claude::transcripts,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        format: Format::Nested(Nested { events: HOOK_EVENTS, timeout: TIMEOUT_SECONDS, short: &[] }),
        note: None,
    }),
    snippet: Some("codebuddy-settings.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    has(p, "client") && has(p, "version") && has(p, "hook_event_name")
}

/// A tool that failed without throwing (a command's non-zero exit, a read of
/// a missing file) arrives as `PostToolUse` with `tool_response.is_error`;
/// only a tool that throws gets `PostToolUseFailure`. A turn whose model call
/// failed sends `Stop`, never `StopFailure`. A call refused by permissions
/// ends with `PermissionDenied`.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    match phase {
        Phase::ToolResult => failed_tool(p.get("tool_response")?),
        Phase::TurnEnd => model_error(p),
        Phase::Other if event_name(p) == "PermissionDenied" => denied(p),
        _ => None,
    }
}

/// A call refused by permissions (in `-p` without `-y`, any call that needs
/// approval) gets its PreToolUse, then `PermissionDenied` naming its
/// `tool_use_id`, and no post hook: that is where it ended.
fn denied(p: &Payload) -> Option<(Phase, String)> {
    p.get("tool_use_id")?.as_str()?;
    let reason = p.get("reason").and_then(Value::as_str).unwrap_or_default();
    let reason: String = reason.split(". ").next().unwrap_or_default().chars().take(200).collect();
    Some((Phase::ToolFailure, format!("permission denied: {reason}")))
}

fn failed_tool(response: &Value) -> Option<(Phase, String)> {
    if response.get("is_error") != Some(&Value::Bool(true)) {
        return None;
    }
    let why = match (response.get("exitCode").and_then(Value::as_i64), response.get("tool_error_code")) {
        (Some(code), _) if code != 0 => format!("exit code {code}"),
        (_, Some(Value::String(code))) => format!("is_error, tool_error_code {code}"),
        _ => "is_error".to_string(),
    };
    Some((Phase::ToolFailure, why))
}

/// The error of a model call the API answered with a failure is the turn's
/// last assistant message, ending in ` (<request id>/<session id>)`, the
/// request id being the Stop's own `generation_id`: no reply of the model's
/// can end in its own request's id.
fn model_error(p: &Payload) -> Option<(Phase, String)> {
    let text = |key: &str| p.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let said = text("last_assistant_message")?;
    let error = said.strip_suffix(&format!(" ({}/{})", text("generation_id")?, text("session_id")?))?;
    let error: String = error.chars().take(200).collect();
    Some((Phase::TurnFailure, format!("model error: {error}")))
}

/// Every payload names the CLI's version.
fn version(p: &Payload) -> Option<String> {
    p.get("version").and_then(Value::as_str).filter(|v| !v.is_empty()).map(String::from)
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("CODEBUDDY_CONFIG_DIR", home, ".codebuddy")
}

// The transcript (`transcript_path`, `~/.codebuddy/projects/<project>/<session>.jsonl`;
// a subagent's is `<session>/subagents/agent-<id>.jsonl`, as Claude Code keeps
// them) holds the OpenAI Agents SDK's items, one per line: `message`,
// `function_call`, `function_call_result`. The items of one model response
// share its `id` and `providerData.messageId` (the hooks' `generation_id`);
// exactly one of them carries `providerData.usage` (the SDK's: `inputTokens`
// includes the cached part) and `providerData.rawUsage` (the wire's, where a
// cache write is reported). Written before the turn's Stop.

fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    let data = line.get("providerData")?;
    let usage = data.get("usage")?;
    let model = data.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()).map(String::from);
    if model.is_some() {
        ctx.model.clone_from(&model);
    }
    let detail = |list: &str, key: &str| usage.get(list).and_then(|d| d.get(0)).map_or(0, |d| count(d, key));
    let cache_read = detail("inputTokensDetails", "cached_tokens");
    let cache_write = data.pointer("/rawUsage/prompt_tokens_details").map_or(0, |d| count(d, "cache_write_tokens"));
    let key = data.get("messageId").or(line.get("id"))?.as_str()?.to_string();
    Some(Response {
        key,
        model,
        tokens: Tokens::of_prompt(count(usage, "inputTokens"), cache_read, cache_write, count(usage, "outputTokens")),
        reasoning: detail("outputTokensDetails", "reasoning_tokens"),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        turn: data.get("conversationRequestId").and_then(Value::as_str).map(String::from),
        ..Response::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real line (CodeBuddy Code 2.117.0 against the e2e mock), paths shortened.
    const FUNCTION_CALL: &str = r#"{"id":"chatcmpl-kz-x-1","parentId":"ea4e1de7","timestamp":1796622173001,"type":"function_call","providerData":{"messageId":"2b9184f360ac4c9c85f6a12cfdfde9ae","model":"kz-model","requestModelId":"kz-model","traceId":"3a9259b9","conversationRequestId":"9b30a5bf","rawUsage":{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,"prompt_tokens_details":{"cached_tokens":300,"cache_write_tokens":20},"completion_tokens_details":{"reasoning_tokens":7}},"agent":"cli","usage":{"requests":1,"inputTokens":1000,"outputTokens":50,"totalTokens":1050,"inputTokensDetails":[{"cached_tokens":300}],"outputTokensDetails":[{"reasoning_tokens":7}]}},"callId":"call_kz_bash_ok","name":"Bash","arguments":"{}","sessionId":"d5a37ff2","message":{"usage":{"input_tokens":1000,"output_tokens":50,"total_tokens":1050}},"cwd":"/work/project"}"#;

    #[test]
    fn a_line_with_usage_is_a_response_in_the_spec_meanings() {
        let mut ctx = Context::default();
        let line = serde_json::from_str(FUNCTION_CALL).unwrap();
        let r = response(&line, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("2b9184f360ac4c9c85f6a12cfdfde9ae", Some("kz-model")));
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.cache_write), (680, 300, 20));
        assert_eq!((r.tokens.output, r.reasoning), (50, 7));
        assert_eq!((r.ts_ms, r.turn.as_deref()), (Some(1_796_622_173_001), Some("9b30a5bf")));
        assert_eq!(ctx.model.as_deref(), Some("kz-model"));
        let text = json!({"id": "chatcmpl-kz-x-2", "type": "message", "providerData": {"messageId": "m", "model": "kz-model"}});
        assert_eq!(response(&text, &mut ctx, &mut Scope::default()), None, "an item without usage is not a response");
    }

    #[test]
    fn a_tool_result_with_is_error_is_a_failure() {
        let p = |v: Value| v.as_object().unwrap().clone();
        let exit = p(json!({"tool_response": {"exitCode": 2, "is_error": true, "tool_error_code": "8002"}}));
        assert_eq!(reinterpret(&exit, Phase::ToolResult), Some((Phase::ToolFailure, "exit code 2".to_string())));
        let read = p(json!({"tool_response": {"is_error": true, "tool_error_code": "1001"}}));
        assert_eq!(reinterpret(&read, Phase::ToolResult).map(|(phase, _)| phase), Some(Phase::ToolFailure));
        let ok = p(json!({"tool_response": {"exitCode": 0, "tool_error_code": "0"}}));
        assert_eq!(reinterpret(&ok, Phase::ToolResult), None);
        assert_eq!(reinterpret(&p(json!({"tool_response": "Successfully edited"})), Phase::ToolResult), None);
    }

    #[test]
    fn a_permission_denied_naming_its_call_is_that_calls_failure() {
        let p = |v: Value| v.as_object().unwrap().clone();
        let refused = p(json!({"hook_event_name": "PermissionDenied", "tool_use_id": "c-1", "tool_name": "Bash",
            "reason": "Permission to use Bash has been denied because prompts are off. IMPORTANT: more"}));
        let why = "permission denied: Permission to use Bash has been denied because prompts are off".to_string();
        assert_eq!(reinterpret(&refused, Phase::Other), Some((Phase::ToolFailure, why)));
        let no_call = p(json!({"hook_event_name": "PermissionDenied", "reason": "no"}));
        assert_eq!(reinterpret(&no_call, Phase::Other), None);
    }

    #[test]
    fn a_stop_whose_last_message_is_its_requests_error_is_a_turn_failure() {
        let stop = |said: &str| {
            json!({"session_id": "s-1", "generation_id": "g-1", "last_assistant_message": said})
                .as_object()
                .unwrap()
                .clone()
        };
        let failed = stop("500 Internal server error (g-1/s-1)");
        let why = "model error: 500 Internal server error".to_string();
        assert_eq!(reinterpret(&failed, Phase::TurnEnd), Some((Phase::TurnFailure, why)));
        assert_eq!(reinterpret(&stop("All steps done."), Phase::TurnEnd), None);
        assert_eq!(reinterpret(&stop("an error (g-2/s-1)"), Phase::TurnEnd), None, "another request's id");
    }
}
