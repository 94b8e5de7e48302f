//! Qwen Code through the real binary, with payloads and a transcript captured
//! from Qwen Code 0.24.4 by the end-to-end suite (`tests/fixtures/real/qwen/`,
//! `tests/fixtures/transcripts/qwen/`, paths redacted). Issue 16 items 1-5.

mod common;

use common::*;
use serde_json::{Value, json};

fn payload(env: &Env, event: &str) -> Value {
    fixture_in("real/qwen", event, &env.repo)
}

fn settings(env: &Env) -> Value {
    serde_json::from_slice(&std::fs::read(env.user_home.join(".qwen/settings.json")).unwrap()).unwrap()
}

#[test]
fn install_registers_qwen_with_timeouts_in_milliseconds_and_doctor_knows_it() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".qwen")).unwrap();
    let out = env.run(&["install", "--agent", "qwen"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hooks = settings(&env)["hooks"].as_object().unwrap().clone();
    assert!(hooks.contains_key("UserPromptSubmit") && hooks.contains_key("Stop"));
    for (event, groups) in &hooks {
        // Qwen reads 5 as 5 ms: every hook was killed before it wrote anything.
        assert_eq!(groups[0]["hooks"][0]["timeout"], json!(5000), "{event}");
    }
    env.hook(&["prompt", "--agent", "qwen"], &payload(&env, "UserPromptSubmit"));
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success(), "{text}");
    assert!(text.contains(".qwen/settings.json") && !text.contains("not registered for any agent"), "{text}");
}

#[test]
fn doctor_names_disable_all_hooks() {
    let env = Env::new();
    std::fs::create_dir_all(env.user_home.join(".qwen")).unwrap();
    assert!(env.run(&["install", "--agent", "qwen"], b"").status.success());
    let mut value = settings(&env);
    value["disableAllHooks"] = json!(true);
    std::fs::write(env.user_home.join(".qwen/settings.json"), value.to_string()).unwrap();
    let doctor = env.run(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(!doctor.status.success() && text.contains("\"disableAllHooks\": true"), "{text}");
}

#[test]
fn an_empty_prompt_before_a_model_call_is_a_continuation_not_a_prompt() {
    let env = Env::new();
    let prompt = payload(&env, "UserPromptSubmit");
    let continuation = payload(&env, "UserPromptSubmit-continuation");
    assert_eq!(continuation["prompt"], json!(""));
    env.hook(&["prompt", "--agent", "qwen"], &prompt);
    env.hook(&["prompt", "--agent", "qwen"], &continuation);
    let events = env.events(prompt["session_id"].as_str().unwrap());
    let kinds: Vec<_> =
        events.iter().map(|e| (e.kind.clone(), e.payload["phase"].as_str().unwrap().to_string())).collect();
    assert_eq!(kinds, [(EventKind::Message, "prompt".to_string()), (EventKind::Lifecycle, "other".to_string())]);
    assert!(events[1].payload["phase_note"].as_str().unwrap().starts_with("continuation"));
}

#[test]
fn a_post_tool_use_whose_command_exited_2_is_a_failure() {
    let env = Env::new();
    // Qwen 0.24 sends a failed command as PostToolUseFailure; earlier releases as
    // PostToolUse with its exit status only in the text: that shape, from the real one.
    let mut result = payload(&env, "PostToolUse");
    let text = result["tool_response"]["llmContent"].as_str().unwrap().replace("Exit Code: 0", "Exit Code: 2");
    assert!(text.contains("Exit Code: 2"));
    result["tool_response"]["llmContent"] = json!(text);
    env.hook(&["tool-use", "--agent", "qwen"], &result);
    let ok = payload(&env, "PostToolUse");
    env.hook(&["tool-use", "--agent", "qwen"], &ok);
    let failed = payload(&env, "PostToolUseFailure");
    env.hook(&["tool-use", "--agent", "qwen"], &failed);
    let events = env.events(ok["session_id"].as_str().unwrap());
    let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, [EventKind::Error, EventKind::ToolResult, EventKind::Error]);
    assert_eq!(events[0].payload["phase_note"], json!("exit code 2"));
}

#[test]
fn model_version_and_tokens_come_from_the_transcript_at_the_turn_end() {
    let env = Env::new();
    let transcript = env.user_home.join("qwen-session.jsonl");
    std::fs::copy(fixtures_dir().join("transcripts/qwen/session.jsonl"), &transcript).unwrap();
    let mut stop = payload(&env, "Stop");
    stop["transcript_path"] = json!(transcript);
    let mut tool = payload(&env, "PreToolUse");
    tool["transcript_path"] = json!(transcript);
    let id = stop["session_id"].as_str().unwrap().to_string();
    env.hook(&["tool-use", "--agent", "qwen"], &tool);
    assert_eq!((env.record(&id).model, env.record(&id).agent_version), (None, None));
    env.hook(&["stop", "--agent", "qwen"], &stop);
    let record = env.record(&id);
    assert_eq!(record.model.as_deref(), Some("qwen3-coder-plus"));
    assert_eq!(record.agent_version.as_deref(), Some("0.24.4"));
    let costs: Vec<_> = env.events(&id).into_iter().filter(|e| e.kind == EventKind::Cost).collect();
    // Nine model calls over the two runs, each once, with the mock's prompt figures.
    let mut prompts: Vec<u32> = costs.iter().map(|e| e.tokens_in.unwrap() + e.cache_read_tokens.unwrap()).collect();
    prompts.sort_unstable();
    assert_eq!(prompts, [2101, 2202, 2303, 2404, 2505, 2606, 2707, 3101, 3202]);
    env.hook(&["stop", "--agent", "qwen"], &stop);
    let again = env.events(&id).into_iter().filter(|e| e.kind == EventKind::Cost).count();
    assert_eq!(again, costs.len(), "the same Stop again counts nothing twice");
}
