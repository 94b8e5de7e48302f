//! The command line. Hook subcommands are what agent configs call; they
//! accept `--agent`, `--event` and an optional payload as the last argument.

use crate::agents;
use crate::phase::Category;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kaizen-hook",
    version,
    about = "Records coding-agent hook events into $KAIZEN_HOME (default ~/.kaizen)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Hook: a session starts or resumes.
    SessionStart(HookArgs),
    /// Hook: a session ends.
    SessionEnd(HookArgs),
    /// Hook: the user submits a prompt.
    Prompt(HookArgs),
    /// Hook: before or after a tool call.
    ToolUse(HookArgs),
    /// Hook: the agent finished a turn.
    Stop(HookArgs),
    /// Hook: a subagent starts or stops.
    Subagent(HookArgs),
    /// Hook: any other event.
    Event(HookArgs),
    #[command(about = install_about())]
    Install(InstallArgs),
    /// Remove exactly the entries install added.
    Uninstall(UninstallArgs),
    /// Check that the hooks are registered, firing and writing.
    Doctor,
    /// List recorded sessions, newest first.
    Sessions(SessionsArgs),
    /// Show one session: header, timeline, tool summary.
    Show(ShowArgs),
    /// Tokens and cost by model, day, agent, branch or commit.
    Report(ReportArgs),
    /// Send events not yet exported to an OpenTelemetry collector (OTLP/HTTP logs).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The collector's OTLP/HTTP base URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT, else
    /// http://localhost:4318); /v1/logs is added unless the URL ends with it.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// http/protobuf (default) or http/json (default: $OTEL_EXPORTER_OTLP_PROTOCOL).
    #[arg(long)]
    pub protocol: Option<String>,
    /// Keep running and ship new events as they land.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Group by: model, day, agent, branch, or commit (the turns that ran on
    /// each commit, and the turns that produced it).
    #[arg(long, default_value = "model")]
    pub by: String,
    /// Only events of this long ago: 30m, 2h, 7d, 2w.
    #[arg(long)]
    pub since: Option<String>,
    /// Machine-readable output (stable; see README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SessionsArgs {
    /// Only this agent's sessions.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only sessions in this directory (or below it).
    #[arg(long)]
    pub workspace: Option<String>,
    /// Only sessions active in this long: 30m, 2h, 7d, 2w.
    #[arg(long)]
    pub since: Option<String>,
    /// Machine-readable output (stable; see README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// A session id, or a unique prefix of one.
    pub id: String,
    /// Machine-readable output (stable; see README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[arg(long = "agent", help = agent_help("every agent whose config directory exists"))]
    pub agents: Vec<String>,
    /// Show the changes, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The binary to register (default: this one).
    #[arg(long)]
    pub binary: Option<std::path::PathBuf>,
    /// Also trust kaizen-hook's hooks where the agent runs only trusted ones
    /// (Codex: as its /hooks would, in config.toml).
    #[arg(long)]
    pub trust: bool,
}

#[derive(Args, Debug)]
pub struct UninstallArgs {
    #[arg(long = "agent", help = agent_help("all"))]
    pub agents: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct HookArgs {
    /// The agent this hook is registered for (the payload's own evidence wins).
    #[arg(long)]
    pub agent: Option<String>,
    /// The event name, for agents whose payloads carry none.
    #[arg(long)]
    pub event: Option<String>,
    /// The payload itself, for agents that pass it as the last argument (Codex `notify`).
    pub payload: Option<String>,
}

/// The agents `install` supports, from the agent table, so the help cannot go stale.
fn install_about() -> String {
    let titles: Vec<&str> = agents::installers().iter().map(|(a, _)| a.title).collect();
    format!("Register the hooks in each agent's config ({})", titles.join(", "))
}

fn agent_help(default: &str) -> String {
    let names: Vec<&str> = agents::installers().iter().map(|(a, _)| a.name).collect();
    format!("Only this agent (repeatable): {}; default: {default}", names.join(", "))
}

impl Command {
    /// The hook category and arguments, for the hook subcommands only.
    pub fn hook(self) -> Result<(Category, HookArgs), Command> {
        Ok(match self {
            Command::SessionStart(a) => (Category::SessionStart, a),
            Command::SessionEnd(a) => (Category::SessionEnd, a),
            Command::Prompt(a) => (Category::Prompt, a),
            Command::ToolUse(a) => (Category::ToolUse, a),
            Command::Stop(a) => (Category::Stop, a),
            Command::Subagent(a) => (Category::Subagent, a),
            Command::Event(a) => (Category::Event, a),
            human => return Err(human),
        })
    }
}

/// Best effort for arguments clap refused (a newer config, a typo): the
/// category from the first word, `--agent`/`--event` wherever they are.
pub fn salvage(args: &[String]) -> (Category, HookArgs) {
    let category = match args.get(1).map(String::as_str) {
        Some("session-start") => Category::SessionStart,
        Some("session-end") => Category::SessionEnd,
        Some("prompt") => Category::Prompt,
        Some("tool-use") => Category::ToolUse,
        Some("stop") => Category::Stop,
        Some("subagent") => Category::Subagent,
        _ => Category::Event,
    };
    let flag = |name: &str| {
        let eq = format!("{name}=");
        args.iter()
            .enumerate()
            .find_map(|(i, a)| if a == name { args.get(i + 1).cloned() } else { a.strip_prefix(&eq).map(String::from) })
    };
    (category, HookArgs { agent: flag("--agent"), event: flag("--event"), payload: None })
}

/// The hook subcommands' usual arguments read without clap, whose parser
/// (built for every subcommand) is a large part of a hook run's start-up:
/// `<hook> [--agent A] [--event E] [PAYLOAD]`, each flag at most once, values
/// not starting with `-`. Anything else is `None`, and clap decides.
pub fn hook_fast(args: &[String]) -> Option<(Category, HookArgs)> {
    let category = match args.get(1)?.as_str() {
        "session-start" => Category::SessionStart,
        "session-end" => Category::SessionEnd,
        "prompt" => Category::Prompt,
        "tool-use" => Category::ToolUse,
        "stop" => Category::Stop,
        "subagent" => Category::Subagent,
        "event" => Category::Event,
        _ => return None,
    };
    let mut hook = HookArgs::default();
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        let (slot, value) = match arg.split_once('=') {
            Some(("--agent", v)) => (&mut hook.agent, v.to_string()),
            Some(("--event", v)) => (&mut hook.event, v.to_string()),
            _ if arg == "--agent" => (&mut hook.agent, rest.next()?.clone()),
            _ if arg == "--event" => (&mut hook.event, rest.next()?.clone()),
            _ if arg.starts_with('-') || arg.is_empty() => return None,
            _ => (&mut hook.payload, arg.clone()),
        };
        if slot.is_some() || value.starts_with('-') || value.is_empty() {
            return None;
        }
        *slot = Some(value);
    }
    Some((category, hook))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wherever the fast path answers, it answers what clap would.
    #[test]
    fn the_fast_path_agrees_with_clap() {
        let cases: &[&[&str]] = &[
            &["tool-use"],
            &["tool-use", "--agent", "claude"],
            &["stop", "--agent=codex", "--event", "Stop"],
            &["event", "--agent", "codex", "--event", "notify", "{\"type\":\"x\"}"],
            &["prompt", "{}", "--agent", "cursor"],
            &["session-start", "--agent", "a", "--agent", "b"],
            &["tool-use", "--agent"],
            &["tool-use", "--bogus"],
            &["tool-use", "a", "b"],
            &["tool-use", "--", "x"],
            &["doctor"],
            &["install", "--agent", "claude"],
        ];
        for case in cases {
            let args: Vec<String> =
                std::iter::once("kaizen-hook").chain(case.iter().copied()).map(String::from).collect();
            let clap = Cli::try_parse_from(&args).ok().and_then(|cli| cli.command.hook().ok());
            let describe = |r: Option<(Category, HookArgs)>| r.map(|(c, a)| format!("{c:?} {a:?}"));
            if let Some(fast) = hook_fast(&args) {
                assert_eq!(describe(Some(fast)), describe(clap), "{case:?}");
            }
        }
        assert!(hook_fast(&["k".into(), "tool-use".into(), "--agent".into(), "claude".into()]).is_some());
    }
}
