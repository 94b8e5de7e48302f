//! The command line. Hook subcommands are what agent configs call; they
//! accept `--agent`, `--event` and an optional payload as the last argument.

use crate::cmd::{self, Run};
use crate::config::Config;
use crate::phase::Category;
use clap::error::ErrorKind;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

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
    /// What agent configs call.
    #[command(flatten)]
    Hook(HookCommand),
    /// What a person types.
    #[command(flatten)]
    Human(Human),
}

/// Words that mean a person is at the keyboard: clap may print and exit then.
/// Every human subcommand must be here (a test checks it against clap), or
/// its panics go to the hook log.
pub const HUMAN_WORDS: &[&str] = &[
    "help",
    "--help",
    "-h",
    "--version",
    "-V",
    "install",
    "uninstall",
    "doctor",
    "sessions",
    "show",
    "report",
    "compare",
    "export",
];

/// The human commands: each is its own arguments, and runs itself.
#[derive(Subcommand)]
pub enum Human {
    #[command(about = cmd::install::about())]
    Install(cmd::install::Install),
    /// Remove exactly the entries install added.
    Uninstall(cmd::uninstall::Uninstall),
    /// Check that the hooks are registered, firing and writing.
    Doctor(cmd::doctor::Doctor),
    /// List recorded sessions, newest first.
    Sessions(cmd::sessions::Sessions),
    /// Show one session: header, timeline, tool summary.
    Show(cmd::show::Show),
    /// Tokens and cost by model, day, agent, branch or commit; sessions by guidance version.
    Report(cmd::report::Report),
    /// Did the change help? Sessions before and after a change to the agent's guidance.
    Compare(cmd::compare::Compare),
    /// Send events not yet exported to an OpenTelemetry collector (OTLP/HTTP logs).
    Export(cmd::export::Export),
}

impl Run for Human {
    fn run(&self, config: &Config) -> ExitCode {
        let command: &dyn Run = match self {
            Human::Install(c) => c,
            Human::Uninstall(c) => c,
            Human::Doctor(c) => c,
            Human::Sessions(c) => c,
            Human::Show(c) => c,
            Human::Report(c) => c,
            Human::Compare(c) => c,
            Human::Export(c) => c,
        };
        command.run(config)
    }
}

/// A hook subcommand: one per `Category`, named by `Category::subcommand`,
/// each taking `HookArgs`.
#[derive(Debug)]
pub struct HookCommand {
    pub category: Category,
    pub args: HookArgs,
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

/// Each hook subcommand's line in `--help`.
fn hook_about(category: Category) -> &'static str {
    match category {
        Category::SessionStart => "Hook: a session starts or resumes",
        Category::SessionEnd => "Hook: a session ends",
        Category::Prompt => "Hook: the user submits a prompt",
        Category::ToolUse => "Hook: before or after a tool call",
        Category::Stop => "Hook: the agent finished a turn",
        Category::Subagent => "Hook: a subagent starts or stops",
        Category::Event => "Hook: any other event",
    }
}

impl HookCommand {
    fn subcommands(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
        Category::ALL.into_iter().fold(cmd, |cmd, category| {
            let hook = augment(clap::Command::new(category.subcommand()));
            cmd.subcommand(hook.about(hook_about(category)).long_about(None))
        })
    }
}

/// By hand rather than derived, so that the hook subcommands are exactly
/// `Category::ALL`'s words, the words the fast path reads.
impl Subcommand for HookCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        HookCommand::subcommands(cmd, HookArgs::augment_args)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        HookCommand::subcommands(cmd, HookArgs::augment_args_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        Category::from_subcommand(name).is_some()
    }
}

impl FromArgMatches for HookCommand {
    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<HookCommand, clap::Error> {
        let not_hook = || clap::Error::raw(ErrorKind::InvalidSubcommand, "not a hook subcommand");
        let (word, mut args) = matches.remove_subcommand().ok_or_else(not_hook)?;
        let category = Category::from_subcommand(&word).ok_or_else(not_hook)?;
        Ok(HookCommand { category, args: HookArgs::from_arg_matches_mut(&mut args)? })
    }

    fn from_arg_matches(matches: &ArgMatches) -> Result<HookCommand, clap::Error> {
        HookCommand::from_arg_matches_mut(&mut matches.clone())
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        *self = HookCommand::from_arg_matches_mut(matches)?;
        Ok(())
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.update_from_arg_matches_mut(&mut matches.clone())
    }
}

/// Best effort for arguments clap refused (a newer config, a typo): the
/// category from the first word, `--agent`/`--event` wherever they are.
pub fn salvage(args: &[String]) -> HookCommand {
    let category = args.get(1).and_then(|word| Category::from_subcommand(word)).unwrap_or(Category::Event);
    let flag = |name: &str| {
        let eq = format!("{name}=");
        args.iter()
            .enumerate()
            .find_map(|(i, a)| if a == name { args.get(i + 1).cloned() } else { a.strip_prefix(&eq).map(String::from) })
    };
    HookCommand { category, args: HookArgs { agent: flag("--agent"), event: flag("--event"), payload: None } }
}

/// The hook subcommands' usual arguments read without clap, whose parser
/// (built for every subcommand) is a large part of a hook run's start-up:
/// `<hook> [--agent A] [--event E] [PAYLOAD]`, each flag at most once, values
/// not starting with `-`. Anything else is `None`, and clap decides.
pub fn hook_fast(args: &[String]) -> Option<HookCommand> {
    let category = Category::from_subcommand(args.get(1)?)?;
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
    Some(HookCommand { category, args: hook })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
            let clap = match Cli::try_parse_from(&args).map(|cli| cli.command) {
                Ok(Command::Hook(hook)) => Some(hook),
                _ => None,
            };
            let describe = |hook: Option<HookCommand>| hook.map(|hook| format!("{hook:?}"));
            if let Some(fast) = hook_fast(&args) {
                assert_eq!(describe(Some(fast)), describe(clap), "{case:?}");
            }
        }
        assert!(hook_fast(&["k".into(), "tool-use".into(), "--agent".into(), "claude".into()]).is_some());
    }

    /// A human subcommand missing from HUMAN_WORDS would send a person's
    /// panics to the hook log; a hook subcommand off the fast path would pay
    /// for clap on every run. Hooks are told apart by their arguments
    /// (exactly `HookArgs`), not by the lists under test.
    #[test]
    fn every_subcommand_is_a_hook_on_the_fast_path_or_a_human_word() {
        let mut cli = Cli::command();
        cli.build();
        let ids = |command: &clap::Command| -> Vec<String> {
            command.get_arguments().map(|a| a.get_id().as_str().to_string()).filter(|id| id != "help").collect()
        };
        let hook_ids = ids(&HookArgs::augment_args(clap::Command::new("hook")));
        let mut hooks = Vec::new();
        for sub in cli.get_subcommands() {
            let word = sub.get_name();
            let fast = hook_fast(&["kaizen-hook".to_string(), word.to_string()]);
            if ids(sub) == hook_ids {
                hooks.push(word);
                assert!(fast.is_some(), "the hook subcommand {word} is not on the fast path");
                assert!(!HUMAN_WORDS.contains(&word), "the hook subcommand {word} is in HUMAN_WORDS");
            } else {
                assert!(HUMAN_WORDS.contains(&word), "the human subcommand {word} is missing from HUMAN_WORDS");
                assert!(fast.is_none(), "the fast path takes {word}, which is no hook");
            }
        }
        assert_eq!(hooks, Category::ALL.map(Category::subcommand), "the fast path's words are clap's hooks");
        assert!(hooks.len() == 7 && cli.get_subcommands().count() > 7 + 7, "too few subcommands to prove anything");
        // The rest of HUMAN_WORDS are the flags a person types: --help, -V...
        let flags: Vec<String> = cli
            .get_arguments()
            .flat_map(|a| [a.get_long().map(|l| format!("--{l}")), a.get_short().map(|s| format!("-{s}"))])
            .flatten()
            .collect();
        for flag in &flags {
            assert!(HUMAN_WORDS.contains(&flag.as_str()), "the flag {flag} is missing from HUMAN_WORDS");
        }
        for word in HUMAN_WORDS {
            let known = cli.find_subcommand(word).is_some() || flags.iter().any(|f| f == word);
            assert!(known, "HUMAN_WORDS has {word}, which clap does not know");
        }
    }
}
