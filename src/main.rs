//! kaizen-hook: the capture half of kaizen. See README.md.

mod cli;
mod cmd;
mod config;
mod enrich;
mod event;
mod fit;
mod hash;
mod input;
mod lifecycle;
mod log;
mod recognize;
mod redact;
mod store;
mod time;

use clap::Parser;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Instant;

/// Words that mean a person is at the keyboard: errors may be shown then.
const HUMAN_WORDS: &[&str] = &["help", "--help", "-h", "--version", "-V"];

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let parsed = cli::Cli::try_parse_from(&args);
    let (category, hook_args) = match parsed {
        Ok(cli) => cli.command.hook(),
        Err(e) if args.len() < 2 || HUMAN_WORDS.contains(&args[1].as_str()) => e.exit(),
        Err(e) => {
            let home = config::Config::from_env().home;
            log::write(&home, &format!("arguments not understood, recording anyway: {}", e.kind()));
            cli::salvage(&args)
        }
    };
    run_hook(category, hook_args, started);
    ExitCode::SUCCESS
}

/// A hook run never fails in the agent's eyes: panics are caught and logged,
/// and the exit status is 0 whatever happened.
fn run_hook(category: recognize::Category, args: cli::HookArgs, started: Instant) {
    let home = config::Config::from_env().home;
    panic::set_hook(Box::new(move |info| log::write(&home, &format!("panic: {info}"))));
    let run = cmd::hook::HookRun { category, agent: args.agent, event: args.event, payload: args.payload };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| run.run(started)));
}
