//! Gemini CLI's transcript read at turn ends (docs/tokens-and-cost.md), through the real
//! binary, with a real session captured by the end-to-end suite
//! (`tests/fixtures/transcripts/gemini/`, paths redacted): run one (nine
//! responses, a subagent's two in `chats/<session>/<subagent>.jsonl`), run two
//! resumed (`$set.messages` re-writes the history, a 700,101-token prompt
//! makes the CLI compress it, a call denied by policy), run three resumed
//! again and failed (no response). Every record is written twice with the
//! same `id` (its tokens first, then its tool calls).

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

const SESSION: &str = "e9a258eb-fad0-46a8-9a3e-19bda5a1228a";
const MAIN: &str = "session-2026-11-30T01-40-e9a258eb.jsonl";
const SUBAGENT: &str = "800629ca-ab4f-4ab6-8e1c-83cbd434c3e7.jsonl";
const MODEL: &str = "gemini-3.8-flash";
/// The transcript's lines up to the end of run one; then run two's; then run three's.
const RUN_ONE: usize = 46;
const RUN_TWO: usize = 66;

/// `tokens.{input, cached, output, thoughts}` of every response, as the mock served them.
const RUN_ONE_MAIN: [(u64, u64, u64, u64); 9] = [
    (1101, 211, 31, 8),
    (1202, 222, 32, 9),
    (1303, 233, 33, 10),
    (1404, 244, 34, 11),
    (1505, 255, 35, 12),
    (1606, 266, 36, 13),
    (1707, 277, 37, 14),
    (1808, 288, 38, 15),
    (1909, 299, 39, 16),
];
const SUBAGENT_RESPONSES: [(u64, u64, u64, u64); 2] = [(2101, 0, 41, 12), (2202, 0, 42, 13)];
const RUN_TWO_MAIN: [(u64, u64, u64, u64); 3] = [(700_101, 300_011, 40, 17), (2111, 321, 41, 18), (2212, 332, 42, 19)];

fn fixture(name: &str) -> String {
    let path = fixtures_dir().join("transcripts/gemini").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn main_lines() -> Vec<String> {
    fixture(MAIN).split_inclusive('\n').map(String::from).collect()
}

struct Gemini {
    env: Env,
    chats: PathBuf,
}

impl Gemini {
    fn new() -> Gemini {
        let env = Env::new();
        let chats = env.user_home.join(".gemini/tmp/work/chats");
        std::fs::create_dir_all(&chats).unwrap();
        Gemini { env, chats }
    }

    fn main(&self) -> PathBuf {
        self.chats.join(MAIN)
    }

    fn append(&self, text: &str) {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(self.main()).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn subagent_written(&self) {
        std::fs::create_dir_all(self.chats.join(SESSION)).unwrap();
        std::fs::write(self.chats.join(SESSION).join(SUBAGENT), fixture(&format!("subagent-{SUBAGENT}"))).unwrap();
    }

    /// A real payload (`AfterAgent-run1`, `BeforeTool-denied`...) pointed at this env, and its subcommand.
    fn payload(&self, name: &str) -> (&'static str, Value) {
        let mut payload: Value = serde_json::from_str(&fixture(&format!("{name}.json"))).unwrap();
        payload["transcript_path"] = json!(self.main());
        payload["cwd"] = json!(self.env.repo);
        let subcommand = match payload["hook_event_name"].as_str().unwrap() {
            "AfterAgent" => "stop",
            "SessionEnd" => "session-end",
            _ => "tool-use",
        };
        (subcommand, payload)
    }

    fn hook(&self, name: &str) {
        let (subcommand, payload) = self.payload(name);
        self.env.hook(&[subcommand, "--agent", "gemini"], &payload);
    }

    /// The same delivery again, past the duplicate check: the transcript is read again.
    fn redeliver(&self, name: &str) {
        let (subcommand, payload) = self.payload(name);
        let mut command = self.env.command(&[subcommand, "--agent", "gemini"]);
        command.env("KAIZEN_HOOK_DEDUP_MS", "0");
        assert_quiet(&self.env.run_with(command, payload.to_string().as_bytes()));
    }

    fn costs(&self) -> Vec<Event> {
        self.env.events(SESSION).into_iter().filter(|e| e.kind == EventKind::Cost).collect()
    }

    /// (input, cached, output, thoughts) of each Cost event, in Gemini's own terms.
    fn figures(&self) -> Vec<(u64, u64, u64, u64)> {
        let mut figures: Vec<_> = self.costs().iter().map(as_gemini).collect();
        figures.sort();
        figures
    }
}

fn as_gemini(e: &Event) -> (u64, u64, u64, u64) {
    let n = |v: Option<u32>| u64::from(v.unwrap());
    let (cached, reasoning) = (n(e.cache_read_tokens), n(e.reasoning_tokens));
    (n(e.tokens_in) + cached, cached, n(e.tokens_out) - reasoning, reasoning)
}

fn sorted(groups: &[&[(u64, u64, u64, u64)]]) -> Vec<(u64, u64, u64, u64)> {
    let mut all: Vec<_> = groups.concat();
    all.sort();
    all
}

/// What the price snapshot says a response costs, in micro-USD rounded half up.
fn snapshot_cost(input: u64, cached: u64, output: u64) -> i64 {
    let prices: Value = serde_json::from_str(include_str!("../src/cost/prices.json")).unwrap();
    let pico = |key: &str| (prices[MODEL][key].as_f64().unwrap() * 1e12).round() as u128;
    let total = u128::from(input) * pico("input_cost_per_token")
        + u128::from(cached) * pico("cache_read_input_token_cost")
        + u128::from(output) * pico("output_cost_per_token");
    ((total + 500_000) / 1_000_000) as i64
}

#[test]
fn a_real_session_counts_every_response_once_with_the_spec_meanings() {
    let g = Gemini::new();
    let lines = main_lines();
    g.append(&lines[..RUN_ONE].concat());
    g.subagent_written();
    g.hook("AfterAgent-run1");
    assert_eq!(g.figures(), sorted(&[&RUN_ONE_MAIN, &SUBAGENT_RESPONSES]), "run one and its subagent");
    g.redeliver("AfterAgent-run1");
    g.hook("SessionEnd-run1");
    assert_eq!(g.costs().len(), 11, "the same turn end again, the next one: nothing more");

    // Resume (`$set.messages` re-writes run one's records, same ids, no tokens), compression, run two.
    g.append(&lines[RUN_ONE..RUN_TWO].concat());
    g.hook("BeforeTool-denied");
    g.hook("AfterAgent-run2");
    // Run three: resumed again (the history re-written once more), no response.
    g.append(&lines[RUN_TWO..].concat());
    g.hook("SessionEnd-run2");
    assert_eq!(g.figures(), sorted(&[&RUN_ONE_MAIN, &SUBAGENT_RESPONSES, &RUN_TWO_MAIN]));

    for e in g.costs() {
        let (prompt, cached, output, thoughts) = as_gemini(&e);
        let what = format!("{:?}", e.payload["response_id"]);
        assert_eq!(e.source, EventSource::Tail, "{what}");
        assert_eq!(e.payload["model"], MODEL, "{what}");
        assert_eq!(e.payload.get("correction"), None, "{what}: a record written again is no correction");
        assert_eq!(e.cache_creation_tokens, Some(0), "{what}");
        assert_eq!(e.context_used_tokens, Some(prompt as u32), "{what}: the whole prompt");
        assert_eq!(e.context_max_tokens, Some(1_048_576), "{what}: the model's window, from the snapshot");
        assert_eq!(e.cost_usd_e6, Some(snapshot_cost(prompt - cached, cached, output + thoughts)), "{what}");
        assert!(e.ts_exact, "{what}: the record's own timestamp");
    }
    let first = &g.costs()[0];
    assert_eq!(first.payload["response_id"], "90a00941-077c-4dcb-928d-23516528e766", "the record's id");
    assert_eq!((first.tokens_in, first.tokens_out, first.reasoning_tokens), (Some(890), Some(39), Some(8)));
    assert_eq!(first.cost_usd_e6, Some(830), "890 × 0.75 + 211 × 0.075 + 39 × 3.75 = 829.575 micro-USD");
    let from_subagent =
        g.costs().iter().filter(|e| e.payload["transcript"].as_str().unwrap().ends_with(SUBAGENT)).count();
    assert_eq!(from_subagent, 2, "the subagent's transcript, which no hook names, is read");
    assert_eq!(g.env.record(SESSION).model.as_deref(), Some(MODEL), "the record's model, from the transcript");
    assert_eq!(g.env.log(), "");
}

#[test]
fn a_call_denied_by_policy_is_recorded_failed_once_with_its_before_tools_call_id() {
    let g = Gemini::new();
    let lines = main_lines();
    g.append(&lines[..RUN_TWO].concat());
    g.hook("BeforeTool-denied");
    g.hook("AfterAgent-run2");
    g.hook("SessionEnd-run2");
    let events = g.env.events(SESSION);
    let call = events.iter().find(|e| e.kind == EventKind::ToolCall).expect("the denied call's BeforeTool");
    let failed: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::Error).collect();
    assert_eq!(failed.len(), 1, "one failure, read once: {failed:?}");
    assert_eq!((&failed[0].source, failed[0].tool.as_deref()), (&EventSource::Tail, Some("run_shell_command")));
    assert_eq!(failed[0].tool_call_id, call.tool_call_id, "the id kaizen-hook derived for the BeforeTool");
    assert_eq!(failed[0].payload["phase_note"], "Tool execution denied by policy.");
    assert_eq!(events.last().unwrap().payload["session_errors"], 1);
    // The missing file's read ended in an error too, but its AfterTool said so: no open call, nothing added.
}

#[test]
fn a_record_written_again_counts_once_and_grown_figures_get_a_correction() {
    let g = Gemini::new();
    let lines = main_lines();
    // Metadata, `$set`, the prompt, `$set`, the response's first write (its tokens).
    g.append(&lines[..5].concat());
    g.hook("AfterAgent-run1");
    assert_eq!(g.figures(), [(1101, 211, 31, 8)]);
    // The same record written again with its tool calls, same figures.
    assert!(lines[6].contains("\"toolCalls\"") && lines[6].contains("90a00941"));
    g.append(&lines[5..7].concat());
    g.hook("SessionEnd-run1");
    assert_eq!(g.costs().len(), 1, "same id, same figures: nothing more");
    // Were its figures ever to grow, only the difference is added.
    g.append(&lines[6].replace("\"output\":31", "\"output\":36").replace("\"thoughts\":8,", "\"thoughts\":9,"));
    g.hook("AfterAgent-run2");
    let costs = g.costs();
    assert_eq!(costs.len(), 2);
    let correction = &costs[1];
    assert_eq!(correction.payload["correction"], true);
    assert_eq!((correction.tokens_in, correction.cache_read_tokens), (Some(0), Some(0)));
    assert_eq!((correction.tokens_out, correction.reasoning_tokens), (Some(6), Some(1)));
}

#[test]
fn a_line_half_written_at_a_turn_end_is_taken_at_the_next() {
    let g = Gemini::new();
    let lines = main_lines();
    let (head, rest) = lines[4].split_at(lines[4].len() / 2);
    g.append(&(lines[..4].concat() + head));
    g.hook("AfterAgent-run1");
    assert_eq!(g.costs().len(), 0, "no line is read before it ends");
    g.append(&(rest.to_string() + &lines[5..RUN_ONE].concat()));
    g.hook("SessionEnd-run1");
    assert_eq!(g.figures(), sorted(&[&RUN_ONE_MAIN]));
}

#[test]
fn a_transcript_gemini_deleted_or_never_wrote_records_nothing_and_logs_nothing() {
    let g = Gemini::new();
    g.hook("AfterAgent-run1");
    assert_eq!(g.costs().len(), 0);
    assert_eq!(g.env.events(SESSION).len(), 1, "the turn end itself is recorded");
    assert_eq!(g.env.log(), "");
}
