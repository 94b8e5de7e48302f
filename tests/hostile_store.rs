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
    let out = env
        .sandbox(std::process::Command::new("python3"))
        .arg("-c")
        .arg(MEASURE)
        .arg(&input)
        .arg(BIN)
        .args(args)
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
// These need user namespaces, which many containers refuse: ignored by
// default, `.ci/run` runs them with `--ignored`.

const NS_UID: u32 = 54321;

/// The binary run as a uid with no password-database entry, in a user
/// namespace (`unshare`).
fn as_unknown_user(env: &Env, tmpdir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = env.sandbox(std::process::Command::new("unshare"));
    cmd.args(["--user", &format!("--map-user={NS_UID}"), &format!("--map-group={NS_UID}"), "--", BIN]).args(args);
    cmd.env_remove("HOME").env_remove("KAIZEN_HOME").env("TMPDIR", tmpdir).current_dir(&env.repo);
    cmd
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
#[ignore = "needs user namespaces (unshare), which many containers refuse; .ci/run runs it"]
fn without_home_or_passwd_entry_events_go_to_a_private_directory_never_a_shared_one() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let tmp = shared_tmp(&env);
    let cmd = as_unknown_user(&env, &tmp, &["prompt", "--agent", "claude"]);
    assert_quiet(&env.run_with(cmd, prompt(&env, "no home").to_string().as_bytes()));
    assert!(!tmp.join(".kaizen").exists(), "events went to the world-shared {}", tmp.join(".kaizen").display());
    let private = tmp.join(format!("kaizen-{NS_UID}"));
    let events = read_events(&private.join(format!("sessions/{CLAUDE_SESSION}.jsonl")));
    assert_eq!(events.len(), 1);
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
#[ignore = "needs user namespaces (unshare), which many containers refuse; .ci/run runs it"]
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
        let cmd = as_unknown_user(&env, &tmp, &["prompt", "--agent", "claude"]);
        assert_quiet(&env.run_with(cmd, prompt(&env, "secret prompt").to_string().as_bytes()));
        assert!(env.files_under(&planted).is_empty(), "{round}: wrote {:?}", env.files_under(&planted));
        assert!(env.files_under(&elsewhere).is_empty(), "{round}: wrote {:?}", env.files_under(&elsewhere));
        assert!(!tmp.join(".kaizen").exists());
        if i == 0 {
            std::fs::remove_dir(&planted).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        }
    }
    let doctor = as_unknown_user(&env, &tmp, &["doctor"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("recording nothing"), "{text}");
}

#[test]
#[ignore = "needs user namespaces (unshare), which many containers refuse; .ci/run runs it"]
fn human_commands_without_a_home_say_so_and_never_read_the_current_directory() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    // What `./sessions` would hold if the current directory stood in for the home.
    let cwd = env.tmp.path().join("cwd");
    std::fs::create_dir_all(cwd.join("sessions")).unwrap();
    let record = json!({"id": "planted", "agent": "claude", "workspace": "/w", "started_at_ms": 1,
                        "status": "Done", "trace_path": ""});
    std::fs::write(cwd.join("sessions/planted.session.json"), record.to_string()).unwrap();
    std::fs::write(cwd.join("sessions/planted.jsonl"), "").unwrap();
    for dir in [env.tmp.path(), &cwd, &cwd.join("sessions")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // No HOME, no password-database entry, and no private temporary directory can be made.
    let no_tmp = env.tmp.path().join("missing/tmp");
    let commands: [&[&str]; 4] =
        [&["sessions"], &["show", "planted"], &["report"], &["export", "--endpoint", "http://127.0.0.1:9"]];
    for args in commands {
        let mut cmd = as_unknown_user(&env, &no_tmp, args);
        let out = cmd.current_dir(&cwd).stdin(Stdio::null()).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout} {stderr}");
        assert!(stderr.contains("no kaizen home"), "{args:?}: {stderr}");
        assert!(!stdout.contains("planted") && !stderr.contains("planted"), "{args:?} read ./sessions: {stdout}");
    }
    assert!(!cwd.join("export").exists(), "export wrote its cursors in the current directory");
}

#[test]
#[ignore = "needs user namespaces (unshare), which many containers refuse; .ci/run runs it"]
fn without_home_the_password_database_gives_the_home() {
    let env = Env::new();
    let tmp = shared_tmp(&env);
    let home = env.tmp.path().join("from-passwd");
    let passwd = env.tmp.path().join("passwd");
    std::fs::write(&passwd, format!("root:x:0:0:root:{}:/bin/sh\n", home.display())).unwrap();
    let mut cmd = env.sandbox(std::process::Command::new("unshare"));
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

// ---- 3: behind a frozen lock holder, events are spooled, then merged ----

fn session_prompt(env: &Env, session: &str, text: &str) -> Value {
    let mut payload = prompt(env, text);
    payload["session_id"] = json!(session);
    payload
}

/// Starts the session's first hook and stops it (SIGSTOP) while it holds
/// the session lock: the test takes the lock itself to see that it is held.
/// Retries with a new session when the holder was too quick to catch.
fn frozen_holder(env: &Env) -> (std::process::Child, String) {
    for file in 0..3000 {
        std::fs::write(env.repo.join(format!("f{file}.txt")), "x\n").unwrap();
    }
    for attempt in 0..40 {
        let session = format!("frozen-{attempt}");
        let path = env.sessions_dir().join(format!("{session}.jsonl"));
        let mut cmd = env.command(&["prompt", "--agent", "claude"]);
        cmd.env("KAIZEN_HOOK_BUDGET_MS", "60000").stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut holder = cmd.spawn().unwrap();
        let payload = session_prompt(env, &session, "holder").to_string();
        std::io::Write::write_all(&mut holder.stdin.take().unwrap(), payload.as_bytes()).unwrap();
        let pid = holder.id() as i32;
        let held = |path: &std::path::Path| {
            let Ok(file) = std::fs::File::open(path) else { return false };
            matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
        };
        while holder.try_wait().unwrap().is_none() {
            if held(&path) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                std::thread::sleep(std::time::Duration::from_millis(50));
                if held(&path) {
                    return (holder, session);
                }
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
        }
    }
    panic!("never caught a hook holding the lock");
}

/// N hooks behind the frozen holder: each exits in time, its event spooled.
fn hooks_behind(env: &Env, session: &str, n: usize) {
    for i in 0..n {
        let started = std::time::Instant::now();
        let mut cmd = env.command(&["prompt", "--agent", "claude"]);
        cmd.env("KAIZEN_HOOK_BUDGET_MS", "400");
        assert_quiet(&env.run_with(cmd, session_prompt(env, session, &format!("behind {i}")).to_string().as_bytes()));
        // Generous for a loaded machine; a hook that waited for the holder would never return.
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "hook {i} waited for the frozen holder");
    }
}

fn assert_merged_in_arrival_order(env: &Env, session: &str, prompts: &[String]) {
    let events = env.events(session);
    let got: Vec<&str> = events.iter().map(|e| e.payload["input"]["prompt"].as_str().unwrap()).collect();
    assert_eq!(got, prompts.iter().map(String::as_str).collect::<Vec<_>>(), "each once, in arrival order");
    assert_seq_contiguous(&events);
    let boots: Vec<u64> = events.iter().map(|e| e.payload["delivered_boot_ms"].as_u64().unwrap()).collect();
    assert!(boots.windows(2).all(|w| w[0] <= w[1]), "arrival order: {boots:?}");
    let spool = env.sessions_dir().join(format!("{session}.spool"));
    assert!(env.files_under(&spool).is_empty(), "left in the spool: {:?}", env.files_under(&spool));
}

#[test]
fn behind_a_frozen_lock_holder_events_are_spooled_then_merged_once_in_arrival_order() {
    let env = Env::new();
    let (mut holder, session) = frozen_holder(&env);
    hooks_behind(&env, &session, 5);
    let spool = env.sessions_dir().join(format!("{session}.spool"));
    assert_eq!(env.files_under(&spool).len(), 5, "{:?}", env.files_under(&spool));
    let doctor = env.command(&["doctor"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("5 spooled event(s) not merged yet"), "{text}");

    // SAFETY: signalling our own child, which has not been waited for.
    unsafe { libc::kill(holder.id() as i32, libc::SIGCONT) };
    assert!(holder.wait().unwrap().success());
    let mut expected = vec!["holder".to_string()];
    expected.extend((0..5).map(|i| format!("behind {i}")));
    assert_merged_in_arrival_order(&env, &session, &expected);
    assert!(env.log().contains("event spooled to"), "{}", env.log());
}

#[test]
fn a_killed_lock_holder_leaves_the_spool_to_the_next_hook() {
    let env = Env::new();
    let (mut holder, session) = frozen_holder(&env);
    hooks_behind(&env, &session, 3);
    // Stopped before or after its own write: SIGKILL loses at most its own event.
    let path = env.sessions_dir().join(format!("{session}.jsonl"));
    let holder_wrote = std::fs::read_to_string(&path).unwrap().contains("\"holder\"");
    holder.kill().unwrap();
    holder.wait().unwrap();
    env.hook(&["prompt", "--agent", "claude"], &session_prompt(&env, &session, "next"));
    let mut expected: Vec<String> = if holder_wrote { vec!["holder".into()] } else { vec![] };
    expected.extend((0..3).map(|i| format!("behind {i}")));
    expected.push("next".into());
    assert_merged_in_arrival_order(&env, &session, &expected);
}

/// The session's end reached us while the lock was held, and was spooled;
/// the holder, which arrived before it, merges it after its own event. The
/// record then says what the last event says: the session is Done.
#[test]
fn a_spooled_session_end_merged_after_the_holders_own_event_ends_the_session() {
    let env = Env::new();
    let (mut holder, session) = frozen_holder(&env);
    let mut end = env.fixture("claude", "SessionEnd");
    end["session_id"] = json!(session);
    let mut cmd = env.command(&["session-end", "--agent", "claude"]);
    cmd.env("KAIZEN_HOOK_BUDGET_MS", "400");
    assert_quiet(&env.run_with(cmd, end.to_string().as_bytes()));
    assert_eq!(env.files_under(&env.sessions_dir().join(format!("{session}.spool"))).len(), 1, "the end is spooled");
    // SAFETY: signalling our own child, which has not been waited for.
    unsafe { libc::kill(holder.id() as i32, libc::SIGCONT) };
    assert!(holder.wait().unwrap().success());
    let phases: Vec<String> =
        env.events(&session).iter().map(|e| e.payload["phase"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(phases, ["prompt", "session_end"]);
    let record = env.record(&session);
    assert_eq!(record.status, SessionStatus::Done, "the record says what the last event says");
    assert!(record.ended_at_ms.is_some());
}

// ---- 12: odd binary paths install once and uninstall cleanly, for every installer ----

const ODD_DIRS: &[&str] = &["o'brien", "two  spaces", "$HOME and `cmd`", "back\\slash", "double\"quote", "ünï ✓"];

/// Every file under the user's home, with its bytes (backups aside: they are install's own).
fn config_files(env: &Env) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    env.files_under(&env.user_home)
        .into_iter()
        .filter(|p| {
            // By the path inside the home: where the home is says nothing.
            let inside = p.strip_prefix(&env.user_home).unwrap().to_string_lossy().into_owned();
            !inside.contains(".kaizen.bak") && !inside.split('/').any(|part| part == ".git")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn an_odd_binary_path_installs_once_and_uninstalls_to_the_original_bytes_for_every_installer() {
    for agent in ["claude", "cursor", "codex", "gemini", "copilot"] {
        let env = Env::new();
        let dir = ODD_DIRS.iter().fold(env.tmp.path().to_path_buf(), |dir, name| dir.join(name));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("kaizen-hook");
        std::fs::copy(BIN, &binary).unwrap();
        let binary = binary.to_str().unwrap();
        // The user's own hook is there first, and must come back byte for byte.
        std::fs::create_dir_all(env.user_home.join(".claude")).unwrap();
        std::fs::write(
            env.user_home.join(".claude/settings.json"),
            "{\n  \"hooks\": {\n    \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"notify-send 'done'\"}]}]\n  }\n}\n",
        )
        .unwrap();
        let original = config_files(&env);
        let install = || env.run_with(env.command(&["install", "--agent", agent, "--binary", binary]), b"");
        let out = install();
        assert!(
            out.status.success(),
            "{agent}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let installed = config_files(&env);
        assert_ne!(installed, original, "{agent}: nothing installed");
        assert!(install().status.success());
        assert_eq!(config_files(&env), installed, "{agent}: a second install changed the config (duplicate hooks)");
        let out = env.run_with(env.command(&["uninstall", "--agent", agent]), b"");
        assert!(out.status.success(), "{agent}: {}", String::from_utf8_lossy(&out.stderr));
        let left = config_files(&env);
        let ours_left: Vec<_> =
            left.iter().filter(|(_, b)| String::from_utf8_lossy(b).contains("kaizen-hook")).collect();
        assert!(ours_left.is_empty(), "{agent}: uninstall left {ours_left:?}");
        let before: Vec<_> = original.iter().filter(|(p, _)| left.iter().any(|(q, _)| q == p)).collect();
        let after: Vec<_> = left.iter().filter(|(p, _)| original.iter().any(|(q, _)| q == p)).collect();
        assert_eq!(before, after, "{agent}: the user's own files did not come back byte for byte");
    }
}

#[test]
fn a_command_registered_for_an_odd_path_runs_through_sh() {
    let env = Env::new();
    let dir = ODD_DIRS.iter().fold(env.tmp.path().to_path_buf(), |dir, name| dir.join(name));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("kaizen-hook");
    std::fs::copy(BIN, &binary).unwrap();
    let out = env.run_with(env.command(&["install", "--agent", "claude", "--binary", binary.to_str().unwrap()]), b"");
    assert!(out.status.success());
    let settings: Value =
        serde_json::from_slice(&std::fs::read(env.user_home.join(".claude/settings.json")).unwrap()).unwrap();
    let command = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"].as_str().unwrap().to_string();
    let mut sh = env.sandbox(std::process::Command::new("sh"));
    sh.arg("-c").arg(&command).current_dir(&env.repo);
    assert_quiet(&env.run_with(sh, prompt(&env, "through sh").to_string().as_bytes()));
    assert_eq!(env.events(CLAUDE_SESSION).len(), 1, "{command}");
}

// ---- 4: the duplicate window is measured on the boot clock, bounded on both sides ----

/// Rewrites the last line's `delivered_boot_ms` (and, for the wall clock, its
/// `ts_ms` and `recorded_ms`): what a clock step or a reboot leaves behind.
fn shift_last_line(env: &Env, boot_by: i64, wall_by: i64) {
    let path = env.sessions_dir().join(format!("{CLAUDE_SESSION}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, last) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim_end()));
    let mut last = last.to_string();
    for (key, by) in [("delivered_boot_ms", boot_by), ("ts_ms", wall_by), ("recorded_ms", wall_by)] {
        let needle = format!("\"{key}\":");
        let at = last.rfind(&needle).unwrap() + needle.len();
        let digits = last[at..].bytes().take_while(u8::is_ascii_digit).count();
        let value: i64 = last[at..at + digits].parse().unwrap();
        last.replace_range(at..at + digits, &(value + by).to_string());
    }
    let head = if head.is_empty() { String::new() } else { format!("{head}\n") };
    std::fs::write(&path, format!("{head}{last}\n")).unwrap();
}

#[test]
fn a_wall_clock_stepped_back_does_not_widen_the_duplicate_window() {
    let env = Env::new();
    let again = prompt(&env, "continue");
    env.hook(&["prompt", "--agent", "claude"], &again);
    env.hook(&["prompt", "--agent", "claude"], &again);
    assert_eq!(env.events(CLAUDE_SESSION).len(), 1, "the same delivery twice at once is one event");

    // Recorded 3.2 s ago on the boot clock, but an hour ahead on the wall
    // clock: the wall clock was stepped back an hour since.
    shift_last_line(&env, -3200, 3_600_000);
    env.hook(&["prompt", "--agent", "claude"], &again);
    assert_eq!(
        env.events(CLAUDE_SESSION).len(),
        2,
        "3.2 s apart is outside the 3 s window, whatever the wall clock says"
    );

    // Recorded "an hour later" on the boot clock (a reboot in between): outside, on the other side.
    shift_last_line(&env, 3_600_000, 0);
    env.hook(&["prompt", "--agent", "claude"], &again);
    assert_eq!(env.events(CLAUDE_SESSION).len(), 3, "the window is bounded on both sides");
}

// ---- further: what a laptop or CI runner can leave in the store ----

#[test]
fn a_session_file_that_cannot_be_locked_keeps_its_events_in_the_spool() {
    let env = Env::new();
    // A directory where the events file should be: it can be neither opened nor locked.
    std::fs::create_dir_all(env.sessions_dir().join(format!("{CLAUDE_SESSION}.jsonl"))).unwrap();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "kept"));
    let spool = env.sessions_dir().join(format!("{CLAUDE_SESSION}.spool"));
    let kept = env.files_under(&spool);
    assert_eq!(kept.len(), 1, "{kept:?}\n{}", env.log());
    assert!(std::fs::read_to_string(&kept[0]).unwrap().contains("\"prompt\":\"kept\""));
    // Once the file can be locked again, the next run merges the spool first.
    std::fs::remove_dir(env.sessions_dir().join(format!("{CLAUDE_SESSION}.jsonl"))).unwrap();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "after"));
    assert_merged_in_arrival_order(&env, CLAUDE_SESSION, &["kept".into(), "after".into()]);
}

#[test]
fn unreadable_and_dead_writers_spool_files_are_set_aside_not_retried_or_merged() {
    let env = Env::new();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "one"));
    let spool = env.sessions_dir().join(format!("{CLAUDE_SESSION}.spool"));
    std::fs::create_dir(&spool).unwrap();
    std::fs::write(spool.join("0000000000001-0000000000001-1-000000001.json"), "{\"arrival_boot_ms\":1,").unwrap();
    let dead_writer = spool.join(".0000000000002-0000000000001-1-000000002.json.tmp");
    std::fs::write(&dead_writer, "{\"arriv").unwrap();
    let old = std::fs::File::options().write(true).open(&dead_writer).unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(60)).unwrap();
    env.hook(&["prompt", "--agent", "claude"], &prompt(&env, "two"));
    let events = env.events(CLAUDE_SESSION);
    assert_eq!(events.len(), 2);
    assert_seq_contiguous(&events);
    let left: Vec<String> =
        env.files_under(&spool).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["0000000000001-0000000000001-1-000000001.json.bad"]);
    let doctor = env.command(&["doctor"]).stdin(Stdio::null()).output().unwrap();
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("1 unreadable spool file(s) set aside"));
}
