//! `kaizen-hook report`: tokens and cost grouped by model, day, agent,
//! branch or commit, across every recorded session. A human table by
//! default, `--json` for tools; the total is the sum of every Cost event.

use super::Run;
use crate::config::Config;
use crate::report::costs::{self, By, Row, SessionEvents, Sums};
use crate::report::{self, style::Style};
use crate::store::SessionFiles;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Report {
    /// Group by: model, day, agent, branch, or commit (the turns that ran on
    /// each commit, and the turns that produced it).
    #[arg(long, value_enum, default_value = "model")]
    pub by: By,
    /// Only events of this long ago: 30m, 2h, 7d, 2w.
    #[arg(long)]
    pub since: Option<String>,
    /// Machine-readable output (stable; fields in docs/commands.md).
    #[arg(long)]
    pub json: bool,
}

impl Run for Report {
    fn run(&self, config: &Config) -> ExitCode {
        let by = self.by;
        let since_ms = match self.since.as_deref().map(report::parse_duration) {
            Some(None) => {
                eprintln!("kaizen-hook report: --since takes a duration like 30m, 2h, 7d");
                return ExitCode::FAILURE;
            }
            Some(Some(d)) => Some(crate::time::now_ms().saturating_sub(d)),
            None => None,
        };
        let home = match config.home_to_read() {
            Ok(home) => home,
            Err(why) => {
                eprintln!("kaizen-hook report: {why}");
                return ExitCode::FAILURE;
            }
        };
        let loaded = super::settled_sessions(config, home, "report");
        let mut read: Vec<(String, Vec<crate::event::Event>)> = Vec::new();
        for row in &loaded.rows {
            let (mut events, skipped) = report::read_events(&SessionFiles::from_key(home, &row.key).events);
            if skipped > 0 {
                eprintln!("{}: skipped {skipped} unreadable line(s)", row.key);
            }
            if let Some(since) = since_ms {
                events.retain(|e| e.ts_ms >= since);
            }
            read.push((row.agent.clone(), events));
        }
        let sessions: Vec<SessionEvents> = read.iter().map(|(agent, events)| SessionEvents { agent, events }).collect();
        let (rows, total) = costs::group(&sessions, by, |ms| report::local_time(ms)[..10].to_string());
        if self.json {
            let by = by.to_possible_value().map(|v| v.get_name().to_string());
            let out = json!({"by": by, "rows": rows, "total": total});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        } else {
            print_table(by, &rows, &total, &Style::detect());
        }
        ExitCode::SUCCESS
    }
}

fn print_table(by: By, rows: &[Row], total: &Sums, style: &Style) {
    if total.responses == 0 {
        println!("no model responses recorded yet (tokens and cost come from the agents' transcripts at turn ends)");
        return;
    }
    let key = match by {
        By::Model => "MODEL",
        By::Day => "DAY",
        By::Agent => "AGENT",
        By::Branch => "BRANCH",
        By::Commit => "COMMIT",
    };
    let mut header = vec![key, "RESPONSES", "IN", "CACHE READ", "CACHE WRITE", "OUT", "COST"];
    if by == By::Commit {
        header.extend(["PRODUCED BY", "ITS COST"]);
    }
    let cells = |key: &str, s: &Sums, produced: Option<&Sums>| {
        let cost = |s: &Sums| {
            let unpriced = if s.unpriced > 0 { format!(" (+{} unpriced)", s.unpriced) } else { String::new() };
            report::usd(s.cost_usd_e6) + &unpriced
        };
        let mut row = vec![
            key.to_string(),
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
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    table.extend(rows.iter().map(|r| cells(&short(&r.key), &r.ran, r.produced.as_ref())));
    let mut last = cells("total", total, None);
    last.resize(table[0].len(), String::new());
    table.push(last);
    let widths: Vec<usize> =
        (0..table[0].len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for (n, row) in table.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        let line = line.join("  ").trim_end().to_string();
        println!("{}", if n == 0 || n == table.len() - 1 { style.bold(&line) } else { line });
    }
}
