//! No secret reaches the disk through any field. Every documented and real
//! payload is replayed with secrets appended to each of its free-text fields
//! (everything but the ids, names and paths that route it), then every file
//! under `KAIZEN_HOME` is searched for them: events, records, logs, spool,
//! caches, and what the human commands write.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// One of each kind the redaction knows, as an agent's tool output would carry them.
const SECRETS: [&str; 4] = [
    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1JkLzXcVbNm-0123456789abcdefAA",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-proj-4f8Hq2Lm9Tz7Xc1Vb3Nn5Kk8Jj0Pp6Rr2Ss4Tt",
];

/// Keys that route an event rather than describe it: ids, names, paths,
/// times. Their values are left alone; every other string gets the secrets.
fn routes(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "cwd"
        || key == "working_dir"
        || key == "type"
        || key == "name"
        || key == "model"
        || key.ends_with("id")
        || key.ends_with("ids")
        || key.contains("path")
        || key.contains("event")
        || key.contains("tool_name")
        || key.contains("toolname")
        || key.contains("version")
        || key.contains("time")
        || key.contains("root")
}

fn with_secrets(value: &mut Value, key: &str) {
    match value {
        Value::String(s) if !routes(key) => {
            for secret in SECRETS {
                s.push_str(&format!(" {secret}"));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| with_secrets(v, key)),
        Value::Object(map) => map.iter_mut().for_each(|(k, v)| with_secrets(v, k)),
        _ => {}
    }
}

/// Every fixture: (agent, the event it is delivered as, its path).
fn fixtures() -> Vec<(String, String, std::path::PathBuf)> {
    let mut all = Vec::new();
    for dir in ["claude", "codex", "cursor", "gemini"].iter().map(|a| ((*a).to_string(), fixtures_dir().join(a))).chain(
        std::fs::read_dir(fixtures_dir().join("real"))
            .unwrap()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())),
    ) {
        let (agent, dir) = dir;
        for file in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "json") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                // `postToolUse--exit2`, `PostToolUse-failed-exit-2`, `tool_call-cmd_fail`: the event comes first.
                let event = stem.split('-').next().unwrap().to_string();
                all.push((agent.clone(), event, path));
            }
        }
    }
    all.sort();
    all
}

fn leaks(env: &Env, root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for file in env.files_under(root) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for secret in SECRETS {
            if text.contains(secret) {
                found.push(format!("{}: {secret}", file.display()));
            }
        }
    }
    found
}

#[test]
fn no_secret_from_any_free_text_field_of_any_fixture_reaches_the_disk() {
    let env = Env::new();
    let fixtures = fixtures();
    assert!(fixtures.len() > 150, "only {} fixtures", fixtures.len());
    for (agent, event, path) in &fixtures {
        let mut payload: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for key in ["cwd", "workspace_roots"] {
            if payload.get(key).is_some() {
                payload[key] =
                    if key == "cwd" { Value::from(env.repo.to_str().unwrap()) } else { serde_json::json!([env.repo]) };
            }
        }
        with_secrets(&mut payload, "");
        let agent = if agent == "cursor" { "claude" } else { agent.as_str() };
        let out = env.run(&["event", "--agent", agent, "--event", event], payload.to_string().as_bytes());
        assert!(out.status.success(), "{}", path.display());
    }
    let recorded: usize = env.session_files().iter().map(|f| read_events(f).len()).sum();
    assert!(recorded >= fixtures.len(), "{recorded} events from {} payloads", fixtures.len());
    for args in [&["sessions"][..], &["report", "--by", "model"], &["report", "--by", "commit"]] {
        env.run(args, b"");
    }
    let found = leaks(&env, &env.home);
    assert!(found.is_empty(), "{} secrets on disk:\n{}", found.len(), found.join("\n"));
}

/// An event spooled while the session's lock is held is sealed before it is
/// spooled: no secret in the spool file, nor in the line it is merged into.
#[test]
fn no_secret_reaches_the_spool() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PostToolUse");
    with_secrets(&mut payload, "");
    let session = payload["session_id"].as_str().unwrap().to_string();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    let events = std::fs::File::open(env.sessions_dir().join(format!("{session}.jsonl"))).unwrap();
    events.lock().unwrap();
    let mut cmd = env.command(&["tool-use"]);
    cmd.env("KAIZEN_HOOK_BUDGET_MS", "300");
    assert_quiet(&env.run_with(cmd, payload.to_string().as_bytes()));
    let spool = env.sessions_dir().join(format!("{session}.spool"));
    assert_eq!(env.files_under(&spool).len(), 1, "spooled while the lock was held");
    assert!(leaks(&env, &env.home).is_empty(), "{:?}", leaks(&env, &env.home));
    drop(events);
    env.hook(&["stop"], &env.fixture("claude", "Stop"));
    assert!(env.files_under(&spool).is_empty(), "merged by the next run");
    assert!(leaks(&env, &env.home).is_empty(), "{:?}", leaks(&env, &env.home));
}

/// The check can fail: a secret where the redaction cannot see it (a file
/// the binary did not write) is found.
#[test]
fn the_search_finds_a_secret_on_disk() {
    let env = Env::new();
    std::fs::create_dir_all(env.home.join("sessions")).unwrap();
    std::fs::write(env.home.join("sessions/planted.jsonl"), SECRETS[2]).unwrap();
    assert_eq!(leaks(&env, &env.home).len(), 1);
}
