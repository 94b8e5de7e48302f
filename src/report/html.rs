//! `report --html` and `show --html`: one self-contained page each. No
//! script and nothing fetched (a Content-Security-Policy says so), styles
//! inline, charts drawn here as SVG (`svg.rs`), light and dark from the
//! reader's settings. Every chart has its figures in a table beside it, and
//! every figure that `report --json` has is also in a `data-value`
//! attribute, exact, so a test can compare the two. Whatever an agent sent
//! (prompts, summaries, branch and repository names) is escaped as text.
//! The guidance section is in `html_guidance.rs`.

use super::svg::{self, Bar, Segment};
use super::tally::{By, Row, Sums, Tally, UNKNOWN};
use super::timeline;
use super::{SessionRow, duration, local_time, tokens, usd};
use crate::store::SessionFiles;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write;
use std::path::Path;

/// Sessions drawn with their timeline on the report page: the most recent.
const TIMELINES: usize = 20;
/// The steps of one timeline on the report page.
const STEPS: usize = 200;
/// The steps of all timelines on the report page: keeps the page small.
const ALL_STEPS: usize = 1500;
/// Rows of the session list, and of a grouping's table.
const SESSION_ROWS: usize = 500;
const TABLE_ROWS: usize = 100;
/// Bars in a chart: the rest are in its table.
const CHART_BARS: usize = 12;
/// Days drawn one column each, those without responses too.
const CALENDAR_DAYS: i64 = 120;

/// Text as HTML text or attribute value: never markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One colour per model, the costliest first, the same in every chart.
pub struct Palette(Vec<String>);

const MODEL_CLASSES: [&str; 8] = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"];

impl Palette {
    pub fn of(models: impl IntoIterator<Item = String>) -> Palette {
        Palette(models.into_iter().filter(|m| m != UNKNOWN).collect())
    }

    /// The colour of a model: unknown ones grey, those past eight another grey.
    pub fn class(&self, model: Option<&str>) -> &'static str {
        match model.and_then(|m| self.0.iter().position(|known| known == m)) {
            Some(i) => MODEL_CLASSES.get(i).copied().unwrap_or("mx"),
            None if model.is_some_and(|m| m != UNKNOWN) => "mx",
            None => "mu",
        }
    }
}

/// The report page for the period's tally and its sessions (newest first).
pub fn render(home: &Path, tally: &Tally, sessions: &[&SessionRow], about: &str) -> String {
    let models = tally.rows(By::Model);
    let palette = Palette::of(models.iter().map(|r| r.key.clone()));
    let sampled = sample(home, sessions);
    let mut b = String::with_capacity(256 * 1024);
    let _ = write!(
        b,
        "<header><h1>kaizen report</h1><p class=\"about\">{} · written {}</p></header>",
        escape(about),
        local_time(crate::time::now_ms())
    );
    b.push_str(
        "<nav><a href=\"#days\">per day</a><a href=\"#branches\">branches</a><a href=\"#commits\">commits</a><a href=\"#agents\">agents and repositories</a><a href=\"#guidance\">guidance</a><a href=\"#tools\">tools</a><a href=\"#slowest\">slowest calls</a><a href=\"#sessions\">sessions</a><a href=\"#timelines\">timelines</a></nav>",
    );
    headline(&mut b, tally);
    per_day(&mut b, tally, &models, &palette);
    let branches = tally.rows(By::Branch);
    section(&mut b, "branches", "Cost by branch", "branch", By::Branch, &branches, "the branch each turn started on");
    commits(&mut b, &tally.rows(By::Commit));
    b.push_str("<section id=\"agents\"><h2>Agents and repositories</h2><div class=\"pair\"><div>");
    grouping(&mut b, "agent", By::Agent, &tally.rows(By::Agent), false);
    b.push_str("</div><div>");
    grouping(&mut b, "repository", By::Repo, &tally.rows(By::Repo), false);
    b.push_str("</div></div></section>");
    super::html_guidance::section(&mut b, home, tally);
    tools(&mut b, tally);
    let listed: HashSet<&str> = sessions.iter().take(SESSION_ROWS).map(|s| s.key.as_str()).collect();
    slowest(&mut b, tally, &listed);
    session_list(&mut b, sessions, &sampled);
    b.push_str("<section id=\"timelines\"><h2>Recent sessions, step by step</h2>");
    if sampled.is_empty() {
        b.push_str("<p class=\"na\">No sessions in this period.</p>");
    } else if sessions.len() > sampled.len() {
        let _ = write!(
            b,
            "<p class=\"note\">The {} most recent of {} sessions; <code>kaizen-hook show ID --html</code> draws any other.</p>",
            sampled.len(),
            sessions.len()
        );
    }
    for (row, t) in sessions.iter().zip(&sampled) {
        let _ = write!(b, "<article id=\"t-{}\">", escape(&row.key));
        session_heading(&mut b, row, 3);
        timeline::render(&mut b, &row.key, t, &palette, 160);
        b.push_str("</article>");
    }
    b.push_str("</section>");
    page("kaizen report", &b)
}

/// `show --html`: one session's header, cost by model and whole timeline.
pub fn render_session(home: &Path, key: &str, row: Option<&SessionRow>, models: &[Row], total: &Sums) -> String {
    let palette = Palette::of(models.iter().map(|r| r.key.clone()));
    let t = timeline::read(&SessionFiles::from_key(home, key).events, usize::MAX);
    let mut b = String::with_capacity(64 * 1024);
    let _ = write!(b, "<article id=\"t-{}\">", escape(key));
    match row {
        Some(row) => session_heading(&mut b, row, 1),
        None => {
            let _ = write!(b, "<h1>session {}</h1><p class=\"na\">No session record.</p>", escape(key));
        }
    }
    let _ = write!(
        b,
        "<div class=\"figs\">{}{}{}</div>",
        figure("session.cost_usd_e6", total.cost_usd_e6, &usd(total.cost_usd_e6), "cost", &unpriced(total)),
        figure("session.responses", total.responses, &total.responses.to_string(), "model responses", ""),
        figure("session.events", t.steps.len() as u64 + t.left_out, &t.steps.len().to_string(), "events", ""),
    );
    if total.responses > 0 {
        b.push_str("<h2>Cost by model</h2>");
        sums_table(&mut b, "model", By::Model, models, false);
    }
    b.push_str("<h2>Timeline</h2>");
    timeline::render(&mut b, key, &t, &palette, super::summary::MAX);
    b.push_str("</article>");
    page(&format!("kaizen session {}", short(key)), &b)
}

/// The first events of the most recent sessions, within the page's budget.
fn sample(home: &Path, sessions: &[&SessionRow]) -> Vec<timeline::Timeline> {
    let mut budget = ALL_STEPS;
    let mut out = Vec::new();
    for row in sessions.iter().take(TIMELINES) {
        let cap = STEPS.min(budget).max(1);
        let t = timeline::read(&SessionFiles::from_key(home, &row.key).events, cap);
        budget = budget.saturating_sub(t.steps.len());
        out.push(t);
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n",
        escape(title)
    )
}

fn short(key: &str) -> String {
    key.chars().take(8).collect()
}

fn unpriced(s: &Sums) -> String {
    if s.unpriced > 0 { format!("{} responses with no known price", s.unpriced) } else { String::new() }
}

/// A headline figure: its exact value in `data-value`, named by `field` as in `--json`.
fn figure(field: &str, value: impl std::fmt::Display, text: &str, label: &str, sub: &str) -> String {
    let sub = if sub.is_empty() { String::new() } else { format!("<span class=\"sub\">{}</span>", escape(sub)) };
    format!(
        "<div class=\"fig\" data-field=\"{field}\" data-value=\"{value}\"><span class=\"v\">{}</span><span class=\"l\">{label}</span>{sub}</div>",
        escape(text)
    )
}

fn headline(b: &mut String, tally: &Tally) {
    let (t, h) = (&tally.total, &tally.headline);
    let tokens_said = format!(
        "{} in, {} out",
        tokens(t.tokens_in + t.cache_read_tokens + t.cache_creation_tokens),
        tokens(t.tokens_out)
    );
    let failed_share = if h.tool_calls > 0 {
        format!("{:.1}% of calls", h.tool_failures as f64 * 100.0 / h.tool_calls as f64)
    } else {
        String::new()
    };
    let _ = write!(
        b,
        "<section id=\"headline\"><h2 class=\"hidden\">Headline figures</h2><div class=\"figs\">{}{}{}{}{}{}</div></section>",
        figure("total.cost_usd_e6", t.cost_usd_e6, &usd(t.cost_usd_e6), "cost", &unpriced(t)),
        figure("total.responses", t.responses, &t.responses.to_string(), "model responses", &tokens_said),
        figure("headline.sessions", h.sessions, &h.sessions.to_string(), "sessions", ""),
        figure("headline.tool_calls", h.tool_calls, &h.tool_calls.to_string(), "tool calls", ""),
        figure("headline.tool_failures", h.tool_failures, &h.tool_failures.to_string(), "failed calls", &failed_share),
        figure("headline.tool_time_ms", h.tool_time_ms, &duration(h.tool_time_ms), "time in tools", ""),
    );
}

/// A key as a person reads it: what cannot be attributed says so.
fn label(by: By, key: &str) -> String {
    if key != UNKNOWN {
        return escape(key);
    }
    let why = match by {
        By::Model => "unknown model",
        By::Branch => "not attributable (no branch)",
        By::Commit => "not attributable (no commit)",
        _ => "unknown",
    };
    format!("<span class=\"na\">{why}</span>")
}

fn plain_label(by: By, key: &str) -> String {
    if key == UNKNOWN && by == By::Commit {
        "not attributable".into()
    } else if key == UNKNOWN {
        "unknown".into()
    } else {
        key.into()
    }
}

fn per_day(b: &mut String, tally: &Tally, models: &[Row], palette: &Palette) {
    b.push_str("<section id=\"days\"><h2>Cost per day, by model</h2>");
    if tally.total.responses == 0 {
        b.push_str("<p class=\"na\">No model responses in this period (tokens and cost come from the agents' transcripts at turn ends).</p></section>");
        return;
    }
    let days = calendar(tally.day_model.keys());
    let empty = Default::default();
    let bars: Vec<Bar> = days
        .iter()
        .map(|day| {
            let cells = tally.day_model.get(day).unwrap_or(&empty);
            let segments = models
                .iter()
                .filter_map(|m| cells.get(&m.key).map(|s| (m, s)))
                .map(|(m, s)| Segment {
                    value: s.cost_usd_e6,
                    class: palette.class(Some(&m.key)),
                    title: format!(
                        "{day} {}: {} ({} responses)",
                        plain_label(By::Model, &m.key),
                        usd(s.cost_usd_e6),
                        s.responses
                    ),
                })
                .collect();
            Bar { label: day.get(5..).unwrap_or(day).to_string(), segments, note: String::new() }
        })
        .collect();
    b.push_str("<div class=\"legend\">");
    for m in models {
        let _ = write!(b, "<span><i class=\"{}\"></i>{}</span>", palette.class(Some(&m.key)), label(By::Model, &m.key));
    }
    b.push_str("</div>");
    let _ = write!(b, "<div class=\"scroll\">{}</div>", svg::columns(&bars, axis_usd));
    b.push_str("<details><summary>the figures</summary><div class=\"scroll\"><table><thead><tr><th>day</th>");
    for m in models {
        let _ = write!(b, "<th class=\"n\">{}</th>", label(By::Model, &m.key));
    }
    b.push_str("<th class=\"n\">total</th></tr></thead><tbody>");
    for (day, cells) in tally.day_model.iter().rev() {
        let _ = write!(b, "<tr data-key=\"{}\"><td>{}</td>", escape(day), escape(day));
        for m in models {
            match cells.get(&m.key) {
                Some(s) => cost_cell(b, "cost_usd_e6", s.cost_usd_e6),
                None => b.push_str("<td></td>"),
            }
        }
        cost_cell(b, "cost_usd_e6", cells.values().map(|s| s.cost_usd_e6).sum());
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table></div></details></section>");
}

/// The days from the first to the last, one each when the span is short
/// (a day without responses is an empty column, not a missing one).
fn calendar<'a>(days: impl Iterator<Item = &'a String>) -> Vec<String> {
    let days: Vec<&String> = days.collect();
    let (Some(first), Some(last)) = (days.first().and_then(|d| day_number(d)), days.last().and_then(|d| day_number(d)))
    else {
        return days.into_iter().cloned().collect();
    };
    if last - first >= CALENDAR_DAYS || days.iter().any(|d| day_number(d).is_none()) {
        return days.into_iter().cloned().collect();
    }
    (first..=last).map(day_name).collect()
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (the proleptic Gregorian calendar).
fn day_number(day: &str) -> Option<i64> {
    let mut parts = day.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d))) = (parts.next(), parts.next(), parts.next()) else { return None };
    Some(crate::time::days_from_civil(y, m, d))
}

fn day_name(n: i64) -> String {
    let (y, m, d) = crate::time::civil_from_days(n);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A scale's dollars: as few decimals as the value needs, two at least.
fn axis_usd(micro: i64) -> String {
    let text = format!("{:.4}", micro as f64 / 1e6);
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed.len() - trimmed.find('.').map_or(trimmed.len(), |dot| dot + 1);
    format!("${}", &text[..text.len() - 4 + decimals.max(2)])
}

fn cost_cell(b: &mut String, field: &str, micro: i64) {
    let _ = write!(b, "<td class=\"n\" data-field=\"{field}\" data-value=\"{micro}\">{}</td>", usd(micro));
}

/// A grouping's chart and table, in a section of its own.
fn section(b: &mut String, id: &str, title: &str, what: &str, by: By, rows: &[Row], note: &str) {
    let _ = write!(b, "<section id=\"{id}\"><h2>{title}</h2><p class=\"note\">By {note}.</p>");
    grouping(b, what, by, rows, true);
    b.push_str("</section>");
}

/// A chart of the costliest rows and the table of all; `beside`: the chart left of the table.
fn grouping(b: &mut String, what: &str, by: By, rows: &[Row], beside: bool) {
    let bars: Vec<Bar> = rows
        .iter()
        .filter(|r| r.ran.cost_usd_e6 > 0)
        .take(CHART_BARS)
        .map(|r| Bar {
            label: plain_label(by, &r.key),
            segments: vec![Segment {
                value: r.ran.cost_usd_e6,
                class: "bar",
                title: format!(
                    "{}: {}, {} responses, {} sessions",
                    plain_label(by, &r.key),
                    usd(r.ran.cost_usd_e6),
                    r.ran.responses,
                    r.sessions
                ),
            }],
            note: usd(r.ran.cost_usd_e6),
        })
        .collect();
    b.push_str(if beside { "<div class=\"side\"><div>" } else { "<div>" });
    if !bars.is_empty() {
        b.push_str(&svg::bars(&bars, &format!("cost by {what}")));
    }
    b.push_str(if beside { "</div><div>" } else { "" });
    sums_table(b, what, by, rows, true);
    b.push_str(if beside { "</div></div>" } else { "</div>" });
}

/// Rows of sums: sessions, responses, tokens, cost (the first `TABLE_ROWS`, the rest added up).
fn sums_table(b: &mut String, what: &str, by: By, rows: &[Row], with_sessions: bool) {
    if rows.is_empty() {
        let _ = write!(b, "<p class=\"na\">Nothing by {what} in this period.</p>");
        return;
    }
    let _ = write!(b, "<div class=\"scroll\"><table><thead><tr><th>{what}</th>");
    if with_sessions {
        b.push_str("<th class=\"n\">sessions</th>");
    }
    b.push_str("<th class=\"n\">responses</th><th class=\"n\">tokens in</th><th class=\"n\">out</th><th class=\"n\">cost</th></tr></thead><tbody>");
    for r in rows.iter().take(TABLE_ROWS) {
        let _ = write!(b, "<tr data-key=\"{}\"><td>{}</td>", escape(&r.key), label(by, &r.key));
        if with_sessions {
            let _ = write!(b, "<td class=\"n\">{}</td>", r.sessions);
        }
        sums_cells(b, "ran", &r.ran);
        b.push_str("</tr>");
    }
    more_rows(b, rows, if with_sessions { 2 } else { 1 });
    b.push_str("</tbody></table></div>");
}

fn sums_cells(b: &mut String, prefix: &str, s: &Sums) {
    let all_in = s.tokens_in + s.cache_read_tokens + s.cache_creation_tokens;
    let _ = write!(
        b,
        "<td class=\"n\" data-field=\"{prefix}.responses\" data-value=\"{}\">{}</td><td class=\"n\" title=\"{} fresh, {} cache read, {} cache written\">{}</td><td class=\"n\">{}</td>",
        s.responses,
        s.responses,
        tokens(s.tokens_in),
        tokens(s.cache_read_tokens),
        tokens(s.cache_creation_tokens),
        tokens(all_in),
        tokens(s.tokens_out)
    );
    cost_cell(b, &format!("{prefix}.cost_usd_e6"), s.cost_usd_e6);
}

/// The rows past the table's length, added up in one row.
fn more_rows(b: &mut String, rows: &[Row], before: usize) {
    if rows.len() <= TABLE_ROWS {
        return;
    }
    let mut rest = Sums::default();
    rows[TABLE_ROWS..].iter().for_each(|r| rest.add(&r.ran));
    let _ = write!(b, "<tr class=\"more\"><td colspan=\"{before}\">and {} more</td>", rows.len() - TABLE_ROWS);
    sums_cells(b, "rest", &rest);
    b.push_str("</tr>");
}

fn commits(b: &mut String, rows: &[Row]) {
    b.push_str("<section id=\"commits\"><h2>Cost by commit</h2><p class=\"note\">“Ran on it”: the turns that started on the commit. “Produced it”: the turns that started on another commit and ended on this one, the work that made it. A turn outside any commit is not attributable.</p>");
    if rows.is_empty() {
        b.push_str("<p class=\"na\">No model responses in this period.</p></section>");
        return;
    }
    let bars: Vec<Bar> = rows
        .iter()
        .filter(|r| r.ran.cost_usd_e6 > 0 || r.produced.is_some_and(|p| p.cost_usd_e6 > 0))
        .take(CHART_BARS)
        .map(|r| {
            let name = plain_label(By::Commit, &r.key).chars().take(10).collect::<String>();
            let produced = r.produced.unwrap_or_default();
            Bar {
                label: name.clone(),
                segments: vec![
                    Segment {
                        value: r.ran.cost_usd_e6,
                        class: "bar",
                        title: format!("{name} ran on it: {}", usd(r.ran.cost_usd_e6)),
                    },
                    Segment {
                        value: produced.cost_usd_e6,
                        class: "bar2",
                        title: format!("{name} produced by: {}", usd(produced.cost_usd_e6)),
                    },
                ],
                note: usd(r.ran.cost_usd_e6 + produced.cost_usd_e6),
            }
        })
        .collect();
    b.push_str("<div class=\"side\"><div>");
    if !bars.is_empty() {
        b.push_str("<div class=\"legend\"><span><i class=\"bar\"></i>ran on it</span><span><i class=\"bar2\"></i>produced it</span></div>");
        b.push_str(&svg::bars(&bars, "cost by commit: ran on it and produced it"));
    }
    b.push_str("</div><div class=\"scroll\"><table><thead><tr><th rowspan=\"2\">commit</th><th class=\"n\" rowspan=\"2\">sessions</th><th colspan=\"4\" class=\"c\">ran on it</th><th colspan=\"2\" class=\"c\">produced it</th></tr><tr><th class=\"n\">responses</th><th class=\"n\">tokens in</th><th class=\"n\">out</th><th class=\"n\">cost</th><th class=\"n\">responses</th><th class=\"n\">cost</th></tr></thead><tbody>");
    for r in rows.iter().take(TABLE_ROWS) {
        let shown = if r.key == UNKNOWN {
            label(By::Commit, &r.key)
        } else {
            format!(
                "<code title=\"{0}\">{1}</code>",
                escape(&r.key),
                escape(&r.key.chars().take(10).collect::<String>())
            )
        };
        let _ = write!(b, "<tr data-key=\"{}\"><td>{shown}</td><td class=\"n\">{}</td>", escape(&r.key), r.sessions);
        sums_cells(b, "ran", &r.ran);
        match &r.produced {
            Some(p) if p.responses > 0 || p.cost_usd_e6 != 0 => {
                let _ = write!(
                    b,
                    "<td class=\"n\" data-field=\"produced.responses\" data-value=\"{}\">{}</td>",
                    p.responses, p.responses
                );
                cost_cell(b, "produced.cost_usd_e6", p.cost_usd_e6);
            }
            _ => b.push_str("<td class=\"n na\">–</td><td class=\"n na\">–</td>"),
        }
        b.push_str("</tr>");
    }
    if rows.len() > TABLE_ROWS {
        let _ = write!(
            b,
            "<tr class=\"more\"><td colspan=\"8\">and {} more commits (<code>kaizen-hook report --by commit</code> lists them all)</td></tr>",
            rows.len() - TABLE_ROWS
        );
    }
    b.push_str("</tbody></table></div></div></section>");
}

fn tools(b: &mut String, tally: &Tally) {
    b.push_str("<section id=\"tools\"><h2>Tools</h2>");
    let rows = tally.tool_rows();
    if rows.is_empty() {
        b.push_str("<p class=\"na\">No tool calls in this period.</p></section>");
        return;
    }
    let ms = |v: Option<u32>| v.map_or("–".to_string(), |v| duration(u64::from(v)));
    let bars: Vec<Bar> = rows
        .iter()
        .take(CHART_BARS)
        .map(|t| Bar {
            label: t.key.clone(),
            segments: vec![
                Segment {
                    value: (t.calls - t.failures.min(t.calls)) as i64,
                    class: "call",
                    title: format!("{}: {} calls succeeded", t.key, t.calls - t.failures.min(t.calls)),
                },
                Segment {
                    value: t.failures as i64,
                    class: "fail",
                    title: format!("{}: {} calls failed", t.key, t.failures),
                },
            ],
            note: format!("{} calls", t.calls),
        })
        .collect();
    b.push_str("<div class=\"side\"><div><div class=\"legend\"><span><i class=\"call\"></i>succeeded</span><span><i class=\"fail\"></i>failed</span></div>");
    b.push_str(&svg::bars(&bars, "tool calls, failures in red"));
    b.push_str("</div><div class=\"scroll\"><table><thead><tr><th>tool</th><th class=\"n\">sessions</th><th class=\"n\">calls</th><th class=\"n\">failed</th><th class=\"n\">p50</th><th class=\"n\">p90</th><th class=\"n\">max</th><th class=\"n\">time</th></tr></thead><tbody>");
    let opt = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
    for t in rows.iter().take(TABLE_ROWS) {
        let failed = if t.failures > 0 { " class=\"n fail-text\"" } else { " class=\"n\"" };
        let _ = write!(
            b,
            "<tr data-key=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\" data-field=\"calls\" data-value=\"{}\">{}</td><td{failed} data-field=\"failures\" data-value=\"{}\">{}</td><td class=\"n\" data-value=\"{}\">{}</td><td class=\"n\" data-value=\"{}\">{}</td><td class=\"n\" data-value=\"{}\">{}</td><td class=\"n\" data-value=\"{}\">{}</td></tr>",
            escape(&t.key),
            escape(&t.key),
            t.sessions,
            t.calls,
            t.calls,
            t.failures,
            t.failures,
            opt(t.p50_ms),
            ms(t.p50_ms),
            opt(t.p90_ms),
            ms(t.p90_ms),
            opt(t.max_ms),
            ms(t.max_ms),
            t.time_ms,
            duration(t.time_ms)
        );
    }
    if rows.len() > TABLE_ROWS {
        let _ = write!(b, "<tr class=\"more\"><td colspan=\"8\">and {} more tools</td></tr>", rows.len() - TABLE_ROWS);
    }
    b.push_str("</tbody></table></div></div></section>");
}

fn slowest(b: &mut String, tally: &Tally, listed: &HashSet<&str>) {
    b.push_str("<section id=\"slowest\"><h2>Slowest calls</h2>");
    if tally.slowest.is_empty() {
        b.push_str("<p class=\"na\">No timed tool calls in this period.</p></section>");
        return;
    }
    b.push_str("<div class=\"scroll\"><table><thead><tr><th class=\"n\">took</th><th>tool</th><th>what it did</th><th>session</th><th class=\"n\">when</th></tr></thead><tbody>");
    for s in &tally.slowest {
        let class = if s.call.failed { " class=\"err\"" } else { "" };
        let session = if listed.contains(s.session.as_str()) {
            format!("<a href=\"#s-{}\"><code>{}</code></a>", escape(&s.session), escape(&short(&s.session)))
        } else {
            format!("<code>{}</code>", escape(&short(&s.session)))
        };
        let _ = write!(
            b,
            "<tr{class}><td class=\"n\" data-value=\"{}\">{}</td><td>{}</td><td class=\"s\">{}{}</td><td>{session}</td><td class=\"n\">{}</td></tr>",
            s.call.latency_ms,
            duration(u64::from(s.call.latency_ms)),
            escape(&s.call.tool),
            if s.call.failed { "failed: " } else { "" },
            escape(&super::style::one_line(&s.call.summary, 160)),
            local_time(s.call.ts_ms)
        );
    }
    b.push_str("</tbody></table></div></section>");
}

fn session_list(b: &mut String, sessions: &[&SessionRow], sampled: &[timeline::Timeline]) {
    let _ = write!(b, "<section id=\"sessions\"><h2>Sessions ({})</h2>", sessions.len());
    if sessions.is_empty() {
        b.push_str("<p class=\"na\">No sessions in this period.</p></section>");
        return;
    }
    let drawn: BTreeSet<&str> = sessions.iter().take(sampled.len()).map(|s| s.key.as_str()).collect();
    b.push_str("<div class=\"scroll\"><table><thead><tr><th>id</th><th>agent</th><th>repository</th><th>branch</th><th>started</th><th class=\"n\">duration</th><th>status</th><th class=\"n\">tools</th><th class=\"n\">errors</th><th class=\"n\">tokens in</th><th class=\"n\">out</th><th class=\"n\">cost</th></tr></thead><tbody>");
    for s in sessions.iter().take(SESSION_ROWS) {
        let id = if drawn.contains(s.key.as_str()) {
            format!("<a href=\"#t-{}\"><code>{}</code></a>", escape(&s.key), escape(&short(&s.key)))
        } else {
            format!("<code>{}</code>", escape(&short(&s.key)))
        };
        let branch = s.branch.as_deref().map_or("<span class=\"na\">none</span>".into(), escape);
        let errors = if s.errors > 0 { " class=\"n fail-text\"" } else { " class=\"n\"" };
        let _ = write!(
            b,
            "<tr id=\"s-{}\" data-key=\"{}\"><td>{id}</td><td>{}</td><td>{}</td><td>{branch}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{:?}</td><td class=\"n\">{}</td><td{errors}>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            escape(&s.key),
            escape(&s.key),
            escape(&s.agent),
            escape(&s.repo),
            local_time(s.started_at_ms),
            duration(s.duration_ms),
            s.status,
            s.tool_calls,
            s.errors,
            tokens(s.tokens_in),
            tokens(s.tokens_out)
        );
        cost_cell(b, "cost_usd_e6", s.cost_usd_e6);
        b.push_str("</tr>");
    }
    if sessions.len() > SESSION_ROWS {
        let _ = write!(
            b,
            "<tr class=\"more\"><td colspan=\"12\">and {} more (<code>kaizen-hook sessions</code> lists them all)</td></tr>",
            sessions.len() - SESSION_ROWS
        );
    }
    b.push_str("</tbody></table></div></section>");
}

/// A session's name and what it was: agent, repository, branch, commits, when, how long, what it cost.
fn session_heading(b: &mut String, s: &SessionRow, level: u8) {
    let back = if level > 1 {
        format!(" <a class=\"back\" href=\"#s-{}\">↑ list</a>", escape(&s.key))
    } else {
        String::new()
    };
    let _ = write!(
        b,
        "<h{level}><code>{}</code> {} in {}{back}</h{level}>",
        escape(&short(&s.key)),
        escape(&s.agent),
        escape(&s.repo)
    );
    let commit = |c: &Option<String>| c.as_deref().map_or("none".to_string(), |c| c.chars().take(10).collect());
    let _ = write!(
        b,
        "<p class=\"meta\"><span>model {}</span><span>branch {}</span><span>commits {} → {}</span><span>started {}</span><span>{}</span><span>{:?}</span><span>{}, {}, {}</span><span>{} in, {} out</span><span>{}</span></p>",
        escape(s.model.as_deref().unwrap_or("unknown")),
        escape(s.branch.as_deref().unwrap_or("none")),
        escape(&commit(&s.start_commit)),
        escape(&commit(&s.end_commit)),
        local_time(s.started_at_ms),
        duration(s.duration_ms),
        s.status,
        count(s.events, "event"),
        count(s.tool_calls, "tool call"),
        count(s.errors, "error"),
        tokens(s.tokens_in),
        tokens(s.tokens_out),
        usd(s.cost_usd_e6)
    );
    if level == 1 {
        let _ = write!(b, "<p class=\"about\">{} · {}</p>", escape(&s.key), escape(&s.workspace));
    }
}

/// `1 error`, `2 errors`.
fn count(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Light and dark from the reader's settings; numbers in tabular figures,
/// right-aligned; the model colours are the same in both schemes' order.
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d8dee4;--card:#f6f8fa;--accent:#0b5cd5;--fail:#c9302c;--call:#3f7fbf;--bar:#2f6fd0;--bar2:#e3882d;--turn:#8250df;\
--m0:#2f6fd0;--m1:#e3882d;--m2:#2e9a5c;--m3:#9b59c9;--m4:#c9a20c;--m5:#17a2b0;--m6:#d9487f;--m7:#7d6b57;--mx:#8b95a3;--mu:#b7bec7}\
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--fg:#e6edf3;--muted:#9aa6b2;--line:#2d333b;--card:#161b22;--accent:#6ea8ff;--fail:#ff6b64;--call:#5a9be0;--bar:#5b93f0;--bar2:#f0a050;--turn:#b48cff;\
--m0:#5b93f0;--m1:#f0a050;--m2:#4cc281;--m3:#c08be8;--m4:#e6c43c;--m5:#3cc4d2;--m6:#f07aa6;--m7:#b39d85;--mx:#7d8896;--mu:#5c6570}}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\
main{max-width:1240px;margin:0 auto;padding:28px 28px 64px}\
h1{font-size:26px;margin:0 0 2px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}h3{font-size:16px;margin:28px 0 4px}\
.hidden{position:absolute;left:-9999px}\
.about,.note,.meta{color:var(--muted);margin:4px 0 10px}.meta span{margin-right:14px;white-space:nowrap;display:inline-block}\
nav{margin:14px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px}a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}\
.back{font-size:13px;font-weight:400;margin-left:8px}\
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:22px 0 8px}\
.fig{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}\
.fig .v{display:block;font-size:28px;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2}\
.fig .l{display:block;color:var(--muted);font-size:13px}.fig .sub{display:block;color:var(--muted);font-size:12px}\
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:28px;align-items:start}\
.side{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,7fr);gap:28px;align-items:start}\
@media (max-width:900px){.pair,.side{grid-template-columns:minmax(0,1fr)}}\
.scroll{overflow-x:auto;max-width:100%}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin:8px 0}\
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}\
thead th{font-weight:600;color:var(--muted);font-size:12px;white-space:nowrap}\
th.c{text-align:center}td.n,th.n{text-align:right;white-space:nowrap}\
td.s{overflow-wrap:anywhere;min-width:16em}\
tr.more td{color:var(--muted);font-style:italic}\
tr.err td,.fail-text{color:var(--fail)}\
tr.turn th{padding-top:10px;color:var(--turn);border-bottom:2px solid var(--turn)}\
.na{color:var(--muted);font-style:italic}\
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\
details{margin:6px 0}summary{cursor:pointer;color:var(--accent)}\
svg{max-width:100%;height:auto;display:block;margin:8px 0}\
svg text{fill:var(--muted);font-size:12px;font-family:inherit}\
.grid{stroke:var(--line);stroke-width:1}\
.turn{stroke:var(--turn);stroke-width:1.5;stroke-dasharray:4 3}\
.call{fill:var(--call)}.fail{fill:var(--fail)}.bar{fill:var(--bar)}.bar2{fill:var(--bar2)}\
.m0{fill:var(--m0)}.m1{fill:var(--m1)}.m2{fill:var(--m2)}.m3{fill:var(--m3)}.m4{fill:var(--m4)}.m5{fill:var(--m5)}.m6{fill:var(--m6)}.m7{fill:var(--m7)}.mx{fill:var(--mx)}.mu{fill:var(--mu)}\
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:13px;margin:6px 0}\
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}\
.legend i.m0{background:var(--m0)}.legend i.m1{background:var(--m1)}.legend i.m2{background:var(--m2)}.legend i.m3{background:var(--m3)}.legend i.m4{background:var(--m4)}.legend i.m5{background:var(--m5)}.legend i.m6{background:var(--m6)}.legend i.m7{background:var(--m7)}.legend i.mx{background:var(--mx)}.legend i.mu{background:var(--mu)}\
.legend i.call{background:var(--call)}.legend i.fail{background:var(--fail)}.legend i.bar{background:var(--bar)}.legend i.bar2{background:var(--bar2)}\
article{border-top:1px solid var(--line);margin-top:18px}\
h4{font-size:14px;margin:18px 0 2px}.sub{color:var(--muted);font-size:12px;font-weight:400}\
.warn{color:var(--fail);font-weight:600}\
.zero{stroke:var(--fg);stroke-width:1.5}.whisker{stroke:var(--fg);stroke-width:1.5;fill:none}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_text_is_escaped_as_text() {
        assert_eq!(escape("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(escape(r#"a "b" 'c' & d"#), "a &quot;b&quot; &#39;c&#39; &amp; d");
        assert_eq!(escape("plain ✓"), "plain ✓");
    }

    #[test]
    fn scales_say_round_dollars() {
        assert_eq!(
            (axis_usd(300_000), axis_usd(250_000), axis_usd(0)),
            ("$0.30".into(), "$0.25".into(), "$0.00".into())
        );
        assert_eq!((axis_usd(12_500), axis_usd(2_000_000)), ("$0.0125".into(), "$2.00".into()));
    }

    #[test]
    fn days_are_counted_across_months_and_years() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        for day in ["2024-02-29", "2026-12-31", "2027-01-01", "2000-03-01"] {
            assert_eq!(day_name(day_number(day).unwrap()), day);
        }
        let days: Vec<String> = ["2026-12-30", "2027-01-02"].map(String::from).to_vec();
        assert_eq!(calendar(days.iter()), ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]);
    }

    #[test]
    fn each_model_keeps_its_colour_and_unknown_is_grey() {
        let palette = Palette::of(["b", "-", "a"].map(String::from));
        assert_eq!((palette.class(Some("b")), palette.class(Some("a"))), ("m0", "m1"));
        assert_eq!((palette.class(Some("-")), palette.class(None), palette.class(Some("z"))), ("mu", "mu", "mx"));
    }
}
