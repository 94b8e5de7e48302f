//! "Did the change help?" through the real binary: the guidance registry
//! written by real `session-start` hooks, and `report --by guidance` and
//! `compare` over generated histories whose effect is known: a change that
//! halves failures, one that changes nothing, one confounded by a model
//! switch, and too few sessions to say anything.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;

const HOUR: u64 = 3_600_000;
const BASE: u64 = 1_790_000_000_000;
const BEFORE: &str = "aaaa000000000001";
const AFTER: &str = "bbbb000000000002";

/// What one generated session is like. Its tool calls fail by a counter
/// shared by the sessions of one side, so a side's failure rate is exactly
/// `1 / fail_every`: the true difference is known.
#[derive(Clone, Copy)]
struct Kind {
    fingerprint: &'static str,
    model: &'static str,
    fail_every: u64,
}

struct History {
    env: Env,
    next: usize,
}

impl History {
    fn new() -> History {
        let env = Env::new();
        std::fs::create_dir_all(env.sessions_dir()).unwrap();
        History { env, next: 0 }
    }

    /// `n` sessions of this kind, an hour apart after the ones already
    /// written. Session `i` of a side has 2 to 5 turns of 3 to 7 calls: the
    /// same mix on every side.
    fn sessions(&mut self, n: usize, kind: Kind) {
        let mut calls_made = 0;
        for i in 0..n {
            let id = format!("gen-{:04}", self.next);
            let start = BASE + self.next as u64 * HOUR;
            self.next += 1;
            let (text, end) = session_lines(&id, start, i, kind, &mut calls_made);
            std::fs::write(self.env.sessions_dir().join(format!("{id}.jsonl")), text).unwrap();
            let record = json!({"id": id, "agent": "claude", "model": kind.model, "workspace": "/work/acme",
                "started_at_ms": start, "ended_at_ms": end, "status": "Done", "trace_path": "",
                "start_commit": null, "end_commit": null, "branch": "main", "dirty_start": null, "dirty_end": null,
                "repo_binding_source": null, "prompt_fingerprint": (kind.fingerprint != "-").then_some(kind.fingerprint),
                "parent_session_id": null, "agent_version": null, "os": null, "arch": null,
                "repo_file_count": null, "repo_total_loc": null});
            std::fs::write(self.env.sessions_dir().join(format!("{id}.session.json")), record.to_string()).unwrap();
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.env.run(args, b"");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn text(&self, args: &[&str]) -> String {
        let out = self.env.run(args, b"");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn session_lines(id: &str, start: u64, i: usize, kind: Kind, calls_made: &mut u64) -> (String, u64) {
    let mut lines = Vec::new();
    let mut seq = 0;
    let mut push = |ts: u64, kind: &str, fields: Value, payload: Value| {
        lines.push(event_line(id, seq, ts, kind, fields, payload));
        seq += 1;
    };
    let mut ts = start;
    push(ts, "Lifecycle", json!({}), json!({"type": "session_start", "phase": "session_start"}));
    for turn in 0..2 + i % 4 {
        ts += 1000;
        push(ts, "Message", json!({}), json!({"type": "user_prompt_submit", "phase": "prompt"}));
        for call in 0..3 + (i + turn) % 5 {
            let call_id = format!("{id}-{turn}-{call}");
            ts += 500;
            push(ts, "ToolCall", json!({"tool": "Bash", "tool_call_id": call_id}), json!({"phase": "tool_call"}));
            ts += 700;
            *calls_made += 1;
            let fails = kind.fail_every > 0 && calls_made.is_multiple_of(kind.fail_every);
            let (event, phase) = if fails { ("Error", "tool_failure") } else { ("ToolResult", "tool_result") };
            let fields = json!({"tool": "Bash", "tool_call_id": call_id, "latency_ms": 700});
            push(ts, event, fields, json!({"phase": phase}));
        }
        ts += 2000 + 1000 * (i as u64 % 7);
        let cost = json!({"ts_exact": true, "source": "Tail", "tokens_in": 1000 + 100 * (i % 3),
            "tokens_out": 200, "cost_usd_e6": 20_000 + 5_000 * (i as i64 % 3)});
        push(ts, "Cost", cost, json!({"type": "model_response", "model": kind.model}));
        ts += 10;
        push(ts, "Lifecycle", json!({}), json!({"type": "stop", "phase": "turn_end"}));
    }
    ts += 1000;
    push(ts, "Lifecycle", json!({}), json!({"type": "session_end", "phase": "session_end"}));
    (lines.concat(), ts)
}

fn metric<'a>(comparison: &'a Value, name: &str) -> &'a Value {
    let metrics = comparison["metrics"].as_array().unwrap();
    metrics.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {comparison}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_change_that_halves_failures_is_found_and_nothing_else_is_claimed() {
    let mut h = History::new();
    h.sessions(30, Kind { fingerprint: BEFORE, model: "m", fail_every: 5 });
    h.sessions(30, Kind { fingerprint: AFTER, model: "m", fail_every: 10 });
    let c = h.json(&["compare", "--repo", "acme", "--json"]);
    assert_eq!((c["before"]["fingerprint"].as_str(), c["after"]["fingerprint"].as_str()), (Some(BEFORE), Some(AFTER)));
    let rate = metric(&c, "failed_calls_per_100");
    assert_eq!(rate["before_count"], rate["after_count"], "the same calls on both sides");
    let calls = rate["before_count"].as_u64().unwrap();
    assert!(calls > 500, "{rate}");
    // Every 5th call failed before, every 10th after: the rate halved.
    let (before, after) = (100.0 * (calls / 5) as f64 / calls as f64, 100.0 * (calls / 10) as f64 / calls as f64);
    assert_eq!((f(&rate["before"]), f(&rate["after"])), (before, after), "{rate}");
    let truth = after - before;
    let (low, high) = (f(&rate["low"]), f(&rate["high"]));
    assert!(low < truth && truth < high && high < 0.0, "excludes 0, contains the true {truth}: {rate}");
    assert_eq!(rate["verdict"], "lower");
    // The sessions are alike but for their failures: no other figure moved.
    for m in c["metrics"].as_array().unwrap().iter().filter(|m| m["name"] != "failed_calls_per_100") {
        assert_eq!(m["difference"], 0.0, "{m}");
        assert_eq!(m["verdict"], "no_difference_shown", "{m}");
        assert!(f(&m["low"]) <= 0.0 && 0.0 <= f(&m["high"]), "{m}");
    }
    assert_eq!((c["model_switch"].as_bool(), c["agent_switch"].as_bool()), (Some(false), Some(false)));
    let text = h.text(&["compare", "--repo", "acme"]);
    assert!(text.contains("failed calls per 100") && text.contains("lower"), "{text}");
    assert!(text.contains("What this can and cannot show"), "{text}");
    assert!(!text.contains("differs between the two sides"), "{text}");
}

#[test]
fn a_change_that_changes_nothing_makes_no_claim() {
    let mut h = History::new();
    h.sessions(30, Kind { fingerprint: BEFORE, model: "m", fail_every: 6 });
    h.sessions(30, Kind { fingerprint: AFTER, model: "m", fail_every: 6 });
    let c = h.json(&["compare", "--json"]);
    for m in c["metrics"].as_array().unwrap() {
        assert_eq!(m["verdict"], "no_difference_shown", "{m}");
        assert!(f(&m["low"]) < 0.0 && 0.0 < f(&m["high"]) || m["low"] == m["high"], "contains 0: {m}");
        assert_eq!(m["too_little_data"], false);
    }
    let rate = metric(&c, "failed_calls_per_100");
    assert!(f(&rate["low"]) < 0.0 && 0.0 < f(&rate["high"]), "{rate}");
}

#[test]
fn a_model_switch_is_flagged_and_split() {
    let mut h = History::new();
    h.sessions(30, Kind { fingerprint: BEFORE, model: "big", fail_every: 5 });
    h.sessions(30, Kind { fingerprint: AFTER, model: "small", fail_every: 10 });
    let c = h.json(&["compare", "--json"]);
    assert_eq!(c["model_switch"], true);
    assert_eq!(c["agent_switch"], false);
    let rate = metric(&c, "failed_calls_per_100");
    assert_eq!((rate["model_switch"].as_bool(), rate["verdict"].as_str()), (Some(true), Some("lower")));
    let splits: Vec<(String, u64, u64)> = c["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["model"].as_str().unwrap().into(),
                s["before_sessions"].as_u64().unwrap(),
                s["after_sessions"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(splits, [("big".into(), 30, 0), ("small".into(), 0, 30)]);
    assert_eq!(c["before"]["models"], json!({"big": 30}));
    let text = h.text(&["compare"]);
    assert!(text.contains("! the model differs between the two sides"), "{text}");
    assert!(text.contains("claude big: 30 sessions before, 0 after: nothing to compare"), "{text}");
    let report = h.text(&["report", "--by", "guidance"]);
    assert!(report.contains("the agent or model differs too"), "{report}");
    let page = guidance_section(&h);
    assert!(page.contains("The model differs between the two sides: that alone moves these figures"), "{page}");
    assert!(page.contains("claude big: 30 before, 0 after; claude small: 0 before, 30 after"), "{page}");
}

#[test]
fn too_few_sessions_is_said_and_no_interval_given() {
    let mut h = History::new();
    h.sessions(3, Kind { fingerprint: BEFORE, model: "m", fail_every: 2 });
    h.sessions(3, Kind { fingerprint: AFTER, model: "m", fail_every: 20 });
    let c = h.json(&["compare", "--json"]);
    for m in c["metrics"].as_array().unwrap() {
        assert_eq!((m["too_little_data"].as_bool(), m["verdict"].as_str()), (Some(true), Some("too_little_data")));
        assert!(m["low"].is_null() && m["high"].is_null(), "{m}");
    }
    assert!(f(&metric(&c, "failed_calls_per_100")["difference"]) < 0.0, "the difference is still said");
    let text = h.text(&["compare"]);
    assert!(text.contains("not enough data: fewer than 5 sessions on a side"), "{text}");
    let page = guidance_section(&h);
    assert!(page.contains("Not enough data for failed calls per 100, tool calls per turn"), "{page}");
    assert_eq!(data_value(row(&page, "guidance", "failed_calls_per_100").unwrap(), 0, "low").as_deref(), Some("null"));
    assert!(!page.contains("class=\"whisker\""), "no interval, no whiskers");
    // One version: nothing to compare, said on stderr.
    let mut one = History::new();
    one.sessions(3, Kind { fingerprint: BEFORE, model: "m", fail_every: 2 });
    let out = one.env.run(&["compare"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compare"));
}

#[test]
fn report_by_guidance_has_a_row_per_version_in_time_order() {
    let mut h = History::new();
    h.sessions(6, Kind { fingerprint: "-", model: "m", fail_every: 4 });
    h.sessions(10, Kind { fingerprint: BEFORE, model: "m", fail_every: 5 });
    h.sessions(8, Kind { fingerprint: AFTER, model: "m", fail_every: 10 });
    let report = h.json(&["report", "--by", "guidance", "--json"]);
    let rows = report["rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["-", BEFORE, AFTER], "in the order first seen");
    // Brute force: the generated sessions' own counts.
    let expected = |n: usize| {
        let turns: usize = (0..n).map(|i| 2 + i % 4).sum();
        let calls: usize = (0..n).flat_map(|i| (0..2 + i % 4).map(move |t| 3 + (i + t) % 5)).sum();
        (n as u64, turns as u64, calls as u64)
    };
    for (row, (n, every)) in rows.iter().zip([(6, 4), (10, 5), (8, 10)]) {
        let (sessions, turns, calls) = expected(n);
        let got = (row["sessions"].as_u64(), row["turns"].as_u64(), row["tool_calls"].as_u64());
        assert_eq!(got, (Some(sessions), Some(turns), Some(calls)), "{row}");
        assert_eq!(row["failed_calls"].as_u64(), Some(calls / every), "{row}");
        assert_eq!(f(&row["tool_calls_per_turn"]), calls as f64 / turns as f64);
        assert_eq!(row["repo"], "acme");
    }
    assert_eq!(rows[1]["first_seen_ms"].as_u64(), Some(BASE + 6 * HOUR));
    assert!(rows[1]["changed"].is_null(), "versions not in the registry: unknown");
    let last = &report["last_changes"][0];
    assert_eq!(
        (last["before"]["fingerprint"].as_str(), last["after"]["fingerprint"].as_str()),
        (Some(BEFORE), Some(AFTER))
    );
    // --csv: --json's rows and columns (`files` left to --json).
    let csv = h.text(&["report", "--by", "guidance", "--csv"]);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let json_keys: Vec<&str> =
        rows[0].as_object().unwrap().keys().map(String::as_str).filter(|k| *k != "files").collect();
    assert_eq!(header, json_keys);
    assert_eq!(lines.len(), 1 + rows.len());
    let sessions_at = header.iter().position(|h| *h == "sessions").unwrap();
    assert_eq!(lines[2].split(',').nth(sessions_at), Some("10"));
    let text = h.text(&["report", "--by", "guidance", "--repo", "acme"]);
    assert!(
        text.contains("FAILED/100")
            && text.contains("aaaa000000")
            && text.contains("last change aaaa000000 → bbbb000000"),
        "{text}"
    );
    // --before and --after take prefixes, and `-` for no guidance file.
    let c = h.json(&["compare", "--before", "-", "--after", "aaaa", "--json"]);
    assert_eq!((c["before"]["sessions"].as_u64(), c["after"]["sessions"].as_u64()), (Some(6), Some(10)));
}

/// The report page's guidance section.
fn guidance_section(h: &History) -> String {
    let html = h.text(&["report", "--html"]);
    let start = html.find("<section id=\"guidance\"").expect("a guidance section");
    html[start..start + html[start..].find("</section>").unwrap() + "</section>".len()].to_string()
}

/// A guidance version in the registry, as the hook keeps it: `(path, hash)` per file.
fn register(env: &Env, fingerprint: &str, files: &[(&str, &str)]) {
    let files: Vec<Value> = files.iter().map(|(path, hash)| json!({"path": path, "hash": hash, "size": 10})).collect();
    let version = json!({"fingerprint": fingerprint, "files": files, "first_seen_ms": BASE, "last_seen_ms": BASE,
        "workspaces": ["/work/acme"]});
    let dir = env.home.join("guidance");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.join(format!("{fingerprint}.json"));
    std::fs::write(&path, version.to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn the_page_shows_each_version_and_the_last_change_with_report_jsons_figures() {
    const RULE: &str = ".claude/rules/<b>&'x.md";
    let mut h = History::new();
    h.sessions(6, Kind { fingerprint: "-", model: "m", fail_every: 4 });
    h.sessions(30, Kind { fingerprint: BEFORE, model: "m", fail_every: 5 });
    h.sessions(30, Kind { fingerprint: AFTER, model: "m", fail_every: 10 });
    register(&h.env, BEFORE, &[("CLAUDE.md", "0000000000000011"), (RULE, "0000000000000022")]);
    register(&h.env, AFTER, &[("CLAUDE.md", "0000000000000011"), (RULE, "0000000000000033")]);
    let page = guidance_section(&h);
    let report = h.json(&["report", "--by", "guidance", "--json"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let mut at = Vec::new();
    for r in rows {
        let key = r["key"].as_str().unwrap();
        let tr = row(&page, "guidance", key).unwrap_or_else(|| panic!("no row for {key}: {page}"));
        at.push(page.find(tr).unwrap());
        for field in ["first_seen_ms", "sessions", "turns", "failed_calls_per_100", "cost_usd_e6_per_turn"] {
            assert_eq!(data_value(tr, 0, field), Some(r[field].to_string()), "{key} {field}");
        }
    }
    assert!(at.is_sorted(), "in the order first seen");
    // What changed, named by the user's file names: escaped, text never markup.
    assert!(page.contains(".claude/rules/&lt;b&gt;&amp;&#39;x.md modified"), "{page}");
    assert!(!page.contains("<b>"), "a file name reached the page as markup");
    // The last change: the failure rate halved, found; its figures are --json's.
    let last = &report["last_changes"][0];
    assert_eq!(last["before"]["fingerprint"], BEFORE);
    for m in last["metrics"].as_array().unwrap() {
        let tr = row(&page, "guidance", m["name"].as_str().unwrap()).unwrap();
        for field in ["before", "after", "difference", "low", "verdict"] {
            let want = if field == "verdict" { m[field].as_str().unwrap().to_string() } else { m[field].to_string() };
            assert_eq!(data_value(tr, 0, field), Some(want), "{} {field}", m["name"]);
        }
    }
    assert_eq!(
        data_value(row(&page, "guidance", "failed_calls_per_100").unwrap(), 0, "verdict").as_deref(),
        Some("lower")
    );
    assert!(page.contains("<svg") && page.matches("class=\"whisker\"").count() == 6, "every figure's interval drawn");
    let rate = &last["metrics"][0];
    let share = format!("{:.1}", 100.0 * f(&rate["difference"]) / f(&rate["before"]));
    let share = share.strip_suffix(".0").unwrap_or(&share);
    assert!(share.starts_with("-4") || share.starts_with("-5"), "{rate}");
    assert!(
        page.contains(&format!(">{share} % (")) && page.contains(": lower</text>"),
        "the halving, said on the chart"
    );
    assert!(!page.contains("differs between the two sides") && !page.contains("Not enough data"), "{page}");
    // No guidance file anywhere: one line says so.
    let mut bare = History::new();
    bare.sessions(6, Kind { fingerprint: "-", model: "m", fail_every: 4 });
    let page = guidance_section(&bare);
    assert!(
        page.contains(
            "No guidance version: the 6 sessions in this period started in repositories with no guidance file"
        ),
        "{page}"
    );
    assert!(!page.contains("<table"), "{page}");
}

/// The SessionStart Claude Code sent, as a new session in the env's repository.
fn session_start(env: &Env, id: &str) {
    let mut payload: Value =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("real/claude/SessionStart.json")).unwrap()).unwrap();
    payload["session_id"] = json!(id);
    payload["cwd"] = json!(env.repo.to_string_lossy());
    payload["transcript_path"] = json!(env.tmp.path().join(format!("{id}.jsonl")).to_string_lossy());
    env.hook(&["session-start", "--agent", "claude"], &payload);
}

fn registry(env: &Env) -> Vec<Value> {
    let dir = env.home.join("guidance");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn real_session_starts_keep_each_guidance_version_and_name_what_changed() {
    let env = Env::new();
    std::fs::write(env.repo.join("CLAUDE.md"), "Run the tests before you commit.\n").unwrap();
    std::fs::create_dir_all(env.repo.join(".claude/rules")).unwrap();
    std::fs::write(env.repo.join(".claude/rules/style.md"), "Small functions.\n").unwrap();
    session_start(&env, "first-session");
    let first = env.record("first-session").prompt_fingerprint.expect("a fingerprint");
    let versions = registry(&env);
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(v["fingerprint"], first.as_str());
    let files: Vec<(&str, u64)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(files, [(".claude/rules/style.md", 17), ("CLAUDE.md", 33)]);
    assert!(v["files"][0]["hash"].as_str().unwrap().len() == 16);
    assert_eq!(v["workspaces"], json!([env.repo.to_string_lossy()]));
    assert_eq!(v["first_seen_ms"], v["last_seen_ms"]);
    assert!(
        !std::fs::read_to_string(env.home.join(format!("guidance/{first}.json"))).unwrap().contains("Run the tests")
    );

    // The same guidance again within the hour: the file is not rewritten.
    let path = env.home.join(format!("guidance/{first}.json"));
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    session_start(&env, "second-session");
    assert_eq!(env.record("second-session").prompt_fingerprint.as_deref(), Some(first.as_str()));
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), written);

    std::fs::write(env.repo.join("CLAUDE.md"), "Run the tests before you commit. Keep commits small.\n").unwrap();
    session_start(&env, "third-session");
    let second = env.record("third-session").prompt_fingerprint.expect("a fingerprint");
    assert_ne!(second, first);
    assert_eq!(registry(&env).len(), 2);

    let report =
        serde_json::from_slice::<Value>(&env.run(&["report", "--by", "guidance", "--json"], b"").stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [first.as_str(), second.as_str()]);
    assert_eq!(rows[0]["sessions"], 2);
    assert!(rows[0]["changed"].is_null(), "the first version");
    assert_eq!(rows[1]["changed"], json!({"added": [], "removed": [], "modified": ["CLAUDE.md"]}));
    assert_eq!(rows[1]["files"].as_array().unwrap().len(), 2);
    let sessions = serde_json::from_slice::<Value>(&env.run(&["sessions", "--json"], b"").stdout).unwrap();
    assert!(sessions.as_array().unwrap().iter().any(|s| s["prompt_fingerprint"] == second.as_str()));
    let text = String::from_utf8(env.run(&["compare"], b"").stdout).unwrap();
    assert!(text.contains("(CLAUDE.md modified)") && text.contains("not enough data"), "{text}");
}
