//! Kimi Code and Mistral Vibe, the agents whose hooks are `[[hooks]]` tables
//! in a TOML file, through the real binary, with payloads and wire-log lines
//! captured from Kimi Code 2.1.0 and Mistral Vibe 3.0.3 by the end-to-end
//! suite (`tests/fixtures/real/{kimi,vibe}/`, `tests/fixtures/transcripts/kimi/`).

mod common;

use common::*;
use std::path::PathBuf;

/// A user's config with a comment, a setting, a hook of their own and a table after it.
const USERS_KIMI: &str = "# mine\ndefault_model = \"k3\" # fast\n\n[[hooks]]\nevent = \"Stop\"\ncommand = \"notify-send done\"\n\n[providers.kz]\ntype = \"openai\"\n";

fn kimi_config(env: &Env) -> PathBuf {
    env.user_home.join(".kimi-code/config.toml")
}

#[test]
fn kimi_install_merges_into_the_users_config_and_uninstall_gives_it_back() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".kimi-code")).unwrap();
    std::fs::write(kimi_config(&env), USERS_KIMI).unwrap();
    let out = env.run(&["install", "--agent", "kimi"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = std::fs::read_to_string(kimi_config(&env)).unwrap();
    // Ours follow the user's own [[hooks]] table, before the tables after it.
    for kept in [
        "# mine\ndefault_model = \"k3\" # fast\n",
        "event = \"Stop\"\ncommand = \"notify-send done\"\n",
        "[providers.kz]\ntype = \"openai\"\n",
    ] {
        assert!(text.contains(kept), "{kept:?} lost: {text}");
    }
    assert_eq!(text.matches("[[hooks]]").count(), 17, "the user's hook and our 16");
    let again = env.run(&["install", "--agent", "kimi"], b"");
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    let doctor = env.run(&["doctor"], b"");
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(report.contains("registered for 16 of 16 events"), "{report}");
    assert!(env.run(&["uninstall", "--agent", "kimi"], b"").status.success());
    assert_eq!(std::fs::read_to_string(kimi_config(&env)).unwrap(), USERS_KIMI);
}

#[test]
fn doctor_names_a_kimi_hook_entry_that_turns_every_hook_off() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".kimi-code")).unwrap();
    assert!(env.run(&["install", "--agent", "kimi"], b"").status.success());
    let mut text = std::fs::read_to_string(kimi_config(&env)).unwrap();
    text.push_str("\n[[hooks]]\nevent = \"NoSuchEvent\"\ncommand = \"true\"\n");
    std::fs::write(kimi_config(&env), text).unwrap();
    let doctor = env.run(&["doctor"], b"");
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(!doctor.status.success(), "{report}");
    assert!(report.contains("PROBLEM") && report.contains("unknown event \"NoSuchEvent\""), "{report}");
}

#[test]
fn a_kimi_stop_reads_every_response_from_the_sessions_wire_logs() {
    let env = Env::new();
    let stop = fixture_in("real/kimi", "Stop", &env.repo);
    let session = stop["session_id"].as_str().unwrap();
    // Where Kimi keeps them: the bucket's name is its own; it is found, not computed.
    let agents = env.user_home.join(".kimi-code/sessions/wd_project_0123456789ab").join(session).join("agents");
    let transcripts = fixtures_dir().join("transcripts/kimi");
    let mut responses = 0;
    for agent in ["main", "agent-0"] {
        std::fs::create_dir_all(agents.join(agent)).unwrap();
        let lines = std::fs::read_to_string(transcripts.join(format!("{agent}.wire.jsonl"))).unwrap();
        responses += lines.matches("\"step.end\"").count();
        std::fs::write(agents.join(agent).join("wire.jsonl"), lines).unwrap();
    }
    env.hook(&["prompt", "--agent", "kimi"], &fixture_in("real/kimi", "UserPromptSubmit", &env.repo));
    env.hook(&["stop", "--agent", "kimi"], &stop);
    let costs: Vec<_> = env.events(session).into_iter().filter(|e| e.kind == EventKind::Cost).collect();
    assert_eq!(costs.len(), responses, "one Cost event per step.end, the subagent's included");
    assert!(responses >= 10);
    assert!(costs.iter().all(|e| e.payload["model"] == "kimi-k2-mock"), "the provider's model");
    assert_eq!(env.record(session).model.as_deref(), Some("kimi-k2-mock"));
    env.hook(&["stop", "--agent", "kimi"], &stop);
    let again = env.events(session).into_iter().filter(|e| e.kind == EventKind::Cost).count();
    assert_eq!(again, responses, "read again, nothing is counted twice");
}

/// What Kimi 2.1 sends for a prompt that runs a subagent: its subagent's
/// `Stop` and then its main agent's, the same bytes, the subagent's stop between.
#[test]
fn a_kimi_stop_while_its_subagent_runs_is_the_subagents_and_the_main_agents_is_the_turns_end() {
    let env = Env::new();
    let payload = |name: &str| fixture_in("real/kimi", name, &env.repo);
    let stop = payload("Stop");
    let session = stop["session_id"].as_str().unwrap();
    env.hook(&["session-start", "--agent", "kimi"], &payload("SessionStart-startup"));
    env.hook(&["prompt", "--agent", "kimi"], &payload("UserPromptSubmit"));
    env.hook(&["subagent", "--agent", "kimi"], &payload("SubagentStart"));
    env.hook(&["stop", "--agent", "kimi"], &stop);
    env.hook(&["subagent", "--agent", "kimi"], &payload("SubagentStop"));
    env.hook(&["stop", "--agent", "kimi"], &stop);
    env.hook(&["stop", "--agent", "kimi"], &stop);
    let phases: Vec<(String, String)> = env
        .events(session)
        .iter()
        .filter(|e| e.kind != EventKind::Cost)
        .map(|e| {
            (e.payload["phase"].as_str().unwrap_or("").into(), e.payload["phase_note"].as_str().unwrap_or("").into())
        })
        .collect();
    let subagents = "a subagent's turn end: it came while a subagent was running".to_string();
    let expected = [
        ("session_start", ""),
        ("prompt", ""),
        ("subagent_start", ""),
        ("other", subagents.as_str()),
        ("subagent_stop", ""),
        ("turn_end", ""),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(p, n)| (p.to_string(), n.to_string())).collect();
    assert_eq!(phases, expected, "the third Stop, right after the second, is its repeat");
    assert_eq!(env.record(session).status, SessionStatus::Idle, "the turn ended");
}

#[test]
fn vibe_results_fail_on_their_status_or_their_exit_code() {
    let env = Env::new();
    let call = fixture_in("real/vibe", "pre_tool", &env.repo);
    let session = call["session_id"].as_str().unwrap();
    for event in ["pre_tool", "post_tool", "post_tool-exit2", "post_tool-failure", "post_agent"] {
        let category = if event == "post_agent" { "stop" } else { "tool-use" };
        env.hook(&[category, "--agent", "vibe"], &fixture_in("real/vibe", event, &env.repo));
    }
    let kinds: Vec<_> = env.events(session).iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [EventKind::ToolCall, EventKind::ToolResult, EventKind::Error, EventKind::Error, EventKind::Lifecycle],
        "exit 2 (a `success` to Vibe) and a missing file are errors; post_agent ends the turn"
    );
    assert_eq!(env.record(session).agent, "vibe", "a session starts at its first event");
}

/// Vibe's version: the `mistral_vibe` wheel's dist-info in the environment
/// of the app server that runs the hooks (`VIBE_APP_SERVER_BIN`).
#[test]
fn vibe_s_version_is_its_wheel_s_beside_the_app_server() {
    let env = Env::new();
    let venv = env.tmp.path().join("venv");
    let site = venv.join("lib/python3.13/site-packages");
    for dir in ["mistral_vibe_extras-9.9.dist-info", "mistral_vibe-3.0.3.dist-info", "mistral_vibe-3.0.3.data"] {
        std::fs::create_dir_all(site.join(dir)).unwrap();
    }
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    // Asked at a turn's end, as every agent's version is.
    let end = fixture_in("real/vibe", "post_agent", &env.repo);
    let mut cmd = env.command(&["stop", "--agent", "vibe"]);
    cmd.env("VIBE_APP_SERVER_BIN", venv.join("bin/vibe-app-server"));
    assert!(env.run_with(cmd, end.to_string().as_bytes()).status.success());
    assert_eq!(env.record(end["session_id"].as_str().unwrap()).agent_version.as_deref(), Some("3.0.3"));
}

#[test]
fn vibe_install_names_its_entries_and_uninstall_removes_exactly_them() {
    let env = Env::new();
    let hooks = env.user_home.join(".vibe/hooks.toml");
    std::fs::create_dir_all(hooks.parent().unwrap()).unwrap();
    let users = "[[hooks]]\nname = \"lint\"\ntype = \"post_agent\"\ncommand = \"make lint\"\n";
    std::fs::write(&hooks, users).unwrap();
    assert!(env.run(&["install", "--agent", "vibe"], b"").status.success());
    let text = std::fs::read_to_string(&hooks).unwrap();
    for event in ["pre_tool", "post_tool", "post_agent"] {
        assert!(text.contains(&format!("name = \"kaizen-hook-{event}\"\ntype = \"{event}\"\n")), "{text}");
    }
    assert!(env.run(&["uninstall", "--agent", "vibe"], b"").status.success());
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), users);
}

/// Kimi's version is read from a file of its own: a FIFO planted there is
/// not opened to wait on (the hook would hang), and names no version.
#[test]
fn a_fifo_in_place_of_kimis_rollout_log_stalls_nothing() {
    let env = Env::new();
    let updates = env.user_home.join(".kimi-code/updates");
    std::fs::create_dir_all(&updates).unwrap();
    let status = env.sandbox(std::process::Command::new("mkfifo")).arg(updates.join("rollout.log")).status().unwrap();
    assert!(status.success());
    let start = fixture_in("real/kimi", "SessionStart-startup", &env.repo);
    env.hook(&["session-start", "--agent", "kimi"], &start);
    let record = env.record(start["session_id"].as_str().unwrap());
    assert_eq!(record.agent_version, None);
    std::fs::remove_file(updates.join("rollout.log")).unwrap();
    std::fs::write(updates.join("rollout.log"), "{\"phase\":\"startup-cache\",\"current\":\"2.1.0\"}\n").unwrap();
    env.hook(&["prompt", "--agent", "kimi"], &fixture_in("real/kimi", "UserPromptSubmit", &env.repo));
    env.hook(&["stop", "--agent", "kimi"], &fixture_in("real/kimi", "Stop", &env.repo));
    assert_eq!(env.record(start["session_id"].as_str().unwrap()).agent_version.as_deref(), Some("2.1.0"));
}
