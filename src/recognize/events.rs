//! What an event means, whatever the agent calls it. Names are compared
//! normalised (ASCII letters and digits, lower case), so `PreToolUse`,
//! `preToolUse` and `pre_tool_use` are one row. Adding an agent's events is
//! adding rows.

use crate::event::EventKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    SessionStart,
    SessionEnd,
    Prompt,
    /// Text the agent produced (a response, a thought).
    AgentOutput,
    ToolCall,
    ToolResult,
    ToolFailure,
    /// The end of a turn: not the end of the session.
    TurnEnd,
    /// A turn that ended on an error (rate limit, API failure...).
    TurnFailure,
    Failure,
    SubagentStart,
    SubagentStop,
    /// The agent waits on the user (a permission prompt, an elicitation).
    Waiting,
    /// A known lifecycle event that changes nothing about the session's state.
    Other,
    /// Not recognised: recorded in full as a `Hook` event.
    Unknown,
}

impl Phase {
    pub fn kind(self) -> EventKind {
        match self {
            Phase::ToolCall => EventKind::ToolCall,
            Phase::ToolResult => EventKind::ToolResult,
            Phase::ToolFailure | Phase::TurnFailure | Phase::Failure => EventKind::Error,
            Phase::Prompt | Phase::AgentOutput => EventKind::Message,
            Phase::Unknown => EventKind::Hook,
            _ => EventKind::Lifecycle,
        }
    }

    pub fn is_tool(self) -> bool {
        matches!(self, Phase::ToolCall | Phase::ToolResult | Phase::ToolFailure)
    }

    /// Events after which the work tree is described in full (dirty, files, LOC).
    pub fn takes_snapshot(self) -> bool {
        matches!(self, Phase::SessionStart | Phase::SessionEnd | Phase::TurnEnd | Phase::TurnFailure)
    }
}

const EVENTS: &[(&str, Phase)] = &[
    // Sessions (Cline calls them tasks; Kiro spawns an agent).
    ("sessionstart", Phase::SessionStart),
    ("taskstart", Phase::SessionStart),
    ("taskresume", Phase::SessionStart),
    ("agentspawn", Phase::SessionStart),
    ("sessionend", Phase::SessionEnd),
    ("taskcomplete", Phase::SessionEnd),
    ("taskcancel", Phase::SessionEnd),
    // Prompts.
    ("userpromptsubmit", Phase::Prompt),
    ("userpromptsubmitted", Phase::Prompt),
    ("userpromptexpansion", Phase::Prompt),
    ("userprompttransformed", Phase::Prompt),
    ("beforesubmitprompt", Phase::Prompt),
    ("beforeagent", Phase::Prompt),
    ("preuserprompt", Phase::Prompt),
    // The agent's own text.
    ("afteragentresponse", Phase::AgentOutput),
    ("afteragentthought", Phase::AgentOutput),
    ("postcascaderesponse", Phase::AgentOutput),
    ("messagedisplay", Phase::AgentOutput),
    // Tool calls.
    ("pretooluse", Phase::ToolCall),
    ("beforeshellexecution", Phase::ToolCall),
    ("beforemcpexecution", Phase::ToolCall),
    ("beforereadfile", Phase::ToolCall),
    ("beforetabfileread", Phase::ToolCall),
    ("beforetool", Phase::ToolCall),
    ("prereadcode", Phase::ToolCall),
    ("prewritecode", Phase::ToolCall),
    ("preruncommand", Phase::ToolCall),
    ("premcptooluse", Phase::ToolCall),
    ("posttooluse", Phase::ToolResult),
    ("aftershellexecution", Phase::ToolResult),
    ("aftermcpexecution", Phase::ToolResult),
    ("afterfileedit", Phase::ToolResult),
    ("aftertabfileedit", Phase::ToolResult),
    ("aftertool", Phase::ToolResult),
    ("postreadcode", Phase::ToolResult),
    ("postwritecode", Phase::ToolResult),
    ("postruncommand", Phase::ToolResult),
    ("postmcptooluse", Phase::ToolResult),
    ("posttoolusefailure", Phase::ToolFailure),
    // Turns.
    ("stop", Phase::TurnEnd),
    ("agentstop", Phase::TurnEnd),
    ("afteragent", Phase::TurnEnd),
    ("agentturncomplete", Phase::TurnEnd),
    ("postcascaderesponsewithtranscript", Phase::TurnEnd),
    ("stopfailure", Phase::TurnFailure),
    ("erroroccurred", Phase::Failure),
    // Subagents.
    ("subagentstart", Phase::SubagentStart),
    ("subagentstop", Phase::SubagentStop),
    // Waiting on the user.
    ("permissionrequest", Phase::Waiting),
    ("elicitation", Phase::Waiting),
    // Everything else the agents document.
    ("permissiondenied", Phase::Other),
    ("notification", Phase::Other),
    ("precompact", Phase::Other),
    ("postcompact", Phase::Other),
    ("precompress", Phase::Other),
    ("setup", Phase::Other),
    ("instructionsloaded", Phase::Other),
    ("configchange", Phase::Other),
    ("cwdchanged", Phase::Other),
    ("directoryadded", Phase::Other),
    ("filechanged", Phase::Other),
    ("worktreecreate", Phase::Other),
    ("worktreeremove", Phase::Other),
    ("taskcreated", Phase::Other),
    ("taskcompleted", Phase::Other),
    ("teammateidle", Phase::Other),
    ("elicitationresult", Phase::Other),
    ("posttoolbatch", Phase::Other),
    ("workspaceopen", Phase::Other),
    ("sessiondelete", Phase::Other),
    ("todocreated", Phase::Other),
    ("todocompleted", Phase::Other),
    ("beforemodel", Phase::Other),
    ("aftermodel", Phase::Other),
    ("beforetoolselection", Phase::Other),
    ("postsetupworktree", Phase::Other),
];

/// The tool an event implies when its payload names none (Cursor's shell and
/// file hooks, Windsurf's actions), spelled as the agent's own matchers spell it.
const IMPLIED_TOOLS: &[(&str, &str)] = &[
    ("beforeshellexecution", "Shell"),
    ("aftershellexecution", "Shell"),
    ("beforereadfile", "Read"),
    ("afterfileedit", "Write"),
    ("beforetabfileread", "TabRead"),
    ("aftertabfileedit", "TabWrite"),
    ("preruncommand", "run_command"),
    ("postruncommand", "run_command"),
    ("prereadcode", "read_code"),
    ("postreadcode", "read_code"),
    ("prewritecode", "write_code"),
    ("postwritecode", "write_code"),
    ("premcptooluse", "mcp_tool"),
    ("postmcptooluse", "mcp_tool"),
];

pub fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

pub fn phase_of(name: &str) -> Phase {
    let key = normalize(name);
    EVENTS.iter().find(|(n, _)| *n == key).map_or(Phase::Unknown, |(_, phase)| *phase)
}

pub fn implied_tool(name: &str) -> Option<&'static str> {
    let key = normalize(name);
    IMPLIED_TOOLS.iter().find(|(n, _)| *n == key).map(|(_, tool)| *tool)
}

/// `PreToolUse` → `pre_tool_use`, `beforeMCPExecution` → `before_mcp_execution`,
/// `agent-turn-complete` → `agent_turn_complete`. Input is untrusted, so the
/// result keeps only `[a-z0-9_]` and at most 64 characters.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().take(64).collect();
    let mut out = String::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let after_lower = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            let acronym_end =
                prev.is_some_and(|p| p.is_ascii_uppercase()) && next.is_some_and(char::is_ascii_lowercase);
            if (after_lower || acronym_end) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_end_matches('_');
    if trimmed.is_empty() { "unknown".into() } else { trimmed.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_event_meet() {
        for name in ["PreToolUse", "preToolUse", "pre_tool_use", "BeforeTool", "beforeShellExecution"] {
            assert_eq!(phase_of(name), Phase::ToolCall, "{name}");
        }
        assert_eq!(phase_of("PostToolUseFailure"), Phase::ToolFailure);
        assert_eq!(phase_of("StopFailure").kind(), EventKind::Error);
        assert_eq!(phase_of("Stop"), Phase::TurnEnd);
        assert_eq!(phase_of("SessionEnd"), Phase::SessionEnd);
        assert_eq!(phase_of("beforeSubmitPrompt").kind(), EventKind::Message);
        assert_eq!(phase_of("PreCompact").kind(), EventKind::Lifecycle);
        assert_eq!(phase_of("SomethingNew").kind(), EventKind::Hook);
        assert_eq!(phase_of(""), Phase::Unknown);
    }

    #[test]
    fn every_row_is_normalised_and_unique() {
        for (i, (name, _)) in EVENTS.iter().enumerate() {
            assert_eq!(normalize(name), *name);
            assert!(EVENTS[i + 1..].iter().all(|(other, _)| other != name), "{name} twice");
        }
    }

    #[test]
    fn snake_case_handles_every_spelling() {
        assert_eq!(snake_case("PreToolUse"), "pre_tool_use");
        assert_eq!(snake_case("beforeMCPExecution"), "before_mcp_execution");
        assert_eq!(snake_case("agent-turn-complete"), "agent_turn_complete");
        assert_eq!(snake_case("pre_run_command"), "pre_run_command");
        assert_eq!(snake_case("../../etc"), "etc");
        assert_eq!(snake_case("💥"), "unknown");
    }
}
