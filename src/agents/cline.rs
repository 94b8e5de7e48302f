//! Cline: hook executables named after their event, payloads with `hookName`,
//! `taskId` and the event's details in an object named after it.
//!
//! Cline CLI 3.x (verified on 3.0.65) keeps the 2.x file names (`TaskStart`,
//! `PreToolUse`, ...) but sends its own event names in `hookName`
//! (`agent_start`, `tool_call`, ...), which win over `--event`. Its session is
//! `sessionContext.rootSessionId` (what `cline --id` takes; `taskId` is one run
//! inside it). `postToolUse.success` is true even for a failed call: the
//! failure is in `tool_result.output[]`. `clineVersion` is empty; the version
//! and the model are in the session's metadata file.

use super::{Agent, DOCUMENTED, Payload, env_dir, env_dir_or_home, has};
use crate::install::{Format, Installer, files::Files};
use crate::phase::Category;
use crate::phase::Phase;
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
/// a run starts (the messages are in a file of their own, never read here).
fn session_metadata(p: &Payload) -> Option<Value> {
    let root = p.get("sessionContext")?.get("rootSessionId")?.as_str()?;
    let plain = !root.is_empty() && root.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !plain {
        return None;
    }
    let path = sessions_dir()?.join(root).join(format!("{root}.json"));
    let file = std::fs::File::open(path).ok()?;
    // A metadata file is a few hundred bytes; a huge one is not one.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 256 * 1024), &mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
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
    fn the_hook_script_names_its_program() {
        let script = hook_script(Path::new("/x y/kaizen-hook"), "TaskStart");
        assert_eq!(crate::install::program_of(&script_command(&script).unwrap()), "/x y/kaizen-hook");
        assert!(crate::install::files::is_ours(&script));
    }
}
