//! Settings read from the environment. Every knob has a safe default, and a
//! malformed value falls back to that default: a typo must never stop a hook.

use std::env;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// `$KAIZEN_HOME`, default `~/.kaizen`.
    pub home: PathBuf,
    /// Wall-clock budget for one hook run (`KAIZEN_HOOK_BUDGET_MS`, default 1000).
    pub budget: Duration,
    /// Longest string kept from the hook input, in bytes (`KAIZEN_HOOK_FIELD_CAP`, default 32 KiB).
    pub field_cap: usize,
    /// Largest recorded event line, in bytes (`KAIZEN_HOOK_EVENT_CAP`, default 1 MiB).
    pub event_cap: usize,
    /// Window in which an identical delivery counts as a duplicate (`KAIZEN_HOOK_DEDUP_MS`,
    /// default 3000; 0 turns de-duplication off).
    pub dedup_window_ms: u64,
}

impl Config {
    pub fn from_env() -> Config {
        Config {
            home: kaizen_home(),
            budget: Duration::from_millis(number("KAIZEN_HOOK_BUDGET_MS", 1000, 10, 60_000)),
            field_cap: number("KAIZEN_HOOK_FIELD_CAP", 32 * 1024, 256, 64 << 20) as usize,
            event_cap: number("KAIZEN_HOOK_EVENT_CAP", 1 << 20, 4096, 256 << 20) as usize,
            dedup_window_ms: number("KAIZEN_HOOK_DEDUP_MS", 3000, 0, 600_000),
        }
    }
}

fn kaizen_home() -> PathBuf {
    match env::var_os("KAIZEN_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home_dir().unwrap_or_else(env::temp_dir).join(".kaizen"),
    }
}

pub fn home_dir() -> Option<PathBuf> {
    env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn number(name: &str, default: u64, min: u64, max: u64) -> u64 {
    env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok()).map(|v| v.clamp(min, max)).unwrap_or(default)
}
