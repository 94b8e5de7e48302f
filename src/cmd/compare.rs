//! `kaizen-hook compare`: "did the change help?". The sessions that started
//! under two guidance versions of a repository, each figure before and
//! after with a 95 % interval for the difference (`report::guidance`).
//! By default the repository's last change: its two most recently first-seen
//! versions.

use super::Run;
use crate::config::Config;
use crate::report::guidance::{
    self, Comparison, MIN_CALLS, MIN_SESSIONS, MIN_TURNS, Metric, Version, label, signed, value,
};
use crate::report::history::{self, Filter};
use crate::report::{self, style::Style};
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Compare {
    /// The repository: its name, or its directory (default: the most recent session's).
    #[arg(long)]
    pub repo: Option<String>,
    /// The version before: a fingerprint or a unique prefix of one, `-` for
    /// sessions with no guidance file (default: the version before --after).
    #[arg(long)]
    pub before: Option<String>,
    /// The version after (default: the version after --before, else the latest).
    #[arg(long)]
    pub after: Option<String>,
    /// Machine-readable output (stable; fields in docs/commands.md).
    #[arg(long)]
    pub json: bool,
}

impl Run for Compare {
    fn run(&self, config: &Config) -> ExitCode {
        match self.compare(config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("kaizen-hook compare: {why}");
                ExitCode::FAILURE
            }
        }
    }
}

impl Compare {
    fn compare(&self, config: &Config) -> Result<String, String> {
        let home = config.home_to_read()?;
        let loaded = super::settled_sessions(config, home, "compare");
        // Rows are newest first: the default is where the work is now.
        let repo = match (&self.repo, loaded.rows.first()) {
            (Some(repo), _) => repo.clone(),
            (None, Some(newest)) => newest.repo.clone(),
            (None, None) => return Err("no sessions recorded yet".into()),
        };
        let filter = Filter { repo: Some(repo.clone()), ..Filter::default() };
        let read = history::read(home, &loaded.rows, &filter, report::local_day);
        for problem in &read.problems {
            eprintln!("kaizen-hook compare: {problem}");
        }
        let versions = guidance::versions(&read.tally);
        let names: std::collections::BTreeSet<&str> = versions.iter().map(|v| v.repo).collect();
        if names.len() > 1 {
            let names: Vec<&str> = names.into_iter().collect();
            return Err(format!("{repo} holds several repositories ({}): name one with --repo", names.join(", ")));
        }
        let (before, after) = pick(&versions, self.before.as_deref(), self.after.as_deref(), &repo)?;
        let comparison = guidance::compare(home, before, after);
        Ok(if self.json {
            serde_json::to_string_pretty(&comparison).unwrap_or_default() + "\n"
        } else {
            text(&comparison, &Style::detect())
        })
    }
}

/// The two versions asked for, by fingerprint or unique prefix; what is not
/// asked for is the neighbour, in order of first sight, of what is.
fn pick<'v, 'a>(
    versions: &'v [Version<'a>],
    before: Option<&str>,
    after: Option<&str>,
    repo: &str,
) -> Result<(&'v Version<'a>, &'v Version<'a>), String> {
    let find = |wanted: &str| -> Result<usize, String> {
        let hits: Vec<usize> = (0..versions.len()).filter(|&i| versions[i].key.starts_with(wanted)).collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!(
                "no guidance version {wanted:?} in {repo} (`report --by guidance --repo {repo}` lists them)"
            )),
            _ => Err(format!("{wanted:?} names {} guidance versions in {repo}: give more of it", hits.len())),
        }
    };
    let too_few = || format!("{repo} has {} guidance version(s) recorded: nothing to compare", versions.len());
    let (b, a) = match (before.map(find).transpose()?, after.map(find).transpose()?) {
        (Some(b), Some(a)) => (b, a),
        (Some(b), None) => (b, b + 1),
        (None, Some(a)) => (a.checked_sub(1).ok_or_else(too_few)?, a),
        (None, None) => (versions.len().checked_sub(2).ok_or_else(too_few)?, versions.len() - 1),
    };
    if b == a {
        return Err("--before and --after name the same version".into());
    }
    Ok((&versions[b], versions.get(a).ok_or_else(too_few)?))
}

/// What the figures can and cannot show, said with every comparison.
const CAVEAT: &str = "\
What this can and cannot show: these are the sessions that started under each version, side by
side. An interval that leaves 0 out means a difference this large would rarely come from chance
alone; one that contains 0 means the data cannot tell, not that nothing changed. Neither says the
guidance caused it: whatever else changed at the same time (the tasks, the code, the model, the
agent's version, who was working) moves these figures too. The failure rate's interval counts
calls as independent, which calls of one session are not, so it is narrower than it should be when
sessions differ a lot; the per-turn figures resample whole sessions. Six figures are compared at
once: even when nothing changed, one of them will now and then leave 0 out by chance.
";

fn text(c: &Comparison, style: &Style) -> String {
    let short = |k: &str| k.chars().take(10).collect::<String>();
    let changed = c.changed.as_ref().map_or("files not in the registry".into(), |ch| ch.describe());
    let mut out = style.bold(&format!(
        "guidance of {}: {} → {}  ({changed})",
        c.repo,
        short(&c.before.fingerprint),
        short(&c.after.fingerprint)
    ));
    out.push('\n');
    for (what, side) in [("before", &c.before), ("after", &c.after)] {
        let mix = |counts: &std::collections::BTreeMap<String, u64>| {
            counts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
        };
        out += &format!(
            "  {what:<6}  {:<16}  {} to {}  {} sessions  ({}; {})\n",
            side.fingerprint,
            report::local_time(side.first_seen_ms),
            report::local_time(side.last_seen_ms),
            side.sessions,
            mix(&side.agents),
            mix(&side.models)
        );
    }
    out.push('\n');
    out += &metrics_table(&c.metrics, "", style);
    out += &switches(c, style);
    let split_metrics = c.splits.iter().flat_map(|s| &s.metrics);
    if c.metrics.iter().chain(split_metrics).any(|m| m.too_little_data) {
        out += &format!(
            "\nnot enough data: fewer than {MIN_SESSIONS} sessions on a side, or fewer than {MIN_CALLS} tool \
             calls (the failure rate)\nor {MIN_TURNS} turns (per-turn figures); the difference is shown, without \
             an interval.\n"
        );
    }
    out + "\n" + CAVEAT
}

fn metrics_table(metrics: &[Metric], indent: &str, style: &Style) -> String {
    let mut rows =
        vec![["FIGURE", "BEFORE", "AFTER", "DIFFERENCE", "95 % INTERVAL", "COUNTED", ""].map(String::from).to_vec()];
    for m in metrics {
        let show = |v: Option<f64>| v.map_or("-".into(), |v| value(m.name, v));
        let interval = match (m.low, m.high) {
            (Some(low), Some(high)) => format!("{} to {}", signed(m.name, low), signed(m.name, high)),
            _ => "-".into(),
        };
        rows.push(vec![
            label(m.name).to_string(),
            show(m.before),
            show(m.after),
            m.difference.map_or("-".into(), |d| signed(m.name, d)),
            interval,
            format!("{}/{} {}", m.before_count, m.after_count, m.per),
            m.verdict.said().to_string(),
        ]);
    }
    let mut out = String::new();
    for (n, line) in super::report::aligned(&rows, &[0, 4, 5, 6]).into_iter().enumerate() {
        let line = format!("{indent}{line}");
        out += &if n == 0 { style.bold(&line) } else { line };
        out.push('\n');
    }
    out
}

/// The warning, and the figures per agent and model, when either differs
/// between the sides.
fn switches(c: &Comparison, style: &Style) -> String {
    let what = match (c.model_switch, c.agent_switch) {
        (false, false) => return String::new(),
        (true, false) => "the model",
        (false, true) => "the agent",
        (true, true) => "the agent and the model",
    };
    let mut out = format!(
        "\n{}\n",
        style.bold(&format!(
            "! {what} differs between the two sides: that alone moves these figures. Per agent and model:"
        ))
    );
    for split in &c.splits {
        let head = format!(
            "  {} {}: {} sessions before, {} after",
            split.agent, split.model, split.before_sessions, split.after_sessions
        );
        if split.before_sessions == 0 || split.after_sessions == 0 {
            out += &format!("{head}: nothing to compare\n");
        } else {
            out += &format!("{head}\n");
            out += &metrics_table(&split.metrics, "    ", style);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(key: &str) -> Version<'_> {
        Version { repo: "r", key, samples: &[], first_ms: 0, last_ms: 0 }
    }

    #[test]
    fn versions_are_picked_by_prefix_and_neighbour() {
        let all = [version("-"), version("aa11"), version("aa22"), version("bb33")];
        let keys = |b: Option<&str>, a: Option<&str>| pick(&all, b, a, "r").map(|(b, a)| (b.key, a.key));
        assert_eq!(keys(None, None), Ok(("aa22", "bb33")), "the last change");
        assert_eq!(keys(Some("-"), None), Ok(("-", "aa11")));
        assert_eq!(keys(None, Some("aa2")), Ok(("aa11", "aa22")));
        assert_eq!(keys(Some("-"), Some("bb")), Ok(("-", "bb33")));
        assert!(keys(Some("aa"), None).unwrap_err().contains("2 guidance versions"));
        assert!(keys(Some("cc"), None).unwrap_err().contains("no guidance version"));
        assert!(keys(Some("bb"), None).unwrap_err().contains("nothing to compare"));
        assert!(keys(None, Some("-")).unwrap_err().contains("nothing to compare"));
        assert!(keys(Some("bb"), Some("bb")).is_err());
        assert!(pick(&all[..1], None, None, "r").is_err());
    }
}
