//! Hostile environments for the store and the human commands (issue 15):
//! a frozen lock holder, a stepped wall clock, no HOME, a huge torn tail,
//! a closed pipe, odd install paths. Each test goes through the real binary.

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

const CLAUDE_SESSION: &str = "5d8a3f1e-7c2b-4e9a-b1d6-3f0c9e8a2b47";

fn prompt(env: &Env, text: &str) -> Value {
    let mut payload = env.fixture("claude", "UserPromptSubmit");
    payload["prompt"] = json!(text);
    payload
}

// ---- 11: a closed pipe ends a human command quietly ----

#[test]
fn human_commands_into_a_closed_pipe_end_quietly_and_log_nothing() {
    let env = Env::new();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "hello"));
    let log_before = env.log();
    for args in [&["sessions"][..], &["doctor"], &["show", CLAUDE_SESSION], &["report"], &["sessions", "--json"]] {
        // `| head` that has already exited: every write meets a closed pipe.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.command(args).stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let quiet_status = out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet_status, "{args:?}: {:?}", out.status);
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(env.log(), log_before, "a human command's failure is not a hook failure");
}

/// Runs the binary on `stdin` from a small Python parent (Linux charges a
/// vfork-spawned child with its parent's peak RSS) and returns its exit
/// status, stderr and peak RSS in KiB. Memory is measured, never time.
fn run_measured(env: &Env, args: &[&str], stdin: &[u8]) -> (i32, String, u64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        with open(sys.argv[1], 'rb') as f:\n    p = subprocess.run(sys.argv[2:], stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n\
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
        sys.stderr.buffer.write(p.stderr)\n\
        print(p.returncode, rss)\n";
    let input = env.tmp.path().join("stdin.bin");
    std::fs::write(&input, stdin).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(MEASURE)
        .arg(&input)
        .arg(BIN)
        .args(args)
        .env("KAIZEN_HOME", &env.home)
        .env("HOME", &env.user_home)
        .env("KAIZEN_HOOK_BUDGET_MS", "30000")
        .current_dir(&env.user_home)
        .output()
        .expect("python3 runs the measurement");
    let report = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<i64> = report.split_whitespace().map(|f| f.parse().unwrap()).collect();
    (fields[0] as i32, String::from_utf8_lossy(&out.stderr).into_owned(), fields[1] as u64)
}

// ---- 7: a huge torn tail is read once, a chunk at a time ----

#[test]
fn a_sixty_four_megabyte_torn_tail_is_cut_without_gathering_it() {
    let env = Env::new();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "one"));
    let path = env.sessions_dir().join(format!("{CLAUDE_SESSION}.jsonl"));
    let torn = 64 << 20;
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &vec![b'x'; torn]).unwrap();
    drop(file);

    // A reader first: it skips the torn tail without holding it.
    let (code, stderr, rss_kib) = run_measured(&env, &["sessions", "--json"], b"");
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(rss_kib < 40 * 1024, "sessions peaked at {rss_kib} KiB: the torn tail was gathered");

    let payload = prompt(&env, "two").to_string();
    let (code, stderr, rss_kib) = run_measured(&env, &["prompt", "--agent", "claude"], payload.as_bytes());
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(rss_kib < 40 * 1024, "the hook peaked at {rss_kib} KiB: the torn tail was gathered");
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), 2);
    assert_seq_contiguous(&events);
    assert_eq!(events[1].payload["input"]["prompt"], "two");
    assert!(env.log().contains(&format!("cut a torn last line of {torn} bytes")), "{}", env.log());
}

#[test]
fn a_last_line_longer_than_the_window_still_gives_the_next_seq() {
    let env = Env::new();
    let mut cmd = env.command(&["prompt", "--agent", "claude"]);
    cmd.env("KAIZEN_HOOK_FIELD_CAP", "1000000");
    let out = env.run_with(cmd, prompt(&env, &"p".repeat(600_000)).to_string().as_bytes());
    assert_quiet(&out);
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "short"));
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), 2);
    assert_seq_contiguous(&events);
}
