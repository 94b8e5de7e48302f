//! A session's timeline for the page, read from its events file line by
//! line: turns, tool calls as a waterfall (placed by when they started, as
//! wide as they took), failures, and what each model response cost. The
//! report page keeps the first steps of a few sessions; `show --html` all.

use super::html::{Palette, escape};
use super::svg::{self, Mark, Span};
use super::{duration, style::one_line, summary::summary, usd};
use crate::event::{Event, EventKind};
use crate::phase::Phase;
use std::fmt::Write;
use std::io::{BufRead, BufReader};
use std::path::Path;

pub struct Step {
    /// From the session's first event (an earlier response time counts as 0).
    pub offset_ms: u64,
    pub kind: EventKind,
    /// The tool, else the event's type.
    pub what: String,
    pub tool: bool,
    pub latency_ms: Option<u32>,
    /// The turn this step starts (a prompt), counted from 1.
    pub turn: Option<usize>,
    /// A model response: its model and its price, when known.
    pub response: Option<(Option<String>, Option<i64>)>,
    pub summary: String,
}

pub struct Timeline {
    pub steps: Vec<Step>,
    /// Events past the cap: counted, not read.
    pub left_out: u64,
    /// Lines that are no event (a torn or partial write).
    pub unreadable: u64,
}

/// The first `cap` events of a session's file (all with `usize::MAX`).
pub fn read(path: &Path, cap: usize) -> Timeline {
    let mut timeline = Timeline { steps: Vec::new(), left_out: 0, unreadable: 0 };
    let Ok(file) = std::fs::File::open(path) else { return timeline };
    let mut reader = BufReader::new(file);
    let (mut line, mut start, mut turns) = (Vec::new(), None, 0);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(whole) = line.strip_suffix(b"\n") else {
            timeline.unreadable += 1; // a partial last line
            break;
        };
        if whole.is_empty() {
            continue;
        }
        if timeline.steps.len() >= cap {
            timeline.left_out += 1;
            continue;
        }
        let Ok(event) = serde_json::from_slice::<Event>(whole) else {
            timeline.unreadable += 1;
            continue;
        };
        let origin = *start.get_or_insert(event.ts_ms);
        let phase = event.payload["phase"].as_str().and_then(Phase::from_name);
        let turn = (phase == Some(Phase::Prompt)).then(|| {
            turns += 1;
            turns
        });
        let response = (event.kind == EventKind::Cost)
            .then(|| (event.payload["model"].as_str().map(String::from), event.cost_usd_e6));
        timeline.steps.push(Step {
            offset_ms: event.ts_ms.saturating_sub(origin),
            what: event.tool.clone().unwrap_or_else(|| event.payload["type"].as_str().unwrap_or("event").to_string()),
            tool: event.tool.is_some(),
            kind: event.kind.clone(),
            latency_ms: event.latency_ms,
            turn,
            response,
            summary: summary(&event),
        });
    }
    timeline
}

/// The waterfall and the table of steps; summaries cut to `max` characters.
pub fn render(out: &mut String, key: &str, t: &Timeline, palette: &Palette, max: usize) {
    if t.steps.is_empty() {
        out.push_str("<p class=\"na\">No events could be read.</p>");
        return;
    }
    let span_ms = t.steps.iter().map(|s| s.offset_ms).max().unwrap_or(0);
    let mut spans = Vec::new();
    let mut turns = Vec::new();
    let mut responses = Vec::new();
    for s in &t.steps {
        let failed = s.kind == EventKind::Error;
        if let Some(n) = s.turn {
            turns.push(Mark {
                at_ms: s.offset_ms,
                class: "turn",
                title: format!("turn {n}: {}", one_line(&s.summary, 80)),
            });
        }
        if let Some((model, cost)) = &s.response {
            let price = cost.map_or_else(|| "no known price".to_string(), usd);
            let title = format!("+{} {}: {price}", duration(s.offset_ms), model.as_deref().unwrap_or("unknown model"));
            responses.push(Mark { at_ms: s.offset_ms, class: palette.class(model.as_deref()), title });
        }
        // A call is drawn when it ends: its result or failure knows its latency.
        let ends_call = s.tool && matches!(s.kind, EventKind::ToolResult | EventKind::Error);
        if ends_call {
            let ms = u64::from(s.latency_ms.unwrap_or(0));
            let took = s.latency_ms.map_or("no latency".into(), |_| duration(ms));
            let outcome = if failed { "failed" } else { "ok" };
            spans.push(Span {
                label: s.what.clone(),
                start_ms: s.offset_ms.saturating_sub(ms),
                end_ms: s.offset_ms,
                class: if failed { "fail" } else { "call" },
                title: format!(
                    "{} {outcome}, {took}, ended +{}: {}",
                    s.what,
                    duration(s.offset_ms),
                    one_line(&s.summary, 100)
                ),
            });
        }
    }
    out.push_str("<div class=\"scroll\">");
    out.push_str(&svg::waterfall(&spans, &turns, &responses, span_ms));
    out.push_str("</div>");
    let _ = write!(
        out,
        "<details><summary>{} events, step by step</summary><div class=\"scroll\"><table class=\"steps\"><thead><tr><th class=\"n\">at</th><th>event</th><th class=\"n\">took</th><th class=\"n\">cost</th><th>what happened</th></tr></thead><tbody>",
        t.steps.len()
    );
    for s in &t.steps {
        if let Some(n) = s.turn {
            let _ = write!(out, "<tr class=\"turn\"><th colspan=\"5\">turn {n}</th></tr>");
        }
        let class = if s.kind == EventKind::Error { " class=\"err\"" } else { "" };
        let took = s.latency_ms.map_or(String::new(), |ms| duration(u64::from(ms)));
        let cost = match &s.response {
            Some((_, Some(c))) => format!("<td class=\"n\" data-value=\"{c}\">{}</td>", usd(*c)),
            Some((_, None)) => "<td class=\"n na\">no price</td>".into(),
            None => "<td></td>".into(),
        };
        let _ = write!(
            out,
            "<tr{class}><td class=\"n\">+{}</td><td>{}</td><td class=\"n\">{took}</td>{cost}<td class=\"s\">{}</td></tr>",
            duration(s.offset_ms),
            escape(&event_name(s)),
            escape(&one_line(&s.summary, max))
        );
    }
    out.push_str("</tbody></table></div></details>");
    if t.left_out > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{} more events are not shown here: <code>kaizen-hook show {} --html</code> draws them all.</p>",
            t.left_out,
            escape(key)
        );
    }
    if t.unreadable > 0 {
        let _ =
            write!(out, "<p class=\"note\">{} unreadable lines skipped (a torn or partial write).</p>", t.unreadable);
    }
}

/// What a step is, in words: the tool and what became of the call, else the event's type.
fn event_name(s: &Step) -> String {
    match (&s.kind, s.tool) {
        (EventKind::ToolCall, true) => format!("{} call", s.what),
        (EventKind::ToolResult, true) => format!("{} result", s.what),
        (EventKind::Error, true) => format!("{} failed", s.what),
        (EventKind::Cost, _) => "model response".into(),
        _ => s.what.replace('_', " "),
    }
}
