//! Codex CLI: `~/.codex/hooks.json` (or `$CODEX_HOME`), the nested format with
//! timeouts in seconds, and the legacy `notify` program, which gets its
//! payload as the last argument. Codex runs a new or changed hook only once
//! the user trusts it in `/hooks`, or `install --trust` does.

use super::{Agent, DOCUMENTED, Payload, Trust, env_dir, env_dir_or_home, has};
use crate::install::config_file::ConfigFile;
use crate::install::nested::Nested;
use crate::install::toml_file::{self, TomlFile};
use crate::install::{Format, Installer, TIMEOUT_SECONDS, is_ours};
use crate::recognize::Phase;
use crate::store::fsutil::{self, End};
use memchr::memmem;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "codex",
    title: "Codex CLI",
    evidence,
    transcript_marker: "/.codex/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("UserPromptSubmit", Phase::Prompt),
        ("PreToolUse", Phase::ToolCall),
        ("PostToolUse", Phase::ToolResult),
        ("PermissionRequest", Phase::Waiting),
        ("Stop", Phase::TurnEnd),
        ("StopFailure", Phase::TurnFailure),
        ("SubagentStart", Phase::SubagentStart),
        ("SubagentStop", Phase::SubagentStop),
        ("PreCompact", Phase::Other),
        ("PostCompact", Phase::Other),
        // The user interrupted the turn: it ended, not on an error of the agent's.
        ("Interrupt", Phase::TurnEnd),
        ("PreModelRequest", Phase::Other),
        ("PostModelRequest", Phase::Other),
        // `notify`'s only event. With the hooks registered too, Stop has
        // already ended the turn: the pipeline records it as a repeat then.
        ("agent-turn-complete", Phase::TurnEnd),
    ],
    guidance_files: &["AGENTS.md", "AGENTS.override.md"],
    reinterpret,
    duration,
    version,
    config_problems,
    transcript: Some(Reader { needles: NEEDLES, parse: response, failure, paths: transcripts }),
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.json",
        format: Format::Nested(Nested {
            events: &[
                ("SessionStart", "session-start"),
                ("SessionEnd", "session-end"),
                ("UserPromptSubmit", "prompt"),
                ("PreToolUse", "tool-use"),
                ("PostToolUse", "tool-use"),
                ("PermissionRequest", "event"),
                ("Stop", "stop"),
                ("SubagentStart", "subagent"),
                ("SubagentStop", "subagent"),
                ("PreCompact", "event"),
                ("PostCompact", "event"),
                ("Interrupt", "stop"),
            ],
            timeout: TIMEOUT_SECONDS,
            // Codex clamps these to 3 s, with a warning for anything above.
            short: &[("SessionEnd", 3), ("Interrupt", 3)],
        }),
        // Whether Codex trusts them is a config problem, which install reports.
        note: None,
    }),
    snippet: Some("codex-hooks.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    // `notify` payloads are kebab-case; hook payloads pair a turn id with the model.
    has(p, "thread-id") || (has(p, "turn_id") && has(p, "model") && !has(p, "message_id"))
}

/// Codex's PostToolUse does not say how a command ended; its rollout does,
/// and the call's `item_completed` line is written before the hook runs.
fn reinterpret(p: &Payload, phase: Phase) -> Option<(Phase, String)> {
    if phase != Phase::ToolResult {
        return None;
    }
    let completed = completed_item(p)?;
    let item = completed.get("item")?;
    match (item.get("exit_code").and_then(Value::as_i64), item.get("status").and_then(Value::as_str)) {
        (Some(code), _) if code != 0 => Some((Phase::ToolFailure, format!("exit code {code}"))),
        (_, Some("failed")) => Some((Phase::ToolFailure, "failed".to_string())),
        _ => None,
    }
}

/// The call's own start and end, from the same `item_completed` line: the
/// hook's timing would include the other hooks' run time.
fn duration(p: &Payload) -> Option<u32> {
    let completed = completed_item(p)?;
    let ms = |key: &str| completed.get(key).and_then(Value::as_u64);
    u32::try_from(ms("completed_at_ms")?.checked_sub(ms("started_at_ms")?)?).ok()
}

/// The `item_completed` payload of this result's call, from the rollout's
/// end. Both `reinterpret` and `duration` need it for the same delivery: the
/// rollout is read once per call and transcript.
fn completed_item(p: &Payload) -> Option<Value> {
    /// (call id, rollout path) → what was found there.
    type Looked = Option<((String, String), Option<Value>)>;
    thread_local! {
        static LAST: std::cell::RefCell<Looked> = const { std::cell::RefCell::new(None) };
    }
    let key = (p.get("tool_use_id")?.as_str()?.to_string(), p.get("transcript_path")?.as_str()?.to_string());
    if let Some(found) = LAST.with_borrow(|last| last.as_ref().filter(|(k, _)| *k == key).map(|(_, v)| v.clone())) {
        return found;
    }
    let found = find_completed_item(&key.0, &key.1);
    LAST.set(Some((key, found.clone())));
    found
}

fn find_completed_item(call: &str, rollout: &str) -> Option<Value> {
    let tail = fsutil::read_agent_file(Path::new(rollout), End::Tail, ROLLOUT_TAIL).ok()?;
    let needle = format!("\"id\":{}", Value::from(call));
    tail.rsplit(|b| *b == b'\n')
        .filter(|line| {
            memmem::find(line, needle.as_bytes()).is_some() && memmem::find(line, b"item_completed").is_some()
        })
        .find_map(|line| {
            let mut line: Value = serde_json::from_slice(line).ok()?;
            let completed = line.get_mut("payload")?.take();
            (completed.get("item")?.get("id")?.as_str()? == call).then_some(completed)
        })
}

/// How much of the rollout's end is searched for a call's outcome.
const ROLLOUT_TAIL: u64 = 256 * 1024;

/// `session_meta.payload.cli_version`, on the rollout's first line.
fn version(p: &Payload) -> Option<String> {
    let head = fsutil::read_agent_file(Path::new(p.get("transcript_path")?.as_str()?), End::Head, 16 * 1024).ok()?;
    let key = b"\"cli_version\":\"";
    let at = memmem::find(&head, key)? + key.len();
    let len = memchr::memchr(b'"', &head[at..])?;
    Some(String::from_utf8_lossy(&head[at..at + len]).into_owned()).filter(|v| !v.is_empty())
}

fn config_dir(home: &Path) -> PathBuf {
    env_dir_or_home("CODEX_HOME", home, ".codex")
}

// Trust. Codex 0.171 runs a hook of hooks.json only when `config.toml` has
// `[hooks.state."<hooks.json>:<event label>:<group>:<handler>"]` with
// `trusted_hash` equal to the hash of the handler's normalized identity, and
// skips it silently otherwise; `enabled = false` there turns it off.

pub static TRUST: Trust = Trust { trust, forget: forget_trust };

/// hooks.json events → the label Codex uses in trust keys and hashes; it
/// ignores the events not listed (no trust, no run).
const EVENT_LABELS: &[(&str, &str)] = &[
    ("PreToolUse", "pre_tool_use"),
    ("PermissionRequest", "permission_request"),
    ("PostToolUse", "post_tool_use"),
    ("PreCompact", "pre_compact"),
    ("PostCompact", "post_compact"),
    ("SessionStart", "session_start"),
    ("SessionEnd", "session_end"),
    ("UserPromptSubmit", "user_prompt_submit"),
    ("SubagentStart", "subagent_start"),
    ("SubagentStop", "subagent_stop"),
    ("Stop", "stop"),
    ("Interrupt", "interrupt"),
    ("PreModelRequest", "pre_model_request"),
    ("PostModelRequest", "post_model_request"),
];

/// Events whose timeout Codex clamps to 1..=3 s (default 1); the hash has the clamped value.
const CLAMPED: &[&str] = &["SessionEnd", "Interrupt"];

/// Events whose matcher Codex ignores, and leaves out of the hash.
const NO_MATCHER: &[&str] = &["UserPromptSubmit", "Stop"];

const STATE: &[&str] = &["hooks", "state"];

/// One handler of hooks.json as Codex's trust sees it.
struct Handler {
    event: String,
    key: String,
    hash: String,
    ours: bool,
}

/// Every handler of the events Codex knows, in file order.
fn handlers(hooks: &Value, source: &str) -> Vec<Handler> {
    let mut found = Vec::new();
    for (event, groups) in hooks.get("hooks").and_then(Value::as_object).into_iter().flatten() {
        let Some((_, label)) = EVENT_LABELS.iter().find(|(name, _)| name == event) else { continue };
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            for (h, handler) in group.get("hooks").and_then(Value::as_array).into_iter().flatten().enumerate() {
                found.push(Handler {
                    event: event.clone(),
                    key: format!("{source}:{label}:{g}:{h}"),
                    hash: trusted_hash(event, label, group, handler),
                    ours: handler.get("command").and_then(Value::as_str).is_some_and(is_ours),
                });
            }
        }
    }
    found
}

/// `sha256:<hex>` of `{"event_name", "hooks": [handler], "matcher"?}` with the
/// handler normalized as Codex does (`type`, `command`, `timeout`, `async`
/// always; `statusMessage` when set), keys sorted at every level, compact.
/// The maps are built in sorted order: serde_json keeps insertion order here.
fn trusted_hash(event: &str, label: &str, group: &Value, handler: &Value) -> String {
    let given = handler.get("timeout").or_else(|| handler.get("timeoutSec")).and_then(Value::as_u64);
    let timeout = if CLAMPED.contains(&event) { given.unwrap_or(1).clamp(1, 3) } else { given.unwrap_or(600).max(1) };
    let mut normalized = Map::new();
    normalized.insert("async".into(), json!(handler.get("async").and_then(Value::as_bool).unwrap_or(false)));
    normalized.insert("command".into(), handler.get("command").cloned().unwrap_or(Value::Null));
    if let Some(message) = handler.get("statusMessage").filter(|m| !m.is_null()) {
        normalized.insert("statusMessage".into(), message.clone());
    }
    normalized.insert("timeout".into(), json!(timeout));
    normalized.insert("type".into(), json!("command"));
    let mut identity = Map::new();
    identity.insert("event_name".into(), json!(label));
    identity.insert("hooks".into(), json!([normalized]));
    if let Some(matcher) = group.get("matcher").filter(|m| !m.is_null() && !NO_MATCHER.contains(&event)) {
        identity.insert("matcher".into(), matcher.clone());
    }
    let bytes = serde_json::to_vec(&identity).expect("a JSON value always serializes");
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// hooks.json as Codex names it in trust keys: under `$CODEX_HOME`, which
/// Codex canonicalizes, or under `$HOME/.codex`, which it takes as it is.
fn trust_source(home: &Path) -> String {
    let dir = match env_dir("CODEX_HOME") {
        Some(dir) => std::fs::canonicalize(&dir).unwrap_or(dir),
        None => home.join(".codex"),
    };
    dir.join("hooks.json").components().collect::<PathBuf>().display().to_string()
}

fn config_toml(home: &Path) -> PathBuf {
    config_dir(home).join("config.toml")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    Untrusted,
    Changed,
    Disabled,
}

/// Why Codex would not run this handler, if it would not.
fn standing(doc: &toml_edit::DocumentMut, handler: &Handler) -> Option<Standing> {
    let state = toml_file::table_at(doc, STATE).and_then(|s| s.get(&handler.key)?.as_table_like());
    let field = |name: &str| state.and_then(|s| s.get(name)?.as_value());
    match (field("enabled").and_then(|v| v.as_bool()), field("trusted_hash").and_then(|v| v.as_str())) {
        (Some(false), _) => Some(Standing::Disabled),
        (_, None) => Some(Standing::Untrusted),
        (_, Some(hash)) if hash != handler.hash => Some(Standing::Changed),
        _ => None,
    }
}

/// Our handlers that Codex would skip, untrusted, changed since trusted, or turned off.
fn config_problems(home: &Path) -> Vec<String> {
    let Some(hooks) = ConfigFile::load(&config_dir(home).join("hooks.json")).ok().map(|f| f.value) else {
        return Vec::new();
    };
    let ours: Vec<Handler> = handlers(&hooks, &trust_source(home)).into_iter().filter(|h| h.ours).collect();
    if ours.is_empty() {
        return Vec::new();
    }
    let config = config_toml(home);
    let file = match TomlFile::load(&config) {
        Ok(file) => file,
        Err(e) => return vec![format!("{e}: Codex cannot tell which hooks are trusted")],
    };
    let all = ours.iter().map(|h| h.event.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let mut skipped: BTreeMap<Standing, Vec<&str>> = BTreeMap::new();
    for handler in &ours {
        if let Some(standing) = standing(&file.doc, handler) {
            let events = skipped.entry(standing).or_default();
            if !events.contains(&handler.event.as_str()) {
                events.push(&handler.event);
            }
        }
    }
    skipped.into_iter().map(|(standing, events)| skipped_message(standing, &events, all, &config)).collect()
}

fn skipped_message(standing: Standing, events: &[&str], all: usize, config: &Path) -> String {
    let which = if events.len() == all {
        format!("kaizen-hook's Codex hooks (all {all} events)")
    } else {
        format!("kaizen-hook's Codex hooks for {} of {all} events ({})", events.len(), events.join(", "))
    };
    let trust = "run `kaizen-hook install --agent codex --trust`, or trust them in Codex's /hooks";
    match standing {
        Standing::Untrusted => format!("{which} are not trusted, and Codex skips them silently: {trust}"),
        Standing::Changed => format!("{which} changed since Codex trusted them, and it skips them silently: {trust}"),
        Standing::Disabled => format!(
            "{which} are turned off in Codex: turn them on in Codex's /hooks (or remove `enabled = false` from their [hooks.state] tables in {})",
            config.display()
        ),
    }
}

/// config.toml with our handlers in `hooks` trusted, as Codex's /hooks
/// trusts them; the user's own entries, and `enabled`, are left alone.
fn trust(home: &Path, hooks: &Value) -> Result<TomlFile, String> {
    let mut file = TomlFile::load(&config_toml(home))?;
    let in_the_way = format!("\"hooks.state\" in {} is not a table: left untouched", file.path.display());
    let in_the_way = || in_the_way.clone();
    for handler in handlers(hooks, &trust_source(home)).into_iter().filter(|h| h.ours) {
        let state = toml_file::ensure_table(&mut file.doc, STATE).ok_or_else(in_the_way)?;
        match state.get_mut(&handler.key) {
            None => {
                let mut entry = toml_edit::Table::new();
                entry.insert("trusted_hash", toml_edit::value(handler.hash));
                state.insert(&handler.key, toml_edit::Item::Table(entry));
            }
            Some(item) => {
                let entry = item.as_table_like_mut().ok_or_else(in_the_way)?;
                if entry.get("trusted_hash").and_then(|v| v.as_str()) != Some(handler.hash.as_str()) {
                    entry.insert("trusted_hash", toml_edit::value(handler.hash));
                }
            }
        }
    }
    Ok(file)
}

/// config.toml without the trust of our handlers in `before` (hooks.json
/// before uninstall), and with the trust of everyone else's moved to where
/// their handler is in `after`: removing ours shifts the positions in the
/// keys. `None` when there is nothing to change.
fn forget_trust(home: &Path, before: &Value, after: &Value) -> Result<Option<TomlFile>, String> {
    let path = config_toml(home);
    if !path.exists() {
        return Ok(None);
    }
    let mut file = TomlFile::load(&path)?;
    let source = trust_source(home);
    let (old, new) = (handlers(before, &source), handlers(after, &source));
    let Some(state) = toml_file::table_at_mut(&mut file.doc, STATE) else { return Ok(None) };
    let mut moved = Vec::new();
    for (from, to) in moves(&old, &new) {
        if let Some(entry) = state.remove(from) {
            moved.push((to, entry));
        }
    }
    for handler in old.iter().filter(|h| h.ours) {
        state.remove(&handler.key);
    }
    for (to, entry) in moved {
        state.insert(to, entry);
    }
    toml_file::prune_empty(&mut file.doc, STATE);
    Ok((!file.unchanged()).then_some(file))
}

/// Where each handler that is not ours goes when ours are removed: the
/// others keep their order within an event.
fn moves<'a>(old: &'a [Handler], new: &'a [Handler]) -> Vec<(&'a str, &'a str)> {
    let others = |list: &'a [Handler]| {
        let mut by_event: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for h in list.iter().filter(|h| !h.ours) {
            by_event.entry(&h.event).or_default().push(&h.key);
        }
        by_event
    };
    let after = others(new);
    others(old)
        .into_iter()
        .flat_map(|(event, keys)| keys.into_iter().zip(after.get(event).cloned().unwrap_or_default()))
        .filter(|(from, to)| from != to)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIN: &str = "/tmp/kaizen-e2e-bin/kaizen-hook";

    fn hooks_json(events: &[(&str, Value)]) -> Value {
        let mut hooks = Map::new();
        for (event, groups) in events {
            hooks.insert(event.to_string(), groups.clone());
        }
        json!({ "hooks": hooks })
    }

    #[test]
    fn the_hash_is_the_one_codex_computes() {
        // Codex 0.171 trusted this handler with this hash (the e2e suite's capture).
        let handler = json!({"type": "command", "command": format!("{BIN} tool-use --agent codex"), "timeout": 5});
        assert_eq!(
            trusted_hash("PreToolUse", "pre_tool_use", &json!({}), &handler),
            "sha256:b0dc943a7cf262567809d02db92e572bd25a0ea0d4958e111e00d79e7b6474db"
        );
    }

    #[test]
    fn the_hash_normalizes_as_codex_does() {
        // Expected values from e2e/agents/codex.py's `codex_hook_hash`, the reference.
        let end = json!({"type": "command", "command": "/h/kaizen-hook session-end --agent codex", "timeout": 5});
        assert_eq!(
            trusted_hash("SessionEnd", "session_end", &json!({"matcher": "x"}), &end),
            "sha256:0b43d2ac63adbc3c1502223d614b83a64d81f4cedf10e59a930095e018f4bf97",
            "clamped to 3 s; the matcher counts"
        );
        let stop = json!({"type": "command", "command": "/h/kaizen-hook stop --agent codex"});
        assert_eq!(
            trusted_hash("Stop", "stop", &json!({"matcher": "x"}), &stop),
            "sha256:d4121fb2a48fdfb256884fb5f1d762d649f66d18e7df02c127529e4f8f3af0e4",
            "default 600 s; Stop's matcher ignored"
        );
        let odd = json!({"type": "command", "command": "'/Users/J Dœ/kaizen-hook' tool-use", "timeout": 0,
                         "async": true, "statusMessage": "kaizen…"});
        assert_eq!(
            trusted_hash("PreToolUse", "pre_tool_use", &json!({"matcher": "Bash"}), &odd),
            "sha256:683a0c0c055a4732cf7c271c6281eb1e2862d538d071d54547c53fb5ebfa4418",
            "at least 1 s; async, statusMessage and UTF-8 as written"
        );
        let bare = json!({"type": "command", "command": "x"});
        assert_eq!(
            trusted_hash("Interrupt", "interrupt", &json!({}), &bare),
            "sha256:62ff3f22d466214a78ee1c476871d1929af10e332f3b32e22b856433017c72fe",
            "Interrupt defaults to 1 s"
        );
    }

    #[test]
    fn keys_name_the_file_the_event_label_and_the_positions() {
        let hooks = hooks_json(&[
            (
                "Stop",
                json!([{"hooks": [{"type": "command", "command": "other"},
                                       {"type": "command", "command": format!("{BIN} stop")}]}]),
            ),
            ("StopFailure", json!([{"hooks": [{"type": "command", "command": format!("{BIN} stop")}]}])),
        ]);
        let found: Vec<(String, bool)> =
            handlers(&hooks, "/h/hooks.json").into_iter().map(|h| (h.key, h.ours)).collect();
        assert_eq!(
            found,
            [("/h/hooks.json:stop:0:0".to_string(), false), ("/h/hooks.json:stop:0:1".to_string(), true)],
            "events Codex does not know have no trust"
        );
    }

    #[test]
    fn removing_ours_moves_the_others_down() {
        let ours = |cmd: &str| json!({"type": "command", "command": format!("{BIN} {cmd}")});
        let theirs = |cmd: &str| json!({"type": "command", "command": cmd});
        let before = hooks_json(&[
            ("Stop", json!([{"hooks": [ours("stop"), theirs("a")]}, {"hooks": [theirs("b")]}])),
            ("PreToolUse", json!([{"hooks": [theirs("c"), ours("tool-use")]}])),
        ]);
        let after = hooks_json(&[
            ("Stop", json!([{"hooks": [theirs("a")]}, {"hooks": [theirs("b")]}])),
            ("PreToolUse", json!([{"hooks": [theirs("c")]}])),
        ]);
        let (old, new) = (handlers(&before, "/h"), handlers(&after, "/h"));
        assert_eq!(moves(&old, &new), [("/h:stop:0:1", "/h:stop:0:0")]);
        let emptied = hooks_json(&[("Stop", json!([{"hooks": [theirs("b")]}]))]);
        let group_gone = hooks_json(&[("Stop", json!([{"hooks": [ours("stop")]}, {"hooks": [theirs("b")]}]))]);
        let (old, new) = (handlers(&group_gone, "/h"), handlers(&emptied, "/h"));
        assert_eq!(moves(&old, &new), [("/h:stop:1:0", "/h:stop:0:0")], "a group emptied by uninstall goes");
    }

    #[test]
    fn standing_reads_trust_state() {
        let hooks =
            hooks_json(&[("Stop", json!([{"hooks": [{"type": "command", "command": format!("{BIN} stop")}]}]))]);
        let handler = handlers(&hooks, "/h").remove(0);
        let doc = |text: String| text.parse::<toml_edit::DocumentMut>().unwrap();
        let table = |body: &str| doc(format!("[hooks.state.\"/h:stop:0:0\"]\n{body}\n"));
        assert_eq!(standing(&doc(String::new()), &handler), Some(Standing::Untrusted));
        assert_eq!(standing(&table(&format!("trusted_hash = \"{}\"", handler.hash)), &handler), None);
        assert_eq!(standing(&table("trusted_hash = \"sha256:old\""), &handler), Some(Standing::Changed));
        let off = format!("trusted_hash = \"{}\"\nenabled = false", handler.hash);
        assert_eq!(standing(&table(&off), &handler), Some(Standing::Disabled));
    }
}

// The rollout (SPEC §11): tokens, model and cost per model response, and the
// calls that failed with no hook saying so.

use crate::cost::Tokens;
use crate::transcript::{Context, Failure, Reader, Response, count};

/// Lines worth parsing: usage records, the model and version they run under,
/// and the outcomes of calls that failed (a denied call gets only its
/// PreToolUse; an interrupted one too).
const NEEDLES: &[&[u8]] = &[
    b"\"token_usage_record\"",
    b"\"turn_context\"",
    b"\"session_meta\"",
    b"\"status\":\"failed\"",
    b"\"status\":\"declined\"",
    b"Rejected(",
    b"exec_command failed",
    b"aborted by user",
];

/// One `token_usage_record` line is one model response, keyed by its
/// `response_id`. Nothing else counts: `event_msg`/`token_count` repeats
/// running totals (reset after compaction), and a `compacted` line re-contains
/// old history and the latest record. Its `input_tokens` includes the cached
/// and cache-written tokens, its `output_tokens` the reasoning. The model is
/// the one of the turn's `turn_context`, the version `session_meta`'s.
fn response(line: &Value, ctx: &mut Context) -> Option<Response> {
    let payload = line.get("payload")?;
    let text = |key: &str| payload.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    match line.get("type")?.as_str()? {
        "session_meta" => {
            ctx.version = text("cli_version").or(ctx.version.take());
            return None;
        }
        "turn_context" => {
            ctx.model = text("model").or(ctx.model.take());
            return None;
        }
        "token_usage_record" => {}
        _ => return None,
    }
    let usage = payload.get("usage").filter(|u| u.is_object())?;
    let (cached, written) = (count(usage, "cached_input_tokens"), count(usage, "cache_write_input_tokens"));
    Some(Response {
        key: text("response_id")?,
        model: ctx.model.clone(),
        tokens: Tokens {
            input: count(usage, "input_tokens").saturating_sub(cached + written),
            output: count(usage, "output_tokens"),
            cache_read: cached,
            cache_write: written,
            cache_write_1h: 0,
        },
        reasoning: count(usage, "reasoning_output_tokens"),
        ts_ms: line.get("timestamp").and_then(crate::time::parse_timestamp),
        // The user's turn: a subagent's or the reviewer's responses belong to
        // the turn that started them.
        turn: text("root_turn_id").or_else(|| text("turn_id")),
        ..Response::default()
    })
}

/// A call that failed: its `item_completed` (status failed or declined, or
/// a non-zero exit code; an interrupted command's too), or a tool output
/// that says it was rejected (execpolicy, the reviewer) or aborted.
fn failure(line: &Value) -> Option<Failure> {
    let payload = line.get("payload")?;
    match (line.get("type")?.as_str()?, payload.get("type")?.as_str()?) {
        ("event_msg", "item_completed") => {
            let item = payload.get("item")?;
            let code = item.get("exit_code").and_then(Value::as_i64).filter(|c| *c != 0);
            let status = item.get("status").and_then(Value::as_str).filter(|s| matches!(*s, "failed" | "declined"));
            let why = code.map(|c| format!("exit code {c}")).or(status.map(String::from))?;
            Some(Failure { call_id: item.get("id")?.as_str()?.to_string(), why })
        }
        ("response_item", "function_call_output" | "custom_tool_call_output") => {
            let output = output_text(payload.get("output")?)?;
            let first = output.lines().next().unwrap_or_default();
            let failed = first.starts_with("exec_command failed")
                || first.contains("Rejected(")
                || output.trim_end().ends_with("aborted by user");
            let call_id = payload.get("call_id")?.as_str()?.to_string();
            failed.then_some(Failure { call_id, why: output })
        }
        _ => None,
    }
}

/// A tool output as text: a string, or content items with `text`.
fn output_text(output: &Value) -> Option<String> {
    match output {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            Some(items.iter().filter_map(|i| i.get("text")?.as_str()).collect::<Vec<_>>().join("\n"))
        }
        _ => None,
    }
}

/// The session's rollout, the subagent's that just stopped, and the other
/// threads of the session found beside them.
fn transcripts(p: &Payload) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["transcript_path", "agent_transcript_path"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .map(PathBuf::from)
        .collect();
    if let (Some(main), Some(session)) = (paths.first().cloned(), p.get("session_id").and_then(Value::as_str)) {
        for path in threads_of(&main, session) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// The most rollouts whose first line is looked at per turn end.
const MAX_NEIGHBOURS: usize = 256;

/// Every thread of a session has its own rollout whose `session_meta` names
/// the session: the subagents (SubagentStop names those too) and the
/// automatic reviewer of `--approve-for-me`, which no hook names. They are
/// looked for where Codex writes them, `sessions/YYYY/MM/DD/`: in the day
/// directory of the session's rollout (those started after it) and in the
/// newest day directory (a session resumed or running past midnight), at
/// most `MAX_NEIGHBOURS` of the newest, reading only the head of each.
fn threads_of(main: &Path, session: &str) -> Vec<PathBuf> {
    let (Some(day), Some(name)) = (main.parent(), main.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    if !name.starts_with("rollout-") {
        return Vec::new();
    }
    let mut candidates: Vec<PathBuf> =
        rollouts_in(day).into_iter().filter(|p| p.file_name() > main.file_name()).collect();
    if let Some(newest) = newest_day(day).filter(|d| d != day) {
        candidates.extend(rollouts_in(&newest));
    }
    candidates.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let skip = candidates.len().saturating_sub(MAX_NEIGHBOURS);
    let needle = format!("\"session_id\":{}", Value::from(session));
    candidates
        .into_iter()
        .skip(skip)
        .filter(|path| {
            let head = fsutil::read_agent_file(path, End::Head, 1024).unwrap_or_default();
            let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
            memmem::find(first, b"\"type\":\"session_meta\"").is_some()
                && memmem::find(first, needle.as_bytes()).is_some()
        })
        .collect()
}

fn rollouts_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        })
        .collect()
}

/// `sessions/YYYY/MM/DD` with the largest numbers, from one day directory of it.
fn newest_day(day: &Path) -> Option<PathBuf> {
    let sessions = day.parent()?.parent()?.parent()?;
    let newest = |dir: &Path| {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
            .max_by_key(|e| e.file_name())
            .map(|e| e.path())
    };
    newest(&newest(&newest(sessions)?)?)
}

#[cfg(test)]
mod transcript_tests {
    use super::*;

    /// Values of every JSON type, nested where the parser looks.
    fn odd_values() -> Vec<Value> {
        let leaves =
            [json!(null), json!(true), json!(-1), json!(1e300), json!("x"), json!([]), json!({}), json!([1, "a"])];
        let mut out = leaves.to_vec();
        for leaf in &leaves {
            for kind in
                ["token_usage_record", "turn_context", "session_meta", "event_msg", "response_item", "compacted"]
            {
                out.push(json!({"type": kind, "payload": leaf}));
                out.push(json!({"type": kind, "payload": {"usage": leaf, "response_id": leaf, "model": leaf,
                    "cli_version": leaf, "type": leaf, "item": leaf, "output": leaf, "call_id": leaf}}));
                out.push(json!({"type": kind, "payload": {"type": "item_completed", "item": {"id": leaf, "status": leaf, "exit_code": leaf}}}));
                out.push(json!({"type": kind, "payload": {"type": "function_call_output", "call_id": leaf, "output": [leaf]}}));
            }
        }
        out
    }

    #[test]
    fn no_json_makes_the_parser_panic() {
        let mut ctx = Context::default();
        for value in odd_values() {
            let _ = response(&value, &mut ctx);
            let _ = failure(&value);
        }
    }

    #[test]
    fn the_record_names_the_model_of_its_turn_and_splits_the_input() {
        let mut ctx = Context::default();
        assert_eq!(response(&json!({"type": "turn_context", "payload": {"model": "gpt-5.5"}}), &mut ctx), None);
        let line = json!({"type": "token_usage_record", "payload": {"response_id": "r", "turn_id": "t",
            "usage": {"input_tokens": 3403, "cached_input_tokens": 2001, "cache_write_input_tokens": 301,
                      "output_tokens": 31, "reasoning_output_tokens": 11}}});
        let r = response(&line, &mut ctx).unwrap();
        let t = &r.tokens;
        assert_eq!((t.input, t.cache_read, t.cache_write, t.output, r.reasoning), (1101, 2001, 301, 31, 11));
        assert_eq!((r.model.as_deref(), r.turn.as_deref()), (Some("gpt-5.5"), Some("t")));
    }

    #[test]
    fn only_rollouts_laid_out_as_codex_does_have_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rollout-b.jsonl"),
            "{\"type\":\"session_meta\",\"payload\":{\"session_id\":\"s\"}}\n",
        )
        .unwrap();
        assert_eq!(threads_of(&dir.path().join("other.jsonl"), "s"), Vec::<PathBuf>::new());
        assert_eq!(threads_of(&dir.path().join("rollout-a.jsonl"), "s"), [dir.path().join("rollout-b.jsonl")]);
        assert_eq!(threads_of(Path::new("/"), "s"), Vec::<PathBuf>::new());
    }
}
