//! Qwen Code: a Gemini CLI fork with Claude-shaped hooks in `~/.qwen/settings.json`.

use super::{Agent, DOCUMENTED, Payload, failed_exit};
use crate::cost::Tokens;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Phase;
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "qwen",
    title: "Qwen Code",
    evidence,
    transcript_marker: "/.qwen/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("SessionDelete", Phase::Other),
        ("UserPromptSubmit", Phase::Prompt),
        ("MessageDisplay", Phase::AgentOutput),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PostToolUseFailure", Phase::ToolFailure),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        ("Notification", Phase::Other),
        ("PermissionRequest", Phase::Waiting),
        ("PermissionDenied", Phase::Other),
        ("TodoCreated", Phase::Other),
        ("TodoCompleted", Phase::Other),
    ],
    guidance_files: &["QWEN.md"],
    reinterpret,
    config_problems,
    transcript: Some(Reader {
        needles: &[b"\"qwen-code.api_response\""],
        parse: response,
        failure: no_failure,
        paths: transcript,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Not `MessageDisplay` (it fires repeatedly as a reply streams).
        // Qwen reads a command hook's `timeout` of 1000 or more as
        // milliseconds (older releases always did): 5000 is 5 s in both.
        format: Format::Nested(Nested {
            events: super::claude::HOOK_EVENTS,
            timeout: TIMEOUT_SECONDS * 1000,
            short: &[],
        }),
        note: None,
    }),
    snippet: Some("qwen-settings.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    // Qwen's permission modes differ from Claude's.
    matches!(p.get("permission_mode").and_then(Value::as_str), Some("auto_edit" | "yolo"))
}

/// Qwen fires `UserPromptSubmit` before every model call, with `"prompt": ""`
/// when the call only carries tool results: a continuation of the turn, not a
/// prompt. A `PostToolUse` whose text ends in a non-zero `Exit Code:` is a
/// failed command (releases before 0.24 sent no `PostToolUseFailure` for it).
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    match phase {
        Phase::Prompt if p.get("prompt").and_then(Value::as_str).is_some_and(|t| t.trim().is_empty()) => {
            Some((Phase::Other, CONTINUATION.to_string()))
        }
        Phase::ToolResult => {
            let text = p.get("tool_response").and_then(|r| r.get("llmContent")).and_then(Value::as_str);
            failed_exit(text, "Exit Code:")
        }
        _ => None,
    }
}

/// The `phase_note` of a continuation: `show` and `report` count no prompt for it.
pub const CONTINUATION: &str =
    "continuation: Qwen's UserPromptSubmit before a model call on tool results, not a prompt";

/// `"disableAllHooks": true` in the user's settings turns every hook off.
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("settings.json");
    super::all_hooks_switched_off(&path, "/disableAllHooks", "\"disableAllHooks\": true", AGENT.title)
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".qwen")
}

// The transcript (docs/tokens-and-cost.md): `~/.qwen/projects/<project>/chats/<session>.jsonl`,
// every line with the CLI's `version`; each model call is a `system` line of
// subtype `ui_telemetry` whose `systemPayload.uiEvent` is the
// `qwen-code.api_response` telemetry event: `response_id`, `model`, and
// Gemini's token figures (`input_token_count` includes the cached part,
// `output_token_count` excludes `thoughts_token_count`).

fn transcript(p: &Payload) -> Vec<PathBuf> {
    p.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()).map(PathBuf::from).into_iter().collect()
}

fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    if let Some(version) = line.get("version").and_then(Value::as_str) {
        ctx.version = Some(version.to_string());
    }
    let event = line.pointer("/systemPayload/uiEvent")?;
    if event.get("event.name")?.as_str()? != "qwen-code.api_response" {
        return None;
    }
    let model = event.get("model").and_then(Value::as_str).map(String::from);
    ctx.model.clone_from(&model);
    let cached = count(event, "cached_content_token_count");
    let thoughts = count(event, "thoughts_token_count");
    Some(Response {
        key: event.get("response_id")?.as_str()?.to_string(),
        model,
        tokens: Tokens {
            input: count(event, "input_token_count").saturating_sub(cached),
            output: count(event, "output_token_count") + thoughts,
            cache_read: cached,
            ..Tokens::default()
        },
        reasoning: thoughts,
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        ttft_ms: event.get("ttft_ms").and_then(Value::as_u64).and_then(|ms| u32::try_from(ms).ok()),
        latency_ms: event.get("duration_ms").and_then(Value::as_u64).and_then(|ms| u32::try_from(ms).ok()),
        turn: event.get("prompt_id").and_then(Value::as_str).map(String::from),
        ..Response::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real line (Qwen Code 0.24.4), paths shortened.
    const API_RESPONSE: &str = r#"{"uuid":"e159cbbf","sessionId":"70dd12b3","timestamp":"2026-11-30T03:28:29.357Z","type":"system","version":"0.24.4","subtype":"ui_telemetry","systemPayload":{"uiEvent":{"event.name":"qwen-code.api_response","response_id":"chatcmpl-kz-main-1-shell_ok","model":"qwen3-coder-plus","status_code":200,"duration_ms":3463,"input_token_count":2101,"output_token_count":31,"cached_content_token_count":100,"thoughts_token_count":5,"total_token_count":2132,"prompt_id":"70dd12b3########0","auth_type":"openai","ttft_ms":3381}}}"#;

    #[test]
    fn an_api_response_line_is_a_response_in_the_spec_meanings() {
        let mut ctx = Context::default();
        let r = response(&serde_json::from_str(API_RESPONSE).unwrap(), &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("chatcmpl-kz-main-1-shell_ok", Some("qwen3-coder-plus")));
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.output, r.reasoning), (2001, 100, 36, 5));
        assert_eq!((r.ttft_ms, r.latency_ms), (Some(3381), Some(3463)));
        assert_eq!((ctx.model.as_deref(), ctx.version.as_deref()), (Some("qwen3-coder-plus"), Some("0.24.4")));
    }

    #[test]
    fn empty_prompts_are_continuations_and_exit_codes_fail() {
        let p = |v: Value| v.as_object().unwrap().clone();
        let empty = p(json!({"hook_event_name": "UserPromptSubmit", "prompt": " "}));
        assert_eq!(reinterpret(&empty, Phase::Prompt).map(|(phase, _)| phase), Some(Phase::Other));
        assert_eq!(reinterpret(&p(json!({"prompt": "do it"})), Phase::Prompt), None);
        let failed = p(json!({"tool_response": {"llmContent": "Output: x\nExit Code: 2\nSignal: (none)"}}));
        assert_eq!(reinterpret(&failed, Phase::ToolResult).map(|(phase, _)| phase), Some(Phase::ToolFailure));
        let ok = p(json!({"tool_response": {"llmContent": "Exit Code: 0"}}));
        assert_eq!(reinterpret(&ok, Phase::ToolResult), None);
    }
}
