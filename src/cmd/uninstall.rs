//! `kaizen-hook uninstall`: removes exactly our entries, and the trust that
//! `install --trust` gave them. When what remains is the settings as they
//! were before install, the original bytes come back.

use super::Run;
use crate::agents::{self, Agent};
use crate::config::Config;
use crate::install::{self, Format, Installer, config_file::ConfigFile, toml_file::TomlFile};
use clap::Args;
use std::path::Path;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Uninstall {
    #[arg(long = "agent", help = super::install::agent_help("all"))]
    pub agents: Vec<String>,
}

/// Like install, it finds the agents' configs from the user's home.
impl Run for Uninstall {
    fn run(&self, _: &Config) -> ExitCode {
        let Some(home) = crate::config::home_dir() else {
            eprintln!("kaizen-hook uninstall: HOME is not set");
            return ExitCode::FAILURE;
        };
        let targets = if self.agents.is_empty() {
            crate::agents::installers()
        } else {
            match super::install::chosen(&self.agents, &home) {
                Ok(targets) => targets,
                Err(e) => {
                    eprintln!("kaizen-hook uninstall: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        let mut ok = true;
        for (agent, installer) in targets {
            match uninstall_one(agent, installer, &home) {
                Ok(message) => println!("{}: {message}", agent.name),
                Err(e) => {
                    println!("{}: {e}", agent.name);
                    ok = false;
                }
            }
        }
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

fn uninstall_one(agent: &Agent, installer: &Installer, home: &Path) -> Result<String, String> {
    let path = installer.path(home);
    if let Format::Files(files) = &installer.format {
        return files.uninstall(&path);
    }
    if let Format::TomlHooks(toml) = &installer.format {
        return toml.uninstall(&path);
    }
    if !path.exists() {
        return Ok(format!("nothing to remove ({} does not exist)", path.display()));
    }
    let file = ConfigFile::load(&path)?;
    let mut value = file.value.clone();
    let removed = installer.unregister(&mut value);
    if removed == 0 {
        return Ok(format!("nothing to remove in {}", path.display()));
    }
    // Read before anything is written, so a config that cannot be edited stops us early.
    let trust = match agents::trust(agent) {
        Some(trust) => (trust.forget)(home, &file.value, &value)?,
        None => None,
    };
    let backup = std::fs::read(file.backup_path()).ok();
    let message = if backup.is_none() && install::same_settings(&value, &serde_json::json!({})) {
        // Install created this file (it kept no backup) and nothing else is in it.
        std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        format!("removed {removed} entries and {}, which install had created", path.display())
    } else {
        let original = backup
            .filter(|bytes| serde_json::from_slice(bytes).is_ok_and(|before| install::same_settings(&before, &value)));
        let restored = original.is_some();
        file.write(&original.unwrap_or_else(|| file.render(&value)))?;
        let how = if restored { "; the file is back to its state before install" } else { "" };
        format!("removed {removed} entries from {}{how}", path.display())
    };
    match trust {
        Some(trust) => Ok(message + &write_forgotten(&trust)?),
        None => Ok(message),
    }
}

/// Writes the config without our entries' trust, or removes it when
/// `install --trust` created it and nothing else is in it; says which.
fn write_forgotten(file: &TomlFile) -> Result<String, String> {
    if file.doc.to_string().trim().is_empty() && !file.backup_path().exists() {
        std::fs::remove_file(&file.path).map_err(|e| format!("cannot remove {}: {e}", file.path.display()))?;
        return Ok(format!("; removed {}, which install --trust had created", file.path.display()));
    }
    file.write()?;
    Ok(format!("; removed their trust from {}", file.path.display()))
}
