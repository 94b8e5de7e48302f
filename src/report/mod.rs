//! Reading what was recorded, for people and scripts: session rows from the
//! records and the last line of each events file (never whole event files),
//! and the small formatting helpers the report commands share.

pub mod cache;
pub mod digest;
pub mod guidance;
pub mod history;
pub mod html;
pub mod html_guidance;
pub mod stats;
pub mod style;
pub mod summary;
pub mod svg;
pub mod tally;
pub mod timeline;

use crate::event::{Event, SessionRecord, SessionStatus};
use crate::store::{self, Listed, SessionFiles, events};
use serde::Serialize;
use std::path::Path;

/// One session as `kaizen-hook sessions --json` prints it. Field names are stable.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub id: String,
    pub key: String,
    pub agent: String,
    pub model: Option<String>,
    pub workspace: String,
    pub repo: String,
    pub branch: Option<String>,
    pub status: SessionStatus,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub last_event_ms: Option<u64>,
    pub duration_ms: u64,
    pub events: u64,
    pub tool_calls: u64,
    pub errors: u64,
    /// Input tokens of the session's model responses, cache reads and writes included.
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Micro-USD of the responses whose model's price is known.
    pub cost_usd_e6: i64,
    pub start_commit: Option<String>,
    pub end_commit: Option<String>,
    pub dirty_start: Option<bool>,
    pub dirty_end: Option<bool>,
    /// The guidance version the session started with (`guidance/<it>.json`).
    pub prompt_fingerprint: Option<String>,
}

pub struct Loaded {
    pub rows: Vec<SessionRow>,
    /// Records that could not be read, by file name.
    pub skipped: Vec<String>,
}

/// Every session under `home`, newest first, as recorded: a command that
/// wants the ends of sessions whose agent is gone settles them first
/// (`inferred_end::settle_listed`).
pub fn load_sessions(home: &Path) -> Loaded {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for files in store::list(home, Listed::Record).into_iter().flatten() {
        // Never through a planted symlink or FIFO (`record::load` opens with O_NOFOLLOW).
        match store::record::load(&files.record) {
            Ok(Some(record)) => rows.push(row(files, record)),
            Ok(None) => {}
            Err(e) => skipped.push(format!("{} ({e})", files.record.display())),
        }
    }
    rows.sort_by(|a, b| b.started_at_ms.cmp(&a.started_at_ms).then_with(|| a.key.cmp(&b.key)));
    Loaded { rows, skipped }
}

/// One session's row, as `sessions` lists it (`None` without a readable record).
pub fn load_session(home: &Path, key: &str) -> Option<SessionRow> {
    let files = SessionFiles::from_key(home, key);
    let record = serde_json::from_slice::<SessionRecord>(&std::fs::read(&files.record).ok()?).ok()?;
    Some(row(files, record))
}

fn row(files: SessionFiles, r: SessionRecord) -> SessionRow {
    let last = events::last_line(&files.events).ok().flatten();
    let key = files.key;
    let (events, last_event_ms, totals) = match &last {
        Some(line) => {
            (events::seq_of_line(line).map_or(0, |s| s + 1), events::ts_of_line(line), events::Totals::of_line(line))
        }
        None => (0, None, events::Totals::default()),
    };
    let end = r.ended_at_ms.or(last_event_ms).unwrap_or(r.started_at_ms);
    SessionRow {
        repo: repo_name(&r.workspace),
        duration_ms: end.saturating_sub(r.started_at_ms),
        id: r.id,
        key,
        agent: r.agent,
        model: r.model,
        workspace: r.workspace,
        branch: r.branch,
        status: r.status,
        started_at_ms: r.started_at_ms,
        ended_at_ms: r.ended_at_ms,
        last_event_ms,
        events,
        tool_calls: totals.tool_calls,
        errors: totals.errors,
        tokens_in: totals.tokens_in,
        tokens_out: totals.tokens_out,
        cost_usd_e6: totals.cost_usd_e6,
        start_commit: r.start_commit,
        end_commit: r.end_commit,
        dirty_start: r.dirty_start,
        dirty_end: r.dirty_end,
        prompt_fingerprint: r.prompt_fingerprint,
    }
}

pub fn repo_name(workspace: &str) -> String {
    Path::new(workspace).file_name().map_or_else(|| workspace.to_string(), |n| n.to_string_lossy().into_owned())
}

/// `850`, `12.3k`, `4.56M`: token counts at a glance.
pub fn tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// `$0.0123`, `$4.56`: micro-USD as dollars, cents shown where they matter.
pub fn usd(micro: i64) -> String {
    let dollars = micro as f64 / 1e6;
    if dollars.abs() >= 1.0 { format!("${dollars:.2}") } else { format!("${dollars:.4}") }
}

/// `1h02m`, `3m04s`, `12.3s`, `850ms`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// `2h`, `30m`, `45s`, `7d`, `2w`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(seconds)?.checked_mul(1000)
}

/// The local day of a time, `2026-11-24`.
pub fn local_day(ms: u64) -> String {
    local_time(ms)[..10].to_string()
}

/// A time a person gives: `7d` (that long ago), `2026-11-24` (local
/// midnight), or an RFC 3339 time.
pub fn parse_time(text: &str, now_ms: u64) -> Option<u64> {
    let text = text.trim();
    if let Some(ago) = parse_duration(text) {
        return Some(now_ms.saturating_sub(ago));
    }
    if let Some(ms) = crate::time::parse_rfc3339(text) {
        return Some(ms);
    }
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<i32>().ok());
    let (Some(Some(year)), Some(Some(month)), Some(Some(day))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if text.len() != 10 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // SAFETY: an all-zero `tm` is a valid value; `mktime` reads and normalises
    // only the `tm` it is given, ours for the call.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Local time, `2026-11-24 13:18`.
pub fn local_time(ms: u64) -> String {
    let secs = (ms / 1000) as libc::time_t;
    // Neither std nor rustix converts to local time; libc's `localtime_r` does.
    // SAFETY: an all-zero `tm` is a valid value (integers and a null `tm_zone`), and
    // `localtime_r` only reads `secs` and writes into `tm`, both ours for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&secs, &mut tm).is_null()).then_some(tm)
    };
    let Some(tm) = tm else { return crate::time::format_utc(ms) };
    format!("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min)
}

/// The events of an events file's bytes that parse, and how many lines did not.
pub fn events_in(bytes: &[u8]) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut skipped = 0;
    let complete = bytes.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.pop(); // after the final newline, or a partial last line
    if !complete && !bytes.is_empty() {
        skipped += 1;
    }
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Event>(line) {
            Ok(event) => events.push(event),
            Err(_) => skipped += 1,
        }
    }
    (events, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(184_000), "3m04s");
        assert_eq!(duration(3_720_000), "1h02m");
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("90"), Some(90_000));
        assert_eq!(parse_duration("1w"), Some(604_800_000));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
