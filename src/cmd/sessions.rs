//! `kaizen-hook sessions`: one row per recorded session, newest first.

use super::Run;
use crate::config::Config;
use crate::event::SessionStatus;
use crate::report::{self, SessionRow, style::Style};
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Sessions {
    /// Only this agent's sessions.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only sessions in this directory (or below it).
    #[arg(long)]
    pub workspace: Option<String>,
    /// Only sessions active in this long: 30m, 2h, 7d, 2w.
    #[arg(long)]
    pub since: Option<String>,
    /// Machine-readable output (stable; fields in docs/commands.md).
    #[arg(long)]
    pub json: bool,
}

impl Run for Sessions {
    fn run(&self, config: &Config) -> ExitCode {
        let since_ms = match self.since.as_deref().map(report::parse_duration) {
            Some(None) => {
                eprintln!("kaizen-hook sessions: --since takes a duration like 30m, 2h, 7d");
                return ExitCode::FAILURE;
            }
            Some(Some(d)) => Some(crate::time::now_ms().saturating_sub(d)),
            None => None,
        };
        let home = match config.home_to_read() {
            Ok(home) => home,
            Err(why) => {
                eprintln!("kaizen-hook sessions: {why}");
                return ExitCode::FAILURE;
            }
        };
        let workspace = self.workspace.as_deref().map(|w| crate::enrich::resolve_cwd(Some(w)));
        let loaded = super::settled_sessions(config, home, "sessions");
        let rows: Vec<&SessionRow> = loaded
            .rows
            .iter()
            .filter(|r| self.agent.as_deref().is_none_or(|a| r.agent == a))
            .filter(|r| workspace.as_deref().is_none_or(|w| std::path::Path::new(&r.workspace).starts_with(w)))
            .filter(|r| since_ms.is_none_or(|since| r.started_at_ms >= since || r.last_event_ms.unwrap_or(0) >= since))
            .collect();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into()));
        } else {
            print_table(&rows, &Style::detect());
        }
        for skipped in &loaded.skipped {
            eprintln!("skipped an unreadable record: {skipped}");
        }
        ExitCode::SUCCESS
    }
}

fn print_table(rows: &[&SessionRow], style: &Style) {
    if rows.is_empty() {
        println!("no sessions recorded yet");
        return;
    }
    let header = header(rows);
    let mut cells: Vec<Vec<String>> = rows.iter().map(|r| cells(r, header.len())).collect();
    let mut widths = natural_widths(&header, &cells);
    let layout = squeeze(&mut widths, style.width);
    if layout.compact_time {
        for (row, r) in cells.iter_mut().zip(rows) {
            row[4] = report::local_time(r.started_at_ms)[5..].to_string();
        }
    }
    let line = |row: &[String], paint: &dyn Fn(usize, String) -> String| render(row, &widths, layout.gap, paint);
    println!("{}", style.fit(&line(&header, &|_, c| style.bold(&c))));
    for (row, r) in cells.iter().zip(rows) {
        let painted = line(row, &|i, c| match i {
            6 => style.paint(status_color(&r.status), &c),
            9 if r.errors > 0 => style.red(&c),
            1 => style.dim(&c),
            _ => c,
        });
        println!("{}", style.fit(&painted));
    }
}

/// The column names; tokens and cost only when some session has them
/// (agents with a transcript reader).
fn header(rows: &[&SessionRow]) -> Vec<String> {
    let mut header =
        vec!["AGENT", "ID", "REPO", "BRANCH", "STARTED", "DURATION", "STATUS", "EVENTS", "TOOLS", "ERRORS"];
    if rows.iter().any(|r| r.tokens_in + r.tokens_out > 0) {
        header.extend(["TOKENS", "COST"]);
    }
    header.into_iter().map(String::from).collect()
}

/// One session's cells, as many as the header has columns.
fn cells(r: &SessionRow, columns: usize) -> Vec<String> {
    let mut row = vec![
        r.agent.clone(),
        r.id.chars().take(8).collect(),
        r.repo.clone(),
        r.branch.clone().unwrap_or_else(|| "-".into()),
        report::local_time(r.started_at_ms),
        report::duration(r.duration_ms),
        format!("{:?}", r.status),
        r.events.to_string(),
        r.tool_calls.to_string(),
        r.errors.to_string(),
        report::tokens(r.tokens_in + r.tokens_out),
        if r.cost_usd_e6 > 0 { report::usd(r.cost_usd_e6) } else { "-".into() },
    ];
    row.truncate(columns);
    row
}

/// Each column as wide as its widest cell, up to 32.
fn natural_widths(header: &[String], cells: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(32);
        }
    }
    widths
}

/// One line of the table: each cell cut or padded to its width (the counts
/// from EVENTS on aligned right), then painted.
fn render(row: &[String], widths: &[usize], gap: &str, paint: &dyn Fn(usize, String) -> String) -> String {
    let parts: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let cut = report::style::one_line(cell, widths[i]);
            let padded = if i >= 7 { format!("{cut:>w$}", w = widths[i]) } else { format!("{cut:<w$}", w = widths[i]) };
            paint(i, padded)
        })
        .collect();
    parts.join(gap).trim_end().to_string()
}

struct Layout {
    gap: &'static str,
    /// Start times without the year.
    compact_time: bool,
}

/// On a narrow terminal the repo and branch columns give up width first,
/// then the gaps narrow, then start times drop the year, so the counts on
/// the right stay in view.
fn squeeze(widths: &mut [usize], terminal: Option<usize>) -> Layout {
    const REPO: usize = 2;
    const BRANCH: usize = 3;
    const STARTED: usize = 4;
    const NARROWEST: usize = 6;
    let mut layout = Layout { gap: "  ", compact_time: false };
    let Some(terminal) = terminal else { return layout };
    let total = |widths: &[usize], gap: &str| widths.iter().sum::<usize>() + gap.len() * (widths.len() - 1);
    while total(widths, layout.gap) > terminal && (widths[REPO] > NARROWEST || widths[BRANCH] > NARROWEST) {
        let widest = if widths[REPO] >= widths[BRANCH] { REPO } else { BRANCH };
        widths[widest] -= 1;
    }
    if total(widths, layout.gap) > terminal {
        layout.gap = " ";
    }
    if total(widths, layout.gap) > terminal {
        layout.compact_time = true;
        widths[STARTED] = "11-24 14:10".len();
    }
    layout
}

fn status_color(status: &SessionStatus) -> &'static str {
    match status {
        SessionStatus::Running => "32",
        SessionStatus::Waiting => "35",
        SessionStatus::Idle => "33",
        SessionStatus::Done => "2",
    }
}

#[cfg(test)]
mod tests {
    use super::squeeze;

    const NATURAL: [usize; 10] = [6, 8, 20, 24, 16, 8, 7, 6, 5, 6];

    #[test]
    fn wide_or_piped_output_is_left_as_it_is() {
        let mut widths = NATURAL;
        let layout = squeeze(&mut widths, None);
        assert_eq!((widths, layout.gap, layout.compact_time), (NATURAL, "  ", false));
        let layout = squeeze(&mut widths, Some(200));
        assert_eq!((widths, layout.gap, layout.compact_time), (NATURAL, "  ", false));
    }

    #[test]
    fn narrow_terminals_squeeze_repo_and_branch_first() {
        let mut widths = NATURAL;
        let layout = squeeze(&mut widths, Some(100));
        assert_eq!((widths[2], widths[3], layout.gap), (10, 10, "  "));
        assert_eq!(widths.iter().sum::<usize>() + 18, 100);
        let mut widths = NATURAL;
        let layout = squeeze(&mut widths, Some(80));
        assert_eq!((widths[2], widths[3], widths[4], layout.gap, layout.compact_time), (6, 6, 11, " ", true));
        assert!(widths.iter().sum::<usize>() + 9 <= 80, "everything, counts included, fits in 80 columns");
    }
}
