//! Gemini CLI: `~/.gemini/settings.json`, the nested format with timeouts in
//! milliseconds. Its event names are its own evidence.

mod transcript;

use super::{Agent, DOCUMENTED, Payload, event_name, failed_exit, package_version};
use crate::install::config_file::ConfigFile;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use crate::transcript::Reader;
use serde_json::Value;
use std::path::{Path, PathBuf};
use transcript::{NEEDLES, failure, response, scope, transcripts};

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
    guidance_files: &["GEMINI.md"],
    reinterpret,
    version,
    config_problems,
    transcript: Some(Reader { needles: NEEDLES, parse: response, failure, paths: transcripts, scope, items: &[] }),
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Not `BeforeModel`/`AfterModel`/`BeforeToolSelection`: they fire for
        // every model call and streamed chunk, and can rewrite the request.
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", Category::SessionStart),
                ("SessionEnd", Category::SessionEnd),
                ("BeforeAgent", Category::Prompt),
                ("BeforeTool", Category::ToolUse),
                ("AfterTool", Category::ToolUse),
                ("AfterAgent", Category::Stop),
                ("PreCompress", Category::Event),
                ("Notification", Category::Event),
            ],
            timeout: TIMEOUT_SECONDS * 1000,
            short: &[],
        }),
        note: Some(
            "Gemini CLI runs hooks only in folders it trusts (folder trust is on by default): trust a project when Gemini asks, or it records nothing there",
        ),
    }),
    snippet: Some("gemini-settings.json"),
    ..DOCUMENTED
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
        script.ancestors().skip(1).take(3).find_map(|dir| package_version(dir, |name| name == "@google/gemini-cli"))
    })
}

/// `hooksConfig.enabled: false` turns every hook off; `hooksConfig.disabled`
/// turns off the hooks it names (by `name`, else by the exact command).
fn config_problems(home: &Path) -> Vec<String> {
    let path = config_dir(home).join("settings.json");
    let Ok(settings) = ConfigFile::load(&path) else { return Vec::new() };
    let config = settings.value.get("hooksConfig");
    let mut problems = Vec::new();
    if config.and_then(|c| c.get("enabled")) == Some(&Value::Bool(false)) {
        problems.push(format!(
            "\"hooksConfig\": {{\"enabled\": false}} in {} turns off every Gemini CLI hook, kaizen-hook's too: set it to true (or remove it)",
            path.display()
        ));
    }
    let disabled: Vec<&str> = config
        .and_then(|c| c.get("disabled"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let events = disabled_events(&settings.value, &disabled);
    if !events.is_empty() {
        problems.push(format!(
            "\"hooksConfig\": {{\"disabled\": [...]}} in {} names kaizen-hook's hooks for {} event(s) ({}), so Gemini CLI skips them: remove them from that list",
            path.display(),
            events.len(),
            events.join(", ")
        ));
    }
    problems
}

/// The events whose kaizen-hook handler is named in `disabled`.
fn disabled_events<'a>(settings: &'a Value, disabled: &[&str]) -> Vec<&'a str> {
    let mut events = Vec::new();
    for (event, groups) in settings.get("hooks").and_then(Value::as_object).into_iter().flatten() {
        let handlers = groups.as_array().into_iter().flatten().filter_map(|g| g.get("hooks")?.as_array()).flatten();
        let off = handlers
            .filter(|h| h.get("command").and_then(Value::as_str).is_some_and(crate::install::is_ours))
            .any(|h| {
                let name = h.get("name").and_then(Value::as_str).or_else(|| h.get("command").and_then(Value::as_str));
                name.is_some_and(|n| disabled.contains(&n))
            });
        if off {
            events.push(event.as_str());
        }
    }
    events
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".gemini")
}
