//! The events file: appended under an exclusive lock, one `write` per event.
//! Everything a writer needs from the past (the next seq, recent deliveries
//! for de-duplication, the matching tool call for latency) is read from the
//! file's last `TAIL_WINDOW` bytes, so the cost of a run does not grow with
//! the session.

use super::fsutil;
use crate::event::{Event, EventKind, EventSource};
use crate::recognize::Phase;
use memchr::{memmem, memrchr};
use serde_json::{Map, Value, json};
use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub const TAIL_WINDOW: u64 = 128 * 1024;

/// Opens the events file and takes its exclusive lock, waiting at most until `deadline`.
pub fn open_locked(path: &Path, deadline: Instant) -> io::Result<File> {
    let file = fsutil::open_append(path)?;
    let mut pause = Duration::from_micros(50);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
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
    /// The end of the file, whole lines only.
    window: Vec<u8>,
}

/// Reads the end of a locked events file. A torn last line is truncated away
/// first: writers hold the lock while writing, so it can only be the partial
/// write of a writer that died. However long the torn line or the last line,
/// the file is scanned once, backwards, a chunk at a time (never gathered).
pub fn read_tail(file: &File) -> io::Result<Tail> {
    let full = file.metadata()?.len();
    let mut len = full;
    if full > 0 && read_at(file, full - 1, 1)? != b"\n" {
        len = newline_before(file, full, 0)?.map_or(0, |at| at + 1);
        file.set_len(len)?;
    }
    let torn_bytes = full - len;
    let start = len.saturating_sub(TAIL_WINDOW);
    let window = read_at(file, start, len - start)?;
    if window.is_empty() {
        return Ok(Tail { next_seq: 0, len, torn_bytes, window });
    }
    // The last line is whole in the window: its seq is there. Otherwise it
    // is read from the line's own start, found by scanning back.
    let whole = start == 0 || memrchr(b'\n', &window[..window.len() - 1]).is_some();
    let seq = if whole { last_seq(&window) } else { seq_at_line_start(file, len)? };
    let next_seq = match seq {
        Some(seq) => seq + 1,
        None => count_lines(file, len)?,
    };
    Ok(Tail { next_seq, len, torn_bytes, window })
}

/// Where the last `\n` before `end` (and at or after `floor`) is, scanning
/// back a chunk at a time.
fn newline_before(file: &File, end: u64, floor: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 1 << 20;
    let mut hi = end;
    while hi > floor {
        let lo = hi.saturating_sub(CHUNK).max(floor);
        let chunk = read_at(file, lo, hi - lo)?;
        if let Some(i) = memrchr(b'\n', &chunk) {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// The seq of the file's last line (which ends at `len`), read from its head.
fn seq_at_line_start(file: &File, len: u64) -> io::Result<Option<u64>> {
    let line_start = newline_before(file, len - 1, 0)?.map_or(0, |at| at + 1);
    let head = read_at(file, line_start, (len - line_start).min(4096))?;
    Ok(seq_of_line(&head))
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
    let lines = window.strip_suffix(b"\n").unwrap_or(window).rsplit(|&b| b == b'\n');
    lines.enumerate().find_map(|(lines_after, line)| Some(number_after(line, b"\"seq\":")? + lines_after as u64))
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
    /// in the same run see it. The window is cut back to twice its usual size
    /// only past four times it, so a long merge moves each byte once or twice.
    pub fn advance(&mut self, line: &[u8]) {
        self.window.extend_from_slice(line);
        if self.window.len() > 4 * TAIL_WINDOW as usize {
            let excess = self.window.len() - 2 * TAIL_WINDOW as usize;
            self.window.drain(..excess);
        }
        self.len += line.len() as u64;
        self.next_seq += 1;
    }

    /// Whether a line merged from this spool file is already in the tail.
    pub fn holds_spooled(&self, name: &str) -> bool {
        let needle = format!("\"spooled\":{}", json!(name));
        memmem::find(&self.window, needle.as_bytes()).is_some()
    }

    /// The running totals of the newest line.
    pub fn totals(&self) -> Totals {
        let body = self.window.strip_suffix(b"\n").unwrap_or(&self.window);
        let start = memrchr(b'\n', body).map_or(0, |i| i + 1);
        Totals::of_line(&body[start..])
    }

    /// Whether this delivery repeats one already recorded (SPEC §7): the same
    /// raw bytes from the same agent process, delivered at most `window_ms`
    /// apart on the boot clock (bounded on both sides), with no session or
    /// turn boundary recorded since. In doubt (no agent process known) it is not.
    pub fn is_repeat(&self, delivery: &Delivery, window_ms: u64) -> bool {
        let Some(by) = &delivery.by else { return false };
        let needle = format!("\"input_hash\":\"{}\",\"agent_process\":\"{by}\",\"delivered_boot_ms\":", delivery.hash);
        // The newest match, found forwards: memchr's forward search is vectorised,
        // its reverse one is not (110 µs against 9 µs on a full 128 KiB window).
        let Some(at) = memmem::find_iter(&self.window, needle.as_bytes()).last() else { return false };
        let Some(then) = number_after(&self.window[at..], b"\"delivered_boot_ms\":") else { return false };
        // 0 is a boot clock that could not be read: no window can be measured.
        if then == 0 || delivery.boot_ms == 0 {
            return false;
        }
        // Either side: deliveries that arrive together take the lock in any order.
        if then.abs_diff(delivery.boot_ms) > window_ms {
            return false;
        }
        let after = memchr::memchr(b'\n', &self.window[at..]).map_or(self.window.len(), |i| at + i + 1);
        !self.window[after..].split(|&b| b == b'\n').any(is_boundary)
    }

    /// Whether the current turn's end is already recorded: the newest prompt,
    /// session or turn boundary in the tail is a turn end (Codex's `notify`
    /// after its `Stop`). Then another turn end repeats it.
    pub fn turn_already_ended(&self) -> bool {
        const TURN_ENDS: &[Phase] = &[Phase::TurnEnd, Phase::TurnFailure];
        const OPENERS: &[Phase] = &[Phase::Prompt, Phase::SessionStart, Phase::SessionEnd];
        for line in self.window.rsplit(|b| *b == b'\n') {
            let Some(name) = phase_of_line(line) else { continue };
            if TURN_ENDS.iter().any(|p| p.name().as_bytes() == name) {
                return true;
            }
            if OPENERS.iter().any(|p| p.name().as_bytes() == name) {
                return false;
            }
        }
        false
    }

    /// The tool of a call recorded as a `ToolCall` with no result or error
    /// after it in the tail; `None` when there is no such open call.
    pub fn open_call(&self, tool_call_id: &str) -> Option<Option<String>> {
        let id = serde_json::to_string(tool_call_id).ok()?;
        let needle = format!("\"tool_call_id\":{id}");
        let mut tool = None;
        for at in memmem::find_iter(&self.window, needle.as_bytes()) {
            let line_start = memrchr(b'\n', &self.window[..at]).map_or(0, |i| i + 1);
            let head = &self.window[line_start..at];
            if memmem::find(head, b"\"kind\":\"ToolCall\"").is_some() {
                let line: Option<Value> = self.window[line_start..]
                    .split(|b| *b == b'\n')
                    .next()
                    .and_then(|l| serde_json::from_slice(l).ok());
                tool = Some(line.and_then(|l| l.get("tool")?.as_str().map(String::from)));
            } else if memmem::find(head, b"\"kind\":\"ToolResult\"").is_some()
                || memmem::find(head, b"\"kind\":\"Error\"").is_some()
            {
                return None;
            }
        }
        tool
    }

    /// The calls recorded as a `ToolCall` with no result or error after them
    /// in the tail, oldest first, each with its tool.
    pub fn open_calls(&self) -> Vec<(String, Option<String>)> {
        let mut open: Vec<(String, Option<String>)> = Vec::new();
        for line in self.window.split(|b| *b == b'\n').filter(|l| memmem::find(l, b"\"tool_call_id\":\"").is_some()) {
            let Ok(event) = serde_json::from_slice::<Value>(line) else { continue };
            let Some(id) = event.get("tool_call_id").and_then(Value::as_str) else { continue };
            open.retain(|(open_id, _)| open_id != id);
            if event.get("kind").and_then(Value::as_str) == Some("ToolCall") {
                open.push((id.to_string(), event.get("tool").and_then(Value::as_str).map(String::from)));
            }
        }
        open
    }

    /// `ts_ms` of the newest recorded `ToolCall` with this call id.
    pub fn tool_call_ts(&self, tool_call_id: &str) -> Option<u64> {
        let id = serde_json::to_string(tool_call_id).ok()?;
        let needle = format!("\"tool_call_id\":{id}");
        // Forwards, keeping the newest (see `is_repeat`): a call id is on a line or two.
        memmem::find_iter(&self.window, needle.as_bytes())
            .filter_map(|at| {
                let line_start = memrchr(b'\n', &self.window[..at]).map_or(0, |i| i + 1);
                let head = &self.window[line_start..at];
                memmem::find(head, b"\"kind\":\"ToolCall\"").and_then(|_| number_after(head, b"\"ts_ms\":"))
            })
            .last()
    }
}

/// A line that starts or ends a session or a turn: after one, an identical
/// delivery is a new occurrence.
fn is_boundary(line: &[u8]) -> bool {
    phase_of_line(line).is_some_and(|name| Phase::BOUNDARIES.iter().any(|p| p.name().as_bytes() == name))
}

/// `payload.phase` of one of our lines. Our `payload` begins
/// `{"type":…,"phase":…`, before anything taken from the input.
fn phase_of_line(line: &[u8]) -> Option<&[u8]> {
    const PAYLOAD: &[u8] = b"\"payload\":{\"type\":\"";
    let rest = &line[memmem::find(line, PAYLOAD)? + PAYLOAD.len()..];
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

/// An event with every optional figure unknown, for its maker to fill in.
pub fn blank_event(session_id: &str, kind: EventKind, source: EventSource, ts_ms: u64, payload: Value) -> Event {
    Event {
        session_id: session_id.to_string(),
        seq: 0,
        ts_ms,
        ts_exact: false,
        kind,
        source,
        tool: None,
        tool_call_id: None,
        tokens_in: None,
        tokens_out: None,
        reasoning_tokens: None,
        cost_usd_e6: None,
        stop_reason: None,
        latency_ms: None,
        ttft_ms: None,
        retry_count: None,
        context_used_tokens: None,
        context_max_tokens: None,
        cache_creation_tokens: None,
        cache_read_tokens: None,
        system_prompt_tokens: None,
        payload,
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

    #[test]
    fn finds_recent_deliveries_and_tool_calls() {
        let window = concat!(
            "{\"session_id\":\"s\",\"seq\":0,\"ts_ms\":1000,\"ts_exact\":false,\"kind\":\"ToolCall\",\"source\":\"Hook\",\"tool\":\"Bash\",\"tool_call_id\":\"t1\",\"payload\":{\"input_hash\":\"aa\",\"recorded_ms\":1000}}\n",
            "{\"session_id\":\"s\",\"seq\":1,\"ts_ms\":1500,\"ts_exact\":false,\"kind\":\"ToolResult\",\"source\":\"Hook\",\"tool\":\"Bash\",\"tool_call_id\":\"t1\",\"payload\":{\"input_hash\":\"bb\",\"recorded_ms\":1500}}\n",
        );
        let tail = Tail { next_seq: 2, len: 0, torn_bytes: 0, window: window.as_bytes().to_vec() };
        assert_eq!(tail.tool_call_ts("t1"), Some(1000));
        assert_eq!(tail.tool_call_ts("t2"), None);
    }

    fn line(seq: u64, hash: &str, by: &str, boot_ms: u64, phase: &str) -> String {
        format!(
            "{{\"session_id\":\"s\",\"seq\":{seq},\"kind\":\"Lifecycle\",\"payload\":{{\"type\":\"x\",\"phase\":\"{phase}\",\"input\":{{\"phase\":\"session_start\"}},\"input_hash\":\"{hash}\",\"agent_process\":\"{by}\",\"delivered_boot_ms\":{boot_ms},\"recorded_ms\":1}}}}\n"
        )
    }

    #[test]
    fn a_repeat_is_the_same_bytes_from_the_same_process_within_the_window_with_no_boundary_between() {
        let tail = |lines: &[String]| Tail { next_seq: 0, len: 0, torn_bytes: 0, window: lines.concat().into_bytes() };
        let agent = AgentProcess { pid: 7, start_ticks: 100 };
        let delivery = |hash: &str, boot_ms| Delivery { hash: hash.into(), by: Some(agent.to_string()), boot_ms };
        let recorded =
            tail(&[line(0, "aa", "7:100", 10_000, "tool_call"), line(1, "bb", "7:100", 10_100, "tool_call")]);
        assert!(recorded.is_repeat(&delivery("aa", 12_000), 3000));
        assert!(!recorded.is_repeat(&delivery("aa", 13_001), 3000), "outside the window");
        assert!(recorded.is_repeat(&delivery("aa", 9_990), 3000), "arrived first, took the lock second");
        assert!(!recorded.is_repeat(&delivery("aa", 5_000), 3000), "long before the recorded one: a reboot");
        assert!(!recorded.is_repeat(&delivery("cc", 10_001), 3000));
        let other_process =
            Delivery { by: Some(AgentProcess { pid: 8, start_ticks: 100 }.to_string()), ..delivery("aa", 10_001) };
        assert!(!recorded.is_repeat(&other_process, 3000), "another agent process: a new occurrence");
        assert!(!recorded.is_repeat(&Delivery { by: None, ..delivery("aa", 10_001) }, 3000), "in doubt, record");
        let after_a_turn =
            tail(&[line(0, "aa", "7:100", 10_000, "prompt"), line(1, "bb", "7:100", 10_100, "turn_end")]);
        assert!(!after_a_turn.is_repeat(&delivery("aa", 10_200), 3000), "a turn ended in between");
        let unknown_clock = tail(&[line(0, "aa", "7:100", 0, "tool_call")]);
        assert!(!unknown_clock.is_repeat(&delivery("aa", 0), 3000), "no boot clock: no window, in doubt record");
    }
}
