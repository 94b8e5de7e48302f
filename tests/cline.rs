//! Cline CLI 3.x, replayed from payloads captured from the real CLI
//! (`tests/fixtures/real/cline/`, Cline 3.0.65) through the real binary, as
//! `kaizen-hook install --agent cline` registers it: one script per hook file,
//! `kaizen-hook event --agent cline --event <file name>`.

mod common;

use common::*;
use serde_json::{Value, json};

/// Cline's own session id (`sessionContext.rootSessionId`, what `cline --id` takes).
const ROOT: &str = "1796009586019_4xa4p";
/// The task (one `cline` run) inside it.
const TASK: &str = "conv_1796009587376_a2g12m8";

/// The hook file each captured payload was delivered to.
fn file_of(name: &str) -> &'static str {
    match name.split('-').next().unwrap() {
        "agent_start" => "TaskStart",
        "tool_call" => "PreToolUse",
        "tool_result" => "PostToolUse",
        "agent_end" => "TaskComplete",
        "agent_error" => "TaskError",
        other => panic!("no hook file for {other}"),
    }
}

fn real(env: &Env, name: &str) -> Value {
    let mut payload = env.fixture("real/cline", name);
    let repo = env.repo.to_string_lossy().into_owned();
    payload["workspaceRoots"] = json!([repo]);
    payload["workspaceInfo"]["rootPath"] = json!(repo);
    payload
}

fn deliver(env: &Env, name: &str) -> Value {
    let payload = real(env, name);
    env.hook(&["event", "--agent", "cline", "--event", file_of(name)], &payload);
    payload
}

/// The scenario's run as Cline delivered it: two commands (the second exits 2), a
/// read of a missing file, a read, the end of the run.
const RUN: &[&str] = &[
    "agent_start",
    "tool_call-cmd_ok",
    "tool_result-cmd_ok",
    "tool_call-cmd_fail",
    "tool_result-cmd_fail",
    "tool_call-read_missing",
    "tool_result-read_missing",
    "tool_call-read",
    "tool_result-read",
    "agent_end",
];

#[test]
fn cline_3_event_names_are_recognised_over_the_file_names() {
    let env = Env::new();
    for name in RUN {
        deliver(&env, name);
    }
    let events = env.events(ROOT);
    let seen: Vec<(EventKind, &str, &str)> = events
        .iter()
        .map(|e| (e.kind.clone(), e.payload["hook_event_name"].as_str().unwrap(), e.payload["phase"].as_str().unwrap()))
        .collect();
    use EventKind::*;
    assert_eq!(
        seen,
        [
            (Lifecycle, "agent_start", "session_start"),
            (ToolCall, "tool_call", "tool_call"),
            (ToolResult, "tool_result", "tool_result"),
            (ToolCall, "tool_call", "tool_call"),
            (Error, "tool_result", "tool_failure"),
            (ToolCall, "tool_call", "tool_call"),
            (Error, "tool_result", "tool_failure"),
            (ToolCall, "tool_call", "tool_call"),
            (ToolResult, "tool_result", "tool_result"),
            (Lifecycle, "agent_end", "turn_end"),
        ]
    );
}

#[test]
fn cline_tool_and_call_id_come_from_the_call_and_result_objects() {
    let env = Env::new();
    for name in RUN {
        deliver(&env, name);
    }
    let events = env.events(ROOT);
    let tools: Vec<(Option<&str>, Option<&str>, bool)> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ToolCall | EventKind::ToolResult | EventKind::Error))
        .map(|e| (e.tool.as_deref(), e.tool_call_id.as_deref(), e.payload.get("tool_call_id_derived").is_some()))
        .collect::<Vec<_>>();
    let expected: Vec<(Option<&str>, Option<&str>, bool)> = [
        ("run_commands", "call_kz_cmd_ok"),
        ("run_commands", "call_kz_cmd_fail"),
        ("read_files", "call_kz_read_missing"),
        ("read_files", "call_kz_read"),
    ]
    .iter()
    .flat_map(|(tool, id)| [(Some(*tool), Some(*id), false); 2])
    .collect();
    assert_eq!(tools, expected);
    let result = env.events(ROOT).into_iter().find(|e| e.tool_call_id.as_deref() == Some("call_kz_cmd_ok")).unwrap();
    let result = env.events(ROOT).into_iter().filter(|e| e.tool_call_id == result.tool_call_id).nth(1).unwrap();
    assert_eq!((result.latency_ms, result.payload["latency_source"].as_str()), (Some(169), Some("agent")));
    // The 2.x spelling: the tool in `preToolUse.toolName`, no call object.
    let mut old = real(&env, "tool_call-read");
    old.as_object_mut().unwrap().remove("tool_call");
    old["hookName"] = json!("PreToolUse");
    old["sessionContext"]["rootSessionId"] = json!("cline-2x");
    env.hook(&["event", "--agent", "cline", "--event", "PreToolUse"], &old);
    let event = env.events("cline-2x").pop().unwrap();
    assert_eq!((event.kind, event.tool.as_deref()), (EventKind::ToolCall, Some("read_files")));
}

#[test]
fn cline_failures_come_from_the_result_output_not_post_tool_use_success() {
    let env = Env::new();
    for name in ["tool_result-cmd_fail", "tool_result-read_missing", "tool_result-read"] {
        let payload = deliver(&env, name);
        assert_eq!(payload["postToolUse"]["success"], true, "Cline says every call succeeded");
    }
    let events = env.events(ROOT);
    let notes: Vec<(EventKind, Option<&str>)> =
        events.iter().map(|e| (e.kind.clone(), e.payload["phase_note"].as_str())).collect();
    assert_eq!(notes[0], (EventKind::Error, Some("Command exited with code 2")));
    assert_eq!(notes[1].0, EventKind::Error);
    assert!(notes[1].1.unwrap().starts_with("Error reading file: ENOENT"), "{notes:?}");
    assert_eq!(notes[2], (EventKind::ToolResult, None));
    assert_eq!(events[2].payload["session_errors"], 2);
}

#[test]
fn cline_agent_end_ends_the_turn_and_agent_error_fails_it() {
    let env = Env::new();
    deliver(&env, "agent_start");
    deliver(&env, "agent_end");
    let record = env.record(ROOT);
    assert_eq!(record.status, SessionStatus::Idle);
    assert_eq!(record.end_commit.as_deref(), Some(env.head().trim()));
    let end = env.events(ROOT).pop().unwrap();
    assert_eq!(end.payload["subagent"], Value::Null, "the root agent is not a subagent");

    let mut failed = real(&env, "agent_error");
    failed["workspaceRoots"] = json!([env.repo.to_string_lossy()]);
    env.hook(&["event", "--agent", "cline", "--event", "TaskError"], &failed);
    let root = failed["sessionContext"]["rootSessionId"].as_str().unwrap();
    let event = env.events(root).pop().unwrap();
    assert_eq!((event.kind, event.payload["phase"].as_str()), (EventKind::Error, Some("turn_failure")));
}

#[test]
fn cline_a_spawned_agent_is_a_subagent_whose_end_is_not_the_turns() {
    let env = Env::new();
    deliver(&env, "agent_start");
    let mut sub_end = real(&env, "agent_end");
    sub_end["agent_id"] = json!("agent_sub_1");
    sub_end["parent_agent_id"] = json!("agent_1796009586940_mzxo7n");
    env.hook(&["event", "--agent", "cline", "--event", "TaskComplete"], &sub_end);
    let event = env.events(ROOT).pop().unwrap();
    assert_eq!(event.payload["phase"], "other");
    assert_eq!(event.payload["subagent"]["id"], "agent_sub_1");
    assert_eq!(env.record(ROOT).status, SessionStatus::Running);
}

#[test]
fn cline_sessions_are_keyed_on_the_root_session_and_keep_the_task() {
    let env = Env::new();
    deliver(&env, "agent_start");
    assert!(env.sessions_dir().join(format!("{ROOT}.jsonl")).exists(), "{:?}", env.session_files());
    assert!(!env.sessions_dir().join(format!("{TASK}.jsonl")).exists());
    let event = env.events(ROOT).pop().unwrap();
    assert_eq!(event.payload["input"]["taskId"], TASK);
    assert_eq!(env.record(ROOT).id, ROOT);
}

/// Cline's session metadata, as 3.0.65 writes it at the start of a run.
fn write_session_file(dir: &std::path::Path) {
    let path = dir.join("sessions").join(ROOT);
    std::fs::create_dir_all(&path).unwrap();
    let meta = json!({"version": 1, "session_id": ROOT, "source": "cli", "status": "running",
        "provider": "openai-compatible", "model": "gpt-4.1",
        "metadata": {"sessionHistoryOrigin": {"mode": "user", "version": "3.0.65"}, "title": "x"}});
    std::fs::write(path.join(format!("{ROOT}.json")), meta.to_string()).unwrap();
}

#[test]
fn cline_model_and_version_come_from_its_session_file_at_the_turn_end() {
    let env = Env::new();
    write_session_file(&env.user_home.join(".cline/data"));
    deliver(&env, "agent_start");
    deliver(&env, "tool_call-read");
    assert_eq!(env.record(ROOT).agent_version, Some("3.0.65".into()), "asked at the session start");
    deliver(&env, "agent_end");
    let record = env.record(ROOT);
    assert_eq!((record.model.as_deref(), record.agent_version.as_deref()), (Some("gpt-4.1"), Some("3.0.65")));
}

#[test]
fn cline_session_file_is_found_under_cline_dir_and_cline_data_dir() {
    for var in ["CLINE_DIR", "CLINE_DATA_DIR"] {
        let env = Env::new();
        let dir = env.tmp.path().join("elsewhere");
        write_session_file(&if var == "CLINE_DIR" { dir.join("data") } else { dir.clone() });
        let mut cmd = env.command(&["event", "--agent", "cline", "--event", "TaskComplete"]);
        cmd.env(var, &dir);
        let out = env.run_with(cmd, real(&env, "agent_end").to_string().as_bytes());
        assert_quiet(&out);
        assert_eq!(env.record(ROOT).model.as_deref(), Some("gpt-4.1"), "{var}");
    }
}

#[test]
fn cline_session_ids_that_are_not_plain_names_are_never_paths() {
    let env = Env::new();
    write_session_file(&env.user_home.join(".cline/data"));
    let mut payload = real(&env, "agent_end");
    payload["sessionContext"]["rootSessionId"] = json!(format!("../../.cline/data/sessions/{ROOT}"));
    env.hook(&["event", "--agent", "cline", "--event", "TaskComplete"], &payload);
    let files = env.session_files();
    assert_eq!(files.len(), 1);
    let record: SessionRecord =
        serde_json::from_slice(&std::fs::read(files[0].with_extension("session.json")).unwrap()).unwrap();
    assert_eq!(record.id, payload["sessionContext"]["rootSessionId"].as_str().unwrap());
    assert_eq!(record.model, None, "nothing is read outside Cline's sessions directory");
}

fn hooks_dir(env: &Env) -> std::path::PathBuf {
    env.user_home.join(".cline/hooks")
}

#[test]
fn cline_install_writes_one_script_per_hook_file_that_records_the_event() {
    let env = Env::new();
    let out = env.run(&["install", "--agent", "cline"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let dir = hooks_dir(&env);
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    use std::os::unix::fs::PermissionsExt;
    let start = dir.join("TaskStart");
    assert_eq!(std::fs::metadata(&start).unwrap().permissions().mode() & 0o777, 0o755);
    // Cline runs the file with the payload on stdin: it records, prints nothing, exits 0.
    let script = env.sandbox(std::process::Command::new(&start));
    let ran = env.run_with(script, real(&env, "agent_start").to_string().as_bytes());
    assert_quiet(&ran);
    assert!(ran.stdout.is_empty());
    let event = env.events(ROOT).pop().unwrap();
    assert_eq!(
        (event.payload["agent"].as_str(), event.payload["phase"].as_str()),
        (Some("cline"), Some("session_start"))
    );

    let again = env.run(&["install", "--agent", "cline"], b"");
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"), "{}", String::from_utf8_lossy(&again.stdout));
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("registered for 10 of 10 events"), "{text}");
}

#[test]
fn cline_install_never_overwrites_a_users_hook_and_uninstall_removes_only_ours() {
    let env = Env::new();
    let dir = hooks_dir(&env);
    std::fs::create_dir_all(&dir).unwrap();
    let mine = "#!/bin/sh\necho my own hook\n";
    std::fs::write(dir.join("PreToolUse"), mine).unwrap();
    let out = env.run(&["install", "--agent", "cline"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT registered for PreToolUse"), "{text}");
    assert_eq!(std::fs::read_to_string(dir.join("PreToolUse")).unwrap(), mine);
    let doctor = env.run(&["doctor"], b"");
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("registered for 9 of 10 events"));

    let out = env.run(&["uninstall", "--agent", "cline"], b"");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("removed 9 file(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["PreToolUse"]);
    assert_eq!(std::fs::read_to_string(dir.join("PreToolUse")).unwrap(), mine);
}

#[test]
fn cline_uninstall_after_install_leaves_nothing() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".cline")).unwrap();
    let out = env.run(&["install"], b"");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cline: wrote 10 file(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    env.run(&["uninstall", "--agent", "cline"], b"");
    assert!(!hooks_dir(&env).exists());
    assert!(env.user_home.join(".cline").is_dir(), "Cline's own directory stays");
}

/// The messages file the real Cline 3.0.65 wrote for the end-to-end scenario
/// (`tests/fixtures/transcripts/cline/`): five assistant messages with
/// `metrics`, written where Cline keeps the fixtures' session.
fn messages(env: &Env) -> (std::path::PathBuf, Value) {
    let dir = env.user_home.join(".cline/data/sessions").join(ROOT);
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(fixtures_dir().join("transcripts/cline/session.messages.json")).unwrap();
    (dir.join(format!("{ROOT}.messages.json")), serde_json::from_str(&text).unwrap())
}

/// (response id, tokens in, cache read, tokens out, model) of a Cost event.
type Cost = (String, Option<u32>, Option<u32>, Option<u32>, Value);

fn costs(env: &Env) -> Vec<Cost> {
    let events = env.events(ROOT);
    let costs = events.iter().filter(|e| e.kind == EventKind::Cost);
    costs
        .map(|e| {
            let id = e.payload["response_id"].as_str().unwrap().to_string();
            (id, e.tokens_in, e.cache_read_tokens, e.tokens_out, e.payload["model"].clone())
        })
        .collect()
}

#[test]
fn cline_costs_come_from_the_messages_file_once_per_response() {
    let env = Env::new();
    let (path, document) = messages(&env);
    std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    // A subagent's messages beside the session's, in a file of its own.
    let sub = json!({"messages": [{"id": "msg_sub_1", "role": "assistant", "ts": 1796623821400_u64,
        "modelInfo": {"id": "gpt-4.1-mini"}, "metrics": {"inputTokens": 50, "outputTokens": 5, "cost": 0.001}}]});
    std::fs::write(path.with_file_name("agent_sub_1.messages.json"), sub.to_string()).unwrap();
    for name in RUN {
        deliver(&env, name);
    }
    let mut got = costs(&env);
    assert_eq!(got.pop(), Some(("msg_sub_1".into(), Some(50), Some(0), Some(5), json!("gpt-4.1-mini"))));
    // The mock's usage: prompt 2101 of which 601 cached, 41 out; and so on.
    let figures: Vec<_> = got.iter().map(|c| (c.1, c.2, c.3)).collect();
    let want: Vec<_> = (1..=5).map(|i| (Some(1400 + 100 * i), Some(600 + i), Some(40 + i))).collect();
    assert_eq!(figures, want);
    assert!(got.iter().all(|c| c.4 == "gpt-4.1"), "{got:?}");
    let assistant = document["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "assistant");
    let ids: Vec<&str> = assistant.map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(got.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ids);
    // The same end again, and the file rewritten with nothing new: nothing more.
    deliver(&env, "agent_end");
    std::fs::write(&path, document.to_string()).unwrap();
    deliver(&env, "agent_end");
    assert_eq!(costs(&env).len(), 6);
}

#[test]
fn cline_responses_written_after_agent_end_are_counted_when_sessions_runs() {
    let env = Env::new();
    let (path, document) = messages(&env);
    // What the file held when the run's agent_end hook read it: not yet the last response.
    let mut early = document.clone();
    early["messages"].as_array_mut().unwrap().pop();
    std::fs::write(&path, serde_json::to_string_pretty(&early).unwrap()).unwrap();
    for name in RUN {
        deliver(&env, name);
    }
    assert_eq!(costs(&env).len(), 4);
    // Cline rewrites it whole once the run is done.
    std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    let out = env.run(&["sessions", "--json"], b"");
    assert!(out.status.success());
    let got = costs(&env);
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!((got[4].1, got[4].3), (Some(1900), Some(45)));
    env.run(&["sessions", "--json"], b"");
    assert_eq!(costs(&env).len(), 5, "read again: nothing new");
}
