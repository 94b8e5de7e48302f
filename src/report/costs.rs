//! Tokens and cost grouped for `kaizen-hook report`: by model, day, agent,
//! branch, or commit. Every `Cost` event is counted in exactly one row, so
//! the rows add up to the sum of the Cost events.
//!
//! A Cost event carries no git context of its own; it belongs to a turn (from
//! a prompt or session start to the turn's end), and the turn's hook events
//! say where it ran: the commit and branch at its start, and at its end. A
//! response is placed in the turn its own time falls in (responses read
//! late, at a later turn end, still go to the turn that made them), else in
//! the turn that was open when it was recorded.

use crate::event::{Event, EventKind};
use crate::phase::Phase;
use serde::Serialize;
use std::collections::BTreeMap;

/// `report --by`'s values, named as the variants are (model, day...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Model,
    Day,
    Agent,
    Branch,
    Commit,
}

/// Token and cost sums. Field names are stable (`report --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub responses: u64,
    pub tokens_in: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub tokens_out: u64,
    pub reasoning_tokens: u64,
    /// Micro-USD of the responses whose price is known.
    pub cost_usd_e6: i64,
    /// Responses whose model has no known price (their tokens are counted).
    pub unpriced: u64,
}

impl Sums {
    fn add(&mut self, e: &Event) {
        let n = |v: Option<u32>| u64::from(v.unwrap_or(0));
        let correction = e.payload.get("correction").and_then(serde_json::Value::as_bool) == Some(true);
        self.responses += u64::from(!correction);
        self.tokens_in += n(e.tokens_in);
        self.cache_read_tokens += n(e.cache_read_tokens);
        self.cache_creation_tokens += n(e.cache_creation_tokens);
        self.tokens_out += n(e.tokens_out);
        self.reasoning_tokens += n(e.reasoning_tokens);
        match e.cost_usd_e6 {
            Some(cost) => self.cost_usd_e6 += cost,
            None => self.unpriced += u64::from(!correction),
        }
    }
}

/// One row of the report: `ran` is what the turns that ran under this key
/// cost; with `--by commit`, `produced` is what the turns that ended on this
/// commit, having started on another, cost (the work that made it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub key: String,
    pub ran: Sums,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produced: Option<Sums>,
}

/// A turn, as the hook events of one session bound it.
#[derive(Debug, Default, Clone)]
struct Turn {
    start_ms: u64,
    start_commit: Option<String>,
    end_commit: Option<String>,
    branch: Option<String>,
    costs: Vec<usize>,
}

/// One session's events, in file order, with its agent.
pub struct SessionEvents<'a> {
    pub agent: &'a str,
    pub events: &'a [Event],
}

pub fn group(sessions: &[SessionEvents], by: By, local_day: impl Fn(u64) -> String) -> (Vec<Row>, Sums) {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut total = Sums::default();
    let unknown = || "-".to_string();
    for session in sessions {
        for turn in turns(session.events) {
            for &i in &turn.costs {
                let e = &session.events[i];
                total.add(e);
                let key = match by {
                    By::Model => e.payload["model"].as_str().map_or_else(unknown, String::from),
                    By::Day => local_day(e.ts_ms),
                    By::Agent => session.agent.to_string(),
                    By::Branch => turn.branch.clone().unwrap_or_else(unknown),
                    By::Commit => turn.start_commit.clone().unwrap_or_else(unknown),
                };
                let row = rows.entry(key.clone()).or_insert_with(|| Row { key, ..Row::default() });
                row.ran.add(e);
                if by != By::Commit {
                    continue;
                }
                row.produced.get_or_insert_with(Sums::default);
                if let Some(end) = turn.end_commit.as_ref().filter(|end| Some(*end) != turn.start_commit.as_ref()) {
                    let made = rows.entry(end.clone()).or_insert_with(|| Row { key: end.clone(), ..Row::default() });
                    made.produced.get_or_insert_with(Sums::default).add(e);
                }
            }
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    rows.sort_by(|a, b| b.ran.cost_usd_e6.cmp(&a.ran.cost_usd_e6).then_with(|| a.key.cmp(&b.key)));
    (rows, total)
}

/// One turn's tokens and cost, for `show`.
#[derive(Debug, Clone, Serialize)]
pub struct TurnCost {
    /// The turn's number in the session, from 1.
    pub turn: usize,
    pub start_ms: u64,
    pub commit: Option<String>,
    #[serde(flatten)]
    pub sums: Sums,
}

/// A session's turns that had model responses, with what they cost.
pub fn per_turn(events: &[Event]) -> Vec<TurnCost> {
    turns(events)
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !t.costs.is_empty())
        .map(|(i, t)| {
            let mut sums = Sums::default();
            t.costs.iter().for_each(|&c| sums.add(&events[c]));
            TurnCost { turn: i + 1, start_ms: t.start_ms, commit: t.start_commit, sums }
        })
        .collect()
}

/// The session's turns, each with the Cost events that belong to it.
fn turns(events: &[Event]) -> Vec<Turn> {
    let mut turns: Vec<Turn> = vec![Turn::default()];
    let mut open = true;
    for (i, e) in events.iter().enumerate() {
        let phase = e.payload["phase"].as_str().and_then(Phase::from_name);
        let context = &e.payload["context"];
        let commit = context["commit"].as_str().map(String::from);
        if e.kind == EventKind::Cost {
            let at = if e.ts_exact {
                turns.iter().rposition(|t| t.start_ms <= e.ts_ms).unwrap_or(0)
            } else {
                turns.len() - 1
            };
            turns[at].costs.push(i);
            continue;
        }
        if matches!(phase, Some(Phase::Prompt | Phase::SessionStart))
            && (!open || turns.last().is_some_and(|t| t.start_commit.is_some()))
        {
            turns.push(Turn::default());
        }
        let turn = turns.last_mut().expect("there is always a turn");
        if turn.start_commit.is_none() {
            turn.start_ms = e.ts_ms;
            turn.start_commit.clone_from(&commit);
            turn.branch = context["branch"].as_str().map(String::from);
        }
        if commit.is_some() {
            turn.end_commit = commit;
        }
        open = !matches!(phase, Some(Phase::TurnEnd | Phase::TurnFailure | Phase::SessionEnd));
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventSource;
    use serde_json::json;

    fn event(kind: EventKind, ts_ms: u64, payload: serde_json::Value) -> Event {
        serde_json::from_value(json!({
            "session_id": "s", "seq": 0, "ts_ms": ts_ms, "ts_exact": kind == EventKind::Cost, "kind": kind,
            "source": if kind == EventKind::Cost { EventSource::Tail } else { EventSource::Hook },
            "tool": null, "tool_call_id": null, "tokens_in": 10, "tokens_out": 2, "reasoning_tokens": null,
            "cost_usd_e6": if kind == EventKind::Cost { json!(100) } else { json!(null) }, "stop_reason": null,
            "latency_ms": null, "ttft_ms": null, "retry_count": null, "context_used_tokens": null,
            "context_max_tokens": null, "cache_creation_tokens": null, "cache_read_tokens": null,
            "system_prompt_tokens": null, "payload": payload,
        }))
        .unwrap()
    }

    fn hook(ts: u64, phase: &str, commit: &str) -> Event {
        event(EventKind::Lifecycle, ts, json!({"phase": phase, "context": {"commit": commit, "branch": "main"}}))
    }

    fn cost(ts: u64, model: &str) -> Event {
        event(EventKind::Cost, ts, json!({"model": model}))
    }

    #[test]
    fn commits_get_what_ran_on_them_and_what_produced_them() {
        // Turn 1 runs on a, commits b; its last response is read at turn 2's end.
        let events = vec![
            hook(0, "prompt", "a"),
            cost(10, "m1"),
            hook(20, "turn_end", "b"),
            hook(30, "prompt", "b"),
            cost(15, "m1"),
            cost(40, "m2"),
            hook(50, "turn_end", "b"),
        ];
        let sessions = [SessionEvents { agent: "claude", events: &events }];
        let (rows, total) = group(&sessions, By::Commit, |_| String::new());
        let row = |k: &str| rows.iter().find(|r| r.key == k).unwrap().clone();
        assert_eq!((row("a").ran.responses, row("a").produced.unwrap().responses), (2, 0));
        assert_eq!((row("b").ran.responses, row("b").produced.unwrap().responses), (1, 2));
        assert_eq!((total.responses, total.cost_usd_e6), (3, 300));
        let (by_model, total) = group(&sessions, By::Model, |_| String::new());
        assert_eq!(by_model.iter().map(|r| r.ran.cost_usd_e6).sum::<i64>(), total.cost_usd_e6, "rows add up");
    }
}
