//! One file per subcommand. A human command's clap arguments are its own
//! type, which runs it (`Run`); the hook subcommands take `hook::HookRun`,
//! from the fast path in `cli::hook_fast` or from clap.

use crate::config::Config;
use crate::event::SessionStatus;
use crate::report::{Loaded, load_sessions};
use crate::store::SessionFiles;
use std::path::Path;
use std::process::ExitCode;

pub mod cli;
pub mod compare;
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

/// Every session under `home`, the ends of those whose agent is gone
/// written first and what their transcripts added since last read counted
/// (`report::load_sessions` only reads). The records are read again only
/// when something was written. Problems go to stderr, named by `who`.
fn settled_sessions(config: &Config, home: &Path, who: &str) -> Loaded {
    let loaded = load_sessions(home);
    let open = loaded.rows.iter().filter(|r| r.status != SessionStatus::Done).map(|r| r.id.as_str());
    let (settled, mut problems) = crate::inferred_end::settle_listed(config, open);
    let all = loaded.rows.iter().map(|r| SessionFiles::from_key(home, &r.key));
    let (counted, more) = crate::inferred_end::catch_up_listed(config, all);
    problems.extend(more);
    for problem in problems {
        eprintln!("kaizen-hook {who}: {problem}");
    }
    if settled || counted { load_sessions(home) } else { loaded }
}
