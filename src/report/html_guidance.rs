//! The report page's guidance section: per repository, its guidance
//! versions in the order they first appeared (`report --by guidance`), and
//! its last change compared (`compare`): each figure before and after, its
//! difference drawn with the 95 % interval around a zero line, and the same
//! in a table. What the data cannot say (not enough data, a switch of model
//! or agent) is said in words. File and repository names come from the
//! user's repositories: escaped, as everything else.

use super::guidance::{self, Comparison, GuidanceRow, MIN_CALLS, MIN_SESSIONS, MIN_TURNS, Metric, Verdict};
use super::html::escape;
use super::svg::{self, Whisker};
use super::tally::{Tally, UNKNOWN};
use super::{local_time, usd};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

/// The section: a table per repository with a guidance version, its last
/// change below it; one line when no session had a guidance file.
pub fn section(b: &mut String, home: &Path, tally: &Tally) {
    b.push_str("<section id=\"guidance\"><h2>Guidance</h2><p class=\"note\">Sessions by the guidance version they started with (a hash of CLAUDE.md, AGENTS.md, GEMINI.md, rules directories...), per repository, in the order the versions first appeared; each repository's last change compared below its versions.</p>");
    let rows = guidance::rows(home, tally);
    if rows.is_empty() {
        b.push_str("<p class=\"na\">No sessions in this period.</p></section>");
        return;
    }
    // The repositories with a guidance version, in the order first seen.
    let mut repos: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.key != UNKNOWN) {
        if !repos.contains(&r.repo.as_str()) {
            repos.push(&r.repo);
        }
    }
    let without = |r: &&GuidanceRow| !repos.contains(&r.repo.as_str());
    let bare_sessions: u64 = rows.iter().filter(without).map(|r| r.figures.sessions).sum();
    if repos.is_empty() {
        let _ = write!(
            b,
            "<p class=\"na\">No guidance version: the {} in this period started in repositories with no guidance file (no CLAUDE.md, AGENTS.md, GEMINI.md or rules directory).</p></section>",
            count(bare_sessions, "session")
        );
        return;
    }
    let changes = guidance::last_changes(home, tally);
    for repo in &repos {
        let _ = write!(b, "<article data-repo=\"{0}\"><h3>{0}</h3>", escape(repo));
        versions(b, rows.iter().filter(|r| r.repo == *repo));
        match changes.iter().find(|c| c.repo == *repo) {
            Some(c) => last_change(b, c),
            None => b.push_str("<p class=\"na\">One guidance version: nothing to compare yet.</p>"),
        }
        b.push_str("</article>");
    }
    if bare_sessions > 0 {
        let others: BTreeSet<&str> = rows.iter().filter(without).map(|r| r.repo.as_str()).collect();
        let _ = write!(
            b,
            "<p class=\"na\">And {} in {} with no guidance file.</p>",
            count(bare_sessions, "session"),
            count(others.len() as u64, "other repository")
        );
    }
    b.push_str("</section>");
}

/// A repository's versions, oldest first, each figure exact in `data-value`
/// as `report --by guidance --json` has it.
fn versions<'a>(b: &mut String, rows: impl Iterator<Item = &'a GuidanceRow>) {
    b.push_str("<div class=\"scroll\"><table><thead><tr><th>version</th><th>first seen</th><th class=\"n\">sessions</th><th class=\"n\">turns</th><th class=\"n\">failed calls per 100</th><th class=\"n\">cost per turn</th><th>files changed</th></tr></thead><tbody>");
    for (i, r) in rows.enumerate() {
        let f = &r.figures;
        let version = if r.key == UNKNOWN {
            "<span class=\"na\">no guidance file</span>".to_string()
        } else {
            let files: Vec<&str> = r.files.iter().flatten().map(|f| f.path.as_str()).collect();
            format!(
                "<code title=\"{} ({})\">{}</code>",
                escape(&r.key),
                escape(&files.join(", ")),
                escape(&r.key.chars().take(10).collect::<String>())
            )
        };
        let changed = match (&r.changed, i) {
            (Some(c), _) => escape(&c.describe()),
            (None, 0) => "<span class=\"na\">first seen here</span>".into(),
            (None, _) => "<span class=\"na\">files not recorded</span>".into(),
        };
        let _ = write!(
            b,
            "<tr data-key=\"{}\" data-repo=\"{}\"><td>{version}</td><td class=\"n\" data-field=\"first_seen_ms\" data-value=\"{}\">{}</td>",
            escape(&r.key),
            escape(&r.repo),
            r.first_seen_ms,
            local_time(r.first_seen_ms)
        );
        cell(b, "sessions", &f.sessions, &f.sessions.to_string());
        cell(b, "turns", &f.turns, &f.turns.to_string());
        let failed = f.failed_calls_per_100.map_or("–".into(), |v| guidance::value("failed_calls_per_100", v));
        let failed = format!("{failed} <span class=\"sub\">({} of {})</span>", f.failed_calls, f.tool_calls);
        cell(b, "failed_calls_per_100", &f.failed_calls_per_100, &failed);
        let cost = f.cost_usd_e6_per_turn.map_or("–".into(), |v| usd(v.round() as i64));
        cell(b, "cost_usd_e6_per_turn", &f.cost_usd_e6_per_turn, &cost);
        let _ = write!(b, "<td class=\"s\">{changed}</td></tr>");
    }
    b.push_str("</tbody></table></div>");
}

/// A table cell: `shown` (markup already escaped) and the exact value as `--json` writes it.
fn cell(b: &mut String, field: &str, value: &impl Serialize, shown: &str) {
    let exact = serde_json::to_string(value).unwrap_or_default();
    let _ = write!(b, "<td class=\"n\" data-field=\"{field}\" data-value=\"{}\">{shown}</td>", escape(&exact));
}

/// The last change: both sides, the switches in words, the chart and the table.
fn last_change(b: &mut String, c: &Comparison) {
    let short = |k: &str| if k == UNKNOWN { "no guidance file".to_string() } else { k.chars().take(10).collect() };
    let changed = c.changed.as_ref().map_or("files not recorded".into(), |ch| ch.describe());
    let _ = write!(
        b,
        "<h4>Last change: <code>{}</code> → <code>{}</code> <span class=\"sub\">({})</span></h4><p class=\"note\">",
        escape(&short(&c.before.fingerprint)),
        escape(&short(&c.after.fingerprint)),
        escape(&changed)
    );
    for (what, side) in [("before", &c.before), ("after", &c.after)] {
        let _ = write!(
            b,
            "<span>{what}: {}, {} to {}. </span>",
            count(side.sessions, "session"),
            local_time(side.first_seen_ms),
            local_time(side.last_seen_ms)
        );
    }
    b.push_str("</p>");
    switches(b, c);
    let bars: Vec<Whisker> = c.metrics.iter().map(whisker).collect();
    let what = "each figure's difference, after minus before, as a share of its value before, with its 95 % interval";
    let _ = write!(
        b,
        "<p class=\"note\">Bars: the difference as a share of the value before; whiskers: its 95 % interval; grey: no difference shown, or not enough data.</p><div class=\"scroll\">{}</div>",
        svg::whiskers(&bars, what, percent)
    );
    b.push_str("<div class=\"scroll\"><table><thead><tr><th>figure</th><th class=\"n\">before</th><th class=\"n\">after</th><th class=\"n\">difference</th><th class=\"n\">95 % interval</th><th class=\"n\">counted</th><th>verdict</th></tr></thead><tbody>");
    for m in &c.metrics {
        let show = |v: Option<f64>| v.map_or("–".into(), |v| guidance::value(m.name, v));
        let interval = match (m.low, m.high) {
            (Some(low), Some(high)) => {
                format!("{} to {}", guidance::signed(m.name, low), guidance::signed(m.name, high))
            }
            _ => "–".into(),
        };
        let _ = write!(b, "<tr data-key=\"{}\"><td>{}</td>", m.name, guidance::label(m.name));
        cell(b, "before", &m.before, &escape(&show(m.before)));
        cell(b, "after", &m.after, &escape(&show(m.after)));
        cell(
            b,
            "difference",
            &m.difference,
            &escape(&m.difference.map_or("–".into(), |d| guidance::signed(m.name, d))),
        );
        let _ = write!(
            b,
            "<td class=\"n\" data-field=\"low\" data-value=\"{}\" data-high=\"{}\">{}</td><td class=\"n\">{}/{} {}</td><td data-field=\"verdict\" data-value=\"{}\">{}</td></tr>",
            serde_json::to_string(&m.low).unwrap_or_default(),
            serde_json::to_string(&m.high).unwrap_or_default(),
            escape(&interval),
            m.before_count,
            m.after_count,
            m.per,
            serde_json::to_value(m.verdict).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            m.verdict.said()
        );
    }
    b.push_str("</tbody></table></div>");
    let thin: Vec<&str> = c.metrics.iter().filter(|m| m.too_little_data).map(|m| guidance::label(m.name)).collect();
    if !thin.is_empty() {
        let _ = write!(
            b,
            "<p class=\"na\">Not enough data for {}: fewer than {MIN_SESSIONS} sessions on a side, or fewer than {MIN_CALLS} tool calls (the failure rate) or {MIN_TURNS} turns (per-turn figures); the difference is shown, without an interval.</p>",
            thin.join(", ")
        );
    }
    let _ = write!(
        b,
        "<p class=\"note\">These are the sessions that started under each version, side by side: an interval that leaves 0 out means a difference this large would rarely come from chance alone, one that contains 0 that the data cannot tell; neither says the guidance caused it. <code>kaizen-hook compare --repo {}</code> says it in full.</p>",
        escape(&c.repo)
    );
}

/// A switch of model or agent, said above the figures it would move.
fn switches(b: &mut String, c: &Comparison) {
    let what = match (c.model_switch, c.agent_switch) {
        (false, false) => return,
        (true, false) => "The model",
        (false, true) => "The agent",
        (true, true) => "The agent and the model",
    };
    let per: Vec<String> = c
        .splits
        .iter()
        .map(|s| format!("{} {}: {} before, {} after", s.agent, s.model, s.before_sessions, s.after_sessions))
        .collect();
    let _ = write!(
        b,
        "<p class=\"warn\" data-field=\"switch\">{what} differs between the two sides: that alone moves these figures. Sessions per agent and model: {}.</p>",
        escape(&per.join("; "))
    );
}

/// A figure's row in the chart: its difference as a share of its value before.
fn whisker(m: &Metric) -> Whisker {
    let base = m.before.filter(|&v| v > 0.0);
    let share = |v: f64| base.map(|base| 100.0 * v / base);
    let value = m.difference.and_then(share);
    let interval = m.low.zip(m.high).and_then(|(l, h)| share(l).zip(share(h)));
    let note = match (value, interval) {
        _ if m.difference.is_none() => "no figure on a side".to_string(),
        (None, _) => format!("{}, from 0: in the table", m.verdict.said()),
        (Some(v), Some((l, h))) => format!("{} ({} to {}): {}", percent(v), percent(l), percent(h), m.verdict.said()),
        (Some(v), None) => format!("{}: {}", percent(v), m.verdict.said()),
    };
    let show = |v: Option<f64>| v.map_or("–".into(), |v| guidance::value(m.name, v));
    let interval_said = match (m.low, m.high) {
        (Some(l), Some(h)) => {
            format!(" (95 % interval {} to {})", guidance::signed(m.name, l), guidance::signed(m.name, h))
        }
        _ => String::new(),
    };
    Whisker {
        label: guidance::label(m.name).to_string(),
        value,
        interval,
        class: if matches!(m.verdict, Verdict::Lower | Verdict::Higher) { "bar" } else { "mu" },
        title: format!(
            "{}: {} → {}, difference {}{interval_said}: {}",
            guidance::label(m.name),
            show(m.before),
            show(m.after),
            m.difference.map_or("–".into(), |d| guidance::signed(m.name, d)),
            m.verdict.said()
        ),
        note,
    }
}

/// A share in percent, signed: `-50 %`, `+2.5 %`, `0 %`.
fn percent(v: f64) -> String {
    let digits = format!("{:.1}", v.abs());
    let digits = digits.strip_suffix(".0").unwrap_or(&digits);
    match digits {
        "0" => "0 %".into(),
        _ if v < 0.0 => format!("-{digits} %"),
        _ => format!("+{digits} %"),
    }
}

/// `1 session`, `2 sessions`; `1 other repository`, `2 other repositories`.
fn count(n: u64, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_counts_read_plainly() {
        assert_eq!(
            (percent(-50.0), percent(2.5), percent(0.04), percent(120.0)),
            ("-50 %".into(), "+2.5 %".into(), "0 %".into(), "+120 %".into())
        );
        assert_eq!((count(1, "session"), count(3, "session")), ("1 session".into(), "3 sessions".into()));
        assert_eq!(count(2, "other repository"), "2 other repositories");
    }
}
