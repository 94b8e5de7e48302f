//! OpenCode and its fork Kilo Code, replayed from what the plugin
//! (`hooks/opencode-kaizen-hook.js`) sent kaizen-hook in real runs (OpenCode
//! 1.18.33, Kilo 7.7.9: `tests/fixtures/real/{opencode,kilo}/`) and the steps
//! files it wrote (`tests/fixtures/transcripts/{opencode,kilo}/steps.jsonl`,
//! every line twice: the e2e suite's copy of the plugin writes them too),
//! through the real binary, as the plugin runs it.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The agents the plugin serves, with the version of the captured run.
const AGENTS: &[(&str, &str)] = &[("opencode", "1.18.33"), ("kilo", "7.7.9")];

const RUN: &[&str] = &[
    "session.created",
    "chat.message",
    "tool.execute.before-bash_ok",
    "tool.execute.after-bash_ok",
    "tool.execute.before-bash_fail",
    "tool.execute.after-bash_fail",
    "tool.execute.before-read_missing",
    "tool.error-read_missing",
    "tool.execute.before-read",
    "tool.execute.after-read",
    "session.idle",
];

/// The run's steps file, copied where this env's payloads name it.
fn steps_file(env: &Env, agent: &str) -> PathBuf {
    let path = env.tmp.path().join(format!("{agent}-steps.jsonl"));
    if !path.exists() {
        std::fs::copy(fixtures_dir().join(format!("transcripts/{agent}/steps.jsonl")), &path).unwrap();
    }
    path
}

fn deliver(env: &Env, agent: &str, name: &str) -> Value {
    deliver_at(env, agent, name, 0)
}

/// A delivery `later` ms after the captured one: a new event, not a repeat of it.
fn deliver_at(env: &Env, agent: &str, name: &str, later: u64) -> Value {
    let mut payload = env.fixture(&format!("real/{agent}"), name);
    payload["transcript_path"] = json!(steps_file(env, agent));
    payload["timestamp"] = json!(payload["timestamp"].as_u64().unwrap() + later);
    let event = name.split('-').next().unwrap();
    env.hook(&["event", "--agent", agent, "--event", event], &payload);
    payload
}

fn session_of(agent: &str) -> String {
    fixture_in(&format!("real/{agent}"), "session.idle", Path::new("/"))
        .get("session_id")
        .unwrap()
        .to_string()
        .replace('"', "")
}

/// (input, cache read, output, reasoning) of each Cost event.
fn costs(events: &[Event]) -> Vec<(u32, u32, u32, u32)> {
    let cost = events.iter().filter(|e| e.kind == EventKind::Cost);
    cost.map(|e| {
        let n = |v: Option<u32>| v.unwrap_or(0);
        (n(e.tokens_in), n(e.cache_read_tokens), n(e.tokens_out), n(e.reasoning_tokens))
    })
    .collect()
}

#[test]
fn plugin_events_are_recorded_with_their_meaning() {
    for (agent, version) in AGENTS {
        let env = Env::new();
        for name in RUN {
            deliver(&env, agent, name);
        }
        let session = session_of(agent);
        let events = env.events(&session);
        let seen: Vec<(EventKind, &str, Option<&str>)> = events
            .iter()
            .filter(|e| e.kind != EventKind::Cost)
            .map(|e| (e.kind.clone(), e.payload["phase"].as_str().unwrap(), e.tool_call_id.as_deref()))
            .collect();
        use EventKind::*;
        assert_eq!(
            seen,
            [
                (Lifecycle, "session_start", None),
                (Message, "prompt", None),
                (ToolCall, "tool_call", Some("call_kz_oc_bash_ok")),
                (ToolResult, "tool_result", Some("call_kz_oc_bash_ok")),
                (ToolCall, "tool_call", Some("call_kz_oc_bash_fail")),
                (Error, "tool_failure", Some("call_kz_oc_bash_fail")),
                (ToolCall, "tool_call", Some("call_kz_oc_read_missing")),
                (Error, "tool_failure", Some("call_kz_oc_read_missing")),
                (ToolCall, "tool_call", Some("call_kz_oc_read")),
                (ToolResult, "tool_result", Some("call_kz_oc_read")),
                (Lifecycle, "turn_end", None),
            ],
            "{agent}"
        );
        assert!(events.iter().filter(|e| e.kind != Cost).all(|e| e.payload["agent"] == *agent), "{agent}");
        assert_eq!(events[5].payload["phase_note"], "exit code 2");
        assert!(events[7].payload["input"]["error"].as_str().unwrap().starts_with("File not found"));
        let record = env.record(&session);
        assert_eq!(record.status, SessionStatus::Idle);
        assert_eq!((record.model.as_deref(), record.agent_version.as_deref()), (Some("gpt-4.1"), Some(*version)));
        assert_eq!(events[10].payload["session_errors"], 2);
    }
}

#[test]
fn each_step_is_one_cost_event_counted_once() {
    for (agent, _) in AGENTS {
        let env = Env::new();
        for name in RUN {
            deliver(&env, agent, name);
        }
        let session = session_of(agent);
        let events = env.events(&session);
        // The mock's usage: prompt 2811 (611 cached), completion 51 (7 reasoning), ...;
        // OpenCode writes `input` without the cache, `output` without the reasoning.
        let served =
            [(2200, 611, 51, 7), (2300, 612, 52, 8), (2400, 613, 53, 9), (2500, 614, 54, 0), (2600, 615, 55, 0)];
        assert_eq!(costs(&events), served, "{agent}: one per step, though each line is there twice");
        let cost: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::Cost).collect();
        let prompt = events.iter().find(|e| e.kind == EventKind::Message).unwrap();
        for e in &cost {
            assert_eq!((e.payload["model"].as_str(), e.source.clone()), (Some("gpt-4.1"), EventSource::Tail));
            assert!(e.cost_usd_e6.is_some_and(|usd| usd > 0), "{agent}: priced");
            assert!(
                e.payload["turn"].as_str().is_some_and(|t| t.starts_with("msg_")),
                "{agent}: the user message answered"
            );
        }
        assert_eq!(cost.last().unwrap().stop_reason.as_deref(), Some("stop"));
        assert!(cost[0].ts_ms >= prompt.ts_ms - 60_000);

        // The same turn end again adds nothing; a step written again with more output, its difference.
        deliver_at(&env, agent, "session.idle", 1000);
        assert_eq!(costs(&env.events(&session)).len(), 5, "{agent}");
        let steps = steps_file(&env, agent);
        let text = std::fs::read_to_string(&steps).unwrap();
        let mut last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["tokens"]["output"] = json!(60);
        std::fs::write(&steps, format!("{text}{last}\n")).unwrap();
        deliver_at(&env, agent, "session.idle", 2000);
        let events = env.events(&session);
        let correction = events.iter().rfind(|e| e.kind == EventKind::Cost).unwrap();
        assert_eq!((costs(&events).len(), correction.tokens_out, correction.tokens_in), (6, Some(5), Some(0)));
        assert_eq!(correction.payload["correction"], true);
    }
}

#[test]
fn payloads_are_recognised_without_the_flag() {
    for (agent, _) in AGENTS {
        let env = Env::new();
        let payload = env.fixture(&format!("real/{agent}"), "tool.execute.before-read");
        assert_eq!(payload["host"], *agent, "the plugin says who loaded it");
        env.hook(&["event"], &payload);
        let event = env.events(&session_of(agent)).pop().unwrap();
        assert_eq!((event.payload["agent"].as_str(), event.kind), (Some(*agent), EventKind::ToolCall));
    }
}

#[test]
fn install_copies_the_plugin_and_uninstall_removes_it() {
    for (agent, _) in AGENTS {
        let env = Env::new();
        let out = env.run(&["install", "--agent", agent], b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let plugin = env.user_home.join(format!(".config/{agent}/plugins/kaizen-hook.js"));
        let text = std::fs::read_to_string(&plugin).unwrap();
        assert!(
            text.contains(&json!(BIN.to_string()).to_string())
                || text.contains(&json!(std::fs::canonicalize(BIN).unwrap()).to_string()),
            "{text}"
        );
        assert!(!text.contains("/home/YOU/"));
        let again = env.run(&["install", "--agent", agent], b"");
        assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
        let mine = plugin.with_file_name("mine.js");
        std::fs::write(&mine, "export const Mine = async () => ({});\n").unwrap();
        env.run(&["uninstall", "--agent", agent], b"");
        assert!(!plugin.exists() && mine.exists(), "{agent}: only our plugin goes");
    }
}

#[test]
fn doctor_says_when_the_pure_switch_turns_plugins_off() {
    for (agent, var) in [("opencode", "OPENCODE_PURE"), ("kilo", "KILO_PURE")] {
        let env = Env::new();
        env.run(&["install", "--agent", agent], b"");
        let mut plain = env.command(&["doctor"]);
        plain.env_remove(var);
        let plain = String::from_utf8_lossy(&env.run_with(plain, b"").stdout).into_owned();
        assert!(plain.contains("registered for 10 of 10 events") && !plain.contains(var), "{plain}");
        let mut pure = env.command(&["doctor"]);
        pure.env(var, "1");
        let pure = String::from_utf8_lossy(&env.run_with(pure, b"").stdout).into_owned();
        assert!(pure.contains(&format!("{var} is set")), "{agent}: {pure}");
    }
}
