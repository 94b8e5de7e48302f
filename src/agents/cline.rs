//! Cline: hook executables named after their event, payloads with `hookName`,
//! `taskId` and the event's details in an object named after it.
//!
//! Cline CLI 3.x (verified on 3.0.65) keeps the 2.x file names (`TaskStart`,
//! `PreToolUse`, ...) but sends its own event names in `hookName`
//! (`agent_start`, `tool_call`, ...), which win over `--event`. Its session is
//! `sessionContext.rootSessionId` (what `cline --id` takes; `taskId` is one run
//! inside it). `postToolUse.success` is true even for a failed call: the
//! failure is in `tool_result.output[]`. `clineVersion` is empty; the version
//! and the model are in the session's metadata file, the tokens of each model
//! response in its messages file.

use super::{Agent, DOCUMENTED, Payload, env_dir, env_dir_or_home, has};
use crate::cost::Tokens;
use crate::install::{Format, Installer, files::Files};
use crate::phase::Category;
use crate::phase::Phase;
use crate::store::fsutil::{self, End};
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "cline",
    title: "Cline",
    evidence,
    transcript_marker: "/Cline/",
    events: &[
        // Cline 2.x names (and 3.x file names).
        ("TaskStart", Phase::SessionStart),
        ("TaskResume", Phase::SessionStart),
        ("TaskComplete", Phase::SessionEnd),
        ("TaskCancel", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PreCompact", Phase::Other),
        ("TaskError", Phase::TurnFailure),
        ("SessionShutdown", Phase::SessionEnd),
        // Cline 3.x `hookName`s (names are compared without case or `_`, so
        // `session_shutdown` and `pre_compact` are the rows above). `agent_end`
        // ends one `cline` run: a turn (the session can be resumed with `cline --id`).
        ("agent_start", Phase::SessionStart),
        ("agent_resume", Phase::SessionStart),
        ("agent_end", Phase::TurnEnd),
        ("agent_error", Phase::TurnFailure),
        ("agent_abort", Phase::SessionEnd),
        ("prompt_submit", Phase::Prompt),
        ("tool_call", Phase::ToolCall),
        ("tool_result", Phase::ToolResult),
    ],
    guidance_files: &[".clinerules"],
    guidance_dirs: &[".clinerules"],
    reinterpret,
    version,
    model,
    transcript: Some(Reader {
        needles: &[b"\"metrics\""],
        parse: response,
        failure: no_failure,
        paths: messages_files,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: cline_dir,
        file: "hooks",
        format: Format::Files(Files {
            files: HOOK_FILES,
            events: &[
                ("TaskStart", Category::Event),
                ("TaskResume", Category::Event),
                ("TaskCancel", Category::Event),
                ("TaskComplete", Category::Event),
                ("TaskError", Category::Event),
                ("PreToolUse", Category::Event),
                ("PostToolUse", Category::Event),
                ("UserPromptSubmit", Category::Event),
                ("PreCompact", Category::Event),
                ("SessionShutdown", Category::Event),
            ],
            render: hook_script,
            command: script_command,
            executable: true,
        }),
        note: None,
    }),
    snippet: Some("cline-hook"),
    ..DOCUMENTED
};

/// Every hook file name Cline 3.0.65 runs (`HookConfigFileName`).
const HOOK_FILES: &[&str] = &[
    "TaskStart",
    "TaskResume",
    "TaskCancel",
    "TaskComplete",
    "TaskError",
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "PreCompact",
    "SessionShutdown",
];

fn evidence(p: &Payload) -> bool {
    // Copilot CLI's permissionRequest also names its event `hookName`; only Cline keys on a task.
    has(p, "clineVersion") || (has(p, "hookName") && has(p, "taskId"))
}

/// `~/.cline`, or `$CLINE_DIR`: where Cline reads its global hooks (`hooks/`).
fn cline_dir(home: &Path) -> PathBuf {
    env_dir_or_home("CLINE_DIR", home, ".cline")
}

/// The script written for every hook file: the same for each, the event
/// being the file's own name (Cline's payload names its event anyway).
fn hook_script(binary: &Path, _file: &str) -> String {
    let binary = crate::install::shell_quote(&binary.to_string_lossy());
    format!(
        "#!/bin/sh\n\
         # kaizen-hook: records this Cline event. Written by `kaizen-hook install --agent cline`;\n\
         # `kaizen-hook uninstall` removes it. It prints nothing and exits 0, so Cline never blocks.\n\
         exec {binary} event --agent cline --event \"${{0##*/}}\"\n"
    )
}

/// The command a hook script of ours runs.
fn script_command(script: &str) -> Option<String> {
    script.lines().find_map(|l| l.strip_prefix("exec ")).map(String::from)
}

/// A result whose output items say they failed (`success: false`, `error`):
/// Cline's `postToolUse.success` is true for those too.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let result = p.get("tool_result")?;
    if let Some(error) = result.get("error").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        return Some((Phase::ToolFailure, error.to_string()));
    }
    let outputs = result.get("output")?.as_array()?;
    let failed = outputs.iter().find(|o| o.get("success") == Some(&Value::Bool(false)))?;
    let why = failed.get("error").and_then(Value::as_str).unwrap_or("the tool reported success: false");
    Some((Phase::ToolFailure, why.to_string()))
}

/// The version that wrote the session (`metadata.sessionHistoryOrigin.version`).
fn version(p: &Payload) -> Option<String> {
    let meta = session_metadata(p)?;
    let origin = meta.get("metadata")?.get("sessionHistoryOrigin")?;
    origin.get("version")?.as_str().filter(|v| !v.is_empty()).map(String::from)
}

/// The session's model, as Cline's metadata names it.
fn model(p: &Payload) -> Option<String> {
    session_metadata(p)?.get("model")?.as_str().filter(|m| !m.is_empty()).map(String::from)
}

/// `<sessions>/<root>/<root>.json`, the small metadata file Cline writes when
/// a run starts (the messages are in a file of their own, read as a transcript).
fn session_metadata(p: &Payload) -> Option<Value> {
    let root = root_session(p)?;
    let path = sessions_dir()?.join(root).join(format!("{root}.json"));
    // A metadata file is a few hundred bytes; a huge one is not one.
    let bytes = fsutil::read_agent_file(&path, End::Head, 256 * 1024).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The session's id, when it is a plain name (it names a directory).
fn root_session(p: &Payload) -> Option<&str> {
    let root = p.get("sessionContext")?.get("rootSessionId")?.as_str()?;
    super::is_plain_name(root).then_some(root)
}

/// The session's messages files: `<sessions>/<root>/<root>.messages.json`,
/// then its subagents' and teammates' `<stem>.messages.json` beside it. Each
/// is one JSON document, `{"messages": [...]}`, that Cline rewrites whole as
/// the run goes (and after its `agent_end` hook started: a later read takes
/// the last response).
fn messages_files(p: &Payload) -> Vec<PathBuf> {
    let Some((root, dir)) = root_session(p).and_then(|root| Some((root, sessions_dir()?.join(root)))) else {
        return Vec::new();
    };
    let own = format!("{root}.messages.json");
    let mut others: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".messages.json") && *name != own)
        .take(MAX_LISTED)
        .collect();
    others.sort();
    others.truncate(MAX_OTHERS);
    std::iter::once(own).chain(others).map(|name| dir.join(name)).collect()
}

/// A session's subagents read (the first by name), of the files listed.
const MAX_OTHERS: usize = 64;
const MAX_LISTED: usize = 4096;

/// An assistant message with its `metrics`, keyed by its `id`. Cline's
/// `inputTokens` includes the cached tokens, read and written (its own cost
/// takes them out), so they are taken out of `input` here; `cost` is Cline's
/// own figure. The model is the message's `modelInfo.id`.
fn response(message: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    if message.get("role")?.as_str()? != "assistant" {
        return None;
    }
    let metrics = message.get("metrics").filter(|m| m.is_object())?;
    let key = message.get("id")?.as_str().filter(|id| !id.is_empty())?.to_string();
    let model = message.get("modelInfo").and_then(|m| m.get("id")).and_then(Value::as_str);
    if let Some(model) = model.filter(|m| !m.is_empty()) {
        ctx.model = Some(model.to_string());
    }
    let (read, written) = (count(metrics, "cacheReadTokens"), count(metrics, "cacheWriteTokens"));
    let cost = metrics.get("cost").and_then(Value::as_f64).filter(|c| c.is_finite() && *c >= 0.0);
    Some(Response {
        key,
        model: ctx.model.clone(),
        tokens: Tokens::of_prompt(count(metrics, "inputTokens"), read, written, count(metrics, "outputTokens")),
        ts_ms: message.get("ts").and_then(Value::as_u64),
        agent_cost_usd: cost,
        ..Response::default()
    })
}

/// Where Cline keeps its sessions: `$CLINE_SESSION_DATA_DIR`, else
/// `$CLINE_DATA_DIR/sessions`, else `<cline dir>/data/sessions`.
fn sessions_dir() -> Option<PathBuf> {
    if let Some(dir) = env_dir("CLINE_SESSION_DATA_DIR") {
        return Some(dir);
    }
    let data = match env_dir("CLINE_DATA_DIR") {
        Some(dir) => dir,
        None => cline_dir(&crate::config::home_dir()?).join("data"),
    };
    Some(data.join("sessions"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_fails_when_an_output_item_does() {
        let failed = json!({"tool_result": {"output": [{"success": true}, {"success": false, "error": "Command exited with code 2"}]}});
        assert_eq!(
            reinterpret(failed.as_object().unwrap(), Phase::ToolResult),
            Some((Phase::ToolFailure, "Command exited with code 2".into()))
        );
        let ok = json!({"tool_result": {"output": [{"success": true}]}, "postToolUse": {"success": true}});
        assert_eq!(reinterpret(ok.as_object().unwrap(), Phase::ToolResult), None);
        let thrown = json!({"tool_result": {"output": null, "error": "tool threw"}});
        assert_eq!(
            reinterpret(thrown.as_object().unwrap(), Phase::ToolResult),
            Some((Phase::ToolFailure, "tool threw".into()))
        );
    }

    #[test]
    fn an_assistant_message_with_metrics_is_a_response() {
        let message = json!({"id": "msg_1", "role": "assistant", "ts": 1796622965746_u64,
            "modelInfo": {"id": "gpt-4.1", "provider": "openai-compatible"},
            "metrics": {"inputTokens": 2101, "outputTokens": 41, "cacheReadTokens": 601, "cacheWriteTokens": 100, "cost": 0.25}});
        let mut ctx = Context::default();
        let r = response(&message, &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref(), r.ts_ms), ("msg_1", Some("gpt-4.1"), Some(1796622965746)));
        let t = r.tokens;
        assert_eq!((t.input, t.output, t.cache_read, t.cache_write), (1400, 41, 601, 100));
        assert_eq!(r.agent_cost_usd, Some(0.25));
        for not_one in [
            json!({"id": "msg_2", "role": "user", "metrics": {"inputTokens": 1}}),
            json!({"id": "msg_3", "role": "assistant"}),
            json!({"role": "assistant", "metrics": {"inputTokens": 1}}),
            json!({"id": "msg_4", "role": "assistant", "metrics": 7}),
        ] {
            assert_eq!(response(&not_one, &mut ctx, &mut Scope::default()), None, "{not_one}");
        }
    }

    #[test]
    fn the_hook_script_names_its_program() {
        let script = hook_script(Path::new("/x y/kaizen-hook"), "TaskStart");
        assert_eq!(crate::install::program_of(&script_command(&script).unwrap()), "/x y/kaizen-hook");
        assert!(crate::install::files::is_ours(&script));
    }
}
