//! Mistral Vibe (PyPI `mistral-vibe`): `[[hooks]]` tables in `~/.vibe/hooks.toml`
//! (or `$VIBE_HOME/hooks.toml`), three events of its own: `pre_tool`,
//! `post_tool` (with the call's status) and `post_agent` (a turn's end). It
//! sends no session start or end: a session starts at its first event, and
//! ends with the process that delivered it (the inferred end).

use super::{Agent, DOCUMENTED, Payload, env_dir_or_home};
use crate::cost::Tokens;
use crate::install::toml_file::TomlFile;
use crate::install::toml_hooks::TomlHooks;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::{Category, Phase};
use crate::transcript::{Context, Reader, Response, Scope, count, no_failure, no_scope};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "vibe",
    title: "Mistral Vibe",
    evidence,
    transcript_marker: "/.vibe/logs/session/",
    events: &[("pre_tool", Phase::ToolCall), ("post_tool", Phase::ToolResult), ("post_agent", Phase::TurnEnd)],
    guidance_files: &["AGENTS.md"],
    reinterpret,
    version,
    model,
    transcript: Some(Reader {
        needles: &[b"\"completion_succeeded\""],
        parse: response,
        failure: no_failure,
        paths: journals,
        scope: no_scope,
        items: &[],
    }),
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.toml",
        format: Format::TomlHooks(TomlHooks {
            events: &[
                ("pre_tool", Category::ToolUse),
                ("post_tool", Category::ToolUse),
                ("post_agent", Category::Stop),
            ],
            event_key: "type",
            named: true,
            timeout: TIMEOUT_SECONDS,
        }),
        note: None,
    }),
    snippet: Some("vibe-hooks.toml"),
    ..DOCUMENTED
};

/// Its event names are its own.
fn evidence(p: &Payload) -> bool {
    matches!(super::event_name(p), "pre_tool" | "post_tool" | "post_agent")
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("VIBE_HOME", home, ".vibe")
}

/// `tool_status` is `failure` or `cancelled` for a call that did not
/// succeed; a command that exited non-zero is a `success` whose
/// `tool_output.returncode` says otherwise.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    match p.get("tool_status").and_then(Value::as_str) {
        Some(status @ ("failure" | "cancelled")) => {
            let why = p.get("tool_error").and_then(Value::as_str).unwrap_or(status);
            Some((Phase::ToolFailure, why.to_string()))
        }
        _ => {
            let code =
                p.get("tool_output").and_then(|out| out.get("returncode")?.as_i64()).filter(|code| *code != 0)?;
            Some((Phase::ToolFailure, format!("exit code {code}")))
        }
    }
}

/// Vibe gives its version to no hook; its app server, which runs the
/// hooks, is named in their environment (`VIBE_APP_SERVER_BIN`,
/// `<env>/bin/vibe-app-server`), and its environment holds the package's
/// `mistral_vibe-<version>.dist-info`.
fn version(_: &Payload) -> Option<String> {
    let server = PathBuf::from(std::env::var_os("VIBE_APP_SERVER_BIN")?);
    super::dist_info_version(server.parent()?.parent()?, "mistral_vibe")
}

/// The model no payload names: `active_model` in `config.toml`, the
/// `[[models]]` entry it names (by alias or name), that entry's `name`.
fn model(_: &Payload) -> Option<String> {
    let home = crate::config::home_dir()?;
    let config = TomlFile::load(&config_dir(&home).join("config.toml")).ok()?;
    let active = config.doc.get("active_model")?.as_str()?;
    let models = config.doc.get("models")?.as_array_of_tables()?;
    let entry =
        models.iter().find(|m| [m.get("alias"), m.get("name")].iter().flatten().any(|v| v.as_str() == Some(active)))?;
    entry.get("name")?.as_str().map(String::from)
}

// The transcript: `transcript_path` is the session's directory; its
// `journal/<generation>.jsonl` files are a recovery journal. Each model call's
// result is an `action_result` line whose `payload.result` is a
// `completion_succeeded` with the call's `usage` (`input_tokens` includes
// `cached_input_tokens`; `output_tokens` includes `reasoning_tokens`), keyed
// by its `action_id`; a `core_input` line repeats it (not counted). No line
// names the model: it is the configured one (`model`).

fn journals(p: &Payload) -> Vec<PathBuf> {
    let Some(dir) = p.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(dir).join("journal"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|path| path.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

fn response(line: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
    if line.get("type")?.as_str()? != "action_result" {
        return None;
    }
    let outcome = line.pointer("/payload/result")?;
    if outcome.get("type")?.as_str()? != "completion_succeeded" {
        return None;
    }
    let result = outcome.get("result")?;
    let usage = result.get("usage")?;
    if ctx.model.is_none() {
        ctx.model = model(&Payload::new());
    }
    let cached = count(usage, "cached_input_tokens");
    let written = count(usage, "cache_write_tokens");
    Some(Response {
        key: outcome.get("action_id")?.as_str()?.to_string(),
        model: ctx.model.clone(),
        tokens: Tokens::of_prompt(count(usage, "input_tokens"), cached, written, count(usage, "output_tokens")),
        reasoning: count(usage, "reasoning_tokens"),
        stop_reason: result.get("finish_reason").and_then(Value::as_str).map(String::from),
        ..Response::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real line (Mistral Vibe 3.0.3), its `parts` left out.
    const RESULT: &str = r#"{"payload":{"action_id":"9206d082-7841-5540-97c1-b09ef05cd192","result":{"action_id":"9206d082-7841-5540-97c1-b09ef05cd192","result":{"finish_reason":"tool_call","parts":[],"usage":{"cache_write_tokens":0,"cached_input_tokens":100,"input_tokens":1000,"output_tokens":30,"reasoning_tokens":0,"total_tokens":1030}},"type":"completion_succeeded"},"state":"succeeded"},"previous_record_sha256":"00dc","record_sha256":"65d0","recovery_journal_record_version":1,"sequence":5,"type":"action_result"}"#;

    #[test]
    fn a_completion_result_is_a_response() {
        let mut ctx = Context { model: Some("devstral".into()), ..Context::default() };
        let r = response(&serde_json::from_str(RESULT).unwrap(), &mut ctx, &mut Scope::default()).unwrap();
        assert_eq!((r.key.as_str(), r.model.as_deref()), ("9206d082-7841-5540-97c1-b09ef05cd192", Some("devstral")));
        assert_eq!((r.tokens.input, r.tokens.cache_read, r.tokens.output), (900, 100, 30));
        assert_eq!(r.stop_reason.as_deref(), Some("tool_call"));
    }

    #[test]
    fn failures_come_from_the_status_or_the_exit_code() {
        let p = |v: Value| v.as_object().unwrap().clone();
        let failed = p(json!({"tool_status": "failure", "tool_error": "File not found at: /x"}));
        assert_eq!(reinterpret(&failed, Phase::ToolResult), Some((Phase::ToolFailure, "File not found at: /x".into())));
        let exit2 = p(json!({"tool_status": "success", "tool_output": {"returncode": 2}}));
        assert_eq!(reinterpret(&exit2, Phase::ToolResult), Some((Phase::ToolFailure, "exit code 2".into())));
        let ok = p(json!({"tool_status": "success", "tool_output": {"returncode": 0}}));
        assert_eq!(reinterpret(&ok, Phase::ToolResult), None);
        assert_eq!(reinterpret(&failed, Phase::ToolCall), None);
    }
}
