//! Hostile input, hostile files, duplicates: every case exits 0, prints
//! nothing, writes nothing outside KAIZEN_HOME, loses nothing, and logs a line.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Everything in the test's temporary directory outside KAIZEN_HOME, with contents.
fn outside_home(env: &Env) -> Vec<(PathBuf, Vec<u8>)> {
    env.files_under(env.tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with(&env.home) && !p.starts_with(env.repo.join(".git")))
        .map(|p| {
            let content = std::fs::read(&p).unwrap_or_default();
            (p, content)
        })
        .collect()
}

/// Runs a hostile case and checks the whole contract around it.
fn survive(env: &Env, args: &[&str], stdin: &[u8]) -> String {
    let before = outside_home(env);
    let log_before = env.log().len();
    let out = env.run(args, stdin);
    assert_quiet(&out);
    assert_no_stdout(&out);
    assert_eq!(outside_home(env), before, "something outside KAIZEN_HOME changed");
    let log = env.log();
    assert!(log.len() > log_before, "no line in the log");
    log[log_before..].to_string()
}

fn only_events(env: &Env) -> Vec<Event> {
    let files = env.session_files();
    assert_eq!(files.len(), 1, "{files:?}");
    read_events(&files[0])
}

#[test]
fn empty_stdin_is_recorded_as_a_hook_event() {
    let env = Env::new();
    let logged = survive(&env, &["tool-use", "--agent", "claude"], b"");
    assert!(logged.contains("empty input"), "{logged}");
    let events = only_events(&env);
    assert_eq!(events[0].kind, EventKind::Hook);
    assert_eq!(events[0].payload["input_error"], "empty input");
    assert!(events[0].session_id.starts_with("claude-home-"), "per-directory fallback: {}", events[0].session_id);
}

#[test]
fn invalid_json_arrays_and_garbage_are_recorded_raw() {
    let env = Env::new();
    let logged = survive(&env, &["event"], br#"{"session_id": "x", "broken": "#);
    assert!(logged.contains("invalid JSON"), "{logged}");
    survive(&env, &["event"], b"[1, 2, {\"session_id\": \"not-this\"}]");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    survive(&env, &["event"], &garbage);
    let events = only_events(&env);
    assert_eq!(events.len(), 3);
    assert_seq_contiguous(&events);
    assert!(events.iter().all(|e| e.kind == EventKind::Hook));
    assert_eq!(events[0].payload["input_raw"], r#"{"session_id": "x", "broken": "#);
    assert_eq!(events[1].payload["input"], json!([1, 2, {"session_id": "not-this"}]));
    assert_eq!(events[2].payload["input_bytes"], 4096);
}

#[test]
fn invalid_utf8_inside_valid_json_is_repaired_and_kept() {
    let env = Env::new();
    let mut payload = br#"{"session_id": "utf-1", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "echo "#.to_vec();
    payload.extend_from_slice(b"\xff\xfe caf\xc3\xa9\"}}");
    let logged = survive(&env, &["tool-use"], &payload);
    assert!(logged.contains("invalid UTF-8"));
    let events = env.events("utf-1");
    assert_eq!(events[0].kind, EventKind::ToolCall);
    assert_eq!(events[0].payload["input"]["tool_input"]["command"], "echo \u{fffd}\u{fffd} café");
    assert_eq!(events[0].payload["input_lossy_utf8"], true);
}

#[test]
fn json_nested_five_thousand_deep_does_not_overflow() {
    let env = Env::new();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let logged = survive(&env, &["event"], deep.as_bytes());
    assert!(logged.contains("not an object"), "{logged}");
    // Nesting past what the parser takes is cut to a marker: the rest, the session id included, is kept.
    let deep_object = format!("{{\"session_id\":\"deep\",\"a\":{}1{}}}", "{\"b\":".repeat(5000), "}".repeat(5000));
    survive(&env, &["event"], deep_object.as_bytes());
    let mut inner = &env.events("deep")[0].payload["input"]["a"];
    while let Some(next) = inner.get("b") {
        inner = next;
    }
    assert!(inner.as_str().is_some_and(|m| m.starts_with("…[truncated: ")), "{inner}");
}

#[test]
fn session_ids_are_never_paths() {
    let env = Env::new();
    let long = "x".repeat(10_000);
    for id in ["../../etc/passwd", "/etc/passwd", "a/../../b", "nul\0byte", ".", "..", long.as_str()] {
        let payload = json!({"session_id": id, "hook_event_name": "Stop", "cwd": env.repo});
        let logged = survive(&env, &["stop"], payload.to_string().as_bytes());
        assert!(logged.contains("not a plain file name"), "{logged}");
    }
    let files = env.session_files();
    assert_eq!(files.len(), 7);
    for file in &files {
        assert_eq!(file.parent().unwrap(), env.sessions_dir());
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("id-") && name.len() == "id-0123456789abcdef0123456789abcdef.jsonl".len(), "{name}");
        let events = read_events(file);
        let record: SessionRecord =
            serde_json::from_slice(&std::fs::read(file.with_extension("session.json")).unwrap()).unwrap();
        assert_eq!(record.id, events[0].session_id, "the record keeps the id as sent");
    }
    assert!(!env.tmp.path().join("etc").exists());
}

#[test]
fn wrong_types_in_every_field_are_survived() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PostToolUse");
    let replacements = [json!({"a": 1}), json!([1, 2]), json!(true), json!(12.5), json!(null), json!("text")];
    for (i, value) in payload.as_object_mut().unwrap().values_mut().enumerate() {
        let replacement = &replacements[i % replacements.len()];
        *value = if value == replacement { json!(-1) } else { replacement.clone() };
    }
    payload["session_id"] = json!({"nested": "id"});
    payload["timestamp"] = json!("half past nine");
    let logged = survive(&env, &["tool-use", "--agent", "claude"], payload.to_string().as_bytes());
    assert!(logged.contains("field session_id ignored"), "{logged}");
    assert!(logged.contains("field timestamp ignored"), "{logged}");
    let events = only_events(&env);
    assert_eq!(events[0].payload["input"], payload);
}

#[test]
fn a_missing_kaizen_home_is_created_private() {
    let env = Env::new();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    env.hook(&["tool-use"], &json!("not an object"));
    for dir in [&env.home, &env.sessions_dir(), &env.home.join("logs")] {
        assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700, "{}", dir.display());
    }
    for file in env.files_under(&env.home) {
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600, "{}", file.display());
    }
}

#[test]
fn an_unusable_kaizen_home_is_survived_without_writing_anywhere() {
    let env = Env::new();
    std::fs::write(&env.home, "I am a file, not a directory").unwrap();
    let before = outside_home(&env);
    let out = env.run(&["tool-use"], env.fixture("claude", "PreToolUse").to_string().as_bytes());
    assert_quiet(&out);
    assert_no_stdout(&out);
    assert_eq!(std::fs::read_to_string(&env.home).unwrap(), "I am a file, not a directory");
    assert_eq!(outside_home(&env), before);
}

#[test]
fn an_unwritable_kaizen_home_is_survived() {
    let env = Env::new();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    let sessions = env.sessions_dir();
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o500)).unwrap();
    let out = env.run(&["tool-use"], env.fixture("claude", "PreToolUse").to_string().as_bytes());
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_quiet(&out);
    assert_no_stdout(&out);
    let events = env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    // Root ignores the mode bits; anyone else cannot create the record's temp file.
    // SAFETY: geteuid takes nothing and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(events.len(), 2, "the events file itself was writable");
    if !root {
        assert!(env.log().contains("record"), "{}", env.log());
    }
}

fn plant(link: &Path, target: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn symlinks_planted_at_session_paths_are_not_followed() {
    let env = Env::new();
    let precious = env.tmp.path().join("precious.txt");
    std::fs::write(&precious, "do not touch").unwrap();
    plant(&env.sessions_dir().join("planted.jsonl"), &precious);
    let payload = json!({"session_id": "planted", "hook_event_name": "Stop", "cwd": env.repo});
    let logged = survive(&env, &["stop"], payload.to_string().as_bytes());
    assert!(logged.contains("planted.jsonl"), "{logged}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "do not touch");

    plant(&env.sessions_dir().join("rec.session.json"), &precious);
    let payload = json!({"session_id": "rec", "hook_event_name": "Stop", "cwd": env.repo});
    env.hook(&["stop"], &payload);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "do not touch");
    assert_eq!(env.events("rec").len(), 1);
    let record_path = env.sessions_dir().join("rec.session.json");
    assert!(std::fs::symlink_metadata(&record_path).unwrap().is_file(), "the symlink was replaced, not followed");
}

#[test]
fn a_symlink_planted_at_the_log_path_is_replaced_not_followed() {
    let env = Env::new();
    let precious = env.tmp.path().join("precious.log");
    std::fs::write(&precious, "do not touch").unwrap();
    plant(&env.home.join("logs/kaizen-hook.log"), &precious);
    survive(&env, &["event"], b"not json");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "do not touch");
    assert!(std::fs::symlink_metadata(env.home.join("logs/kaizen-hook.log")).unwrap().is_file());
}

#[test]
fn a_fifo_planted_at_a_session_path_does_not_block() {
    let env = Env::new();
    std::fs::create_dir_all(env.sessions_dir()).unwrap();
    let fifo = env.sessions_dir().join("fifo.jsonl");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string, alive for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let payload = json!({"session_id": "fifo", "hook_event_name": "Stop", "cwd": env.repo});
    let logged = survive(&env, &["stop"], payload.to_string().as_bytes());
    assert!(logged.contains("FIFO"), "{logged}");
}

#[test]
fn a_full_disk_loses_the_new_event_but_nothing_already_recorded() {
    let env = Env::new();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    env.hook(&["prompt"], &env.fixture("claude", "UserPromptSubmit"));
    let path = env.sessions_dir().join("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47.jsonl");
    let before = std::fs::read(&path).unwrap();
    let limit = before.len() as u64 + 100;
    let mut cmd = env.command(&["tool-use"]);
    // SAFETY: setrlimit is async-signal-safe; it only limits the child.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = env.run_with(cmd, env.fixture("claude", "PreToolUse").to_string().as_bytes());
    assert_quiet(&out);
    assert_no_stdout(&out);
    assert_eq!(std::fs::read(&path).unwrap(), before, "rolled back to the last whole line");
    assert!(env.log().contains("append"), "{}", env.log());
    env.hook(&["tool-use"], &env.fixture("claude", "PostToolUse"));
    let events = env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    assert_eq!(events.len(), 3);
    assert_seq_contiguous(&events);
}

/// Runs the binary on `stdin` and returns its exit status, stdout and
/// stderr sizes, and peak RSS in KiB. The run is started by a small Python
/// parent: Linux charges a vfork-spawned child with its parent's peak RSS,
/// and this test process holds the payload itself.
fn run_measured(env: &Env, args: &[&str], stdin: Vec<u8>) -> (bool, usize, usize, u64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        with open(sys.argv[1], 'rb') as f:\n    p = subprocess.run(sys.argv[2:], stdin=f, capture_output=True)\n\
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
        print(p.returncode, len(p.stdout), len(p.stderr), rss)\n";
    let input = env.tmp.path().join("payload.json");
    std::fs::write(&input, stdin).unwrap();
    // What is measured here is memory, not time: the harness's generous
    // budget keeps a loaded machine from turning a slow read into a failure.
    let mut cmd = env.sandbox(std::process::Command::new("python3"));
    cmd.arg("-c").arg(MEASURE).arg(&input).arg(BIN).args(args);
    let out = cmd.output().expect("python3 runs the measurement");
    std::fs::remove_file(&input).unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<u64> = report.split_whitespace().map(|f| f.parse().unwrap()).collect();
    (fields[0] == 0, fields[1] as usize, fields[2] as usize, fields[3])
}

#[test]
fn a_fifty_megabyte_payload_is_recorded_capped_without_holding_it() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PostToolUse");
    payload["tool_response"]["stdout"] = json!("y".repeat(50 << 20));
    let (ok, stdout_len, stderr_len, max_rss_kib) = run_measured(&env, &["tool-use"], payload.to_string().into_bytes());
    assert!(ok && stdout_len == 0 && stderr_len == 0);
    let events = env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    let stdout = events[0].payload["input"]["tool_response"]["stdout"].as_str().unwrap();
    assert!(stdout.ends_with(&format!("…[truncated: {} bytes]", 50 << 20)), "{}", &stdout[stdout.len() - 60..]);
    assert_eq!(stdout.len(), 32 * 1024 + "…[truncated: 52428800 bytes]".len());
    assert_eq!(events[0].payload["input_truncated_fields"], 1);
    assert!(events[0].payload.get("stdin_timed_out").is_none(), "read whole within the budget");
    assert!(max_rss_kib < 32 * 1024, "peak RSS {max_rss_kib} KiB: the payload was held in memory");
}

#[test]
fn caps_are_configurable() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PostToolUse");
    payload["tool_response"]["stdout"] = json!("z".repeat(5000));
    payload["tool_response"]["stderr"] = json!("w".repeat(5000));
    let mut cmd = env.command(&["tool-use"]);
    cmd.env("KAIZEN_HOOK_FIELD_CAP", "1000").env("KAIZEN_HOOK_EVENT_CAP", "6000");
    assert_quiet(&env.run_with(cmd, payload.to_string().as_bytes()));
    let path = env.sessions_dir().join("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47.jsonl");
    let line = std::fs::read_to_string(&path).unwrap();
    assert!(line.len() <= 6000, "event cap: {} bytes", line.len());
    let events = read_events(&path);
    let stdout = events[0].payload["input"]["tool_response"]["stdout"].as_str().unwrap();
    assert!(stdout.starts_with("zzz") && stdout.contains("[truncated: "), "{stdout}");
}

#[test]
fn secrets_never_reach_the_disk() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PreToolUse");
    payload["tool_input"]["command"] =
        json!("GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 git push https://me:hunter2@github.com/o/r");
    payload["tool_input"]["env"] = json!({"OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwxyz012345"});
    env.hook(&["tool-use"], &payload);
    env.run(&["event"], b"{\"broken\": \"AKIAIOSFODNN7EXAMPLE");
    for file in env.files_under(&env.home) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for secret in ["ghp_aBcDeF", "hunter2", "sk-proj-abc", "AKIAIOSFODNN7EXAMPLE"] {
            assert!(!text.contains(secret), "{secret} in {}", file.display());
        }
    }
    let events = env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    assert_eq!(
        events[0].payload["input"]["tool_input"]["command"],
        "GITHUB_TOKEN=<redacted:secret> git push https://me:<redacted:password>@github.com/o/r"
    );
}

fn tool_call(env: &Env, id: &str) -> Value {
    let mut payload = env.fixture("claude", "PreToolUse");
    payload["tool_use_id"] = json!(id);
    payload
}

#[test]
fn the_same_delivery_twice_is_recorded_once() {
    let env = Env::new();
    let payload = tool_call(&env, "toolu_same");
    env.hook(&["tool-use", "--agent", "claude"], &payload);
    env.hook(&["tool-use", "--agent", "claude"], &payload);
    assert_eq!(env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47").len(), 1);
    assert!(env.log().contains("duplicate delivery"));

    env.hook(&["tool-use", "--agent", "claude"], &tool_call(&env, "toolu_other"));
    assert_eq!(env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47").len(), 2, "distinct calls both land");
}

#[test]
fn simultaneous_duplicates_are_recorded_once() {
    let env = Env::new();
    let payload = env.fixture("cursor", "postToolUse").to_string();
    // Cursor runs its own hooks.json and Claude's settings.json: the same stdin, at once.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let agent = if i % 2 == 0 { "cursor" } else { "claude" };
            env.spawn(&["tool-use", "--agent", agent], payload.as_bytes())
        })
        .collect();
    for child in children {
        assert_quiet(&child.wait_with_output().unwrap());
    }
    assert_eq!(env.events("8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d").len(), 1);
}

#[test]
fn the_dedup_window_is_configurable_and_can_be_turned_off() {
    let env = Env::new();
    let payload = tool_call(&env, "toolu_window").to_string();
    for _ in 0..2 {
        let mut cmd = env.command(&["tool-use"]);
        cmd.env("KAIZEN_HOOK_DEDUP_MS", "0");
        assert_quiet(&env.run_with(cmd, payload.as_bytes()));
    }
    assert_eq!(env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47").len(), 2);
    let mut cmd = env.command(&["tool-use"]);
    cmd.env("KAIZEN_HOOK_DEDUP_MS", "50");
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_quiet(&env.run_with(cmd, payload.as_bytes()));
    assert_eq!(env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47").len(), 3, "outside the window it is a new event");
}

#[test]
fn no_arguments_or_unknown_arguments_still_exit_zero() {
    let env = Env::new();
    for args in [&[][..], &["PreToolUse"][..], &["tool-use", "--brand-new-flag", "x"][..]] {
        let out = env.run(args, env.fixture("claude", "PreToolUse").to_string().as_bytes());
        assert_quiet(&out);
        assert_no_stdout(&out);
    }
    assert!(env.log().contains("arguments not understood"));
}

#[test]
fn closed_stdio_never_becomes_a_session_file() {
    let env = Env::new();
    let mut cmd = env.command(&["tool-use", "--agent", "cursor"]);
    // SAFETY: close(2) on our own descriptors in the child, before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let out = env.run_with(cmd, env.fixture("cursor", "preToolUse").to_string().as_bytes());
    assert!(out.status.success());
    let events = env.events("8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d");
    assert_eq!(events.len(), 1, "the neutral reply did not land in the session file");
}

#[test]
fn a_closed_stdout_pipe_is_not_a_sigpipe_death() {
    let env = Env::new();
    let mut child = env
        .command(&["tool-use", "--agent", "cursor"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the agent stopped listening
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, env.fixture("cursor", "preToolUse").to_string().as_bytes()).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
#[cfg_attr(kaizen_test_bin, ignore = "the panic trigger is compiled into debug builds only")]
fn a_panic_is_contained_silent_and_logged() {
    let env = Env::new();
    let mut cmd = env.command(&["tool-use", "--agent", "cursor"]);
    cmd.env("KAIZEN_HOOK_TEST_PANIC", "1");
    let out = env.run_with(cmd, env.fixture("claude", "PreToolUse").to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0), "a panic is not an exit status");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.log().contains("panic: "), "{}", env.log());
}
