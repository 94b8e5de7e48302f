//! `report` over generated histories: the streamed and cached figures equal
//! a brute-force computation over every event, parsed whole, for every
//! grouping, period and filter; a cache that is stale, lost or garbage never
//! changes a number; sessions still being written are read as they are.

mod common;

use common::*;
use kaizen_hook::event::{Event, EventKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const DAY: u64 = 86_400_000;
const BASE: u64 = 1_790_000_000_000;
const AGENTS: [&str; 4] = ["claude", "codex", "gemini", "copilot"];
const TOOLS: [&str; 4] = ["Bash", "Read", "Edit", "Grep"];

/// A small xorshift: the same history on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One session's lines: turns of a prompt, tool calls and results, model
/// responses (some read late, some unpriced or corrections) and a turn end
/// that may land on a new commit.
fn session_lines(rng: &mut Rng, id: &str, start: u64) -> (Vec<String>, u64) {
    let mut lines = Vec::new();
    let mut ts = start;
    let mut seq = 0;
    let mut commit = format!("c{:03}", rng.below(12));
    let branch = ["main", "feat/x", "fix, \"quoted\""][rng.below(3) as usize];
    let mut push = |lines: &mut Vec<String>, ts: u64, kind: &str, fields: Value, payload: Value| {
        lines.push(event_line(id, seq, ts, kind, fields, payload));
        seq += 1;
    };
    let context = |commit: &str| json!({"commit": commit, "branch": branch});
    let turns = 1 + rng.below(5);
    for turn in 0..turns {
        let phase = if turn == 0 { "session_start" } else { "prompt" };
        push(
            &mut lines,
            ts,
            "Lifecycle",
            json!({}),
            json!({"type": phase, "phase": phase, "context": context(&commit)}),
        );
        for call in 0..rng.below(6) {
            ts += 1000 + rng.below(400_000);
            let tool = TOOLS[rng.below(4) as usize];
            let call_id = format!("{id}-{turn}-{call}");
            let recorded_call = rng.chance(85);
            if recorded_call {
                let fields = json!({"tool": tool, "tool_call_id": call_id});
                push(&mut lines, ts, "ToolCall", fields, json!({"phase": "tool_call", "context": context(&commit)}));
            }
            ts += rng.below(90_000);
            let failed = rng.chance(15);
            let fields = json!({"tool": tool, "tool_call_id": call_id, "latency_ms": rng.below(60_000)});
            let (kind, phase) = if failed { ("Error", "tool_failure") } else { ("ToolResult", "tool_result") };
            push(&mut lines, ts, kind, fields, json!({"phase": phase, "context": context(&commit)}));
        }
        for _ in 0..rng.below(4) {
            ts += 1 + rng.below(200_000);
            let model = [json!("m-large"), json!("m-small"), json!(null)][rng.below(3) as usize].clone();
            let exact = rng.chance(70);
            // A response read late carries its own, earlier time.
            let at = if exact && rng.chance(20) { ts.saturating_sub(rng.below(3 * 3_600_000)) } else { ts };
            let fields = json!({"ts_exact": exact, "source": "Tail", "tokens_in": rng.below(50_000),
                "tokens_out": rng.below(5_000), "cache_read_tokens": rng.below(100_000),
                "cost_usd_e6": if rng.chance(90) { json!(rng.below(40_000)) } else { json!(null) }});
            let payload = json!({"model": model, "correction": rng.chance(5)});
            push(&mut lines, at, "Cost", fields, payload);
        }
        if rng.chance(40) {
            commit = format!("c{:03}", rng.below(12));
        }
        ts += 1 + rng.below(60_000);
        let failed_turn = rng.chance(10);
        let (kind, phase) = if failed_turn { ("Error", "turn_failure") } else { ("Lifecycle", "turn_end") };
        push(&mut lines, ts, kind, json!({}), json!({"phase": phase, "context": context(&commit)}));
        ts += rng.below(2 * 3_600_000);
    }
    (lines, ts)
}

struct History {
    env: Env,
}

impl History {
    /// `n` sessions over ten days; some still running, some with a torn tail.
    fn generate(n: usize, seed: u64) -> History {
        let env = Env::new();
        std::fs::create_dir_all(env.sessions_dir()).unwrap();
        let mut rng = Rng(seed);
        for i in 0..n {
            let id = format!("gen-{i:04}");
            let start = BASE + rng.below(10 * DAY);
            let (lines, end) = session_lines(&mut rng, &id, start);
            let mut text = lines.concat();
            if rng.chance(8) {
                text.push_str("{\"session_id\": \"torn");
            }
            let files = env.sessions_dir();
            std::fs::write(files.join(format!("{id}.jsonl")), text).unwrap();
            let running = rng.chance(20);
            let agent = AGENTS[rng.below(4) as usize];
            let workspace = format!("/work/repo{}", rng.below(3));
            let started_on = ["main", "feat/x"][rng.below(2) as usize];
            let record = json!({"id": id, "agent": agent,
                "model": null, "workspace": workspace, "started_at_ms": start,
                "ended_at_ms": if running { json!(null) } else { json!(end) },
                "status": if running { "Running" } else { "Done" }, "trace_path": "",
                "start_commit": null, "end_commit": null, "branch": started_on,
                "dirty_start": null, "dirty_end": null, "repo_binding_source": null, "prompt_fingerprint": null,
                "parent_session_id": null, "agent_version": null, "os": null, "arch": null, "repo_file_count": null,
                "repo_total_loc": null});
            std::fs::write(files.join(format!("{id}.session.json")), record.to_string()).unwrap();
        }
        History { env }
    }

    fn report(&self, args: &[&str]) -> Value {
        let mut all = vec!["report", "--json"];
        all.extend_from_slice(args);
        let out = self.env.run(&all, b"");
        assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Every session as its files hold it now (after `report` settled the
    /// running ones whose agent is gone), parsed whole.
    fn sessions(&self) -> Vec<(Value, Vec<Event>)> {
        let mut sessions = Vec::new();
        for entry in std::fs::read_dir(self.env.sessions_dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(key) = name.strip_suffix(".session.json") else { continue };
            let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            sessions.push((record, whole_events(&self.env.sessions_dir().join(format!("{key}.jsonl")))));
        }
        sessions
    }
}

/// The digest cache's shard files, in name order.
fn shards(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn whole_events(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().filter_map(|l| serde_json::from_str::<Event>(l).ok()).collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sums {
    responses: u64,
    tokens_in: u64,
    cache_read_tokens: u64,
    tokens_out: u64,
    cost_usd_e6: i64,
    unpriced: u64,
}

impl Sums {
    fn add(&mut self, e: &Event) {
        let correction = e.payload["correction"] == true;
        self.responses += u64::from(!correction);
        self.tokens_in += u64::from(e.tokens_in.unwrap_or(0));
        self.cache_read_tokens += u64::from(e.cache_read_tokens.unwrap_or(0));
        self.tokens_out += u64::from(e.tokens_out.unwrap_or(0));
        self.cost_usd_e6 += e.cost_usd_e6.unwrap_or(0);
        self.unpriced += u64::from(e.cost_usd_e6.is_none() && !correction);
    }

    fn of_json(v: &Value) -> Sums {
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        Sums {
            responses: n("responses"),
            tokens_in: n("tokens_in"),
            cache_read_tokens: n("cache_read_tokens"),
            tokens_out: n("tokens_out"),
            cost_usd_e6: v["cost_usd_e6"].as_i64().unwrap(),
            unpriced: n("unpriced"),
        }
    }
}

#[derive(Default)]
struct Turn {
    start_ms: u64,
    start_commit: Option<String>,
    end_commit: Option<String>,
    branch: Option<String>,
    costs: Vec<usize>,
}

/// The session's turns with the indexes of their responses: the rule of
/// docs/tokens-and-cost.md, over the events held whole.
fn turns(events: &[Event]) -> Vec<Turn> {
    let mut turns = vec![Turn::default()];
    let mut open = true;
    for (i, e) in events.iter().enumerate() {
        if e.kind == EventKind::Cost {
            let at = if e.ts_exact {
                turns.iter().rposition(|t| t.start_ms <= e.ts_ms).unwrap_or(0)
            } else {
                turns.len() - 1
            };
            turns[at].costs.push(i);
            continue;
        }
        let phase = e.payload["phase"].as_str().unwrap_or("");
        let commit = e.payload["context"]["commit"].as_str().map(String::from);
        if (phase == "prompt" || phase == "session_start") && (!open || turns.last().unwrap().start_commit.is_some()) {
            turns.push(Turn::default());
        }
        let turn = turns.last_mut().unwrap();
        if turn.start_commit.is_none() {
            turn.start_ms = e.ts_ms;
            turn.start_commit.clone_from(&commit);
            turn.branch = e.payload["context"]["branch"].as_str().map(String::from);
        }
        if commit.is_some() {
            turn.end_commit = commit;
        }
        open = !matches!(phase, "turn_end" | "turn_failure" | "session_end");
    }
    turns
}

fn utc_day(ms: u64) -> String {
    kaizen_hook::time::format_utc(ms)[..10].to_string()
}

/// `(ran, produced)` per key, and the total, for one grouping.
type Expected = (BTreeMap<String, (Sums, Sums)>, Sums);

fn brute_force(sessions: &[(Value, Vec<Event>)], by: &str, keep: impl Fn(u64) -> bool) -> Expected {
    let mut rows: BTreeMap<String, (Sums, Sums)> = BTreeMap::new();
    let mut total = Sums::default();
    for (record, events) in sessions {
        let repo = record["workspace"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        for turn in turns(events) {
            for &i in &turn.costs {
                let e = &events[i];
                if !keep(e.ts_ms) {
                    continue;
                }
                total.add(e);
                let key = match by {
                    "model" => e.payload["model"].as_str().unwrap_or("-").to_string(),
                    "day" => utc_day(e.ts_ms),
                    "agent" => record["agent"].as_str().unwrap().to_string(),
                    "repo" => repo.clone(),
                    "branch" => turn.branch.clone().unwrap_or("-".into()),
                    "commit" => turn.start_commit.clone().unwrap_or("-".into()),
                    _ => unreachable!(),
                };
                rows.entry(key).or_default().0.add(e);
                let produced = turn.end_commit.as_ref().filter(|end| Some(*end) != turn.start_commit.as_ref());
                if let Some(end) = produced.filter(|_| by == "commit") {
                    rows.entry(end.clone()).or_default().1.add(e);
                }
            }
        }
    }
    (rows, total)
}

/// Calls, failures and the sorted latencies per tool, as the sessions list counts calls.
fn brute_force_tools(
    sessions: &[(Value, Vec<Event>)],
    keep: impl Fn(u64) -> bool,
) -> BTreeMap<String, (u64, u64, Vec<u64>)> {
    let mut tools: BTreeMap<String, (u64, u64, Vec<u64>)> = BTreeMap::new();
    for (_, events) in sessions {
        let mut called = std::collections::HashSet::new();
        for e in events.iter().filter(|e| keep(e.ts_ms)) {
            let Some(tool) = &e.tool else { continue };
            let first = e.tool_call_id.as_ref().is_none_or(|id| called.insert(id.clone()));
            let t = tools.entry(tool.clone()).or_default();
            match e.kind {
                EventKind::ToolCall => t.0 += 1,
                EventKind::ToolResult => t.0 += u64::from(first),
                EventKind::Error => {
                    t.0 += u64::from(first);
                    t.1 += 1;
                }
                _ => continue,
            }
            if e.kind != EventKind::ToolCall {
                t.2.extend(e.latency_ms.map(u64::from));
            }
        }
    }
    for t in tools.values_mut() {
        t.2.sort_unstable();
    }
    tools
}

fn assert_matches(report: &Value, expected: &Expected, what: &str) {
    let (rows, total) = expected;
    assert_eq!(Sums::of_json(&report["total"]), *total, "{what}: total");
    let got: BTreeMap<String, (Sums, Sums)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ran"]["responses"] != 0 || r["ran"]["tokens_in"] != 0 || !r["produced"].is_null())
        .map(|r| {
            let produced = if r["produced"].is_null() { Sums::default() } else { Sums::of_json(&r["produced"]) };
            (r["key"].as_str().unwrap().to_string(), (Sums::of_json(&r["ran"]), produced))
        })
        .filter(|(_, (ran, produced))| *ran != Sums::default() || *produced != Sums::default())
        .collect();
    let want: BTreeMap<String, (Sums, Sums)> = rows
        .iter()
        .filter(|(_, (r, p))| *r != Sums::default() || *p != Sums::default())
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(got, want, "{what}: rows");
}

fn assert_tools(report: &Value, expected: &BTreeMap<String, (u64, u64, Vec<u64>)>, what: &str) {
    let rank = |sorted: &[u64], p: u64| -> Value {
        if sorted.is_empty() {
            Value::Null
        } else {
            json!(sorted[((p * sorted.len() as u64).div_ceil(100).max(1) - 1) as usize])
        }
    };
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "{what}: one row per tool");
    for row in rows {
        let (calls, failures, latencies) = &expected[row["key"].as_str().unwrap()];
        assert_eq!(
            (row["calls"].as_u64().unwrap(), row["failures"].as_u64().unwrap()),
            (*calls, *failures),
            "{what}: {row}"
        );
        assert_eq!(row["p50_ms"], rank(latencies, 50), "{what}: {row}");
        assert_eq!(row["p90_ms"], rank(latencies, 90), "{what}: {row}");
        assert_eq!(row["max_ms"], latencies.last().map_or(Value::Null, |m| json!(m)), "{what}: {row}");
        assert_eq!(row["time_ms"].as_u64().unwrap(), latencies.iter().sum::<u64>(), "{what}: {row}");
    }
}

const BYS: [&str; 6] = ["model", "day", "agent", "repo", "branch", "commit"];

#[test]
fn streamed_and_cached_reports_equal_a_brute_force_count() {
    let history = History::generate(150, 0x5eed_1234_abcd);
    let first: Vec<Value> = BYS.iter().map(|by| history.report(&["--by", by])).collect();
    let cache = history.env.home.join("cache/digests");
    let sessions = history.sessions();
    for (by, report) in BYS.iter().zip(&first) {
        assert_matches(report, &brute_force(&sessions, by, |_| true), &format!("uncached --by {by}"));
    }
    assert_tools(&history.report(&["--by", "tool"]), &brute_force_tools(&sessions, |_| true), "--by tool");
    let done = sessions.iter().filter(|(r, _)| r["status"] == "Done").count();
    let kept: usize = shards(&cache).iter().map(|p| std::fs::read_to_string(p).unwrap().lines().count()).sum();
    assert_eq!(kept, done, "a digest is kept for every settled session, and only for them");
    assert!(done < sessions.len(), "some sessions are still being written");
    for (by, before) in BYS.iter().zip(&first) {
        assert_eq!(&history.report(&["--by", by]), before, "cached --by {by}: the same figures");
    }
    // Garbage, a digest of other numbers with a stale identity, and a lost cache.
    let files = shards(&cache);
    std::fs::write(&files[0], b"{not json\n").unwrap();
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let stale: Vec<String> = text
        .lines()
        .map(|l| {
            let mut entry: Value = serde_json::from_str(l).unwrap();
            for cell in entry["digest"]["costs"].as_array_mut().unwrap() {
                cell["sums"]["cost_usd_e6"] = json!(999_999_999);
            }
            entry["identity"]["len"] = json!(entry["identity"]["len"].as_u64().unwrap() + 1);
            entry.to_string() + "\n"
        })
        .collect();
    std::fs::write(&files[1], stale.concat()).unwrap();
    assert_eq!(history.report(&["--by", "model"]), first[0], "a bad cache entry is read around");
    std::fs::remove_dir_all(history.env.home.join("cache")).unwrap();
    assert_eq!(history.report(&["--by", "commit"]), first[5], "without the cache, the same figures");
}

#[test]
fn a_settled_session_that_grows_is_read_again() {
    let history = History::generate(40, 0xfeed_0042);
    history.report(&["--by", "model"]);
    let sessions = history.sessions();
    let (record, _) = sessions.iter().find(|(r, e)| r["status"] == "Done" && !e.is_empty()).unwrap();
    let id = record["id"].as_str().unwrap();
    // A transcript read after the session ended adds a response (as Copilot's does).
    let path = history.env.sessions_dir().join(format!("{id}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let complete = &text[..text.rfind('\n').unwrap() + 1];
    let late = event_line(
        id,
        999,
        BASE + 5 * DAY,
        "Cost",
        json!({"ts_exact": true, "tokens_in": 7, "cost_usd_e6": 1234}),
        json!({"model": "m-late"}),
    );
    std::fs::write(&path, format!("{complete}{late}")).unwrap();
    let report = history.report(&["--by", "model"]);
    let sessions = history.sessions();
    assert_matches(&report, &brute_force(&sessions, "model", |_| true), "after a late response");
    assert!(report["rows"].as_array().unwrap().iter().any(|r| r["key"] == "m-late"));
}

#[test]
fn periods_and_filters_equal_a_brute_force_count() {
    let history = History::generate(120, 0xabad_cafe);
    history.report(&[]);
    let sessions = history.sessions();
    // Bounds at the very times of responses, in the middle of sessions
    // (those are read again for their part): `since` counts its own, `until` not.
    let mut times: Vec<u64> = sessions
        .iter()
        .flat_map(|(_, events)| {
            let first = events.iter().map(|e| e.ts_ms).min().unwrap_or(0);
            events.iter().filter(move |e| e.kind == EventKind::Cost && e.ts_ms > first).map(|e| e.ts_ms)
        })
        .collect();
    times.sort_unstable();
    let (since, until) = (times[times.len() / 3], times[times.len() * 2 / 3]);
    let (since_arg, until_arg) = (rfc3339(since), rfc3339(until));
    for by in BYS {
        let report = history.report(&["--by", by, "--since", &since_arg, "--until", &until_arg]);
        let expected = brute_force(&sessions, by, |ts| ts >= since && ts < until);
        assert_matches(&report, &expected, &format!("--by {by} in a period"));
    }
    let report = history.report(&["--by", "tool", "--since", &since_arg, "--until", &until_arg]);
    assert_tools(&report, &brute_force_tools(&sessions, |ts| ts >= since && ts < until), "--by tool in a period");
    // Twice: the second run reads the settled sessions from the cache.
    for _ in 0..2 {
        for (flag, value, field, wanted) in [
            ("--agent", "codex", "agent", "codex"),
            ("--repo", "repo1", "workspace", "/work/repo1"),
            ("--repo", "/work/repo2", "workspace", "/work/repo2"),
            ("--branch", "feat/x", "branch", "feat/x"),
        ] {
            let kept: Vec<(Value, Vec<Event>)> = sessions.iter().filter(|(r, _)| r[field] == wanted).cloned().collect();
            assert!(!kept.is_empty() && kept.len() < sessions.len(), "{flag} {value} keeps some sessions");
            let report = history.report(&["--by", "commit", flag, value]);
            assert_matches(&report, &brute_force(&kept, "commit", |_| true), &format!("{flag} {value}"));
            assert_eq!(report["headline"]["sessions"], kept.iter().filter(|(_, e)| !e.is_empty()).count());
        }
    }
}

#[test]
fn a_planted_cache_directory_is_neither_read_nor_written() {
    let history = History::generate(20, 0x1eaf);
    let first = history.report(&["--by", "model"]);
    let elsewhere = history.env.tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // Digests of other numbers where the planted link points.
    for path in shards(&history.env.home.join("cache/digests")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let mut entry: Value = serde_json::from_str(l).unwrap();
                for cell in entry["digest"]["costs"].as_array_mut().unwrap() {
                    cell["sums"]["cost_usd_e6"] = json!(1);
                }
                entry.to_string() + "\n"
            })
            .collect();
        std::fs::write(elsewhere.join(path.file_name().unwrap()), lines.concat()).unwrap();
    }
    std::fs::remove_dir_all(history.env.home.join("cache/digests")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, history.env.home.join("cache/digests")).unwrap();
    let before: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(history.report(&["--by", "model"]), first, "the planted digests are not read");
    let after: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before.len(), after.len(), "nothing is written through the link");
}

#[test]
fn csv_has_the_rows_and_columns_of_json() {
    let history = History::generate(30, 0x0c5f);
    for by in ["commit", "branch", "tool"] {
        let json = history.report(&["--by", by]);
        let out = history.env.run(&["report", "--by", by, "--csv"], b"");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let lines = csv_records(&text);
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(lines.len(), rows.len() + 1, "--by {by}: one header line, one line per row");
        let header = &lines[0];
        for (fields, row) in lines[1..].iter().zip(rows) {
            assert_eq!(fields.len(), header.len());
            for (name, field) in header.iter().zip(fields) {
                let value = match name.strip_prefix("produced_") {
                    Some(inner) => &row["produced"][inner],
                    None if row["ran"].is_object() && row["ran"].get(name).is_some() => &row["ran"][name],
                    None => &row[name.as_str()],
                };
                let expected = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    v => v.to_string(),
                };
                assert_eq!(field, &expected, "--by {by}, column {name}");
            }
        }
    }
}

/// RFC 4180 records: quoted fields may hold commas, quotes and line breaks.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    records
}

fn rfc3339(ms: u64) -> String {
    kaizen_hook::time::format_utc(ms)
}
