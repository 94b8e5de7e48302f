//! OpenHands CLI through the real binary, with payloads captured from
//! OpenHands 1.16.0 by the end-to-end suite (`tests/fixtures/real/openhands/`,
//! paths redacted): its event in `event_type`, its directory in
//! `working_dir`, no call id; its tokens in the conversation's saved state
//! (`tests/fixtures/transcripts/openhands/base_state.json`, trimmed); and its
//! installer, which must not hide the user's own hooks.

mod common;

use common::*;
use serde_json::{Value, json};

fn payload(env: &Env, event: &str) -> Value {
    let mut p = fixture_in("real/openhands", event, &env.repo);
    p["working_dir"] = json!(env.repo);
    p
}

/// The PreToolUse OpenHands sent before the call a PostToolUse reports.
fn pre_of(env: &Env, post: &Value) -> Value {
    let mut pre = payload(env, "PreToolUse");
    pre["tool_name"] = post["tool_name"].clone();
    pre["tool_input"] = post["tool_input"].clone();
    pre
}

#[test]
fn a_run_is_recorded_with_derived_call_ids_failures_and_its_end() {
    let env = Env::new();
    let start = payload(&env, "SessionStart");
    let id = start["session_id"].as_str().unwrap().to_string();
    env.hook(&["session-start", "--agent", "openhands"], &start);
    env.hook(&["prompt", "--agent", "openhands"], &payload(&env, "UserPromptSubmit"));
    let results = ["PostToolUse", "PostToolUse-exit2", "PostToolUse-missing"];
    for name in results {
        let post = payload(&env, name);
        env.hook(&["tool-use", "--agent", "openhands"], &pre_of(&env, &post));
        env.hook(&["tool-use", "--agent", "openhands"], &post);
    }
    env.hook(&["stop", "--agent", "openhands"], &payload(&env, "Stop"));
    env.hook(&["session-end", "--agent", "openhands"], &payload(&env, "SessionEnd"));

    let events = env.events(&id);
    let calls: Vec<_> = events.iter().filter(|e| e.kind == EventKind::ToolCall).collect();
    assert_eq!(calls.len(), 3);
    let mut ends = Vec::new();
    for call in &calls {
        let id = call.tool_call_id.as_deref().expect("a derived call id");
        assert!(id.starts_with("derived-"), "{id}");
        let end: Vec<_> =
            events.iter().filter(|e| e.kind != EventKind::ToolCall && e.tool_call_id.as_deref() == Some(id)).collect();
        assert_eq!(end.len(), 1, "one result per call: {id}");
        ends.push(end[0].kind.clone());
    }
    assert_eq!(ends, [EventKind::ToolResult, EventKind::Error, EventKind::Error], "exit 2 and a missing file fail");
    let rec = env.record(&id);
    assert_eq!(rec.agent, "openhands", "recognised from the payload's own shape");
    assert_eq!(rec.status, SessionStatus::Done);
    assert_eq!(rec.workspace, env.repo.to_str().unwrap(), "the workspace is the payload's working_dir");
    let prompt = events.iter().find(|e| e.kind == EventKind::Message).expect("the prompt is a Message");
    assert_eq!(prompt.payload["type"], "user_prompt_submit");
}

/// The conversation's saved state as OpenHands rewrites it after a step: the
/// captured one (nine responses) with only its first `responses`, where the
/// hook finds it from the payload's session id.
fn write_state(env: &Env, session: &str, responses: usize) {
    let text = std::fs::read_to_string(fixtures_dir().join("transcripts/openhands/base_state.json")).unwrap();
    let mut state: Value = serde_json::from_str(&text).unwrap();
    let agent = &mut state["stats"]["usage_to_metrics"]["agent"];
    for list in ["token_usages", "response_latencies", "costs"] {
        agent[list].as_array_mut().unwrap().truncate(responses);
    }
    let dir = env.user_home.join(".openhands/conversations").join(session.replace('-', ""));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("base_state.json"), state.to_string()).unwrap();
}

#[test]
fn each_response_in_the_saved_state_is_one_cost_event_once() {
    let env = Env::new();
    let stop = payload(&env, "Stop");
    let id = stop["session_id"].as_str().unwrap().to_string();
    let costs = || -> Vec<Event> { env.events(&id).into_iter().filter(|e| e.kind == EventKind::Cost).collect() };
    // OpenHands's Stop names nothing but the conversation: every turn's is the
    // same bytes, turns quicker than the duplicate window included; the prompt
    // between two makes the second a new turn end, not a repeat.
    let prompt = payload(&env, "UserPromptSubmit");
    let stop_again = || {
        env.hook(&["prompt", "--agent", "openhands"], &prompt);
        env.hook(&["stop", "--agent", "openhands"], &stop);
    };
    env.hook(&["session-start", "--agent", "openhands"], &payload(&env, "SessionStart"));
    write_state(&env, &id, 8);
    stop_again();
    let first = costs();
    assert_eq!(first.len(), 8, "one per token usage");
    let c = &first[0];
    assert_eq!(c.payload["response_id"], "chatcmpl-kz-main-1-shell_ok");
    assert_eq!(c.payload["model"], "openai/gpt-4.1");
    assert_eq!(c.source, EventSource::Tail);
    // prompt_tokens 2101 includes the 101 read from the cache.
    assert_eq!((c.tokens_in, c.cache_read_tokens, c.cache_creation_tokens), (Some(2000), Some(101), Some(0)));
    assert_eq!((c.tokens_out, c.reasoning_tokens), (Some(31), Some(0)));
    assert_eq!((c.latency_ms, c.context_max_tokens), (Some(171), Some(1047576)), "its latency, by response id");
    assert!(c.cost_usd_e6.is_some_and(|usd| usd > 0), "priced as gpt-4.1");
    assert_eq!(env.record(&id).model.as_deref(), Some("openai/gpt-4.1"));

    stop_again();
    assert_eq!(costs().len(), 8, "read again unchanged: nothing counted twice");
    write_state(&env, &id, 8);
    stop_again();
    assert_eq!(costs().len(), 8, "rewritten with the same responses: nothing counted twice");
    write_state(&env, &id, 9);
    stop_again();
    let after: Vec<String> = costs().iter().map(|e| e.payload["response_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(after.len(), 9, "rewritten with one more response: exactly one more");
    assert_eq!(after[8], "chatcmpl-kz-resume-2-final");
    let mut unique = after.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 9, "{after:?}");
    let turn_ends = env.events(&id).iter().filter(|e| e.payload["phase"] == "turn_end").count();
    assert_eq!(turn_ends, 4, "every turn's end recorded, the same bytes each time");
}

#[test]
fn install_keeps_the_user_s_hooks_and_uninstall_removes_exactly_ours() {
    let env = Env::new();
    let dir = env.user_home.join(".openhands");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hooks.json");
    let theirs = json!({"hooks": {"Stop": [{"matcher": "*", "hooks": [{"type": "command", "command": "lint.sh"}]}]}});
    std::fs::write(&file, theirs.to_string()).unwrap();
    let out = env.run(&["install", "--agent", "openhands"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let stop = written["hooks"]["Stop"].to_string();
    assert!(stop.contains("lint.sh") && stop.contains("stop --agent openhands"), "{stop}");
    assert_eq!(written["hooks"].as_object().unwrap().len(), 6);
    let out = env.run(&["uninstall", "--agent", "openhands"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let after: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(after, theirs);
}

#[test]
fn events_at_the_top_level_are_left_untouched() {
    // OpenHands's own documented form: snake_case events at the top level,
    // which it ignores once a `hooks` object is there.
    let env = Env::new();
    let dir = env.user_home.join(".openhands");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hooks.json");
    let theirs = r#"{"pre_tool_use": [{"matcher": "terminal", "hooks": [{"command": "block.sh"}]}]}"#;
    std::fs::write(&file, theirs).unwrap();
    let out = env.run(&["install", "--agent", "openhands"], b"");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("\"pre_tool_use\" is a hook event outside \"hooks\""), "{said}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), theirs, "the file is left as it was");
}

#[test]
fn doctor_names_a_project_hooks_file_that_hides_the_user_s() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".openhands")).unwrap();
    assert!(env.run(&["install", "--agent", "openhands"], b"").status.success());
    let doctor = |cwd: &std::path::Path| {
        let mut cmd = env.command(&["doctor"]);
        cmd.current_dir(cwd);
        env.run_with(cmd, b"")
    };
    let clean = doctor(&env.repo);
    assert!(!String::from_utf8_lossy(&clean.stdout).contains("hides"), "{}", String::from_utf8_lossy(&clean.stdout));
    std::fs::create_dir_all(env.repo.join(".openhands")).unwrap();
    std::fs::write(env.repo.join(".openhands/hooks.json"), r#"{"stop": []}"#).unwrap();
    let hidden = doctor(&env.repo);
    let text = String::from_utf8_lossy(&hidden.stdout);
    assert!(!hidden.status.success() && text.contains("PROBLEM") && text.contains("hides"), "{text}");
}
