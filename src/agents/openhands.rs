//! OpenHands CLI (PyPI `openhands`): Claude-named hooks in
//! `~/.openhands/hooks.json`, each payload its SDK's `HookEvent`: the event
//! in `event_type` (not `hook_event_name`), the directory in `working_dir`,
//! `session_id` (the conversation id), and no call id, turn id, model,
//! version or transcript path. A work tree's own `.openhands/hooks.json`
//! hides the user's: OpenHands reads the first of the two it finds. The
//! model and each response's tokens are in the conversation's saved state,
//! found from the session id.

use super::{Agent, DOCUMENTED, Payload, has};
use crate::cost::Tokens;
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::{Category, Phase};
use crate::store::fsutil::{self, End};
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "openhands",
    title: "OpenHands CLI",
    evidence,
    transcript_marker: "/.openhands/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("Stop", Phase::TurnEnd),
    ],
    guidance_files: &["AGENTS.md"],
    guidance_dirs: &[".agents/skills", ".openhands/skills", ".openhands/microagents"],
    reinterpret,
    version,
    model,
    config_problems,
    transcript: Some(Reader {
        needles: &[b"\"response_id\""],
        parse: response,
        failure: no_failure,
        paths: |p| base_state(p).into_iter().collect(),
        scope: no_scope,
        // Per LLM of the conversation (`agent`, `condenser`): the latencies
        // first, so that each response's is known when its tokens are read.
        items: &[
            &["stats", "usage_to_metrics", "*", "response_latencies", "*"],
            &["stats", "usage_to_metrics", "*", "token_usages", "*"],
        ],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.json",
        // The `{"hooks": {...}}` form OpenHands shares with Claude Code, in
        // seconds. A non-zero exit other than 2 blocks nothing.
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", Category::SessionStart),
                ("SessionEnd", Category::SessionEnd),
                ("UserPromptSubmit", Category::Prompt),
                ("PreToolUse", Category::ToolUse),
                ("PostToolUse", Category::ToolUse),
                ("Stop", Category::Stop),
            ],
            timeout: TIMEOUT_SECONDS,
            short: &[],
        }),
        note: Some(
            "OpenHands reads a work tree's own .openhands/hooks.json instead of ~/.openhands/hooks.json: in a project that has one, kaizen-hook records nothing unless that file registers it too",
        ),
    }),
    snippet: Some("openhands-hooks.json"),
    ..DOCUMENTED
};

/// Every `HookEvent` is serialised whole: its `event_type` and `working_dir`
/// are there, even as null, in every payload, and no other agent sends them.
fn evidence(p: &Payload) -> bool {
    has(p, "event_type") && has(p, "working_dir")
}

/// A tool result is the tool's observation: `is_error` for a failed tool
/// (a missing file), `exit_code` for a command that failed.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let response = p.get("tool_response")?;
    if let Some(code) = response.get("exit_code").and_then(Value::as_i64).filter(|code| *code != 0) {
        return Some((Phase::ToolFailure, format!("exit code {code}")));
    }
    if response.get("is_error") != Some(&Value::Bool(true)) {
        return None;
    }
    let text = response.pointer("/content/0/text").and_then(Value::as_str).unwrap_or("");
    let first = text.lines().next().unwrap_or("").trim();
    Some((Phase::ToolFailure, if first.is_empty() { "the tool reported is_error".into() } else { first.to_string() }))
}

/// OpenHands gives its version to no hook: it is in the `openhands`
/// package's metadata beside the Python that runs it (`bin/python` of the
/// virtual environment `pip`, `uv tool` or `pipx` made).
fn version(_: &Payload) -> Option<String> {
    let agent = crate::process::delivering()?;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", agent.pid)).ok()?;
    let python = Path::new(std::str::from_utf8(cmdline.split(|b| *b == 0).next()?).ok()?);
    super::dist_info_version(python.parent()?.parent()?, "openhands")
}

/// The model the conversation runs, from its saved state
/// (`<conversations>/<id without dashes>/base_state.json`, `agent.llm.model`).
fn model(p: &Payload) -> Option<String> {
    let state: Value =
        serde_json::from_slice(&fsutil::read_agent_file(&base_state(p)?, End::Head, STATE_CAP).ok()?).ok()?;
    state.pointer("/agent/llm/model")?.as_str().filter(|m| !m.is_empty()).map(String::from)
}

/// A conversation's state grows by a few hundred bytes per model response.
const STATE_CAP: u64 = 16 << 20;

/// One item of a conversation's metrics: a `token_usages` entry is one model
/// response, keyed by its `response_id`; a `response_latencies` entry (read
/// before them) is its latency, in seconds. A response the provider gave no
/// usage for has a latency and no tokens: not counted. `prompt_tokens` is
/// LiteLLM's, cache reads and writes included: they are taken out of `input`.
fn response(item: &Value, ctx: &mut Context, scope: &mut Scope) -> Option<Response> {
    let key = item.get("response_id")?.as_str().filter(|id| !id.is_empty())?.to_string();
    if let Some(seconds) = item.get("latency").and_then(Value::as_f64) {
        if seconds.is_finite() && (0.0..86_400.0).contains(&seconds) {
            scope.latencies.insert(key, (seconds * 1000.0).round() as u32);
        }
        return None;
    }
    item.get("prompt_tokens")?;
    if let Some(model) = item.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
        ctx.model = Some(model.to_string());
    }
    let (read, written) = (count(item, "cache_read_tokens"), count(item, "cache_write_tokens"));
    Some(Response {
        model: ctx.model.clone(),
        tokens: Tokens::of_prompt(count(item, "prompt_tokens"), read, written, count(item, "completion_tokens")),
        reasoning: count(item, "reasoning_tokens"),
        latency_ms: scope.latencies.get(&key).copied(),
        context_max: Some(count(item, "context_window")).filter(|max| *max > 0),
        key,
        ..Response::default()
    })
}

fn base_state(p: &Payload) -> Option<PathBuf> {
    let id: String = p.get("session_id")?.as_str()?.chars().filter(|c| *c != '-').collect();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(conversations_dir()?.join(id).join("base_state.json"))
}

/// `$OPENHANDS_CONVERSATIONS_DIR`, else `$OPENHANDS_PERSISTENCE_DIR/conversations`,
/// else `~/.openhands/conversations`: the hook runs with the agent's environment.
fn conversations_dir() -> Option<PathBuf> {
    if let Some(dir) = super::env_dir("OPENHANDS_CONVERSATIONS_DIR") {
        return Some(dir);
    }
    let home = crate::config::home_dir()?;
    Some(super::env_dir_or_home("OPENHANDS_PERSISTENCE_DIR", &home, ".openhands").join("conversations"))
}

/// OpenHands has no switch that turns hooks off, but it reads only one hooks
/// file: the work tree's `.openhands/hooks.json` (of `$OPENHANDS_WORK_DIR`,
/// else the directory it starts in) when there is one, else the user's.
/// Here, that is the directory doctor runs in.
fn config_problems(home: &Path) -> Vec<String> {
    let Some(work) = super::env_dir("OPENHANDS_WORK_DIR").or_else(|| std::env::current_dir().ok()) else {
        return Vec::new();
    };
    project_hides_user(home, &work).into_iter().collect()
}

fn project_hides_user(home: &Path, work: &Path) -> Option<String> {
    let project = work.join(".openhands").join("hooks.json");
    let user = config_dir(home).join("hooks.json");
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b)
    };
    if !project.is_file() || same(&project, &user) {
        return None;
    }
    let installer = AGENT.installer.as_ref()?;
    let registers_us = crate::install::config_file::ConfigFile::load(&project)
        .is_ok_and(|file| !installer.registered(&file.value).is_empty());
    (!registers_us).then(|| {
        format!(
            "{} hides {} in this work tree: OpenHands reads only the project's file when there is one, so kaizen-hook records no OpenHands session started here. Register kaizen-hook there too (its entries as in {}), or remove the project's file",
            project.display(),
            user.display(),
            user.display()
        )
    })
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".openhands")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn observations_that_failed_are_failures() {
        let failed = payload(json!({"tool_response": {"is_error": true, "exit_code": 2, "content": []}}));
        assert_eq!(reinterpret(&failed, Phase::ToolResult), Some((Phase::ToolFailure, "exit code 2".into())));
        let missing = payload(
            json!({"tool_response": {"is_error": true, "content": [{"type": "text", "text": "Invalid `path` parameter: /x.\nmore"}]}}),
        );
        assert_eq!(
            reinterpret(&missing, Phase::ToolResult),
            Some((Phase::ToolFailure, "Invalid `path` parameter: /x.".into()))
        );
        let ok = payload(json!({"tool_response": {"is_error": false, "exit_code": 0}}));
        assert_eq!(reinterpret(&ok, Phase::ToolResult), None);
        assert_eq!(reinterpret(&failed, Phase::ToolCall), None);
    }

    #[test]
    fn a_token_usage_is_a_response_with_its_latency() {
        let (mut ctx, mut scope) = (Context::default(), Scope::default());
        let latency = json!({"model": "openai/gpt-4.1", "latency": 0.1714, "response_id": "chatcmpl-1"});
        assert_eq!(response(&latency, &mut ctx, &mut scope), None, "a latency alone is no response");
        let usage = json!({"model": "openai/gpt-4.1", "prompt_tokens": 2101, "completion_tokens": 31,
            "cache_read_tokens": 101, "cache_write_tokens": 50, "reasoning_tokens": 7, "context_window": 1047576,
            "per_turn_token": 2132, "response_id": "chatcmpl-1"});
        let r = response(&usage, &mut ctx, &mut scope).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("chatcmpl-1", Some("openai/gpt-4.1")));
        let t = r.tokens;
        assert_eq!((t.input, t.output, t.cache_read, t.cache_write, r.reasoning), (1950, 31, 101, 50, 7));
        assert_eq!((r.latency_ms, r.context_max), (Some(171), Some(1047576)));
        let no_latency = json!({"prompt_tokens": 10, "response_id": "chatcmpl-2", "context_window": 0});
        let r = response(&no_latency, &mut ctx, &mut scope).unwrap();
        assert_eq!((r.latency_ms, r.context_max, r.model.as_deref()), (None, None, Some("openai/gpt-4.1")));
        for not_one in [
            json!({"model": "openai/gpt-4.1", "prompt_tokens": 0, "response_id": ""}),
            json!({"model": "openai/gpt-4.1", "cost": 0.004, "timestamp": 1796631603.75}),
            json!({"response_id": "chatcmpl-3", "model": "m"}),
        ] {
            assert_eq!(response(&not_one, &mut ctx, &mut scope), None, "{not_one}");
        }
    }

    #[test]
    fn the_version_is_the_openhands_package_s_own() {
        let version = |dir: &str| super::super::version_in_dist_info(dir, "openhands");
        assert_eq!(version("openhands-1.16.0.dist-info").as_deref(), Some("1.16.0"));
        assert_eq!(version("openhands_sdk-1.21.0.dist-info"), None);
        assert_eq!(version("openhands-agent-server-1.0.dist-info"), None);
        assert_eq!(version("openhands-1.16.0.data"), None);
    }

    #[test]
    fn a_project_hooks_file_hides_the_user_s_unless_it_registers_us() {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        assert_eq!(project_hides_user(home.path(), work.path()), None, "no project file");
        let project = work.path().join(".openhands");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("hooks.json"), r#"{"stop": [{"hooks": [{"command": "lint.sh"}]}]}"#).unwrap();
        assert!(project_hides_user(home.path(), work.path()).is_some_and(|p| p.contains("hides")));
        let ours = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "/bin/kaizen-hook stop --agent openhands"}]}]}});
        std::fs::write(project.join("hooks.json"), ours.to_string()).unwrap();
        assert_eq!(project_hides_user(home.path(), work.path()), None, "the project's file registers kaizen-hook");
        assert_eq!(project_hides_user(work.path(), work.path()), None, "the user's own file, run from home");
    }
}
