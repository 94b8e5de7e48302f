//! Factory Droid: a near-exact clone of Claude Code's hooks, told apart only
//! by where its transcripts live.

use super::{Agent, DOCUMENTED, Payload, never, package_version};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::transcript::{Context, Failure, Reader, Response, Scope};
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
        needles: &[b"\"tool_use\"", b"\"modelId\"", b"\"is_error\":true"],
        parse: response,
        failure,
        paths: transcripts,
        scope,
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
// only the session's totals): no Cost events. Droid sends no PostToolUse for a
// failed call and no failure event: the `tool_result` with `is_error: true`
// is the only sign, taken at the turn end.

fn transcripts(p: &Payload) -> Vec<PathBuf> {
    transcript_path(p).into_iter().collect()
}

fn transcript_path(p: &Payload) -> Option<PathBuf> {
    p.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()).map(PathBuf::from)
}

/// What one turn end's read starts from: the session (the hook's call ids are
/// derived from it) and the Droid home (custom model names); `response` adds
/// the hook call id of each `tool_use` seen, by the transcript's id.
fn scope(p: &Payload) -> Scope {
    let session = p.get("session_id").and_then(Value::as_str).unwrap_or("").to_string();
    // `<home>/sessions/<project>/<session>.jsonl`
    let home = transcript_path(p).and_then(|path| path.ancestors().nth(3).map(Path::to_path_buf));
    Scope { session: Some(session), home, ..Scope::default() }
}

/// No responses: the calls an assistant message makes, and the model it ran on.
fn response(line: &Value, ctx: &mut Context, scope: &mut Scope) -> Option<Response> {
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
