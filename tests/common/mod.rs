//! Shared helpers: a temporary KAIZEN_HOME and git repository, the real
//! binary fed a payload on stdin, and the files read back as `Event` and `SessionRecord`.
#![allow(dead_code)]

#[path = "../../src/event.rs"]
pub mod event;

#[allow(unused_imports)]
pub use event::{Event, EventKind, EventSource, SessionRecord, SessionStatus};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test: `KAIZEN_TEST_BIN` when set at build time (CI runs
/// the suite again against the static binary `install.sh` installed), else
/// the one cargo built. A constant, so every test spawns the same one.
pub const BIN: &str = match option_env!("KAIZEN_TEST_BIN") {
    Some(bin) => bin,
    None => env!("CARGO_BIN_EXE_kaizen-hook"),
};

/// The agents' documented payloads, one per event, kept in the repository
/// (`tests/shared_copies.rs` checks them against `../shared` when it is there).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The budget every hook run gets in tests, unless a test is about budgets:
/// thirty times the default, so no figure a test asserts is lost to a busy machine.
pub const TEST_BUDGET_MS: &str = "30000";

/// What the agents' environments tell the binary (where their files are, a
/// switch that turns their hooks off, their version): cleared for every
/// process a test starts (tests/agents.rs checks the list is whole).
pub const AGENTS_ENV: &[&str] = &[
    "AI_AGENT",
    "CLAUDE_CONFIG_DIR",
    "CLINE_DATA_DIR",
    "CLINE_DIR",
    "CLINE_SESSION_DATA_DIR",
    "CODEBUDDY_CONFIG_DIR",
    "CODEX_HOME",
    "COPILOT_CLI_BINARY_VERSION",
    "COPILOT_HOME",
    "FACTORY_HOME_OVERRIDE",
    "FACTORY_LOG_FILE",
    "KILO_PURE",
    "KIMI_CODE_HOME",
    "OPENCODE_PURE",
    "OPENHANDS_CONVERSATIONS_DIR",
    "OPENHANDS_PERSISTENCE_DIR",
    "OPENHANDS_WORK_DIR",
    "VIBE_APP_SERVER_BIN",
    "VIBE_HOME",
    "XDG_CONFIG_HOME",
];

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub user_home: PathBuf,
    pub repo: PathBuf,
}

impl Env {
    /// A fresh KAIZEN_HOME, a fresh HOME, and a git repository with one commit.
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("kaizen");
        let user_home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&user_home).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        let env = Env { tmp, home, user_home, repo };
        env.git(&["init", "-q", "-b", "main"]);
        std::fs::write(env.repo.join("README.md"), "# demo\nline two\n").unwrap();
        std::fs::write(env.repo.join("main.rs"), "fn main() {}").unwrap();
        env.git(&["add", "."]);
        env.git(&["commit", "-qm", "init"]);
        env
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.repo, &self.user_home, args)
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The binary under test with `args`, in this env (see `sandbox`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        self.sandbox(cmd)
    }

    /// Any process a test starts (the binary, or a shell, python or strace
    /// that runs it) gets this env's KAIZEN_HOME and HOME, the home as its
    /// directory, and a generous budget, so a loaded machine never runs a
    /// hook out of time: only the tests about budgets set small ones. A
    /// child started without this could write to the developer's `~/.kaizen`.
    pub fn sandbox(&self, mut cmd: Command) -> Command {
        cmd.env("KAIZEN_HOME", &self.home)
            .env("HOME", &self.user_home)
            .env("KAIZEN_HOOK_BUDGET_MS", TEST_BUDGET_MS)
            .env_remove("KAIZEN_HOOK_DEDUP_MS")
            .env_remove("KAIZEN_HOOK_EVENT_CAP")
            .env_remove("KAIZEN_HOOK_FIELD_CAP");
        // The agents' own locations and switches: a developer's shell must not
        // send installs or reads elsewhere, nor turn an agent's hooks off.
        for agents_own in AGENTS_ENV {
            cmd.env_remove(agents_own);
        }
        cmd
            // What a person's terminal settings would change in the reports' text.
            .env_remove("COLUMNS")
            .env_remove("NO_COLOR")
            .env("TZ", "UTC")
            .current_dir(&self.user_home);
        cmd
    }

    /// Runs the binary with `stdin` and waits for it.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_with(self.command(args), stdin)
    }

    pub fn run_with(&self, mut cmd: Command, stdin: &[u8]) -> Output {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// Starts the binary with `stdin` written and closed, without waiting for it.
    pub fn spawn(&self, args: &[&str], stdin: &[u8]) -> std::process::Child {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin).unwrap();
        child
    }

    /// Runs a hook and checks the never-interfere contract on the way.
    pub fn hook(&self, args: &[&str], payload: &Value) -> Output {
        let out = self.run(args, payload.to_string().as_bytes());
        assert_quiet(&out);
        out
    }

    /// A fixture with its cwd and workspace pointed at this env's repository.
    pub fn fixture(&self, agent: &str, event: &str) -> Value {
        fixture_in(agent, event, &self.repo)
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.home.join("sessions")
    }

    pub fn events(&self, session_id: &str) -> Vec<Event> {
        read_events(&self.sessions_dir().join(format!("{}.jsonl", key(session_id))))
    }

    pub fn record(&self, session_id: &str) -> SessionRecord {
        let path = self.sessions_dir().join(format!("{}.session.json", key(session_id)));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    /// The events files in the sessions directory, sorted.
    pub fn session_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> =
            walk(&self.sessions_dir()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
        files.sort();
        files
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("logs/kaizen-hook.log")).unwrap_or_default()
    }

    /// Every file under KAIZEN_HOME, for "nothing else was written" checks.
    pub fn files_under(&self, dir: &Path) -> Vec<PathBuf> {
        walk(dir)
    }
}

pub fn git_in(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn fixture_in(agent: &str, event: &str, dir: &Path) -> Value {
    let path = fixtures_dir().join(agent).join(format!("{event}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let dir = dir.to_string_lossy().into_owned();
    if v.get("cwd").is_some() {
        v["cwd"] = Value::String(dir.clone());
    }
    if v.get("workspace_roots").is_some() {
        v["workspace_roots"] = serde_json::json!([dir]);
    }
    v
}

pub fn fixture_names(agent: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join(agent))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The session key rule for plain ids, restated so the tests check it
/// independently. Hashed keys are found with `Env::session_files`.
pub fn key(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    assert!(plain, "{id:?} is not a plain id: use Env::session_files");
    id.to_string()
}

/// One events-file line as the store writes it: every `Event` field null but
/// these, `fields` over them (a generated history, written straight to disk).
pub fn event_line(session: &str, seq: u64, ts: u64, kind: &str, fields: Value, payload: Value) -> String {
    let mut e = serde_json::json!({"session_id": session, "seq": seq, "ts_ms": ts, "ts_exact": false, "kind": kind,
        "source": "Hook", "tool": null, "tool_call_id": null, "tokens_in": null, "tokens_out": null,
        "reasoning_tokens": null, "cost_usd_e6": null, "stop_reason": null, "latency_ms": null, "ttft_ms": null,
        "retry_count": null, "context_used_tokens": null, "context_max_tokens": null,
        "cache_creation_tokens": null, "cache_read_tokens": null, "system_prompt_tokens": null,
        "payload": payload});
    for (k, v) in fields.as_object().unwrap() {
        e[k] = v.clone();
    }
    e.to_string() + "\n"
}

pub fn read_events(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with('\n'), "file ends mid-line");
    text.lines()
        .map(|line| serde_json::from_str::<Event>(line).unwrap_or_else(|e| panic!("line does not parse: {e}: {line}")))
        .collect()
}

pub fn assert_quiet(out: &Output) {
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn assert_no_stdout(out: &Output) {
    assert!(out.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
}

pub fn assert_seq_contiguous(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "seq gap or duplicate at line {i}");
        assert_eq!(e.source, EventSource::Hook);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The exact figure in `data-value` of the element whose `data-field` is `field`, after `from`.
pub fn data_value(html: &str, from: usize, field: &str) -> Option<String> {
    let at = from + html[from..].find(&format!("data-field=\"{field}\" data-value=\""))?;
    let rest = &html[at..];
    let start = rest.find("data-value=\"")? + "data-value=\"".len();
    Some(rest[start..start + rest[start..].find('"')?].to_string())
}

/// The `<tr data-key="key">` of a section, up to its end.
pub fn row<'a>(html: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let start = html.find(&format!("<section id=\"{section}\""))?;
    let end = start + html[start..].find("</section>")?;
    let part = &html[start..end];
    let at = part.find(&format!("<tr data-key=\"{key}\""))?;
    Some(&part[at..at + part[at..].find("</tr>")?])
}
