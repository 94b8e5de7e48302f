//! Everything that is one agent's own, one file per agent: the evidence that
//! a payload came from it, its hook events and what each means, the tools its
//! events imply, its guidance files, how it wants to be answered, and where
//! `install` registers kaizen-hook for it. The pipeline and the human
//! commands ask this table; nothing else matches on an agent's name.
//!
//! Adding an agent: a file here with its `AGENT`, a row in `ALL`, its
//! fixtures under `tests/fixtures/<name>/`, and (when it has an installer)
//! its snippet under `hooks/`. `tests/agents.rs` checks that they agree.

mod claude;
mod cline;
mod codebuddy;
mod codex;
mod copilot;
mod cursor;
mod factory;
mod gemini;
mod kilo;
mod kimi;
mod kiro;
mod opencode;
mod openhands;
mod qwen;
mod vibe;
mod vscode;
mod windsurf;

use crate::install::Installer;
pub use crate::payload::Payload;
use crate::phase::{Phase, normalize};
use serde_json::Value;

pub struct Agent {
    /// The name recorded in events and records, and what `--agent` takes.
    pub name: &'static str,
    /// What people call it.
    pub title: &'static str,
    /// True when a payload could only have come from this agent.
    pub evidence: fn(&Payload) -> bool,
    /// A path fragment found in this agent's transcript paths.
    pub transcript_marker: &'static str,
    /// Its hook events, spelled as it sends them, and what each means.
    pub events: &'static [(&'static str, Phase)],
    /// The tool an event implies when its payload names none, spelled as the
    /// agent's own matchers spell it.
    pub implied_tools: &'static [(&'static str, &'static str)],
    /// Guidance files it reads, relative to the workspace.
    pub guidance_files: &'static [&'static str],
    /// Directories whose files (one level) are its rules.
    pub guidance_dirs: &'static [&'static str],
    /// What its hooks must print on stdout for an event; `None`: nothing.
    pub reply: fn(event: &str) -> Option<&'static str>,
    /// What an event really is when its payload says more than its name (a
    /// "successful" tool result whose error field is set, a subagent stop that
    /// is a compaction): the phase it has instead, and why. From the payload
    /// alone: recognition, which asks, reads nothing else.
    pub reinterpret: fn(&Payload, Phase) -> Option<(Phase, String)>,
    /// How a tool call ended as the agent recorded it outside the hook's
    /// payload (Codex: its rollout), when it did: read by the pipeline after
    /// recognition, for tool results only.
    pub outcome: fn(&Payload) -> Option<Outcome>,
    /// Its version, from what it gives the hook process (the payload, the
    /// environment, its own executable); `None` when it gives nothing.
    pub version: fn(&Payload) -> Option<String>,
    /// The model it runs, from its own files when no payload names it
    /// (asked at session and turn boundaries only, like `version`).
    pub model: fn(&Payload) -> Option<String>,
    /// What in its configuration under `home` stops registered hooks from
    /// running (hooks disabled, not trusted), each with how to fix it.
    pub config_problems: fn(home: &std::path::Path) -> Vec<String>,
    /// Whether a call still open at a turn's end failed: the agent sends a
    /// result hook for every call that succeeded, and none for one that failed.
    pub open_calls_fail_at_turn_end: bool,
    /// Whether its subagents send the session's own turn end (Kimi: the same
    /// `Stop`, byte for byte, as its main agent's): a turn end that comes
    /// while a subagent runs is then the subagent's.
    pub subagents_send_turn_end: bool,
    /// How its transcript gives tokens, model and cost; `None`: it keeps none we can read.
    pub transcript: Option<crate::transcript::Reader>,
    /// Where and how `install` registers kaizen-hook; `None`: by hand only.
    pub installer: Option<Installer>,
    /// The ready-to-use config under `hooks/`, for agents with an installer.
    pub snippet: Option<&'static str>,
}

/// How a tool call ended, as the agent recorded it outside the hook's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Why the call failed, when its result hook calls it a success.
    pub failure: Option<String>,
    /// How long it took as the agent itself measured it (the hook's timing
    /// would include the other hooks' run time).
    pub duration_ms: Option<u32>,
}

/// For an agent that runs a registered hook only once the user trusts it:
/// how `install --trust` trusts ours, and how `uninstall` forgets that trust.
pub struct Trust {
    /// Its config with our handlers in `hooks` (its hook file as install
    /// leaves it) trusted; written by the caller.
    pub trust: fn(home: &std::path::Path, hooks: &Value) -> Result<crate::install::toml_file::TomlFile, String>,
    /// Its config without the trust of our handlers in `before` (the hook file
    /// before uninstall), the others' trust kept for where they are in
    /// `after`; `None` when nothing changes.
    pub forget: fn(
        home: &std::path::Path,
        before: &Value,
        after: &Value,
    ) -> Result<Option<crate::install::toml_file::TomlFile>, String>,
}

/// How trust works for `agent`, when it asks for trust.
pub fn trust(agent: &Agent) -> Option<&'static Trust> {
    (*agent == codex::AGENT).then_some(&codex::TRUST)
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Agent {
    fn eq(&self, other: &Agent) -> bool {
        self.name == other.name
    }
}

impl Eq for Agent {}

/// An agent known from its documentation only: no reply, no way of its own
/// to report failures, durations or its version, no config checks, no
/// transcript reader, no installer. Agents name what they have and take the
/// rest from here (`..DOCUMENTED`).
pub const DOCUMENTED: Agent = Agent {
    name: "",
    title: "",
    evidence: never,
    transcript_marker: "",
    events: &[],
    implied_tools: &[],
    guidance_files: &[],
    guidance_dirs: &[],
    reply: silent,
    reinterpret: as_named,
    outcome: no_outcome,
    version: no_version,
    model: no_model,
    config_problems: no_config_problems,
    open_calls_fail_at_turn_end: false,
    subagents_send_turn_end: false,
    transcript: None,
    installer: None,
    snippet: None,
};

/// Most specific evidence first: the first agent whose evidence matches wins.
/// Claude Code first among installers: `install` registers it when no agent's
/// directory exists.
pub static ALL: &[&Agent] = &[
    &windsurf::AGENT,
    &cline::AGENT,
    &cursor::AGENT,
    &vscode::AGENT,
    &copilot::AGENT,
    &codex::AGENT,
    &gemini::AGENT,
    &qwen::AGENT,
    &codebuddy::AGENT,
    &factory::AGENT,
    &kimi::AGENT,
    &vibe::AGENT,
    &kiro::AGENT,
    &kilo::AGENT,
    &opencode::AGENT,
    &openhands::AGENT,
    &claude::AGENT,
];

/// Whose hooks the Claude Code shape is when no agent's evidence claims a
/// payload and no flag names one; also what `install` registers first.
pub static CLAUDE_SHAPED: &Agent = &claude::AGENT;

/// The agents `install` can register, with their installers, in the order it registers them.
pub fn installers() -> Vec<(&'static Agent, &'static Installer)> {
    let mut found: Vec<_> = ALL.iter().filter_map(|a| Some((*a, a.installer.as_ref()?))).collect();
    found.sort_by_key(|(a, _)| *a != CLAUDE_SHAPED);
    found
}

pub fn by_name(name: &str) -> Option<&'static Agent> {
    ALL.iter().copied().find(|a| a.name == name)
}

/// Who sent a payload: an agent we know, or a name it was registered under
/// that we do not know, or nobody we can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentId {
    Known(&'static Agent),
    Named(String),
    Unknown,
}

impl AgentId {
    pub const UNKNOWN: &'static str = "unknown";

    /// A registered `--agent` value, made safe to store and compare.
    pub fn from_flag(flag: &str) -> Option<AgentId> {
        let name: String = flag
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(32)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        Some(by_name(&name).map_or(AgentId::Named(name), AgentId::Known))
    }

    pub fn name(&self) -> &str {
        match self {
            AgentId::Known(agent) => agent.name,
            AgentId::Named(name) => name,
            AgentId::Unknown => AgentId::UNKNOWN,
        }
    }

    pub fn known(&self) -> Option<&'static Agent> {
        match self {
            AgentId::Known(agent) => Some(agent),
            _ => None,
        }
    }
}

/// The agent the payload itself proves, if any.
pub fn detect(payload: &Payload) -> Option<&'static Agent> {
    if let Some(agent) = ALL.iter().find(|a| (a.evidence)(payload)) {
        return Some(agent);
    }
    let transcript =
        ["transcript_path", "transcriptPath"].iter().find_map(|k| payload.get(*k).and_then(Value::as_str))?;
    ALL.iter().copied().find(|a| transcript.contains(a.transcript_marker))
}

/// What an event means: the agent's own table first, then any agent's
/// (agents run each other's hook files, and flags can be wrong).
pub fn phase_of(agent: Option<&Agent>, name: &str) -> Phase {
    lookup(agent, name, |a| a.events).unwrap_or(Phase::Unknown)
}

/// The tool an event implies when its payload names none.
pub fn implied_tool(agent: Option<&Agent>, name: &str) -> Option<&'static str> {
    lookup(agent, name, |a| a.implied_tools)
}

fn lookup<T: Copy>(agent: Option<&Agent>, name: &str, table: fn(&Agent) -> &'static [(&'static str, T)]) -> Option<T> {
    let key = normalize(name);
    let find = |a: &Agent| table(a).iter().find(|(n, _)| same_name(n, &key)).map(|(_, v)| *v);
    agent.and_then(find).or_else(|| ALL.iter().find_map(|a| find(a)))
}

/// Whether a table's spelling normalises to `key`, without allocating: this
/// runs for every row on every hook run.
fn same_name(spelling: &str, key: &str) -> bool {
    spelling.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).eq(key.chars())
}

/// Every guidance file and rules directory any agent reads, sorted, once each.
pub fn guidance() -> (Vec<&'static str>, Vec<&'static str>) {
    let mut files: Vec<&str> = ALL.iter().flat_map(|a| a.guidance_files.iter().copied()).collect();
    let mut dirs: Vec<&str> = ALL.iter().flat_map(|a| a.guidance_dirs.iter().copied()).collect();
    files.sort_unstable();
    files.dedup();
    dirs.sort_unstable();
    dirs.dedup();
    (files, dirs)
}

// Helpers the agents' evidence functions share.

fn has(p: &Payload, key: &str) -> bool {
    p.contains_key(key)
}

fn event_name(p: &Payload) -> &str {
    p.get("hook_event_name").and_then(Value::as_str).unwrap_or("")
}

fn never(_: &Payload) -> bool {
    false
}

fn silent(_: &str) -> Option<&'static str> {
    None
}

fn as_named(_: &Payload, _: Phase) -> Option<(Phase, String)> {
    None
}

/// The call id kaizen-hook gave a tool call's pre-tool hook, for a
/// transcript that names the call only by its session, tool and input: what
/// recognition derives from a pre-tool payload naming no turn
/// (`recognize`'s tests hold the two together).
fn hook_call_id(session: &str, tool: &str, input: &Value) -> Option<String> {
    crate::call_id::derive(session, "", tool, input)
}

/// `config_problems` for a settings file whose switch (at JSON `pointer`,
/// written `shown` in the message) turns off every hook of the agent when true.
fn all_hooks_switched_off(path: &std::path::Path, pointer: &str, shown: &str, title: &str) -> Vec<String> {
    let Ok(settings) = crate::install::config_file::ConfigFile::load(path) else { return Vec::new() };
    if settings.value.pointer(pointer) != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    vec![format!(
        "{shown} in {} turns off every {title} hook, kaizen-hook's too: remove it (or set it to false)",
        path.display()
    )]
}

/// A directory an environment variable names (`CODEX_HOME`), when it is set and not empty.
fn env_dir(var: &str) -> Option<std::path::PathBuf> {
    std::env::var_os(var).filter(|dir| !dir.is_empty()).map(std::path::PathBuf::from)
}

/// An agent's config directory: from its environment variable, else `<home>/<name>`.
fn env_dir_or_home(var: &str, home: &std::path::Path, name: &str) -> std::path::PathBuf {
    env_dir(var).unwrap_or_else(|| home.join(name))
}

/// The version in `dir/package.json`, when its `name` is the agent's (`is_agent`):
/// agents run from npm packages give their version to no hook.
fn package_version(dir: &std::path::Path, is_agent: impl Fn(&str) -> bool) -> Option<String> {
    let package: Value = serde_json::from_slice(&std::fs::read(dir.join("package.json")).ok()?).ok()?;
    is_agent(package.get("name")?.as_str()?).then(|| package.get("version")?.as_str().map(String::from))?
}

/// An id that may name a directory of the agent's: one path component
/// (letters, digits, `_`, `-`), never empty, at most 128 bytes.
fn is_plain_name(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The version of the Python package `name` (as wheels spell it:
/// `mistral_vibe`) installed in the virtual environment `env`: its
/// `lib/python3.x/site-packages/<name>-<version>.dist-info`. Agents run
/// from PyPI give their version to no hook.
fn dist_info_version(env: &std::path::Path, name: &str) -> Option<String> {
    std::fs::read_dir(env.join("lib")).ok()?.flatten().find_map(|python| {
        std::fs::read_dir(python.path().join("site-packages"))
            .ok()?
            .flatten()
            .find_map(|entry| version_in_dist_info(&entry.file_name().to_string_lossy(), name))
    })
}

/// `openhands-1.16.0.dist-info` → `1.16.0` for `openhands` (not
/// `openhands_sdk-…`, nor `openhands-agent-server-…`).
fn version_in_dist_info(dir: &str, name: &str) -> Option<String> {
    let version = dir.strip_prefix(name)?.strip_prefix('-')?.strip_suffix(".dist-info")?;
    version.starts_with(|c: char| c.is_ascii_digit()).then(|| version.to_string())
}

/// The number after `marker` in a tool's text output (`Exit Code: 2`), when
/// the agent reports a command's exit status only there.
fn exit_code_after(text: &str, marker: &str) -> Option<i64> {
    let at = text.rfind(marker)? + marker.len();
    let rest = text[at..].trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A non-zero exit status in a tool's text output, as a failure.
fn failed_exit(text: Option<&str>, marker: &str) -> Option<(Phase, String)> {
    let code = exit_code_after(text?, marker).filter(|code| *code != 0)?;
    Some((Phase::ToolFailure, format!("exit code {code}")))
}

fn no_outcome(_: &Payload) -> Option<Outcome> {
    None
}

fn no_version(_: &Payload) -> Option<String> {
    None
}

fn no_model(_: &Payload) -> Option<String> {
    None
}

fn no_config_problems(_: &std::path::Path) -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detect_json(v: Value) -> Option<&'static str> {
        detect(v.as_object().unwrap()).map(|a| a.name)
    }

    #[test]
    fn evidence_identifies_each_agent() {
        assert_eq!(detect_json(json!({"conversation_id": "c", "generation_id": "g"})), Some("cursor"));
        assert_eq!(detect_json(json!({"session_id": "s", "cursor_version": "3.1"})), Some("cursor"));
        assert_eq!(detect_json(json!({"agent_action_name": "pre_run_command"})), Some("windsurf"));
        assert_eq!(detect_json(json!({"hookName": "PreToolUse", "taskId": "t"})), Some("cline"));
        assert_eq!(detect_json(json!({"sessionId": "s", "hookEventName": "Stop"})), Some("vscode"));
        assert_eq!(detect_json(json!({"sessionId": "s", "timestamp": 1})), Some("copilot"));
        assert_eq!(
            detect_json(json!({"hookName": "permissionRequest", "sessionId": "s", "timestamp": 1, "toolName": "bash"})),
            Some("copilot"),
            "Copilot's permission requests name their event as Cline does"
        );
        assert_eq!(detect_json(json!({"thread-id": "t", "type": "agent-turn-complete"})), Some("codex"));
        assert_eq!(detect_json(json!({"session_id": "s", "turn_id": "t", "model": "gpt"})), Some("codex"));
        assert_eq!(detect_json(json!({"session_id": "s", "hook_event_name": "AfterTool"})), Some("gemini"));
        assert_eq!(detect_json(json!({"hook_event_name": "agentSpawn", "cwd": "/"})), Some("kiro"));
        assert_eq!(
            detect_json(json!({"session_id": "s", "hook_event_name": "Stop", "client": "CLI", "version": "2.117.0"})),
            Some("codebuddy")
        );
        assert_eq!(
            detect_json(json!({"session_id": "s", "transcript_path": "/h/.claude/projects/x/s.jsonl"})),
            Some("claude")
        );
    }

    #[test]
    fn no_evidence_leaves_it_to_the_flag() {
        assert_eq!(detect_json(json!({"session_id": "s", "hook_event_name": "Stop"})), None);
        assert_eq!(
            detect_json(json!({"session_id": "s", "turn_id": "t", "model": "m", "message_id": "x"})),
            None,
            "Claude's MessageDisplay carries a turn id too"
        );
    }

    #[test]
    fn exit_codes_are_read_after_their_marker() {
        assert_eq!(exit_code_after("out\nExit Code: 2\nmore", "Exit Code:"), Some(2));
        assert_eq!(exit_code_after("<shellId: 1 completed with exit code 0>", "exit code"), Some(0));
        assert_eq!(exit_code_after("no code here", "Exit Code:"), None);
        assert_eq!(failed_exit(Some("Exit Code: 0"), "Exit Code:"), None);
        assert_eq!(failed_exit(Some("Exit Code: 127"), "Exit Code:").map(|(p, _)| p), Some(Phase::ToolFailure));
    }

    #[test]
    fn flags_are_sanitized() {
        assert_eq!(AgentId::from_flag(" Cursor "), Some(AgentId::Known(&cursor::AGENT)));
        assert_eq!(AgentId::from_flag("../x"), Some(AgentId::Named("..x".into())));
        assert_eq!(AgentId::from_flag("  "), None);
    }

    #[test]
    fn spellings_of_one_event_meet() {
        for name in ["PreToolUse", "preToolUse", "pre_tool_use", "BeforeTool", "beforeShellExecution"] {
            assert_eq!(phase_of(None, name), Phase::ToolCall, "{name}");
        }
        assert_eq!(phase_of(None, "PostToolUseFailure"), Phase::ToolFailure);
        assert_eq!(phase_of(Some(&claude::AGENT), "Stop"), Phase::TurnEnd);
        assert_eq!(phase_of(Some(&gemini::AGENT), "SessionEnd"), Phase::SessionEnd);
        assert_eq!(phase_of(None, "SomethingNew"), Phase::Unknown);
        assert_eq!(phase_of(None, ""), Phase::Unknown);
        assert_eq!(implied_tool(None, "before_shell_execution"), Some("Shell"));
        assert_eq!(implied_tool(Some(&claude::AGENT), "PreToolUse"), None);
    }

    #[test]
    fn a_package_version_is_read_only_from_the_agent_s_own_package() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("package.json"), text).unwrap();
        let is_cli = |name: &str| name == "@acme/cli";
        assert_eq!(package_version(dir.path(), is_cli), None, "no package.json");
        write(r#"{"name": "@acme/cli", "version": "1.2.3"}"#);
        assert_eq!(package_version(dir.path(), is_cli).as_deref(), Some("1.2.3"));
        write(r#"{"name": "@other/cli", "version": "9.9.9"}"#);
        assert_eq!(package_version(dir.path(), is_cli), None, "another package");
        write(r#"{"name": "@acme/cli"}"#);
        assert_eq!(package_version(dir.path(), is_cli), None, "no version");
        write("not json");
        assert_eq!(package_version(dir.path(), is_cli), None);
        let home = std::path::Path::new("/h");
        assert_eq!(env_dir_or_home("KAIZEN_TEST_NO_SUCH_VARIABLE", home, ".x"), home.join(".x"));
    }
}
