//! `kaizen-hook install`: registers this binary in each agent's config, says
//! what in that config still stops the hooks from running, and with `--trust`
//! trusts them for the agents that ask (Codex).

use super::Run;
use crate::agents::{self, Agent, Trust};
use crate::config::Config;
use crate::install::toml_file::Saved;
use crate::install::{Format, Installer, Registration, config_file::ConfigFile, diff};
use clap::Args;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Install {
    #[arg(long = "agent", help = agent_help("every agent whose config directory exists"))]
    pub agents: Vec<String>,
    /// Show the changes, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The binary to register (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Also trust kaizen-hook's hooks where the agent runs only trusted ones
    /// (Codex: as its /hooks would, in config.toml).
    #[arg(long)]
    pub trust: bool,
}

/// `install`'s line in `--help`: the agents it supports, from the agent
/// table, so the help cannot go stale.
pub fn about() -> String {
    let titles: Vec<&str> = agents::installers().iter().map(|(a, _)| a.title).collect();
    format!("Register the hooks in each agent's config ({})", titles.join(", "))
}

/// `--agent`'s help, for install and uninstall.
pub(super) fn agent_help(default: &str) -> String {
    let names: Vec<&str> = agents::installers().iter().map(|(a, _)| a.name).collect();
    format!("Only this agent (repeatable): {}; default: {default}", names.join(", "))
}

/// The agents' configs are found from the user's home, not from the
/// settings (`config.home` is where events are recorded).
impl Run for Install {
    fn run(&self, _: &Config) -> ExitCode {
        let Some(home) = crate::config::home_dir() else {
            eprintln!("kaizen-hook install: HOME is not set");
            return ExitCode::FAILURE;
        };
        let binary = match self.binary.clone().map_or_else(std::env::current_exe, Ok) {
            Ok(path) => std::fs::canonicalize(&path).unwrap_or(path),
            Err(e) => {
                eprintln!("kaizen-hook install: cannot tell where this binary is: {e}");
                return ExitCode::FAILURE;
            }
        };
        let targets = match chosen(&self.agents, &home) {
            Ok(targets) => targets,
            Err(e) => {
                eprintln!("kaizen-hook install: {e}");
                return ExitCode::FAILURE;
            }
        };
        let registration = Registration { binary };
        let mut ok = true;
        for (agent, installer) in targets {
            ok &= self.install_agent(agent, installer, &home, &registration);
        }
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

impl Install {
    /// Registers, trusts when asked, then warns about what would still keep
    /// the hooks from running. False when something failed.
    fn install_agent(&self, agent: &Agent, installer: &Installer, home: &Path, registration: &Registration) -> bool {
        let hooks = match self.install_one(installer, home, registration, agent.name) {
            Ok((message, hooks)) => {
                println!("{}: {message}", agent.name);
                hooks
            }
            Err(e) => {
                println!("{}: NOT registered: {e}", agent.name);
                return false;
            }
        };
        let mut ok = true;
        if let Some(trust) = agents::trust(agent).filter(|_| self.trust) {
            match self.trust_one(trust, home, &hooks) {
                Ok(message) => println!("{}: {message}", agent.name),
                Err(e) => {
                    println!("{}: NOT trusted: {e}", agent.name);
                    ok = false;
                }
            }
        }
        if !self.dry_run {
            for problem in (agent.config_problems)(home) {
                println!("{}: warning: {problem}", agent.name);
            }
        }
        ok
    }

    /// What happened, and the agent's hook config as install leaves it.
    fn install_one(
        &self,
        installer: &Installer,
        home: &Path,
        registration: &Registration,
        agent: &str,
    ) -> Result<(String, Value), String> {
        let path = installer.path(home);
        if let Format::Files(files) = &installer.format {
            return Ok((files.install(&path, &registration.binary, self.dry_run)?, Value::Null));
        }
        if let Format::TomlHooks(toml) = &installer.format {
            return Ok((toml.install(&path, registration, agent, self.dry_run)?, Value::Null));
        }
        let file = ConfigFile::load(&path)?;
        let mut value = file.value.clone();
        installer.register(&mut value, registration, agent)?;
        let new = file.render(&value);
        if file.original.as_deref() == Some(new.as_slice()) {
            return Ok((format!("already registered in {} (unchanged)", path.display()), value));
        }
        if self.dry_run {
            let old = String::from_utf8_lossy(file.original.as_deref().unwrap_or_default());
            let changes = diff::render(&old, &String::from_utf8_lossy(&new));
            return Ok((format!("would change {} (dry run, nothing written):\n{changes}", path.display()), value));
        }
        file.write(&new)?;
        let backup = match file.original {
            Some(_) => format!("; previous version kept as {}", file.backup_path().display()),
            None => String::new(),
        };
        let note = installer.note.map(|n| format!("\n  note: {n}")).unwrap_or_default();
        let message = format!("registered {} events in {}{backup}{note}", installer.events().len(), path.display());
        Ok((message, value))
    }

    fn trust_one(&self, trust: &Trust, home: &Path, hooks: &Value) -> Result<String, String> {
        let file = (trust.trust)(home, hooks)?;
        let path = file.path.display();
        Ok(match file.save(self.dry_run)? {
            Saved::Unchanged => format!("kaizen-hook's hooks already trusted in {path} (unchanged)"),
            Saved::WouldChange(changes) => {
                format!("would trust kaizen-hook's hooks in {path} (dry run, nothing written):\n{changes}")
            }
            Saved::Written { backup } => format!("trusted kaizen-hook's hooks in {path}{backup}"),
        })
    }
}

/// The named agents, or every agent whose config directory exists (Claude
/// Code when none does), each with its installer.
pub fn chosen(names: &[String], home: &Path) -> Result<Vec<(&'static Agent, &'static Installer)>, String> {
    let installable = agents::installers();
    if names.is_empty() {
        let present: Vec<_> = installable.iter().copied().filter(|(_, i)| (i.dir)(home).is_dir()).collect();
        return Ok(if present.is_empty() { vec![installable[0]] } else { present });
    }
    names
        .iter()
        .map(|name| {
            installable.iter().copied().find(|(a, _)| a.name == name).ok_or_else(|| {
                let known: Vec<_> = installable.iter().map(|(a, _)| a.name).collect();
                format!("unknown agent {name:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}
