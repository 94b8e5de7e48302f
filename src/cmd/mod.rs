//! One file per subcommand. A human command's clap arguments are its own
//! type, which runs it (`Run`); the hook subcommands take `hook::HookRun`,
//! from the fast path in `cli::hook_fast` or from clap.

use crate::config::Config;
use std::process::ExitCode;

pub mod cli;
pub mod doctor;
pub mod export;
pub mod hook;
pub mod install;
pub mod report;
pub mod sessions;
pub mod show;
pub mod uninstall;

/// A human command, run with the settings `main` read once.
pub trait Run {
    fn run(&self, config: &Config) -> ExitCode;
}
