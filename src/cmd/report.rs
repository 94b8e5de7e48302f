//! `kaizen-hook report`: tokens and cost grouped by model, day, agent,
//! repository, branch or commit, or tool calls by tool, across the chosen
//! sessions and period. A human table by default, `--json` and `--csv` for
//! tools, `--html` for a page; all from the same tally (`report::tally`).

use super::Run;
use crate::config::Config;
use crate::report::digest::Window;
use crate::report::guidance::{self, Comparison, GuidanceRow, Verdict};
use crate::report::history::{self, Filter};
use crate::report::tally::{By, Row, Sums, Tally, ToolRow};
use crate::report::{self, style::Style};
use crate::store::guidance::Changes;
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Report {
    /// Group by: model, day, agent, repo, branch, commit (the turns that ran
    /// on each commit, and the turns that produced it), tool (calls,
    /// failures, latencies), or guidance (sessions per guidance version).
    #[arg(long, value_enum, default_value = "model")]
    pub by: By,
    /// Only events from then on: 30m, 2h, 7d (ago), 2026-11-24 (local midnight), or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before then (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this agent's sessions.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this repository's sessions: its name, or its directory.
    #[arg(long)]
    pub repo: Option<String>,
    /// Only sessions that started on this branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Machine-readable output (stable; fields in docs/commands.md).
    #[arg(long, conflicts_with_all = ["csv", "html"])]
    pub json: bool,
    /// The rows as CSV: the columns of --json's rows, one header line.
    #[arg(long, conflicts_with = "html")]
    pub csv: bool,
    /// One self-contained HTML page: charts, tools, every session.
    #[arg(long)]
    pub html: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Run for Report {
    fn run(&self, config: &Config) -> ExitCode {
        match self.report(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("kaizen-hook report: {why}");
                ExitCode::FAILURE
            }
        }
    }
}

impl Report {
    fn report(&self, config: &Config) -> Result<(), String> {
        let now = crate::time::now_ms();
        let time = |flag: &str, text: &Option<String>| match text.as_deref() {
            None => Ok(None),
            Some(t) => report::parse_time(t, now)
                .map(Some)
                .ok_or(format!("{flag} takes 30m, 2h, 7d, a day like 2026-11-24, or an RFC 3339 time (got {t:?})")),
        };
        let window = Window { since_ms: time("--since", &self.since)?, until_ms: time("--until", &self.until)? };
        let filter = Filter { window, agent: self.agent.clone(), repo: self.repo.clone(), branch: self.branch.clone() };
        let home = config.home_to_read()?;
        let loaded = super::settled_sessions(config, home, "report");
        let read = history::read(home, &loaded.rows, &filter, report::local_day);
        for problem in &read.problems {
            eprintln!("kaizen-hook report: {problem}");
        }
        let text = if self.html {
            let sessions: Vec<&report::SessionRow> = read.sessions.iter().map(|&i| &loaded.rows[i]).collect();
            report::html::render(home, &read.tally, &sessions, &self.about(now))
        } else if self.by == By::Guidance {
            self.guidance(home, &read.tally)
        } else if self.json {
            json_of(self.by, &read.tally)
        } else if self.csv {
            csv_of(self.by, &read.tally)
        } else {
            table(self.by, &read.tally, &self.style())
        };
        match &self.out {
            None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| format!("writing: {e}")),
            Some(path) => {
                std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("kaizen-hook report: wrote {}", path.display());
                Ok(())
            }
        }
    }

    fn style(&self) -> Style {
        if self.out.is_some() { Style::plain() } else { Style::detect() }
    }

    /// `--by guidance`: a row per guidance version, and each repository's
    /// last change compared (its verdicts; `compare` says them in full).
    fn guidance(&self, home: &Path, tally: &Tally) -> String {
        let rows = guidance::rows(home, tally);
        if self.csv {
            return guidance_csv(&rows);
        }
        let last_changes = guidance::last_changes(home, tally);
        if self.json {
            let out = json!({"by": By::Guidance.name(), "rows": rows, "last_changes": last_changes,
                "total": tally.total, "headline": tally.headline});
            return serde_json::to_string_pretty(&out).unwrap_or_default() + "\n";
        }
        guidance_table(&rows, &last_changes, &self.style())
    }

    /// The period and filters, in words, for the page's heading.
    fn about(&self, now: u64) -> String {
        let mut said = Vec::new();
        for (what, value) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = value {
                let at = report::parse_time(v, now).map(report::local_time).unwrap_or_default();
                said.push(format!("{what} {at}"));
            }
        }
        for (what, value) in [("agent", &self.agent), ("repository", &self.repo), ("branch", &self.branch)] {
            if let Some(v) = value {
                said.push(format!("{what} {v}"));
            }
        }
        if said.is_empty() { "all recorded sessions".into() } else { said.join(", ") }
    }
}

fn json_of(by: By, tally: &Tally) -> String {
    let rows = if by == By::Tool { json!(tally.tool_rows()) } else { json!(tally.rows(by)) };
    let out = json!({"by": by.name(), "rows": rows, "total": tally.total, "headline": tally.headline});
    serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
}

const SUMS_COLUMNS: [&str; 8] = [
    "responses",
    "tokens_in",
    "cache_read_tokens",
    "cache_creation_tokens",
    "tokens_out",
    "reasoning_tokens",
    "cost_usd_e6",
    "unpriced",
];

fn sums_cells(s: &Sums) -> [String; 8] {
    [
        s.responses.to_string(),
        s.tokens_in.to_string(),
        s.cache_read_tokens.to_string(),
        s.cache_creation_tokens.to_string(),
        s.tokens_out.to_string(),
        s.reasoning_tokens.to_string(),
        s.cost_usd_e6.to_string(),
        s.unpriced.to_string(),
    ]
}

/// `--json`'s rows flattened: `ran`'s fields by their names, `produced`'s
/// prefixed `produced_` (by commit only).
fn csv_of(by: By, tally: &Tally) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    if by == By::Tool {
        let header = ["key", "sessions", "calls", "failures", "timed", "time_ms", "p50_ms", "p90_ms", "max_ms"];
        lines.push(header.iter().map(|h| h.to_string()).collect());
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        for r in tally.tool_rows() {
            let ToolRow { key, sessions, calls, failures, timed, time_ms, p50_ms, p90_ms, max_ms } = r;
            let n = [sessions, calls, failures, timed, time_ms].map(|v| v.to_string());
            lines.push([vec![key], n.to_vec(), vec![opt(p50_ms), opt(p90_ms), opt(max_ms)]].concat());
        }
    } else {
        let mut header = vec!["key".to_string(), "sessions".to_string()];
        header.extend(SUMS_COLUMNS.iter().map(|c| c.to_string()));
        if by == By::Commit {
            header.extend(SUMS_COLUMNS.iter().map(|c| format!("produced_{c}")));
        }
        lines.push(header);
        for Row { key, sessions, ran, produced } in tally.rows(by) {
            let mut line = vec![key, sessions.to_string()];
            line.extend(sums_cells(&ran));
            if by == By::Commit {
                line.extend(sums_cells(&produced.unwrap_or_default()));
            }
            lines.push(line);
        }
    }
    lines.iter().map(|l| l.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\r\n").collect()
}

/// `--json`'s row fields as columns, but `files` (a list: in `--json`), and
/// `changed` said in words.
fn guidance_csv(rows: &[GuidanceRow]) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    for row in rows {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(row) else { continue };
        if lines.is_empty() {
            lines.push(fields.keys().filter(|k| *k != "files").cloned().collect());
        }
        let cells = fields.iter().filter(|(k, _)| *k != "files").map(|(k, v)| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(text) => text.clone(),
            _ if k == "changed" => row.changed.as_ref().map(Changes::describe).unwrap_or_default(),
            other => other.to_string(),
        });
        lines.push(cells.collect());
    }
    lines.iter().map(|l| l.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\r\n").collect()
}

fn guidance_table(rows: &[GuidanceRow], last_changes: &[Comparison], style: &Style) -> String {
    if rows.is_empty() {
        return "no sessions in this period\n".into();
    }
    let header = [
        "REPO",
        "GUIDANCE",
        "FIRST SEEN",
        "SESSIONS",
        "TURNS",
        "CALLS",
        "FAILED/100",
        "TURNS/SESSION",
        "CALLS/TURN",
        "COST/TURN",
        "TOKENS/TURN",
        "MEDIAN TURN",
        "CHANGED",
    ];
    let mut lines = vec![header.map(String::from).to_vec()];
    for r in rows {
        let f = &r.figures;
        let show = |name: &str, v: Option<f64>| v.map_or("-".into(), |v| guidance::value(name, v));
        lines.push(vec![
            r.repo.clone(),
            r.key.chars().take(10).collect(),
            report::local_time(r.first_seen_ms),
            f.sessions.to_string(),
            f.turns.to_string(),
            f.tool_calls.to_string(),
            show("failed_calls_per_100", f.failed_calls_per_100),
            show("turns_per_session", f.turns_per_session),
            show("tool_calls_per_turn", f.tool_calls_per_turn),
            show("cost_usd_e6_per_turn", f.cost_usd_e6_per_turn),
            show("tokens_per_turn", f.tokens_per_turn),
            f.median_turn_ms.map_or("-".into(), report::duration),
            r.changed.as_ref().map_or("-".into(), Changes::describe),
        ]);
    }
    let mut out = render_left(&lines, &[0, 1, 2, 12], style);
    for c in last_changes {
        out += &last_change(c);
    }
    out
}

/// One line per repository: its last change, and what the data shows of it.
fn last_change(c: &Comparison) -> String {
    let shown: Vec<String> = c
        .metrics
        .iter()
        .filter(|m| matches!(m.verdict, Verdict::Lower | Verdict::Higher))
        .map(|m| {
            let v = |v: Option<f64>| v.map_or("-".into(), |v| guidance::value(m.name, v));
            let way = if m.verdict == Verdict::Lower { "lower" } else { "higher" };
            format!("{} {way} ({} → {})", guidance::label(m.name), v(m.before), v(m.after))
        })
        .collect();
    let shown = if shown.is_empty() { "no difference the data shows".into() } else { shown.join(", ") };
    let switch = if c.model_switch || c.agent_switch { "; the agent or model differs too" } else { "" };
    let short = |k: &str| k.chars().take(10).collect::<String>();
    format!(
        "\n{}: last change {} → {}: {shown}{switch} (`kaizen-hook compare --repo {}` for every figure)\n",
        c.repo,
        short(&c.before.fingerprint),
        short(&c.after.fingerprint),
        c.repo
    )
}

/// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn table(by: By, tally: &Tally, style: &Style) -> String {
    if by == By::Tool {
        return tool_table(tally, style);
    }
    let total = &tally.total;
    if total.responses == 0 {
        return "no model responses recorded yet (tokens and cost come from the agents' transcripts at turn ends)\n"
            .into();
    }
    let mut header = vec![by.name().to_uppercase(), "SESSIONS".into()];
    header.extend(["RESPONSES", "IN", "CACHE READ", "CACHE WRITE", "OUT", "COST"].map(String::from));
    if by == By::Commit {
        header.extend(["PRODUCED BY", "ITS COST"].map(String::from));
    }
    let cost = |s: &Sums| {
        let unpriced = if s.unpriced > 0 { format!(" (+{} unpriced)", s.unpriced) } else { String::new() };
        report::usd(s.cost_usd_e6) + &unpriced
    };
    let cells = |key: &str, sessions: String, s: &Sums, produced: Option<&Sums>| {
        let mut row = vec![
            key.to_string(),
            sessions,
            s.responses.to_string(),
            report::tokens(s.tokens_in),
            report::tokens(s.cache_read_tokens),
            report::tokens(s.cache_creation_tokens),
            report::tokens(s.tokens_out),
            cost(s),
        ];
        if let Some(p) = produced {
            row.extend([format!("{} responses", p.responses), cost(p)]);
        }
        row
    };
    let short = |k: &str| if by == By::Commit { k.chars().take(10).collect() } else { k.to_string() };
    let mut rows = vec![header];
    for r in tally.rows(by).iter().filter(|r| r.ran.responses > 0 || r.produced.is_some_and(|p| p.responses > 0)) {
        rows.push(cells(&short(&r.key), r.sessions.to_string(), &r.ran, r.produced.as_ref()));
    }
    let mut last = cells("total", tally.headline.sessions.to_string(), total, None);
    last.resize(rows[0].len(), String::new());
    rows.push(last);
    render(&rows, style)
}

fn tool_table(tally: &Tally, style: &Style) -> String {
    let tools = tally.tool_rows();
    if tools.is_empty() {
        return "no tool calls recorded in this period\n".into();
    }
    let ms = |v: Option<u32>| v.map_or("-".into(), |v| report::duration(u64::from(v)));
    let mut rows =
        vec![["TOOL", "SESSIONS", "CALLS", "FAILED", "P50", "P90", "MAX", "TIME"].map(String::from).to_vec()];
    for t in &tools {
        rows.push(vec![
            t.key.clone(),
            t.sessions.to_string(),
            t.calls.to_string(),
            t.failures.to_string(),
            ms(t.p50_ms),
            ms(t.p90_ms),
            ms(t.max_ms),
            report::duration(t.time_ms),
        ]);
    }
    let h = &tally.headline;
    rows.push(vec![
        "total".into(),
        h.sessions.to_string(),
        h.tool_calls.to_string(),
        h.tool_failures.to_string(),
        String::new(),
        String::new(),
        String::new(),
        report::duration(h.tool_time_ms),
    ]);
    render(&rows, style)
}

/// Columns aligned (the first to the left), header and total in bold.
fn render(rows: &[Vec<String>], style: &Style) -> String {
    let mut out = String::new();
    for (n, line) in aligned(rows, &[0]).into_iter().enumerate() {
        out += &if n == 0 || n == rows.len() - 1 { style.bold(&line) } else { line };
        out.push('\n');
    }
    out
}

/// Columns aligned (`left` ones to the left), the header in bold: rows with no total.
fn render_left(rows: &[Vec<String>], left: &[usize], style: &Style) -> String {
    let mut out = String::new();
    for (n, line) in aligned(rows, left).into_iter().enumerate() {
        out += &if n == 0 { style.bold(&line) } else { line };
        out.push('\n');
    }
    out
}

/// Each row's cells padded to their column's width, `left` columns to the left.
pub(super) fn aligned(rows: &[Vec<String>], left: &[usize]) -> Vec<String> {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if left.contains(&i) {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_field("main"), "main");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
