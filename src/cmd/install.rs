//! `kaizen-hook install`: registers this binary in each agent's config.

use crate::install::{self, Registration, Target, config_file::ConfigFile, diff};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub struct Install {
    pub agents: Vec<String>,
    pub dry_run: bool,
    pub binary: Option<PathBuf>,
}

impl Install {
    pub fn run(&self) -> ExitCode {
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
        let targets = match chosen_targets(&self.agents, &home) {
            Ok(targets) => targets,
            Err(e) => {
                eprintln!("kaizen-hook install: {e}");
                return ExitCode::FAILURE;
            }
        };
        let registration = Registration { binary };
        let mut ok = true;
        for target in targets {
            match self.install_one(target, &home, &registration) {
                Ok(message) => println!("{}: {message}", target.agent),
                Err(e) => {
                    println!("{}: NOT registered: {e}", target.agent);
                    ok = false;
                }
            }
        }
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }

    fn install_one(&self, target: &Target, home: &Path, registration: &Registration) -> Result<String, String> {
        let path = target.path(home);
        let file = ConfigFile::load(&path)?;
        let mut value = file.value.clone();
        target.register(&mut value, registration)?;
        let new = file.render(&value);
        if file.original.as_deref() == Some(new.as_slice()) {
            return Ok(format!("already registered in {} (unchanged)", path.display()));
        }
        if self.dry_run {
            let old = String::from_utf8_lossy(file.original.as_deref().unwrap_or_default());
            let changes = diff::render(&old, &String::from_utf8_lossy(&new));
            return Ok(format!("would change {} (dry run, nothing written):\n{changes}", path.display()));
        }
        file.write(&new)?;
        let backup = match file.original {
            Some(_) => format!("; previous version kept as {}", file.backup_path().display()),
            None => String::new(),
        };
        let note = target.note.map(|n| format!("\n  note: {n}")).unwrap_or_default();
        Ok(format!("registered {} events in {}{backup}{note}", target.event_count(), path.display()))
    }
}

/// The named agents, or every agent whose config directory exists (Claude
/// Code when none does).
pub fn chosen_targets(agents: &[String], home: &Path) -> Result<Vec<&'static Target>, String> {
    if agents.is_empty() {
        let present: Vec<_> = install::TARGETS.iter().filter(|t| (t.dir)(home).is_dir()).collect();
        return Ok(if present.is_empty() { vec![&install::TARGETS[0]] } else { present });
    }
    agents
        .iter()
        .map(|name| {
            install::target(name).ok_or_else(|| {
                let known: Vec<_> = install::TARGETS.iter().map(|t| t.agent).collect();
                format!("unknown agent {name:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}
