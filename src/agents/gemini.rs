//! Gemini CLI: `~/.gemini/settings.json`, the nested format with timeouts in
//! milliseconds. Its event names are its own evidence.

use super::{Agent, Payload, event_name, failed_exit, no_config_problems, silent};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "gemini",
    title: "Gemini CLI",
    evidence,
    transcript_marker: "/.gemini/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("BeforeAgent", Phase::Prompt),
        ("AfterAgent", Phase::TurnEnd),
        ("BeforeTool", Phase::ToolCall),
        ("AfterTool", Phase::ToolResult),
        ("BeforeModel", Phase::Other),
        ("AfterModel", Phase::Other),
        ("BeforeToolSelection", Phase::Other),
        ("PreCompress", Phase::Other),
        ("Notification", Phase::Other),
    ],
    implied_tools: &[],
    guidance_files: &["GEMINI.md"],
    guidance_dirs: &[],
    reply: silent,
    reinterpret,
    version,
    config_problems: no_config_problems,
    transcript: None,
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Not `BeforeModel`/`AfterModel`/`BeforeToolSelection`: they fire for
        // every model call and streamed chunk, and can rewrite the request.
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", "session-start"),
                ("SessionEnd", "session-end"),
                ("BeforeAgent", "prompt"),
                ("BeforeTool", "tool-use"),
                ("AfterTool", "tool-use"),
                ("AfterAgent", "stop"),
                ("PreCompress", "event"),
                ("Notification", "event"),
            ],
            timeout: TIMEOUT_SECONDS * 1000,
            short: &[],
        }),
        note: None,
    }),
    snippet: Some("gemini-settings.json"),
};

fn evidence(p: &Payload) -> bool {
    const ONLY_GEMINI: &[&str] = &[
        "BeforeTool",
        "AfterTool",
        "BeforeAgent",
        "AfterAgent",
        "BeforeModel",
        "AfterModel",
        "BeforeToolSelection",
        "PreCompress",
    ];
    ONLY_GEMINI.contains(&event_name(p))
}

/// AfterTool reports a failed tool in `tool_response.error`, and a shell
/// command's exit status only in its text (`Exit Code: 2`).
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let response = p.get("tool_response")?;
    match response.get("error") {
        Some(Value::Null) | None => failed_exit(response.get("llmContent").and_then(Value::as_str), "Exit Code:"),
        Some(error) => {
            let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), String::from);
            Some((Phase::ToolFailure, message))
        }
    }
}

/// Gemini CLI gives its version to no hook: it is in the `package.json` of
/// the script its node process runs (`…/@google/gemini-cli/bundle/gemini.js`).
fn version(_: &Payload) -> Option<String> {
    let node = crate::process::delivering()?;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", node.pid)).ok()?;
    cmdline.split(|b| *b == 0).skip(1).find_map(|arg| {
        let script = std::fs::canonicalize(std::str::from_utf8(arg).ok()?).ok()?;
        script.ancestors().skip(1).take(3).find_map(|dir| {
            let package: Value = serde_json::from_slice(&std::fs::read(dir.join("package.json")).ok()?).ok()?;
            (package.get("name")?.as_str()? == "@google/gemini-cli")
                .then(|| package.get("version")?.as_str().map(String::from))?
        })
    })
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".gemini")
}
