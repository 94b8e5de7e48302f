//! The vocabulary every layer shares: what an event can mean (`Phase`), the
//! hook subcommand it came through (`Category`), and how event names are
//! compared: normalised (ASCII letters and digits, lower case), so
//! `PreToolUse`, `preToolUse` and `pre_tool_use` are one name. Each agent's
//! own names are in its file under `crate::agents`. A leaf (it uses only the
//! seed's `event`), so `agents`, `recognize`, `store` and `transcript` can all
//! use it without depending on each other.

use crate::event::EventKind;

/// The hook subcommand an agent config calls: the event's category when the
/// payload names no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    SessionStart,
    SessionEnd,
    Prompt,
    ToolUse,
    Stop,
    Subagent,
    Event,
}

impl Category {
    /// Every category, in the order `--help` lists their subcommands.
    pub const ALL: [Category; 7] = [
        Category::SessionStart,
        Category::SessionEnd,
        Category::Prompt,
        Category::ToolUse,
        Category::Stop,
        Category::Subagent,
        Category::Event,
    ];

    /// The word agent configs call it by (installed configs hold it: stable).
    pub fn subcommand(self) -> &'static str {
        match self {
            Category::SessionStart => "session-start",
            Category::SessionEnd => "session-end",
            Category::Prompt => "prompt",
            Category::ToolUse => "tool-use",
            Category::Stop => "stop",
            Category::Subagent => "subagent",
            Category::Event => "event",
        }
    }

    /// The category a hook subcommand's word names: `subcommand` read backwards.
    pub fn from_subcommand(word: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|category| category.subcommand() == word)
    }
}

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
    pub const ALL: &[Phase] = &[
        Phase::SessionStart,
        Phase::SessionEnd,
        Phase::Prompt,
        Phase::AgentOutput,
        Phase::ToolCall,
        Phase::ToolResult,
        Phase::ToolFailure,
        Phase::TurnEnd,
        Phase::TurnFailure,
        Phase::Failure,
        Phase::SubagentStart,
        Phase::SubagentStop,
        Phase::Waiting,
        Phase::Other,
        Phase::Unknown,
    ];

    /// The phase a recorded name (`payload.phase`) stands for.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Where a session or a turn starts or ends.
    pub const BOUNDARIES: &[Phase] = &[Phase::SessionStart, Phase::SessionEnd, Phase::TurnEnd, Phase::TurnFailure];

    /// The phase as recorded (`payload.phase`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::SessionStart => "session_start",
            Phase::SessionEnd => "session_end",
            Phase::Prompt => "prompt",
            Phase::AgentOutput => "agent_output",
            Phase::ToolCall => "tool_call",
            Phase::ToolResult => "tool_result",
            Phase::ToolFailure => "tool_failure",
            Phase::TurnEnd => "turn_end",
            Phase::TurnFailure => "turn_failure",
            Phase::Failure => "failure",
            Phase::SubagentStart => "subagent_start",
            Phase::SubagentStop => "subagent_stop",
            Phase::Waiting => "waiting",
            Phase::Other => "other",
            Phase::Unknown => "unknown",
        }
    }

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

pub fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
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
    fn every_phase_is_found_by_its_recorded_name() {
        for &phase in Phase::ALL {
            assert_eq!(Phase::from_name(phase.name()), Some(phase));
        }
        assert_eq!(Phase::from_name("no_such_phase"), None);
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
