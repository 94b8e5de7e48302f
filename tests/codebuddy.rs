//! CodeBuddy Code through the real binary, with payloads and a transcript
//! captured from CodeBuddy Code 2.117.0 by the end-to-end suite
//! (`tests/fixtures/real/codebuddy/`, `tests/fixtures/transcripts/codebuddy/`,
//! paths redacted). It sends Claude Code's event names in Claude Code's shape.

mod common;

use common::*;
use serde_json::{Value, json};

fn payload(env: &Env, event: &str) -> Value {
    fixture_in("real/codebuddy", event, &env.repo)
}

fn settings_path(env: &Env) -> std::path::PathBuf {
    env.user_home.join(".codebuddy/settings.json")
}

fn settings(env: &Env) -> Value {
    serde_json::from_slice(&std::fs::read(settings_path(env)).unwrap()).unwrap()
}

/// The subcommand the installer registers for an event (`hooks/codebuddy-settings.json`).
fn subcommand(event: &str) -> &'static str {
    match event.split('-').next().unwrap() {
        "SessionStart" => "session-start",
        "UserPromptSubmit" => "prompt",
        "PreToolUse" | "PostToolUse" | "PostToolUseFailure" => "tool-use",
        "Stop" => "stop",
        _ => "event",
    }
}

#[test]
fn install_merges_into_the_users_settings_and_uninstall_removes_only_ours() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".codebuddy")).unwrap();
    let theirs = json!({"type": "command", "command": "/usr/bin/their-hook", "timeout": 9});
    let before = json!({"autoUpdates": false, "hooks": {"Stop": [{"hooks": [theirs]}]}});
    std::fs::write(settings_path(&env), serde_json::to_string_pretty(&before).unwrap()).unwrap();
    let out = env.run(&["install"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed = settings(&env);
    let events: Vec<&String> = installed["hooks"].as_object().unwrap().keys().collect();
    assert!(events.iter().any(|e| *e == "PostToolUseFailure") && events.iter().any(|e| *e == "SubagentStop"));
    // Its first Notification names no session: kaizen-hook is not registered for it.
    assert!(!events.iter().any(|e| *e == "Notification"), "{events:?}");
    assert_eq!(installed["hooks"]["Stop"][0]["hooks"][0], theirs, "the user's own hook first, untouched");
    let ours = installed["hooks"]["Stop"].to_string();
    assert!(ours.contains("kaizen-hook stop --agent codebuddy"), "{ours}");

    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success() && text.contains(".codebuddy/settings.json"), "{text}");

    let out = env.run(&["uninstall", "--agent", "codebuddy"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(settings(&env), before);
}

#[test]
fn disable_all_hooks_is_not_reported_because_codebuddy_does_not_read_it() {
    // CodeBuddy Code 2.117.0 names `disableAllHooks` in one message and never
    // reads it: the e2e run with it set still delivered every hook.
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".codebuddy")).unwrap();
    assert!(env.run(&["install", "--agent", "codebuddy"], b"").status.success());
    let mut value = settings(&env);
    value["disableAllHooks"] = json!(true);
    std::fs::write(settings_path(&env), value.to_string()).unwrap();
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success() && !text.contains("disableAllHooks"), "{text}");
}

#[test]
fn its_payloads_are_told_from_claude_codes_without_a_flag() {
    let env = Env::new();
    for name in fixture_names("real/codebuddy") {
        let p = payload(&env, &name);
        env.hook(&[subcommand(&name)], &p);
        let Some(session) = p["session_id"].as_str() else { continue };
        let last = env.events(session).pop().unwrap();
        assert_eq!(last.payload["agent"], json!("codebuddy"), "{name}");
    }
    // `auth_success` names no session: its fallback session is named after the agent.
    let files = env.session_files();
    assert!(files.iter().any(|f| f.file_name().unwrap().to_string_lossy().starts_with("codebuddy-")), "{files:?}");
    for name in fixture_names("real/claude") {
        let p = fixture_in("real/claude", &name, &env.repo);
        env.hook(&[subcommand(&name)], &p);
        let last = env.events(p["session_id"].as_str().unwrap()).pop().unwrap();
        assert_eq!(last.payload["agent"], json!("claude"), "real/claude/{name}");
    }
}

#[test]
fn a_post_tool_use_with_is_error_is_a_failure_and_a_post_tool_use_failure_too() {
    let env = Env::new();
    let names = ["PostToolUse", "PostToolUse-is_error-Bash", "PostToolUse-is_error-Read", "PostToolUseFailure"];
    for name in names {
        env.hook(&["tool-use", "--agent", "codebuddy"], &payload(&env, name));
    }
    let events = env.events(payload(&env, "PostToolUse")["session_id"].as_str().unwrap());
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.kind.clone(), e.tool.clone().unwrap(), e.payload["phase_note"].as_str().map(String::from)))
        .collect();
    assert_eq!(
        seen,
        [
            (EventKind::ToolResult, "Bash".into(), None),
            (EventKind::Error, "Bash".into(), Some("exit code 2".into())),
            (EventKind::Error, "Read".into(), Some("is_error, tool_error_code 1001".into())),
            (EventKind::Error, "Edit".into(), None),
        ]
    );
    assert_eq!(events[3].tool_call_id.as_deref(), Some("call_kz_edit_nomatch"));
}

#[test]
fn version_model_and_every_response_come_from_payloads_and_transcript() {
    let env = Env::new();
    let transcript = env.user_home.join("codebuddy-session.jsonl");
    let captured = fixtures_dir().join("transcripts/codebuddy");
    std::fs::copy(captured.join("session.jsonl"), &transcript).unwrap();
    // The subagent's transcript, where CodeBuddy keeps it: <session>/subagents/.
    let subagents = env.user_home.join("codebuddy-session/subagents");
    std::fs::create_dir_all(&subagents).unwrap();
    for file in std::fs::read_dir(captured.join("session/subagents")).unwrap().flatten() {
        std::fs::copy(file.path(), subagents.join(file.file_name())).unwrap();
    }
    let mut stop = payload(&env, "Stop");
    stop["transcript_path"] = json!(transcript);
    let id = stop["session_id"].as_str().unwrap().to_string();
    env.hook(&["stop", "--agent", "codebuddy"], &stop);
    let record = env.record(&id);
    assert_eq!(record.model.as_deref(), Some("gpt-4.1"));
    assert_eq!(record.agent_version.as_deref(), Some("2.117.0"));
    let costs: Vec<_> = env.events(&id).into_iter().filter(|e| e.kind == EventKind::Cost).collect();
    // Fourteen model responses over the two runs (main, resume) and the
    // subagent's, each once, with the mock's figures: prompt = input + cache
    // read + cache write.
    let mut prompts: Vec<u32> = costs
        .iter()
        .map(|e| e.tokens_in.unwrap() + e.cache_read_tokens.unwrap() + e.cache_creation_tokens.unwrap())
        .collect();
    prompts.sort_unstable();
    assert_eq!(prompts, [4101, 4202, 4303, 4404, 4505, 4606, 4707, 4808, 4919, 4929, 5101, 5202, 6101, 6202]);
    assert!(costs.iter().all(|e| e.cost_usd_e6.is_some() && e.payload["model"] == json!("gpt-4.1")));
    env.hook(&["stop", "--agent", "codebuddy"], &stop);
    let again = env.events(&id).into_iter().filter(|e| e.kind == EventKind::Cost).count();
    assert_eq!(again, costs.len(), "the same Stop again counts nothing twice");
}

#[test]
fn a_stop_after_a_failed_model_call_is_a_turn_failure() {
    let env = Env::new();
    // CodeBuddy sends Stop, not StopFailure, when the API answered its model call with an error.
    let failed = payload(&env, "Stop-model_error");
    env.hook(&["stop", "--agent", "codebuddy"], &failed);
    let ok = payload(&env, "Stop");
    env.hook(&["stop", "--agent", "codebuddy"], &ok);
    let phase = |p: &Value| {
        let last = env.events(p["session_id"].as_str().unwrap()).pop().unwrap();
        (last.payload["phase"].as_str().unwrap().to_string(), last.payload["phase_note"].as_str().map(String::from))
    };
    let (failure, why) = phase(&failed);
    assert_eq!(failure, "turn_failure");
    assert!(why.unwrap().starts_with("model error: 500 Internal server error"));
    assert_eq!(phase(&ok), ("turn_end".to_string(), None));
}

#[test]
fn a_call_refused_by_permissions_fails_under_its_call_id() {
    let env = Env::new();
    // Without `-y`, `-p` refuses a call that needs approval: PreToolUse, then
    // PermissionDenied naming its tool_use_id, and no post hook.
    let call = payload(&env, "PreToolUse-denied");
    env.hook(&["tool-use", "--agent", "codebuddy"], &call);
    env.hook(&["event", "--agent", "codebuddy"], &payload(&env, "PermissionDenied"));
    let events = env.events(call["session_id"].as_str().unwrap());
    let seen: Vec<_> = events.iter().map(|e| (e.kind.clone(), e.tool.clone(), e.tool_call_id.clone())).collect();
    let id = Some("call_kz_denied_rm".to_string());
    let bash = Some("Bash".to_string());
    assert_eq!(seen, [(EventKind::ToolCall, bash.clone(), id.clone()), (EventKind::Error, bash, id)]);
    assert!(events[1].payload["phase_note"].as_str().unwrap().starts_with("permission denied: Permission to use Bash"));
}
