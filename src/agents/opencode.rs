//! OpenCode: no command hooks, a plugin API. `install` copies a small plugin
//! (`hooks/opencode-kaizen-hook.js`) into OpenCode's plugin directory; it runs
//! `kaizen-hook event --agent opencode --event <name>` with a Claude-like JSON
//! payload (`session_id`, `hook_event_name`, `tool_name`, `tool_use_id`,
//! `tool_input`, `tool_response`, `cwd`) for the plugin hooks and bus events
//! below, named as OpenCode names them (and `tool.error`, the plugin's own).
//! The same plugin serves its fork Kilo Code (`kilo.rs`).
//!
//! Tokens: OpenCode keeps them in its database only, per step (one model
//! response) in a `step-finish` part. The plugin appends each such part, with
//! its message's model, to a per-session JSONL file in OpenCode's data
//! directory (`~/.local/share/opencode/kaizen-hook/<session>.jsonl`) and names
//! it as `transcript_path`; the turn end reads it like any transcript (cursor,
//! counted keys: a part written again is counted once).

use super::{Agent, DOCUMENTED, Payload, env_dir, package_version};
use crate::cost::Tokens;
use crate::install::{Format, Installer, files::Files};
use crate::phase::Category;
use crate::phase::Phase;
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "opencode",
    title: "OpenCode",
    evidence,
    // Its sessions live in its database (`~/.local/share/opencode/`); no hook names a transcript.
    transcript_marker: "/.local/share/opencode/",
    events: EVENTS,
    guidance_files: &["AGENTS.md"],
    reinterpret,
    version,
    config_problems: |_| pure("OPENCODE_PURE", "OpenCode"),
    transcript: Some(STEPS),
    installer: Some(Installer { dir: config_dir, file: "plugins", format: Format::Files(PLUGIN_FILES), note: None }),
    snippet: Some(SNIPPET),
    ..DOCUMENTED
};

pub(super) const SNIPPET: &str = "opencode-kaizen-hook.js";

/// The plugin, one file in the agent's `plugins/` directory, and the events it delivers.
pub(super) const PLUGIN_FILES: Files = Files {
    files: &["kaizen-hook.js"],
    events: &[
        ("session.created", Category::Event),
        ("chat.message", Category::Event),
        ("tool.execute.before", Category::Event),
        ("tool.execute.after", Category::Event),
        ("tool.error", Category::Event),
        ("session.idle", Category::Event),
        ("session.error", Category::Event),
        ("session.compacted", Category::Event),
        ("session.deleted", Category::Event),
        ("permission.asked", Category::Event),
    ],
    render: plugin,
    command: plugin_command,
    executable: false,
};

/// The steps file the plugin writes (see the module's doc).
pub(super) const STEPS: Reader = Reader {
    needles: &[b"\"step-finish\""],
    parse: step,
    failure: no_failure,
    paths: steps_file,
    scope: no_scope,
    items: &[],
};

pub(super) const EVENTS: &[(&str, Phase)] = &[
    ("session.created", Phase::SessionStart),
    ("chat.message", Phase::Prompt),
    ("tool.execute.before", Phase::ToolCall),
    ("tool.execute.after", Phase::ToolResult),
    // The plugin's name for a tool part that ended in error: a tool that throws
    // (a missing file) gets no `tool.execute.after`.
    ("tool.error", Phase::ToolFailure),
    // The session went idle: the run's answer is complete.
    ("session.idle", Phase::TurnEnd),
    ("session.error", Phase::TurnFailure),
    ("session.compacted", Phase::Other),
    ("session.deleted", Phase::SessionEnd),
    ("permission.asked", Phase::Waiting),
];

/// The plugin as shipped, with the binary it runs in place of the placeholder.
const PLUGIN: &str = include_str!("../../hooks/opencode-kaizen-hook.js");
const PLACEHOLDER: &str = "\"/home/YOU/.local/bin/kaizen-hook\"";
const BINARY_LINE: &str = "const KAIZEN_HOOK = ";

/// Only the plugin sends OpenCode's dotted names; run by Kilo, it says so (`host`).
fn evidence(p: &Payload) -> bool {
    from_plugin(p) && host(p) != Some("kilo")
}

pub(super) fn from_plugin(p: &Payload) -> bool {
    let name = p.get("hook_event_name").and_then(Value::as_str).unwrap_or("");
    EVENTS.iter().any(|(event, _)| *event == name)
}

/// The agent that loaded the plugin, as the plugin tells it.
pub(super) fn host(p: &Payload) -> Option<&str> {
    p.get("host").and_then(Value::as_str)
}

/// The switch that turns off every plugin but the built-in ones (`--pure`
/// sets it too): kaizen-hook's plugin does not run while it is `1` or `true`
/// (any case), as the agent reads it.
pub(super) fn pure(var: &str, title: &str) -> Vec<String> {
    let set = std::env::var(var).is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true"));
    if !set {
        return Vec::new();
    }
    vec![format!(
        "{var} is set in this environment: {title} runs no external plugin, so not kaizen-hook's either \
         (unset it; `--pure` sets it too)"
    )]
}

/// `$XDG_CONFIG_HOME/opencode`, else `~/.config/opencode`: where OpenCode
/// loads every `plugins/*.{js,ts}`.
fn config_dir(home: &Path) -> PathBuf {
    env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")).join("opencode")
}

fn plugin(binary: &Path, _file: &str) -> String {
    let quoted = Value::String(binary.to_string_lossy().into_owned()).to_string();
    PLUGIN.replacen(PLACEHOLDER, &quoted, 1)
}

/// The binary the plugin runs, as a command line.
fn plugin_command(plugin: &str) -> Option<String> {
    let line = plugin.lines().find_map(|l| l.strip_prefix(BINARY_LINE))?;
    let binary: String = serde_json::from_str(line.trim_end().trim_end_matches(';')).ok()?;
    Some(crate::install::shell_quote(&binary))
}

/// A tool whose result carries an error, or a shell command that exited non-zero.
pub(super) fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let response = p.get("tool_response")?;
    let metadata = response.get("metadata");
    if let Some(error) = metadata.and_then(|m| m.get("error")).and_then(Value::as_str) {
        return Some((Phase::ToolFailure, error.to_string()));
    }
    let code = metadata.and_then(|m| m.get("exit")).and_then(Value::as_i64).filter(|code| *code != 0)?;
    Some((Phase::ToolFailure, format!("exit code {code}")))
}

/// The version of the OpenCode binary that runs the plugin (the hook's parent):
/// its npm package's `package.json`, beside `bin/`.
fn version(_: &Payload) -> Option<String> {
    let agent = crate::process::delivering()?;
    let exe = std::fs::read_link(format!("/proc/{}/exe", agent.pid)).ok()?;
    package_version(exe.parent()?.parent()?, |name| name.starts_with("opencode"))
}

/// The steps file a payload names.
fn steps_file(p: &Payload) -> Vec<PathBuf> {
    p.get("transcript_path").and_then(Value::as_str).map(PathBuf::from).into_iter().collect()
}

/// One step (model response): its `step-finish` part as the plugin wrote it.
/// OpenCode's `tokens.input` excludes the cache reads and writes, and its
/// `output` the reasoning (a completion of 51 tokens, 7 of them reasoning, is
/// `output: 44, reasoning: 7`); `cost` is its own figure (0 for a model it
/// has no price for).
fn step(line: &Value, context: &mut Context, _: &mut Scope) -> Option<Response> {
    if line.get("type")?.as_str()? != "step-finish" {
        return None;
    }
    let tokens = line.get("tokens")?;
    let cache = tokens.get("cache").unwrap_or(&Value::Null);
    let reasoning = count(tokens, "reasoning");
    let text = |key: &str| line.get(key).and_then(Value::as_str).map(String::from);
    if let Some(model) = text("modelID") {
        context.model = Some(model);
    }
    Some(Response {
        key: text("id")?,
        model: context.model.clone(),
        tokens: Tokens {
            input: count(tokens, "input"),
            output: count(tokens, "output") + reasoning,
            cache_read: count(cache, "read"),
            cache_write: count(cache, "write"),
            ..Tokens::default()
        },
        reasoning,
        ts_ms: line.get("time").and_then(Value::as_u64),
        stop_reason: text("reason"),
        agent_cost_usd: line.get("cost").and_then(Value::as_f64),
        turn: text("parentID"),
        ..Response::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_names_the_binary_it_runs() {
        let text = plugin(Path::new("/x y/kaizen-\"hook\""), "kaizen-hook.js");
        let command = plugin_command(&text).unwrap();
        assert_eq!(crate::install::program_of(&command), "/x y/kaizen-\"hook\"");
        assert!(crate::install::files::is_ours(&text));
        assert!(!text.contains(PLACEHOLDER));
    }
}
