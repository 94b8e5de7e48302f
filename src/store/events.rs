//! The events file: appended under an exclusive lock, one `write` per event.
//! Everything a writer needs from the past (the next seq, recent deliveries
//! for de-duplication, the matching tool call for latency) is read from the
//! file's last `TAIL_WINDOW` bytes at most, the newest first and older ones
//! only when a question needs them, so the cost of a run does not grow with
//! the session.

use super::fsutil;
use crate::phase::Phase;
use memchr::{memmem, memrchr};
use serde_json::{Map, Value, json};
use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

pub const TAIL_WINDOW: u64 = 128 * 1024;

/// Opens the events file and takes its exclusive lock, waiting at most until
/// `deadline`; with its length, from the one `fstat` that also checks it is a
/// regular file (before the lock the length could still change).
pub fn open_locked(path: &Path, deadline: Instant) -> io::Result<(File, u64)> {
    let file = fsutil::open_append_unchecked(path)?;
    let mut pause = Duration::from_micros(50);
    loop {
        match file.try_lock() {
            Ok(()) => {
                let len = fsutil::ensure_regular(&file, path)?;
                return Ok((file, len));
            }
            Err(TryLockError::WouldBlock) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "session lock still held at the deadline"));
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

pub struct Tail {
    pub next_seq: u64,
    /// The file's length once a torn line is cut: where a failed append rolls back to.
    pub len: u64,
    /// Bytes of a torn last line (a writer killed mid-write) that were cut off.
    pub torn_bytes: u64,
    /// The newest whole lines, about `NEAR` bytes of them, and every line
    /// appended since: `near` is the file from `near_start` to `len`.
    near: Vec<u8>,
    near_start: u64,
}

/// Read first, from the end: the newest line and a few before it answer
/// most questions. Older lines (back to `TAIL_WINDOW`) are read only when a
/// question needs them, `CHUNK` at a time into one buffer: in a process
/// that lives a millisecond, every fresh page of memory costs more than
/// copying it (about 2.5 µs a page in a VM, against 0.4 µs to copy).
const NEAR: u64 = 16 * 1024;
const CHUNK: u64 = 16 * 1024;
/// A last line longer than this is not one we wrote (the event cap's default).
const LONGEST_LINE: u64 = 8 * TAIL_WINDOW;

/// Reads the end of a locked events file of length `full`: its newest whole
/// lines. A torn last line is truncated away first: writers hold the lock
/// while writing, so it can only be the partial write of a writer that died;
/// however long it is, its start is found scanning back a chunk at a time.
pub fn read_tail(file: &File, full: u64) -> io::Result<Tail> {
    let start = full.saturating_sub(NEAR);
    let near = read_at(file, start, full - start)?;
    if near.last().is_some_and(|&b| b != b'\n') {
        let len = match memrchr(b'\n', &near) {
            Some(i) => start + i as u64 + 1,
            None => newline_before(file, start, 0)?.map_or(0, |at| at + 1),
        };
        file.set_len(len)?;
        // Now it ends with a whole line (or is empty): read again.
        return Ok(Tail { torn_bytes: full - len, ..read_tail(file, len)? });
    }
    let (near, near_start) = whole_lines(file, near, start, full)?;
    let next_seq = match last_seq(&near) {
        Some(seq) => seq + 1,
        // A last line longer than any we write, or lines with no seq.
        None => count_lines(file, full)?,
    };
    Ok(Tail { next_seq, len: full, torn_bytes: 0, near, near_start })
}

/// `near` (the file from `start` to `len`) cut to whole lines: its partial
/// first line is dropped, or, when that is the only line, read whole.
fn whole_lines(file: &File, mut near: Vec<u8>, start: u64, len: u64) -> io::Result<(Vec<u8>, u64)> {
    if start == 0 || near.is_empty() {
        return Ok((near, start));
    }
    if let Some(i) = memchr::memchr(b'\n', &near[..near.len() - 1]) {
        near.drain(..=i);
        return Ok((near, start + i as u64 + 1));
    }
    let floor = len.saturating_sub(LONGEST_LINE);
    match newline_before(file, start, floor)? {
        Some(at) => Ok((read_at(file, at + 1, len - at - 1)?, at + 1)),
        None if floor == 0 => Ok((read_at(file, 0, len)?, 0)),
        None => Ok((near, start)),
    }
}

/// Where the last `\n` before `end` (and at or after `floor`) is, scanning
/// back a chunk at a time, each twice the last (up to 1 MiB): a line just
/// past the tail costs little, a huge one few reads.
fn newline_before(file: &File, end: u64, floor: u64) -> io::Result<Option<u64>> {
    let mut chunk = CHUNK;
    let mut hi = end;
    while hi > floor {
        let lo = hi.saturating_sub(chunk).max(floor);
        let bytes = read_at(file, lo, hi - lo)?;
        if let Some(i) = memrchr(b'\n', &bytes) {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
        chunk = (chunk * 2).min(1 << 20);
    }
    Ok(None)
}

fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    // Zeroed memory this size comes straight from fresh pages: no cost to measure.
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The seq of the newest line that has one. Lines are written by us with
/// `session_id` then `seq` first, and a JSON string cannot contain the bytes
/// `"seq":` unescaped, so the first match in a line is the real field.
fn last_seq(window: &[u8]) -> Option<u64> {
    newest_first(window)
        .enumerate()
        .find_map(|(lines_after, line)| Some(number_after(line, b"\"seq\":")? + lines_after as u64))
}

/// The fallback when the window holds no readable seq: count every line.
fn count_lines(file: &File, len: u64) -> io::Result<u64> {
    let mut count = 0;
    let mut offset = 0;
    while offset < len {
        let chunk = read_at(file, offset, (len - offset).min(1 << 20))?;
        count += memchr::memchr_iter(b'\n', &chunk).count() as u64;
        offset += chunk.len() as u64;
    }
    Ok(count)
}

fn number_after(haystack: &[u8], key: &[u8]) -> Option<u64> {
    let at = memmem::find(haystack, key)? + key.len();
    let digits = haystack[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&haystack[at..at + digits]).ok()?.parse().ok()
}

/// Running totals every line carries, so a session's counts are in its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub tool_calls: u64,
    pub errors: u64,
    /// Input tokens of every model response, cache reads and writes included.
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Micro-USD of the responses whose price is known.
    pub cost_usd_e6: i64,
}

pub const TOOL_CALLS_KEY: &str = "session_tool_calls";
pub const ERRORS_KEY: &str = "session_errors";
const TOKENS_IN_KEY: &str = "session_tokens_in";
const TOKENS_OUT_KEY: &str = "session_tokens_out";
const COST_KEY: &str = "session_cost_usd_e6";

impl Totals {
    /// Totals from the end of a line we wrote: ours come last in the payload,
    /// after the input, so the last occurrence of each key is ours.
    pub fn of_line(line: &[u8]) -> Totals {
        let last = |key: &str| {
            let needle = format!("\"{key}\":");
            memmem::rfind(line, needle.as_bytes()).and_then(|at| number_after(&line[at..], needle.as_bytes()))
        };
        Totals {
            tool_calls: last(TOOL_CALLS_KEY).unwrap_or(0),
            errors: last(ERRORS_KEY).unwrap_or(0),
            tokens_in: last(TOKENS_IN_KEY).unwrap_or(0),
            tokens_out: last(TOKENS_OUT_KEY).unwrap_or(0),
            cost_usd_e6: last(COST_KEY).unwrap_or(0) as i64,
        }
    }

    /// Writes them into a payload, after everything else but the delivery stamp.
    pub fn stamp(&self, payload: &mut Map<String, Value>) {
        payload.insert(TOOL_CALLS_KEY.into(), json!(self.tool_calls));
        payload.insert(ERRORS_KEY.into(), json!(self.errors));
        payload.insert(TOKENS_IN_KEY.into(), json!(self.tokens_in));
        payload.insert(TOKENS_OUT_KEY.into(), json!(self.tokens_out));
        payload.insert(COST_KEY.into(), json!(self.cost_usd_e6));
    }
}

/// The last complete line of a session file, read-only and bounded: for
/// readers, who must not wait for the lock and skip a torn tail.
pub fn last_line(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let Some(end) = newline_before(&file, len, 0)? else { return Ok(None) };
    // A last line longer than this is not one we wrote.
    let floor = end.saturating_sub(8 * TAIL_WINDOW);
    let start = match newline_before(&file, end, floor)? {
        Some(at) => at + 1,
        None if floor == 0 => 0,
        None => return Ok(None),
    };
    read_at(&file, start, end - start).map(Some)
}

pub fn seq_of_line(line: &[u8]) -> Option<u64> {
    number_after(line, b"\"seq\":")
}

pub fn ts_of_line(line: &[u8]) -> Option<u64> {
    number_after(line, b"\"ts_ms\":")
}

impl Tail {
    /// The tail once `line` (one whole event line) is appended: later checks
    /// in the same run see it. The near lines are cut back to about twice
    /// the window only past four times it, so a long merge moves each byte
    /// once or twice.
    pub fn advance(&mut self, line: &[u8]) {
        self.near.extend_from_slice(line);
        if self.near.len() > 4 * TAIL_WINDOW as usize {
            let excess = self.near.len() - 2 * TAIL_WINDOW as usize;
            let cut = memchr::memchr(b'\n', &self.near[excess..]).map_or(self.near.len(), |i| excess + i + 1);
            self.near.drain(..cut);
            self.near_start += cut as u64;
        }
        self.len += line.len() as u64;
        self.next_seq += 1;
    }

    /// The tail in blocks of whole lines, newest first, until `visit`
    /// answers: the near lines, then older ones read from `file` (the locked
    /// events file) a chunk at a time into one buffer, back to `TAIL_WINDOW`
    /// before the end. A read that fails ends the search unanswered.
    fn search_back<T>(&self, file: &File, mut visit: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
        if let Some(answer) = visit(&self.near) {
            return Some(answer);
        }
        let floor = self.len.saturating_sub(TAIL_WINDOW);
        let (mut end, mut size) = (self.near_start, CHUNK);
        let mut block = Vec::new();
        while end > floor {
            let lo = end.saturating_sub(size).max(floor);
            block.resize((end - lo) as usize, 0);
            file.read_exact_at(&mut block, lo).ok()?;
            // Whole lines only: the partial first line ends the next block.
            let cut = if lo == 0 { 0 } else { memchr::memchr(b'\n', &block).map_or(block.len(), |i| i + 1) };
            if cut == block.len() && lo > floor {
                size *= 2; // a line longer than the block
                continue;
            }
            if let Some(answer) = visit(&block[cut..]) {
                return Some(answer);
            }
            if lo == floor {
                break;
            }
            end = lo + cut as u64;
        }
        None
    }

    /// The tail's lines, newest first, until `visit` answers (see `search_back`).
    fn lines_back<T>(&self, file: &File, mut visit: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
        self.search_back(file, |block| newest_first(block).find_map(&mut visit))
    }

    /// Whether a line merged from this spool file is already in the tail.
    pub fn holds_spooled(&self, file: &File, name: &str) -> bool {
        let needle = format!("\"spooled\":{}", json!(name));
        self.search_back(file, |block| memmem::find(block, needle.as_bytes())).is_some()
    }

    /// The running totals of the newest line.
    pub fn totals(&self) -> Totals {
        let body = self.near.strip_suffix(b"\n").unwrap_or(&self.near);
        let start = memrchr(b'\n', body).map_or(0, |i| i + 1);
        Totals::of_line(&body[start..])
    }

    /// Whether this delivery repeats one already recorded (docs/reliability.md): the same
    /// raw bytes from the same agent process, delivered at most `window_ms`
    /// apart on the boot clock (bounded on both sides), with no session or
    /// turn boundary, prompt or subagent stop recorded since. In doubt (no
    /// agent process known) it is not.
    pub fn is_repeat(&self, file: &File, delivery: &Delivery, window_ms: u64) -> bool {
        self.repeat_and_call_ts(file, Some((delivery, window_ms)), None).0
    }

    /// `is_repeat` (when `repeat` is given) and `tool_call_ts` (when
    /// `call_id` is) in one pass over the tail: a tool result whose call was
    /// never recorded (only post hooks registered) would otherwise have the
    /// whole tail searched twice.
    pub fn repeat_and_call_ts(
        &self,
        file: &File,
        repeat: Option<(&Delivery, u64)>,
        call_id: Option<&str>,
    ) -> (bool, Option<u64>) {
        let repeat = repeat.and_then(|(delivery, window_ms)| {
            let by = delivery.by.as_ref()?;
            let needle =
                format!("\"input_hash\":\"{}\",\"agent_process\":\"{by}\",\"delivered_boot_ms\":", delivery.hash);
            Some((memmem::Finder::new(needle.as_bytes()).into_owned(), delivery, window_ms))
        });
        let call = call_id.and_then(|id| {
            let needle = format!("\"tool_call_id\":{}", serde_json::to_string(id).ok()?);
            Some(memmem::Finder::new(needle.as_bytes()).into_owned())
        });
        if repeat.is_none() && call.is_none() {
            return (false, None);
        }
        // The answers, `None` while a question is open.
        let (mut repeated, mut call_ts) = (None, None);
        self.search_back(file, |lines| {
            if repeated.is_none()
                && let Some((finder, delivery, window_ms)) = &repeat
            {
                repeated = repeat_in(lines, finder, delivery, *window_ms);
            }
            if call_ts.is_none()
                && let Some(finder) = &call
            {
                call_ts = call_ts_in(lines, finder);
            }
            let open = (repeat.is_some() && repeated.is_none()) || (call.is_some() && call_ts.is_none());
            (!open).then_some(())
        });
        (repeated.unwrap_or(false), call_ts)
    }

    /// Whether the current turn's end is already recorded: the newest prompt,
    /// session or turn boundary in the tail is a turn end (Codex's `notify`
    /// after its `Stop`). Then another turn end repeats it.
    pub fn turn_already_ended(&self, file: &File) -> bool {
        const TURN_ENDS: &[Phase] = &[Phase::TurnEnd, Phase::TurnFailure];
        const OPENERS: &[Phase] = &[Phase::Prompt, Phase::SessionStart, Phase::SessionEnd];
        self.lines_back(file, |line| {
            let name = phase_of_line(line)?;
            if is_one_of(TURN_ENDS, name) {
                Some(true)
            } else if is_one_of(OPENERS, name) {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
    }

    /// Whether a subagent started in the current turn has not stopped: more
    /// `SubagentStart`s than `SubagentStop`s since the newest prompt, session
    /// or turn boundary (subagents may run side by side).
    pub fn subagent_running(&self, file: &File) -> bool {
        const TURN_OPENERS: &[Phase] =
            &[Phase::Prompt, Phase::SessionStart, Phase::SessionEnd, Phase::TurnEnd, Phase::TurnFailure];
        let (mut started, mut stopped) = (0u32, 0u32);
        self.lines_back(file, |line| {
            let name = phase_of_line(line)?;
            if name == Phase::SubagentStart.name().as_bytes() {
                started += 1;
            } else if name == Phase::SubagentStop.name().as_bytes() {
                stopped += 1;
            }
            is_one_of(TURN_OPENERS, name).then_some(())
        });
        started > stopped
    }

    /// The tool of a call recorded as a `ToolCall` with no result or error
    /// after it in the tail; `None` when there is no such open call.
    pub fn open_call(&self, file: &File, tool_call_id: &str) -> Option<Option<String>> {
        let id = serde_json::to_string(tool_call_id).ok()?;
        let needle = format!("\"tool_call_id\":{id}");
        let finder = memmem::Finder::new(needle.as_bytes());
        // The newest line with this call id decides: a call, or what ended it.
        let newest = self.lines_back(file, |line| {
            let head = &line[..finder.find(line)?];
            if memmem::find(head, b"\"kind\":\"ToolCall\"").is_some() {
                Some(Some(tool_of_line(line)))
            } else if memmem::find(head, b"\"kind\":\"ToolResult\"").is_some()
                || memmem::find(head, b"\"kind\":\"Error\"").is_some()
            {
                Some(None)
            } else {
                None
            }
        });
        newest.flatten()
    }

    /// The calls recorded as a `ToolCall` with no result or error after them
    /// in the tail, oldest first, each with its tool.
    pub fn open_calls(&self, file: &File) -> Vec<(String, Option<String>)> {
        let mut decided: Vec<String> = Vec::new();
        let mut open: Vec<(String, Option<String>)> = Vec::new();
        // Newest first: the newest line with a call id decides whether that
        // call is open. The visitor never answers, so every line is seen.
        self.lines_back(file, |line| -> Option<()> {
            memmem::find(line, b"\"tool_call_id\":\"")?;
            let event = serde_json::from_slice::<Value>(line).ok()?;
            let id = event.get("tool_call_id").and_then(Value::as_str)?;
            if !decided.iter().any(|d| d == id) {
                decided.push(id.to_string());
                if event.get("kind").and_then(Value::as_str) == Some("ToolCall") {
                    open.push((id.to_string(), event.get("tool").and_then(Value::as_str).map(String::from)));
                }
            }
            None
        });
        open.reverse();
        open
    }

    /// `ts_ms` of the newest recorded `ToolCall` with this call id.
    pub fn tool_call_ts(&self, file: &File, tool_call_id: &str) -> Option<u64> {
        self.repeat_and_call_ts(file, None, Some(tool_call_id)).1
    }
}

/// In one block of whole lines: whether the newest recorded delivery that
/// matches `finder` (this delivery's identity) is repeated by it; `Some(false)`
/// when the block holds a boundary and no match (nothing older can repeat).
/// The block is searched forwards, keeping the last match: memchr's forward
/// search is vectorised, its reverse one is not (110 µs against 9 µs on 128 KiB).
fn repeat_in(lines: &[u8], finder: &memmem::Finder, delivery: &Delivery, window_ms: u64) -> Option<bool> {
    match finder.find_iter(lines).last() {
        Some(at) => Some(repeats(&lines[at..], delivery, window_ms)),
        None => holds_boundary(lines).then_some(false),
    }
}

/// In one block: `ts_ms` of the newest `ToolCall` line matching `finder` (its call id).
fn call_ts_in(lines: &[u8], finder: &memmem::Finder) -> Option<u64> {
    finder
        .find_iter(lines)
        .filter_map(|at| {
            let line_start = memrchr(b'\n', &lines[..at]).map_or(0, |i| i + 1);
            let head = &lines[line_start..at];
            memmem::find(head, b"\"kind\":\"ToolCall\"").and_then(|_| number_after(head, b"\"ts_ms\":"))
        })
        .last()
}

/// Whether the recorded delivery that `from` starts in (its line, and every
/// line after it) is repeated by `delivery` (see `Tail::is_repeat`).
fn repeats(from: &[u8], delivery: &Delivery, window_ms: u64) -> bool {
    let Some(then) = number_after(from, b"\"delivered_boot_ms\":") else { return false };
    // 0 is a boot clock that could not be read: no window can be measured.
    if then == 0 || delivery.boot_ms == 0 {
        return false;
    }
    // Either side: deliveries that arrive together take the lock in any order.
    if then.abs_diff(delivery.boot_ms) > window_ms {
        return false;
    }
    let after = memchr::memchr(b'\n', from).map_or(from.len(), |i| i + 1);
    !holds_boundary(&from[after..])
}

fn tool_of_line(line: &[u8]) -> Option<String> {
    let event: Value = serde_json::from_slice(line).ok()?;
    event.get("tool")?.as_str().map(String::from)
}

/// The lines of `block` (whole lines), newest first, without their `\n`.
/// Found with memchr: a byte-at-a-time split costs more than the reads.
fn newest_first(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = block.strip_suffix(b"\n").unwrap_or(block);
    let mut starts = memchr::memrchr_iter(b'\n', body).map(|i| i + 1).chain(std::iter::once(0));
    let mut end = Some(body.len());
    std::iter::from_fn(move || {
        let start = starts.next()?;
        let line = &body[start..end?];
        end = start.checked_sub(1);
        Some(line)
    })
}

/// Our `payload` begins `{"type":…,"phase":…`, before anything taken from
/// the input; a JSON string cannot hold these bytes unescaped, so the first
/// match in a line is ours.
const PAYLOAD: &[u8] = b"\"payload\":{\"type\":\"";
static PAYLOAD_FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(PAYLOAD));

/// What makes an identical delivery after it a new occurrence: a session's
/// or a turn's start or end (OpenHands sends every turn's `Stop` with the
/// same bytes: a quick second turn's came within the window), or a
/// subagent's end (Kimi's subagent and main agent send the same `Stop`, one
/// after the other).
const BETWEEN_OCCURRENCES: &[Phase] =
    &[Phase::SessionStart, Phase::SessionEnd, Phase::Prompt, Phase::TurnEnd, Phase::TurnFailure, Phase::SubagentStop];

/// Whether any of `lines` is one of `BETWEEN_OCCURRENCES`. One search over all the lines.
fn holds_boundary(lines: &[u8]) -> bool {
    let mut next_line = 0;
    for at in PAYLOAD_FINDER.find_iter(lines) {
        if at < next_line {
            continue; // not the line's first match: inside its input
        }
        let end = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |i| at + i);
        if phase_at(&lines[at..end]).is_some_and(|name| is_one_of(BETWEEN_OCCURRENCES, name)) {
            return true;
        }
        next_line = end + 1;
    }
    false
}

/// Whether a recorded phase name is one of `phases`.
fn is_one_of(phases: &[Phase], name: &[u8]) -> bool {
    phases.iter().any(|p| p.name().as_bytes() == name)
}

/// `payload.phase` of one of our lines.
fn phase_of_line(line: &[u8]) -> Option<&[u8]> {
    phase_at(&line[PAYLOAD_FINDER.find(line)?..])
}

/// The phase in a line from its payload key on.
fn phase_at(from_payload: &[u8]) -> Option<&[u8]> {
    let rest = &from_payload[PAYLOAD.len()..];
    let phase = rest[memchr::memchr(b'"', rest)?..].strip_prefix(b"\",\"phase\":\"")?;
    Some(&phase[..memchr::memchr(b'"', phase)?])
}

/// One delivery's identity, written last in every line we append: how a
/// later run recognises the same occurrence delivered twice.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// FNV-1a of the raw input bytes.
    pub hash: String,
    /// The agent process that ran this hook (`pid:start`, see `AgentProcess`), when known.
    pub by: Option<String>,
    /// When it arrived, on the boot clock.
    pub boot_ms: u64,
}

impl Delivery {
    pub fn stamp(&self, payload: &mut Map<String, Value>) {
        payload.insert("input_hash".into(), json!(self.hash));
        payload.insert("agent_process".into(), json!(self.by));
        payload.insert("delivered_boot_ms".into(), json!(self.boot_ms));
        payload.insert("recorded_ms".into(), json!(crate::time::now_ms()));
    }
}

/// Appends one line; if the write fails part-way (disk full, file-size
/// limit), the file is cut back to `len` so no partial line is left behind.
pub fn append(mut file: &File, len: u64, line: &[u8]) -> io::Result<()> {
    file.write_all(line).inspect_err(|_| {
        let _ = file.set_len(len);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::AgentProcess;

    #[test]
    fn seq_comes_from_the_last_line_even_with_hostile_ids() {
        let w =
            b"{\"session_id\":\"a\\\"seq\\\":99\",\"seq\":4,\"x\":1}\n{\"session_id\":\"\\\"seq\\\":7\",\"seq\":5}\n";
        assert_eq!(last_seq(w), Some(5));
        let w = b"{\"session_id\":\"a\",\"seq\":4}\nnot json\n";
        assert_eq!(last_seq(w), Some(5), "an unreadable line still took a seq");
        assert_eq!(last_seq(b"garbage\n"), None);
    }

    /// A locked events file holding `text`, and its tail as a writer reads it.
    fn tail_of(text: &str) -> (File, Tail) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let tail = read_tail(&file, file.metadata().unwrap().len()).unwrap();
        (file, tail)
    }

    #[test]
    fn finds_recent_deliveries_and_tool_calls() {
        let window = concat!(
            "{\"session_id\":\"s\",\"seq\":0,\"ts_ms\":1000,\"ts_exact\":false,\"kind\":\"ToolCall\",\"source\":\"Hook\",\"tool\":\"Bash\",\"tool_call_id\":\"t1\",\"payload\":{\"input_hash\":\"aa\",\"recorded_ms\":1000}}\n",
            "{\"session_id\":\"s\",\"seq\":1,\"ts_ms\":1500,\"ts_exact\":false,\"kind\":\"ToolResult\",\"source\":\"Hook\",\"tool\":\"Bash\",\"tool_call_id\":\"t1\",\"payload\":{\"input_hash\":\"bb\",\"recorded_ms\":1500}}\n",
        );
        let (file, tail) = tail_of(window);
        assert_eq!(tail.next_seq, 2);
        assert_eq!(tail.tool_call_ts(&file, "t1"), Some(1000));
        assert_eq!(tail.tool_call_ts(&file, "t2"), None);
    }

    fn line(seq: u64, hash: &str, by: &str, boot_ms: u64, phase: &str) -> String {
        format!(
            "{{\"session_id\":\"s\",\"seq\":{seq},\"kind\":\"Lifecycle\",\"payload\":{{\"type\":\"x\",\"phase\":\"{phase}\",\"input\":{{\"phase\":\"session_start\"}},\"input_hash\":\"{hash}\",\"agent_process\":\"{by}\",\"delivered_boot_ms\":{boot_ms},\"recorded_ms\":1}}}}\n"
        )
    }

    #[test]
    fn a_repeat_is_the_same_bytes_from_the_same_process_within_the_window_with_no_boundary_between() {
        let tail = |lines: &[String]| tail_of(&lines.concat());
        let agent = AgentProcess { pid: 7, start_ticks: 100 };
        let delivery = |hash: &str, boot_ms| Delivery { hash: hash.into(), by: Some(agent.to_string()), boot_ms };
        let (file, recorded) =
            tail(&[line(0, "aa", "7:100", 10_000, "tool_call"), line(1, "bb", "7:100", 10_100, "tool_call")]);
        assert!(recorded.is_repeat(&file, &delivery("aa", 12_000), 3000));
        assert!(!recorded.is_repeat(&file, &delivery("aa", 13_001), 3000), "outside the window");
        assert!(recorded.is_repeat(&file, &delivery("aa", 9_990), 3000), "arrived first, took the lock second");
        assert!(!recorded.is_repeat(&file, &delivery("aa", 5_000), 3000), "long before the recorded one: a reboot");
        assert!(!recorded.is_repeat(&file, &delivery("cc", 10_001), 3000));
        let other_process =
            Delivery { by: Some(AgentProcess { pid: 8, start_ticks: 100 }.to_string()), ..delivery("aa", 10_001) };
        assert!(!recorded.is_repeat(&file, &other_process, 3000), "another agent process: a new occurrence");
        assert!(!recorded.is_repeat(&file, &Delivery { by: None, ..delivery("aa", 10_001) }, 3000), "in doubt, record");
        let (turn_file, after_a_turn) =
            tail(&[line(0, "aa", "7:100", 10_000, "prompt"), line(1, "bb", "7:100", 10_100, "turn_end")]);
        assert!(!after_a_turn.is_repeat(&turn_file, &delivery("aa", 10_200), 3000), "a turn ended in between");
        let (sub_file, after_a_subagent) =
            tail(&[line(0, "aa", "7:100", 10_000, "other"), line(1, "bb", "7:100", 10_100, "subagent_stop")]);
        assert!(!after_a_subagent.is_repeat(&sub_file, &delivery("aa", 10_200), 3000), "a subagent stopped in between");
        let (prompt_file, after_a_prompt) =
            tail(&[line(0, "aa", "7:100", 10_000, "turn_end"), line(1, "bb", "7:100", 10_100, "prompt")]);
        assert!(!after_a_prompt.is_repeat(&prompt_file, &delivery("aa", 10_200), 3000), "a new turn in between");
        let (twice_file, a_prompt_twice) = tail(&[line(0, "aa", "7:100", 10_000, "prompt")]);
        assert!(
            a_prompt_twice.is_repeat(&twice_file, &delivery("aa", 10_200), 3000),
            "the prompt itself is no boundary"
        );
        let (clock_file, unknown_clock) = tail(&[line(0, "aa", "7:100", 0, "tool_call")]);
        assert!(
            !unknown_clock.is_repeat(&clock_file, &delivery("aa", 0), 3000),
            "no boot clock: no window, in doubt record"
        );
    }

    #[test]
    fn a_subagent_runs_from_its_start_to_its_stop_within_the_turn() {
        let running = |phases: &[&str]| {
            let lines: Vec<String> =
                phases.iter().enumerate().map(|(seq, phase)| line(seq as u64, "aa", "7:100", 1, phase)).collect();
            let (file, tail) = tail_of(&lines.concat());
            tail.subagent_running(&file)
        };
        assert!(running(&["prompt", "subagent_start", "tool_call"]));
        assert!(!running(&["prompt", "subagent_start", "subagent_stop"]));
        assert!(running(&["prompt", "subagent_start", "subagent_start", "subagent_stop"]), "side by side");
        assert!(!running(&["subagent_start", "prompt", "tool_call"]), "started in an earlier turn");
        assert!(!running(&["subagent_start", "turn_end"]), "the turn ended");
        assert!(!running(&["prompt", "tool_call"]));
    }

    /// A tool call line padded to about `bytes`.
    fn call(seq: u64, id: &str, ts: u64, hash: &str, bytes: usize) -> String {
        let pad = "x".repeat(bytes.saturating_sub(300));
        format!(
            "{{\"session_id\":\"s\",\"seq\":{seq},\"ts_ms\":{ts},\"kind\":\"ToolCall\",\"tool\":\"Bash\",\"tool_call_id\":\"{id}\",\"payload\":{{\"type\":\"x\",\"phase\":\"tool_call\",\"pad\":\"{pad}\",\"input_hash\":\"{hash}\",\"agent_process\":\"7:100\",\"delivered_boot_ms\":10000,\"session_tool_calls\":{seq}}}}}\n"
        )
    }

    #[test]
    fn older_lines_are_read_only_as_far_as_the_window_and_long_lines_stay_whole() {
        let delivery = Delivery { hash: "aa".into(), by: Some("7:100".into()), boot_ms: 10_500 };
        // The call 50 lines of 1 KB back (past the near lines), one 40 KB line
        // (longer than a chunk) between, and a last line longer than the near read.
        let mut lines = vec![call(0, "t1", 1000, "aa", 1000)];
        lines.extend((1..50).map(|seq| call(seq, &format!("f{seq}"), 2000, "ff", 1000)));
        lines.push(call(50, "f50", 2000, "ff", 40_000));
        lines.push(call(51, "last", 3000, "ff", 20_000));
        let (file, tail) = tail_of(&lines.concat());
        assert!(tail.near_start > 0, "the near lines are not the whole file");
        assert_eq!((tail.next_seq, tail.totals().tool_calls), (52, 51));
        assert_eq!(tail.tool_call_ts(&file, "t1"), Some(1000));
        assert_eq!(tail.tool_call_ts(&file, "last"), Some(3000));
        assert_eq!(tail.open_call(&file, "t1"), Some(Some("Bash".into())));
        assert_eq!(tail.open_calls(&file).first().map(|(id, _)| id.as_str()), Some("t1"));
        assert!(tail.is_repeat(&file, &delivery, 3000));

        // A turn boundary after it: no longer a repeat (found without reading further back).
        let mut bounded = lines.clone();
        bounded.insert(25, line(25, "bb", "7:100", 10_100, "turn_end"));
        let (file, tail) = tail_of(&bounded.concat());
        assert!(!tail.is_repeat(&file, &delivery, 3000));
        assert!(tail.turn_already_ended(&file), "the newest boundary, read from an older block");

        // Pushed past the window by 100 more lines: not found, not read.
        let mut far = lines[..50].to_vec();
        far.extend((50..150).map(|seq| call(seq, &format!("g{seq}"), 2000, "ff", 1000)));
        let (file, tail) = tail_of(&far.concat());
        assert_eq!(tail.tool_call_ts(&file, "t1"), None);
        assert!(!tail.is_repeat(&file, &delivery, 3000));
        assert_eq!(tail.tool_call_ts(&file, "g120"), Some(2000));
    }

    #[test]
    fn one_pass_answers_both_questions_as_the_two_searches_do() {
        let delivery = |hash: &str| Delivery { hash: hash.into(), by: Some("7:100".into()), boot_ms: 10_500 };
        // A repeat far back and a call further back; a boundary between them; neither.
        let mut lines = vec![call(0, "t1", 1000, "zz", 1000)];
        lines.extend((1..40).map(|seq| call(seq, &format!("f{seq}"), 2000, "ff", 1000)));
        lines.push(line(40, "bb", "7:100", 10_100, "turn_end"));
        lines.extend((41..80).map(|seq| call(seq, &format!("g{seq}"), 2000, "aa", 1000)));
        let (file, tail) = tail_of(&lines.concat());
        for hash in ["aa", "zz", "nn"] {
            for id in ["t1", "g70", "none"] {
                let both = tail.repeat_and_call_ts(&file, Some((&delivery(hash), 3000)), Some(id));
                let apart = (tail.is_repeat(&file, &delivery(hash), 3000), tail.tool_call_ts(&file, id));
                assert_eq!(both, apart, "{hash} {id}");
            }
        }
        assert_eq!(tail.repeat_and_call_ts(&file, None, None), (false, None));
        let unknown_process = Delivery { by: None, ..delivery("aa") };
        assert_eq!(tail.repeat_and_call_ts(&file, Some((&unknown_process, 3000)), Some("t1")), (false, Some(1000)));
    }

    #[test]
    fn a_result_after_a_call_closes_it_and_the_newest_line_decides() {
        let result = call(2, "t1", 1500, "bb", 500).replace("\"kind\":\"ToolCall\"", "\"kind\":\"ToolResult\"");
        let text = [call(0, "t1", 1000, "aa", 500), call(1, "t2", 1100, "cc", 500), result].concat();
        let (file, tail) = tail_of(&text);
        assert_eq!(tail.open_call(&file, "t1"), None);
        assert_eq!(tail.open_call(&file, "t2"), Some(Some("Bash".into())));
        assert_eq!(tail.open_calls(&file), vec![("t2".to_string(), Some("Bash".to_string()))]);
        let (file, tail) = tail_of(&[text, call(3, "t1", 2000, "dd", 500)].concat());
        assert_eq!(tail.open_calls(&file).len(), 2, "called again after its result: open again");
    }

    #[test]
    fn a_torn_last_line_is_cut_however_long() {
        for torn in [10, 20_000, 300_000] {
            let whole = [call(0, "t1", 1000, "aa", 500), call(1, "t2", 1100, "aa", 30_000)].concat();
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(whole.as_bytes()).unwrap();
            file.write_all(&vec![b'{'; torn]).unwrap();
            let tail = read_tail(&file, file.metadata().unwrap().len()).unwrap();
            assert_eq!((tail.len, tail.torn_bytes, tail.next_seq), (whole.len() as u64, torn as u64, 2));
            assert_eq!(file.metadata().unwrap().len(), whole.len() as u64);
            assert_eq!(tail.tool_call_ts(&file, "t1"), Some(1000));
        }
    }

    #[test]
    fn lines_come_newest_first_and_only_our_own_phase_counts() {
        let lines: Vec<&[u8]> = newest_first(b"a\n\nbc\n").collect();
        assert_eq!(lines, [&b"bc"[..], b"", b"a"]);
        assert_eq!(newest_first(b"").count(), 1);
        let ours = line(0, "aa", "7:100", 1, "tool_call");
        // An input that holds our payload's own bytes, boundary and all.
        let nested = ours.replace("\"input\":{", "\"input\":{\"payload\":{\"type\":\"x\",\"phase\":\"turn_end\"},");
        assert!(!holds_boundary(nested.as_bytes()));
        assert!(holds_boundary([nested.as_str(), &line(1, "bb", "7:100", 1, "session_end")].concat().as_bytes()));
        assert_eq!(phase_of_line(nested.as_bytes()), Some(&b"tool_call"[..]));
    }
}
