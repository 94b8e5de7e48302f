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

// ---- 5: no HOME: the password database, else a private directory, else nothing ----

const NS_UID: u32 = 54321;

/// The binary run as a uid with no password-database entry, in a user
/// namespace (`unshare`); `None` where user namespaces are not allowed.
fn as_unknown_user(env: &Env, tmpdir: &std::path::Path, args: &[&str]) -> Option<std::process::Command> {
    let probe = std::process::Command::new("unshare").args(["--user", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: unshare --user is not allowed here");
        return None;
    }
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--user", &format!("--map-user={NS_UID}"), &format!("--map-group={NS_UID}"), "--", BIN]).args(args);
    cmd.env_remove("HOME").env_remove("KAIZEN_HOME").env("TMPDIR", tmpdir).current_dir(&env.repo);
    Some(cmd)
}

/// A world-writable, sticky temporary directory, like `/tmp`.
fn shared_tmp(env: &Env) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let tmp = env.tmp.path().join("shared-tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

#[test]
fn without_home_or_passwd_entry_events_go_to_a_private_directory_never_a_shared_one() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let tmp = shared_tmp(&env);
    let Some(cmd) = as_unknown_user(&env, &tmp, &["prompt", "--agent", "claude"]) else { return };
    assert_quiet(&env.run_with(cmd, prompt(&env, "no home").to_string().as_bytes()));
    assert!(!tmp.join(".kaizen").exists(), "events went to the world-shared {}", tmp.join(".kaizen").display());
    let private = tmp.join(format!("kaizen-{NS_UID}"));
    let events = read_events(&private.join(format!("sessions/{CLAUDE_SESSION}.jsonl")));
    assert_eq!(events.len(), 1);
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_private_directory_planted_by_another_user_is_refused_and_nothing_recorded() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let tmp = shared_tmp(&env);
    let planted = tmp.join(format!("kaizen-{NS_UID}"));
    let elsewhere = env.tmp.path().join("attacker");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Owned by someone else (this test's uid is not the namespace's), open to all; then a symlink.
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    for (i, round) in ["another user's directory", "a symlink"].into_iter().enumerate() {
        let Some(cmd) = as_unknown_user(&env, &tmp, &["prompt", "--agent", "claude"]) else { return };
        assert_quiet(&env.run_with(cmd, prompt(&env, "secret prompt").to_string().as_bytes()));
        assert!(env.files_under(&planted).is_empty(), "{round}: wrote {:?}", env.files_under(&planted));
        assert!(env.files_under(&elsewhere).is_empty(), "{round}: wrote {:?}", env.files_under(&elsewhere));
        assert!(!tmp.join(".kaizen").exists());
        if i == 0 {
            std::fs::remove_dir(&planted).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        }
    }
    let doctor = as_unknown_user(&env, &tmp, &["doctor"]).unwrap().stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("recording nothing"), "{text}");
}

#[test]
fn without_home_the_password_database_gives_the_home() {
    let env = Env::new();
    let tmp = shared_tmp(&env);
    let probe = std::process::Command::new("unshare").args(["-rm", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: unshare -rm is not allowed here");
        return;
    }
    let home = env.tmp.path().join("from-passwd");
    let passwd = env.tmp.path().join("passwd");
    std::fs::write(&passwd, format!("root:x:0:0:root:{}:/bin/sh\n", home.display())).unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-rm", "sh", "-c", "mount --bind \"$0\" /etc/passwd && exec \"$@\""])
        .arg(&passwd)
        .args([BIN, "prompt", "--agent", "claude"])
        .env_remove("HOME")
        .env_remove("KAIZEN_HOME")
        .env("TMPDIR", &tmp)
        .current_dir(&env.repo);
    assert_quiet(&env.run_with(cmd, prompt(&env, "home from passwd").to_string().as_bytes()));
    let events = read_events(&home.join(format!(".kaizen/sessions/{CLAUDE_SESSION}.jsonl")));
    assert_eq!(events.len(), 1);
    assert!(env.files_under(&tmp).is_empty(), "{:?}", env.files_under(&tmp));
}
