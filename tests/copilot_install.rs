//! install / uninstall / doctor for Copilot CLI on a temporary HOME: our own
//! `~/.copilot/hooks/kaizen-hook.json` beside the user's hook files, and a
//! session captured from the real CLI replayed through the commands it registers.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A hook file of the user's own, which Copilot reads beside ours.
const MINE: &str = r#"{
  "version": 1,
  "hooks": {
    "preToolUse": [
      {
        "type": "command",
        "bash": "./scripts/guard.sh",
        "timeoutSec": 30
      }
    ]
  }
}
"#;

/// Every event the installer registers, with the subcommand it runs.
const REGISTERED: &[(&str, &str)] = &[
    ("sessionStart", "session-start"),
    ("sessionEnd", "session-end"),
    ("userPromptSubmitted", "prompt"),
    ("userPromptTransformed", "event"),
    ("preToolUse", "tool-use"),
    ("postToolUse", "tool-use"),
    ("postToolUseFailure", "tool-use"),
    ("agentStop", "stop"),
    ("subagentStart", "subagent"),
    ("subagentStop", "subagent"),
    ("permissionRequest", "event"),
    ("errorOccurred", "event"),
    ("preCompact", "event"),
];

struct Copilot {
    env: Env,
    hooks: PathBuf,
    ours: PathBuf,
    mine: PathBuf,
}

/// A HOME where Copilot CLI is installed, with a hook file of the user's own.
fn seeded() -> Copilot {
    let env = Env::new();
    let hooks = env.user_home.join(".copilot/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let mine = hooks.join("mine.json");
    std::fs::write(&mine, MINE).unwrap();
    Copilot { ours: hooks.join("kaizen-hook.json"), mine, hooks, env }
}

fn kaizen(env: &Env, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    if args[0] == "install" {
        all.extend(["--binary", BIN]);
    }
    let mut cmd = env.command(&all);
    cmd.env_remove("COPILOT_HOME");
    env.run_with(cmd, b"")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `*.json` files in the hooks directory: what Copilot reads.
fn hook_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn install_writes_our_own_hook_file_and_twice_changes_nothing() {
    let c = seeded();
    let out = kaizen(&c.env, &["install"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("copilot: registered 13 events"), "found by ~/.copilot: {}", stdout(&out));
    let written = json_of(&c.ours);
    assert_eq!(written["version"], 1);
    let hooks = written["hooks"].as_object().unwrap();
    let events: Vec<&str> = hooks.keys().map(String::as_str).collect();
    assert_eq!(events, REGISTERED.iter().map(|(e, _)| *e).collect::<Vec<_>>(), "camelCase, in the table's order");
    for (event, subcommand) in REGISTERED {
        let command = format!("{BIN} {subcommand} --agent copilot --event {event}");
        assert_eq!(hooks[*event], json!([{"type": "command", "bash": command, "timeoutSec": 5}]), "{event}");
    }
    assert_eq!(std::fs::read_to_string(&c.mine).unwrap(), MINE, "the user's hook file is not touched");
    assert_eq!(std::fs::metadata(&c.ours).unwrap().permissions().mode() & 0o777, 0o600, "private");
    assert_eq!(hook_files(&c.hooks), ["kaizen-hook.json", "mine.json"], "no backup of a file that did not exist");

    let bytes = std::fs::read(&c.ours).unwrap();
    let again = kaizen(&c.env, &["install", "--agent", "copilot"]);
    assert!(again.status.success() && stdout(&again).contains("unchanged"), "{}", stdout(&again));
    assert_eq!(std::fs::read(&c.ours).unwrap(), bytes, "install twice: byte-identical");
}

#[test]
fn a_new_binary_updates_our_entries_in_place_and_its_backup_is_no_hook_file() {
    let c = seeded();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let moved = c.env.tmp.path().join("new/kaizen-hook");
    let mut cmd = c.env.command(&["install", "--agent", "copilot", "--binary", moved.to_str().unwrap()]);
    cmd.env_remove("COPILOT_HOME");
    assert!(c.env.run_with(cmd, b"").status.success());
    let written = json_of(&c.ours);
    for (event, _) in REGISTERED {
        let entries = written["hooks"][*event].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{event}: updated, not added");
        assert!(entries[0]["bash"].as_str().unwrap().starts_with(moved.to_str().unwrap()), "{event}");
    }
    // Copilot runs every *.json in the directory: the old version must not be one.
    assert_eq!(hook_files(&c.hooks), ["kaizen-hook.json", "mine.json"]);
    assert!(c.hooks.join("kaizen-hook.json.kaizen.bak").exists());
}

#[test]
fn uninstall_removes_the_file_install_created_and_nothing_else() {
    let c = seeded();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let out = kaizen(&c.env, &["uninstall", "--agent", "copilot"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("removed 13 entries") && stdout(&out).contains("which install had created"));
    assert!(!c.ours.exists());
    assert_eq!(hook_files(&c.hooks), ["mine.json"]);
    assert_eq!(std::fs::read_to_string(&c.mine).unwrap(), MINE);
    assert!(stdout(&kaizen(&c.env, &["uninstall", "--agent", "copilot"])).contains("nothing to remove"));
}

#[test]
fn uninstall_keeps_what_the_user_added_to_our_file() {
    let c = seeded();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let mut edited = json_of(&c.ours);
    edited["hooks"]["preToolUse"].as_array_mut().unwrap().push(json!({"type": "command", "bash": "./audit.sh"}));
    edited["hooks"]["notification"] = json!([{"type": "command", "bash": "notify-send copilot"}]);
    std::fs::write(&c.ours, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    assert!(kaizen(&c.env, &["uninstall", "--agent", "copilot"]).status.success());
    assert_eq!(
        json_of(&c.ours),
        json!({"version": 1, "hooks": {
            "preToolUse": [{"type": "command", "bash": "./audit.sh"}],
            "notification": [{"type": "command", "bash": "notify-send copilot"}]
        }})
    );
}

#[test]
fn odd_hook_files_are_refused_and_left_untouched() {
    let cases = [
        "{\n  // a comment\n  \"version\": 1\n}\n",
        "",
        "[1]",
        "{\"version\": 1, \"hooks\": []}",
        "{\"version\": 1, \"hooks\": {\"preToolUse\": {\"bash\": \"x\"}}}",
    ];
    for case in cases {
        let c = seeded();
        std::fs::write(&c.ours, case).unwrap();
        let out = kaizen(&c.env, &["install", "--agent", "copilot"]);
        assert!(!out.status.success() && stdout(&out).contains("NOT registered"), "{case:?} accepted");
        assert_eq!(std::fs::read_to_string(&c.ours).unwrap(), case, "byte-for-byte untouched");
        assert_eq!(hook_files(&c.hooks), ["kaizen-hook.json", "mine.json"]);
    }
}

#[test]
fn odd_but_valid_shapes_are_completed() {
    let c = seeded();
    let hand_written = json!({"hooks": {
        "sessionStart": null,
        "preToolUse": ["not an entry", {"type": "command", "command": "/old/kaizen-hook tool-use --agent copilot"}],
        "postToolUse": [{"type": "command", "bash": "/old/kaizen-hook tool-use"}, {"bash": "/old/kaizen-hook x"}]
    }});
    std::fs::write(&c.ours, hand_written.to_string()).unwrap();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let written = json_of(&c.ours);
    assert_eq!(written.as_object().unwrap().keys().next().map(String::as_str), Some("version"), "version first");
    let tool_use = |event: &str| format!("{BIN} tool-use --agent copilot --event {event}");
    assert_eq!(
        written["hooks"]["preToolUse"],
        json!(["not an entry", {"type": "command", "bash": tool_use("preToolUse"), "timeoutSec": 5}]),
        "a hand-written `command` of ours becomes our `bash`"
    );
    assert_eq!(
        written["hooks"]["postToolUse"],
        json!([{"type": "command", "bash": tool_use("postToolUse"), "timeoutSec": 5}]),
        "a duplicate of ours is dropped"
    );
    assert_eq!(written["hooks"]["sessionStart"].as_array().unwrap().len(), 1);
}

#[test]
fn copilot_home_is_where_copilot_reads_its_hooks() {
    let env = Env::new();
    let copilot_home = env.tmp.path().join("copilot-home");
    let mut cmd = env.command(&["install", "--agent", "copilot", "--binary", BIN]);
    cmd.env("COPILOT_HOME", &copilot_home);
    assert!(env.run_with(cmd, b"").status.success());
    assert!(copilot_home.join("hooks/kaizen-hook.json").is_file());
    assert!(!env.user_home.join(".copilot").exists());
}

#[test]
fn doctor_finds_the_copilot_registration() {
    let c = seeded();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let doctor = kaizen(&c.env, &["doctor"]);
    let text = stdout(&doctor);
    assert!(doctor.status.success(), "{text}");
    let section = &text[text.find("copilot (").expect("a copilot section")..];
    assert!(section.contains("registered for 13 of 13 events") && section.contains("runs this binary"), "{text}");
    assert!(kaizen(&c.env, &["uninstall", "--agent", "copilot"]).status.success());
    let after = kaizen(&c.env, &["doctor"]);
    assert!(!after.status.success());
    assert!(stdout(&after).contains("not registered for any agent"), "{}", stdout(&after));
}

/// Runs a registered command line as Copilot does: `bash -c`, payload on stdin,
/// its version in the environment.
fn run_registered(env: &Env, command: &str, payload: &Value) -> Output {
    let mut cmd = env.sandbox(std::process::Command::new("bash"));
    cmd.arg("-c").arg(command).env("COPILOT_CLI_BINARY_VERSION", "1.0.102").current_dir(&env.repo);
    env.run_with(cmd, payload.to_string().as_bytes())
}

#[test]
fn a_session_replayed_through_the_registered_commands_is_recorded() {
    let c = seeded();
    assert!(kaizen(&c.env, &["install", "--agent", "copilot"]).status.success());
    let hooks = json_of(&c.ours)["hooks"].clone();
    // (fixture, the event it was delivered as, the kind it is recorded as), in delivery order.
    let session = [
        ("sessionStart", "sessionStart", EventKind::Lifecycle),
        ("userPromptSubmitted", "userPromptSubmitted", EventKind::Message),
        ("userPromptTransformed", "userPromptTransformed", EventKind::Lifecycle),
        ("preToolUse", "preToolUse", EventKind::ToolCall),
        ("permissionRequest", "permissionRequest", EventKind::Lifecycle),
        ("postToolUse", "postToolUse", EventKind::ToolResult),
        ("postToolUse--exit2", "postToolUse", EventKind::Error),
        ("postToolUseFailure", "postToolUseFailure", EventKind::Error),
        ("subagentStart", "subagentStart", EventKind::Lifecycle),
        ("subagentStop", "subagentStop", EventKind::Lifecycle),
        ("errorOccurred", "errorOccurred", EventKind::Error),
        ("preCompact", "preCompact", EventKind::Lifecycle),
        ("agentStop", "agentStop", EventKind::Lifecycle),
        ("sessionEnd", "sessionEnd", EventKind::Lifecycle),
    ];
    let mut replayed: Vec<&str> = session.iter().map(|(_, event, _)| *event).collect();
    replayed.sort();
    replayed.dedup();
    let mut registered: Vec<&str> = hooks.as_object().unwrap().keys().map(String::as_str).collect();
    registered.sort();
    assert_eq!(replayed, registered, "every registered event is replayed");

    let id = c.env.fixture("real/copilot", "sessionStart")["sessionId"].as_str().unwrap().to_string();
    for (fixture, event, _) in &session {
        let command = hooks[event][0]["bash"].as_str().unwrap();
        let out = run_registered(&c.env, command, &c.env.fixture("real/copilot", fixture));
        assert_quiet(&out);
        assert_no_stdout(&out);
    }
    let events = c.env.events(&id);
    let kinds: Vec<(&str, EventKind)> =
        events.iter().map(|e| (e.payload["hook_event_name"].as_str().unwrap(), e.kind.clone())).collect();
    let expected: Vec<(&str, EventKind)> = session.iter().map(|(_, event, kind)| (*event, kind.clone())).collect();
    assert_eq!(kinds, expected, "each delivery once, named by --event, as its kind");
    assert!(events.iter().all(|e| e.payload["agent"] == "copilot"), "all Copilot's, none taken for Cline");
    assert_eq!(c.env.log(), "", "nothing logged");
    let record = c.env.record(&id);
    assert_eq!(record.status, SessionStatus::Done);
    assert_eq!(record.agent_version.as_deref(), Some("1.0.102"));
}
