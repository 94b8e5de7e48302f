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
