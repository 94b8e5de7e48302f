//! Reading the hook input: stdin drained to EOF under a deadline (or the last
//! argv element, for Codex `notify`), run through the capping filter, parsed.

mod capture;

pub use capture::Capture;

use rustix::buffer::spare_capacity;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Once a whole JSON value has arrived, how long to wait for EOF before
/// assuming the agent left the pipe open.
const GRACE_AFTER_COMPLETE: Duration = Duration::from_millis(2);

pub struct HookInput {
    /// The parsed input (any JSON type), strings capped; `None` when it was not JSON.
    pub value: Option<Value>,
    /// Why the input could not be used as JSON.
    pub error: Option<String>,
    /// The start of the raw input, kept for recording input that is not JSON.
    pub raw_prefix: Vec<u8>,
    pub raw_len: u64,
    /// Identity of this delivery: a hash of every raw byte.
    pub hash: String,
    pub truncated_fields: u32,
    /// Invalid UTF-8 was replaced before parsing.
    pub lossy: bool,
    /// Stdin was still open (and not a complete JSON value) at the deadline.
    pub stdin_timed_out: bool,
}

pub fn read(argv_payload: Option<&str>, deadline: Instant, field_cap: usize, hard_cap: usize) -> HookInput {
    let mut capture = Capture::new(field_cap, hard_cap);
    let stdin_timed_out = drain_stdin(&mut capture, deadline);
    match argv_payload {
        Some(arg) if capture.raw_len == 0 => from_bytes(arg.as_bytes(), field_cap, hard_cap),
        _ => finish(capture, stdin_timed_out),
    }
}

/// The same filter and parser as for stdin, over bytes already in hand (an
/// argv payload; the fuzz target).
pub fn from_bytes(bytes: &[u8], field_cap: usize, hard_cap: usize) -> HookInput {
    let mut capture = Capture::new(field_cap, hard_cap);
    capture.feed(bytes);
    finish(capture, false)
}

fn finish(capture: Capture, stdin_timed_out: bool) -> HookInput {
    let (value, error, lossy) = parse(&capture, capture.field_cap());
    HookInput {
        value,
        error,
        raw_prefix: capture.raw_prefix,
        raw_len: capture.raw_len,
        hash: capture.hash.hex(),
        truncated_fields: capture.truncated_fields,
        lossy,
        stdin_timed_out,
    }
}

fn parse(capture: &Capture, field_cap: usize) -> (Option<Value>, Option<String>, bool) {
    if capture.overflow {
        let error = format!("input of {} bytes is too large to parse, even capped", capture.raw_len);
        return (None, Some(error), false);
    }
    if capture.json.iter().all(u8::is_ascii_whitespace) {
        return (None, Some("empty input".into()), false);
    }
    match serde_json::from_slice::<Value>(&capture.json) {
        Ok(value) => (Some(value), None, false),
        Err(first) if std::str::from_utf8(&capture.json).is_err() => {
            match serde_json::from_str(&String::from_utf8_lossy(&capture.json)) {
                // Each invalid byte became a three-byte U+FFFD: cap again.
                Ok(mut value) => {
                    crate::fit::cut_strings(&mut value, field_cap);
                    (Some(value), None, true)
                }
                Err(_) => (None, Some(format!("invalid JSON: {first}")), false),
            }
        }
        Err(e) => (None, Some(format!("invalid JSON: {e}")), false),
    }
}

/// Reads fd 0 until EOF, the deadline, or shortly after a complete value.
/// Returns whether the deadline cut the read short.
fn drain_stdin(capture: &mut Capture, deadline: Instant) -> bool {
    if !stdin_may_carry_a_payload() {
        return false;
    }
    let stdin = rustix::stdio::stdin();
    // Not zeroed: `read` fills it, and only the filled part is used.
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    // When the grace ends: set once, when the value completes, never moved by later polls.
    let mut grace_end: Option<Instant> = None;
    loop {
        if grace_end.is_none() && capture.is_complete() {
            grace_end = Some(Instant::now() + GRACE_AFTER_COMPLETE);
        }
        let until = grace_end.map_or(deadline, |end| end.min(deadline));
        let wait = until.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return !capture.is_complete();
        }
        let mut pollfd = [PollFd::new(&stdin, PollFlags::IN)];
        // Whole milliseconds, at least one, as `poll` would take them (always fits a Timespec).
        let timeout_ms = wait.as_millis().clamp(1, i32::MAX as u128) as u64;
        let Ok(timeout) = Timespec::try_from(Duration::from_millis(timeout_ms)) else { return false };
        match rustix::event::poll(&mut pollfd, Some(&timeout)) {
            Err(Errno::INTR) => continue,
            Err(_) => return false,
            Ok(0) => continue, // the loop re-checks the grace and the deadline
            Ok(_) if pollfd[0].revents().contains(PollFlags::NVAL) => return false, // no stdin at all
            Ok(_) => {}
        }
        // Reads into the spare capacity, and sets the length to what was read.
        match rustix::io::read(stdin, spare_capacity(&mut buf)) {
            Ok(0) => return false,
            Ok(_) => {
                capture.feed(&buf);
                buf.clear();
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(_) => return false,
        }
    }
}

/// A pipe, a socket or a file may hold a payload. A terminal never does
/// (reading it would take the person's keystrokes: Codex runs `notify` with
/// its terminal as stdin), nor does a device (`/dev/null` is empty,
/// `/dev/zero` endless) or a directory.
fn stdin_may_carry_a_payload() -> bool {
    // fd 0 is open (main makes sure).
    let Ok(st) = rustix::fs::fstat(rustix::stdio::stdin()) else { return false };
    !matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK | libc::S_IFDIR)
}
