//! Process limits a hook can be started under: whatever the limit, the run
//! exits 0 and prints nothing.

mod common;

use common::*;
use serde_json::json;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

/// Under a tight address-space limit some allocation fails: the run ends at
/// once, quietly, with exit status 0 (std's handler would print "memory
/// allocation failed" and abort with SIGABRT).
#[test]
fn running_out_of_memory_exits_zero_silently() {
    let env = Env::new();
    let mut payload = env.fixture("claude", "PostToolUse");
    // Many small strings: parsed, they take several times their 6 MB.
    payload["tool_response"]["items"] = json!(vec!["ab"; 1 << 20]);
    let stdin = payload.to_string().into_bytes();
    // The smallest limit a small run fits in: below it the loader itself fails.
    let fits = |mib: u64, stdin: &[u8]| {
        run_limited(&env, mib, stdin).is_some_and(|out| out.status.code() == Some(0) && out.stderr.is_empty())
    };
    let small = env.fixture("claude", "PreToolUse").to_string().into_bytes();
    let floor = (1..=256).find(|&mib| fits(mib, &small)).expect("some limit lets a small run finish");
    for mib in (floor..floor + 32).step_by(2) {
        let out = run_limited(&env, mib, &stdin).expect("a limit a small run fits in lets it start");
        assert!(
            out.status.code() == Some(0) && out.stdout.is_empty() && out.stderr.is_empty(),
            "under a {mib} MiB address-space limit: {:?}, stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The run under `mib` MiB of address space; `None` when it cannot even start.
fn run_limited(env: &Env, mib: u64, stdin: &[u8]) -> Option<std::process::Output> {
    let mut cmd = env.command(&["tool-use"]);
    let limit: libc::rlim_t = mib << 20;
    // SAFETY: setrlimit is async-signal-safe; it only limits the child.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().ok()?;
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Some(out)
}
