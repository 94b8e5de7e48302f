//! Codex's rollouts (docs/tokens-and-cost.md), through the real binary: the three rollouts
//! one e2e run of Codex 0.171 wrote (`tests/fixtures/transcripts/codex/`,
//! paths redacted, long instruction texts cut), replayed with real turn-end
//! payloads pointing at them. The mock served every response with
//! distinctive figures (`e2e/mock/openai_responses.py`, `USAGE`): those are
//! the expected values here, not what the parser reads.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const SESSION: &str = "01a22a1f-f3a9-7d33-bebf-30aa42664682";
const DAY: &str = "2026/11/30";
const MAIN: &str = "rollout-2026-11-30T01-44-26-01a22a1f-f3a9-7d33-bebf-30aa42664682.jsonl";
const SUBAGENT: &str = "rollout-2026-11-30T01-44-29-01a22a1f-fca9-71c2-984e-de0654b9eec7.jsonl";
const REVIEWER: &str = "rollout-2026-11-30T01-44-31-01a22a20-054e-70a2-959c-1da3f4e9720d.jsonl";

/// (response id, fresh input, cached, cache written, output, reasoning), as served.
type Served = (&'static str, u32, u32, u32, u32, u32);
/// The same, as recorded in a Cost event.
type Row = (String, u32, u32, u32, u32, u32);

const SERVED_MAIN: &[Served] = &[
    ("resp_kz_001_main_1_shell_ok", 1101, 2001, 301, 31, 11),
    ("resp_kz_002_main_2_shell_fail", 1202, 2102, 302, 32, 12),
    ("resp_kz_003_main_3_write", 1303, 2203, 303, 33, 13),
    ("resp_kz_005_main_4_edit", 1404, 2304, 304, 34, 14),
    ("resp_kz_006_main_5_parallel_reads", 1505, 2405, 305, 35, 15),
    ("resp_kz_007_main_6_spawn", 1606, 2506, 306, 36, 16),
    ("resp_kz_008_main_7_wait", 1707, 2607, 307, 37, 17),
    ("resp_kz_011_main_8_final", 1808, 2708, 308, 38, 18),
    ("resp_kz_012_resume_1_denied", 5101, 6001, 501, 51, 31),
    ("resp_kz_013_resume_2_escalate", 5202, 6102, 502, 52, 32),
    ("resp_kz_015_resume_3_big", 14303, 6203, 503, 53, 33),
    ("resp_kz_016_compact_summary", 7101, 8001, 601, 71, 41),
    ("resp_kz_017_resume_4_after_compact", 5404, 6304, 504, 54, 34),
    ("resp_kz_018_resume_5_final", 5505, 6405, 505, 55, 35),
    ("resp_kz_021_int_1_sleep", 9101, 9201, 901, 91, 71),
];
const SERVED_SUBAGENT: &[Served] =
    &[("resp_kz_009_sub_1_shell", 3101, 4001, 401, 41, 21), ("resp_kz_010_sub_2_final", 3202, 4102, 402, 42, 22)];
const SERVED_REVIEWER: &[Served] = &[("resp_kz_014_guardian_review", 8101, 0, 0, 81, 61)];

fn fixture(name: &str) -> String {
    let path = fixtures_dir().join("transcripts/codex/sessions").join(DAY).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `$CODEX_HOME/sessions/` in this env's HOME.
fn sessions(env: &Env) -> PathBuf {
    env.user_home.join(".codex/sessions")
}

/// Writes `text` as rollout `name` of day `day`, where Codex would.
fn put(env: &Env, day: &str, name: &str, text: &str) -> PathBuf {
    let dir = sessions(env).join(day);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn all_rollouts(env: &Env) -> PathBuf {
    put(env, DAY, SUBAGENT, &fixture(SUBAGENT));
    put(env, DAY, REVIEWER, &fixture(REVIEWER));
    put(env, DAY, MAIN, &fixture(MAIN))
}

/// A real turn-end payload of this session, pointing at `rollout`.
fn turn_end(env: &Env, event: &str, rollout: &Path) -> Value {
    let mut payload = env.fixture("real/codex", event);
    payload["session_id"] = json!(SESSION);
    payload["transcript_path"] = json!(rollout);
    payload
}

/// A Stop: each one its own occurrence (a different last message), so none
/// is taken for a repeated delivery of another and every one reads the rollouts.
fn stop(env: &Env, rollout: &Path) {
    static TURN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut payload = turn_end(env, "Stop", rollout);
    payload["last_assistant_message"] =
        json!(format!("turn {}", TURN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    env.hook(&["stop", "--agent", "codex"], &payload);
}

fn costs(env: &Env) -> Vec<Event> {
    env.events(SESSION).into_iter().filter(|e| e.kind == EventKind::Cost).collect()
}

fn costs_len(env: &Env) -> usize {
    costs(env).len()
}

fn figures(e: &Event) -> Row {
    let id = e.payload["response_id"].as_str().unwrap_or_default().to_string();
    let n = |v: Option<u32>| v.unwrap_or(u32::MAX);
    (id, n(e.tokens_in), n(e.cache_read_tokens), n(e.cache_creation_tokens), n(e.tokens_out), n(e.reasoning_tokens))
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

fn served(lists: &[&[Served]]) -> Vec<Row> {
    sorted(lists.iter().flat_map(|l| l.iter()).map(|r| (r.0.to_string(), r.1, r.2, r.3, r.4, r.5)).collect())
}

fn by_id<'a>(costs: &'a [Event], id: &str) -> &'a Event {
    costs.iter().find(|e| e.payload["response_id"] == id).unwrap_or_else(|| panic!("no Cost event for {id}"))
}

#[test]
fn every_response_of_every_thread_counts_once_with_the_served_figures() {
    let env = Env::new();
    let main = all_rollouts(&env);
    stop(&env, &main);
    let costs = costs(&env);
    // Inputs are split (Codex's input_tokens includes cached and written
    // tokens); the repeated token_count totals and the compacted line's copy
    // of the latest record count nothing.
    assert_eq!(sorted(costs.iter().map(figures).collect()), served(&[SERVED_MAIN, SERVED_SUBAGENT, SERVED_REVIEWER]));
    for e in &costs {
        assert_eq!((&e.source, e.payload["model"].as_str()), (&EventSource::Tail, Some("gpt-5.5")));
        assert!(e.payload.get("correction").is_none());
    }
    // gpt-5.5: $5 / M input and cache writes, $0.50 / M cached, $30 / M output.
    let first = by_id(&costs, "resp_kz_001_main_1_shell_ok");
    assert_eq!(first.cost_usd_e6, Some(8941), "1101×5 + 301×5 + 2001×0.5 + 31×30 µUSD, rounded");
    assert_eq!(first.context_used_tokens, Some(3403));
    assert_eq!(first.ts_ms, 1_796_003_067_537, "the record's own timestamp");
    let record = env.record(SESSION);
    assert_eq!((record.model.as_deref(), record.agent_version.as_deref()), (Some("gpt-5.5"), Some("0.171.0")));

    // The same Stop delivered again, another turn end, the session's end: nothing more.
    env.hook(&["stop", "--agent", "codex"], &turn_end(&env, "Stop", &main));
    env.hook(&["stop", "--agent", "codex"], &turn_end(&env, "Stop", &main));
    stop(&env, &main);
    env.hook(&["session-end", "--agent", "codex"], &turn_end(&env, "SessionEnd", &main));
    assert_eq!(costs_len(&env), costs.len());
}

#[test]
fn subagents_and_the_reviewer_belong_to_the_users_turn() {
    let env = Env::new();
    let main = all_rollouts(&env);
    stop(&env, &main);
    let costs = costs(&env);
    let turn = |id: &str| by_id(&costs, id).payload["turn"].as_str().unwrap().to_string();
    assert_eq!(
        turn("resp_kz_009_sub_1_shell"),
        turn("resp_kz_001_main_1_shell_ok"),
        "the subagent ran in run 1's turn"
    );
    assert_eq!(turn("resp_kz_014_guardian_review"), turn("resp_kz_012_resume_1_denied"), "the reviewer in run 2's");
    assert_ne!(turn("resp_kz_001_main_1_shell_ok"), turn("resp_kz_012_resume_1_denied"));
    let transcript = |id: &str| by_id(&costs, id).payload["transcript"].as_str().unwrap().to_string();
    assert!(transcript("resp_kz_014_guardian_review").ends_with(REVIEWER), "found beside the session's rollout");
}

#[test]
fn token_count_and_compacted_lines_are_not_responses() {
    let env = Env::new();
    // Only the lines that repeat figures: running totals (which reset after
    // compaction) and the compacted history with its latest record.
    let text: String = fixture(MAIN)
        .lines()
        .filter(|l| {
            l.contains("\"type\":\"session_meta\"")
                || l.contains("\"type\":\"turn_context\"")
                || l.contains("\"type\":\"token_count\"")
                || l.contains("\"type\":\"compacted\"")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(text.contains("\"latest_token_usage_record\"") && text.contains("resp_kz_016_compact_summary"));
    let main = put(&env, DAY, MAIN, &text);
    stop(&env, &main);
    assert_eq!(costs_len(&env), 0);
    assert_eq!(env.record(SESSION).agent_version.as_deref(), Some("0.171.0"));
}

#[test]
fn lines_written_after_the_stop_are_taken_at_the_next_turn_end() {
    let env = Env::new();
    let full = fixture(MAIN);
    // Stop fires while the rollout is half-written: cut inside the
    // compaction summary's record.
    let cut = full.find("\"response_id\":\"resp_kz_016_compact_summary\"").unwrap();
    let main = put(&env, DAY, MAIN, &full[..cut]);
    stop(&env, &main);
    let early: Vec<String> = costs(&env).iter().map(|e| figures(e).0).collect();
    assert_eq!(early.len(), 11, "the records before the cut: {early:?}");
    assert!(!early.iter().any(|id| id.contains("compact_summary")), "a half line is not read");
    std::fs::write(&main, &full).unwrap();
    env.hook(&["session-end", "--agent", "codex"], &turn_end(&env, "SessionEnd", &main));
    assert_eq!(sorted(costs(&env).iter().map(figures).collect()), served(&[SERVED_MAIN]));
}

#[test]
fn a_rollout_rewritten_whole_counts_nothing_twice() {
    let env = Env::new();
    let main = put(&env, DAY, MAIN, &fixture(MAIN));
    stop(&env, &main);
    std::fs::remove_file(&main).unwrap();
    put(&env, DAY, MAIN, &fixture(MAIN));
    stop(&env, &main);
    assert_eq!(sorted(costs(&env).iter().map(figures).collect()), served(&[SERVED_MAIN]));
}

#[test]
fn subagent_stop_reads_the_subagent_rollout_and_the_parent_does_not_again() {
    let env = Env::new();
    let sub = put(&env, DAY, SUBAGENT, &fixture(SUBAGENT));
    let mut payload = turn_end(&env, "SubagentStop", &sessions(&env).join(DAY).join(MAIN));
    payload["agent_transcript_path"] = json!(sub);
    env.hook(&["subagent", "--agent", "codex"], &payload);
    assert_eq!(sorted(costs(&env).iter().map(figures).collect()), served(&[SERVED_SUBAGENT]));
    let main = put(&env, DAY, MAIN, &fixture(MAIN));
    stop(&env, &main);
    assert_eq!(sorted(costs(&env).iter().map(figures).collect()), served(&[SERVED_MAIN, SERVED_SUBAGENT]));
}

#[test]
fn the_reviewer_is_found_by_its_session_even_a_day_later_and_other_sessions_are_not() {
    let env = Env::new();
    let main = put(&env, DAY, MAIN, &fixture(MAIN));
    // The reviewer of a session resumed the next day is written in that day's directory.
    put(&env, "2026/12/01", REVIEWER.replace("11-30", "12-01").as_str(), &fixture(REVIEWER));
    // Another session's reviewer beside ours, started later: not ours.
    let other = fixture(REVIEWER)
        .replace(SESSION, "01a22a2f-0000-7000-8000-000000000000")
        .replace("resp_kz_014_guardian_review", "resp_other_session");
    put(&env, DAY, "rollout-2026-11-30T02-00-00-01a22a2f-1111-7000-8000-000000000000.jsonl", &other);
    // And one naming our session but started before its rollout: not one of its threads.
    let before = fixture(REVIEWER).replace("resp_kz_014_guardian_review", "resp_before_the_session");
    put(&env, DAY, "rollout-2026-11-30T01-00-00-01a22a1f-0000-7000-8000-000000000000.jsonl", &before);
    stop(&env, &main);
    assert_eq!(sorted(costs(&env).iter().map(figures).collect()), served(&[SERVED_MAIN, SERVED_REVIEWER]));
}

#[test]
fn denied_and_interrupted_calls_end_as_errors_from_the_rollout() {
    let env = Env::new();
    let main = all_rollouts(&env);
    for call in ["call_kz_denied", "call_kz_perm", "call_kz_sleep", "call_kz_shell_fail", "call_kz_shell_ok"] {
        let mut pre = env.fixture("real/codex", "PreToolUse");
        pre["session_id"] = json!(SESSION);
        pre["transcript_path"] = json!(main);
        pre["tool_use_id"] = json!(call);
        env.hook(&["tool-use", "--agent", "codex"], &pre);
    }
    for call in ["call_kz_shell_fail", "call_kz_shell_ok"] {
        let mut post = env.fixture("real/codex", "PostToolUse");
        post["session_id"] = json!(SESSION);
        post["transcript_path"] = json!(main);
        post["tool_use_id"] = json!(call);
        env.hook(&["tool-use", "--agent", "codex"], &post);
    }
    stop(&env, &main);
    let events = env.events(SESSION);
    let tail: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error && e.source == EventSource::Tail)
        .map(|e| (e.tool_call_id.clone().unwrap(), e.payload["phase_note"].as_str().unwrap_or_default().to_string()))
        .collect();
    let calls: Vec<&str> = tail.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        calls,
        ["call_kz_denied", "call_kz_perm", "call_kz_sleep"],
        "the failed command has its own Error already"
    );
    assert!(tail[0].1.contains("rm is forbidden"), "{}", tail[0].1);
    assert!(tail[1].1.contains("rejected due to unacceptable risk"), "{}", tail[1].1);
    assert!(tail[2].1.contains("aborted by user"), "{}", tail[2].1);
    assert!(events.iter().filter(|e| e.kind == EventKind::Error).all(|e| e.tool.as_deref() == Some("Bash")));
    assert_eq!(events.last().unwrap().payload["session_errors"], 4);
    stop(&env, &main);
    assert_eq!(env.events(SESSION).iter().filter(|e| e.kind == EventKind::Error).count(), 4, "counted once");
}

#[test]
fn broken_rollout_lines_are_harmless() {
    let env = Env::new();
    let record = |id: Value, usage: Value| {
        json!({"timestamp": "2026-11-30T01:44:27.537Z", "type": "token_usage_record",
               "payload": {"response_id": id, "turn_id": "t", "usage": usage}})
        .to_string()
    };
    let lines = [
        fixture(MAIN).lines().next().unwrap().to_string(),
        "{\"type\":\"turn_context\",\"payload\":{\"model\":42}}".into(),
        "not json \"token_usage_record\"".into(),
        "[\"token_usage_record\"]".into(),
        "{\"type\":\"token_usage_record\",\"payload\":[1,2]}".into(),
        "{\"type\":\"token_usage_record\"}".into(),
        record(json!(7), json!({"input_tokens": 5})),
        record(json!(""), json!({"input_tokens": 5})),
        record(json!("r_missing_usage"), Value::Null),
        record(json!("r_bad"), json!({"input_tokens": -5, "cached_input_tokens": 1u64 << 50, "output_tokens": "9"})),
        // More cached than input (a rewritten or odd line): no negative input.
        record(json!("r_odd"), json!({"input_tokens": 10, "cached_input_tokens": 30, "output_tokens": 1})),
        "{\"type\":\"event_msg\",\"payload\":{\"type\":\"item_completed\",\"item\":{\"status\":\"failed\"}}}".into(),
        "{\"type\":\"response_item\",\"payload\":{\"type\":\"function_call_output\",\"output\":{\"aborted by user\":1}}}".into(),
    ];
    let main = put(&env, DAY, MAIN, &(lines.join("\n") + "\n{\"type\":\"token_usage_rec"));
    stop(&env, &main);
    let rows: Vec<_> = costs(&env).iter().map(figures).collect();
    assert_eq!(rows, [("r_bad".to_string(), 0, 0, 0, 0, 0), ("r_odd".to_string(), 0, 30, 0, 1, 0)]);
    assert!(costs(&env).iter().all(|e| e.payload["model"].is_null() && e.cost_usd_e6.is_none()), "no model named");
}
