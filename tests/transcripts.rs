//! Tokens, model and cost from a real Claude Code transcript (captured by the
//! end-to-end suite from the real CLI, paths redacted), through the real
//! binary at turn ends; the exactly-once traps; transcripts that are not
//! what they should be; and `report`, whose totals are the Cost events' sum.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SESSION: &str = "3403629c-38cc-4493-a7a8-8489c96a9b79";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts/claude").join(name)
}

/// The transcript laid out as Claude Code lays it out: `<session>.jsonl` and,
/// with its subagent, `<session>/subagents/agent-*.jsonl`.
fn lay_out(env: &Env, with_subagent: bool) -> PathBuf {
    let dir = env.tmp.path().join("projects");
    let subagents = dir.join(SESSION).join("subagents");
    std::fs::create_dir_all(&subagents).unwrap();
    if with_subagent {
        let name = "agent-a8de6fd91273c894d.jsonl";
        std::fs::copy(fixture(&format!("subagents/{name}")), subagents.join(name)).unwrap();
    }
    dir.join(format!("{SESSION}.jsonl"))
}

/// What the transcript says, read independently: each response once, with its largest figures.
fn expected(paths: &[PathBuf]) -> BTreeMap<String, (u64, u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for path in paths {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let m = &v["message"];
            if v["type"] != "assistant" || m["model"] == "<synthetic>" || v["isApiErrorMessage"] == true {
                continue;
            }
            let u = &m["usage"];
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            let figures =
                (n("input_tokens"), n("output_tokens"), n("cache_read_input_tokens"), n("cache_creation_input_tokens"));
            let entry = out.entry(m["id"].as_str().unwrap().to_string()).or_default();
            *entry = (entry.0.max(figures.0), entry.1.max(figures.1), entry.2.max(figures.2), entry.3.max(figures.3));
        }
    }
    out
}

/// A turn end: each one its own occurrence (a different last message), so
/// none is taken for a repeated delivery of another.
fn stop(env: &Env, transcript: &Path) -> std::process::Output {
    static TURN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let turn = TURN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let payload = json!({"session_id": SESSION, "transcript_path": transcript, "cwd": env.repo,
        "hook_event_name": "Stop", "stop_hook_active": false, "last_assistant_message": format!("turn {turn}")});
    env.hook(&["stop", "--agent", "claude"], &payload)
}

fn costs(env: &Env) -> Vec<Event> {
    env.events(SESSION).into_iter().filter(|e| e.kind == EventKind::Cost).collect()
}

fn recorded(costs: &[Event]) -> BTreeMap<String, (u64, u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for e in costs {
        let n = |v: Option<u32>| u64::from(v.unwrap_or(0));
        let entry = out.entry(e.payload["response_id"].as_str().unwrap().to_string()).or_default();
        entry.0 += n(e.tokens_in);
        entry.1 += n(e.tokens_out);
        entry.2 += n(e.cache_read_tokens);
        entry.3 += n(e.cache_creation_tokens);
    }
    out
}

#[test]
fn every_response_is_counted_once_with_its_final_figures() {
    let env = Env::new();
    let transcript = lay_out(&env, true);
    std::fs::copy(fixture("session.jsonl"), &transcript).unwrap();
    stop(&env, &transcript);
    let subagent = transcript.with_extension("").join("subagents/agent-a8de6fd91273c894d.jsonl");
    let want = expected(&[transcript.clone(), subagent]);
    let first = costs(&env);
    assert!(want.len() >= 15, "the capture has the scenario's responses: {}", want.len());
    assert_eq!(recorded(&first), want, "split lines counted once, with their final output_tokens");
    assert!(first.iter().all(|e| e.source == EventSource::Tail && e.payload["model"] == "claude-opus-5-5"));
    assert!(first.iter().all(|e| e.cost_usd_e6.is_some_and(|c| c > 0)), "claude-opus-5-5 has a price");
    let record = env.record(SESSION);
    assert_eq!((record.model.as_deref(), record.agent_version.as_deref()), (Some("claude-opus-5-5"), Some("2.1.332")));
    assert_seq_contiguous_all(&env.events(SESSION));

    stop(&env, &transcript);
    assert_eq!(costs(&env).len(), first.len(), "a turn end with nothing new in the transcript adds nothing");
    // A resumed session re-appends old lines with the same ids.
    let again = std::fs::read_to_string(fixture("session.jsonl")).unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(&transcript).unwrap();
    std::io::Write::write_all(&mut file, again.as_bytes()).unwrap();
    stop(&env, &transcript);
    assert_eq!(costs(&env).len(), first.len(), "re-appended lines count nothing");
}

fn assert_seq_contiguous_all(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "seq gap at {i}");
    }
}

#[test]
fn lines_written_after_the_stop_are_taken_at_the_next_one() {
    let env = Env::new();
    let transcript = lay_out(&env, false);
    let full = std::fs::read(fixture("session.jsonl")).unwrap();
    // Stop fires while the agent is mid-line: half the file, cut inside a line.
    let cut = full.len() / 2;
    std::fs::write(&transcript, &full[..cut]).unwrap();
    stop(&env, &transcript);
    let early = costs(&env).len();
    std::fs::write(&transcript, &full).unwrap();
    stop(&env, &transcript);
    assert!(early > 0 && early < costs(&env).len(), "{early} then {}", costs(&env).len());
    assert_eq!(recorded(&costs(&env)), expected(&[transcript]), "in two parts, the same totals");
}

#[test]
fn figures_that_grow_get_a_correction_not_a_second_count() {
    let env = Env::new();
    let transcript = lay_out(&env, false);
    let first = json!({"type": "assistant", "timestamp": "2026-11-30T00:00:00Z", "version": "2.1.332",
        "message": {"id": "msg_grow", "model": "claude-opus-5-5", "usage": {"input_tokens": 100, "output_tokens": 1}}});
    std::fs::write(&transcript, format!("{first}\n")).unwrap();
    stop(&env, &transcript);
    let mut grown = first.clone();
    grown["message"]["usage"]["output_tokens"] = json!(40);
    std::fs::write(&transcript, format!("{first}\n{grown}\n")).unwrap();
    stop(&env, &transcript);
    let c = costs(&env);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[1].payload["correction"].as_bool(), c[1].tokens_out, c[1].tokens_in),
        (Some(true), Some(39), Some(0))
    );
    assert_eq!(recorded(&c)["msg_grow"], (100, 40, 0, 0), "the sum is exact");
}

#[test]
fn an_unknown_model_keeps_its_tokens_and_has_no_price() {
    let env = Env::new();
    let transcript = lay_out(&env, false);
    let line = json!({"type": "assistant", "message": {"id": "msg_x", "model": "claude-from-the-future",
        "usage": {"input_tokens": 7, "output_tokens": 3, "cache_creation": {"ephemeral_1h_input_tokens": 0}}}});
    std::fs::write(&transcript, format!("{line}\n")).unwrap();
    stop(&env, &transcript);
    let c = costs(&env);
    assert_eq!((c[0].tokens_in, c[0].tokens_out, c[0].cost_usd_e6), (Some(7), Some(3), None));
}

#[test]
fn transcripts_that_are_not_what_they_should_be_never_block_or_break_the_event() {
    let env = Env::new();
    let dir = env.tmp.path().join("odd");
    std::fs::create_dir_all(dir.join("a-directory.jsonl")).unwrap();
    let fifo = dir.join("fifo.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let sparse = dir.join("sparse.jsonl");
    std::fs::File::create(&sparse).unwrap().set_len(2 << 30).unwrap();
    let garbage = dir.join("garbage.jsonl");
    let huge = json!({"type": "assistant", "message": {"id": "m", "model": "claude-opus-5-5",
        "usage": {"input_tokens": -5, "output_tokens": 99_999_999_999_999u64}}});
    std::fs::write(&garbage, format!("not json\n{{\"type\":\"assistant\"}}\n{huge}\n{{\"usage\": 3")).unwrap();
    let cases: Vec<PathBuf> = vec![
        dir.join("missing.jsonl"),
        dir.join("a-directory.jsonl"),
        fifo,
        PathBuf::from("/dev/zero"),
        sparse,
        garbage,
    ];
    for (i, path) in cases.iter().enumerate() {
        let started = Instant::now();
        let payload = json!({"session_id": format!("odd-{i}"), "transcript_path": path, "cwd": env.repo,
            "hook_event_name": "Stop"});
        env.hook(&["stop", "--agent", "claude"], &payload);
        assert!(started.elapsed().as_secs() < 5, "{}: took {:?}", path.display(), started.elapsed());
        let events = env.events(&format!("odd-{i}"));
        assert_eq!(events[0].payload["type"], "stop", "{}: the hook's own event is kept", path.display());
        for cost in events.iter().filter(|e| e.kind == EventKind::Cost) {
            assert_eq!(cost.tokens_in, Some(0), "a negative figure is not trusted");
            assert_eq!(cost.tokens_out, Some(0), "an absurd figure is not trusted");
        }
    }
}

#[test]
fn report_totals_are_the_sum_of_the_cost_events_and_commits_get_their_turns() {
    let env = Env::new();
    let transcript = lay_out(&env, false);
    let full = std::fs::read(fixture("session.jsonl")).unwrap();
    let prompt = |env: &Env| {
        let p = json!({"session_id": SESSION, "transcript_path": transcript, "cwd": env.repo,
            "hook_event_name": "UserPromptSubmit", "prompt": "go"});
        env.hook(&["prompt", "--agent", "claude"], &p);
    };
    // Turn 1 runs on the first commit and commits; turn 2 runs on the new one.
    prompt(&env);
    let first_commit = env.head();
    std::fs::write(&transcript, &full[..full.len() / 2]).unwrap();
    std::fs::write(env.repo.join("new.txt"), "x\n").unwrap();
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "work"]);
    let second_commit = env.head();
    stop(&env, &transcript);
    prompt(&env);
    std::fs::write(&transcript, &full).unwrap();
    stop(&env, &transcript);

    let sum: i64 = costs(&env).iter().filter_map(|e| e.cost_usd_e6).sum();
    let responses = costs(&env).len() as u64;
    for by in ["model", "day", "agent", "branch", "commit"] {
        let out = env.run_with(env.command(&["report", "--by", by, "--json"]), b"");
        assert!(out.status.success(), "{by}: {}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["total"]["cost_usd_e6"], sum, "--by {by}: total");
        assert_eq!(report["total"]["responses"], responses, "--by {by}: responses");
        let rows_sum: i64 =
            report["rows"].as_array().unwrap().iter().map(|r| r["ran"]["cost_usd_e6"].as_i64().unwrap()).sum();
        assert_eq!(rows_sum, sum, "--by {by}: the rows add up to the total");
    }
    let out = env.run_with(env.command(&["report", "--by", "commit", "--json"]), b"");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |commit: &str| report["rows"].as_array().unwrap().iter().find(|r| r["key"] == commit).cloned();
    let on_first = row(&first_commit).expect("the first turn ran on the first commit");
    let on_second = row(&second_commit).expect("the second commit has a row");
    assert!(on_first["ran"]["responses"].as_u64().unwrap() > 0);
    assert_eq!(on_second["produced"]["responses"], on_first["ran"]["responses"], "turn 1 produced the second commit");
    let human = env.run_with(env.command(&["report", "--by", "commit"]), b"");
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains(&first_commit[..10]) && text.contains("total"), "{text}");
    let show = env.run_with(env.command(&["show", SESSION, "--json"]), b"");
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["cost"]["cost_usd_e6"], sum, "show: the session's cost");
    let by = |field: &str, key: &str| -> i64 {
        shown[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key]["cost_usd_e6"].as_i64().or(r["cost_usd_e6"].as_i64()).unwrap())
            .sum()
    };
    assert_eq!(by("models", "ran"), sum, "show: per model, adding up");
    assert_eq!(by("turns", "sums"), sum, "show: per turn, adding up");
    // (The capture's response times predate this test's hook events: they all fall in the first turn.)
    assert!(!shown["turns"].as_array().unwrap().is_empty(), "turns with responses are listed");
    let cost_row = shown["timeline"].as_array().unwrap().iter().find(|t| t["kind"] == "Cost").unwrap();
    let summary = cost_row["summary"].as_str().unwrap();
    assert!(summary.starts_with("claude-opus-5-5: ") && summary.contains(" out, $"), "{summary}");
    let human = env.run_with(env.command(&["show", SESSION]), b"");
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("cost by model") && text.contains("claude-opus-5-5") && text.contains("cost by turn"),
        "{text}"
    );
    let sessions = env.run_with(env.command(&["sessions", "--json"]), b"");
    let rows: Value = serde_json::from_slice(&sessions.stdout).unwrap();
    assert_eq!(rows[0]["cost_usd_e6"], sum, "sessions shows the session's cost");
}
