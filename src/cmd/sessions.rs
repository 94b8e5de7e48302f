//! `kaizen-hook sessions`: one row per recorded session, newest first.

use crate::config::Config;
use crate::event::SessionStatus;
use crate::report::{self, SessionRow, style::Style};
use std::process::ExitCode;

pub struct Sessions {
    pub agent: Option<String>,
    pub workspace: Option<String>,
    pub since: Option<String>,
    pub json: bool,
}

impl Sessions {
    pub fn run(&self) -> ExitCode {
        let config = Config::from_env();
        let since_ms = match self.since.as_deref().map(report::parse_duration) {
            Some(None) => {
                eprintln!("kaizen-hook sessions: --since takes a duration like 30m, 2h, 7d");
                return ExitCode::FAILURE;
            }
            Some(Some(d)) => Some(crate::time::now_ms().saturating_sub(d)),
            None => None,
        };
        let workspace = self.workspace.as_deref().map(|w| crate::enrich::resolve_cwd(Some(w)));
        let loaded = report::load_sessions(&config.home);
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
    let header = ["AGENT", "ID", "REPO", "BRANCH", "STARTED", "DURATION", "STATUS", "EVENTS", "TOOLS", "ERRORS"];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
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
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(32);
        }
    }
    let line = |row: &[String], paint: &dyn Fn(usize, String) -> String| {
        let parts: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let cut = report::style::one_line(cell, widths[i]);
                let padded =
                    if i >= 7 { format!("{cut:>w$}", w = widths[i]) } else { format!("{cut:<w$}", w = widths[i]) };
                paint(i, padded)
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
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

fn status_color(status: &SessionStatus) -> &'static str {
    match status {
        SessionStatus::Running => "32",
        SessionStatus::Waiting => "35",
        SessionStatus::Idle => "33",
        SessionStatus::Done => "2",
    }
}
