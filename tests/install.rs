//! install / uninstall / doctor on a temporary HOME with realistic existing configuration.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const CLAUDE_SETTINGS: &str = r#"{
    "model": "opus",
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "command",
                        "command": "/usr/local/bin/guard --strict",
                        "timeout": 30
                    }
                ]
            }
        ],
        "Notification": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": "notify-send 'Claude'"
                    }
                ]
            }
        ]
    },
    "permissions": {
        "allow": [
            "Bash(cargo test:*)",
            "Read(~/.zshrc)"
        ],
        "deny": []
    },
    "env": {
        "RUST_LOG": "debug"
    },
    "statusLine": {
        "type": "command",
        "command": "~/.claude/statusline.sh"
    }
}
"#;

const CURSOR_HOOKS: &str = r#"{
  "version": 1,
  "hooks": {
    "afterFileEdit": [
      {
        "command": "./hooks/format.sh"
      }
    ]
  }
}"#;

struct Homes {
    env: Env,
    claude: PathBuf,
    cursor: PathBuf,
}

fn seeded() -> Homes {
    let env = Env::new();
    let claude = env.user_home.join(".claude/settings.json");
    let cursor = env.user_home.join(".cursor/hooks.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    std::fs::write(&claude, CLAUDE_SETTINGS).unwrap();
    std::fs::write(&cursor, CURSOR_HOOKS).unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&cursor, std::fs::Permissions::from_mode(0o640)).unwrap();
    Homes { env, claude, cursor }
}

fn kaizen(env: &Env, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    if args[0] == "install" {
        all.extend(["--binary", BIN]);
    }
    env.run_with(env.command(&all), b"")
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Our entries, nested (Claude, Codex, Gemini) or flat (Cursor), each with
/// `timeout` at most (agents that clamp an event's timeout get less).
fn our_commands_with_timeout(settings: &Value, timeout: u64) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (event, groups) in settings["hooks"].as_object().unwrap() {
        for item in groups.as_array().unwrap() {
            let handlers = item.get("hooks").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![item.clone()]);
            for handler in handlers {
                let command = handler["command"].as_str().unwrap_or_default();
                // Told from the user's own as the installer tells them: by the program run.
                if kaizen_hook::install::is_ours(command) {
                    let given = handler["timeout"].as_u64().unwrap_or(0);
                    assert!(given > 0 && given <= timeout, "{event}: a small timeout, not {given}");
                    found.push((event.clone(), command.to_string()));
                }
            }
        }
    }
    found
}

fn our_commands(settings: &Value) -> Vec<(String, String)> {
    our_commands_with_timeout(settings, 5)
}

#[test]
fn install_keeps_everything_else_and_twice_changes_nothing() {
    let h = seeded();
    let out = kaizen(&h.env, &["install"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("claude: registered 15 events") && text.contains("cursor: registered 11 events"), "{text}");

    let claude = json_of(&h.claude);
    let original: Value = serde_json::from_str(CLAUDE_SETTINGS).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&claude), keys(&original), "key order survives");
    for key in ["model", "permissions", "env", "statusLine"] {
        assert_eq!(claude[key], original[key], "{key} survives");
    }
    assert_eq!(
        claude["hooks"]["PreToolUse"][0], original["hooks"]["PreToolUse"][0],
        "the other tool's hook survives, first"
    );
    assert_eq!(claude["hooks"]["Notification"][0], original["hooks"]["Notification"][0]);
    let ours = our_commands(&claude);
    assert_eq!(ours.len(), 15);
    for (event, command) in &ours {
        assert!(command.starts_with(&format!("{BIN} ")), "absolute path: {command}");
        assert!(command.ends_with("--agent claude"), "{command}");
        assert!(!["WorktreeCreate", "MessageDisplay", "Elicitation"].contains(&event.as_str()));
    }
    let events: Vec<&str> = ours.iter().map(|(e, _)| e.as_str()).collect();
    for needed in [
        "SessionStart",
        "SessionEnd",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "Stop",
        "SubagentStart",
        "SubagentStop",
        "PreCompact",
    ] {
        assert!(events.contains(&needed), "{needed}");
    }
    let installed = std::fs::read_to_string(&h.claude).unwrap();
    assert!(installed.contains("\n    \"model\": \"opus\",\n"), "four-space indentation survives");
    assert_eq!((mode(&h.claude), mode(&h.cursor)), (0o644, 0o640), "file modes survive");
    assert_eq!(std::fs::read_to_string(h.claude.with_file_name("settings.json.kaizen.bak")).unwrap(), CLAUDE_SETTINGS);

    let cursor = json_of(&h.cursor);
    assert_eq!(cursor["version"], 1);
    assert_eq!(cursor["hooks"]["afterFileEdit"][0]["command"], "./hooks/format.sh");
    let cursor_events: Vec<String> = our_commands(&cursor).into_iter().map(|(e, _)| e).collect();
    assert!(!cursor_events.contains(&"beforeShellExecution".to_string()), "no shell double records");
    assert!(cursor_events.contains(&"postToolUse".to_string()) && cursor_events.contains(&"stop".to_string()));

    let (claude_bytes, cursor_bytes) = (std::fs::read(&h.claude).unwrap(), std::fs::read(&h.cursor).unwrap());
    let again = kaizen(&h.env, &["install"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    assert_eq!(std::fs::read(&h.claude).unwrap(), claude_bytes, "install twice: byte-identical");
    assert_eq!(std::fs::read(&h.cursor).unwrap(), cursor_bytes);
}

#[test]
fn uninstall_gives_back_the_original_bytes() {
    let h = seeded();
    assert!(kaizen(&h.env, &["install"]).status.success());
    let out = kaizen(&h.env, &["uninstall"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::read_to_string(&h.claude).unwrap(), CLAUDE_SETTINGS);
    assert_eq!(std::fs::read_to_string(&h.cursor).unwrap(), CURSOR_HOOKS);
    assert_eq!((mode(&h.claude), mode(&h.cursor)), (0o644, 0o640));
    let again = kaizen(&h.env, &["uninstall"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to remove"));
}

#[test]
fn uninstall_after_the_user_edited_keeps_their_edits() {
    let h = seeded();
    assert!(kaizen(&h.env, &["install", "--agent", "claude"]).status.success());
    let mut edited = json_of(&h.claude);
    edited["permissions"]["deny"] = json!(["Bash(rm -rf:*)"]);
    std::fs::write(&h.claude, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    assert!(kaizen(&h.env, &["uninstall", "--agent", "claude"]).status.success());
    let after = json_of(&h.claude);
    assert_eq!(after["permissions"]["deny"], json!(["Bash(rm -rf:*)"]));
    assert!(our_commands(&after).is_empty());
    let original: Value = serde_json::from_str(CLAUDE_SETTINGS).unwrap();
    assert_eq!(after["hooks"], original["hooks"]);
}

#[test]
fn malformed_and_odd_configs_are_refused_and_left_untouched() {
    let cases = [
        "{\n  // a comment\n  \"model\": \"opus\"\n}\n",
        "{\"model\": \"opus\",}\n",
        "",
        "[1, 2]",
        "{\"hooks\": [\"odd\"]}",
        "{\"hooks\": {\"PreToolUse\": {\"not\": \"a list\"}}}",
    ];
    for case in cases {
        let h = seeded();
        std::fs::write(&h.claude, case).unwrap();
        let out = kaizen(&h.env, &["install", "--agent", "claude"]);
        assert!(!out.status.success(), "{case:?} accepted");
        assert!(String::from_utf8_lossy(&out.stdout).contains("NOT registered"), "{case:?}");
        assert_eq!(std::fs::read_to_string(&h.claude).unwrap(), case, "byte-for-byte untouched");
        assert!(!h.claude.with_file_name("settings.json.kaizen.bak").exists());
    }
}

#[test]
fn null_hooks_and_missing_files_are_fine() {
    let h = seeded();
    std::fs::write(&h.claude, "{\"hooks\": null}").unwrap();
    std::fs::remove_file(&h.cursor).unwrap();
    assert!(kaizen(&h.env, &["install"]).status.success());
    assert_eq!(our_commands(&json_of(&h.claude)).len(), 15);
    assert_eq!(our_commands(&json_of(&h.cursor)).len(), 11);
    assert_eq!(mode(&h.cursor), 0o600, "a new config is private");
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing() {
    let h = seeded();
    let before = h.env.files_under(&h.env.user_home);
    let out = kaizen(&h.env, &["install", "--dry-run"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dry run") && text.contains("\n+ "), "{text}");
    assert!(text.contains("kaizen-hook tool-use --agent claude"));
    assert_eq!(std::fs::read_to_string(&h.claude).unwrap(), CLAUDE_SETTINGS);
    assert_eq!(std::fs::read_to_string(&h.cursor).unwrap(), CURSOR_HOOKS);
    assert_eq!(h.env.files_under(&h.env.user_home), before, "no file created");
}

#[test]
fn install_follows_a_symlinked_settings_file() {
    let h = seeded();
    let dotfiles = h.env.tmp.path().join("dotfiles/claude-settings.json");
    std::fs::create_dir_all(dotfiles.parent().unwrap()).unwrap();
    std::fs::rename(&h.claude, &dotfiles).unwrap();
    std::os::unix::fs::symlink(&dotfiles, &h.claude).unwrap();
    assert!(kaizen(&h.env, &["install", "--agent", "claude"]).status.success());
    assert!(std::fs::symlink_metadata(&h.claude).unwrap().file_type().is_symlink(), "the link survives");
    assert_eq!(our_commands(&json_of(&dotfiles)).len(), 15);
}

/// Runs a registered command line the way the agents do: `sh -c`, payload on stdin.
fn run_registered(env: &Env, command: &str, payload: &Value) -> Output {
    let mut cmd = env.sandbox(std::process::Command::new("sh"));
    cmd.arg("-c").arg(command).current_dir(&env.repo);
    env.run_with(cmd, payload.to_string().as_bytes())
}

fn registered_command(settings: &Value, event: &str) -> String {
    our_commands(settings).into_iter().find(|(e, _)| e == event).unwrap().1
}

#[test]
fn a_session_replayed_through_the_registered_commands_is_recorded() {
    let h = seeded();
    assert!(kaizen(&h.env, &["install"]).status.success());
    let claude = json_of(&h.claude);
    for event in ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"] {
        let out = run_registered(&h.env, &registered_command(&claude, event), &h.env.fixture("claude", event));
        assert_quiet(&out);
        assert_no_stdout(&out);
    }
    let events = h.env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    assert_eq!(events.len(), 6);
    assert_eq!(h.env.record("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47").status, SessionStatus::Done);
}

#[test]
fn cursor_records_each_event_once_with_both_agents_installed() {
    let h = seeded();
    assert!(kaizen(&h.env, &["install"]).status.success());
    let (claude, cursor) = (json_of(&h.claude), json_of(&h.cursor));
    let pairs = [
        ("PreToolUse", "preToolUse"),
        ("PostToolUse", "postToolUse"),
        ("Stop", "stop"),
        ("UserPromptSubmit", "beforeSubmitPrompt"),
    ];
    for (claude_event, cursor_event) in pairs {
        let payload = h.env.fixture("cursor", cursor_event);
        // Cursor runs its own entry and the one in ~/.claude/settings.json.
        let own = run_registered(&h.env, &registered_command(&cursor, cursor_event), &payload);
        assert_quiet(&own);
        assert!(!own.stdout.is_empty(), "Cursor gets its neutral reply");
        // Even if Cursor rewrote the payload for the Claude entry, it is not recorded twice.
        let mut translated = payload.clone();
        translated["hook_event_name"] = json!(cursor_event);
        translated["translated_for_claude"] = json!(true);
        let via_claude = run_registered(&h.env, &registered_command(&claude, claude_event), &translated);
        assert_quiet(&via_claude);
    }
    let events = h.env.events("8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d");
    assert_eq!(events.len(), pairs.len(), "one event per Cursor hook");
    assert!(events.iter().all(|e| e.payload.get("registered_agent").is_none()), "all from Cursor's own entry");
}

#[test]
fn without_cursor_installed_cursor_events_via_claude_settings_are_kept() {
    let h = seeded();
    std::fs::remove_file(&h.cursor).unwrap();
    assert!(kaizen(&h.env, &["install", "--agent", "claude"]).status.success());
    let claude = json_of(&h.claude);
    assert_quiet(&run_registered(
        &h.env,
        &registered_command(&claude, "PreToolUse"),
        &h.env.fixture("cursor", "preToolUse"),
    ));
    let events = h.env.events("8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].payload["agent"].as_str(), events[0].payload["registered_agent"].as_str()),
        (Some("cursor"), Some("claude"))
    );
}

#[test]
fn doctor_says_what_is_wrong_and_when_all_is_well() {
    let h = seeded();
    let before = kaizen(&h.env, &["doctor"]);
    assert!(!before.status.success());
    assert!(String::from_utf8_lossy(&before.stdout).contains("not registered for any agent"));

    assert!(kaizen(&h.env, &["install"]).status.success());
    h.env.hook(&["session-start", "--agent", "claude"], &h.env.fixture("claude", "SessionStart"));
    let after = kaizen(&h.env, &["doctor"]);
    let text = String::from_utf8_lossy(&after.stdout);
    assert!(after.status.success(), "{text}");
    assert!(text.contains("registered for 15 of 15 events") && text.contains("runs this binary"), "{text}");
    assert!(text.contains("last event recorded") && text.contains("all good"), "{text}");

    let mut stale = json_of(&h.claude);
    let command = registered_command(&stale, "Stop").replace(BIN, "/nowhere/kaizen-hook");
    stale["hooks"]["Stop"][0]["hooks"][0]["command"] = json!(command);
    std::fs::write(&h.claude, stale.to_string()).unwrap();
    h.env.run(&["event"], b"not json");
    let broken = kaizen(&h.env, &["doctor"]);
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success());
    assert!(text.contains("/nowhere/kaizen-hook does not exist"), "{text}");
    assert!(text.contains("invalid JSON"), "the last errors from the log: {text}");
}

#[test]
fn hooks_dir_snippets_are_what_install_writes() {
    let env = Env::new();
    let binary = "/home/YOU/.local/bin/kaizen-hook";
    for (agent, file, snippet) in [
        ("claude", ".claude/settings.json", "claude-settings.json"),
        ("cursor", ".cursor/hooks.json", "cursor-hooks.json"),
        ("codex", ".codex/hooks.json", "codex-hooks.json"),
        ("gemini", ".gemini/settings.json", "gemini-settings.json"),
    ] {
        let out = env.run_with(env.command(&["install", "--agent", agent, "--binary", binary]), b"");
        assert!(out.status.success());
        let written = std::fs::read_to_string(env.user_home.join(file)).unwrap();
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks").join(snippet)).unwrap();
        assert_eq!(written, shipped, "hooks/{snippet} is out of date");
    }
}

const GEMINI_SETTINGS: &str = r#"{
  "theme": "GitHub",
  "hooksConfig": {
    "enabled": true
  },
  "hooks": {
    "BeforeTool": [
      {
        "matcher": "run_shell_command",
        "hooks": [
          {
            "type": "command",
            "command": "/usr/local/bin/guard",
            "timeout": 60000
          }
        ]
      }
    ]
  }
}
"#;

#[test]
fn codex_and_gemini_are_registered_in_their_own_formats() {
    let env = Env::new();
    let gemini = env.user_home.join(".gemini/settings.json");
    let codex = env.user_home.join(".codex/hooks.json");
    std::fs::create_dir_all(gemini.parent().unwrap()).unwrap();
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    std::fs::write(&gemini, GEMINI_SETTINGS).unwrap();

    let out = kaizen(&env, &["install"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("codex: registered 12 events") && text.contains("trust"), "{text}");
    assert!(text.contains("gemini: registered 8 events"), "{text}");
    assert!(!text.contains("claude:") && !text.contains("cursor:"), "only the agents that are here: {text}");

    let g = json_of(&gemini);
    assert_eq!(g["theme"], "GitHub");
    assert_eq!(g["hooks"]["BeforeTool"][0]["hooks"][0]["command"], "/usr/local/bin/guard");
    let ours = our_commands_with_timeout(&g, 5000);
    assert_eq!(ours.len(), 8);
    assert!(!ours.iter().any(|(e, _)| e == "BeforeModel" || e == "AfterModel"));
    let c = json_of(&codex);
    assert_eq!(our_commands(&c).len(), 12);

    let mut payload = env.fixture("gemini", "AfterTool");
    payload["cwd"] = json!(env.repo);
    let command = our_commands_with_timeout(&g, 5000).into_iter().find(|(e, _)| e == "AfterTool").unwrap().1;
    assert_quiet(&run_registered(&env, &command, &payload));
    let events = env.events("5c0f2b8e-3a1d-4f6b-9e27-8d4c1a2b3e4f");
    // The documented payload's command exited 1 ("Exit Code: 1"): a failed call.
    assert_eq!((events[0].payload["agent"].as_str(), events[0].kind.clone()), (Some("gemini"), EventKind::Error));

    assert!(kaizen(&env, &["uninstall"]).status.success());
    assert_eq!(std::fs::read_to_string(&gemini).unwrap(), GEMINI_SETTINGS);
    assert!(!codex.exists(), "install created it; uninstall removes it");
}
