//! The agent table agrees with itself and with what ships beside it: every
//! installer has its snippet in `hooks/`, every registered event has a
//! meaning, every documented payload under `tests/fixtures/<agent>/` is
//! recognised as that agent's, and the CLI's help names what install supports.

mod common;

use common::Env;
use kaizen_hook::agents::{self, AgentId};
use kaizen_hook::phase::{Category, Phase, normalize};
use kaizen_hook::recognize::{self, Flags};
use std::collections::BTreeMap;
use std::path::Path;

const BINARY: &str = "/home/YOU/.local/bin/kaizen-hook";

#[test]
fn names_are_unique_and_taken_by_the_flag() {
    for (i, agent) in agents::ALL.iter().enumerate() {
        assert!(agents::ALL[i + 1..].iter().all(|other| other.name != agent.name), "{} twice", agent.name);
        assert_eq!(AgentId::from_flag(agent.name), Some(AgentId::Known(agent)), "--agent {}", agent.name);
    }
}

#[test]
fn event_names_mean_one_thing_whoever_sends_them() {
    let mut meaning: BTreeMap<String, (Phase, &str)> = BTreeMap::new();
    for agent in agents::ALL {
        for (i, (name, phase)) in agent.events.iter().enumerate() {
            let key = normalize(name);
            assert!(agent.events[i + 1..].iter().all(|(n, _)| normalize(n) != key), "{}: {name} twice", agent.name);
            assert_ne!(*phase, Phase::Unknown, "{}: {name} is listed as unknown", agent.name);
            if let Some((other, by)) = meaning.insert(key, (*phase, agent.name)) {
                assert_eq!(other, *phase, "{name}: {} says {phase:?}, {by} says {other:?}", agent.name);
            }
        }
        for (name, tool) in agent.implied_tools {
            assert!(
                agent.events.iter().any(|(n, _)| n == name),
                "{}: {name} implies {tool} but is not one of its events",
                agent.name
            );
        }
    }
}

/// What a hook subcommand may receive.
fn fits(category: Category, phase: Phase) -> bool {
    match category {
        Category::SessionStart => phase == Phase::SessionStart,
        Category::SessionEnd => phase == Phase::SessionEnd,
        Category::Prompt => phase == Phase::Prompt,
        Category::ToolUse => phase.is_tool(),
        Category::Stop => matches!(phase, Phase::TurnEnd | Phase::TurnFailure),
        Category::Subagent => matches!(phase, Phase::SubagentStart | Phase::SubagentStop),
        Category::Event => true,
    }
}

#[test]
fn every_registered_event_has_a_meaning_and_the_right_subcommand() {
    for (agent, installer) in agents::installers() {
        assert!(!installer.events().is_empty(), "{} registers nothing", agent.name);
        for &(event, category) in installer.events() {
            let phase = agents::phase_of(Some(agent), event);
            assert!(
                agent.events.iter().any(|(n, _)| *n == event),
                "{}: registers {event}, which is not in its event table",
                agent.name
            );
            let subcommand = category.subcommand();
            assert!(fits(category, phase), "{}: {event} ({phase:?}) is registered as `{subcommand}`", agent.name);
        }
    }
}

#[test]
fn every_installer_ships_its_snippet_and_every_snippet_has_an_installer() {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
    let env = Env::new();
    let mut expected = Vec::new();
    for (agent, installer) in agents::installers() {
        let snippet = agent.snippet.unwrap_or_else(|| panic!("{} has an installer but no snippet", agent.name));
        let out = env.run_with(env.command(&["install", "--agent", agent.name, "--binary", BINARY]), b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let shipped = std::fs::read_to_string(hooks.join(snippet))
            .unwrap_or_else(|e| panic!("hooks/{snippet} for {}: {e}", agent.name));
        for path in written_files(installer, &env.user_home) {
            let written = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(written, shipped, "hooks/{snippet} is not what `install --agent {}` writes", agent.name);
        }
        expected.push(snippet.to_string());
    }
    for agent in agents::ALL.iter().filter(|a| a.installer.is_none()) {
        assert_eq!(agent.snippet, None, "{}: a snippet without an installer", agent.name);
    }
    let mut shipped: Vec<String> = std::fs::read_dir(&hooks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md")
        .collect();
    shipped.sort();
    expected.sort();
    expected.dedup(); // one snippet may serve two agents (OpenCode's plugin serves Kilo Code too)
    assert_eq!(shipped, expected, "hooks/ holds a snippet no installer writes");
}

/// What install writes: the config file, or each of its own hook files.
fn written_files(installer: &kaizen_hook::install::Installer, home: &Path) -> Vec<std::path::PathBuf> {
    let path = installer.path(home);
    match &installer.format {
        kaizen_hook::install::Format::Files(files) => files.files.iter().map(|f| path.join(f)).collect(),
        _ => vec![path],
    }
}

#[test]
fn every_documented_payload_is_recognised_as_its_agents() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for dir in [fixtures.clone(), fixtures.join("real")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "real" | "transcripts") || !entry.path().is_dir() {
                continue;
            }
            let agent = agents::by_name(&name).unwrap_or_else(|| panic!("fixtures for {name}, not in the agent table"));
            for file in std::fs::read_dir(entry.path()).unwrap().flatten() {
                let payload: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
                // Registered as the installers register: `--event` named after the file
                // (`<Event>.json`, `<Event>-<variant>.json`), for agents whose payloads
                // carry no event name (Copilot CLI).
                let stem = file.path().file_stem().unwrap().to_string_lossy().into_owned();
                let event = stem.split('-').next().unwrap_or_default();
                let flags = Flags { category: Category::Event, agent: Some(agent.name), event: Some(event) };
                let seen_as = recognize::recognize(payload.as_object(), flags);
                let what = file.path().display().to_string();
                assert_eq!(seen_as.agent, AgentId::Known(agent), "{what}");
                assert_ne!(seen_as.phase, Phase::Unknown, "{what}: event not recognised");
                seen += 1;
            }
        }
    }
    assert!(seen > 60, "only {seen} fixtures read");
}

#[test]
fn the_help_names_every_agent_install_supports() {
    let env = Env::new();
    let help = env.run_with(env.command(&["install", "--help"]), b"");
    let top = env.run_with(env.command(&["--help"]), b"");
    let (help, top) = (String::from_utf8_lossy(&help.stdout), String::from_utf8_lossy(&top.stdout));
    for (agent, _) in agents::installers() {
        assert!(help.contains(agent.name), "`install --help` does not name {}: {help}", agent.name);
        assert!(top.contains(agent.title), "`--help` does not name {}: {top}", agent.title);
    }
}

/// Every environment variable an agent's code reads (`var`, `var_os`,
/// `env_dir`, `env_dir_or_home`, `pure`) is one the tests clear, so a
/// developer's shell cannot point a test at their own agent files.
#[test]
fn the_tests_clear_every_agent_variable_the_binary_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root.join("agents"), root.join("install")];
    let mut read = std::collections::BTreeSet::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for call in ["var(\"", "var_os(\"", "env_dir(\"", "env_dir_or_home(\"", "pure(\""] {
                for (at, _) in text.match_indices(call) {
                    let name: String = text[at + call.len()..].chars().take_while(|c| *c != '"').collect();
                    if !name.starts_with("KAIZEN_") && name != "HOME" {
                        read.insert(name);
                    }
                }
            }
        }
    }
    assert!(read.len() > 10, "only {read:?} found: the search is broken");
    let missing: Vec<&String> = read.iter().filter(|name| !common::AGENTS_ENV.contains(&name.as_str())).collect();
    assert!(missing.is_empty(), "add these to tests/common AGENTS_ENV: {missing:?}");
}
