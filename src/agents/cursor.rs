//! Cursor: `~/.cursor/hooks.json`, `{"version": 1, "hooks": {event: [entries]}}`.
//! Cursor also runs the hooks in `~/.claude/settings.json`; its payloads say
//! it is Cursor (`cursor_version`, `conversation_id` + `generation_id`).

use super::{Agent, DOCUMENTED, Payload, has};
use crate::install::flat::{self, Flat};
use crate::install::{Format, Installer, TIMEOUT_SECONDS};
use crate::phase::Category;
use crate::phase::Phase;
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "cursor",
    title: "Cursor",
    evidence,
    transcript_marker: "/.cursor/",
    events: &[
        ("sessionStart", Phase::SessionStart),
        ("sessionEnd", Phase::SessionEnd),
        ("beforeSubmitPrompt", Phase::Prompt),
        ("afterAgentResponse", Phase::AgentOutput),
        ("afterAgentThought", Phase::AgentOutput),
        ("preToolUse", Phase::ToolCall),
        ("beforeShellExecution", Phase::ToolCall),
        ("beforeMCPExecution", Phase::ToolCall),
        ("beforeReadFile", Phase::ToolCall),
        ("beforeTabFileRead", Phase::ToolCall),
        ("postToolUse", Phase::ToolResult),
        ("afterShellExecution", Phase::ToolResult),
        ("afterMCPExecution", Phase::ToolResult),
        ("afterFileEdit", Phase::ToolResult),
        ("afterTabFileEdit", Phase::ToolResult),
        ("postToolUseFailure", Phase::ToolFailure),
        ("stop", Phase::TurnEnd),
        ("subagentStart", Phase::SubagentStart),
        ("subagentStop", Phase::SubagentStop),
        ("preCompact", Phase::Other),
        ("workspaceOpen", Phase::Other),
    ],
    implied_tools: &[
        ("beforeShellExecution", "Shell"),
        ("afterShellExecution", "Shell"),
        ("beforeReadFile", "Read"),
        ("afterFileEdit", "Write"),
        ("beforeTabFileRead", "TabRead"),
        ("afterTabFileEdit", "TabWrite"),
    ],
    guidance_files: &[".cursorrules"],
    guidance_dirs: &[".cursor/rules"],
    reply,
    installer: Some(Installer {
        dir: config_dir,
        file: "hooks.json",
        // Only the generic tool events: adding the specific shell and MCP ones
        // too would record each shell call twice.
        format: Format::Flat(Flat {
            events: &[
                ("sessionStart", Category::SessionStart),
                ("sessionEnd", Category::SessionEnd),
                ("beforeSubmitPrompt", Category::Prompt),
                ("preToolUse", Category::ToolUse),
                ("postToolUse", Category::ToolUse),
                ("postToolUseFailure", Category::ToolUse),
                ("subagentStart", Category::Subagent),
                ("subagentStop", Category::Subagent),
                ("stop", Category::Stop),
                ("preCompact", Category::Event),
                ("afterAgentResponse", Category::Event),
            ],
            timeout: TIMEOUT_SECONDS,
            entry: flat::CURSOR,
        }),
        note: None,
    }),
    snippet: Some("cursor-hooks.json"),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    has(p, "cursor_version") || (has(p, "conversation_id") && has(p, "generation_id"))
}

/// Cursor reads a JSON object from every hook; the neutral one lets everything through.
fn reply(event: &str) -> Option<&'static str> {
    Some(if crate::phase::normalize(event) == "beforesubmitprompt" { "{\"continue\":true}\n" } else { "{}\n" })
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".cursor")
}
