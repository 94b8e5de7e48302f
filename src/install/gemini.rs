//! Gemini CLI: `~/.gemini/settings.json`, the nested format with timeouts in
//! milliseconds. Not `BeforeModel`/`AfterModel`/`BeforeToolSelection`: they
//! fire for every model call and streamed chunk, and can rewrite the request.

use super::nested::Nested;
use super::{Format, TIMEOUT_SECONDS, Target};
use std::path::{Path, PathBuf};

const FORMAT: Nested = Nested {
    events: &[
        ("SessionStart", "session-start"),
        ("SessionEnd", "session-end"),
        ("BeforeAgent", "prompt"),
        ("BeforeTool", "tool-use"),
        ("AfterTool", "tool-use"),
        ("AfterAgent", "stop"),
        ("PreCompress", "event"),
        ("Notification", "event"),
    ],
    timeout: TIMEOUT_SECONDS * 1000,
};

pub const TARGET: Target =
    Target { agent: "gemini", dir: config_dir, file: "settings.json", format: Format::Nested(FORMAT), note: None };

fn config_dir(home: &Path) -> PathBuf {
    home.join(".gemini")
}
