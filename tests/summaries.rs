//! `show`'s one-line summaries and its subagents, on payloads replayed
//! through the real binary: every fixture, captured (`tests/fixtures/real/`)
//! or documented, gets a short human line that says something specific; a
//! subagent's events are marked and counted apart.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;

/// Replays `payload` as `agent`'s `event` into a KAIZEN_HOME of its own and
/// returns `show --json` of every session it made.
fn replay_alone(env: &Env, home: &Path, agent: &str, event: &str, payload: &Value) -> Vec<Value> {
    let mut hook = env.command(&["event", "--agent", agent, "--event", event]);
    hook.env("KAIZEN_HOME", home);
    assert_quiet(&env.run_with(hook, payload.to_string().as_bytes()));
    let mut keys: Vec<String> = std::fs::read_dir(home.join("sessions"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_string_lossy().strip_suffix(".jsonl").map(String::from))
        .collect();
    keys.sort();
    keys.iter()
        .map(|key| {
            let mut show = env.command(&["show", key, "--json"]);
            show.env("KAIZEN_HOME", home);
            let out = env.run_with(show, b"");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}

/// The fixture's event name: its file stem before any `-` (`PostToolUse-apply_patch`).
fn event_of(stem: &str) -> &str {
    stem.split('-').next().unwrap()
}

/// The timeline entries of one fixture replayed on its own.
fn timeline_of(env: &Env, dir: &str, stem: &str) -> Vec<Value> {
    let agent = dir.trim_start_matches("real/");
    let home = env.tmp.path().join("homes").join(dir).join(stem);
    let shown = replay_alone(env, &home, agent, event_of(stem), &env.fixture(dir, stem));
    assert!(!shown.is_empty(), "{dir}/{stem}: no session recorded");
    shown.iter().flat_map(|s| s["timeline"].as_array().unwrap().clone()).collect()
}

fn summaries_of(env: &Env, dir: &str, stem: &str) -> Vec<String> {
    timeline_of(env, dir, stem).iter().map(|t| t["summary"].as_str().unwrap().to_string()).collect()
}

/// One line, short, and not JSON. A prompt may start with `[` (`[kz:main] ...`):
/// JSON is `{`, or `[` opening a list.
fn assert_human(summary: &str, what: &str) {
    assert!(!summary.trim().is_empty(), "{what}: empty summary");
    assert!(!summary.contains('\n') && !summary.contains('\r'), "{what}: {summary:?} is not one line");
    assert!(summary.chars().count() <= 300, "{what}: {} characters", summary.chars().count());
    let listish = ["[{", "[\"", "[[", "[]"].iter().any(|p| summary.starts_with(p));
    assert!(!summary.starts_with('{') && !listish, "{what}: raw JSON {summary}");
}

/// `real/<agent>` for each agent captured, then each agent's documented payloads.
fn fixture_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = fixture_names("real").into_iter().map(|a| format!("real/{a}")).collect();
    dirs.extend(fixture_names(".").into_iter().filter(|d| d != "real" && d != "transcripts"));
    dirs
}

#[test]
fn every_fixture_gets_a_one_line_human_summary_that_says_more_than_its_name() {
    let env = Env::new();
    // Nothing but the event's name is in these payloads.
    let bare = ["real/codex/Interrupt"];
    for dir in fixture_dirs() {
        for stem in fixture_names(&dir) {
            let what = format!("{dir}/{stem}");
            let timeline = timeline_of(&env, &dir, &stem);
            assert!(!timeline.is_empty(), "{what}: no event");
            for step in &timeline {
                let summary = step["summary"].as_str().unwrap_or_else(|| panic!("{what}: no summary"));
                assert_human(summary, &what);
                let name = step["type"].as_str().unwrap().replace('_', " ");
                assert!(summary != name || bare.contains(&what.as_str()), "{what}: only its name: {summary}");
            }
        }
    }
}

#[test]
fn summaries_say_the_command_the_file_the_answer_or_the_error() {
    let env = Env::new();
    let cases: &[(&str, &str, &str)] = &[
        // The ones the real agents showed empty or raw.
        ("real/gemini", "AfterAgent", "Run one is done: every step ran."),
        ("real/claude", "PermissionRequest", "Write: /work/project/denied.txt"),
        ("real/codex", "PermissionRequest", "Bash: touch escalated.txt"),
        ("real/copilot", "permissionRequest", "bash: echo kaizen-e2e-ok"),
        ("real/copilot", "permissionRequest--edit", "edit: /work/project/hello.txt"),
        ("real/copilot", "agentStop", "end_turn"),
        ("real/copilot", "agentStop--subagent", "the subagent's own turn_end: end_turn"),
        ("real/copilot", "subagentStart", "explore a65ccb63"),
        ("real/copilot", "subagentStop", "explore a65ccb63: Subagent finished: the title is e2e."),
        ("real/copilot", "errorOccurred", "model_call: Internal server error (scripted, first attempt only)"),
        ("real/copilot", "userPromptTransformed", "[kz:main] Run the scripted end-to-end scenario."),
        ("real/copilot", "preToolUse--task", "explore: Read the readme"),
        ("real/copilot", "postToolUse--exit2", "about-to-fail <shellId: 1 completed with exit code 2>"),
        ("real/codex", "PostModelRequest-failed", "sampling, failed, We’re currently experiencing high demand"),
        ("real/codex", "PostModelRequest", "sampling, completed, 3403 tokens in, 31 out"),
        ("real/codex", "notify-agent-turn-complete", "Part one is done"),
        ("real/gemini", "AfterModel", "STOP, 1101 tokens in, 31 out"),
        ("real/claude", "SubagentStart", "general-purpose a223ee1a"),
        ("real/claude", "StopFailure", "server_error: API Error: 529 Overloaded"),
        // The ones that were right stay right.
        ("real/claude", "PreToolUse", "echo kaizen-e2e-ok"),
        ("real/claude", "PostToolUse", "kaizen-e2e-ok"),
        ("real/claude", "PostToolUseFailure", "Exit code 2 about-to-fail"),
        ("real/copilot", "postToolUseFailure", "Path does not exist"),
        ("real/gemini", "AfterTool", "kaizen-ok"),
        ("claude", "PostToolBatch", "2 tool calls: Read, Read"),
        ("claude", "CwdChanged", "/home/dev/src/kaizen → /home/dev/src/kaizen/crates/core"),
        ("claude", "PermissionDenied", "Bash: git push --force origin main (Blocked by classifier)"),
        ("cursor", "afterFileEdit", "/Users/dev/projects/acme-api/src/auth.ts: 1 edit"),
        ("cursor", "afterMCPExecution", "42"),
        ("cursor", "beforeMCPExecution", "SELECT count(*) FROM users"),
        ("cursor", "postToolUse", "All tests passed"),
        ("gemini", "AfterTool", "exit code 1: 1 failing"),
    ];
    for (dir, stem, want) in cases {
        let summaries = summaries_of(&env, dir, stem);
        assert!(summaries.iter().any(|s| s.contains(want)), "{dir}/{stem}: {summaries:?} does not say {want:?}");
    }
}

/// One payload, derived from a real one, replayed on its own: its summaries.
fn summary_of(env: &Env, name: &str, agent: &str, event: &str, payload: &Value) -> String {
    let home = env.tmp.path().join("variants").join(name);
    let shown = replay_alone(env, &home, agent, event, payload);
    let summary = shown[0]["timeline"][0]["summary"].as_str().unwrap().to_string();
    assert_human(&summary, name);
    summary
}

#[test]
fn claude_file_and_agent_results_are_said_not_dumped() {
    let env = Env::new();
    let replayed = std::cell::Cell::new(0);
    let result = |tool: &str, input: Value, response: Value| {
        let mut p = env.fixture("real/claude", "PostToolUse");
        replayed.set(replayed.get() + 1);
        let name = format!("{tool}-{}", replayed.get());
        p["tool_name"] = json!(tool);
        p["tool_input"] = input;
        p["tool_response"] = response;
        summary_of(&env, &name, "claude", "PostToolUse", &p)
    };
    let edit = result(
        "Edit",
        json!({"file_path": "/work/project/hello.txt", "old_string": "hello", "new_string": "goodbye"}),
        json!({"filePath": "/work/project/hello.txt", "oldString": "hello", "newString": "goodbye",
               "originalFile": "hello\n", "structuredPatch": [{"oldStart": 1, "lines": ["-hello", "+goodbye"]}],
               "userModified": false, "replaceAll": false}),
    );
    assert_eq!(edit, "/work/project/hello.txt (edited)");
    let read = result(
        "Read",
        json!({"file_path": "/work/project/notes.txt"}),
        json!({"type": "text", "file": {"filePath": "/work/project/notes.txt", "content": "one\ntwo\nthree\n",
               "numLines": 3, "startLine": 1, "totalLines": 3}}),
    );
    assert_eq!(read, "/work/project/notes.txt (3 lines)");
    let write = result(
        "Write",
        json!({"file_path": "/work/project/created.txt", "content": "{\"a\": 1}"}),
        json!({"type": "create", "filePath": "/work/project/created.txt", "content": "{\"a\": 1}", "structuredPatch": []}),
    );
    assert_eq!(write, "/work/project/created.txt (created)");
    let agent = result(
        "Agent",
        json!({"description": "Echo from a subagent", "prompt": "Run echo", "subagent_type": "general-purpose"}),
        json!({"status": "completed", "prompt": "Run echo", "agentId": "a223ee1a61a7c3550",
               "content": [{"type": "text", "text": "Subagent finished: it printed from-subagent."}],
               "totalDurationMs": 900, "totalTokens": 120, "totalToolUseCount": 1}),
    );
    assert_eq!(agent, "Subagent finished: it printed from-subagent.");
    let glob = result(
        "Glob",
        json!({"pattern": "**/*.rs"}),
        json!({"filenames": ["src/a.rs", "src/b.rs", "src/c.rs", "src/d.rs"], "numFiles": 4, "truncated": false}),
    );
    assert_eq!(glob, "4 files: src/a.rs, src/b.rs, src/c.rs, …");
    let quiet = result("Bash", json!({"command": "true"}), json!({"stdout": "", "stderr": "", "interrupted": false}));
    assert_eq!(quiet, "true: no output");
    let json_out = result("Bash", json!({"command": "cat package.json"}), json!({"stdout": "{\"name\": \"demo\"}"}));
    assert_eq!(json_out, "name: demo", "JSON output is read, not dumped");
}

#[test]
fn gemini_subagent_calls_and_results_are_said_not_dumped() {
    let env = Env::new();
    let mut complete = env.fixture("real/gemini", "BeforeTool");
    complete["tool_name"] = json!("complete_task");
    complete["tool_input"] = json!({"result": {"response": "it printed from-subagent."}, "wait_for_previous": false});
    assert_eq!(summary_of(&env, "complete", "gemini", "BeforeTool", &complete), "it printed from-subagent.");

    let mut invoke = env.fixture("real/gemini", "AfterTool");
    invoke["tool_name"] = json!("invoke_agent");
    invoke["tool_input"] = json!({"agent_name": "generalist", "prompt": "Run `echo from-subagent`."});
    invoke["tool_response"] = json!({
        "llmContent": [{"text": "Subagent 'generalist' finished.\nTermination Reason: GOAL\nResult:\n{\"response\": \"x\"}"}],
        "returnDisplay": {"isSubagentProgress": true, "agentName": "generalist", "recentActivity": [],
                          "state": "completed", "result": "{\n  \"response\": \"it printed from-subagent.\"\n}",
                          "terminateReason": "GOAL"}});
    assert_eq!(summary_of(&env, "invoke", "gemini", "AfterTool", &invoke), "it printed from-subagent.");
    let mut call = env.fixture("real/gemini", "BeforeTool");
    call["tool_name"] = json!("invoke_agent");
    call["tool_input"] = invoke["tool_input"].clone();
    assert_eq!(summary_of(&env, "invoke-call", "gemini", "BeforeTool", &call), "generalist: Run `echo from-subagent`.");

    let mut missing = env.fixture("real/gemini", "AfterTool");
    missing["tool_name"] = json!("read_file");
    missing["tool_response"] = json!({"llmContent": "", "returnDisplay": "", "error": {"message": "File not found: x", "type": "file_not_found"}});
    assert_eq!(summary_of(&env, "missing", "gemini", "AfterTool", &missing), "File not found: x");
}

#[test]
fn a_failure_says_why_it_is_one() {
    let env = Env::new();
    let rollout = env.tmp.path().join("rollout.jsonl");
    let item = json!({"type": "CommandExecution", "id": "call_kz_shell_fail", "status": "failed", "exit_code": 2});
    let line = json!({"type": "event_msg", "payload": {"type": "item_completed", "item": item}});
    std::fs::write(&rollout, format!("{line}\n")).unwrap();
    let mut failed = env.fixture("real/codex", "PostToolUse-failed-exit-2");
    failed["transcript_path"] = json!(rollout);
    assert_eq!(summary_of(&env, "codex-exit-2", "codex", "PostToolUse", &failed), "exit code 2: kaizen-e2e-fail");

    let mut summariser = env.fixture("real/claude", "SubagentStop");
    summariser["agent_type"] = json!("");
    summariser["last_assistant_message"] = json!("The user ran the scenario.");
    assert_eq!(
        summary_of(&env, "summariser", "claude", "SubagentStop", &summariser),
        "compaction summary: a SubagentStop with no agent type: The user ran the scenario."
    );
}

fn kaizen(env: &Env, args: &[&str]) -> String {
    let out = env.run(args, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A Claude session with a subagent that runs two commands (one fails), and
/// the compaction summariser's SubagentStop, which is no subagent.
fn claude_with_a_subagent(env: &Env) -> String {
    let at = |event: &str| env.fixture("real/claude", event);
    let sub = |mut p: Value| {
        p["agent_id"] = json!("a223ee1a61a7c3550");
        p["agent_type"] = json!("general-purpose");
        p
    };
    let mut agent_call = at("PreToolUse");
    agent_call["tool_name"] = json!("Agent");
    agent_call["tool_use_id"] = json!("toolu_kz_agent");
    agent_call["tool_input"] = json!({"description": "Echo", "prompt": "Run echo", "subagent_type": "general-purpose"});
    let mut sub_call = sub(at("PreToolUse"));
    sub_call["tool_use_id"] = json!("toolu_kz_sub_bash");
    let mut sub_result = sub(at("PostToolUse"));
    sub_result["tool_use_id"] = json!("toolu_kz_sub_bash");
    let mut sub_failure = sub(at("PostToolUseFailure"));
    sub_failure["tool_use_id"] = json!("toolu_kz_sub_fail");
    let mut summariser = at("SubagentStop");
    summariser["agent_id"] = json!("acompact1");
    summariser["agent_type"] = json!("");
    let steps = [
        at("SessionStart"),
        at("PreToolUse"),
        at("PostToolUse"),
        agent_call,
        at("SubagentStart"),
        sub_call,
        sub_result,
        sub_failure,
        at("SubagentStop"),
        summariser,
        at("Stop"),
    ];
    for payload in &steps {
        env.hook(&["event", "--agent", "claude"], payload);
    }
    steps[0]["session_id"].as_str().unwrap().to_string()
}

#[test]
fn show_counts_each_subagent_apart_and_marks_its_events() {
    let env = Env::new();
    let session = claude_with_a_subagent(&env);
    let v: Value = serde_json::from_str(&kaizen(&env, &["show", &session, "--json"])).unwrap();
    assert_eq!(
        v["subagents"],
        json!([{"id": "a223ee1a61a7c3550", "type": "general-purpose", "events": 5, "tool_calls": 2, "errors": 1,
                "offset_ms": v["subagents"][0]["offset_ms"], "duration_ms": v["subagents"][0]["duration_ms"],
                "tools": [{"tool": "Bash", "calls": 2, "errors": 1, "total_latency_ms": 298, "max_latency_ms": 174}]}]),
        "the summariser's SubagentStop is no subagent"
    );
    let timeline = v["timeline"].as_array().unwrap();
    let marked: Vec<u64> =
        timeline.iter().filter(|t| !t["subagent"].is_null()).map(|t| t["seq"].as_u64().unwrap()).collect();
    assert_eq!(marked, [4, 5, 6, 7, 8]);
    assert_eq!(timeline[5]["subagent"], json!({"id": "a223ee1a61a7c3550", "type": "general-purpose"}));
    assert_eq!((timeline[9]["phase"].as_str(), &timeline[9]["subagent"]), (Some("other"), &Value::Null));
    assert_eq!(timeline[3]["summary"], "general-purpose: Echo", "the parent's Agent call is the parent's");
    let bash = v["tools"].as_array().unwrap().iter().find(|t| t["tool"] == "Bash").unwrap();
    assert_eq!((&bash["calls"], &bash["errors"]), (&json!(3), &json!(1)), "tools: the whole session's calls");

    let human = kaizen(&env, &["show", &session]);
    let sub_line = human.lines().find(|l| l.contains("wc") || l.contains("↳ Bash")).unwrap();
    assert!(sub_line.contains("(general-purpose) echo kaizen-e2e-ok"), "{sub_line}");
    assert!(human.contains("tools (the subagents' calls included)"), "{human}");
    let section = human.split("\nsubagents\n").nth(1).expect("a subagents section");
    let row = section.lines().next().unwrap();
    assert!(row.contains("general-purpose") && row.contains("a223ee1a61") && row.contains("5 events"), "{row}");
    assert!(row.contains("2 calls") && row.contains("1 failed"), "{row}");
    assert!(section.lines().nth(1).unwrap().trim_start().starts_with("Bash"), "{section}");
}

#[test]
fn copilot_subagent_deliveries_are_one_subagent_of_the_parent() {
    let env = Env::new();
    let events = [
        ("sessionStart", "sessionStart"),
        ("preToolUse--task", "preToolUse"),
        ("subagentStart", "subagentStart"),
        ("userPromptSubmitted--subagent", "userPromptSubmitted"),
        ("preToolUse--subagent", "preToolUse"),
        ("postToolUse--subagent", "postToolUse"),
        ("agentStop--subagent", "agentStop"),
        ("subagentStop", "subagentStop"),
    ];
    let mut session = String::new();
    for (stem, event) in events {
        let payload = env.fixture("real/copilot", stem);
        session = payload["sessionId"].as_str().unwrap().to_string();
        env.hook(&["event", "--agent", "copilot", "--event", event], &payload);
    }
    let v: Value = serde_json::from_str(&kaizen(&env, &["show", &session, "--json"])).unwrap();
    let subs = v["subagents"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(
        (&subs[0]["type"], &subs[0]["events"], &subs[0]["tool_calls"]),
        (&json!("explore"), &json!(6), &json!(1))
    );
}

#[test]
fn a_session_without_subagents_has_an_empty_list_and_no_section() {
    let env = Env::new();
    for event in ["SessionStart", "PreToolUse", "PostToolUse", "Stop"] {
        env.hook(&["event", "--agent", "claude"], &env.fixture("real/claude", event));
    }
    let session = env.fixture("real/claude", "Stop")["session_id"].as_str().unwrap().to_string();
    let v: Value = serde_json::from_str(&kaizen(&env, &["show", &session, "--json"])).unwrap();
    assert_eq!(v["subagents"], json!([]));
    assert!(v["timeline"].as_array().unwrap().iter().all(|t| t["subagent"].is_null()));
    let human = kaizen(&env, &["show", &session]);
    assert!(!human.contains("subagents") && !human.contains('↳') && human.contains("\ntools\n"), "{human}");
}
