//! Hostile environments around the hook's input and the repository it reads:
//! FIFOs and devices where git keeps files, damaged indexes, stdin left open
//! or not a pipe at all, payloads that are large in structure rather than in
//! one string, a tight address-space limit, an enormous rules directory.
//! Every run here is bounded: a hook that hangs is killed and fails its test.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far beyond any healthy run, even on a loaded machine: the bugs here hang forever.
const HANG: Duration = Duration::from_secs(90);

struct Ran {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    took: Duration,
}

/// Waits for `child` at most `HANG`, killing it (and failing) past that.
fn wait_bounded(mut child: Child, started: Instant, what: &str) -> Ran {
    loop {
        if child.try_wait().unwrap().is_some() {
            let took = started.elapsed();
            let out = child.wait_with_output().unwrap();
            return Ran { success: out.status.success(), stdout: out.stdout, stderr: out.stderr, took };
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the hook was still running after {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` with `stdin` written, then closed (or left open), bounded.
fn run_bounded(mut cmd: Command, stdin: &[u8], keep_open: bool, what: &str) -> Ran {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).unwrap();
    let started = Instant::now();
    if !keep_open {
        drop(pipe);
        return wait_bounded(child, started, what);
    }
    let ran = wait_bounded(child, started, what);
    drop(pipe);
    ran
}

fn assert_silent(ran: &Ran, what: &str) {
    assert!(ran.success, "{what}: exit status");
    assert!(ran.stdout.is_empty() && ran.stderr.is_empty(), "{what}: printed {:?}", ran.stderr);
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

fn replace_with_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    mkfifo(path);
}

fn start(env: &Env, id: &str) -> Value {
    json!({"session_id": id, "hook_event_name": "SessionStart", "source": "startup", "cwd": env.repo})
}

/// One SessionStart in `env`, bounded; returns its event's context.
fn session_start(env: &Env, id: &str, what: &str) -> Value {
    let ran = run_bounded(env.command(&["session-start"]), start(env, id).to_string().as_bytes(), false, what);
    assert_silent(&ran, what);
    let events = env.events(id);
    assert_eq!(events.len(), 1, "{what}: the event was lost");
    events[0].payload["context"].clone()
}

#[test]
fn a_fifo_or_a_device_where_git_keeps_a_file_never_hangs_the_hook() {
    type Plant = fn(&Env);
    // What is planted, how, and whether HEAD's commit can still be read around it.
    let cases: &[(&str, Plant, bool)] = &[
        ("a FIFO at the branch's ref", |env| replace_with_fifo(&env.repo.join(".git/refs/heads/main")), false),
        (
            "the branch's ref a symlink to /dev/zero",
            |env| {
                let r = env.repo.join(".git/refs/heads/main");
                std::fs::remove_file(&r).unwrap();
                std::os::unix::fs::symlink("/dev/zero", r).unwrap();
            },
            false,
        ),
        (
            "a FIFO at .git",
            |env| {
                std::fs::rename(env.repo.join(".git"), env.tmp.path().join("moved.git")).unwrap();
                mkfifo(&env.repo.join(".git"));
            },
            false,
        ),
        (
            ".git a symlink to /dev/zero",
            |env| {
                std::fs::rename(env.repo.join(".git"), env.tmp.path().join("moved.git")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", env.repo.join(".git")).unwrap();
            },
            false,
        ),
        (
            "a FIFO at packed-refs",
            |env| {
                env.git(&["pack-refs", "--all"]);
                replace_with_fifo(&env.repo.join(".git/packed-refs"));
            },
            false,
        ),
        (
            "packed-refs a symlink to /dev/zero",
            |env| {
                env.git(&["pack-refs", "--all"]);
                std::fs::remove_file(env.repo.join(".git/packed-refs")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", env.repo.join(".git/packed-refs")).unwrap();
            },
            false,
        ),
        ("a FIFO at commondir", |env| mkfifo(&env.repo.join(".git/commondir")), true),
        ("a FIFO at HEAD", |env| replace_with_fifo(&env.repo.join(".git/HEAD")), false),
    ];
    for (what, plant, readable) in cases {
        let env = Env::new();
        let head = env.head();
        plant(&env);
        let context = session_start(&env, "fifo-git", what);
        let expected = if *readable { json!(head) } else { Value::Null };
        assert_eq!(context["commit"], expected, "{what}");
    }
}

/// What the scan and libgit2 would open blocking: refused up front, named in
/// the log, and the run ends long before its deadline.
#[test]
fn a_fifo_where_the_scan_reads_is_named_not_waited_for() {
    for file in [".git/index", ".git/config", ".gitignore"] {
        let env = Env::new();
        let head = env.head();
        replace_with_fifo(&env.repo.join(file));
        let mut cmd = env.command(&["session-start"]);
        // Waiting for the deadline would take most of a minute: the guard answers at once.
        cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000");
        let ran = run_bounded(cmd, start(&env, "fifo-scan").to_string().as_bytes(), false, file);
        assert_silent(&ran, file);
        let events = env.events("fifo-scan");
        assert_eq!(events[0].payload["context"]["commit"], head.as_str(), "{file}: HEAD is still read");
        assert_eq!(events[0].payload["context"]["dirty"], Value::Null, "{file}");
        let log = env.log();
        assert!(log.contains(&format!("{file} is not a regular file")), "{file}: {log}");
        assert!(ran.took < Duration::from_secs(20), "{file}: took {:?}, waited for the deadline", ran.took);
    }
}

#[test]
fn a_truncated_or_corrupt_index_is_survived_without_a_panic() {
    let env = Env::new();
    let good = std::fs::read(env.repo.join(".git/index")).unwrap();
    let mut damaged: Vec<Vec<u8>> = [0, 4, 12, 13, 40, 80, good.len() / 2, good.len() - 21, good.len() - 1]
        .iter()
        .map(|&cut| good[..cut].to_vec())
        .collect();
    for at in [8, 11, 12 + 60, 12 + 62] {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        damaged.push(bad);
    }
    for (i, bytes) in damaged.iter().enumerate() {
        std::fs::write(env.repo.join(".git/index"), bytes).unwrap();
        let id = format!("index-{i}");
        session_start(&env, &id, &id);
        assert!(!env.log().contains("panic"), "{}", env.log());
    }
}

#[test]
fn stdin_left_open_after_a_complete_value_costs_the_grace_not_the_budget() {
    let env = Env::new();
    let mut cmd = env.command(&["tool-use"]);
    // stdin's share of this budget is 30 s: a run that waits for it is plain to see.
    cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000");
    let payload = env.fixture("claude", "PreToolUse").to_string();
    let ran = run_bounded(cmd, payload.as_bytes(), true, "stdin left open");
    assert_silent(&ran, "stdin left open");
    assert!(ran.took < Duration::from_secs(15), "took {:?}: the grace restarted on every poll", ran.took);
    let events = env.events("5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47");
    assert_eq!(events.len(), 1);
    assert!(events[0].payload.get("stdin_timed_out").is_none());
}

/// A pseudo-terminal: its main side (keep it open, or the terminal hangs
/// up) and its secondary side, for use as stdin.
fn a_terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls; each fd is checked and then owned by one File.
    unsafe {
        let main = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(main >= 0 && libc::grantpt(main) == 0 && libc::unlockpt(main) == 0);
        let secondary = libc::open(libc::ptsname(main), libc::O_RDWR | libc::O_NOCTTY);
        assert!(secondary >= 0);
        (std::fs::File::from_raw_fd(main), std::fs::File::from_raw_fd(secondary))
    }
}

/// Codex runs `notify` with the payload as an argument and its own terminal
/// as stdin; `/dev/zero` or a directory can be stdin too. None holds a
/// payload: none is read (a terminal's keystrokes are the person's).
#[test]
fn a_terminal_a_device_or_a_directory_as_stdin_is_not_read() {
    let env = Env::new();
    let payload = env.fixture("codex", "notify-agent-turn-complete").to_string();
    let (_main, terminal) = a_terminal();
    let stdins: Vec<(&str, Stdio)> = vec![
        ("a terminal", Stdio::from(terminal)),
        ("/dev/zero", Stdio::from(std::fs::File::open("/dev/zero").unwrap())),
        ("a directory", Stdio::from(std::fs::File::open(&env.user_home).unwrap())),
    ];
    for (i, (what, stdin)) in stdins.into_iter().enumerate() {
        let mut cmd = env.command(&["event", "--agent", "codex", "--event", "notify", &payload]);
        // stdin's share of this budget is 30 s: a run that waits for it is plain to see.
        cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000").env("KAIZEN_HOOK_DEDUP_MS", "0");
        let child = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let ran = wait_bounded(child, Instant::now(), what);
        assert_silent(&ran, what);
        assert!(ran.took < Duration::from_secs(15), "{what}: took {:?} waiting on stdin", ran.took);
        let events = env.events("0199a3f2-6c1e-7b40-9a55-2f1c8e4d7b90");
        assert_eq!(events.len(), i + 1, "{what}: the argument's payload was recorded");
        assert!(!env.log().contains("stdin still open"), "{what}: {}", env.log());
    }
}

/// `{"tool_response": {"filenames": [50 MB of short strings], "numFiles": n}}`
/// with the identifying fields before or after it.
fn many_small_strings(env: &Env, id: &str, fields_first: bool) -> Vec<u8> {
    let head = json!({"session_id": id, "hook_event_name": "PostToolUse", "tool_name": "Glob",
        "tool_use_id": "toolu_many", "cwd": env.repo, "transcript_path": "/nonexistent.jsonl"});
    let head = head.to_string();
    let fields = &head[1..head.len() - 1];
    let mut out = Vec::with_capacity(52 << 20);
    out.extend_from_slice(b"{");
    if fields_first {
        out.extend_from_slice(fields.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(br#""tool_response": {"filenames": ["#);
    let item = br#""src/a/b/file.rs","#;
    for _ in 0..(50 << 20) / item.len() {
        out.extend_from_slice(item);
    }
    out.extend_from_slice(br#""last.rs"], "numFiles": 3}"#);
    if !fields_first {
        out.push(b',');
        out.extend_from_slice(fields.as_bytes());
    }
    out.push(b'}');
    out
}

#[test]
fn fifty_megabytes_of_small_strings_keep_their_session_event_and_agent() {
    for fields_first in [true, false] {
        let env = Env::new();
        let id = if fields_first { "many-first" } else { "many-last" };
        let mut cmd = env.command(&["tool-use"]);
        // A debug build on a loaded machine reads 50 MB slowly: this is about structure, not speed.
        cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000");
        let ran = run_bounded(cmd, &many_small_strings(&env, id, fields_first), false, id);
        assert_silent(&ran, id);
        let events = env.events(id);
        assert_eq!(events.len(), 1, "{id}");
        let p = &events[0].payload;
        assert_eq!((p["agent"].as_str(), p["type"].as_str()), (Some("claude"), Some("post_tool_use")), "{id}");
        assert_eq!(events[0].tool.as_deref(), Some("Glob"));
        let response = &p["input"]["tool_response"];
        assert_eq!(response["numFiles"], 3, "the small sibling is kept");
        let files = response["filenames"].as_str().expect("the big array became a marker");
        assert!(files.starts_with("…[truncated: ") && files.ends_with(" bytes]"), "{files}");
    }
}

/// A 6 MB payload: a 4 MB string and 1.3 MB of numbers (each a `Value` once parsed)
/// under a 64 MiB address-space limit: the event is recorded, nothing printed.
#[test]
fn a_six_megabyte_payload_under_a_tight_address_space_limit_is_recorded() {
    let env = Env::new();
    let id = "tight-memory";
    // The session exists already: this run takes no snapshot (threads reserve address space).
    session_start(&env, id, "start");
    let mut payload = json!({"session_id": id, "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": "toolu_tight", "cwd": env.repo,
        "tool_response": {"stdout": "y".repeat(4 << 20), "numbers": vec![1; 640_000]}});
    payload["tool_input"] = json!({"command": "seq"});
    let bytes = payload.to_string().into_bytes();
    assert!(bytes.len() > 5 << 20);
    let mut cmd = env.command(&["tool-use"]);
    // SAFETY: setrlimit is async-signal-safe; it limits only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 64 << 20, rlim_max: 64 << 20 };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let ran = run_bounded(cmd, &bytes, false, "RLIMIT_AS");
    assert_silent(&ran, "RLIMIT_AS");
    let events = env.events(id);
    assert_eq!(events.len(), 2, "{}", env.log());
    let response = &events[1].payload["input"]["tool_response"];
    assert!(response["numbers"].as_str().is_some_and(|m| m.starts_with("…[truncated: ")), "{response}");
    assert!(response["stdout"].as_str().is_some_and(|s| s.starts_with("yyy")));
}

/// The bytes a run of the binary under `strace` read, summed over its
/// `read` and `pread64` calls.
fn bytes_read(env: &Env, args: &[&str], stdin: &[u8]) -> u64 {
    let trace = env.tmp.path().join("reads.strace");
    let mut cmd = env.sandbox(Command::new("strace"));
    cmd.args(["-f", "-qq", "-e", "trace=read,pread64", "-o"]).arg(&trace).arg(BIN).args(args);
    let ran = run_bounded(cmd, stdin, false, "under strace");
    assert_silent(&ran, "under strace");
    let trace = std::fs::read_to_string(&trace).expect("strace wrote its trace");
    trace.lines().filter_map(|l| l.rsplit_once(" = ")).filter_map(|(_, n)| n.trim().parse::<u64>().ok()).sum()
}

/// 3,000 one-megabyte rules files (sparse: no disk used) in `.cursor/rules`:
/// the fingerprint reads a capped amount (4 MiB of content, counted from the
/// run's own reads, not timed), and stays stable between sessions.
#[test]
fn a_huge_rules_directory_is_fingerprinted_from_a_capped_read() {
    let env = Env::new();
    let rules = env.repo.join(".cursor/rules");
    std::fs::create_dir_all(&rules).unwrap();
    for i in 0..3000 {
        let f = std::fs::File::create(rules.join(format!("rule-{i:04}.mdc"))).unwrap();
        f.set_len(1 << 20).unwrap();
    }
    std::fs::write(env.repo.join(".gitignore"), ".cursor/\n").unwrap();
    let mut prints = Vec::new();
    for id in ["rules-1", "rules-2"] {
        let read = bytes_read(&env, &["session-start"], start(&env, id).to_string().as_bytes());
        // 3 GB there; the cap, the payload and git's files are a few MiB.
        assert!(read < 16 << 20, "{id}: read {read} bytes");
        prints.push(env.record(id).prompt_fingerprint.expect("a fingerprint"));
    }
    assert_eq!(prints[0], prints[1], "stable between sessions");
    // A file past the content cap still counts, by its size.
    std::fs::File::options().write(true).open(rules.join("rule-2999.mdc")).unwrap().set_len(2 << 20).unwrap();
    let ran = run_bounded(env.command(&["session-start"]), start(&env, "rules-3").to_string().as_bytes(), false, "3");
    assert_silent(&ran, "rules-3");
    assert_ne!(env.record("rules-3").prompt_fingerprint.as_ref(), Some(&prints[0]));
}

/// 300,000 top-level fields after the identifying ones: the first fields are
/// kept (agents send their ids first), the flood after them is dropped.
#[test]
fn a_flood_of_top_level_fields_keeps_the_ones_before_it() {
    let env = Env::new();
    let head = json!({"session_id": "flood", "hook_event_name": "Stop", "cwd": env.repo}).to_string();
    let mut payload = head[..head.len() - 1].to_string();
    for i in 0..300_000 {
        payload.push_str(&format!(r#","k{i}": {i}"#));
    }
    payload.push('}');
    let cmd = env.command(&["stop"]);
    let ran = run_bounded(cmd, payload.as_bytes(), false, "flood");
    assert_silent(&ran, "flood");
    let events = env.events("flood");
    assert_eq!(events[0].payload["type"], "stop");
    assert!(events[0].payload["input"].get("k299999").is_none(), "the flood's end was dropped");
}
