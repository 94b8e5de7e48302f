//! Trust. Codex 0.171 runs a hook of hooks.json only when `config.toml` has
//! `[hooks.state."<hooks.json>:<event label>:<group>:<handler>"]` with
//! `trusted_hash` equal to the hash of the handler's normalized identity, and
//! skips it silently otherwise; `enabled = false` there turns it off.

use super::config_dir;
use crate::agents::{Trust, env_dir};
use crate::install::config_file::ConfigFile;
use crate::install::is_ours;
use crate::install::toml_file::{self, TomlFile};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
pub(super) fn config_problems(home: &Path) -> Vec<String> {
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
