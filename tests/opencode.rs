//! OpenCode, replayed from what its plugin (`hooks/opencode-kaizen-hook.js`)
//! sent kaizen-hook in a real OpenCode 1.18.33 run (`tests/fixtures/real/opencode/`),
//! through the real binary, as the plugin runs it.

mod common;

use common::*;
use serde_json::{Value, json};

const SESSION: &str = "ses_dd55878d6ffeItGA11WAJC3NNB";

fn deliver(env: &Env, name: &str) -> Value {
    let payload = env.fixture("real/opencode", name);
    let event = name.split('-').next().unwrap();
    env.hook(&["event", "--agent", "opencode", "--event", event], &payload);
    payload
}

const RUN: &[&str] = &[
    "session.created",
    "chat.message",
    "tool.execute.before-bash_ok",
    "tool.execute.after-bash_ok",
    "tool.execute.before-bash_fail",
    "tool.execute.after-bash_fail",
    "tool.execute.before-read_missing",
    "tool.error-read_missing",
    "tool.execute.before-read",
    "tool.execute.after-read",
    "session.idle",
];

#[test]
fn opencode_plugin_events_are_recorded_with_their_meaning() {
    let env = Env::new();
    for name in RUN {
        deliver(&env, name);
    }
    let events = env.events(SESSION);
    let seen: Vec<(EventKind, &str, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind.clone(), e.payload["phase"].as_str().unwrap(), e.tool_call_id.as_deref()))
        .collect();
    use EventKind::*;
    assert_eq!(
        seen,
        [
            (Lifecycle, "session_start", None),
            (Message, "prompt", None),
            (ToolCall, "tool_call", Some("call_kz_oc_bash_ok")),
            (ToolResult, "tool_result", Some("call_kz_oc_bash_ok")),
            (ToolCall, "tool_call", Some("call_kz_oc_bash_fail")),
            (Error, "tool_failure", Some("call_kz_oc_bash_fail")),
            (ToolCall, "tool_call", Some("call_kz_oc_read_missing")),
            (Error, "tool_failure", Some("call_kz_oc_read_missing")),
            (ToolCall, "tool_call", Some("call_kz_oc_read")),
            (ToolResult, "tool_result", Some("call_kz_oc_read")),
            (Lifecycle, "turn_end", None),
        ]
    );
    assert!(events.iter().all(|e| e.payload["agent"] == "opencode"));
    assert_eq!(events[5].payload["phase_note"], "exit code 2");
    assert!(events[7].payload["input"]["error"].as_str().unwrap().starts_with("File not found"));
    let record = env.record(SESSION);
    assert_eq!(record.status, SessionStatus::Idle);
    assert_eq!((record.model.as_deref(), record.agent_version.as_deref()), (Some("gpt-4.1"), Some("1.18.33")));
    assert_eq!(events.last().unwrap().payload["session_errors"], 2);
}

#[test]
fn opencode_payloads_are_recognised_without_the_flag() {
    let env = Env::new();
    let payload = env.fixture("real/opencode", "tool.execute.before-read");
    env.hook(&["event"], &payload);
    let event = env.events(SESSION).pop().unwrap();
    assert_eq!((event.payload["agent"].as_str(), event.kind), (Some("opencode"), EventKind::ToolCall));
}

#[test]
fn opencode_install_copies_the_plugin_and_uninstall_removes_it() {
    let env = Env::new();
    let out = env.run(&["install", "--agent", "opencode"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let plugin = env.user_home.join(".config/opencode/plugins/kaizen-hook.js");
    let text = std::fs::read_to_string(&plugin).unwrap();
    assert!(
        text.contains(&json!(BIN.to_string()).to_string())
            || text.contains(&json!(std::fs::canonicalize(BIN).unwrap()).to_string()),
        "{text}"
    );
    assert!(!text.contains("/home/YOU/"));
    let again = env.run(&["install", "--agent", "opencode"], b"");
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    let doctor = env.run(&["doctor"], b"");
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("registered for 10 of 10 events"));
    let mine = plugin.with_file_name("mine.js");
    std::fs::write(&mine, "export const Mine = async () => ({});\n").unwrap();
    env.run(&["uninstall", "--agent", "opencode"], b"");
    assert!(!plugin.exists() && mine.exists(), "only our plugin goes");
}
