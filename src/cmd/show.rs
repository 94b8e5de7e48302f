//! `kaizen-hook show <id>`: one session's header, timeline and summary.

use super::Run;
use crate::config::Config;
use crate::event::{Event, EventKind, SessionRecord};
use crate::report::digest::{self, TurnCost, Window};
use crate::report::tally::{By, Days, Row, Session, Sums, Tally};
use crate::report::{self, style::Style, summary::summary};
use crate::store::{self, Listed, SessionFiles, fsutil};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Show {
    /// A session id, or a unique prefix of one.
    pub id: String,
    /// Machine-readable output (stable; fields in docs/commands.md).
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// One self-contained HTML page: the header, cost by model, the whole timeline.
    #[arg(long)]
    pub html: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Step {
    seq: u64,
    ts_ms: u64,
    offset_ms: u64,
    kind: EventKind,
    r#type: String,
    /// `payload.phase`: what the event meant (`null` in records older than it).
    phase: Option<String>,
    tool: Option<String>,
    tool_call_id: Option<String>,
    latency_ms: Option<u32>,
    error: bool,
    summary: String,
    /// The subagent the event comes from or is about.
    subagent: Option<SubagentRef>,
}

#[derive(Serialize, Clone, PartialEq)]
struct SubagentRef {
    id: String,
    r#type: Option<String>,
}

#[derive(Serialize, Default)]
struct ToolStats {
    tool: String,
    calls: u64,
    errors: u64,
    total_latency_ms: u64,
    max_latency_ms: u64,
}

/// One subagent's share of the session.
#[derive(Serialize)]
struct SubagentStats {
    id: String,
    r#type: Option<String>,
    events: u64,
    tool_calls: u64,
    errors: u64,
    /// From the session's first event to the subagent's first.
    offset_ms: u64,
    /// From its first event to its last.
    duration_ms: u64,
    tools: Vec<ToolStats>,
}

impl Run for Show {
    fn run(&self, config: &Config) -> ExitCode {
        let key = match config.home_to_read().and_then(|home| resolve(home, &self.id)) {
            Ok(key) => key,
            Err(e) => {
                eprintln!("kaizen-hook show: {e}");
                return ExitCode::FAILURE;
            }
        };
        let files = SessionFiles::from_key(&config.home, &key);
        settle(config, &files);
        let record: Option<SessionRecord> = crate::store::record::load(&files.record).ok().flatten();
        // Read once, never through a planted symlink or FIFO: the timeline and the costs come from these bytes.
        let bytes = fsutil::read_private(&files.events, u64::MAX).ok().flatten().unwrap_or_default();
        let (events, skipped) = report::events_in(&bytes);
        let start = events.first().map_or(0, |e| e.ts_ms);
        let steps: Vec<Step> = events.iter().map(|e| step(e, start)).collect();
        let tools = tool_stats(&steps);
        let subagents = subagent_stats(&steps);
        let mut slowest: Vec<&Step> = steps.iter().filter(|s| s.latency_ms.is_some()).collect();
        slowest.sort_by_key(|s| std::cmp::Reverse(s.latency_ms));
        slowest.truncate(5);
        let agent = record.as_ref().map_or("", |r| r.agent.as_str());
        let (models, cost_total, turns) = costs(&key, agent, &bytes);
        if self.html || self.json || self.out.is_some() {
            let text = if self.html {
                let row = report::load_session(&config.home, &key);
                report::html::render_session(&config.home, &key, row.as_ref(), &models, &cost_total)
            } else if self.json {
                let out = json!({"key": key, "session": record, "events": steps.len(), "skipped_lines": skipped,
                                 "timeline": steps, "tools": tools, "slowest": slowest, "subagents": subagents,
                                 "models": models, "turns": turns, "cost": cost_total});
                serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
            } else {
                return self.fail("--out needs --html or --json");
            };
            let written = match &self.out {
                None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| format!("writing: {e}")),
                Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
            };
            if let Err(e) = written {
                return self.fail(&e);
            }
            if let Some(path) = &self.out {
                eprintln!("kaizen-hook show: wrote {}", path.display());
            }
        } else {
            let style = Style::detect();
            print_header(&key, record.as_ref(), &events, &style);
            print_timeline(&steps, &style);
            print_summary(&tools, &slowest, !subagents.is_empty(), &style);
            print_subagents(&subagents, &style);
            print_costs(&models, &turns, &cost_total, start, &style);
        }
        if skipped > 0 {
            let name = files.events.file_name().unwrap_or_default().to_string_lossy();
            eprintln!("skipped {skipped} unreadable line(s) in {name} (a torn or partial write)");
        }
        ExitCode::SUCCESS
    }
}

impl Show {
    fn fail(&self, why: &str) -> ExitCode {
        eprintln!("kaizen-hook show: {why}");
        ExitCode::FAILURE
    }
}

/// Tokens and cost per model and per turn, as every report adds them up.
fn costs(key: &str, agent: &str, events: &[u8]) -> (Vec<Row>, Sums, Vec<TurnCost>) {
    let (digest, turns) = digest::of_reader(events, Window::default()).unwrap_or_default();
    let mut tally = Tally::default();
    let session = Session { key, agent, repo: "", model: None, started_ms: 0, guidance: None };
    tally.add(&session, &digest, &mut Days::new(report::local_day));
    (tally.rows(By::Model), tally.total, turns)
}

/// Writes the session's inferred end first, when its agent is gone.
fn settle(config: &Config, files: &SessionFiles) {
    let Ok(Some(record)) = crate::store::record::load(&files.record) else { return };
    if let Err(e) = crate::inferred_end::settle_one(config, &record.id) {
        eprintln!("kaizen-hook show: the end of {} could not be written: {e}", files.key);
    }
}

fn step(e: &Event, start: u64) -> Step {
    Step {
        seq: e.seq,
        ts_ms: e.ts_ms,
        offset_ms: e.ts_ms.saturating_sub(start),
        kind: e.kind.clone(),
        r#type: e.payload["type"].as_str().unwrap_or("unknown").to_string(),
        phase: e.payload["phase"].as_str().map(String::from),
        tool: e.tool.clone(),
        tool_call_id: e.tool_call_id.clone(),
        latency_ms: e.latency_ms,
        error: e.kind == EventKind::Error,
        summary: summary(e),
        subagent: subagent_of(e),
    }
}

/// `payload.subagent`, except on a subagent start or stop the agent's file
/// said is no subagent's (its phase is then not `subagent_*`): Claude Code's
/// compaction summariser sends a SubagentStop with an id and nothing else.
fn subagent_of(e: &Event) -> Option<SubagentRef> {
    let id = e.payload["subagent"]["id"].as_str().filter(|id| !id.is_empty())?;
    let kind = e.payload["type"].as_str().unwrap_or_default();
    let phase = e.payload["phase"].as_str().unwrap_or(kind);
    if kind.starts_with("subagent_") && !phase.starts_with("subagent_") {
        return None;
    }
    let r#type = e.payload["subagent"]["type"].as_str().filter(|t| !t.is_empty()).map(String::from);
    Some(SubagentRef { id: id.to_string(), r#type })
}

/// A session key from an exact key or id, or a unique prefix of one.
fn resolve(home: &Path, wanted: &str) -> Result<String, String> {
    let keys: Vec<String> = store::list(home, Listed::Events)
        .map_err(|_| format!("no sessions recorded in {}", store::sessions_dir(home).display()))?
        .map(|files| files.key)
        .collect();
    if wanted.is_empty() {
        return Err("give a session id or a prefix of one".into());
    }
    let key = store::session_key(wanted);
    if keys.contains(&key) {
        return Ok(key);
    }
    let mut matches: Vec<&String> = keys.iter().filter(|k| k.starts_with(wanted)).collect();
    matches.sort();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no session matches {wanted:?} (see `kaizen-hook sessions`)")),
        many => Err(format!(
            "{wanted:?} matches {} sessions: {}",
            many.len(),
            many.iter().take(5).map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn tool_stats<'a>(steps: impl IntoIterator<Item = &'a Step>) -> Vec<ToolStats> {
    let mut by_tool: BTreeMap<String, ToolStats> = BTreeMap::new();
    let mut called = std::collections::HashSet::new();
    for step in steps {
        let Some(tool) = &step.tool else { continue };
        let stats =
            by_tool.entry(tool.clone()).or_insert_with(|| ToolStats { tool: tool.clone(), ..Default::default() });
        // As in the sessions list: a result whose call was not recorded is a call.
        let first_sight = step.tool_call_id.as_ref().is_none_or(|id| called.insert(id.clone()));
        match step.kind {
            EventKind::ToolCall => stats.calls += 1,
            EventKind::ToolResult if first_sight => stats.calls += 1,
            EventKind::Error => {
                stats.errors += 1;
                stats.calls += u64::from(first_sight);
            }
            _ => {}
        }
        if let Some(ms) = step.latency_ms {
            stats.total_latency_ms += u64::from(ms);
            stats.max_latency_ms = stats.max_latency_ms.max(u64::from(ms));
        }
    }
    let mut tools: Vec<ToolStats> = by_tool.into_values().collect();
    tools.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    tools
}

/// The subagents in order of first appearance, each with its own counts.
fn subagent_stats(steps: &[Step]) -> Vec<SubagentStats> {
    let mut order: Vec<&SubagentRef> = Vec::new();
    for s in steps.iter().filter_map(|s| s.subagent.as_ref()) {
        if !order.iter().any(|o| o.id == s.id) {
            order.push(s);
        }
    }
    order
        .into_iter()
        .map(|sub| {
            let own: Vec<&Step> =
                steps.iter().filter(|s| s.subagent.as_ref().is_some_and(|o| o.id == sub.id)).collect();
            let tools = tool_stats(own.iter().copied());
            let first = own.first().map_or(0, |s| s.offset_ms);
            SubagentStats {
                id: sub.id.clone(),
                r#type: own.iter().find_map(|s| s.subagent.as_ref().and_then(|o| o.r#type.clone())),
                events: own.len() as u64,
                tool_calls: tools.iter().map(|t| t.calls).sum(),
                errors: own.iter().filter(|s| s.error).count() as u64,
                offset_ms: first,
                duration_ms: own.last().map_or(0, |s| s.offset_ms.saturating_sub(first)),
                tools,
            }
        })
        .collect()
}

fn print_header(key: &str, record: Option<&SessionRecord>, events: &[Event], style: &Style) {
    let Some(r) = record else {
        println!("{} {key} (no session record)", style.bold("session"));
        return;
    };
    let short = |c: &Option<String>| c.as_deref().map_or("-".to_string(), |c| c.chars().take(10).collect());
    let yes_no = |d: Option<bool>| d.map_or("?", |d| if d { "dirty" } else { "clean" });
    let end = r.ended_at_ms.or(events.last().map(|e| e.ts_ms)).unwrap_or(r.started_at_ms);
    println!("{} {}  {}", style.bold("session"), r.id, style.dim(&format!("({key})")));
    let version = r.agent_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    println!("  agent      {}{version}   model {}", r.agent, r.model.as_deref().unwrap_or("-"));
    println!("  workspace  {}   branch {}", r.workspace, r.branch.as_deref().unwrap_or("-"));
    println!(
        "  commits    {} → {}   {} → {}",
        short(&r.start_commit),
        short(&r.end_commit),
        yes_no(r.dirty_start),
        yes_no(r.dirty_end)
    );
    let files = r.repo_file_count.map_or("-".into(), |f| f.to_string());
    let loc = r.repo_total_loc.map_or("-".into(), |l| l.to_string());
    println!(
        "  repo       {files} files, {loc} lines   {}/{}",
        r.os.as_deref().unwrap_or("-"),
        r.arch.as_deref().unwrap_or("-")
    );
    println!(
        "  status     {:?}   started {}   duration {}   {} events",
        r.status,
        report::local_time(r.started_at_ms),
        report::duration(end.saturating_sub(r.started_at_ms)),
        events.len()
    );
    println!("  trace      {}", r.trace_path);
}

fn print_timeline(steps: &[Step], style: &Style) {
    println!("\n{}", style.bold("timeline"));
    for s in steps {
        let latency = s.latency_ms.map_or(String::new(), |ms| report::duration(u64::from(ms)));
        let what = match (&s.kind, &s.tool) {
            (EventKind::Lifecycle | EventKind::Hook, _) => s.r#type.clone(),
            (_, Some(tool)) => tool.clone(),
            _ => s.r#type.clone(),
        };
        // A subagent's events are indented.
        let what = if s.subagent.is_some() { format!("↳ {what}") } else { what };
        let summary = whose(s);
        let mark = if s.error { "!" } else { " " };
        let line = format!(
            "{mark} +{:<8} {:<10} {:<18} {:>8}  {summary}",
            report::duration(s.offset_ms),
            format!("{:?}", s.kind),
            report::style::one_line(&what, 18),
            latency,
        );
        let line = style.fit(&line);
        println!("{}", if s.error { style.red(&line) } else { line });
    }
}

/// The summary, after the subagent whose event it is (by its type, or the
/// start of its id) unless it already starts with it.
fn whose(s: &Step) -> String {
    let Some(sub) = &s.subagent else { return s.summary.clone() };
    let label = sub.r#type.clone().unwrap_or_else(|| sub.id.chars().take(8).collect());
    if s.summary.starts_with(&label) { s.summary.clone() } else { format!("({label}) {}", s.summary) }
}

fn print_summary(tools: &[ToolStats], slowest: &[&Step], with_subagents: bool, style: &Style) {
    if tools.is_empty() {
        return;
    }
    let title = if with_subagents { "tools (the subagents' calls included)" } else { "tools" };
    println!("\n{}", style.bold(title));
    for t in tools {
        println!("  {}", tool_line(t, style));
    }
    if !slowest.is_empty() {
        println!("\n{}", style.bold("slowest"));
        for s in slowest {
            let line = format!(
                "  {:>8}  {:<18} {}",
                report::duration(u64::from(s.latency_ms.unwrap_or(0))),
                report::style::one_line(s.tool.as_deref().unwrap_or("-"), 18),
                whose(s)
            );
            println!("{}", style.fit(&line));
        }
    }
}

fn tool_line(t: &ToolStats, style: &Style) -> String {
    let errors = if t.errors > 0 { style.red(&format!("{} failed", t.errors)) } else { String::new() };
    format!(
        "{:<18} {:>4} calls  total {:>8}  max {:>8}  {errors}",
        report::style::one_line(&t.tool, 18),
        t.calls,
        report::duration(t.total_latency_ms),
        report::duration(t.max_latency_ms)
    )
    .trim_end()
    .to_string()
}

/// Tokens and cost per model and per turn, from the session's Cost events.
fn print_costs(models: &[Row], turns: &[TurnCost], total: &Sums, start: u64, style: &Style) {
    if total.responses == 0 {
        return;
    }
    let line = |s: &Sums| {
        let unpriced = if s.unpriced > 0 { format!(" (+{} unpriced)", s.unpriced) } else { String::new() };
        format!(
            "{:>3} responses  in {:>7}  cache {:>7} read {:>7} written  out {:>7}  {}{unpriced}",
            s.responses,
            report::tokens(s.tokens_in),
            report::tokens(s.cache_read_tokens),
            report::tokens(s.cache_creation_tokens),
            report::tokens(s.tokens_out),
            report::usd(s.cost_usd_e6)
        )
    };
    println!("\n{}", style.bold("cost by model"));
    for m in models {
        println!("{}", style.fit(&format!("  {:<24} {}", m.key, line(&m.ran))));
    }
    println!("\n{}", style.bold("cost by turn"));
    for t in turns {
        let commit: String = t.commit.as_deref().unwrap_or("-").chars().take(10).collect();
        let when = report::duration(t.start_ms.saturating_sub(start));
        println!("{}", style.fit(&format!("  turn {:<3} +{when:<8} {commit:<10} {}", t.turn, line(&t.sums))));
    }
    println!("{}", style.fit(&format!("  {:<24} {}", "total", line(total))));
}

fn print_subagents(subagents: &[SubagentStats], style: &Style) {
    if subagents.is_empty() {
        return;
    }
    println!("\n{}", style.bold("subagents"));
    for s in subagents {
        let kind = s.r#type.as_deref().unwrap_or("-");
        let errors = if s.errors > 0 { style.red(&format!("  {} failed", s.errors)) } else { String::new() };
        let line = format!(
            "  {:<18} {:<10} {:>4} events  {:>4} calls  at +{}  for {}{errors}",
            report::style::one_line(kind, 18),
            s.id.chars().take(10).collect::<String>(),
            s.events,
            s.tool_calls,
            report::duration(s.offset_ms),
            report::duration(s.duration_ms),
        );
        println!("{}", style.fit(&line));
        for t in &s.tools {
            println!("{}", style.fit(&format!("    {}", tool_line(t, style))));
        }
    }
}
