//! Wall-clock helpers: the agents' timestamps (epoch numbers or RFC 3339
//! strings) into epoch milliseconds, and epoch milliseconds into UTC text.

use serde_json::Value;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// When the hook process started, on three clocks: `at` for this run's
/// deadlines, `wall_ms` for the event's time when the agent gives none (taken
/// on arrival, so events are stamped in the order they were delivered), and
/// `boot_ms`, a machine-wide monotonic clock that windows between runs are
/// measured on (a wall clock stepped back must not widen them).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: Instant,
    pub wall_ms: u64,
    pub boot_ms: u64,
}

impl Arrival {
    pub fn now() -> Arrival {
        Arrival { at: Instant::now(), wall_ms: now_ms(), boot_ms: boot_ms() }
    }
}

/// Milliseconds since boot (CLOCK_BOOTTIME: monotonic, counts suspend, one for every process).
pub fn boot_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // Not rustix's clock_gettime: its first call finds the vDSO itself (one
    // more system call, prctl PR_GET_AUXV, or a read of /proc/self/auxv), on
    // every hook run; libc's has the vDSO already (std has no CLOCK_BOOTTIME).
    // SAFETY: clock_gettime only writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// An agent timestamp as epoch milliseconds: a number (seconds or
/// milliseconds, told apart by size) or an RFC 3339 / ISO 8601 string.
pub fn parse_timestamp(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_f64().and_then(epoch_number_to_ms),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<f64>() {
                Ok(n) => epoch_number_to_ms(n),
                Err(_) => parse_rfc3339(s),
            }
        }
        _ => None,
    }
}

fn epoch_number_to_ms(n: f64) -> Option<u64> {
    // 1e11 seconds is the year 5138; anything larger is already milliseconds.
    let ms = if n >= 1e11 { n } else { n * 1000.0 };
    (1.0..1e15).contains(&ms).then_some(ms as u64)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM]`; no offset means UTC.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(i) {
        None | Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let h = digits(i + 1..i + 3)?;
            let m = digits(i + 4..i + 6)?;
            let total = h * 60 + m;
            if *sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// `2026-11-24T13:18:11.123Z`
pub fn format_utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_agents_timestamp_shapes() {
        assert_eq!(parse_timestamp(&json!("2026-08-21T10:15:42.123Z")), Some(1_787_307_342_123));
        assert_eq!(parse_timestamp(&json!("2026-08-21T12:15:42.123+02:00")), Some(1_787_307_342_123));
        assert_eq!(parse_timestamp(&json!(1_787_307_342_123u64)), Some(1_787_307_342_123));
        assert_eq!(parse_timestamp(&json!(1_787_307_342)), Some(1_787_307_342_000));
        assert_eq!(parse_timestamp(&json!("1787307342123")), Some(1_787_307_342_123));
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
        assert_eq!(parse_timestamp(&json!("2026-13-01T00:00:00Z")), None);
        assert_eq!(parse_timestamp(&json!(-5)), None);
        assert_eq!(parse_timestamp(&json!(null)), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_utc(1_787_307_342_123), "2026-08-21T10:15:42.123Z");
        assert_eq!(parse_rfc3339(&format_utc(0)), Some(0));
    }
}
