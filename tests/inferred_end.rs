//! A session ends when its agent does (issue 16): a session whose last hook
//! was delivered by a process that is gone, after a turn end, is ended by
//! `sessions`, `show`, `report` and the next session's first hook: an inferred
//! end (a Lifecycle event with `payload.inferred: true`, dated at the last
//! event), written once, never while the agent lives. The "agent" here is a
//! real child process (`xargs`, which runs the hook and exits).

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// Delivers `payload` through a short-lived agent process: `xargs -a /dev/null`
/// runs the hook as its child with this stdin, then exits.
fn deliver_and_exit(env: &Env, args: &[&str], payload: &Value) {
    let mut cmd = env.sandbox(Command::new("xargs"));
    cmd.args(["-a", "/dev/null", BIN]).args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("xargs");
    child.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
}

fn event(env: &Env, session: &str, name: &str) -> Value {
    json!({"session_id": session, "hook_event_name": name, "cwd": env.repo, "prompt": "go", "tool_name": "Bash",
           "tool_input": {"command": "true"}, "tool_use_id": "t1"})
}

fn sessions(env: &Env) -> Vec<Value> {
    let out = env.run(&["sessions", "--json"], b"");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn inferred(env: &Env, session: &str) -> Vec<Event> {
    env.events(session).into_iter().filter(|e| e.payload.get("inferred") == Some(&json!(true))).collect()
}

#[test]
fn a_session_whose_agent_exited_after_a_turn_end_is_done_once() {
    let env = Env::new();
    deliver_and_exit(&env, &["prompt", "--agent", "qwen"], &event(&env, "s1", "UserPromptSubmit"));
    deliver_and_exit(&env, &["stop", "--agent", "qwen"], &event(&env, "s1", "Stop"));
    let last_ts = env.events("s1").iter().map(|e| e.ts_ms).max().unwrap();
    assert_eq!(env.record("s1").status, SessionStatus::Idle, "nothing is written before anyone looks");
    let listed = sessions(&env);
    assert_eq!(listed[0]["status"], json!("Done"));
    let record = env.record("s1");
    assert_eq!((record.status.clone(), record.ended_at_ms), (SessionStatus::Done, Some(last_ts)));
    let ends = inferred(&env, "s1");
    assert_eq!(ends.len(), 1);
    assert_eq!((ends[0].kind.clone(), ends[0].ts_ms, ends[0].seq), (EventKind::Lifecycle, last_ts, 2));
    assert_eq!(ends[0].payload["phase"], json!("session_end"));
    sessions(&env);
    assert!(env.run(&["show", "s1"], b"").status.success());
    assert!(env.run(&["report"], b"").status.success());
    assert_eq!(inferred(&env, "s1").len(), 1, "written once");
    assert_seq_contiguous(&env.events("s1"));
}

#[test]
fn never_while_the_agent_lives_nor_mid_turn_within_its_budget() {
    let env = Env::new();
    // The test process delivers: it is alive.
    env.hook(&["stop", "--agent", "qwen"], &event(&env, "alive", "Stop"));
    // A gone agent whose last event is a tool call, a moment ago: a turn may still be running.
    deliver_and_exit(&env, &["tool-use", "--agent", "qwen"], &event(&env, "mid", "PreToolUse"));
    sessions(&env);
    assert!(env.run(&["show", "alive"], b"").status.success());
    assert_eq!(env.record("alive").status, SessionStatus::Idle);
    assert_eq!(env.record("mid").status, SessionStatus::Running);
    assert!(inferred(&env, "alive").is_empty() && inferred(&env, "mid").is_empty());
}

#[test]
fn show_and_the_next_session_start_end_it_too() {
    let env = Env::new();
    deliver_and_exit(&env, &["stop", "--agent", "qwen"], &event(&env, "old", "Stop"));
    deliver_and_exit(&env, &["stop", "--agent", "qwen"], &event(&env, "other", "Stop"));
    let show = env.run(&["show", "old", "--json"], b"");
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["session"]["status"], json!("Done"), "show settles the session it shows");
    assert_eq!(env.record("other").status, SessionStatus::Idle);
    env.hook(&["session-start", "--agent", "qwen"], &event(&env, "new", "SessionStart"));
    assert_eq!(env.record("other").status, SessionStatus::Done, "the next session's start ends it");
    assert_eq!(inferred(&env, "other").len(), 1);
    assert_eq!(env.record("new").status, SessionStatus::Running);
}

#[test]
fn a_resumed_session_runs_again_after_its_inferred_end() {
    let env = Env::new();
    deliver_and_exit(&env, &["stop", "--agent", "qwen"], &event(&env, "s", "Stop"));
    sessions(&env);
    assert_eq!(env.record("s").status, SessionStatus::Done);
    env.hook(&["prompt", "--agent", "qwen"], &event(&env, "s", "UserPromptSubmit"));
    let record = env.record("s");
    assert_eq!((record.status.clone(), record.ended_at_ms), (SessionStatus::Running, None));
}

#[test]
fn what_the_agent_wrote_to_its_transcript_after_its_last_stop_is_counted_before_the_end() {
    let env = Env::new();
    let session = "4d49448a-2c31-4a1c-97ca-b1366e1805c2"; // the captured transcript's own session
    let captured = std::fs::read_to_string(fixtures_dir().join("transcripts/qwen/session.jsonl")).unwrap();
    let lines: Vec<&str> = captured.lines().collect();
    let last_response = lines.iter().rposition(|l| l.contains("\"qwen-code.api_response\"")).unwrap();
    let responses = lines.iter().filter(|l| l.contains("\"qwen-code.api_response\"")).count();
    // Qwen writes a turn's last response after its Stop hook has run.
    let transcript = env.user_home.join("session.jsonl");
    std::fs::write(&transcript, lines[..last_response].join("\n") + "\n").unwrap();
    let mut stop = event(&env, session, "Stop");
    stop["transcript_path"] = json!(transcript);
    deliver_and_exit(&env, &["stop", "--agent", "qwen"], &stop);
    let costs = |env: &Env| env.events(session).into_iter().filter(|e| e.kind == EventKind::Cost).count();
    assert_eq!(costs(&env), responses - 1, "the Stop counts what was written by then");
    std::fs::write(&transcript, lines.join("\n") + "\n").unwrap();

    assert_eq!(sessions(&env)[0]["status"], json!("Done"));
    let events = env.events(session);
    assert_eq!(costs(&env), responses, "the last response is counted once the agent is gone");
    let end = events.iter().position(|e| e.payload.get("inferred") == Some(&json!(true))).unwrap();
    assert_eq!(end, events.len() - 1, "the inferred end comes after what the transcript added");
    sessions(&env);
    assert_eq!(costs(&env), responses, "and only once");
    let seqs: Vec<u64> = env.events(session).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}

/// Qwen writes a turn's last response after its Stop, and may write after its
/// SessionEnd: the session's next prompt counts what came after the Stop
/// (before any turn end), and `report` what came after the end, each once.
#[test]
fn a_response_written_after_the_hooks_is_counted_at_the_next_prompt_or_by_report() {
    let env = Env::new();
    let session = "4d49448a-2c31-4a1c-97ca-b1366e1805c2";
    let captured = std::fs::read_to_string(fixtures_dir().join("transcripts/qwen/session.jsonl")).unwrap();
    let lines: Vec<&str> = captured.lines().collect();
    let last_response = lines.iter().rposition(|l| l.contains("\"qwen-code.api_response\"")).unwrap();
    let responses = lines.iter().filter(|l| l.contains("\"qwen-code.api_response\"")).count();
    let transcript = env.user_home.join("session.jsonl");
    let deliver = |sub: &str, name: &str| {
        let mut payload = event(&env, session, name);
        payload["transcript_path"] = json!(transcript);
        env.hook(&[sub, "--agent", "qwen"], &payload);
    };
    let costs = || env.events(session).into_iter().filter(|e| e.kind == EventKind::Cost).count();
    std::fs::write(&transcript, lines[..last_response].join("\n") + "\n").unwrap();
    deliver("stop", "Stop");
    assert_eq!(costs(), responses - 1);
    std::fs::write(&transcript, lines.join("\n") + "\n").unwrap();
    deliver("prompt", "UserPromptSubmit");
    assert_eq!(costs(), responses, "the next prompt counts the response written after the Stop");
    assert_eq!(env.events(session).last().unwrap().kind, EventKind::Cost, "after the prompt's own event");

    deliver("session-end", "SessionEnd");
    assert_eq!(env.record(session).status, SessionStatus::Done);
    let mut late: Value = serde_json::from_str(lines[last_response]).unwrap();
    late["systemPayload"]["uiEvent"]["response_id"] = json!("written-after-the-end");
    let mut file = std::fs::OpenOptions::new().append(true).open(&transcript).unwrap();
    writeln!(file, "{late}").unwrap();
    for _ in 0..2 {
        assert!(env.run(&["report", "--json"], b"").status.success());
        assert_eq!(costs(), responses + 1, "counted by report, once");
    }
    let seqs: Vec<u64> = env.events(session).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}
