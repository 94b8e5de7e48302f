//! Factory Droid through the real binary, with payloads and a transcript
//! captured from Droid 0.225.2 by the end-to-end suite
//! (`tests/fixtures/real/factory/`, `tests/fixtures/transcripts/factory/`,
//! paths redacted; the log: the lines of the session's model requests). Issue
//! 16 items 10 and 11; issue 25 (tokens per response, from Droid's log).

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

/// Droid's log with the lines the real Droid wrote for the session's requests
/// (`tests/fixtures/transcripts/factory/droid-log-single.log`), after 5 MB
/// of another session's lines (more than one read's budget: the session's start is
/// found by its time); `upto`: only the first lines.
fn write_log(env: &Env, upto: usize) -> PathBuf {
    let log = env.user_home.join(".factory/logs/droid-log-single.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let text = std::fs::read_to_string(fixtures_dir().join("transcripts/factory/droid-log-single.log")).unwrap();
    let other = text.lines().next().unwrap().replace("\"sessionId\":\"", "\"sessionId\":\"x");
    let earlier = other.replacen("[2026-", "[2025-", 1) + "\n";
    let mine: String = text.lines().take(upto).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, earlier.repeat(6000) + &mine).unwrap();
    log
}

/// (tokens in, cache read, tokens out, model) of a Cost event.
type Cost = (Option<u32>, Option<u32>, Option<u32>, Value);

fn costs(env: &Env, id: &str) -> Vec<Cost> {
    let events = env.events(id);
    let costs = events.iter().filter(|e| e.kind == EventKind::Cost);
    costs.map(|e| (e.tokens_in, e.cache_read_tokens, e.tokens_out, e.payload["model"].clone())).collect()
}

/// What the end-to-end scenario's mock answered: prompt 4101 of which 1001 cached, 31 out; and so on.
fn scenario_costs() -> Vec<Cost> {
    (1..=7).map(|i| (Some(3000 + 100 * i), Some(1000 + i), Some(30 + i), json!("kz-droid-model"))).collect()
}

#[test]
fn each_model_response_in_droids_log_is_one_cost_event() {
    let env = Env::new();
    let stop = payload(&env, "Stop");
    let id = stop["session_id"].as_str().unwrap().to_string();
    let mut stop_here = stop.clone();
    stop_here["transcript_path"] = json!(droid_home(&env, &id));
    write_log(&env, usize::MAX);
    env.hook(&["stop", "--agent", "factory"], &stop_here);
    assert_eq!(costs(&env, &id), scenario_costs());
    let settings = fixtures_dir().join("transcripts/factory/session.settings.json");
    let totals: Value = serde_json::from_slice(&std::fs::read(settings).unwrap()).unwrap();
    let sum = |f: fn(&Cost) -> Option<u32>| costs(&env, &id).iter().map(|c| u64::from(f(c).unwrap())).sum::<u64>();
    assert_eq!(
        (json!(sum(|c| c.0)), json!(sum(|c| c.1)), json!(sum(|c| c.2))),
        (
            totals["tokenUsage"]["inputTokens"].clone(),
            totals["tokenUsage"]["cacheReadTokens"].clone(),
            totals["tokenUsage"]["outputTokens"].clone()
        ),
        "the session's totals in Droid's settings file"
    );
    env.hook(&["stop", "--agent", "factory"], &stop_here);
    assert_eq!(costs(&env, &id).len(), 7, "once");
}

#[test]
fn log_lines_droid_writes_after_its_last_hook_are_counted_later() {
    let env = Env::new();
    let stop = payload(&env, "Stop");
    let id = stop["session_id"].as_str().unwrap().to_string();
    let mut stop_here = stop.clone();
    stop_here["transcript_path"] = json!(droid_home(&env, &id));
    // At the Stop, the log has only the first request's lines (Droid writes it buffered).
    write_log(&env, 3);
    env.hook(&["stop", "--agent", "factory"], &stop_here);
    let mut end = payload(&env, "SessionEnd");
    end["transcript_path"] = stop_here["transcript_path"].clone();
    env.hook(&["session-end", "--agent", "factory"], &end);
    assert_eq!(costs(&env, &id), scenario_costs()[..1]);
    write_log(&env, usize::MAX);
    let out = env.run(&["sessions", "--json"], b"");
    assert!(out.status.success());
    assert_eq!(costs(&env, &id), scenario_costs(), "the model from the log's sendMessage lines, not the Droid home");
}

/// The Task tool's subagent as the real Droid ran it (`*-subagent.json`,
/// `transcripts/factory/subagent*`): a session of its own, whose transcript's
/// first line names its caller. Its transcript goes beside its caller's; its
/// log lines after the caller's (`with_subagent`) or not yet (the log as the
/// caller's Stop found it). Returns the subagent's id and transcript.
fn subagent(env: &Env, caller_transcript: &std::path::Path, with_subagent: bool) -> (String, PathBuf) {
    let start = payload(env, "SessionStart-subagent");
    let id = start["session_id"].as_str().unwrap().to_string();
    let transcript = caller_transcript.with_file_name(format!("{id}.jsonl"));
    std::fs::copy(fixtures_dir().join("transcripts/factory/subagent.jsonl"), &transcript).unwrap();
    let log = write_log(env, usize::MAX);
    if with_subagent {
        let lines = std::fs::read_to_string(fixtures_dir().join("transcripts/factory/subagent-log.log")).unwrap();
        let mut text = std::fs::read_to_string(&log).unwrap();
        text += &lines;
        std::fs::write(&log, text).unwrap();
    }
    (id, transcript)
}

/// The subagent's two responses (the end-to-end mock's `sub.1.read`, `sub.2.final`).
fn subagent_costs() -> Vec<Cost> {
    vec![
        (Some(3100), Some(2001), Some(41), json!("kz-droid-model")),
        (Some(3200), Some(2002), Some(42), json!("kz-droid-model")),
    ]
}

/// The caller's Stop, its session id and its transcript in the Droid home.
fn caller_stop(env: &Env) -> (Value, String, PathBuf) {
    let mut stop = payload(env, "Stop");
    let id = stop["session_id"].as_str().unwrap().to_string();
    let transcript = droid_home(env, &id);
    stop["transcript_path"] = json!(transcript);
    (stop, id, transcript)
}

/// Runs the subagent's hooks and the caller's SubagentStop and Stop, as Droid delivered them.
fn run_subagent_hooks(env: &Env, caller: &Value, sub_transcript: &std::path::Path) {
    for (args, event) in
        [(["session-start", "--agent"], "SessionStart-subagent"), (["stop", "--agent"], "Stop-subagent")]
    {
        let mut p = payload(env, event);
        p["transcript_path"] = json!(sub_transcript);
        env.hook(&[args[0], args[1], "factory"], &p);
    }
    let mut stop = payload(env, "SubagentStop-subagent");
    stop["transcript_path"] = caller["transcript_path"].clone();
    env.hook(&["subagent", "--agent", "factory"], &stop);
    env.hook(&["stop", "--agent", "factory"], caller);
}

#[test]
fn a_subagents_responses_are_counted_once_in_its_callers_session() {
    let env = Env::new();
    let (stop, id, caller_transcript) = caller_stop(&env);
    let (sub, sub_transcript) = subagent(&env, &caller_transcript, true);
    run_subagent_hooks(&env, &stop, &sub_transcript);
    let want: Vec<Cost> = scenario_costs().into_iter().chain(subagent_costs()).collect();
    assert_eq!(costs(&env, &id), want, "the caller's 7 responses, then its subagent's 2");
    assert_eq!(costs(&env, &sub), [], "none in the subagent's own session");
    assert_eq!(env.record(&sub).parent_session_id.as_deref(), Some(id.as_str()), "calling_session_id");
    let stops: Vec<_> = env.events(&id).into_iter().filter(|e| e.payload["phase"] == "subagent_stop").collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].kind, EventKind::Lifecycle);
    env.hook(&["stop", "--agent", "factory"], &stop);
    let out = env.run(&["sessions", "--json"], b"");
    assert!(out.status.success());
    assert_eq!(costs(&env, &id).len(), 9, "once");
}

#[test]
fn a_subagents_log_lines_written_after_the_last_hook_are_counted_later_in_its_callers_session() {
    let env = Env::new();
    let (stop, id, caller_transcript) = caller_stop(&env);
    let (sub, sub_transcript) = subagent(&env, &caller_transcript, false);
    run_subagent_hooks(&env, &stop, &sub_transcript);
    assert_eq!(costs(&env, &id), scenario_costs());
    // Droid flushes the subagent's lines later; a read again (no transcript path:
    // the Droid home is `$HOME/.factory`) takes them.
    subagent(&env, &caller_transcript, true);
    let out = env.run(&["sessions", "--json"], b"");
    assert!(out.status.success());
    let want: Vec<Cost> = scenario_costs().into_iter().chain(subagent_costs()).collect();
    assert_eq!(costs(&env, &id), want);
    assert_eq!(costs(&env, &sub), []);
}
