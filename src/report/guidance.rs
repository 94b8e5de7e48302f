//! "Did the change help?": sessions grouped by the guidance version they
//! started with (`prompt_fingerprint`), per repository, in the order the
//! versions first appeared; and two versions compared, each figure with a
//! 95 % interval for its difference (`stats.rs`).
//!
//! Sessions, not turns or calls, are what is sampled: the figures of one
//! session hang together (the same task, the same person), so each
//! session's sums are kept apart (`Sample`) and intervals resample sessions.

use super::digest::Digest;
use super::stats::{self, Interval};
use super::tally::{self, Session, Tally, UNKNOWN};
use crate::store::guidance::{self as registry, Changes, GuidanceFile};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Fewer sessions than this on a side: no interval.
pub const MIN_SESSIONS: u64 = 5;
/// Fewer tool calls than this on a side: no interval for the failure rate.
pub const MIN_CALLS: u64 = 30;
/// Fewer turns (timed turns, for turn time) than this on a side: no
/// interval for a per-turn figure.
pub const MIN_TURNS: u64 = 30;
/// A model's (or agent's) share of sessions that moves by more than this
/// between the sides flags a switch.
const SWITCH_SHARE: f64 = 0.10;

/// One session's figures, as a comparison needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub agent: String,
    pub model: String,
    pub started_ms: u64,
    pub turns: u64,
    pub tool_calls: u64,
    pub failed_calls: u64,
    /// Micro-USD of the responses whose price is known.
    pub cost_usd_e6: i64,
    /// Input (fresh, cache reads and writes) and output tokens.
    pub tokens: u64,
    pub turn_ms: Vec<u64>,
}

impl Sample {
    pub fn of(session: &Session, d: &Digest) -> Sample {
        let tokens = d.costs.iter().map(|c| {
            let s = &c.sums;
            s.tokens_in + s.cache_read_tokens + s.cache_creation_tokens + s.tokens_out
        });
        Sample {
            agent: session.agent.to_string(),
            model: main_model(d).or(session.model).unwrap_or(UNKNOWN).to_string(),
            started_ms: session.started_ms,
            turns: d.turns,
            tool_calls: d.tools.iter().map(|t| t.calls).sum(),
            failed_calls: d.tools.iter().map(|t| t.failures).sum(),
            cost_usd_e6: d.costs.iter().map(|c| c.sums.cost_usd_e6).sum(),
            tokens: tokens.sum(),
            turn_ms: d.turn_ms.clone(),
        }
    }
}

/// The model that made most of the session's responses: a session's
/// subagents may use a smaller one.
fn main_model(d: &Digest) -> Option<&str> {
    let mut responses: BTreeMap<&str, u64> = BTreeMap::new();
    for cell in &d.costs {
        if let Some(model) = cell.model.as_deref() {
            *responses.entry(model).or_default() += cell.sums.responses;
        }
    }
    // The first of equals by name, so the answer does not depend on order.
    responses.into_iter().rev().max_by_key(|&(_, n)| n).map(|(model, _)| model)
}

/// A guidance version of a repository and the sessions that started with it.
pub struct Version<'a> {
    pub repo: &'a str,
    /// The fingerprint, or `-` for sessions that started with no guidance file.
    pub key: &'a str,
    pub samples: &'a [Sample],
    /// The first and last start of those sessions.
    pub first_ms: u64,
    pub last_ms: u64,
}

/// Every version in the tally, in the order each first appeared.
pub fn versions(tally: &Tally) -> Vec<Version<'_>> {
    let mut versions: Vec<Version> = tally
        .guidance
        .iter()
        .map(|((repo, key), samples)| Version {
            repo,
            key,
            samples,
            first_ms: samples.iter().map(|s| s.started_ms).min().unwrap_or(0),
            last_ms: samples.iter().map(|s| s.started_ms).max().unwrap_or(0),
        })
        .collect();
    versions.sort_by(|a, b| (a.first_ms, a.repo, a.key).cmp(&(b.first_ms, b.repo, b.key)));
    versions
}

/// A version's files as the registry knows them; none for `-`.
fn files_of(home: &Path, key: &str) -> Option<Vec<GuidanceFile>> {
    if key == UNKNOWN { Some(Vec::new()) } else { registry::load(home, key).map(|v| v.files) }
}

/// A set of sessions' figures added up. Field names are stable (`--json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub sessions: u64,
    pub turns: u64,
    pub tool_calls: u64,
    pub failed_calls: u64,
    pub failed_calls_per_100: Option<f64>,
    pub turns_per_session: Option<f64>,
    pub tool_calls_per_turn: Option<f64>,
    pub cost_usd_e6: i64,
    pub cost_usd_e6_per_turn: Option<f64>,
    pub tokens: u64,
    pub tokens_per_turn: Option<f64>,
    pub median_turn_ms: Option<u64>,
}

impl Figures {
    pub fn of(samples: &[Sample]) -> Figures {
        let sum = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>();
        let per = |n: f64, d: u64| (d > 0).then(|| n / d as f64);
        let (sessions, turns, calls, failed) =
            (samples.len() as u64, sum(|s| s.turns), sum(|s| s.tool_calls), sum(|s| s.failed_calls));
        let cost: i64 = samples.iter().map(|s| s.cost_usd_e6).sum();
        let tokens = sum(|s| s.tokens);
        let mut turn_ms: Vec<u64> = samples.iter().flat_map(|s| s.turn_ms.iter().copied()).collect();
        turn_ms.sort_unstable();
        Figures {
            sessions,
            turns,
            tool_calls: calls,
            failed_calls: failed,
            failed_calls_per_100: per(100.0 * failed as f64, calls),
            turns_per_session: per(turns as f64, sessions),
            tool_calls_per_turn: per(calls as f64, turns),
            cost_usd_e6: cost,
            cost_usd_e6_per_turn: per(cost as f64, turns),
            tokens,
            tokens_per_turn: per(tokens as f64, turns),
            median_turn_ms: tally::percentile(&turn_ms, 50),
        }
    }
}

/// One row of `report --by guidance`.
#[derive(Debug, Clone, Serialize)]
pub struct GuidanceRow {
    pub repo: String,
    /// The fingerprint, or `-`.
    pub key: String,
    /// The first and last start of its sessions (in the chosen period).
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    #[serde(flatten)]
    pub figures: Figures,
    /// Its files, from the registry (`null` when it has no file for it).
    pub files: Option<Vec<GuidanceFile>>,
    /// What changed from the repository's previous version (`null` for its
    /// first, or when either is missing from the registry).
    pub changed: Option<Changes>,
}

/// Every version's row, in the order the versions first appeared.
pub fn rows(home: &Path, tally: &Tally) -> Vec<GuidanceRow> {
    let mut previous: BTreeMap<&str, Option<Vec<GuidanceFile>>> = BTreeMap::new();
    let mut rows = Vec::new();
    for v in versions(tally) {
        let files = files_of(home, v.key);
        let changed = match (previous.get(v.repo), &files) {
            (Some(Some(before)), Some(after)) => Some(Changes::between(before, after)),
            _ => None,
        };
        previous.insert(v.repo, files.clone());
        rows.push(GuidanceRow {
            repo: v.repo.to_string(),
            key: v.key.to_string(),
            first_seen_ms: v.first_ms,
            last_seen_ms: v.last_ms,
            figures: Figures::of(v.samples),
            files: files.filter(|_| v.key != UNKNOWN),
            changed,
        });
    }
    rows
}

/// Two versions of a repository compared (`compare`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub repo: String,
    pub before: Side,
    pub after: Side,
    pub changed: Option<Changes>,
    pub model_switch: bool,
    pub agent_switch: bool,
    pub metrics: Vec<Metric>,
    /// The same figures per agent and model, when either differs between
    /// the sides (else empty).
    pub splits: Vec<Split>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub fingerprint: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub sessions: u64,
    /// Sessions per agent, and per model (the one that made most of a session's responses).
    pub agents: BTreeMap<String, u64>,
    pub models: BTreeMap<String, u64>,
}

/// One figure before and after, and the 95 % interval of `after - before`.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: &'static str,
    /// `newcombe_wilson` or `session_bootstrap`.
    pub method: &'static str,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub difference: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// What the figure is per on each side: calls, turns, timed turns or sessions (`per`).
    pub per: &'static str,
    pub before_count: u64,
    pub after_count: u64,
    pub before_sessions: u64,
    pub after_sessions: u64,
    pub too_little_data: bool,
    pub model_switch: bool,
    pub agent_switch: bool,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval lies below 0.
    Lower,
    /// The interval lies above 0.
    Higher,
    /// The interval contains 0: the data cannot tell.
    NoDifferenceShown,
    TooLittleData,
}

/// One agent and model's sessions on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Split {
    pub agent: String,
    pub model: String,
    pub before_sessions: u64,
    pub after_sessions: u64,
    pub metrics: Vec<Metric>,
}

/// A figure that is a ratio of per-session sums: numerator and denominator.
type PerSession = fn(&Sample) -> (f64, f64);

/// The ratio figures: name, what they are per, the least denominator a side
/// needs, and each session's part.
const RATIOS: [(&str, &str, u64, PerSession); 5] = [
    ("tool_calls_per_turn", "turns", MIN_TURNS, |s| (s.tool_calls as f64, s.turns as f64)),
    ("cost_usd_e6_per_turn", "turns", MIN_TURNS, |s| (s.cost_usd_e6 as f64, s.turns as f64)),
    ("tokens_per_turn", "turns", MIN_TURNS, |s| (s.tokens as f64, s.turns as f64)),
    ("mean_turn_ms", "timed turns", MIN_TURNS, |s| (s.turn_ms.iter().sum::<u64>() as f64, s.turn_ms.len() as f64)),
    ("turns_per_session", "sessions", MIN_SESSIONS, |s| (s.turns as f64, 1.0)),
];

/// `before` and `after` (two versions of `repo`) compared.
pub fn compare(home: &Path, before: &Version, after: &Version) -> Comparison {
    let (b, a) = (side(before), side(after));
    let model_switch = switched(&b.models, &a.models);
    let agent_switch = switched(&b.agents, &a.agents);
    let flags = (model_switch, agent_switch);
    let changed = match (files_of(home, before.key), files_of(home, after.key)) {
        (Some(old), Some(new)) => Some(Changes::between(&old, &new)),
        _ => None,
    };
    let splits = if model_switch || agent_switch { splits(before.samples, after.samples) } else { Vec::new() };
    Comparison {
        repo: after.repo.to_string(),
        metrics: metrics(before.samples, after.samples, flags),
        before: b,
        after: a,
        changed,
        model_switch,
        agent_switch,
        splits,
    }
}

/// The last change of every repository with two versions or more.
pub fn last_changes(home: &Path, tally: &Tally) -> Vec<Comparison> {
    let versions = versions(tally);
    let mut repos: Vec<&str> = versions.iter().map(|v| v.repo).collect();
    repos.sort_unstable();
    repos.dedup();
    repos
        .into_iter()
        .filter_map(|repo| {
            let mine: Vec<&Version> = versions.iter().filter(|v| v.repo == repo).collect();
            let [.., before, after] = mine.as_slice() else { return None };
            Some(compare(home, before, after))
        })
        .collect()
}

fn side(v: &Version) -> Side {
    let mut agents = BTreeMap::new();
    let mut models = BTreeMap::new();
    for s in v.samples {
        *agents.entry(s.agent.clone()).or_default() += 1;
        *models.entry(s.model.clone()).or_default() += 1;
    }
    Side {
        fingerprint: v.key.to_string(),
        first_seen_ms: v.first_ms,
        last_seen_ms: v.last_ms,
        sessions: v.samples.len() as u64,
        agents,
        models,
    }
}

/// Whether some value's share of the sessions differs by more than
/// `SWITCH_SHARE` between the sides: enough of a shift to move the figures
/// by itself.
fn switched(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> bool {
    let share = |counts: &BTreeMap<String, u64>, key: &String| {
        let total: u64 = counts.values().sum();
        if total == 0 { 0.0 } else { counts.get(key).copied().unwrap_or(0) as f64 / total as f64 }
    };
    before.keys().chain(after.keys()).any(|k| (share(before, k) - share(after, k)).abs() > SWITCH_SHARE)
}

/// Every figure compared, the failure rate first.
fn metrics(before: &[Sample], after: &[Sample], (model_switch, agent_switch): (bool, bool)) -> Vec<Metric> {
    let mut all = vec![failure_rate(before, after)];
    all.extend(RATIOS.iter().map(|&(name, per, least, part)| ratio_metric((name, per, least), part, before, after)));
    for m in &mut all {
        m.model_switch = model_switch;
        m.agent_switch = agent_switch;
    }
    all
}

/// Failed tool calls per 100 calls, with Newcombe's interval.
fn failure_rate(before: &[Sample], after: &[Sample]) -> Metric {
    let count = |side: &[Sample]| {
        (side.iter().map(|s| s.failed_calls).sum::<u64>(), side.iter().map(|s| s.tool_calls).sum::<u64>())
    };
    let ((k1, n1), (k2, n2)) = (count(before), count(after));
    let enough = enough(before, after, (n1, n2), MIN_CALLS);
    let interval = stats::proportion_difference((k1, n1), (k2, n2));
    let scaled =
        Interval { difference: interval.difference * 100.0, low: interval.low * 100.0, high: interval.high * 100.0 };
    let rate = |k: u64, n: u64| (n > 0).then(|| 100.0 * k as f64 / n as f64);
    let mut m = metric(("failed_calls_per_100", "calls"), before, after, (n1, n2));
    m.method = "newcombe_wilson";
    m.before = rate(k1, n1);
    m.after = rate(k2, n2);
    judge(&mut m, enough, (n1 > 0 && n2 > 0).then_some(scaled));
    m
}

fn ratio_metric(
    (name, per, least): (&'static str, &'static str, u64),
    part: PerSession,
    before: &[Sample],
    after: &[Sample],
) -> Metric {
    let pairs = |side: &[Sample]| side.iter().map(part).collect::<Vec<_>>();
    let (b, a) = (pairs(before), pairs(after));
    let denominator = |pairs: &[(f64, f64)]| pairs.iter().map(|p| p.1).sum::<f64>() as u64;
    let counts = (denominator(&b), denominator(&a));
    let mut m = metric((name, per), before, after, counts);
    m.method = "session_bootstrap";
    m.before = stats::ratio(&b);
    m.after = stats::ratio(&a);
    let enough = enough(before, after, counts, least);
    // The bootstrap's cost is only paid when its answer is shown.
    judge(&mut m, enough, if enough { stats::ratio_difference(&b, &a) } else { None });
    m
}

fn enough(before: &[Sample], after: &[Sample], (n1, n2): (u64, u64), least: u64) -> bool {
    before.len() as u64 >= MIN_SESSIONS && after.len() as u64 >= MIN_SESSIONS && n1 >= least && n2 >= least
}

/// A metric with its counts, and nothing known yet.
fn metric(
    (name, per): (&'static str, &'static str),
    before: &[Sample],
    after: &[Sample],
    (before_count, after_count): (u64, u64),
) -> Metric {
    Metric {
        name,
        method: "",
        before: None,
        after: None,
        difference: None,
        low: None,
        high: None,
        per,
        before_count,
        after_count,
        before_sessions: before.len() as u64,
        after_sessions: after.len() as u64,
        too_little_data: true,
        model_switch: false,
        agent_switch: false,
        verdict: Verdict::TooLittleData,
    }
}

/// The difference always (when both sides have one); the interval and a
/// verdict only with enough data.
fn judge(m: &mut Metric, enough: bool, interval: Option<Interval>) {
    m.difference = m.before.zip(m.after).map(|(b, a)| a - b);
    let Some(i) = interval.filter(|_| enough) else { return };
    m.low = Some(i.low);
    m.high = Some(i.high);
    m.too_little_data = false;
    m.verdict = match i.excludes_zero() {
        false => Verdict::NoDifferenceShown,
        true if i.high < 0.0 => Verdict::Lower,
        true => Verdict::Higher,
    };
}

/// The figures per agent and model, each compared with itself.
fn splits(before: &[Sample], after: &[Sample]) -> Vec<Split> {
    // Per agent and model: its sessions before, and after.
    type Sides = (Vec<Sample>, Vec<Sample>);
    let mut groups: BTreeMap<(&str, &str), Sides> = BTreeMap::new();
    for s in before {
        groups.entry((&s.agent, &s.model)).or_default().0.push(s.clone());
    }
    for s in after {
        groups.entry((&s.agent, &s.model)).or_default().1.push(s.clone());
    }
    groups
        .into_iter()
        .map(|((agent, model), (b, a))| Split {
            agent: agent.to_string(),
            model: model.to_string(),
            before_sessions: b.len() as u64,
            after_sessions: a.len() as u64,
            metrics: metrics(&b, &a, (false, false)),
        })
        .collect()
}

impl Verdict {
    /// The verdict in words.
    pub fn said(self) -> &'static str {
        match self {
            Verdict::Lower => "lower",
            Verdict::Higher => "higher",
            Verdict::NoDifferenceShown => "no difference shown",
            Verdict::TooLittleData => "not enough data",
        }
    }
}

/// A figure's name in words.
pub fn label(name: &str) -> &str {
    match name {
        "failed_calls_per_100" => "failed calls per 100",
        "tool_calls_per_turn" => "tool calls per turn",
        "cost_usd_e6_per_turn" => "cost per turn",
        "tokens_per_turn" => "tokens per turn",
        "mean_turn_ms" => "mean turn time",
        "turns_per_session" => "turns per session",
        other => other,
    }
}

/// A figure's value as a person reads it: `20.0`, `$0.0312`, `12.3k`, `41.2s`.
pub fn value(name: &str, v: f64) -> String {
    match name {
        "failed_calls_per_100" => format!("{v:.1}"),
        "cost_usd_e6_per_turn" => super::usd(v.round() as i64),
        "tokens_per_turn" => super::tokens(v.round() as u64),
        "mean_turn_ms" => super::duration(v.round() as u64),
        _ => format!("{v:.2}"),
    }
}

/// A difference, with its sign in front: `-10.0`, `+$0.0012`.
pub fn signed(name: &str, v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}", value(name, v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(model: &str, calls: u64, failed: u64, turns: u64) -> Sample {
        Sample {
            agent: "claude".into(),
            model: model.into(),
            turns,
            tool_calls: calls,
            failed_calls: failed,
            turn_ms: vec![1000; turns as usize],
            ..Sample::default()
        }
    }

    fn version<'a>(key: &'a str, samples: &'a [Sample]) -> Version<'a> {
        Version { repo: "r", key, samples, first_ms: 0, last_ms: 0 }
    }

    fn find<'a>(c: &'a Comparison, name: &str) -> &'a Metric {
        c.metrics.iter().find(|m| m.name == name).unwrap()
    }

    #[test]
    fn a_halved_failure_rate_is_found_and_nothing_else_is_claimed() {
        let home = tempfile::tempdir().unwrap();
        let before = vec![sample("m", 10, 2, 4); 20];
        let after = vec![sample("m", 10, 1, 4); 20];
        let c = compare(home.path(), &version("-", &before), &version("-", &after));
        let rate = find(&c, "failed_calls_per_100");
        assert_eq!((rate.before, rate.after, rate.difference), (Some(20.0), Some(10.0), Some(-10.0)));
        assert_eq!(rate.verdict, Verdict::Lower, "{rate:?}");
        assert!(rate.low.unwrap() < -10.0 && -10.0 < rate.high.unwrap());
        let calls = find(&c, "tool_calls_per_turn");
        assert_eq!((calls.verdict, calls.low, calls.high), (Verdict::NoDifferenceShown, Some(0.0), Some(0.0)));
        assert!(!c.model_switch && c.splits.is_empty());
        assert_eq!(c.changed, Some(Changes::default()), "`-` to `-`: no file on either side");
    }

    #[test]
    fn few_sessions_or_calls_are_too_little_data() {
        let home = tempfile::tempdir().unwrap();
        let before = vec![sample("m", 10, 5, 10); 4];
        let after = vec![sample("m", 10, 0, 10); 40];
        let c = compare(home.path(), &version("-", &before), &version("-", &after));
        assert!(c.metrics.iter().all(|m| m.too_little_data && m.verdict == Verdict::TooLittleData));
        let rate = find(&c, "failed_calls_per_100");
        assert_eq!((rate.difference, rate.low), (Some(-50.0), None), "the difference is said, not judged");
        let before = vec![sample("m", 2, 1, 10); 10];
        let c = compare(home.path(), &version("-", &before), &version("-", &after));
        assert!(find(&c, "failed_calls_per_100").too_little_data, "20 calls before");
        assert!(!find(&c, "tool_calls_per_turn").too_little_data, "100 turns before");
    }

    #[test]
    fn a_model_switch_is_flagged_and_split() {
        let home = tempfile::tempdir().unwrap();
        let before = vec![sample("big", 10, 2, 4); 20];
        let mut after = vec![sample("small", 10, 1, 4); 18];
        after.extend(vec![sample("big", 10, 2, 4); 2]);
        let c = compare(home.path(), &version("-", &before), &version("-", &after));
        assert!(c.model_switch && !c.agent_switch);
        assert!(c.metrics.iter().all(|m| m.model_switch));
        let groups: Vec<(&str, u64, u64)> =
            c.splits.iter().map(|s| (s.model.as_str(), s.before_sessions, s.after_sessions)).collect();
        assert_eq!(groups, [("big", 20, 2), ("small", 0, 18)]);
        // 5 % of sessions on another model is no switch.
        let mut after = vec![sample("big", 10, 1, 4); 19];
        after.push(sample("small", 10, 1, 4));
        assert!(!compare(home.path(), &version("-", &before), &version("-", &after)).model_switch);
    }

    #[test]
    fn the_main_model_is_the_one_with_most_responses() {
        use crate::report::digest::CostCell;
        use crate::report::tally::Sums;
        let cell = |model: &str, responses| CostCell {
            model: Some(model.into()),
            sums: Sums { responses, ..Sums::default() },
            ..CostCell::default()
        };
        let d = Digest { costs: vec![cell("haiku", 3), cell("opus", 5), cell("haiku", 3)], ..Digest::default() };
        assert_eq!(main_model(&d), Some("haiku"));
        let tie = Digest { costs: vec![cell("b", 2), cell("a", 2)], ..Digest::default() };
        assert_eq!(main_model(&tie), Some("a"));
        assert_eq!(main_model(&Digest::default()), None);
    }

    #[test]
    fn differences_carry_their_sign_and_unit() {
        assert_eq!(signed("failed_calls_per_100", -10.04), "-10.0");
        assert_eq!(signed("cost_usd_e6_per_turn", 1200.0), "+$0.0012");
        assert_eq!(signed("mean_turn_ms", -1500.0), "-1.5s");
        assert_eq!(value("tool_calls_per_turn", 4.0), "4.00");
    }
}
