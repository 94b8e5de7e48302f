//! `sessions` and `show`, on sessions recorded through the real binary.

mod common;

use common::*;
use serde_json::{Value, json};

const CLAUDE: &str = "5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47";
const CURSOR: &str = "8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d";

fn recorded() -> Env {
    let env = Env::new();
    for event in
        ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"]
    {
        env.hook(&["event", "--agent", "claude"], &env.fixture("claude", event));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    for event in ["sessionStart", "beforeSubmitPrompt", "preToolUse", "postToolUse", "stop"] {
        env.hook(&["event", "--agent", "cursor"], &env.fixture("cursor", event));
    }
    env
}

fn kaizen(env: &Env, args: &[&str]) -> (bool, String, String) {
    let out = env.run(args, b"");
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn sessions_lists_newest_first_with_counts() {
    let env = recorded();
    let (ok, out, err) = kaizen(&env, &["sessions", "--json"]);
    assert!(ok && err.is_empty(), "{err}");
    let rows = json_of(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], CURSOR, "newest first");
    let claude = &rows[1];
    assert_eq!(claude["agent"], "claude");
    assert_eq!(claude["repo"], "repo");
    assert_eq!(claude["branch"], "main");
    assert_eq!(claude["status"], "Done");
    assert_eq!(claude["events"], 7);
    assert_eq!(claude["tool_calls"], 2, "the call, and the failure of a call that was never announced");
    assert_eq!(claude["errors"], 1);
    assert_eq!(claude["start_commit"], env.head().as_str());
    assert!(claude["duration_ms"].as_u64().unwrap() >= 10);
    assert_eq!(rows[0]["status"], "Idle");
    assert_eq!(rows[0]["tool_calls"], 2, "postToolUse's id differs from preToolUse's in the fixture: two calls");
}

#[test]
fn sessions_filters_by_agent_workspace_and_age() {
    let env = recorded();
    let count = |args: &[&str]| json_of(&kaizen(&env, args).1).as_array().unwrap().len();
    assert_eq!(count(&["sessions", "--json", "--agent", "cursor"]), 1);
    assert_eq!(count(&["sessions", "--json", "--agent", "gemini"]), 0);
    assert_eq!(count(&["sessions", "--json", "--workspace", env.repo.to_str().unwrap()]), 2);
    assert_eq!(count(&["sessions", "--json", "--workspace", env.user_home.to_str().unwrap()]), 0);
    assert_eq!(count(&["sessions", "--json", "--since", "1h"]), 2);
    let (ok, _, err) = kaizen(&env, &["sessions", "--since", "soon"]);
    assert!(!ok && err.contains("--since"));
}

#[test]
fn sessions_table_pipes_cleanly() {
    let env = recorded();
    let (ok, out, _) = kaizen(&env, &["sessions"]);
    assert!(ok);
    assert!(!out.contains('\x1b'), "no colour when piped");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("AGENT") && lines[0].contains("ERRORS"));
    assert!(lines[1].starts_with("cursor") && lines[2].starts_with("claude  5d8a3f1e  repo"), "{out}");
    assert!(lines[2].contains("Done") && lines[2].trim_end().ends_with('1'));
}

#[test]
fn show_prints_header_timeline_and_summary() {
    let env = recorded();
    let (ok, out, err) = kaizen(&env, &["show", "5d8a"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("session {CLAUDE}")));
    assert!(out.contains(&format!("{} → {}", &env.head()[..10], &env.head()[..10])));
    assert!(out.contains("clean → clean") && out.contains("model claude-sonnet-5"));
    assert!(out.contains("ToolCall") && out.contains("cargo test --workspace"));
    let failure = out.lines().find(|l| l.contains("Exit code 101")).unwrap();
    assert!(failure.starts_with('!'), "errors stand out: {failure}");
    assert!(out.contains("slowest") && out.contains("8.4s"));
    assert!(!out.contains('\x1b'));
}

#[test]
fn show_json_is_complete_and_stable() {
    let env = recorded();
    let (ok, out, _) = kaizen(&env, &["show", CURSOR, "--json"]);
    assert!(ok);
    let v = json_of(&out);
    assert_eq!(v["key"], CURSOR);
    assert_eq!(v["session"]["agent"], "cursor");
    assert_eq!(v["events"], 5);
    assert_eq!(v["skipped_lines"], 0);
    let timeline = v["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 5);
    for (i, step) in timeline.iter().enumerate() {
        assert_eq!(step["seq"], i);
        for key in ["ts_ms", "offset_ms", "kind", "type", "tool", "tool_call_id", "latency_ms", "error", "summary"] {
            assert!(step.get(key).is_some(), "{key}");
        }
        assert!(step["phase"].is_string() && step["subagent"].is_null(), "added: the phase, the subagent");
    }
    assert_eq!(timeline[2]["summary"], "npm install");
    assert_eq!(timeline[3]["latency_ms"], 5432);
    assert_eq!(
        v["tools"][0],
        json!({"tool": "Shell", "calls": 2, "errors": 0, "total_latency_ms": 5432, "max_latency_ms": 5432})
    );
    assert_eq!(v["slowest"][0]["latency_ms"], 5432);
    assert_eq!(v["subagents"], json!([]));
}

#[test]
fn torn_and_partial_files_are_read_around() {
    let env = recorded();
    let path = env.sessions_dir().join(format!("{CLAUDE}.jsonl"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"not an event\n{\"session_id\":\"5d8a\",\"seq\":9");
    std::fs::write(&path, bytes).unwrap();
    let (ok, out, err) = kaizen(&env, &["show", CLAUDE]);
    assert!(ok);
    assert!(out.contains("7 events"), "{out}");
    assert!(err.contains("skipped 2 unreadable line(s)"), "{err}");
    let (ok, out, _) = kaizen(&env, &["sessions", "--json"]);
    assert!(ok);
    let rows = json_of(&out);
    assert_eq!(rows.as_array().unwrap().len(), 2);

    std::fs::write(env.sessions_dir().join("broken.session.json"), "{\"id\": ").unwrap();
    let (ok, _, err) = kaizen(&env, &["sessions"]);
    assert!(ok && err.contains("skipped an unreadable record"), "{err}");
}

#[test]
fn show_needs_one_matching_session() {
    let env = recorded();
    let (ok, _, err) = kaizen(&env, &["show", "nope"]);
    assert!(!ok && err.contains("no session matches"));
    let (ok, _, err) = kaizen(&env, &["show", ""]);
    assert!(!ok && err.contains("session id"));
    let payload = json!({"session_id": "5d8a-other", "hook_event_name": "Stop", "cwd": env.repo});
    env.hook(&["stop"], &payload);
    let (ok, _, err) = kaizen(&env, &["show", "5d8a"]);
    assert!(!ok && err.contains("matches 2 sessions"), "{err}");
}

#[test]
fn ten_thousand_sessions_are_listed_from_records_and_last_lines() {
    let env = recorded();
    let dir = env.sessions_dir();
    let record = std::fs::read_to_string(dir.join(format!("{CLAUDE}.session.json"))).unwrap();
    let events = std::fs::read_to_string(dir.join(format!("{CLAUDE}.jsonl"))).unwrap();
    let last = events.lines().last().unwrap();
    for i in 0..10_000 {
        let id = format!("bulk-{i:05}");
        std::fs::write(dir.join(format!("{id}.session.json")), record.replace(CLAUDE, &id)).unwrap();
        std::fs::write(dir.join(format!("{id}.jsonl")), format!("{}\n", last.replace(CLAUDE, &id))).unwrap();
    }
    let (ok, out, _) = kaizen(&env, &["sessions", "--json", "--agent", "claude"]);
    assert!(ok);
    let rows = json_of(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 10_001);
    assert!(rows.iter().all(|r| r["events"] == 7 && r["errors"] == 1));
}

#[test]
fn a_record_planted_as_a_symlink_is_not_read_through() {
    let env = recorded();
    // A valid record somewhere else, linked in place of the Claude session's own.
    let elsewhere = env.tmp.path().join("elsewhere.json");
    let record_path = env.sessions_dir().join(format!("{}.session.json", key(CLAUDE)));
    let mut planted: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    planted["workspace"] = json!("/planted/through/a/link");
    std::fs::write(&elsewhere, planted.to_string()).unwrap();
    std::fs::remove_file(&record_path).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &record_path).unwrap();
    for args in [&["sessions", "--json"][..], &["show", CLAUDE, "--json"], &["report", "--by", "repo", "--json"]] {
        let (_, stdout, stderr) = kaizen(&env, args);
        assert!(!stdout.contains("/planted/through") && !stdout.contains("\"through\""), "{args:?}: {stdout}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let (_, _, stderr) = kaizen(&env, &["sessions"]);
    assert!(stderr.contains("skipped an unreadable record"), "said on stderr: {stderr}");
}
