//! One session's events file read line by line into what every report
//! needs: its model responses placed in their turns (model, branch, commit,
//! quarter hour), its tool calls (per tool, with latencies), its slowest
//! calls. Only the fields a report uses are parsed, borrowed from the line;
//! the session's events are never held.
//!
//! A Cost event carries no git context of its own; it belongs to a turn (from
//! a prompt or session start to the turn's end), and the turn's hook events
//! say where it ran: the commit and branch at its start, and at its end. A
//! response is placed in the turn its own time falls in (responses read
//! late, at a later turn end, still go to the turn that made them), else in
//! the turn that was open when it was recorded.

use super::tally::Sums;
use crate::event::EventKind;
use crate::phase::Phase;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::Path;

/// Cells are kept per quarter hour: every time zone's offset is a whole
/// number of quarters, so a cell's local day is exact in any of them.
pub const QUARTER_MS: u64 = 15 * 60 * 1000;
/// The slowest calls kept per session (and on the page).
pub const SLOWEST: usize = 10;

/// What one session's events file says, for reports. Cached per settled
/// session (`cache.rs`), so its fields are plain data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Lines read as events.
    pub events: u64,
    /// Lines that were not (torn, partial or foreign).
    pub skipped: u64,
    /// The earliest and latest event time, model responses' own times included.
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    pub costs: Vec<CostCell>,
    pub tools: Vec<ToolCell>,
    /// Events of kind Error (failed tool calls and failed turns).
    pub errors: u64,
    pub slowest: Vec<SlowCall>,
    /// Turns that ended in the window (a turn end, or a failed turn).
    pub turns: u64,
    /// How long those of them that have a known start took, from the prompt
    /// (or the session start, when no prompt came since the last turn) to
    /// their end.
    pub turn_ms: Vec<u64>,
}

/// The model responses of one quarter hour that share a model and a turn's
/// branch and commits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostCell {
    pub quarter_ms: u64,
    pub model: Option<String>,
    pub branch: Option<String>,
    /// The commit the turn started on.
    pub commit: Option<String>,
    /// The commit the turn ended on, when it is another: the turn produced it.
    pub produced: Option<String>,
    pub sums: Sums,
}

/// One tool's calls in one quarter hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCell {
    pub quarter_ms: u64,
    pub tool: String,
    pub calls: u64,
    pub failures: u64,
    /// The latency of every call that has one (a result or failure after its call).
    pub latencies_ms: Vec<u32>,
}

/// A slow tool call, said in one line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowCall {
    pub ts_ms: u64,
    pub tool: String,
    pub latency_ms: u32,
    pub failed: bool,
    pub summary: String,
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

/// Which events count: those at or after `since` and before `until`. A
/// response is still placed by every event of its session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl Window {
    pub fn holds(&self, ts_ms: u64) -> bool {
        self.since_ms.is_none_or(|s| ts_ms >= s) && self.until_ms.is_none_or(|u| ts_ms < u)
    }

    pub fn is_all(&self) -> bool {
        self.since_ms.is_none() && self.until_ms.is_none()
    }

    /// Whether every time from `first` to `last` is in the window.
    pub fn covers(&self, first: u64, last: u64) -> bool {
        self.holds(first) && self.holds(last)
    }

    /// Whether no time from `first` to `last` is.
    pub fn misses(&self, first: u64, last: u64) -> bool {
        self.since_ms.is_some_and(|s| last < s) || self.until_ms.is_some_and(|u| first >= u)
    }
}

/// Reads the first `len` bytes of an events file (what was there when it
/// was looked at: later appends wait for the next report).
pub fn of_file(path: &Path, len: u64, window: Window) -> io::Result<(Digest, Vec<TurnCost>)> {
    use std::os::unix::fs::OpenOptionsExt;
    // Never a planted symlink or FIFO.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    of_reader(io::BufReader::with_capacity(256 * 1024, file.take(len)), window)
}

pub fn of_reader(mut reader: impl BufRead, window: Window) -> io::Result<(Digest, Vec<TurnCost>)> {
    let mut builder = Builder { window, turns: vec![Turn::default()], open: true, ..Builder::default() };
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        match line.strip_suffix(b"\n") {
            Some(whole) if !whole.is_empty() => builder.line(whole),
            Some(_) => {}
            // A partial last line: being written, or torn by a crash.
            None => builder.digest.skipped += 1,
        }
    }
    Ok(builder.finish())
}

/// The fields of an event line a report reads. Anything else is skipped
/// unparsed; a field of an unexpected type reads as absent.
#[derive(Deserialize)]
struct Line<'a> {
    ts_ms: u64,
    #[serde(default)]
    ts_exact: bool,
    kind: EventKind,
    #[serde(default, borrow)]
    tool: Text<'a>,
    #[serde(default, borrow)]
    tool_call_id: Text<'a>,
    #[serde(default)]
    tokens_in: Option<u32>,
    #[serde(default)]
    tokens_out: Option<u32>,
    #[serde(default)]
    reasoning_tokens: Option<u32>,
    #[serde(default)]
    cost_usd_e6: Option<i64>,
    #[serde(default)]
    latency_ms: Option<u32>,
    #[serde(default)]
    cache_creation_tokens: Option<u32>,
    #[serde(default)]
    cache_read_tokens: Option<u32>,
    #[serde(default, borrow)]
    payload: Obj<LinePayload<'a>>,
}

#[derive(Deserialize, Default)]
struct LinePayload<'a> {
    #[serde(default, borrow)]
    phase: Text<'a>,
    #[serde(default, borrow)]
    model: Text<'a>,
    #[serde(default)]
    correction: Flag,
    #[serde(default, borrow)]
    context: Obj<Context<'a>>,
}

/// Text when the value is a string, absent when it is anything else.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `true` only when the value is `true`.
#[derive(Default)]
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Flag(matches!(serde_json::Value::deserialize(d)?, serde_json::Value::Bool(true))))
    }
}

#[derive(Deserialize, Default)]
struct Context<'a> {
    #[serde(default, borrow)]
    commit: Text<'a>,
    #[serde(default, borrow)]
    branch: Text<'a>,
}

/// An object read as `T`; any other value as `T::default()`.
#[derive(Default)]
struct Obj<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(T::default()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Obj(T::default()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A turn, as the hook events of one session bound it.
#[derive(Debug, Default)]
struct Turn {
    start_ms: u64,
    start_commit: Option<String>,
    end_commit: Option<String>,
    branch: Option<String>,
    /// Its responses in the window, by quarter hour and model.
    costs: BTreeMap<(u64, Option<String>), Sums>,
    /// All its responses, window or not (`show`'s turns).
    all: Sums,
}

#[derive(Default)]
struct Builder {
    window: Window,
    digest: Digest,
    turns: Vec<Turn>,
    open: bool,
    tools: BTreeMap<(u64, String), ToolCell>,
    called: HashSet<String>,
    /// When the turn under way began, and whether a prompt began it.
    began: Option<(u64, bool)>,
}

impl Builder {
    fn line(&mut self, bytes: &[u8]) {
        let Ok(line) = serde_json::from_slice::<Line>(bytes) else {
            self.digest.skipped += 1;
            return;
        };
        let d = &mut self.digest;
        d.events += 1;
        d.first_ms = Some(d.first_ms.map_or(line.ts_ms, |f| f.min(line.ts_ms)));
        d.last_ms = Some(d.last_ms.map_or(line.ts_ms, |l| l.max(line.ts_ms)));
        let counted = self.window.holds(line.ts_ms);
        if line.kind == EventKind::Cost {
            self.cost(&line, counted);
            return;
        }
        self.turn_bounds(&line);
        self.time_turn(&line, counted);
        if counted {
            self.tool(&line, bytes);
        }
    }

    fn cost(&mut self, line: &Line, counted: bool) {
        let at = if line.ts_exact {
            self.turns.iter().rposition(|t| t.start_ms <= line.ts_ms).unwrap_or(0)
        } else {
            self.turns.len() - 1
        };
        let sums = sums_of(line);
        let turn = &mut self.turns[at];
        turn.all.add(&sums);
        if counted {
            let key = (line.ts_ms - line.ts_ms % QUARTER_MS, line.payload.0.model.get().map(String::from));
            turn.costs.entry(key).or_default().add(&sums);
        }
    }

    fn turn_bounds(&mut self, line: &Line) {
        let phase = line.payload.0.phase.get().and_then(Phase::from_name);
        let commit = line.payload.0.context.0.commit.get();
        if matches!(phase, Some(Phase::Prompt | Phase::SessionStart))
            && (!self.open || self.turns.last().is_some_and(|t| t.start_commit.is_some()))
        {
            self.turns.push(Turn::default());
        }
        let turn = self.turns.last_mut().expect("there is always a turn");
        if turn.start_commit.is_none() {
            turn.start_ms = line.ts_ms;
            turn.start_commit = commit.map(String::from);
            turn.branch = line.payload.0.context.0.branch.get().map(String::from);
        }
        if let Some(commit) = commit {
            turn.end_commit = Some(commit.to_string());
        }
        self.open = !matches!(phase, Some(Phase::TurnEnd | Phase::TurnFailure | Phase::SessionEnd));
    }

    /// Counts a turn at its end, and times it. A prompt begins a turn; so
    /// does a session start, for agents that send no prompt hook, until a
    /// prompt comes. A turn left open by a session end is not counted: it
    /// has no end to time.
    fn time_turn(&mut self, line: &Line, counted: bool) {
        let began_by_prompt = self.began.is_some_and(|(_, prompt)| prompt);
        match line.payload.0.phase.get().and_then(Phase::from_name) {
            Some(Phase::SessionStart) if self.began.is_none() => self.began = Some((line.ts_ms, false)),
            Some(Phase::Prompt) if !began_by_prompt => self.began = Some((line.ts_ms, true)),
            Some(Phase::TurnEnd | Phase::TurnFailure) => {
                if counted {
                    self.digest.turns += 1;
                    if let Some((start, _)) = self.began {
                        self.digest.turn_ms.push(line.ts_ms.saturating_sub(start));
                    }
                }
                self.began = None;
            }
            Some(Phase::SessionEnd) => self.began = None,
            _ => {}
        }
    }

    /// As the sessions list counts them: a call, or a result or failure
    /// whose call was not recorded.
    fn tool(&mut self, line: &Line, bytes: &[u8]) {
        let failed = line.kind == EventKind::Error;
        if failed {
            self.digest.errors += 1;
        }
        let Some(tool) = line.tool.get() else { return };
        let first_sight = line.tool_call_id.get().is_none_or(|id| self.called.insert(id.to_string()));
        let call = match line.kind {
            EventKind::ToolCall => true,
            EventKind::ToolResult | EventKind::Error => first_sight,
            _ => return,
        };
        let quarter = line.ts_ms - line.ts_ms % QUARTER_MS;
        let cell = self.tools.entry((quarter, tool.to_string())).or_insert_with(|| ToolCell {
            quarter_ms: quarter,
            tool: tool.to_string(),
            ..ToolCell::default()
        });
        cell.calls += u64::from(call);
        cell.failures += u64::from(failed);
        let Some(latency) = line.latency_ms.filter(|_| line.kind != EventKind::ToolCall) else { return };
        cell.latencies_ms.push(latency);
        let slowest = &mut self.digest.slowest;
        if slowest.len() < SLOWEST || slowest.last().is_some_and(|s| latency > s.latency_ms) {
            // Rare: only a call slower than the session's slowest so far is described.
            let summary = serde_json::from_slice::<crate::event::Event>(bytes)
                .map(|e| super::summary::summary(&e))
                .unwrap_or_default();
            let slow = SlowCall { ts_ms: line.ts_ms, tool: tool.to_string(), latency_ms: latency, failed, summary };
            keep_slowest(slowest, slow, SLOWEST, |s| (s.latency_ms, s.ts_ms));
        }
    }

    fn finish(mut self) -> (Digest, Vec<TurnCost>) {
        let mut cells: BTreeMap<CellKey, Sums> = BTreeMap::new();
        let mut turn_costs = Vec::new();
        for (i, turn) in self.turns.into_iter().enumerate() {
            if turn.all.responses > 0 || turn.all.tokens_in > 0 || turn.all.cost_usd_e6 != 0 {
                turn_costs.push(TurnCost {
                    turn: i + 1,
                    start_ms: turn.start_ms,
                    commit: turn.start_commit.clone(),
                    sums: turn.all,
                });
            }
            let produced = turn.end_commit.filter(|end| Some(end) != turn.start_commit.as_ref());
            for ((quarter, model), sums) in turn.costs {
                let key = (quarter, model, turn.branch.clone(), turn.start_commit.clone(), produced.clone());
                cells.entry(key).or_default().add(&sums);
            }
        }
        self.digest.costs = cells
            .into_iter()
            .map(|((quarter_ms, model, branch, commit, produced), sums)| CostCell {
                quarter_ms,
                model,
                branch,
                commit,
                produced,
                sums,
            })
            .collect();
        self.digest.tools = self.tools.into_values().collect();
        (self.digest, turn_costs)
    }
}

/// A cost cell's quarter, model, branch, commit and produced commit.
type CellKey = (u64, Option<String>, Option<String>, Option<String>, Option<String>);

fn sums_of(line: &Line) -> Sums {
    let n = |v: Option<u32>| u64::from(v.unwrap_or(0));
    let correction = line.payload.0.correction.0;
    Sums {
        responses: u64::from(!correction),
        tokens_in: n(line.tokens_in),
        cache_read_tokens: n(line.cache_read_tokens),
        cache_creation_tokens: n(line.cache_creation_tokens),
        tokens_out: n(line.tokens_out),
        reasoning_tokens: n(line.reasoning_tokens),
        cost_usd_e6: line.cost_usd_e6.unwrap_or(0),
        unpriced: u64::from(line.cost_usd_e6.is_none() && !correction),
    }
}

/// Keeps the `n` slowest, slowest first (earlier first among equals).
pub fn keep_slowest<T>(slowest: &mut Vec<T>, item: T, n: usize, rank: impl Fn(&T) -> (u32, u64)) {
    let (ms, ts) = rank(&item);
    let at = slowest
        .iter()
        .position(|s| {
            let (other_ms, other_ts) = rank(s);
            ms > other_ms || (ms == other_ms && ts < other_ts)
        })
        .unwrap_or(slowest.len());
    if at < n {
        slowest.insert(at, item);
        slowest.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(kind: &str, ts: u64, payload: serde_json::Value, more: serde_json::Value) -> String {
        let mut v = json!({"session_id": "s", "seq": 0, "ts_ms": ts, "ts_exact": kind == "Cost", "kind": kind,
            "source": "Hook", "tool": null, "tool_call_id": null, "tokens_in": 10, "tokens_out": 2,
            "cost_usd_e6": if kind == "Cost" { json!(100) } else { json!(null) }, "payload": payload});
        for (k, val) in more.as_object().unwrap() {
            v[k] = val.clone();
        }
        v.to_string() + "\n"
    }

    fn hook(ts: u64, phase: &str, commit: &str) -> String {
        line("Lifecycle", ts, json!({"phase": phase, "context": {"commit": commit, "branch": "main"}}), json!({}))
    }

    fn cost(ts: u64, model: &str) -> String {
        line("Cost", ts, json!({"model": model}), json!({}))
    }

    fn digest(lines: &[String], window: Window) -> (Digest, Vec<TurnCost>) {
        of_reader(io::Cursor::new(lines.concat()), window).unwrap()
    }

    #[test]
    fn responses_go_to_their_turns_and_commits_to_what_produced_them() {
        // Turn 1 runs on a, commits b; its last response is read at turn 2's end.
        let lines = [
            hook(0, "prompt", "a"),
            cost(10, "m1"),
            hook(20, "turn_end", "b"),
            hook(30, "prompt", "b"),
            cost(15, "m1"),
            cost(40, "m2"),
            hook(50, "turn_end", "b"),
        ];
        let (d, turns) = digest(&lines, Window::default());
        let on = |commit: &str| -> u64 {
            d.costs.iter().filter(|c| c.commit.as_deref() == Some(commit)).map(|c| c.sums.responses).sum()
        };
        let produced_b: u64 =
            d.costs.iter().filter(|c| c.produced.as_deref() == Some("b")).map(|c| c.sums.responses).sum();
        assert_eq!((on("a"), on("b"), produced_b), (2, 1, 2));
        assert_eq!(turns.iter().map(|t| t.sums.responses).collect::<Vec<_>>(), [2, 1]);
        assert_eq!((d.events, d.first_ms, d.last_ms), (7, Some(0), Some(50)));
    }

    #[test]
    fn odd_values_read_as_absent_and_torn_lines_are_skipped() {
        let odd = line("Cost", 5, json!({"model": {"name": "x"}, "context": [1], "correction": "yes"}), json!({}));
        let tool = line("ToolResult", 6, json!({"context": null}), json!({"tool": 7, "latency_ms": 3}));
        let text = format!("{odd}not json\n{tool}{{\"ts_ms\":");
        let (d, _) = of_reader(io::Cursor::new(text), Window::default()).unwrap();
        assert_eq!((d.events, d.skipped), (2, 2));
        assert_eq!(d.costs[0].model, None);
        assert_eq!(d.costs[0].sums.responses, 1, "only `true` marks a correction");
        assert!(d.tools.is_empty(), "a tool that is not text is no tool");
    }

    #[test]
    fn a_window_counts_its_own_events_but_places_them_by_all() {
        let lines = [hook(0, "prompt", "a"), cost(10, "m"), cost(20, "m"), hook(30, "turn_end", "b")];
        let window = Window { since_ms: Some(15), until_ms: None };
        let (d, _) = digest(&lines, window);
        assert_eq!(d.costs.len(), 1);
        assert_eq!((d.costs[0].commit.as_deref(), d.costs[0].produced.as_deref()), (Some("a"), Some("b")));
        assert_eq!(d.costs[0].sums.responses, 1);
    }

    #[test]
    fn calls_failures_and_latencies_per_tool() {
        let call = |ts, id: &str| line("ToolCall", ts, json!({}), json!({"tool": "Bash", "tool_call_id": id}));
        let done = |ts, id: &str, kind: &str, ms: u32| {
            line(kind, ts, json!({}), json!({"tool": "Bash", "tool_call_id": id, "latency_ms": ms}))
        };
        let lines = [
            call(1, "a"),
            done(2, "a", "ToolResult", 5),
            call(3, "b"),
            done(4, "b", "Error", 9),
            done(5, "c", "ToolResult", 1),
        ];
        let (d, _) = digest(&lines, Window::default());
        assert_eq!(d.tools.len(), 1);
        let t = &d.tools[0];
        assert_eq!((t.calls, t.failures, t.latencies_ms.clone()), (3, 1, vec![5, 9, 1]));
        assert_eq!(d.errors, 1);
        assert_eq!(d.slowest.iter().map(|s| s.latency_ms).collect::<Vec<_>>(), [9, 5, 1]);
        assert!(d.slowest[0].failed);
    }

    #[test]
    fn turns_are_counted_at_their_end_and_timed_from_their_prompt() {
        let lines = [
            hook(0, "session_start", "a"),
            hook(100, "prompt", "a"),
            hook(150, "prompt", "a"), // queued while the turn ran: the same turn
            hook(400, "turn_end", "a"),
            hook(1000, "turn_end", "a"),      // no prompt since: counted, not timed
            hook(2000, "session_start", "a"), // an agent that sends no prompt hook
            hook(2500, "turn_failure", "a"),
            hook(3000, "prompt", "a"),
            hook(3100, "session_end", "a"), // never ended: not a turn
        ];
        let (d, _) = digest(&lines, Window::default());
        assert_eq!((d.turns, d.turn_ms.clone()), (3, vec![300, 500]));
        let (d, _) = digest(&lines, Window { since_ms: Some(500), until_ms: None });
        assert_eq!((d.turns, d.turn_ms), (2, vec![500]), "turns whose end is in the window");
    }
}
