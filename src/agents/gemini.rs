//! Gemini CLI: `~/.gemini/settings.json`, the nested format with timeouts in
//! milliseconds. Its event names are its own evidence.

use super::{Agent, Payload, event_name, no_config_problems, no_failure, no_version, silent};
use crate::install::nested::Nested;
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::recognize::Phase;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "gemini",
    title: "Gemini CLI",
    evidence,
    transcript_marker: "/.gemini/",
    events: &[
        ("SessionStart", Phase::SessionStart),
        ("SessionEnd", Phase::SessionEnd),
        ("BeforeAgent", Phase::Prompt),
        ("AfterAgent", Phase::TurnEnd),
        ("BeforeTool", Phase::ToolCall),
        ("AfterTool", Phase::ToolResult),
        ("BeforeModel", Phase::Other),
        ("AfterModel", Phase::Other),
        ("BeforeToolSelection", Phase::Other),
        ("PreCompress", Phase::Other),
        ("Notification", Phase::Other),
    ],
    implied_tools: &[],
    guidance_files: &["GEMINI.md"],
    guidance_dirs: &[],
    reply: silent,
    tool_failure: no_failure,
    version: no_version,
    config_problems: no_config_problems,
    installer: Some(Installer {
        dir: config_dir,
        file: "settings.json",
        // Not `BeforeModel`/`AfterModel`/`BeforeToolSelection`: they fire for
        // every model call and streamed chunk, and can rewrite the request.
        format: Format::Nested(Nested {
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
            short: &[],
        }),
        note: None,
    }),
    snippet: Some("gemini-settings.json"),
};

fn evidence(p: &Payload) -> bool {
    const ONLY_GEMINI: &[&str] = &[
        "BeforeTool",
        "AfterTool",
        "BeforeAgent",
        "AfterAgent",
        "BeforeModel",
        "AfterModel",
        "BeforeToolSelection",
        "PreCompress",
    ];
    ONLY_GEMINI.contains(&event_name(p))
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".gemini")
}
