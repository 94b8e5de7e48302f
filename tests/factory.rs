//! Factory Droid through the real binary, with payloads and a transcript
//! captured from Droid 0.225.2 by the end-to-end suite
//! (`tests/fixtures/real/factory/`, `tests/fixtures/transcripts/factory/`,
//! paths redacted). Issue 16 items 10 and 11.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::PathBuf;

fn payload(env: &Env, event: &str) -> Value {
    fixture_in("real/factory", event, &env.repo)
}

/// The session's transcript where Droid keeps it (`<home>/sessions/<project>/<id>.jsonl`),
/// and its custom model in `<home>/config.json`.
fn droid_home(env: &Env, session: &str) -> PathBuf {
    let home = env.user_home.join(".factory");
    let dir = home.join("sessions").join("-work-project");
    std::fs::create_dir_all(&dir).unwrap();
    let transcript = dir.join(format!("{session}.jsonl"));
    std::fs::copy(fixtures_dir().join("transcripts/factory/session.jsonl"), &transcript).unwrap();
    let config = json!({"custom_models": [{"model": "kz-droid-model", "base_url": "http://127.0.0.1:9/v1",
        "api_key": "dummy", "provider": "generic-chat-completion-api", "model_display_name": "kz-e2e"}]});
    std::fs::write(home.join("config.json"), config.to_string()).unwrap();
    transcript
}

/// The tool_use the transcript has for `call_id`: what Droid's PreToolUse carried.
fn transcript_input(call_id: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("transcripts/factory/session.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.pointer("/message/content").and_then(Value::as_array).cloned())
        .flatten()
        .find(|b| b["type"] == "tool_use" && b["id"] == call_id)
        .map(|b| b["input"].clone())
        .unwrap()
}

#[test]
fn failed_calls_are_taken_from_the_transcript_at_the_turn_end_and_the_model_named() {
    let env = Env::new();
    let stop = payload(&env, "Stop");
    let id = stop["session_id"].as_str().unwrap().to_string();
    let transcript = droid_home(&env, &id);
    let with_transcript = |mut p: Value| {
        p["transcript_path"] = json!(transcript);
        p
    };
    let mut ok = with_transcript(payload(&env, "PreToolUse-Execute"));
    ok["tool_input"] = transcript_input("call_kz_shell_ok");
    let mut fail = ok.clone();
    fail["tool_input"] = transcript_input("call_kz_shell_fail");
    let mut missing = with_transcript(payload(&env, "PreToolUse-Read"));
    missing["tool_input"] = transcript_input("call_kz_read_missing");
    let mut ok_result = with_transcript(payload(&env, "PostToolUse-Execute"));
    ok_result["tool_input"] = ok["tool_input"].clone();
    // What Droid delivered: the failed calls get no PostToolUse.
    env.hook(&["tool-use", "--agent", "factory"], &ok);
    env.hook(&["tool-use", "--agent", "factory"], &ok_result);
    env.hook(&["tool-use", "--agent", "factory"], &fail);
    env.hook(&["tool-use", "--agent", "factory"], &missing);
    env.hook(&["stop", "--agent", "factory"], &with_transcript(stop.clone()));
    let events = env.events(&id);
    let call_of = |input: &Value| {
        events.iter().find(|e| e.kind == EventKind::ToolCall && e.payload["input"]["tool_input"] == *input).unwrap()
    };
    for (call, kind) in [(&ok, EventKind::ToolResult), (&fail, EventKind::Error), (&missing, EventKind::Error)] {
        let call_id = call_of(&call["tool_input"]).tool_call_id.clone().unwrap();
        let ends: Vec<_> = events
            .iter()
            .filter(|e| e.tool_call_id.as_deref() == Some(&call_id) && e.kind != EventKind::ToolCall)
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(ends, [kind], "{}", call["tool_input"]);
    }
    let last = events.last().unwrap();
    assert_eq!(last.payload["session_errors"], json!(2), "the running totals count both failures");
    let record = env.record(&id);
    assert_eq!(record.model.as_deref(), Some("kz-droid-model"), "custom:kz-e2e-0, from ~/.factory/config.json");
    env.hook(&["stop", "--agent", "factory"], &with_transcript(stop));
    assert_eq!(env.events(&id).iter().filter(|e| e.kind == EventKind::Error).count(), 2, "once");
}

#[test]
fn install_registers_droid_and_doctor_knows_it() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".factory")).unwrap();
    let out = env.run(&["install", "--agent", "factory"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.hook(&["session-start", "--agent", "factory"], &payload(&env, "SessionStart"));
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success(), "{text}");
    assert!(text.contains(".factory/settings.json"), "{text}");
    let path = env.user_home.join(".factory/settings.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["hooks"]["hooksDisabled"] = json!(true);
    std::fs::write(&path, value.to_string()).unwrap();
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(!doctor.status.success() && text.contains("hooksDisabled"), "{text}");
}

#[test]
fn a_call_still_open_at_the_turn_end_failed_even_when_the_transcript_cannot_say() {
    let env = Env::new();
    let mut call = payload(&env, "PreToolUse-Read");
    call["transcript_path"] = json!(env.user_home.join("no-such-transcript.jsonl"));
    let mut stop = payload(&env, "Stop");
    stop["transcript_path"] = call["transcript_path"].clone();
    let id = stop["session_id"].as_str().unwrap().to_string();
    env.hook(&["tool-use", "--agent", "factory"], &call);
    env.hook(&["stop", "--agent", "factory"], &stop);
    let events = env.events(&id);
    let call_id = events[0].tool_call_id.clone().unwrap();
    let closed: Vec<_> = events.iter().skip(1).filter(|e| e.tool_call_id.as_deref() == Some(&call_id)).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].kind.clone(), closed[0].tool.as_deref()), (EventKind::Error, Some("Read")));
    env.hook(&["stop", "--agent", "factory"], &stop);
    assert_eq!(env.events(&id).iter().filter(|e| e.kind == EventKind::Error).count(), 1, "closed once");
}
