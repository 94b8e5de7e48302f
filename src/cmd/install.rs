//! `kaizen-hook install`: registers this binary in each agent's config.

use crate::agents::{self, Agent};
use crate::install::{Installer, Registration, config_file::ConfigFile, diff};
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
            match self.install_one(agent, installer, &home, &registration) {
                Ok(message) => println!("{}: {message}", agent.name),
                Err(e) => {
                    println!("{}: NOT registered: {e}", agent.name);
                    ok = false;
                }
            }
        }
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }

    fn install_one(
        &self,
        agent: &Agent,
        installer: &Installer,
        home: &Path,
        registration: &Registration,
    ) -> Result<String, String> {
        let path = installer.path(home);
        let file = ConfigFile::load(&path)?;
        let mut value = file.value.clone();
        installer.register(&mut value, registration, agent.name)?;
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
        let note = installer.note.map(|n| format!("\n  note: {n}")).unwrap_or_default();
        Ok(format!("registered {} events in {}{backup}{note}", installer.events().len(), path.display()))
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
