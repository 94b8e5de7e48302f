//! Kilo Code CLI (`kilo`), a fork of OpenCode: the same plugin API, bus
//! events and step parts, so OpenCode's plugin serves it as it is. Only where
//! it lives differs: Kilo loads plugins from `~/.config/kilo/plugins/` (it
//! ignores OpenCode's folders) and keeps its data in `~/.local/share/kilo/`,
//! where the plugin writes its steps file. The plugin tells which of the two
//! loaded it (`--agent kilo`, `host: "kilo"`), from the directory it was
//! installed in.

use super::opencode::{self, EVENTS, PLUGIN_FILES, SNIPPET, STEPS};
use super::{Agent, DOCUMENTED, Payload, env_dir, package_version};
use crate::install::{Format, Installer};
use std::path::{Path, PathBuf};

pub static AGENT: Agent = Agent {
    name: "kilo",
    title: "Kilo Code CLI",
    evidence,
    transcript_marker: "/.local/share/kilo/",
    events: EVENTS,
    guidance_files: &["AGENTS.md"],
    reinterpret: opencode::reinterpret,
    version,
    config_problems: |_| opencode::pure("KILO_PURE", "Kilo Code"),
    transcript: Some(STEPS),
    installer: Some(Installer { dir: config_dir, file: "plugins", format: Format::Files(PLUGIN_FILES), note: None }),
    snippet: Some(SNIPPET),
    ..DOCUMENTED
};

fn evidence(p: &Payload) -> bool {
    opencode::from_plugin(p) && opencode::host(p) == Some("kilo")
}

/// `$XDG_CONFIG_HOME/kilo`, else `~/.config/kilo`.
fn config_dir(home: &Path) -> PathBuf {
    env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")).join("kilo")
}

/// The version of the `kilo` binary that runs the plugin (the hook's parent):
/// its platform package's `package.json` (`@kilocode/cli-linux-x64`), beside `bin/`.
fn version(_: &Payload) -> Option<String> {
    let agent = crate::process::delivering()?;
    let exe = std::fs::read_link(format!("/proc/{}/exe", agent.pid)).ok()?;
    package_version(exe.parent()?.parent()?, |name| name.starts_with("@kilocode/cli"))
}
