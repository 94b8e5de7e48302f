//! `kaizen-hook export` against a real OpenTelemetry collector: rotel (from
//! PyPI) on 127.0.0.1 in front of a receiver that decodes every request with
//! the official opentelemetry-proto definitions (`tests/support/otlp_receiver.py`).
//! The answers a collector gives when things go wrong (503, 400, partial
//! success) come from that receiver directly, since rotel accepts and buffers.
//! Nothing here talks to anything but 127.0.0.1.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SESSION: &str = "3403629c-38cc-4493-a7a8-8489c96a9b79";

/// rotel-agent and the Python opentelemetry-proto package: from PATH and the
/// interpreter when they are there, else installed once under the target dir.
struct Tools {
    rotel: PathBuf,
    pythonpath: Option<PathBuf>,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel");
        let on_path = Command::new("rotel-agent").arg("--version").output().is_ok_and(|o| o.status.success());
        let importable = python(None)
            .args(["-c", "import opentelemetry.proto, google.protobuf"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if on_path && importable {
            return Tools { rotel: "rotel-agent".into(), pythonpath: None };
        }
        let rotel = dir.join("rotel/rotel-agent");
        if !rotel.exists() || !dir.join("opentelemetry/proto").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
            lock.lock().unwrap();
            if !rotel.exists() || !dir.join("opentelemetry/proto").exists() {
                let out = python(None)
                    .args(["-m", "pip", "install", "-q", "--target"])
                    .arg(&dir)
                    .args(["rotel", "opentelemetry-proto"])
                    .output()
                    .expect("python3 runs");
                assert!(
                    out.status.success(),
                    "pip install rotel opentelemetry-proto: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Tools { rotel, pythonpath: Some(dir) }
    })
}

fn python(pythonpath: Option<&Path>) -> Command {
    let mut cmd = Command::new("python3");
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The receiver, optionally with rotel in front; both stop on drop.
struct Collector {
    out: tempfile::TempDir,
    receiver: Child,
    rotel: Option<Child>,
    receiver_port: u16,
    /// rotel's (http, grpc) ports, where it runs.
    front_ports: Option<(u16, u16)>,
}

impl Collector {
    fn receiver_only() -> Collector {
        Collector::receiver_with(&[])
    }

    /// The receiver alone, over HTTPS with `[cert, key]`, asking for a client
    /// certificate with `[cert, key, client_ca]`.
    fn receiver_with(tls: &[&Path]) -> Collector {
        let tools = tools();
        let out = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/otlp_receiver.py");
        let receiver = python(tools.pythonpath.as_deref())
            .arg(&script)
            .arg(out.path())
            .args(tls)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(out.path().join("receiver.log")).unwrap())
            .spawn()
            .unwrap();
        let port_file = out.path().join("port");
        wait_for("the receiver's port", Duration::from_secs(30), || port_file.exists());
        let receiver_port = std::fs::read_to_string(&port_file).unwrap().trim().parse().unwrap();
        Collector { out, receiver, rotel: None, receiver_port, front_ports: None }
    }

    /// rotel-agent on 127.0.0.1 forwarding everything to the receiver.
    fn rotel() -> Collector {
        let mut c = Collector::receiver_only();
        c.front_ports = Some((free_port(), free_port()));
        c.start_rotel();
        c
    }

    fn start_rotel(&mut self) {
        let (http, grpc) = self.front_ports.unwrap();
        let rotel = Command::new(&tools().rotel)
            .arg("start")
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .args(["--otlp-exporter-endpoint", &format!("http://127.0.0.1:{}", self.receiver_port)])
            .arg("--pid-file")
            .arg(self.out.path().join("rotel.pid"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::options().create(true).append(true).open(self.out.path().join("rotel.log")).unwrap())
            .spawn()
            .unwrap();
        self.rotel = Some(rotel);
        wait_for("rotel listening", Duration::from_secs(30), || TcpStream::connect(("127.0.0.1", http)).is_ok());
    }

    /// Where `export` sends: rotel when it is there, else the receiver.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.front_ports.map_or(self.receiver_port, |(http, _)| http))
    }

    fn answer_next(&self, answers: Value) {
        std::fs::write(self.out.path().join("answers.json"), answers.to_string()).unwrap();
    }

    fn lines(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.out.path().join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn records(&self) -> Vec<Value> {
        self.lines("records.jsonl")
    }

    fn requests(&self) -> Vec<Value> {
        self.lines("requests.jsonl")
    }

    /// Waits until everything sent so far has reached the receiver: rotel,
    /// where it runs, is stopped (it forwards what it holds before it exits)
    /// and started again. The receiver writes a request down before it
    /// answers, and the exports that sent it have exited: once this returns,
    /// no record sent before it is still on its way.
    fn drain(&mut self) {
        if let Some(mut rotel) = self.rotel.take() {
            // SAFETY: signalling our own child, which has not been waited for.
            unsafe { libc::kill(rotel.id() as i32, libc::SIGTERM) };
            let status = rotel.wait().unwrap();
            assert!(status.success(), "rotel stopped with {status:?}");
            self.start_rotel();
        }
    }

    /// Exactly `n` records arrived, once nothing is on its way any more.
    fn expect_records(&mut self, n: usize) -> Vec<Value> {
        self.drain();
        let records = self.records();
        let seqs: Vec<&Value> = records.iter().map(|r| attr(r, "kaizen.event.seq")).collect();
        assert_eq!(records.len(), n, "exactly {n} records, by seq: {seqs:?}");
        records
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        for child in self.rotel.iter_mut().chain([&mut self.receiver]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `export` of logs only, unless the arguments choose `--signals`: the
/// receiver's scripted answers are for log requests.
fn export(env: &Env, args: &[&str]) -> Output {
    let signals: &[&str] = if args.contains(&"--signals") { &[] } else { &["--signals", "logs"] };
    let cmd = env.command(&[&["export"], signals, args].concat());
    env.run_with(without_settings(cmd), b"")
}

/// The command without the OTel and proxy settings of the shell the tests run in.
fn without_settings(mut cmd: Command) -> Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.to_lowercase().ends_with("_proxy") || name == "SSL_CERT_FILE" {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tool_call(env: &Env, n: u32) {
    let base = json!({"session_id": SESSION, "cwd": env.repo, "tool_name": "Bash",
        "tool_use_id": format!("toolu_{n}"), "tool_input": {"command": format!("echo {n}")}});
    let mut pre = base.clone();
    pre["hook_event_name"] = json!("PreToolUse");
    env.hook(&["tool-use", "--agent", "claude"], &pre);
    let mut post = base;
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({"stdout": format!("{n}\n")});
    env.hook(&["tool-use", "--agent", "claude"], &post);
}

/// A session with a start, two tool calls and a turn end whose transcript
/// gives Cost events.
fn session(env: &Env) -> Vec<Event> {
    let start = json!({"session_id": SESSION, "cwd": env.repo, "hook_event_name": "SessionStart", "source": "startup"});
    env.hook(&["session-start", "--agent", "claude"], &start);
    tool_call(env, 1);
    tool_call(env, 2);
    let transcript = env.tmp.path().join("transcript.jsonl");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts/claude/session.jsonl");
    std::fs::copy(fixture, &transcript).unwrap();
    let stop = json!({"session_id": SESSION, "cwd": env.repo, "hook_event_name": "Stop",
        "transcript_path": transcript, "stop_hook_active": false});
    env.hook(&["stop", "--agent", "claude"], &stop);
    let events = env.events(SESSION);
    assert!(events.iter().any(|e| e.kind == EventKind::Cost), "the transcript gave Cost events");
    events
}

fn attr<'a>(record: &'a Value, key: &str) -> &'a Value {
    &record["attributes"][key]
}

fn by_seq(records: &[Value]) -> BTreeMap<u64, &Value> {
    records.iter().map(|r| (attr(r, "kaizen.event.seq").as_u64().unwrap(), r)).collect()
}

fn cursor(env: &Env) -> Value {
    let path = env.home.join("export").join(format!("{SESSION}.cursor.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_event_arrives_once_with_its_attributes_then_nothing_then_only_new_ones() {
    let env = Env::new();
    let events = session(&env);
    let mut collector = Collector::rotel();
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = collector.expect_records(events.len());
    let seen = by_seq(&records);
    assert_eq!(seen.len(), events.len(), "each seq once");
    let uids: BTreeSet<&str> = records.iter().map(|r| attr(r, "log.record.uid").as_str().unwrap()).collect();
    assert_eq!(uids.len(), events.len(), "log.record.uid unique per event");
    for event in &events {
        let r = seen[&event.seq];
        assert_eq!(attr(r, "session.id"), SESSION);
        assert_eq!(attr(r, "kaizen.event.kind"), format!("{:?}", event.kind).as_str());
        assert_eq!(r["time_unix_nano"].as_u64(), Some(event.ts_ms * 1_000_000));
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["seq"], event.seq, "the body is the recorded event");
        assert_eq!(r["resource"]["service.name"], "kaizen-hook");
        assert_eq!(r["resource"]["os.type"], std::env::consts::OS);
        assert!(r["resource"]["host.arch"].is_string() && r["resource"]["host.name"].is_string(), "{r}");
        if let Some(tool) = &event.tool {
            assert_eq!(attr(r, "gen_ai.tool.name"), tool.as_str());
            assert_eq!(attr(r, "gen_ai.tool.call.id"), event.tool_call_id.as_deref().unwrap());
        }
        if event.kind == EventKind::Cost {
            assert_eq!(attr(r, "gen_ai.request.model"), &event.payload["model"]);
            assert_eq!(attr(r, "gen_ai.usage.output_tokens").as_u64(), event.tokens_out.map(u64::from));
            let input = [event.tokens_in, event.cache_read_tokens, event.cache_creation_tokens]
                .iter()
                .map(|n| u64::from(n.unwrap_or(0)))
                .sum::<u64>();
            assert_eq!(attr(r, "gen_ai.usage.input_tokens").as_u64(), Some(input), "GenAI input includes cache");
            assert_eq!(
                attr(r, "gen_ai.usage.cache_read.input_tokens").as_u64(),
                event.cache_read_tokens.map(u64::from)
            );
            assert!(event.payload["context"]["commit"].is_null(), "a Cost event names no commit itself");
        }
        // Cost events (from the transcript) get the commit and branch of the turn end before them.
        assert_eq!(attr(r, "vcs.ref.head.revision"), env.head().as_str(), "{r}");
        assert_eq!(attr(r, "vcs.ref.head.name"), "main");
    }
    let tool_calls = records.iter().filter(|r| attr(r, "kaizen.event.kind") == "ToolCall").count();
    assert_eq!(tool_calls, 2);

    let requests = collector.requests().len();
    let again = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("exported 0 events"), "{again:?}");
    collector.expect_records(events.len());
    assert_eq!(collector.requests().len(), requests, "a second run sends nothing");

    tool_call(&env, 3);
    let more = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(more.status.success(), "{}", stderr(&more));
    let records = collector.expect_records(events.len() + 2);
    let new: Vec<u64> = records[events.len()..].iter().map(|r| attr(r, "kaizen.event.seq").as_u64().unwrap()).collect();
    assert_eq!(new, [events.len() as u64, events.len() as u64 + 1], "only the new events, next time");
}

#[test]
fn http_json_and_http_protobuf_both_decode_with_the_official_definitions() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut direct = Collector::receiver_only();
    let out = export(&env, &["--endpoint", &direct.endpoint(), "--protocol", "http/json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = direct.expect_records(2);
    assert_eq!(direct.requests()[0]["json"], true);
    assert_eq!(attr(&records[0], "kaizen.event.seq"), 0);
    assert_eq!(attr(&records[0], "gen_ai.tool.name"), "Bash");

    // The same events again, in protobuf this time, after the cursor is gone.
    std::fs::remove_dir_all(env.home.join("export")).unwrap();
    let out = export(&env, &["--endpoint", &direct.endpoint(), "--protocol", "http/protobuf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = direct.expect_records(4);
    assert_eq!(direct.requests()[1]["json"], false);
    assert_eq!(records[0]["attributes"], records[2]["attributes"], "both encodings say the same");
    assert_eq!(records[0]["body"], records[2]["body"]);

    // OTLP/JSON through rotel too.
    std::fs::remove_dir_all(env.home.join("export")).unwrap();
    let mut rotel = Collector::rotel();
    let out = export(&env, &["--endpoint", &rotel.endpoint(), "--protocol", "http/json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = rotel.expect_records(2);
    assert_eq!(by_seq(&records).len(), 2);
}

#[test]
fn the_standard_variables_give_endpoint_protocol_and_headers() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut collector = Collector::receiver_only();
    let mut cmd = without_settings(env.command(&["export"]));
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-team=platform%20one")
        .env("OTEL_SERVICE_NAME", "agents");
    let out = env.run_with(cmd, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let records = collector.expect_records(2);
    let request = &collector.requests()[0];
    assert_eq!((request["json"].as_bool(), request["x_team"].as_str()), (Some(true), Some("platform one")));
    assert_eq!(request["path"], "/v1/logs");
    assert_eq!(records[0]["resource"]["service.name"], "agents");
}

#[test]
fn first_requests_answered_503_are_retried() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut collector = Collector::receiver_only();
    collector.answer_next(json!([{"status": 503}, {"status": 429}, {"status": 503}]));
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    collector.expect_records(2);
    let statuses: Vec<u64> = collector.requests().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [503, 429, 503, 200]);
}

#[test]
fn a_collector_that_stays_down_fails_with_where_it_stopped_and_the_next_run_delivers_once() {
    let env = Env::new();
    tool_call(&env, 1);
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = export(&env, &["--endpoint", &closed]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("unreachable") && last.contains(&format!("stopped at session {SESSION} at seq 0")), "{err}");
    assert!(!env.home.join("export").join(format!("{SESSION}.cursor.json")).exists(), "no cursor moved");

    let mut collector = Collector::rotel();
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = collector.expect_records(2);
    assert_eq!(by_seq(&records).keys().copied().collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn a_400_stops_with_the_collectors_message_and_keeps_the_cursor() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut collector = Collector::receiver_only();
    collector.answer_next(json!([{"status": 400, "message": "log record too old"}]));
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("400") && err.contains("log record too old"), "{err}");
    assert_eq!(collector.requests().len(), 1, "a 400 is not retried");
    assert!(!env.home.join("export").join(format!("{SESSION}.cursor.json")).exists());
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    collector.expect_records(2);
}

#[test]
fn a_partial_success_records_the_rejected_count_and_resends_nothing() {
    let env = Env::new();
    tool_call(&env, 1);
    tool_call(&env, 2);
    let mut collector = Collector::receiver_only();
    collector.answer_next(json!([{"status": 200, "rejected": 1, "message": "one record too large"}]));
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("rejected 1 of 4 records: one record too large"), "{}", stderr(&out));
    collector.expect_records(3);
    let c = cursor(&env);
    assert_eq!((c["exported"].as_u64(), c["rejected"].as_u64(), c["next_seq"].as_u64()), (Some(3), Some(1), Some(4)));
    let again = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(again.status.success());
    assert_eq!(collector.requests().len(), 1, "the accepted records are not sent again");
}

#[test]
fn a_corrupt_or_stale_cursor_starts_over() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut collector = Collector::receiver_only();
    assert!(export(&env, &["--endpoint", &collector.endpoint()]).status.success());
    collector.expect_records(2);
    let path = env.home.join("export").join(format!("{SESSION}.cursor.json"));
    for (bad, total) in [("{not json", 4), (r#"{"offset":7,"next_seq":1,"inode":1,"exported":2,"rejected":0}"#, 6)] {
        std::fs::write(&path, bad).unwrap();
        let out = export(&env, &["--endpoint", &collector.endpoint()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("starting over"), "{}", stderr(&out));
        collector.expect_records(total);
    }
    // A cursor that fits the file but not its seq (the file was rewritten) starts over too.
    let mut c = cursor(&env);
    c["next_seq"] = json!(7);
    c["offset"] = json!(0);
    std::fs::write(&path, c.to_string()).unwrap();
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(stderr(&out).contains("expects seq 7"), "{}", stderr(&out));
    collector.expect_records(8);
}

#[test]
fn a_torn_tail_is_never_shipped_and_the_next_event_goes_next_time() {
    let env = Env::new();
    tool_call(&env, 1);
    let file = env.sessions_dir().join(format!("{SESSION}.jsonl"));
    let mut bytes = std::fs::read(&file).unwrap();
    let torn = br#"{"session_id":"3403629c-38cc-4493-a7a8-8489c96a9b79","seq":2,"ts_ms":1,"kind":"Tool"#;
    bytes.extend_from_slice(torn);
    std::fs::write(&file, &bytes).unwrap();
    let mut collector = Collector::receiver_only();
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = collector.expect_records(2);
    assert!(records.iter().all(|r| !r["body"].as_str().unwrap().ends_with("\"kind\":\"Tool")));
    tool_call(&env, 2);
    let out = export(&env, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = collector.expect_records(4);
    assert_eq!(by_seq(&records).keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn an_endpoint_that_is_not_a_url_fails_before_anything_is_sent() {
    let env = Env::new();
    tool_call(&env, 1);
    for bad in ["localhost:4318", "not a url", "ftp://127.0.0.1:4318", "http://127.0.0.1:99999"] {
        let out = export(&env, &["--endpoint", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("is not an endpoint URL"), "{err}");
    }
    // The flag is clap's to check, the variable ours: both name the two protocols.
    let out = export(&env, &["--protocol", "grpc"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("[possible values: http/protobuf, http/json]"), "{err}");
    let mut cmd = without_settings(env.command(&["export"]));
    cmd.env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let out = env.run_with(cmd, b"");
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("\"grpc\" is not supported: use http/protobuf or http/json"),
        "{err}"
    );
}

#[test]
fn two_exports_at_once_send_each_event_once() {
    let env = Env::new();
    for n in 0..20 {
        tool_call(&env, n);
    }
    let mut collector = Collector::receiver_only();
    let spawn = || {
        let mut cmd = without_settings(env.command(&["export", "--endpoint", &collector.endpoint()]));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let records = collector.expect_records(40);
    assert_eq!(by_seq(&records).len(), 40);
}

#[test]
fn follow_ships_new_events_within_seconds() {
    let env = Env::new();
    tool_call(&env, 1);
    let mut collector = Collector::rotel();
    let mut follow = without_settings(env.command(&["export", "--follow", "--endpoint", &collector.endpoint()]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // "Within a few seconds": generous on a loaded machine, still far from a cron interval.
    wait_for("the first events shipped by --follow", Duration::from_secs(20), || collector.records().len() >= 2);
    tool_call(&env, 2);
    wait_for("the new events shipped by --follow", Duration::from_secs(20), || collector.records().len() >= 4);
    // A turn that ends is sent once its session is quiet, though no file moves after it.
    hook(&env, &["stop", "--agent", "claude"], json!({"hook_event_name": "Stop", "stop_hook_active": false}));
    wait_for("the ended turn sent by --follow", Duration::from_secs(90), || !collector.lines("spans.jsonl").is_empty());
    follow.kill().unwrap();
    follow.wait().unwrap();
    let records = collector.expect_records(5);
    assert_eq!(by_seq(&records).len(), 5);
}

/// The syscalls `socket` and `connect` one run makes, from strace.
fn sockets_of(env: &Env, args: &[&str], stdin: &[u8]) -> Vec<String> {
    let trace = env.tmp.path().join(format!("strace-{}.txt", args[0]));
    let mut cmd = env.sandbox(Command::new("strace"));
    cmd.args(["-f", "-qq", "-e", "trace=socket,connect,socketpair", "-o"]).arg(&trace).arg(BIN).args(args);
    cmd.current_dir(&env.repo);
    let out = env.run_with(cmd, stdin);
    assert!(out.status.success() || args[0] == "export", "{out:?}");
    std::fs::read_to_string(&trace).expect("strace wrote its trace").lines().map(String::from).collect()
}

#[test]
fn the_tool_use_hook_opens_no_socket() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()),
        "strace is needed for this test (apt-get install strace; .ci/run installs it)"
    );
    let env = Env::new();
    let mut collector = Collector::receiver_only();
    let payload = json!({"session_id": SESSION, "cwd": env.repo, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": {"command": "ls"}});
    let hook = sockets_of(&env, &["tool-use", "--agent", "claude"], payload.to_string().as_bytes());
    assert_eq!(env.events(SESSION).len(), 1, "the hook ran and recorded");
    assert!(hook.is_empty(), "the tool-use hook opened sockets: {hook:#?}");
    // The same trace of `export` does see its connection: the check can fail.
    let export = sockets_of(&env, &["export", "--endpoint", &collector.endpoint()], b"");
    assert!(export.iter().any(|l| l.contains("connect(")), "{export:#?}");
    collector.expect_records(1);
}

// Traces: one per ended turn.

fn spans(collector: &mut Collector) -> Vec<Value> {
    collector.drain();
    collector.lines("spans.jsonl")
}

fn hook(env: &Env, args: &[&str], payload: Value) {
    let mut p = payload;
    p["session_id"] = json!(SESSION);
    p["cwd"] = json!(env.repo);
    env.hook(args, &p);
}

/// Two turns: the first runs two tool calls (the second fails) and ends with
/// the transcript's responses; the second, after a commit, runs one call;
/// then the session ends.
fn two_turns(env: &Env) -> Vec<Event> {
    hook(env, &["session-start", "--agent", "claude"], json!({"hook_event_name": "SessionStart", "source": "startup"}));
    tool_call(env, 1);
    let failing = json!({"hook_event_name": "PostToolUseFailure", "tool_name": "Bash", "tool_use_id": "toolu_fail",
        "tool_input": {"command": "exit 2"}, "error": "Exit code 2\nabout-to-fail"});
    let mut pre = failing.clone();
    pre["hook_event_name"] = json!("PreToolUse");
    hook(env, &["tool-use", "--agent", "claude"], pre);
    hook(env, &["tool-failure", "--agent", "claude"], failing);
    let transcript = env.tmp.path().join("transcript.jsonl");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts/claude/session.jsonl");
    std::fs::copy(fixture, &transcript).unwrap();
    let stop = json!({"hook_event_name": "Stop", "transcript_path": transcript, "stop_hook_active": false});
    hook(env, &["stop", "--agent", "claude"], stop.clone());
    std::fs::write(env.repo.join("new.txt"), "x\n").unwrap();
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "work"]);
    hook(env, &["prompt", "--agent", "claude"], json!({"hook_event_name": "UserPromptSubmit", "prompt": "more"}));
    tool_call(env, 3);
    hook(env, &["stop", "--agent", "claude"], stop);
    hook(env, &["session-end", "--agent", "claude"], json!({"hook_event_name": "SessionEnd", "reason": "exit"}));
    env.events(SESSION)
}

fn span_attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

#[test]
fn each_ended_turn_is_one_trace_of_its_tool_calls_and_responses() {
    let env = Env::new();
    let first_commit = env.head();
    let events = two_turns(&env);
    let second_commit = env.head();
    let mut collector = Collector::rotel();
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 turns"), "{}", String::from_utf8_lossy(&out.stdout));
    let spans = spans(&mut collector);
    let roots: Vec<&Value> = spans.iter().filter(|s| s["parent_span_id"] == "").collect();
    assert_eq!(roots.len(), 2, "one root per turn");
    for root in &roots {
        assert_eq!(root["name"], "invoke_agent claude");
        assert_eq!(span_attr(root, "gen_ai.operation.name"), "invoke_agent");
        assert_eq!(span_attr(root, "gen_ai.conversation.id"), SESSION);
        assert_eq!(span_attr(root, "session.id"), SESSION);
        assert_eq!(&root["resource"]["vcs.ref.head.revision"], span_attr(root, "vcs.ref.head.revision"));
    }
    let commits: BTreeSet<&str> =
        roots.iter().map(|r| span_attr(r, "vcs.ref.head.revision").as_str().unwrap()).collect();
    assert_eq!(commits, BTreeSet::from([first_commit.as_str(), second_commit.as_str()]), "each turn's commit");
    assert_eq!(roots.iter().map(|r| r["trace_id"].to_string()).collect::<BTreeSet<_>>().len(), 2, "a trace per turn");
    let later = roots.iter().find(|r| span_attr(r, "vcs.ref.head.revision") == second_commit.as_str()).unwrap();
    let earlier = roots.iter().find(|r| span_attr(r, "vcs.ref.head.revision") == first_commit.as_str()).unwrap();
    assert_eq!(
        later["links"],
        json!([{"trace_id": earlier["trace_id"], "span_id": earlier["span_id"]}]),
        "turns linked"
    );
    // Every parent is in its trace.
    let ids: BTreeSet<(String, String)> =
        spans.iter().map(|s| (s["trace_id"].as_str().unwrap().into(), s["span_id"].as_str().unwrap().into())).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    for s in spans.iter().filter(|s| s["parent_span_id"] != "") {
        let parent = (s["trace_id"].as_str().unwrap().to_string(), s["parent_span_id"].as_str().unwrap().to_string());
        assert!(ids.contains(&parent), "the parent of {} is in its trace", s["name"]);
    }
    let tools: Vec<&Value> = spans.iter().filter(|s| span_attr(s, "gen_ai.operation.name") == "execute_tool").collect();
    let calls: BTreeSet<&str> = tools.iter().map(|s| span_attr(s, "gen_ai.tool.call.id").as_str().unwrap()).collect();
    assert_eq!(calls, BTreeSet::from(["toolu_1", "toolu_fail", "toolu_3"]), "one span per tool call");
    for tool in &tools {
        let failed = span_attr(tool, "gen_ai.tool.call.id") == "toolu_fail";
        assert_eq!(tool["status_code"], if failed { 2 } else { 0 }, "ERROR exactly for the failed call: {tool}");
        assert_eq!(tool["name"], "execute_tool Bash");
        assert!(tool["end_time_unix_nano"].as_u64() >= tool["start_time_unix_nano"].as_u64());
    }
    let failed = tools.iter().find(|s| span_attr(s, "gen_ai.tool.call.id") == "toolu_fail").unwrap();
    assert!(failed["status_message"].as_str().unwrap().contains("about-to-fail"), "{failed}");
    let costs = events.iter().filter(|e| e.kind == EventKind::Cost).count();
    let chats: Vec<&Value> = spans.iter().filter(|s| span_attr(s, "gen_ai.operation.name") == "chat").collect();
    assert_eq!(chats.len(), costs, "one chat span per model response");
    for chat in &chats {
        assert!(chat["name"].as_str().unwrap().starts_with("chat "));
        assert!(span_attr(chat, "gen_ai.usage.input_tokens").is_i64(), "{chat}");
        assert!(span_attr(chat, "gen_ai.request.model").is_string());
    }
    // A second run sends nothing; after the cursors are lost, the same ids again.
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 turns"), "{}", String::from_utf8_lossy(&out.stdout));
    for entry in std::fs::read_dir(env.home.join("export")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".traces.cursor.json") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = self::spans(&mut collector);
    assert_eq!(again.len(), 2 * spans.len(), "everything once more");
    let resent: BTreeSet<(String, String)> = again[spans.len()..]
        .iter()
        .map(|s| (s["trace_id"].as_str().unwrap().into(), s["span_id"].as_str().unwrap().into()))
        .collect();
    assert_eq!(resent, ids, "a repeated export sends the same ids");
}

#[test]
fn a_turn_is_sent_once_it_has_ended() {
    let env = Env::new();
    hook(
        &env,
        &["session-start", "--agent", "claude"],
        json!({"hook_event_name": "SessionStart", "source": "startup"}),
    );
    tool_call(&env, 1);
    let mut collector = Collector::receiver_only();
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(spans(&mut collector).is_empty(), "a turn still running is not sent");
    hook(&env, &["stop", "--agent", "claude"], json!({"hook_event_name": "Stop", "stop_hook_active": false}));
    hook(&env, &["session-end", "--agent", "claude"], json!({"hook_event_name": "SessionEnd", "reason": "exit"}));
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces", "--protocol", "http/json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&mut collector);
    assert_eq!(spans.iter().filter(|s| s["parent_span_id"] == "").count(), 1, "the ended turn, as OTLP/JSON");
    assert_eq!(collector.requests()[0]["json"], true);
    assert!(spans.iter().any(|s| span_attr(s, "gen_ai.tool.call.id") == "toolu_1"));
}

#[test]
fn real_sessions_of_four_agents_become_traces() {
    let env = Env::new();
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/seed");
    std::fs::create_dir_all(env.sessions_dir()).unwrap();
    let mut expected = BTreeMap::new();
    for agent in ["claude", "codex", "copilot", "gemini"] {
        let events = read_events(&seeds.join(format!("{agent}.jsonl")));
        let id = events[0].session_id.clone();
        let record = std::fs::read_to_string(seeds.join(format!("{agent}.session.json"))).unwrap();
        let record = record.replace("\"Running\"", "\"Done\"");
        std::fs::copy(seeds.join(format!("{agent}.jsonl")), env.sessions_dir().join(format!("{}.jsonl", key(&id))))
            .unwrap();
        std::fs::write(env.sessions_dir().join(format!("{}.session.json", key(&id))), record).unwrap();
        let calls: BTreeSet<String> =
            events.iter().filter(|e| e.tool.is_some()).filter_map(|e| e.tool_call_id.clone()).collect();
        let failed: BTreeSet<String> = events
            .iter()
            .filter(|e| e.kind == EventKind::Error && e.tool.is_some())
            .filter_map(|e| e.tool_call_id.clone())
            .collect();
        let costs = events.iter().filter(|e| e.kind == EventKind::Cost).count();
        expected.insert(id, (agent, calls, failed, costs));
    }
    let mut collector = Collector::rotel();
    let out = export(&env, &["--endpoint", &collector.endpoint(), "--signals", "traces"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&mut collector);
    // Trace UIs (Phoenix) key spans by span id alone: unique across traces too,
    // even for the call ids agents without them get derived from the command.
    let span_ids: BTreeSet<String> = spans.iter().map(|s| s["span_id"].to_string()).collect();
    assert_eq!(span_ids.len(), spans.len(), "span ids are unique");
    for (id, (agent, calls, failed, costs)) in &expected {
        let roots: Vec<&Value> =
            spans.iter().filter(|s| s["parent_span_id"] == "" && span_attr(s, "session.id") == id.as_str()).collect();
        assert!(!roots.is_empty(), "{agent}: its turns");
        let traces: BTreeSet<String> = roots.iter().map(|r| r["trace_id"].to_string()).collect();
        let mine: Vec<&Value> = spans.iter().filter(|s| traces.contains(&s["trace_id"].to_string())).collect();
        let tool_calls: BTreeSet<String> =
            mine.iter().filter_map(|s| span_attr(s, "gen_ai.tool.call.id").as_str().map(String::from)).collect();
        assert_eq!(&tool_calls, calls, "{agent}: a span per tool call");
        let errors: BTreeSet<String> = mine
            .iter()
            .filter(|s| s["status_code"] == 2 && span_attr(s, "gen_ai.operation.name") == "execute_tool")
            .filter_map(|s| span_attr(s, "gen_ai.tool.call.id").as_str().map(String::from))
            .collect();
        assert_eq!(&errors, failed, "{agent}: ERROR exactly for the failed calls");
        let chats = mine.iter().filter(|s| span_attr(s, "gen_ai.operation.name") == "chat").count();
        assert_eq!(chats, *costs, "{agent}: a chat span per response");
        for root in &roots {
            assert!(span_attr(root, "vcs.ref.head.revision").is_string(), "{agent}: the turn's commit");
            assert_eq!(root["name"], format!("invoke_agent {agent}"));
        }
    }
}

// Transport: HTTPS, mutual TLS, gzip, a deadline.

/// A CA, a server certificate it signed for 127.0.0.1, and a client
/// certificate it signed, made with openssl in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// `None`, said on stderr, where openssl is not installed (CI installs it).
    fn new() -> Option<Pki> {
        if !Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success()) {
            eprintln!("openssl is not installed: HTTPS was not tested (CI installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir.path()).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kaizen test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let ext = format!("{name}.ext");
            std::fs::write(
                dir.path().join(&ext),
                format!("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"),
            )
            .unwrap();
            let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
            openssl(&[&["req"], &ec[..], &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]].concat());
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        Some(Pki { dir })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn export_with(env: &Env, vars: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = without_settings(env.command(&[&["export", "--signals", "logs"], args].concat()));
    for (name, value) in vars {
        cmd.env(name, value);
    }
    env.run_with(cmd, b"")
}

#[test]
fn https_trusts_the_named_ca_and_refuses_a_certificate_it_was_not_told_to_trust() {
    let env = Env::new();
    let events = session(&env);
    let Some(pki) = Pki::new() else { return };
    let mut collector = Collector::receiver_with(&[&pki.file("server.pem"), &pki.file("server.key")]);
    let endpoint = format!("https://127.0.0.1:{}", collector.receiver_port);
    let out = export_with(&env, &[], &["--endpoint", &endpoint]);
    assert!(!out.status.success(), "an unknown CA is refused");
    let err = stderr(&out);
    assert!(err.contains("not trusted") && err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{err}");
    assert!(collector.requests().is_empty(), "nothing was sent");
    let ca = pki.file("ca.pem");
    let gzip = Path::new("gzip");
    let vars = [("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_path()), ("OTEL_EXPORTER_OTLP_COMPRESSION", gzip)];
    let out = export_with(&env, &vars, &["--endpoint", &endpoint]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(collector.expect_records(events.len()).len(), events.len(), "every event, over HTTPS");
    let requests = collector.requests();
    assert!(requests.iter().all(|r| r["encoding"] == "gzip"), "gzip: {requests:?}");
}

#[test]
fn mutual_tls_sends_our_certificate_when_asked() {
    let env = Env::new();
    let events = session(&env);
    let Some(pki) = Pki::new() else { return };
    let (cert, key, ca) = (pki.file("server.pem"), pki.file("server.key"), pki.file("ca.pem"));
    let mut collector = Collector::receiver_with(&[&cert, &key, &ca]);
    let endpoint = format!("https://127.0.0.1:{}", collector.receiver_port);
    let trust = [("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_path())];
    let out = export_with(&env, &trust, &["--endpoint", &endpoint]);
    assert!(!out.status.success(), "without a client certificate the collector refuses us");
    assert!(stderr(&out).contains("CertificateRequired"), "{}", stderr(&out));
    let (client, client_key) = (pki.file("client.pem"), pki.file("client.key"));
    let vars = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_path()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", client.as_path()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", client_key.as_path()),
    ];
    let out = export_with(&env, &vars, &["--endpoint", &endpoint]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(collector.expect_records(events.len()).len(), events.len());
}

#[test]
fn a_collector_that_trickles_its_answer_cannot_hold_an_export() {
    let env = Env::new();
    tool_call(&env, 1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, reads nothing, and sends a header byte every 100 ms, for ever.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                use std::io::Write;
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
                    if stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    let deadline = Path::new("1000");
    let mut cmd = env.command(&["export", "--signals", "logs", "--endpoint", &format!("http://127.0.0.1:{port}")]);
    cmd.env("OTEL_EXPORTER_OTLP_TIMEOUT", deadline).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = without_settings(cmd).spawn().unwrap();
    // Not a timing assertion: without a deadline on the whole request the
    // export never ends; this only bounds how long the test waits for it.
    let waited = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("export is still waiting on a collector that trickles");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("deadline"), "{err}");
}

/// A proxy on 127.0.0.1 that tunnels `CONNECT` requests and writes down
/// each target it was asked for.
fn tunnelling_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = String::new();
                reader.read_line(&mut head).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                seen.lock().unwrap().push(head.trim().to_string());
                let Ok(upstream) = TcpStream::connect(&target) else { return };
                let mut to_client = client.try_clone().unwrap();
                to_client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
                let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
                std::thread::spawn(move || std::io::copy(&mut up_read, &mut to_client));
                let _ = std::io::copy(&mut reader, &mut up_write);
            });
        }
    });
    (port, asked)
}

#[test]
fn a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host() {
    let env = Env::new();
    let events = session(&env);
    let mut collector = Collector::receiver_only();
    let (port, asked) = tunnelling_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    let out = export_with(&env, &[("HTTP_PROXY", Path::new(&proxy))], &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(collector.expect_records(events.len()).len(), events.len(), "through the proxy");
    let tunnels = asked.lock().unwrap().clone();
    assert!(tunnels.iter().any(|t| t.contains(&format!("127.0.0.1:{}", collector.receiver_port))), "{tunnels:?}");
    tool_call(&env, 7);
    let vars = [("HTTP_PROXY", Path::new(&proxy)), ("NO_PROXY", Path::new("127.0.0.1"))];
    let out = export_with(&env, &vars, &["--endpoint", &collector.endpoint()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(asked.lock().unwrap().len(), tunnels.len(), "NO_PROXY: straight to the collector");
    assert!(collector.expect_records(events.len() + 2).len() > events.len());
}
