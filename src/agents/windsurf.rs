//! Windsurf (Cascade): `agent_action_name` events keyed on a `trajectory_id`,
//! their details nested in `tool_info`.

use super::{Agent, DOCUMENTED, Payload, has};
use crate::phase::Phase;

pub static AGENT: Agent = Agent {
    name: "windsurf",
    title: "Windsurf",
    evidence,
    transcript_marker: "/.windsurf/",
    events: &[
        ("pre_user_prompt", Phase::Prompt),
        ("pre_read_code", Phase::ToolCall),
        ("pre_write_code", Phase::ToolCall),
        ("pre_run_command", Phase::ToolCall),
        ("pre_mcp_tool_use", Phase::ToolCall),
        ("post_read_code", Phase::ToolResult),
        ("post_write_code", Phase::ToolResult),
        ("post_run_command", Phase::ToolResult),
        ("post_mcp_tool_use", Phase::ToolResult),
        ("post_cascade_response", Phase::AgentOutput),
        ("post_cascade_response_with_transcript", Phase::TurnEnd),
        ("post_setup_worktree", Phase::Other),
    ],
    implied_tools: &[
        ("pre_run_command", "run_command"),
        ("post_run_command", "run_command"),
        ("pre_read_code", "read_code"),
        ("post_read_code", "read_code"),
        ("pre_write_code", "write_code"),
        ("post_write_code", "write_code"),
        ("pre_mcp_tool_use", "mcp_tool"),
        ("post_mcp_tool_use", "mcp_tool"),
    ],
    guidance_files: &[".windsurfrules"],
    guidance_dirs: &[".windsurf/rules"],
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    has(p, "agent_action_name") || has(p, "trajectory_id")
}
