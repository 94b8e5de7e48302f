//! What stops registered hooks from running (the agent's own switches, Codex's
//! trust), what `install` and `doctor` say about it, `install --trust`, and
//! registrations that never fired.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

/// The binary the e2e suite registers, whose Codex trust hash is known.
const E2E_BIN: &str = "/tmp/kaizen-e2e-bin/kaizen-hook";
const E2E_PRE_TOOL_USE_HASH: &str = "sha256:b0dc943a7cf262567809d02db92e572bd25a0ea0d4958e111e00d79e7b6474db";
const TRUST_FIX: &str = "kaizen-hook install --agent codex --trust";

fn kaizen(env: &Env, args: &[&str]) -> Output {
    let mut cmd = env.command(args);
    cmd.env_remove("CODEX_HOME").env_remove("CLAUDE_CONFIG_DIR");
    env.run_with(cmd, b"")
}

fn install(env: &Env, agent: &str, extra: &[&str]) -> String {
    let mut args = vec!["install", "--agent", agent, "--binary", BIN];
    args.extend(extra);
    let out = kaizen(env, &args);
    let text = printed(&out);
    assert!(out.status.success(), "{text}");
    text
}

fn printed(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// doctor's output, asserting its exit status.
fn doctor(env: &Env, ok: bool) -> String {
    let out = kaizen(env, &["doctor"]);
    let text = printed(&out);
    assert_eq!(out.status.success(), ok, "{text}");
    text
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value = json_of(path);
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

fn fire(env: &Env, agent: &str) {
    let event = if agent == "cursor" { "sessionStart" } else { "SessionStart" };
    env.hook(&["session-start", "--agent", agent], &env.fixture(agent, event));
}

#[test]
fn claude_disable_all_hooks_is_a_problem_with_its_fix() {
    let env = Env::new();
    let settings = env.user_home.join(".claude/settings.json");
    write(&settings, "{\n  \"disableAllHooks\": true\n}\n");
    let said = install(&env, "claude", &[]);
    assert!(said.contains("claude: warning: \"disableAllHooks\": true") && said.contains("remove it"), "{said}");
    fire(&env, "claude");
    let text = doctor(&env, false);
    assert!(text.contains("PROBLEM  \"disableAllHooks\": true in") && text.contains("remove it"), "{text}");

    edit_json(&settings, |s| s["disableAllHooks"] = json!(false));
    let text = doctor(&env, true);
    assert!(!text.contains("disableAllHooks") && text.contains("all good"), "{text}");
}

#[test]
fn gemini_hooks_off_or_ours_disabled_is_a_problem_with_its_fix() {
    let env = Env::new();
    let settings = env.user_home.join(".gemini/settings.json");
    write(&settings, r#"{"hooksConfig": {"enabled": false, "disabled": ["/usr/local/bin/guard"]}}"#);
    let said = install(&env, "gemini", &[]);
    assert!(said.contains("gemini: warning: \"hooksConfig\": {\"enabled\": false}"), "{said}");
    assert!(said.contains("folders it trusts"), "the folder trust note: {said}");
    fire(&env, "gemini");
    let text = doctor(&env, false);
    assert!(
        text.contains("PROBLEM  \"hooksConfig\": {\"enabled\": false}") && text.contains("set it to true"),
        "{text}"
    );
    assert!(!text.contains("\"disabled\""), "another program's hook is disabled, not ours: {text}");
    assert!(text.contains("-        Gemini CLI runs hooks only in folders it trusts"), "a note, not a problem: {text}");

    // A hook is named by its exact command when it has no name.
    let ours = json_of(&settings)["hooks"]["AfterTool"][0]["hooks"][0]["command"].clone();
    edit_json(&settings, |s| s["hooksConfig"] = json!({"enabled": true, "disabled": [ours]}));
    let text = doctor(&env, false);
    // BeforeTool and AfterTool run the same command.
    assert!(
        text.contains("names kaizen-hook's hooks for 2 event(s) (BeforeTool, AfterTool)")
            && text.contains("remove them"),
        "{text}"
    );

    edit_json(&settings, |s| s["hooksConfig"] = json!({"enabled": true, "disabled": []}));
    doctor(&env, true);
}

fn codex_paths(env: &Env) -> (PathBuf, PathBuf) {
    let dir = env.user_home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    (dir.join("hooks.json"), dir.join("config.toml"))
}

/// `[hooks.state]` of config.toml, as key → (trusted_hash, enabled).
fn trust_state(config: &Path) -> Vec<(String, String)> {
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(config).unwrap_or_default().parse().unwrap();
    let Some(state) = doc.get("hooks").and_then(|h| h.get("state")).and_then(|s| s.as_table_like()) else {
        return Vec::new();
    };
    state.iter().map(|(k, v)| (k.to_string(), v["trusted_hash"].as_str().unwrap_or("").to_string())).collect()
}

const CODEX_CONFIG: &str = "# my Codex\nmodel = \"o4\"   # keep this comment\n\n[features]\nplugins = false\n";

#[test]
fn codex_untrusted_hooks_are_a_problem_until_install_trusts_them() {
    let env = Env::new();
    let (hooks, config) = codex_paths(&env);
    write(&config, CODEX_CONFIG);
    let said = install(&env, "codex", &[]);
    assert!(said.contains("are not trusted, and Codex skips them silently") && said.contains(TRUST_FIX), "{said}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CODEX_CONFIG, "trust only when asked");
    let text = doctor(&env, false);
    assert!(text.contains("PROBLEM  kaizen-hook's Codex hooks (all 12 events) are not trusted"), "{text}");
    assert!(text.contains(TRUST_FIX) && text.contains("/hooks"), "{text}");

    let said = install(&env, "codex", &["--trust"]);
    assert!(said.contains("codex: trusted kaizen-hook's hooks in") && !said.contains("warning"), "{said}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(CODEX_CONFIG), "the user's config, comments and all, comes first: {written}");
    assert_eq!(trust_state(&config).len(), 12);
    let source = hooks.display().to_string();
    assert!(trust_state(&config).iter().all(|(k, h)| k.starts_with(&format!("{source}:")) && h.starts_with("sha256:")));
    fire(&env, "codex");
    let text = doctor(&env, true);
    assert!(!text.contains("trust"), "{text}");

    let again = install(&env, "codex", &["--trust"]);
    assert!(again.contains("already trusted") && again.contains("(unchanged)"), "{again}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written, "a second run changes nothing");
}

#[test]
fn install_trust_writes_the_hash_codex_expects() {
    let env = Env::new();
    let (hooks, config) = codex_paths(&env);
    let out = kaizen(&env, &["install", "--agent", "codex", "--binary", E2E_BIN, "--trust"]);
    assert!(out.status.success(), "{}", printed(&out));
    let pre = &json_of(&hooks)["hooks"]["PreToolUse"][0]["hooks"][0];
    assert_eq!(
        (pre["command"].as_str(), pre["timeout"].as_u64()),
        (Some(&*format!("{E2E_BIN} tool-use --agent codex")), Some(5))
    );
    let key = format!("{}:pre_tool_use:0:0", hooks.display());
    let state = trust_state(&config);
    assert_eq!(
        state.iter().find(|(k, _)| *k == key).map(|(_, h)| h.as_str()),
        Some(E2E_PRE_TOOL_USE_HASH),
        "{state:?}"
    );
}

/// Sets a line in the `[hooks.state."<key>"]` table of config.toml.
fn set_state(config: &Path, key: &str, line: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    let at = text.find(&format!("[hooks.state.\"{key}\"]")).unwrap();
    let end = at + text[at..].find('\n').unwrap() + 1;
    let (name, _) = line.split_once(" = ").unwrap();
    let table_end = text[end..].find("\n[").map_or(text.len(), |i| end + i + 1);
    let kept: String =
        text[end..table_end].lines().filter(|l| !l.starts_with(name)).map(|l| format!("{l}\n")).collect();
    text.replace_range(end..table_end, &format!("{line}\n{kept}"));
    std::fs::write(config, text).unwrap();
}

#[test]
fn codex_changed_or_turned_off_hooks_are_problems() {
    let env = Env::new();
    let (hooks, config) = codex_paths(&env);
    install(&env, "codex", &["--trust"]);
    fire(&env, "codex");
    doctor(&env, true);

    // Trusted as something else: what /hooks trusted is not what is there now.
    let stop = format!("{}:stop:0:0", hooks.display());
    set_state(&config, &stop, "trusted_hash = \"sha256:0000\"");
    let said = install(&env, "codex", &[]);
    assert!(
        said.contains("for 1 of 12 events (Stop) changed since Codex trusted them") && said.contains(TRUST_FIX),
        "{said}"
    );
    assert!(doctor(&env, false).contains("(Stop) changed since Codex trusted them"));
    install(&env, "codex", &["--trust"]);
    doctor(&env, true);

    // A handler edited by hand: its hash is not the trusted one any more.
    edit_json(&hooks, |h| h["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"] = json!(7));
    assert!(doctor(&env, false).contains("for 1 of 12 events (PreToolUse) changed since Codex trusted them"));
    install(&env, "codex", &[]);
    doctor(&env, true);

    set_state(&config, &stop, "enabled = false");
    let text = doctor(&env, false);
    assert!(
        text.contains("for 1 of 12 events (Stop) are turned off in Codex") && text.contains("enabled = false"),
        "{text}"
    );
    install(&env, "codex", &["--trust"]);
    assert!(doctor(&env, false).contains("turned off"), "the user's choice stays theirs");
}

#[test]
fn codex_trust_under_codex_home_names_the_canonical_path() {
    let env = Env::new();
    let real = env.tmp.path().join("codex-home");
    std::fs::create_dir_all(&real).unwrap();
    let link = env.tmp.path().join("codex-link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut cmd = env.command(&["install", "--agent", "codex", "--binary", BIN, "--trust"]);
    cmd.env("CODEX_HOME", &link);
    assert!(env.run_with(cmd, b"").status.success());
    let state = trust_state(&real.join("config.toml"));
    let canonical = std::fs::canonicalize(&real).unwrap().join("hooks.json");
    assert!(
        state.len() == 12 && state.iter().all(|(k, _)| k.starts_with(&format!("{}:", canonical.display()))),
        "{state:?}"
    );
}

#[test]
fn uninstall_removes_only_our_trust_and_keeps_the_others_valid() {
    let env = Env::new();
    let (hooks, config) = codex_paths(&env);
    write(&config, CODEX_CONFIG);
    install(&env, "codex", &["--trust"]);
    // Another hook beside ours, after it in the same group, trusted by the user.
    edit_json(&hooks, |h| {
        h["hooks"]["Stop"][0]["hooks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "command", "command": "notify-send done"}))
    });
    let source = hooks.display();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[hooks.state.\"{source}:stop:0:1\"]\ntrusted_hash = \"sha256:theirs\"\n"));
    std::fs::write(&config, text).unwrap();

    let out = kaizen(&env, &["uninstall", "--agent", "codex"]);
    assert!(out.status.success() && printed(&out).contains("removed their trust"), "{}", printed(&out));
    assert_eq!(
        trust_state(&config),
        [(format!("{source}:stop:0:0"), "sha256:theirs".to_string())],
        "ours gone; theirs moved with their handler, now first in its group"
    );
    assert!(std::fs::read_to_string(&config).unwrap().starts_with(CODEX_CONFIG));
}

#[test]
fn uninstall_gives_back_the_config_install_trust_found() {
    let env = Env::new();
    let (_, config) = codex_paths(&env);
    install(&env, "codex", &["--trust"]);
    assert!(config.exists());
    assert!(kaizen(&env, &["uninstall", "--agent", "codex"]).status.success());
    assert!(!config.exists(), "install --trust created it; uninstall removes it");

    write(&config, CODEX_CONFIG);
    install(&env, "codex", &["--trust"]);
    assert!(kaizen(&env, &["uninstall"]).status.success());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CODEX_CONFIG, "byte for byte");
}

#[test]
fn a_codex_config_that_is_not_toml_is_left_alone() {
    let env = Env::new();
    let (_, config) = codex_paths(&env);
    write(&config, "model = \n");
    let out = kaizen(&env, &["install", "--agent", "codex", "--binary", BIN, "--trust"]);
    assert!(!out.status.success() && printed(&out).contains("not valid TOML"), "{}", printed(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "model = \n");
    assert!(doctor(&env, false).contains("not valid TOML"));
}

fn age(path: &Path, days: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400)).unwrap();
}

#[test]
fn a_registration_that_never_fired_is_a_warning_then_a_problem() {
    let env = Env::new();
    let cursor = env.user_home.join(".cursor/hooks.json");
    install(&env, "claude", &[]);
    install(&env, "cursor", &[]);
    let text = doctor(&env, true);
    assert!(
        text.contains("warning  no Claude Code session recorded yet") && text.contains("all good (2 warning(s) above)"),
        "{text}"
    );

    fire(&env, "claude");
    let text = doctor(&env, true);
    assert!(text.contains("recording: a session was last recorded 0s ago"), "{text}");
    assert!(text.contains("warning  no Cursor session recorded yet: start one"), "just registered: {text}");

    age(&cursor, 3);
    let text = doctor(&env, false);
    assert!(
        text.contains("PROBLEM  no Cursor session recorded yet, though kaizen-hook has been registered for 3d"),
        "{text}"
    );
    assert!(text.contains("kaizen-hook uninstall --agent cursor"), "{text}");

    fire(&env, "cursor");
    doctor(&env, true);
}

#[test]
fn an_old_registration_with_no_other_agent_recording_is_only_a_warning() {
    let env = Env::new();
    install(&env, "claude", &[]);
    age(&env.user_home.join(".claude/settings.json"), 30);
    let text = doctor(&env, true);
    assert!(text.contains("warning  no Claude Code session recorded yet"), "nothing proves it broken: {text}");
}
