//! Sessions' digests added up for every report at once: totals, rows by
//! model, day, agent, repository, branch and commit, cost per day and model,
//! tools with their latencies, the slowest calls. Every model response is in
//! exactly one row of each grouping, so each grouping's rows add up to the
//! total. `report` (text, JSON, CSV, HTML) and `show` read the same figures.

use super::digest::{self, Digest, SlowCall};
use super::guidance::Sample;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// `report --by`'s values, named as the variants are (model, day...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum By {
    Model,
    Day,
    Agent,
    Repo,
    Branch,
    Commit,
    Tool,
    Guidance,
}

impl By {
    /// The groupings of model responses (`Tool` groups calls, `Guidance`
    /// sessions).
    pub const COSTS: [By; 6] = [By::Model, By::Day, By::Agent, By::Repo, By::Branch, By::Commit];

    pub fn name(self) -> &'static str {
        match self {
            By::Model => "model",
            By::Day => "day",
            By::Agent => "agent",
            By::Repo => "repo",
            By::Branch => "branch",
            By::Commit => "commit",
            By::Tool => "tool",
            By::Guidance => "guidance",
        }
    }
}

/// Token and cost sums. Field names are stable (`report --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Sums {
    pub responses: u64,
    pub tokens_in: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub tokens_out: u64,
    pub reasoning_tokens: u64,
    /// Micro-USD of the responses whose price is known.
    pub cost_usd_e6: i64,
    /// Responses whose model has no known price (their tokens are counted).
    pub unpriced: u64,
}

impl Sums {
    pub fn add(&mut self, other: &Sums) {
        self.responses += other.responses;
        self.tokens_in += other.tokens_in;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
        self.tokens_out += other.tokens_out;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_usd_e6 += other.cost_usd_e6;
        self.unpriced += other.unpriced;
    }
}

/// One row of a report: `ran` is what the turns that ran under this key
/// cost; with `--by commit`, `produced` is what the turns that ended on this
/// commit, having started on another, cost (the work that made it).
/// `sessions` counts the sessions with a response in the row (by agent and
/// by repository: every session in the period, responses or not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub key: String,
    pub sessions: u64,
    pub ran: Sums,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produced: Option<Sums>,
}

/// One tool's calls: `report --by tool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ToolRow {
    pub key: String,
    pub sessions: u64,
    pub calls: u64,
    pub failures: u64,
    /// The latencies of the calls that have one (a result after its call).
    pub timed: u64,
    pub time_ms: u64,
    pub p50_ms: Option<u32>,
    pub p90_ms: Option<u32>,
    pub max_ms: Option<u32>,
}

/// A slow call and the session it was in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Slow {
    pub session: String,
    #[serde(flatten)]
    pub call: SlowCall,
}

/// What a session is, beyond its events file: from its record.
pub struct Session<'a> {
    pub key: &'a str,
    pub agent: &'a str,
    pub repo: &'a str,
    /// The model the record names (the latest used), for sessions whose
    /// events name none.
    pub model: Option<&'a str>,
    pub started_ms: u64,
    /// The guidance version it started with (`prompt_fingerprint`).
    pub guidance: Option<&'a str>,
}

/// Headline figures of the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Headline {
    pub sessions: u64,
    pub tool_calls: u64,
    pub tool_failures: u64,
    /// Events of kind Error: failed tool calls and failed turns.
    pub errors: u64,
    /// The latencies of the timed tool calls, added up.
    pub tool_time_ms: u64,
}

#[derive(Debug, Clone, Default)]
struct ToolAcc {
    sessions: u64,
    calls: u64,
    failures: u64,
    latencies_ms: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub total: Sums,
    pub headline: Headline,
    groups: BTreeMap<By, BTreeMap<String, Row>>,
    /// Cost per local day and model.
    pub day_model: BTreeMap<String, BTreeMap<String, Sums>>,
    tools: BTreeMap<String, ToolAcc>,
    pub slowest: Vec<Slow>,
    /// Each session's figures by repository and guidance version, for
    /// `report --by guidance` and `compare` (`guidance.rs`).
    pub guidance: BTreeMap<VersionKey, Vec<Sample>>,
}

/// A guidance version of a repository: its name, and the fingerprint (or
/// `UNKNOWN` for sessions that started with no guidance file).
pub type VersionKey = (String, String);

/// What is not known is shown as such: a response with no model, a turn
/// with no commit (outside a repository, or before its first commit).
pub const UNKNOWN: &str = "-";

impl Tally {
    /// Adds one session's digest (already limited to the period). A session
    /// with no event in the period adds nothing.
    pub fn add(&mut self, session: &Session, d: &Digest, days: &mut Days) {
        if d.events == 0 {
            return;
        }
        self.headline.sessions += 1;
        self.headline.errors += d.errors;
        let mut seen: HashSet<(By, String)> = HashSet::new();
        for by in [By::Agent, By::Repo] {
            let key = if by == By::Agent { session.agent } else { session.repo };
            self.row(by, key).sessions += 1;
            seen.insert((by, key.to_string()));
        }
        for cell in &d.costs {
            self.total.add(&cell.sums);
            let day = days.of(cell.quarter_ms).to_string();
            let model = cell.model.as_deref().unwrap_or(UNKNOWN);
            self.day_model.entry(day.clone()).or_default().entry(model.to_string()).or_default().add(&cell.sums);
            for by in By::COSTS {
                let key = match by {
                    By::Model => model,
                    By::Day => day.as_str(),
                    By::Agent => session.agent,
                    By::Repo => session.repo,
                    By::Branch => cell.branch.as_deref().unwrap_or(UNKNOWN),
                    By::Commit => cell.commit.as_deref().unwrap_or(UNKNOWN),
                    By::Tool | By::Guidance => continue,
                };
                let first = seen.insert((by, key.to_string()));
                let row = self.row(by, key);
                row.sessions += u64::from(first);
                row.ran.add(&cell.sums);
                if by == By::Commit {
                    row.produced.get_or_insert_with(Sums::default);
                }
            }
            if let Some(made) = &cell.produced {
                self.row(By::Commit, made).produced.get_or_insert_with(Sums::default).add(&cell.sums);
            }
        }
        let mut tools_seen: Vec<&str> = Vec::new();
        for cell in &d.tools {
            let acc = self.tools.entry(cell.tool.clone()).or_default();
            if !tools_seen.contains(&cell.tool.as_str()) {
                tools_seen.push(&cell.tool);
                acc.sessions += 1;
            }
            acc.calls += cell.calls;
            acc.failures += cell.failures;
            acc.latencies_ms.extend_from_slice(&cell.latencies_ms);
            self.headline.tool_calls += cell.calls;
            self.headline.tool_failures += cell.failures;
            self.headline.tool_time_ms += cell.latencies_ms.iter().map(|&ms| u64::from(ms)).sum::<u64>();
        }
        for call in &d.slowest {
            let slow = Slow { session: session.key.to_string(), call: call.clone() };
            keep_slowest(&mut self.slowest, slow);
        }
        let version = (session.repo.to_string(), session.guidance.unwrap_or(UNKNOWN).to_string());
        self.guidance.entry(version).or_default().push(Sample::of(session, d));
    }

    fn row(&mut self, by: By, key: &str) -> &mut Row {
        let rows = self.groups.entry(by).or_default();
        if !rows.contains_key(key) {
            rows.insert(key.to_string(), Row { key: key.to_string(), ..Row::default() });
        }
        rows.get_mut(key).expect("inserted above")
    }

    /// Another part's tally (another core's sessions) added in.
    pub fn merge(&mut self, other: Tally) {
        self.total.add(&other.total);
        let h = &mut self.headline;
        h.sessions += other.headline.sessions;
        h.tool_calls += other.headline.tool_calls;
        h.tool_failures += other.headline.tool_failures;
        h.errors += other.headline.errors;
        h.tool_time_ms += other.headline.tool_time_ms;
        for (by, rows) in other.groups {
            let mine = self.groups.entry(by).or_default();
            for (key, row) in rows {
                let into = mine.entry(key).or_insert_with(|| Row { key: row.key.clone(), ..Row::default() });
                into.sessions += row.sessions;
                into.ran.add(&row.ran);
                if let Some(produced) = row.produced {
                    into.produced.get_or_insert_with(Sums::default).add(&produced);
                }
            }
        }
        for (day, models) in other.day_model {
            let mine = self.day_model.entry(day).or_default();
            for (model, sums) in models {
                mine.entry(model).or_default().add(&sums);
            }
        }
        for (tool, acc) in other.tools {
            let into = self.tools.entry(tool).or_default();
            into.sessions += acc.sessions;
            into.calls += acc.calls;
            into.failures += acc.failures;
            into.latencies_ms.extend(acc.latencies_ms);
        }
        for slow in other.slowest {
            keep_slowest(&mut self.slowest, slow);
        }
        for (version, samples) in other.guidance {
            self.guidance.entry(version).or_default().extend(samples);
        }
    }

    /// The rows of a grouping of responses, costliest first (`Tool`: none).
    pub fn rows(&self, by: By) -> Vec<Row> {
        let mut rows: Vec<Row> = self.groups.get(&by).map(|r| r.values().cloned().collect()).unwrap_or_default();
        rows.sort_by(|a, b| b.ran.cost_usd_e6.cmp(&a.ran.cost_usd_e6).then_with(|| a.key.cmp(&b.key)));
        rows
    }

    /// Every tool, most called first.
    pub fn tool_rows(&self) -> Vec<ToolRow> {
        let mut rows: Vec<ToolRow> = self
            .tools
            .iter()
            .map(|(tool, acc)| {
                let mut sorted = acc.latencies_ms.clone();
                sorted.sort_unstable();
                ToolRow {
                    key: tool.clone(),
                    sessions: acc.sessions,
                    calls: acc.calls,
                    failures: acc.failures,
                    timed: sorted.len() as u64,
                    time_ms: sorted.iter().map(|&ms| u64::from(ms)).sum(),
                    p50_ms: percentile(&sorted, 50),
                    p90_ms: percentile(&sorted, 90),
                    max_ms: sorted.last().copied(),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.key.cmp(&b.key)));
        rows
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at
/// least `p` % of the values at or below it.
pub fn percentile<T: Copy>(sorted: &[T], p: u64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

fn keep_slowest(slowest: &mut Vec<Slow>, slow: Slow) {
    digest::keep_slowest(slowest, slow, digest::SLOWEST, |s| (s.call.latency_ms, s.call.ts_ms));
}

/// Local days of quarter hours, each worked out once.
pub struct Days {
    day_of: fn(u64) -> String,
    known: HashMap<u64, String>,
}

impl Days {
    pub fn new(day_of: fn(u64) -> String) -> Days {
        Days { day_of, known: HashMap::new() }
    }

    pub fn of(&mut self, quarter_ms: u64) -> &str {
        let day_of = self.day_of;
        self.known.entry(quarter_ms).or_insert_with(|| day_of(quarter_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::digest::{CostCell, ToolCell};

    fn sums(responses: u64, cost: i64) -> Sums {
        Sums { responses, cost_usd_e6: cost, ..Sums::default() }
    }

    fn digest(cells: Vec<CostCell>, latencies: Vec<u32>) -> Digest {
        let tools = vec![ToolCell {
            quarter_ms: 0,
            tool: "Bash".into(),
            calls: latencies.len() as u64,
            failures: 1,
            latencies_ms: latencies,
        }];
        Digest { events: 5, costs: cells, tools, ..Digest::default() }
    }

    fn cell(model: &str, commit: &str, produced: Option<&str>, s: Sums) -> CostCell {
        CostCell {
            quarter_ms: 0,
            model: Some(model.into()),
            branch: None,
            commit: Some(commit.into()),
            produced: produced.map(String::from),
            sums: s,
        }
    }

    #[test]
    fn every_grouping_adds_up_and_merging_equals_adding() {
        let a = digest(vec![cell("m1", "a", Some("b"), sums(2, 30)), cell("m2", "b", None, sums(1, 5))], vec![1, 2, 3]);
        let b = digest(vec![cell("m1", "b", None, sums(4, 100))], vec![10]);
        let s = |key| Session { key, agent: "claude", repo: "r", model: None, started_ms: 0, guidance: None };
        let mut days = Days::new(|_| "2026-01-01".into());
        let mut one = Tally::default();
        one.add(&s("a"), &a, &mut days);
        one.add(&s("b"), &b, &mut days);
        let (mut left, mut right) = (Tally::default(), Tally::default());
        left.add(&s("a"), &a, &mut days);
        right.add(&s("b"), &b, &mut days);
        left.merge(right);
        for by in By::COSTS {
            assert_eq!(one.rows(by), left.rows(by), "{by:?}");
            assert_eq!(one.rows(by).iter().map(|r| r.ran.cost_usd_e6).sum::<i64>(), 135, "{by:?} adds up");
        }
        assert_eq!(one.tool_rows(), left.tool_rows());
        let commit = |k: &str| one.rows(By::Commit).into_iter().find(|r| r.key == k).unwrap();
        assert_eq!((commit("a").ran.responses, commit("a").produced.unwrap().responses), (2, 0));
        assert_eq!(
            (commit("b").ran.responses, commit("b").produced.unwrap().responses, commit("b").sessions),
            (5, 2, 2)
        );
        let tools = one.tool_rows();
        assert_eq!((tools[0].calls, tools[0].failures, tools[0].sessions), (4, 2, 2));
        assert_eq!((tools[0].p50_ms, tools[0].p90_ms, tools[0].max_ms), (Some(2), Some(10), Some(10)));
        assert_eq!(one.headline.sessions, 2);
        assert_eq!(one.rows(By::Agent)[0].sessions, 2);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile::<u32>(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!((percentile(&ten, 50), percentile(&ten, 90), percentile(&ten, 100)), (Some(5), Some(9), Some(10)));
    }
}
