//! The one writer of a session's events file. It holds the session's lock
//! from `lock` until it is dropped, and every line it appends is a `Sealed`
//! event completed against the file's tail: the next seq, the running
//! totals, a latency measured from the recorded call, the delivery stamp
//! (see `line` for the format). Spooled events are merged here, in arrival
//! order, before the run's own.

use super::SessionFiles;
use super::events::{self, Delivery, Tail};
use super::line::Sealed;
use super::spool::{self, Spooled};
use crate::event::EventKind;
use crate::phase::Phase;
use serde_json::json;
use std::fs::File;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Instant;

/// What bounds the lines one writer appends.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes one line may take (`KAIZEN_HOOK_EVENT_CAP`).
    pub event_cap: usize,
    /// Within this, a delivery identical to a recorded one is a repeat (0: never).
    pub dedup_window_ms: u64,
}

/// A spooled event this run merged into the file: what the session's record
/// needs to know of it.
#[derive(Debug, Clone, Copy)]
pub struct Merged {
    /// When it reached us (boot clock, wall clock): the merge order.
    pub arrival: (u64, u64),
    pub phase: Option<Phase>,
    pub ts_ms: u64,
}

pub struct SessionWriter<'a> {
    file: File,
    files: &'a SessionFiles,
    tail: Tail,
    limits: Limits,
    /// A tool call's recorded time found by the repeat check: (the file's
    /// length then, call id, its `ts_ms`), for `complete` while it still holds.
    call_seen: Option<(u64, String, Option<u64>)>,
}

impl<'a> SessionWriter<'a> {
    /// Takes the session's lock, waiting until `deadline` at most. `None`
    /// when it was not had in time, or the file system cannot lock (ENOLCK
    /// on some network mounts, noted in `problems`): the caller spools.
    pub fn lock(
        files: &'a SessionFiles,
        deadline: Instant,
        limits: Limits,
        problems: &mut Vec<String>,
    ) -> Result<Option<SessionWriter<'a>>, String> {
        match events::open_locked(&files.events, deadline) {
            Ok((file, len)) => Self::on(file, len, files, limits, problems).map(Some),
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(None),
            Err(e) => {
                problems.push(format!("cannot lock {}: {e}", files.events.display()));
                Ok(None)
            }
        }
    }

    /// The lock, or why it was not had by `deadline`.
    pub fn lock_or_fail(
        files: &'a SessionFiles,
        deadline: Instant,
        limits: Limits,
        problems: &mut Vec<String>,
    ) -> Result<SessionWriter<'a>, String> {
        let (file, len) = events::open_locked(&files.events, deadline).map_err(|e| format!("lock: {e}"))?;
        Self::on(file, len, files, limits, problems)
    }

    /// The locked file's tail, a torn last line cut away (and noted).
    fn on(
        file: File,
        len: u64,
        files: &'a SessionFiles,
        limits: Limits,
        problems: &mut Vec<String>,
    ) -> Result<SessionWriter<'a>, String> {
        let tail = events::read_tail(&file, len).map_err(|e| format!("read {}: {e}", files.events.display()))?;
        if tail.torn_bytes > 0 {
            problems.push(format!("cut a torn last line of {} bytes from {}", tail.torn_bytes, files.events.display()));
        }
        Ok(SessionWriter { file, files, tail, limits, call_seen: None })
    }

    pub fn files(&self) -> &SessionFiles {
        self.files
    }

    /// The events file's length now: what a repeat check was made against.
    pub fn file_len(&self) -> u64 {
        self.tail.len
    }

    /// Whether `delivery` repeats one already recorded (see `Tail::is_repeat`).
    /// For a tool result (`result_call_id`), the time its call was recorded
    /// is found in the same pass through the tail and kept for `complete`.
    pub fn is_repeat(&mut self, delivery: &Delivery, result_call_id: Option<&str>) -> bool {
        let window_ms = self.limits.dedup_window_ms;
        let repeat = (window_ms > 0).then_some((delivery, window_ms));
        let (repeated, call_ts) = self.tail.repeat_and_call_ts(&self.file, repeat, result_call_id);
        self.call_seen = result_call_id.map(|id| (self.tail.len, id.to_string(), call_ts));
        repeated
    }

    /// When the call `id` was recorded: from the repeat check while nothing
    /// was appended since, else searched for.
    fn recorded_call_ts(&self, id: &str) -> Option<u64> {
        match &self.call_seen {
            Some((len, seen, ts)) if *len == self.tail.len && seen == id => *ts,
            _ => self.tail.tool_call_ts(&self.file, id),
        }
    }

    /// The tool of a call recorded with no result yet (see `Tail::open_call`).
    pub fn open_call(&self, tool_call_id: &str) -> Option<Option<String>> {
        self.tail.open_call(&self.file, tool_call_id)
    }

    /// Every call recorded with no result yet: (call id, tool).
    pub fn open_calls(&self) -> Vec<(String, Option<String>)> {
        self.tail.open_calls(&self.file)
    }

    /// Appends the session's spooled events and this run's own (unless it
    /// was spooled itself), in arrival order, each completed against the
    /// tail as it then stands. `own` comes with the file length its repeat
    /// check was made at: unless a spooled event lands before it, that
    /// answer stands.
    pub fn merge(
        &mut self,
        own: Option<(Spooled, Option<u64>)>,
        deadline: Instant,
        problems: &mut Vec<String>,
    ) -> Result<Vec<Merged>, String> {
        // (file name, path) for spooled ones; this run's own has none.
        let mut all: Vec<(Option<(String, PathBuf)>, Spooled)> = spool::pending(&self.files.spool, problems)
            .into_iter()
            .map(|p| (Some((p.name, p.path)), p.spooled))
            .collect();
        let own_checked_at = own.as_ref().and_then(|(_, at)| *at);
        all.extend(own.map(|(own, _)| (None, own)));
        all.sort_by_cached_key(|(from, s)| s.order(from.as_ref().map_or("", |(name, _)| name.as_str())));
        let mut merged = Vec::new();
        let mut appended = Vec::new();
        for (from, spooled) in all {
            // A backlog too long for one run: the rest waits for the next, and
            // this run's own event joins it there, so the order holds.
            if Instant::now() >= deadline {
                if from.is_none() {
                    let path = spool::write(&self.files.spool, &spooled).map_err(|e| e.to_string())?;
                    problems.push(format!("spool backlog left for the next run; event spooled to {}", path.display()));
                }
                continue;
            }
            let name = from.as_ref().map(|(name, _)| name.as_str());
            // Merged before by a run that died before removing the file.
            let again = name.is_some_and(|name| self.tail.holds_spooled(&self.file, name));
            let checked = from.is_none() && own_checked_at == Some(self.tail.len);
            let what = from.is_some().then(|| Merged {
                arrival: (spooled.arrival_boot_ms, spooled.arrival_wall_ms),
                phase: Phase::from_name(spooled.event.phase()),
                ts_ms: spooled.event.event().ts_ms,
            });
            if !again && let Some(line) = self.complete(spooled, name, checked, problems)? {
                self.append(&line)?;
                appended.extend(what);
            }
            merged.extend(from.map(|(_, path)| path));
        }
        if !merged.is_empty() {
            problems.push(format!("merged {} spooled event(s) into {}", merged.len(), self.files.events.display()));
        }
        spool::remove_merged(&self.files.spool, &merged);
        Ok(appended)
    }

    /// A hook's event as a line, completed against the tail; `None` when it
    /// repeats a delivery already recorded.
    fn complete(
        &self,
        spooled: Spooled,
        from: Option<&str>,
        checked_for_repeat: bool,
        problems: &mut Vec<String>,
    ) -> Result<Option<Vec<u8>>, String> {
        let Spooled { delivery, event: mut sealed, subagents_send_turn_end, .. } = spooled;
        let window_ms = self.limits.dedup_window_ms;
        if !checked_for_repeat && window_ms > 0 && self.tail.is_repeat(&self.file, &delivery, window_ms) {
            let session = &sealed.event().session_id;
            problems.push(format!("duplicate delivery {} ignored (session {session})", delivery.hash));
            return Ok(None);
        }
        let phase = Phase::from_name(sealed.phase());
        let (file, tail) = (&self.file, &self.tail);
        let event = sealed.event_mut();
        event.seq = tail.next_seq;
        // When a tool result's call was recorded: read once, for the latency and the totals.
        let result = matches!(phase, Some(Phase::ToolResult | Phase::ToolFailure));
        let call_ts =
            if result { event.tool_call_id.as_deref().and_then(|id| self.recorded_call_ts(id)) } else { None };
        let latency = call_ts.and_then(|ts| u32::try_from(event.ts_ms.checked_sub(ts)?).ok());
        let hook_latency = result && event.latency_ms.is_none() && latency.is_some();
        if hook_latency {
            event.latency_ms = latency;
        }
        let mut totals = tail.totals();
        if phase == Some(Phase::ToolCall) || (result && call_ts.is_none()) {
            // A result whose call was not recorded (only post hooks registered) is a call too.
            totals.tool_calls += 1;
        }
        if event.kind == EventKind::Error {
            totals.errors += 1;
        }
        let turn_end = phase == Some(Phase::TurnEnd);
        let not_the_turns = if turn_end && subagents_send_turn_end && tail.subagent_running(file) {
            Some("a subagent's turn end: it came while a subagent was running")
        } else if turn_end && tail.turn_already_ended(file) {
            Some("this turn's end was already recorded")
        } else {
            None
        };
        let payload = sealed.payload_mut();
        if hook_latency {
            payload.insert("latency_source".into(), json!("hook"));
        }
        if let Some(note) = not_the_turns {
            payload.insert("phase".into(), json!(Phase::Other.name()));
            payload.insert("phase_note".into(), json!(note));
        }
        sealed.finish(&totals, Some(&delivery), from, crate::time::now_ms());
        sealed.into_line(self.limits.event_cap).map(Some)
    }

    /// Appends events that no hook delivered (a transcript's responses and
    /// failures, an inferred end) in one write: each gets the next seq and
    /// the totals with it counted.
    pub fn append_made(&mut self, made: Vec<Sealed>) -> Result<(), String> {
        let now = crate::time::now_ms();
        let mut totals = self.tail.totals();
        let mut lines = Vec::new();
        for (i, mut sealed) in made.into_iter().enumerate() {
            let event = sealed.event_mut();
            event.seq = self.tail.next_seq + i as u64;
            match event.kind {
                EventKind::Error => totals.errors += 1,
                EventKind::Cost => {
                    totals.tokens_in += u64::from(event.context_used_tokens.unwrap_or(0));
                    totals.tokens_out += u64::from(event.tokens_out.unwrap_or(0));
                    totals.cost_usd_e6 += event.cost_usd_e6.unwrap_or(0);
                }
                _ => {}
            }
            sealed.finish(&totals, None, None, now);
            lines.push(sealed.into_line(self.limits.event_cap)?);
        }
        if lines.is_empty() {
            return Ok(());
        }
        events::append(&self.file, self.tail.len, &lines.concat())
            .map_err(|e| format!("append to {}: {e}", self.files.events.display()))?;
        for line in &lines {
            self.tail.advance(line);
        }
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> Result<(), String> {
        events::append(&self.file, self.tail.len, line)
            .map_err(|e| format!("append to {}: {e}", self.files.events.display()))?;
        self.tail.advance(line);
        Ok(())
    }
}
