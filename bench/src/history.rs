//! The read side: `report` over a history made of real sessions (one each of
//! Claude Code, Codex, Gemini CLI and Copilot CLI, recorded by the end-to-end
//! suite: bench/seed/) copied under new ids, a day apart, so the sums are
//! checkable: every total is the copies times the seeds' own.

use crate::{Bench, Row};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEEDS: [&str; 4] = ["claude", "codex", "copilot", "gemini"];
const DAY_MS: u64 = 86_400_000;

/// One seed session: its event lines and its record.
struct Seed {
    agent: &'static str,
    lines: Vec<String>,
    record: String,
}

/// The seeds' model responses and cost, from their lines.
fn seed_totals(seeds: &[Seed]) -> (u64, i64) {
    let mut responses = 0;
    let mut cost = 0;
    for line in seeds.iter().flat_map(|s| &s.lines) {
        if line.contains("\"kind\":\"Cost\"") && !line.contains("\"correction\":true") {
            responses += 1;
        }
        if line.contains("\"kind\":\"Cost\"") {
            cost += number_after(line, "\"cost_usd_e6\":").unwrap_or(0);
        }
    }
    (responses, cost)
}

fn number_after(text: &str, key: &str) -> Option<i64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn load_seeds() -> Vec<Seed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seed");
    SEEDS
        .iter()
        .map(|agent| {
            let text = std::fs::read_to_string(dir.join(format!("{agent}.jsonl"))).expect("bench/seed");
            Seed {
                agent,
                lines: text.lines().map(String::from).collect(),
                record: std::fs::read_to_string(dir.join(format!("{agent}.session.json"))).expect("bench/seed"),
            }
        })
        .collect()
}

/// `"key":123` with the number moved by `shift`, at its first place in `text`.
fn shifted(text: &str, key: &str, shift: i64) -> String {
    let Some(at) = text.find(key) else { return text.to_string() };
    let start = at + key.len();
    let digits = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == ' ').count();
    let Ok(n) = text[start..start + digits].trim().parse::<i64>() else { return text.to_string() };
    format!("{}{}{}", &text[..start], n + shift, &text[start + digits..])
}

/// A kaizen home of `copies` copies of the seeds, each copy a day earlier
/// than the next (a year of history repeats its days).
fn generate(home: &Path, seeds: &[Seed], copies: usize) -> u64 {
    let sessions = home.join("sessions");
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(&sessions).unwrap();
    let mut events = 0;
    for n in 0..copies {
        let shift = -((n % 365) as i64 + 1) * DAY_MS as i64;
        for seed in seeds {
            let id = format!("{}-{n:07}", seed.agent);
            let mut text = String::new();
            for line in &seed.lines {
                let line = shifted(line, "\"ts_ms\":", shift);
                text.push_str(&line);
                text.push('\n');
                events += 1;
            }
            std::fs::write(sessions.join(format!("{id}.jsonl")), text).unwrap();
            let old_id = seed.record.split("\"id\": \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
            let record = seed.record.replacen(old_id, &id, 1);
            let record = shifted(&record, "\"started_at_ms\":", shift);
            let record = shifted(&record, "\"ended_at_ms\":", shift);
            std::fs::write(sessions.join(format!("{id}.session.json")), record).unwrap();
        }
    }
    events
}

/// Reading every events file's bytes, in this process: the floor of any report.
fn read_floor(home: &Path) -> Duration {
    let started = Instant::now();
    let mut bytes = 0;
    for entry in std::fs::read_dir(home.join("sessions")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            bytes += std::fs::read(&path).map_or(0, |b| b.len());
        }
    }
    assert!(bytes > 0);
    started.elapsed()
}

impl Bench {
    /// One `report` run: its wall time (through a freshly started copy of
    /// this harness, whose own small peak RSS is all Linux charges the
    /// report with beside its own), its peak RSS in KiB, and its output.
    fn report(&self, home: &Path, by: &str) -> (Duration, i64, String) {
        let out = self.work.join("report.json");
        let empty = self.work.join("empty-stdin");
        std::fs::write(&empty, b"").unwrap();
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.arg("--measure-rss")
            .arg(&empty)
            .arg(&self.hook)
            .args(["report", "--by", by, "--json", "--out"])
            .arg(&out)
            .env("KAIZEN_HOME", home)
            .env("HOME", &self.user_home)
            .stdout(Stdio::piped());
        let started = Instant::now();
        let output = cmd.output().expect("measure");
        let took = started.elapsed();
        let rss = String::from_utf8_lossy(&output.stdout).split_whitespace().next().and_then(|n| n.parse().ok());
        (took, rss.unwrap_or(i64::MAX), std::fs::read_to_string(&out).unwrap_or_default())
    }

    /// `report --by model --json` at each size, without the digest cache
    /// (cold) and with it (warm); the first run, which settles the copies of
    /// the still-running seed, is not timed.
    pub fn read_side(&self, sizes: &[usize], rounds: usize) -> Vec<Row> {
        let seeds = load_seeds();
        let (responses, cost) = seed_totals(&seeds);
        let mut rows = Vec::new();
        for &copies in sizes {
            let home: PathBuf = self.work.join(format!("history-{copies}"));
            let events = generate(&home, &seeds, copies);
            let sessions = copies * seeds.len();
            let (_, _, first) = self.report(&home, "model");
            let exact = first.contains(&format!("\"cost_usd_e6\": {}", cost * copies as i64))
                && first.contains(&format!("\"responses\": {}", responses * copies as u64));
            let mut cold = Vec::new();
            let mut warm = Vec::new();
            let mut floor = Vec::new();
            let (mut cold_rss, mut warm_rss) = (0, 0);
            for _ in 0..rounds {
                let _ = std::fs::remove_dir_all(home.join("cache"));
                floor.push(read_floor(&home));
                let (took, rss, _) = self.report(&home, "model");
                cold.push(took);
                cold_rss = cold_rss.max(rss);
                let (took, rss, _) = self.report(&home, "model");
                warm.push(took);
                warm_rss = warm_rss.max(rss);
            }
            let (cold, warm, floor) = (crate::median(&cold), crate::median(&warm), crate::median(&floor));
            let (commit, commit_rss, _) = self.report(&home, "commit");
            let per_second = |d: Duration| format!("{:.0}k events/s", events as f64 / d.as_secs_f64() / 1000.0);
            let mib = |kib: i64| kib as f64 / 1024.0;
            let size = format!("{sessions} sessions, {}k events", events / 1000);
            let row = |what: String, took: Duration, rss: i64, pass: bool, target: &str| Row {
                what,
                ours: format!("{:.2} s, {}, {:.1} MiB", took.as_secs_f64(), per_second(took), mib(rss)),
                reference: format!("reading the files: {:.2} s", floor.as_secs_f64()),
                ratio: Some(took.as_secs_f64() / floor.as_secs_f64()),
                spread: Vec::new(),
                target: target.into(),
                pass,
            };
            // The bounds, scaled by events from its 420,000.
            let scale = (events as f64 / 420_000.0).max(1.0);
            rows.push(row(
                format!("`report --by model`, {size}, cold (no digests), sums exact: {exact}"),
                cold,
                cold_rss,
                exact && cold_rss <= 64 * 1024 && cold.as_secs_f64() <= 3.0 * scale,
                "≤ 3 s per 420k events, ≤ 64 MiB",
            ));
            rows.push(row(
                format!("`report --by model`, {size}, warm (digests kept)"),
                warm,
                warm_rss,
                warm_rss <= 64 * 1024 && warm.as_secs_f64() <= 0.5 * scale,
                "≤ 0.5 s per 420k events, ≤ 64 MiB",
            ));
            rows.push(row(
                format!("`report --by commit`, {size}, warm"),
                commit,
                commit_rss,
                commit_rss <= 64 * 1024 && commit.as_secs_f64() <= 3.0 * scale,
                "≤ 3 s per 420k events",
            ));
            let _ = std::fs::remove_dir_all(&home);
        }
        rows
    }
}
