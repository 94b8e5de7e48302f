//! What the real agents showed (issue: "the real agents are the test"), each
//! replayed from payloads captured from the real CLIs (`tests/fixtures/real/`)
//! through the real binary. The end-to-end suite (`e2e/`) runs the CLIs
//! themselves; these keep each finding fixed without them.

mod common;

use common::*;
use serde_json::{Value, json};

fn real(env: &Env, agent: &str, event: &str) -> Value {
    env.fixture(&format!("real/{agent}"), event)
}

fn last(env: &Env, session: &str) -> Event {
    env.events(session).pop().expect("an event was recorded")
}

#[test]
fn gemini_tool_errors_and_nonzero_exits_are_failures() {
    let env = Env::new();
    let mut missing = real(&env, "gemini", "AfterTool");
    missing["tool_name"] = json!("read_file");
    missing["tool_response"] =
        json!({"llmContent": "", "error": {"message": "File not found: x", "type": "file_not_found"}});
    env.hook(&["tool-use", "--agent", "gemini"], &missing);
    let session = missing["session_id"].as_str().unwrap().to_string();
    let failed = last(&env, &session);
    assert_eq!(failed.kind, EventKind::Error);
    assert_eq!(failed.payload["phase_note"], "File not found: x");

    let mut exit2 = real(&env, "gemini", "AfterTool");
    exit2["tool_response"]["llmContent"] = json!("Output: (empty)\nExit Code: 2\nProcess Group PGID: 1");
    env.hook(&["tool-use", "--agent", "gemini"], &exit2);
    assert_eq!(last(&env, &session).kind, EventKind::Error);
    assert_eq!(last(&env, &session).payload["session_errors"], 2);

    env.hook(&["tool-use", "--agent", "gemini"], &real(&env, "gemini", "AfterTool"));
    assert_eq!(last(&env, &session).kind, EventKind::ToolResult, "a success stays one");
}

#[test]
fn copilot_exit_codes_in_the_result_text_are_failures() {
    let env = Env::new();
    let payload = real(&env, "copilot", "postToolUse--exit2");
    env.hook(&["tool-use", "--agent", "copilot", "--event", "postToolUse"], &payload);
    let event = last(&env, payload["sessionId"].as_str().unwrap());
    assert_eq!((event.kind, event.payload["phase_note"].as_str()), (EventKind::Error, Some("exit code 2")));
}

#[test]
fn codex_exit_codes_come_from_the_rollout_written_before_the_hook() {
    let env = Env::new();
    let rollout = env.tmp.path().join("rollout.jsonl");
    let completed = |id: &str, code: i64| {
        json!({"type": "event_msg", "payload": {"type": "item_completed", "item": {"type": "CommandExecution", "id": id, "status": if code == 0 {"completed"} else {"failed"}, "exit_code": code},
            "started_at_ms": 1_795_999_191_405u64, "completed_at_ms": 1_795_999_191_417u64}})
        .to_string()
    };
    let meta = json!({"type": "session_meta", "payload": {"id": "x", "cli_version": "0.171.0"}});
    std::fs::write(&rollout, format!("{meta}\n{}\n{}\n", completed("call_ok", 0), completed("call_kz_shell_fail", 2)))
        .unwrap();
    let mut failed = real(&env, "codex", "PostToolUse-failed-exit-2");
    failed["transcript_path"] = json!(rollout);
    env.hook(&["tool-use", "--agent", "codex"], &failed);
    let session = failed["session_id"].as_str().unwrap().to_string();
    let event = last(&env, &session);
    assert_eq!((event.kind, event.payload["phase_note"].as_str()), (EventKind::Error, Some("exit code 2")));
    // Codex's own timing of the call, not the hook's (which includes other hooks' run time).
    assert_eq!((event.latency_ms, event.payload["latency_source"].as_str()), (Some(12), Some("agent")));

    let mut ok = failed.clone();
    ok["tool_use_id"] = json!("call_ok");
    env.hook(&["tool-use", "--agent", "codex"], &ok);
    assert_eq!(last(&env, &session).kind, EventKind::ToolResult);

    let mut stop = real(&env, "codex", "Stop");
    stop["transcript_path"] = json!(rollout);
    stop["session_id"] = json!(session);
    env.hook(&["stop", "--agent", "codex"], &stop);
    assert_eq!(env.record(&session).agent_version.as_deref(), Some("0.171.0"), "from session_meta.cli_version");
}

#[test]
fn codex_notify_after_stop_repeats_the_turn_end() {
    let env = Env::new();
    let stop = real(&env, "codex", "Stop");
    let session = stop["session_id"].as_str().unwrap().to_string();
    env.hook(&["stop", "--agent", "codex"], &stop);
    let mut notify = real(&env, "codex", "notify-agent-turn-complete");
    notify["thread-id"] = json!(session);
    let out = env.run_with(env.command(&["event", "--agent", "codex", "--event", "notify", &notify.to_string()]), b"");
    assert_quiet(&out);
    let events = env.events(&session);
    let phases: Vec<&str> = events.iter().map(|e| e.payload["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["turn_end", "other"], "one turn, one end");
    assert_eq!(env.record(&session).status, SessionStatus::Idle);
}

#[test]
fn codex_session_end_ends_the_session() {
    let env = Env::new();
    let end = real(&env, "codex", "SessionEnd");
    env.hook(&["session-end", "--agent", "codex"], &end);
    let record = env.record(end["session_id"].as_str().unwrap());
    assert_eq!(record.status, SessionStatus::Done);
    assert!(record.ended_at_ms.is_some());
}

#[test]
fn copilot_permission_requests_and_transformed_prompts_are_what_they_are() {
    let env = Env::new();
    let permission = real(&env, "copilot", "permissionRequest");
    env.hook(&["event", "--agent", "copilot", "--event", "permissionRequest"], &permission);
    let session = permission["sessionId"].as_str().unwrap().to_string();
    assert_eq!(last(&env, &session).payload["agent"], "copilot", "not Cline: it starts with hookName");

    env.hook(
        &["prompt", "--agent", "copilot", "--event", "userPromptSubmitted"],
        &real(&env, "copilot", "userPromptSubmitted"),
    );
    env.hook(
        &["prompt", "--agent", "copilot", "--event", "userPromptTransformed"],
        &real(&env, "copilot", "userPromptTransformed"),
    );
    let messages = env.events(&session).iter().filter(|e| e.kind == EventKind::Message).count();
    assert_eq!(messages, 1, "one prompt, counted once");
}

#[test]
fn copilot_subagent_deliveries_go_to_the_parent_session_and_do_not_end_its_turn() {
    let env = Env::new();
    let sub = real(&env, "copilot", "postToolUse--subagent");
    let parent = sub["parentAgentId"].as_str().unwrap().to_string();
    env.hook(&["tool-use", "--agent", "copilot", "--event", "postToolUse"], &sub);
    env.hook(
        &["prompt", "--agent", "copilot", "--event", "userPromptSubmitted"],
        &real(&env, "copilot", "userPromptSubmitted"),
    );
    env.hook(&["stop", "--agent", "copilot", "--event", "agentStop"], &real(&env, "copilot", "agentStop--subagent"));
    let events = env.events(&parent);
    assert_eq!(events[0].payload["subagent"], json!({"id": sub["agentId"], "type": "explore"}));
    assert!(!env.session_files().iter().any(|f| f.to_string_lossy().contains(sub["agentId"].as_str().unwrap())));
    assert_eq!(env.record(&parent).status, SessionStatus::Running, "the subagent's stop is not the session's");
}

#[test]
fn claude_compaction_summariser_is_not_a_subagent_and_subagents_are_named() {
    let env = Env::new();
    let sub = real(&env, "claude", "SubagentStop");
    let session = sub["session_id"].as_str().unwrap().to_string();
    env.hook(&["subagent", "--agent", "claude"], &sub);
    let first = last(&env, &session);
    assert_eq!(first.payload["phase"], "subagent_stop");
    assert_eq!(first.payload["subagent"]["type"], "general-purpose");

    let mut summariser = sub.clone();
    summariser["agent_type"] = json!("");
    summariser["agent_id"] = json!("acompact1");
    env.hook(&["subagent", "--agent", "claude"], &summariser);
    let compaction = last(&env, &session);
    assert_eq!(compaction.payload["phase"], "other");
    assert!(compaction.payload["phase_note"].as_str().unwrap().contains("compaction"));
}

#[test]
fn claude_and_copilot_versions_come_from_the_hook_environment() {
    let env = Env::new();
    let start = real(&env, "claude", "SessionStart");
    let mut cmd = env.command(&["session-start", "--agent", "claude"]);
    cmd.env("AI_AGENT", "claude-code_2-1-332_harness");
    assert_quiet(&env.run_with(cmd, start.to_string().as_bytes()));
    assert_eq!(env.record(start["session_id"].as_str().unwrap()).agent_version.as_deref(), Some("2.1.332"));

    let start = real(&env, "copilot", "sessionStart");
    let mut cmd = env.command(&["session-start", "--agent", "copilot", "--event", "sessionStart"]);
    cmd.env("COPILOT_CLI_BINARY_VERSION", "1.0.102");
    assert_quiet(&env.run_with(cmd, start.to_string().as_bytes()));
    assert_eq!(env.record(start["sessionId"].as_str().unwrap()).agent_version.as_deref(), Some("1.0.102"));
}

#[test]
fn a_resumed_sessions_identical_start_from_a_new_process_is_recorded() {
    let env = Env::new();
    let start = real(&env, "codex", "SessionStart-resume");
    let session = start["session_id"].as_str().unwrap().to_string();
    // Two agent processes (each a python3 running the hook), one after the other.
    for _ in 0..2 {
        let mut cmd = env.sandbox(std::process::Command::new("python3"));
        cmd.args([
            "-c",
            "import subprocess, sys; subprocess.run(sys.argv[1:])",
            BIN,
            "session-start",
            "--agent",
            "codex",
        ]);
        assert_quiet(&env.run_with(cmd, start.to_string().as_bytes()));
    }
    assert_eq!(env.events(&session).len(), 2, "a new process's identical delivery is a new occurrence");
}
