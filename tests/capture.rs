//! The capture pipeline through the real binary: fixtures in, `Event` and `SessionRecord` out.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const CLAUDE_SESSION: &str = "5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47";
const CURSOR_SESSION: &str = "8f3c2a1e-5b7d-4e9a-9c21-3d4f5a6b7c8d";

fn expected_claude_kind(event: &str) -> EventKind {
    match event {
        "PreToolUse" => EventKind::ToolCall,
        "PostToolUse" => EventKind::ToolResult,
        "PostToolUseFailure" | "StopFailure" => EventKind::Error,
        "UserPromptSubmit" | "UserPromptExpansion" | "MessageDisplay" => EventKind::Message,
        _ => EventKind::Lifecycle,
    }
}

fn expected_cursor_kind(event: &str) -> EventKind {
    match event {
        "preToolUse" | "beforeShellExecution" | "beforeMCPExecution" | "beforeReadFile" | "beforeTabFileRead" => {
            EventKind::ToolCall
        }
        "postToolUse" | "afterShellExecution" | "afterMCPExecution" | "afterFileEdit" | "afterTabFileEdit" => {
            EventKind::ToolResult
        }
        "postToolUseFailure" => EventKind::Error,
        "beforeSubmitPrompt" | "afterAgentResponse" | "afterAgentThought" => EventKind::Message,
        _ => EventKind::Lifecycle,
    }
}

#[test]
fn every_claude_fixture_is_recorded_with_its_kind_tool_and_call_id() {
    let env = Env::new();
    let names = fixture_names("claude");
    assert!(names.len() >= 31);
    for name in &names {
        let out = env.hook(&["event", "--agent", "claude"], &env.fixture("claude", name));
        assert_no_stdout(&out);
    }
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), names.len(), "one event per fixture");
    assert_seq_contiguous(&events);
    for (event, name) in events.iter().zip(&names) {
        let fixture = env.fixture("claude", name);
        assert_eq!(event.kind, expected_claude_kind(name), "{name}");
        assert_eq!(event.session_id, CLAUDE_SESSION);
        assert_eq!(event.payload["hook_event_name"], name.as_str());
        assert_eq!(event.payload["agent"], "claude");
        assert_eq!(event.payload["input"], fixture, "{name}: input recorded as sent");
        assert_eq!(event.tool.as_deref(), fixture["tool_name"].as_str(), "{name}");
        assert_eq!(event.tool_call_id.as_deref(), fixture["tool_use_id"].as_str(), "{name}");
        assert!(!event.ts_exact, "Claude sends no timestamps");
        assert_eq!(event.payload["context"]["commit"], env.head().as_str());
        assert_eq!(event.payload["context"]["branch"], "main");
    }
    let types: Vec<&str> = events.iter().map(|e| e.payload["type"].as_str().unwrap()).collect();
    assert!(
        types.contains(&"pre_tool_use") && types.contains(&"session_start") && types.contains(&"post_tool_use_failure")
    );
    let post = events.iter().find(|e| e.payload["hook_event_name"] == "PostToolUse").unwrap();
    assert_eq!((post.latency_ms, post.payload["latency_source"].as_str()), (Some(8412), Some("agent")));
}

#[test]
fn every_cursor_fixture_is_recorded_and_gets_the_neutral_reply() {
    let env = Env::new();
    let names = fixture_names("cursor");
    assert!(names.len() >= 21);
    for name in &names {
        let out = env.hook(&["event", "--agent", "cursor"], &env.fixture("cursor", name));
        let expected = if name == "beforeSubmitPrompt" { "{\"continue\":true}\n" } else { "{}\n" };
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}");
    }
    let events = env.events(CURSOR_SESSION);
    // workspaceOpen carries no conversation: it lands in the per-directory fallback session.
    assert_eq!(events.len(), names.len() - 1);
    assert_seq_contiguous(&events);
    let recorded: Vec<&str> = events.iter().map(|e| e.payload["hook_event_name"].as_str().unwrap()).collect();
    for (event, name) in events.iter().zip(names.iter().filter(|n| *n != "workspaceOpen")) {
        assert_eq!(event.payload["hook_event_name"], name.as_str(), "order: {recorded:?}");
        assert_eq!(event.kind, expected_cursor_kind(name), "{name}");
        assert_eq!(event.payload["agent"], "cursor");
        assert_eq!(event.payload["context"]["workspace"], env.repo.to_str().unwrap());
    }
    let by_name = |n: &str| events.iter().find(|e| e.payload["hook_event_name"] == n).unwrap();
    assert_eq!(by_name("preToolUse").tool_call_id.as_deref(), Some("abc123"));
    assert_eq!(by_name("preToolUse").tool.as_deref(), Some("Shell"));
    let (before, after) = (by_name("beforeShellExecution"), by_name("afterShellExecution"));
    assert_eq!(before.tool.as_deref(), Some("Shell"));
    assert!(before.tool_call_id.is_some());
    assert_eq!(before.tool_call_id, after.tool_call_id, "shell pairs share a derived id");
    assert_eq!(before.payload["tool_call_id_derived"], true);
    assert_eq!(after.latency_ms, Some(41));
    assert_eq!(by_name("beforeMCPExecution").tool_call_id, by_name("afterMCPExecution").tool_call_id);
    assert_eq!(by_name("afterFileEdit").tool.as_deref(), Some("Write"));
    let record = env.record(CURSOR_SESSION);
    assert_eq!(record.agent, "cursor");
    assert_eq!(record.model.as_deref(), Some("claude-opus-4-7-thinking-max"));
    assert_eq!(record.agent_version.as_deref(), Some("3.14.7"));
    assert_eq!(record.trace_path, env.fixture("cursor", "stop")["transcript_path"].as_str().unwrap());
    let fallback = env.session_files().into_iter().find(|p| !p.ends_with(format!("{CURSOR_SESSION}.jsonl"))).unwrap();
    let open = read_events(&fallback);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].payload["hook_event_name"], "workspaceOpen");
    assert!(open[0].session_id.starts_with("cursor-repo-"), "{}", open[0].session_id);
}

#[test]
fn other_agents_fixtures_are_recognised_from_the_payload() {
    let env = Env::new();
    for (agent, session) in
        [("codex", "0199a3f2-6c1e-7b40-9a55-2f1c8e4d7b90"), ("gemini", "5c0f2b8e-3a1d-4f6b-9e27-8d4c1a2b3e4f")]
    {
        let names: Vec<String> = fixture_names(agent).into_iter().filter(|n| !n.starts_with("notify")).collect();
        for name in &names {
            // Registered under the wrong agent on purpose: the payload decides.
            let out = env.hook(&["event", "--agent", "claude"], &env.fixture(agent, name));
            assert_no_stdout(&out);
        }
        let events = env.events(session);
        assert_eq!(events.len(), names.len(), "{agent}");
        assert_seq_contiguous(&events);
        for e in &events {
            assert_eq!(e.payload["agent"], agent, "{}", e.payload["hook_event_name"]);
            assert_eq!(e.payload["registered_agent"], "claude");
            assert_ne!(e.kind, EventKind::Hook, "{} is a known event", e.payload["hook_event_name"]);
        }
        assert_eq!(env.record(session).agent, agent);
    }
    let gemini = env.events("5c0f2b8e-3a1d-4f6b-9e27-8d4c1a2b3e4f");
    let before_tool = gemini.iter().find(|e| e.payload["hook_event_name"] == "BeforeTool").unwrap();
    assert_eq!(before_tool.kind, EventKind::ToolCall);
    assert!(before_tool.ts_exact, "Gemini sends timestamps");
    assert_eq!(before_tool.ts_ms, 1_787_307_342_123);
}

#[test]
fn codex_notify_reads_the_payload_from_the_last_argument() {
    let env = Env::new();
    let payload = env.fixture("codex", "notify-agent-turn-complete").to_string();
    let out = env.run_with(
        {
            let mut cmd = env.command(&["event", "--agent", "codex", "--event", "notify", &payload]);
            cmd.stdin(Stdio::null());
            cmd
        },
        b"",
    );
    assert_quiet(&out);
    let events = env.events("0199a3f2-6c1e-7b40-9a55-2f1c8e4d7b90");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload["type"], "agent_turn_complete");
    assert_eq!(events[0].payload["agent"], "codex");
    assert_eq!(env.record("0199a3f2-6c1e-7b40-9a55-2f1c8e4d7b90").status, SessionStatus::Idle);
}

#[test]
fn unknown_events_and_agents_are_recorded_in_full_never_dropped() {
    let env = Env::new();
    let odd =
        json!({"session_id": "odd-1", "hook_event_name": "BrandNewEvent", "data": {"nested": [1, 2, {"x": null}]}});
    env.hook(&["event"], &odd);
    let events = env.events("odd-1");
    assert_eq!((events.len(), events[0].kind.clone()), (1, EventKind::Hook));
    assert_eq!(events[0].payload["input"], odd);
    assert_eq!(events[0].payload["type"], "brand_new_event");

    let anonymous = json!({"whatever": true, "cwd": env.repo});
    env.hook(&["tool-use", "--agent", "mystery"], &anonymous);
    let files = env.session_files();
    let fallback =
        files.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with("mystery-repo-")).unwrap();
    let events = read_events(fallback);
    assert_eq!(events[0].kind, EventKind::ToolCall, "tool-use with no event name and no result is a call");
    assert_eq!(events[0].payload["input"], anonymous);
}

#[test]
fn copilot_camel_case_payloads_get_their_event_from_the_registration() {
    let env = Env::new();
    let pre = json!({"sessionId": "cp-1", "timestamp": 1_787_307_342_000u64, "cwd": env.repo, "toolName": "bash", "toolArgs": "{\"command\":\"ls\"}"});
    let mut post = pre.clone();
    post["timestamp"] = json!(1_787_307_342_250u64);
    post["toolResult"] = json!({"resultType": "success", "textResultForLlm": "a b"});
    env.hook(&["tool-use", "--agent", "copilot", "--event", "preToolUse"], &pre);
    env.hook(&["tool-use", "--agent", "copilot", "--event", "postToolUse"], &post);
    let events = env.events("cp-1");
    assert_eq!((events[0].kind.clone(), events[1].kind.clone()), (EventKind::ToolCall, EventKind::ToolResult));
    assert_eq!(events[0].tool_call_id, events[1].tool_call_id);
    assert_eq!(events[1].latency_ms, Some(250), "paired by the derived id, timed by the agent's clock");
    assert_eq!(events[1].payload["latency_source"], "hook");
    assert_eq!(events[1].payload["hook_event_name"], "postToolUse");
}

#[test]
fn session_lifecycle_follows_start_turns_and_end() {
    let env = Env::new();
    let first_commit = env.head();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    let r = env.record(CLAUDE_SESSION);
    assert_eq!(r.status, SessionStatus::Running);
    assert_eq!(r.start_commit.as_deref(), Some(first_commit.as_str()));
    assert_eq!((r.branch.as_deref(), r.dirty_start), (Some("main"), Some(false)));
    assert_eq!(r.model.as_deref(), Some("claude-sonnet-5"));
    assert_eq!(r.workspace, env.repo.to_str().unwrap());
    assert_eq!(r.repo_binding_source.as_deref(), Some("git:payload.cwd"));
    assert_eq!((r.os.as_deref(), r.arch.as_deref()), (Some(std::env::consts::OS), Some(std::env::consts::ARCH)));
    assert_eq!(r.trace_path, env.fixture("claude", "SessionStart")["transcript_path"].as_str().unwrap());
    let started = r.started_at_ms;

    env.hook(&["prompt"], &env.fixture("claude", "UserPromptSubmit"));
    let mut pre = env.fixture("claude", "PreToolUse");
    pre["tool_use_id"] = json!("toolu_latency");
    env.hook(&["tool-use"], &pre);
    std::thread::sleep(Duration::from_millis(30));
    let mut post = env.fixture("claude", "PostToolUse");
    post["tool_use_id"] = json!("toolu_latency");
    post.as_object_mut().unwrap().remove("duration_ms");
    env.hook(&["tool-use"], &post);

    std::fs::write(env.repo.join("new.rs"), "fn f() {}\n").unwrap();
    env.git(&["add", "new.rs"]);
    env.git(&["commit", "-qm", "second"]);
    std::fs::write(env.repo.join("README.md"), "changed\n").unwrap();
    let second_commit = env.head();
    env.hook(&["stop"], &env.fixture("claude", "Stop"));
    let r = env.record(CLAUDE_SESSION);
    assert_eq!(r.status, SessionStatus::Idle, "Stop ends a turn, not the session");
    assert_eq!(r.ended_at_ms, None);
    assert_eq!(r.end_commit.as_deref(), Some(second_commit.as_str()));
    assert_eq!(r.dirty_end, Some(true));

    let mut resume = env.fixture("claude", "SessionStart");
    resume["source"] = json!("resume");
    env.hook(&["session-start"], &resume);
    let r = env.record(CLAUDE_SESSION);
    assert_eq!(r.status, SessionStatus::Running);
    assert_eq!(r.started_at_ms, started, "a second SessionStart keeps what is known");
    assert_eq!(r.start_commit.as_deref(), Some(first_commit.as_str()));
    assert_eq!(r.dirty_start, Some(false));

    env.hook(&["session-end"], &env.fixture("claude", "SessionEnd"));
    let r = env.record(CLAUDE_SESSION);
    assert_eq!(r.status, SessionStatus::Done);
    assert!(r.ended_at_ms.unwrap() >= r.started_at_ms);

    let events = env.events(CLAUDE_SESSION);
    assert_seq_contiguous(&events);
    let result = events.iter().find(|e| e.kind == EventKind::ToolResult).unwrap();
    assert_eq!(result.payload["latency_source"], "hook");
    let latency = result.latency_ms.unwrap();
    let call = events.iter().find(|e| e.kind == EventKind::ToolCall).unwrap();
    assert_eq!(u64::from(latency), result.ts_ms - call.ts_ms);
    assert!(latency >= 30);
    // Snapshots on start, stop and end; only commit and branch elsewhere.
    for e in &events {
        let snapshot = e.payload["context"].get("dirty").is_some();
        let expected = matches!(e.payload["type"].as_str(), Some("session_start" | "stop" | "session_end"));
        assert_eq!(snapshot, expected, "{}", e.payload["type"]);
    }
    let stop = events.iter().find(|e| e.payload["type"] == "stop").unwrap();
    assert_eq!(stop.payload["context"]["dirty"], true);
    assert_eq!(stop.payload["context"]["repo_file_count"], 3);
}

#[test]
fn the_first_event_of_a_session_creates_its_record() {
    let env = Env::new();
    env.hook(&["tool-use"], &env.fixture("claude", "PostToolUse"));
    let r = env.record(CLAUDE_SESSION);
    assert_eq!(r.status, SessionStatus::Running);
    assert_eq!(r.start_commit.as_deref(), Some(env.head().as_str()));
    assert_eq!(r.dirty_start, Some(false));
    assert_eq!((r.repo_file_count, r.repo_total_loc), (Some(2), Some(3)));
}

/// Files and LOC computed independently of the binary, straight from git.
fn independent_count(repo: &Path, home: &Path) -> (u32, u64) {
    let listed = git_in(repo, home, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
    let mut paths: Vec<&str> = listed.split('\0').filter(|p| !p.is_empty()).collect();
    paths.sort();
    paths.dedup();
    let (mut files, mut loc) = (0, 0);
    for p in paths {
        let path = repo.join(p);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_file() {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        if bytes[..bytes.len().min(8192)].contains(&0) {
            continue;
        }
        loc += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        if bytes.last().is_some_and(|&b| b != b'\n') {
            loc += 1;
        }
    }
    (files, loc)
}

#[test]
fn files_and_loc_match_git_ls_files_and_a_line_count() {
    let env = Env::new();
    let r = &env.repo;
    std::fs::create_dir_all(r.join("src/deep/er")).unwrap();
    std::fs::write(r.join("src/deep/er/x.rs"), "a\nb\nc\n").unwrap();
    std::fs::write(r.join(".hidden"), "secret-ish\n").unwrap();
    std::fs::write(r.join(".gitignore"), "*.log\nbuild/\n").unwrap();
    std::fs::write(r.join("debug.log"), "ignored\n".repeat(50)).unwrap();
    std::fs::create_dir_all(r.join("build")).unwrap();
    std::fs::write(r.join("build/out.txt"), "ignored\n").unwrap();
    std::fs::write(r.join("blob.bin"), b"\x00\x01\x02\nbinary\n").unwrap();
    std::fs::write(r.join("empty.txt"), "").unwrap();
    std::fs::write(r.join("no-newline.txt"), "one\ntwo").unwrap();
    std::os::unix::fs::symlink("README.md", r.join("link.md")).unwrap();
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "more"]);
    std::fs::write(r.join("forced.log"), "tracked though ignored\n").unwrap();
    env.git(&["add", "-f", "forced.log"]);
    env.git(&["commit", "-qm", "forced"]);
    std::fs::write(r.join("untracked.txt"), "u1\nu2\n").unwrap();
    std::fs::remove_file(r.join("empty.txt")).unwrap(); // tracked, gone from disk
    std::fs::create_dir_all(r.join("nested")).unwrap();
    git_in(&r.join("nested"), &env.user_home, &["init", "-q"]);
    std::fs::write(r.join("nested/inner.txt"), "not ours\n").unwrap();

    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    let (files, loc) = independent_count(&env.repo, &env.user_home);
    let rec = env.record(CLAUDE_SESSION);
    assert_eq!((rec.repo_file_count, rec.repo_total_loc), (Some(files), Some(loc)));
    assert_eq!(rec.dirty_start, Some(true), "untracked files and a deleted file make it dirty");
    assert!(files >= 9, "the fixture repository has content: {files}");
}

#[test]
fn dirty_means_git_status_porcelain_prints_something() {
    let env = Env::new();
    let mut n = 0;
    let mut stop = |env: &Env| {
        n += 1;
        let mut payload = env.fixture("claude", "Stop");
        payload["last_assistant_message"] = json!(format!("turn {n}"));
        env.hook(&["stop"], &payload);
        env.record(CLAUDE_SESSION).dirty_end
    };
    assert_eq!(stop(&env), Some(false));
    std::fs::write(env.repo.join("ignored.tmp"), "x").unwrap();
    std::fs::write(env.repo.join(".gitignore"), "*.tmp\n").unwrap();
    assert_eq!(stop(&env), Some(true), "untracked .gitignore");
    env.git(&["add", ".gitignore"]);
    env.git(&["commit", "-qm", "ignore"]);
    assert_eq!(stop(&env), Some(false), "ignored files are not dirt");
    std::fs::write(env.repo.join("main.rs"), "fn main() { changed() }").unwrap();
    assert_eq!(stop(&env), Some(true), "modified tracked file");
    assert!(!env.repo.join(".git/index.lock").exists());
}

fn context_of(env: &Env, cwd: &Path, session: &str) -> (Value, SessionRecord) {
    let mut start = env.fixture("claude", "SessionStart");
    start["session_id"] = json!(session);
    start["cwd"] = json!(cwd);
    env.hook(&["session-start"], &start);
    let mut tool = env.fixture("claude", "PreToolUse");
    tool["session_id"] = json!(session);
    tool["cwd"] = json!(cwd);
    env.hook(&["tool-use"], &tool);
    let events = env.events(session);
    assert_eq!(events.len(), 2);
    (events[1].payload["context"].clone(), env.record(session))
}

#[test]
fn unusual_repositories_and_directories_are_recorded_not_crashed_on() {
    let env = Env::new();
    let base = env.tmp.path();

    let unborn = base.join("unborn");
    std::fs::create_dir_all(&unborn).unwrap();
    git_in(&unborn, &env.user_home, &["init", "-q", "-b", "trunk"]);
    let (ctx, rec) = context_of(&env, &unborn, "unborn");
    assert_eq!(
        (ctx["commit"].clone(), ctx["branch"].clone(), ctx["head"].clone()),
        (Value::Null, json!("trunk"), json!("unborn"))
    );
    assert_eq!(rec.start_commit, None);
    assert_eq!(rec.dirty_start, Some(false));

    let head = env.head();
    env.git(&["checkout", "-q", "--detach"]);
    let (ctx, _) = context_of(&env, &env.repo, "detached");
    assert_eq!(
        (ctx["commit"].as_str(), ctx["branch"].clone(), ctx["head"].as_str()),
        (Some(head.as_str()), Value::Null, Some("detached"))
    );
    env.git(&["checkout", "-q", "main"]);

    let plain = base.join("plain");
    std::fs::create_dir_all(plain.join("sub")).unwrap();
    std::fs::write(plain.join("sub/a.txt"), "1\n2\n").unwrap();
    let (ctx, rec) = context_of(&env, &plain, "plain");
    assert_eq!((ctx["commit"].clone(), ctx["head"].clone()), (Value::Null, Value::Null));
    assert_eq!(rec.repo_binding_source.as_deref(), Some("dir:payload.cwd"));
    assert_eq!((rec.repo_file_count, rec.repo_total_loc, rec.dirty_start), (Some(1), Some(2), None));

    let (ctx, rec) = context_of(&env, &env.user_home, "home");
    assert_eq!(ctx["workspace"], env.user_home.to_str().unwrap());
    assert_eq!(rec.repo_file_count, None, "a home directory is not walked");

    let missing = base.join("does/not/exist");
    let (ctx, rec) = context_of(&env, &missing, "missing");
    assert_eq!(ctx["cwd"], missing.to_str().unwrap());
    assert_eq!((rec.start_commit, rec.repo_file_count, rec.repo_total_loc), (None, None, None), "unknown, not zero");

    let bare = base.join("bare.git");
    git_in(base, &env.user_home, &["clone", "-q", "--bare", env.repo.to_str().unwrap(), bare.to_str().unwrap()]);
    let (ctx, rec) = context_of(&env, &bare, "bare");
    assert_eq!((ctx["commit"].as_str(), ctx["branch"].as_str()), (Some(head.as_str()), Some("main")));
    assert_eq!((rec.dirty_start, rec.repo_file_count, rec.repo_total_loc), (None, None, None), "no work tree");

    let worktree = base.join("wt");
    env.git(&["worktree", "add", "-q", "-b", "feature", worktree.to_str().unwrap()]);
    let (ctx, rec) = context_of(&env, &worktree.join("."), "worktree");
    assert_eq!((ctx["commit"].as_str(), ctx["branch"].as_str()), (Some(head.as_str()), Some("feature")));
    assert_eq!(rec.workspace, worktree.to_str().unwrap());
    assert_eq!(rec.dirty_start, Some(false));
    assert_eq!(rec.repo_file_count, Some(2));

    let sub = env.repo.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let (ctx, _) = context_of(&env, &sub, "subdir");
    assert_eq!(ctx["workspace"], env.repo.to_str().unwrap(), "the workspace is the repository's top level");
}

#[test]
fn sixty_four_concurrent_writers_give_sixty_four_lines_in_order() {
    let env = Env::new();
    let children: Vec<_> = (0..64)
        .map(|i| {
            let mut payload = env.fixture("claude", "PreToolUse");
            payload["tool_use_id"] = json!(format!("toolu_{i:03}"));
            env.spawn(&["tool-use"], payload.to_string().as_bytes())
        })
        .collect();
    for child in children {
        assert_quiet(&child.wait_with_output().unwrap());
    }
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), 64);
    assert_seq_contiguous(&events);
    let mut ids: Vec<_> = events.iter().map(|e| e.tool_call_id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64, "every run landed once");
    assert_eq!(env.log(), "", "no run gave up");
}

#[test]
fn a_torn_last_line_is_cut_not_glued_to_the_next_event() {
    let env = Env::new();
    env.hook(&["session-start"], &env.fixture("claude", "SessionStart"));
    env.hook(&["prompt"], &env.fixture("claude", "UserPromptSubmit"));
    let path = env.sessions_dir().join(format!("{CLAUDE_SESSION}.jsonl"));
    let mut torn = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut torn, br#"{"session_id":"5d8a3f1e","seq":2,"ts_ms":17"#).unwrap();
    drop(torn);
    env.hook(&["tool-use"], &env.fixture("claude", "PreToolUse"));
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), 3);
    assert_seq_contiguous(&events);
    assert_eq!(events[2].kind, EventKind::ToolCall);
    assert!(env.log().contains("torn last line"), "log: {}", env.log());
}

#[test]
fn writers_killed_at_random_moments_never_corrupt_the_file() {
    let env = Env::new();
    let big = "x".repeat(3 << 20);
    for round in 0..24 {
        let mut payload = env.fixture("claude", "PostToolUse");
        payload["tool_use_id"] = json!(format!("toolu_kill_{round}"));
        payload["tool_response"]["stdout"] = json!(big);
        let bytes = payload.to_string().into_bytes();
        let mut child = env
            .command(&["tool-use"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &bytes);
        });
        std::thread::sleep(Duration::from_micros(500 * (round % 8)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let _ = writer.join();
    }
    env.hook(&["stop"], &env.fixture("claude", "Stop"));
    let events = env.events(CLAUDE_SESSION);
    assert_seq_contiguous(&events);
    assert_eq!(events.last().unwrap().payload["type"], "stop");
}

#[test]
fn stdin_left_open_does_not_stall_the_agent() {
    let env = Env::new();
    let mut cmd = env.command(&["tool-use"]);
    // stdin's share of this budget is 30 s: a run that waits for it is plain to see.
    cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000");
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, env.fixture("claude", "PreToolUse").to_string().as_bytes()).unwrap();
    // The pipe stays open: a complete JSON value is enough to go on.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "hook still running with stdin open");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success());
    drop(stdin);
    assert_eq!(env.events(CLAUDE_SESSION).len(), 1);

    // Half a payload and an open pipe: recorded as unparseable when stdin's share of the budget runs out.
    let mut cmd = env.command(&["tool-use"]);
    cmd.env("KAIZEN_HOOK_BUDGET_MS", "400").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, br#"{"session_id": "half", "hook_event_name": "PreTo"#).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "a 400 ms budget");
    drop(stdin);
    assert_quiet(&out);
    let files = env.session_files();
    let half = files.iter().find(|p| !p.ends_with(format!("{CLAUDE_SESSION}.jsonl"))).unwrap();
    let events = read_events(half);
    assert_eq!(events[0].kind, EventKind::Hook);
    assert_eq!(events[0].payload["stdin_timed_out"], true);
    assert!(events[0].payload["input_raw"].as_str().unwrap().starts_with("{\"session_id\": \"half\""));
}

#[test]
fn claude_and_cursor_stdout_rules() {
    let env = Env::new();
    for name in ["SessionStart", "UserPromptSubmit", "PreToolUse", "Stop"] {
        let out = env.hook(&["event", "--agent", "claude"], &env.fixture("claude", name));
        assert_no_stdout(&out);
    }
    // Cursor running the hooks in ~/.claude/settings.json: registered as Claude, replies as Cursor.
    let out = env.hook(&["prompt", "--agent", "claude"], &env.fixture("cursor", "beforeSubmitPrompt"));
    assert_eq!(out.stdout, b"{\"continue\":true}\n");
}

#[test]
fn help_and_version_are_for_people() {
    let env = Env::new();
    let out = env.run(&["--version"], b"");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kaizen-hook "));
}

/// Agents with no fixture here, in the shapes their documentation gives.
#[test]
fn agents_without_fixtures_are_recognised_from_their_documented_shapes() {
    let env = Env::new();
    let cwd = env.repo.to_str().unwrap().to_string();
    let cases: Vec<(&[&str], Value, &str, EventKind, &str)> = vec![
        (
            &["tool-use", "--agent", "claude"],
            json!({"timestamp": "2026-08-21T10:15:42.123Z", "cwd": cwd, "sessionId": "vs-1", "hookEventName": "PreToolUse",
                   "tool_name": "editFiles", "tool_input": {"filePath": "a.rs"}, "tool_use_id": "call_1"}),
            "vscode",
            EventKind::ToolCall,
            "vs-1",
        ),
        (
            &["tool-use", "--agent", "copilot"],
            json!({"hook_event_name": "PostToolUse", "session_id": "cp-pascal", "timestamp": "2026-08-21T10:15:42Z", "cwd": cwd,
                   "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_response": "a b"}),
            "copilot",
            EventKind::ToolResult,
            "cp-pascal",
        ),
        (
            &["event", "--agent", "copilot", "--event", "errorOccurred"],
            json!({"sessionId": "cp-camel", "timestamp": 1_787_307_342_000u64, "cwd": cwd,
                   "error": {"message": "boom", "name": "Error"}, "errorContext": "model_call", "recoverable": true}),
            "copilot",
            EventKind::Error,
            "cp-camel",
        ),
        (
            &["event", "--agent", "cline"],
            json!({"clineVersion": "3.36.0", "hookName": "TaskStart", "timestamp": "1787307342123", "taskId": "task-9",
                   "workspaceRoots": [cwd], "userId": "u", "taskStart": {"taskMetadata": {"taskId": "task-9", "ulid": "01J", "initialTask": "fix it"}}}),
            "cline",
            EventKind::Lifecycle,
            "task-9",
        ),
        (
            &["event", "--agent", "windsurf"],
            json!({"agent_action_name": "pre_user_prompt", "trajectory_id": "traj-1", "execution_id": "exec-1",
                   "timestamp": "2026-08-21T10:15:42.123Z", "tool_info": {"user_prompt": "hello"}}),
            "windsurf",
            EventKind::Message,
            "traj-1",
        ),
        (
            &["event", "--agent", "factory"],
            json!({"session_id": "fd-1", "transcript_path": "/home/u/.factory/projects/p/fd-1.jsonl", "cwd": cwd,
                   "permission_mode": "default", "hook_event_name": "Stop", "stop_hook_active": false}),
            "factory",
            EventKind::Lifecycle,
            "fd-1",
        ),
        (
            &["event", "--agent", "qwen"],
            json!({"session_id": "qw-1", "cwd": cwd, "hook_event_name": "PreToolUse", "timestamp": "2026-08-21T10:15:42Z",
                   "permission_mode": "yolo", "tool_name": "run_shell_command", "tool_input": {"command": "ls"}}),
            "qwen",
            EventKind::ToolCall,
            "qw-1",
        ),
    ];
    for (args, payload, agent, kind, session) in &cases {
        env.hook(args, payload);
        let events = env.events(session);
        assert_eq!(events.len(), 1, "{agent}");
        assert_eq!(events[0].payload["agent"], *agent);
        assert_eq!(events[0].kind, *kind, "{agent}");
        assert_eq!(events[0].payload["input"], *payload, "{agent}: recorded in full");
    }
    let windsurf = &env.events("traj-1")[0];
    assert_eq!(windsurf.tool_call_id, None, "an action id is a call id only for tool events");
    assert!(windsurf.ts_exact);

    // Kiro sends no session id: the per-directory fallback session.
    let kiro = json!({"hook_event_name": "agentSpawn", "cwd": cwd});
    env.hook(&["session-start", "--agent", "kiro"], &kiro);
    let file = env
        .session_files()
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("kiro-repo-"))
        .unwrap();
    let events = read_events(&file);
    assert_eq!((events[0].payload["agent"].as_str(), events[0].kind.clone()), (Some("kiro"), EventKind::Lifecycle));
}
