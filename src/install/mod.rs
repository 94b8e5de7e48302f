//! Registering kaizen-hook in the agents' own config files: the mechanism,
//! one file per config format. Which agents there are, and where each keeps
//! its config, is in `crate::agents`: the commands hand the agent in. Our
//! entries are recognised by the program they run (`.../kaizen-hook`), so
//! installing again updates them in place and uninstalling removes exactly them.

pub mod config_file;
pub mod diff;
pub mod files;
pub mod flat;
pub mod nested;
pub mod toml_file;
pub mod toml_hooks;

use crate::phase::Category;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The per-hook timeout we register, in seconds: a run takes milliseconds and
/// gives up by itself after `KAIZEN_HOOK_BUDGET_MS`; this only bounds the worst case.
pub const TIMEOUT_SECONDS: u64 = 5;

/// Where one agent keeps its hooks, and in which format.
pub struct Installer {
    /// The agent's config directory under the user's home; it existing means the agent is there.
    pub dir: fn(&Path) -> PathBuf,
    pub file: &'static str,
    pub format: Format,
    /// What the user still has to do after install, if anything.
    pub note: Option<&'static str>,
}

/// How an agent's config holds its hooks.
pub enum Format {
    /// Claude Code's event → matcher group → handlers (also Codex, Gemini CLI).
    Nested(nested::Nested),
    /// Cursor's event → flat entries, with `"version": 1`.
    Flat(flat::Flat),
    /// Files of their own in a directory (Cline's hook scripts, OpenCode's plugin).
    Files(files::Files),
    /// `[[hooks]]` tables in a TOML file (Kimi Code, Mistral Vibe).
    TomlHooks(toml_hooks::TomlHooks),
}

impl Installer {
    pub fn path(&self, home: &Path) -> PathBuf {
        (self.dir)(home).join(self.file)
    }

    /// Adds or updates our entries for `agent`; fails, changing nothing, on a shape it cannot safely edit.
    pub fn register(&self, config: &mut Value, registration: &Registration, agent: &str) -> Result<(), String> {
        match &self.format {
            Format::Nested(nested) => nested.register(config, registration, agent),
            Format::Flat(flat) => flat.register(config, registration, agent),
            Format::Files(_) => Err("its hooks are files of their own, not entries in a config".into()),
            Format::TomlHooks(_) => Err("its hooks are in a TOML file, not a JSON config".into()),
        }
    }

    /// Removes our entries; returns how many.
    pub fn unregister(&self, config: &mut Value) -> usize {
        match &self.format {
            Format::Nested(_) => nested::unregister(config),
            Format::Flat(_) => flat::unregister(config),
            Format::Files(_) => 0,
            Format::TomlHooks(_) => 0,
        }
    }

    /// The events where we are registered, with the command registered there.
    pub fn registered(&self, config: &Value) -> Vec<(String, String)> {
        match &self.format {
            Format::Nested(_) => nested::registered(config),
            Format::Flat(_) => flat::registered(config),
            Format::Files(_) => Vec::new(),
            Format::TomlHooks(_) => Vec::new(),
        }
    }

    /// The agent events `register` adds, with the subcommand each runs.
    pub fn events(&self) -> &'static [(&'static str, Category)] {
        match &self.format {
            Format::Nested(nested) => nested.events,
            Format::Flat(flat) => flat.events,
            Format::Files(files) => files.events,
            Format::TomlHooks(toml) => toml.events,
        }
    }

    /// What kaizen-hook has registered under `home`, (event, command) pairs,
    /// whatever the format; `Ok(None)` when there is no config file.
    pub fn registered_at(&self, home: &Path) -> Result<Option<Vec<(String, String)>>, String> {
        let path = self.path(home);
        match &self.format {
            Format::Files(files) => Ok(Some(files.registered(&path))),
            _ if !path.exists() => Ok(None),
            Format::TomlHooks(toml) => toml.registered(&path).map(Some),
            _ => config_file::ConfigFile::load(&path).map(|file| Some(self.registered(&file.value))),
        }
    }

    /// Whether the config under `home` has kaizen-hook registered for `event`.
    pub fn records_event(&self, home: &Path, event: &str) -> bool {
        let found = self.registered_at(home).ok().flatten().unwrap_or_default();
        found.iter().any(|(registered, _)| registered == event)
    }
}

pub struct Registration {
    pub binary: PathBuf,
}

impl Registration {
    /// `/abs/kaizen-hook tool-use --agent claude`, quoted for `sh -c` when needed.
    pub fn command(&self, subcommand: &str, agent: &str) -> String {
        format!("{} {subcommand} --agent {agent}", shell_quote(&self.binary.to_string_lossy()))
    }
}

/// One quoting for every registered command (`shlex`, POSIX `sh` rules), and
/// `program_of` reads commands back with the same rules: what install writes,
/// install and uninstall recognise, whatever the binary's path holds.
pub fn shell_quote(s: &str) -> String {
    // A path cannot hold a NUL byte; were one there, the command could not be run anyway.
    shlex::try_quote(s).map_or_else(|_| s.replace('\0', ""), |q| q.into_owned())
}

/// The program a registered command runs: its first word, unquoted as `sh` would.
pub fn program_of(command: &str) -> String {
    shlex::split(command).and_then(|words| words.into_iter().next()).unwrap_or_default()
}

/// A command that runs a `kaizen-hook` binary, wherever it is installed.
pub fn is_ours(command: &str) -> bool {
    Path::new(&program_of(command)).file_name().is_some_and(|name| name == "kaizen-hook")
}

/// Two settings values that differ only by empty hook containers (which our
/// registration may have created) are the same settings.
pub fn same_settings(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            let empty = match map.get_mut("hooks") {
                Some(Value::Object(hooks)) => {
                    hooks.retain(|_, list| !matches!(list, Value::Array(a) if a.is_empty()));
                    hooks.is_empty()
                }
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                map.remove("hooks");
                if map.get("version") == Some(&Value::from(1)) && map.len() == 1 {
                    map.remove("version");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_and_recognised() {
        let plain = Registration { binary: "/home/u/.local/bin/kaizen-hook".into() };
        assert_eq!(plain.command("stop", "claude"), "/home/u/.local/bin/kaizen-hook stop --agent claude");
        let spaced = Registration { binary: "/Users/J Doe/bin/kaizen-hook".into() };
        let cmd = spaced.command("stop", "cursor");
        assert_eq!(cmd, "'/Users/J Doe/bin/kaizen-hook' stop --agent cursor");
        assert!(is_ours(&cmd) && is_ours("kaizen-hook stop") && is_ours("\"/x y/kaizen-hook\" event"));
        assert!(!is_ours("/usr/bin/other-hook kaizen-hook") && !is_ours("kaizen-hook-old stop") && !is_ours(""));
    }

    #[test]
    fn any_path_round_trips_through_the_quoting() {
        for path in [
            "/home/o'brien/bin/kaizen-hook",
            "/tmp/a b/$HOME/`x`/back\\slash/\"dq\"/kaizen-hook",
            "/opt/ünïcødé ✓/kaizen-hook",
            "/x/'; rm -rf ~; '/kaizen-hook",
            "/new\nline/kaizen-hook",
        ] {
            let command = Registration { binary: path.into() }.command("stop", "claude");
            assert_eq!(program_of(&command), path, "{command}");
            assert!(is_ours(&command), "{command}");
        }
    }
}
