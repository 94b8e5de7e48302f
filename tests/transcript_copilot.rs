//! Copilot CLI's transcript (`~/.copilot/session-state/<id>/events.jsonl`)
//! read at turn ends through the real binary: a real session captured by the
//! e2e suite (five `copilot -p` runs against the scripted mock: tools, a
//! subagent, a resume, a denied call, a background compaction, a failing
//! model), replayed hook by hook with the turn-end payloads Copilot recorded
//! in it (`hook.start.data.input`, the same JSON the hooks were sent).

mod common;

use common::{Env, Event, EventKind, EventSource};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

const SESSION: &str = "991a43a4-fb55-4992-9c3d-0a74d01577fc";
const SUBAGENT: &str = "6cd5dc3f-77d6-48db-bd81-ec03907162ee";
const COMPACTION: &str = "3ba6e1f0-9443-4e5d-bd1f-f3e2665f43f4";

/// The fixture's lines (its `system.message` lines were left out: long
/// prompts no reader looks at; paths redacted to /home/user and /work/project).
fn lines() -> Vec<String> {
    let path = common::fixtures_dir().join("transcripts/copilot/events.jsonl");
    std::fs::read_to_string(path).unwrap().lines().map(|l| format!("{l}\n")).collect()
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// The turn-end hook a `hook.start` line records, as (subcommand, event, payload).
fn turn_end(line: &Value) -> Option<(&'static str, String, Value)> {
    if line["type"] != "hook.start" {
        return None;
    }
    let event = line["data"]["hookType"].as_str()?;
    let sub = match event {
        "agentStop" => "stop",
        "subagentStop" => "subagent",
        "sessionEnd" => "session-end",
        "preCompact" => "event",
        _ => return None,
    };
    Some((sub, event.to_string(), line["data"]["input"].clone()))
}

struct Replay {
    env: Env,
    transcript: PathBuf,
}

impl Replay {
    /// The transcript where Copilot keeps it under this env's HOME (so a
    /// `sessionEnd`, which names none, finds it too).
    fn new() -> Replay {
        let env = Env::new();
        let dir = env.user_home.join(".copilot/session-state").join(SESSION);
        std::fs::create_dir_all(&dir).unwrap();
        let transcript = dir.join("events.jsonl");
        std::fs::write(&transcript, "").unwrap();
        Replay { env, transcript }
    }

    fn append(&self, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.transcript).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Delivers a recorded turn-end payload, pointed at this env's transcript
    /// and repository; repeated deliveries are not deduplicated, so the
    /// transcript is really read again.
    fn deliver(&self, sub: &str, event: &str, payload: &Value) {
        let mut payload = payload.clone();
        if payload.get("transcriptPath").is_some() {
            payload["transcriptPath"] = json!(self.transcript);
        }
        payload["cwd"] = json!(self.env.repo);
        let mut cmd = self.env.command(&[sub, "--agent", "copilot", "--event", event]);
        cmd.env("KAIZEN_HOOK_DEDUP_MS", "0");
        let out = self.env.run_with(cmd, payload.to_string().as_bytes());
        common::assert_quiet(&out);
    }

    fn costs(&self) -> Vec<Event> {
        self.env.events(SESSION).into_iter().filter(|e| e.kind == EventKind::Cost).collect()
    }

    fn cost_keys(&self) -> Vec<String> {
        self.costs().iter().map(key).collect()
    }
}

fn key(e: &Event) -> String {
    e.payload["response_id"].as_str().unwrap().to_string()
}

/// Every model call the transcript records, with its figures in the meanings of
/// `Event`'s fields: (key, tokens_in, cache_read, cache_write, tokens_out, reasoning).
fn expected(lines: &[String]) -> Vec<(String, u32, u32, u32, u32, u32)> {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap() as u32;
    let mut out = Vec::new();
    for line in lines.iter().map(|l| parsed(l)) {
        let (key, usage, reasoning) = match line["type"].as_str().unwrap() {
            "session.usage_record" => {
                let u = &line["data"]["usage"];
                (u["accounting"]["usageId"].as_str().unwrap().to_string(), u.clone(), n(u, "reasoningTokens"))
            }
            "session.compaction_complete" => (
                line["data"]["compactionAttemptId"].as_str().unwrap().to_string(),
                line["data"]["compactionTokensUsed"].clone(),
                0,
            ),
            _ => continue,
        };
        let (read, write) = (n(&usage, "cacheReadTokens"), n(&usage, "cacheWriteTokens"));
        out.push((key, n(&usage, "inputTokens") - read - write, read, write, n(&usage, "outputTokens"), reasoning));
    }
    out
}

fn figures(e: &Event) -> (String, u32, u32, u32, u32, u32) {
    let n = |v: Option<u32>| v.unwrap();
    (key(e), n(e.tokens_in), n(e.cache_read_tokens), n(e.cache_creation_tokens), n(e.tokens_out), n(e.reasoning_tokens))
}

#[test]
fn a_real_session_replayed_hook_by_hook_counts_every_model_call_once() {
    let r = Replay::new();
    let lines = lines();
    let mut written = 0;
    let mut taken: Vec<(String, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((sub, event, payload)) = turn_end(&parsed(line)) else { continue };
        // What Copilot had written when it ran the hook.
        r.append(&lines[written..i].concat());
        written = i;
        r.deliver(sub, &event, &payload);
        let before = taken.len();
        taken.extend(r.cost_keys().into_iter().skip(before).map(|k| (k, i)));
        // The same turn end again: nothing new.
        r.deliver(sub, &event, &payload);
        assert_eq!(r.costs().len(), taken.len(), "{event} at line {i} delivered again");
    }

    let costs = r.costs();
    let want = expected(&lines);
    assert_eq!(want.len(), 17, "16 usage records (2 the subagent's) and the compaction");
    let mut got: Vec<_> = costs.iter().map(figures).collect();
    got.sort();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(got, sorted, "one Cost event per model call, with its figures");
    for e in &costs {
        assert_eq!(e.source, EventSource::Tail);
        assert_eq!(e.payload["model"], "gpt-4.1");
        assert!(e.payload.get("correction").is_none());
        assert!(e.payload.get("agent_cost_usd").is_none(), "usage.cost is a premium-request multiplier, not USD");
        assert!(e.cost_usd_e6.is_some_and(|c| c > 0), "gpt-4.1 has a price");
    }
    let events = r.env.events(SESSION);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (0..events.len() as u64).collect::<Vec<_>>());

    // Where each was taken: the subagent's own agentStop (line 123) is no
    // turn end of the session; its subagentStop (125) reads the parent's file,
    // where the subagent's two calls are; the compaction's figures come after
    // the compact run's sessionEnd and are taken at the next run's
    // sessionEnd, which names no transcript.
    let at = |k: &str| taken.iter().find(|(key, _)| key == k).map(|(_, line)| *line);
    assert_eq!(at("chatcmpl-kz-main-1-bash_ok"), Some(125));
    assert_eq!(at("chatcmpl-kz-sub-2-final"), Some(125));
    assert_eq!(at("chatcmpl-kz-main-9-final"), Some(136));
    assert_eq!(at(COMPACTION), Some(243));
    assert_eq!(parsed(&lines[243])["data"]["input"].get("transcriptPath"), None);

    let record = r.env.record(SESSION);
    assert_eq!(record.model.as_deref(), Some("gpt-4.1"), "no hook payload names the model");
    assert_eq!(record.agent_version.as_deref(), Some("1.0.102"), "session.start.data.copilotVersion");
    let subagent_record = r.env.sessions_dir().join(format!("{SUBAGENT}.session.json"));
    assert!(!subagent_record.exists(), "the subagent's hooks are the parent's");
}

#[test]
fn the_compaction_is_one_model_call_with_its_own_figures() {
    let r = Replay::new();
    let lines = lines();
    r.append(&lines.concat());
    r.deliver("session-end", "sessionEnd", &parsed(&lines[243])["data"]["input"]);
    let costs = r.costs();
    let e = costs.iter().find(|e| key(e) == COMPACTION).expect("the compaction's Cost event");
    // compactionTokensUsed: input 7101 (reads 3001 and writes 91 included), output 71.
    assert_eq!(figures(e), (COMPACTION.to_string(), 4009, 3001, 91, 71, 0));
    assert_eq!((e.latency_ms, e.context_max_tokens, e.ttft_ms), (Some(45), Some(64000), None));
    // A usage record's timing, finish reason and prompt limit.
    let first = costs.iter().find(|e| key(e) == "chatcmpl-kz-main-1-bash_ok").unwrap();
    assert_eq!((first.latency_ms, first.ttft_ms), (Some(52), Some(45)));
    assert_eq!((first.stop_reason.as_deref(), first.context_max_tokens), (Some("tool_calls"), Some(64000)));
    assert_eq!(first.context_used_tokens, Some(1101), "the whole prompt: input, cache read and write");
}

/// Copilot writes its transcript through a queue: at `agentStop` the turn's
/// last lines are often not on disk yet (measured with 1.0.102: the file
/// grows 50-100 ms after the hook starts). They are taken at the next turn
/// end, here the `sessionEnd`, from the session's own file.
#[test]
fn lines_flushed_after_the_turn_end_are_taken_at_the_next_one() {
    let r = Replay::new();
    let lines = lines();
    let last_usage = 133; // chatcmpl-kz-main-9-final
    assert_eq!(parsed(&lines[last_usage])["type"], "session.usage_record");
    r.append(&lines[..last_usage].concat());
    r.deliver("stop", "agentStop", &parsed(&lines[136])["data"]["input"]);
    assert_eq!(r.costs().len(), 10, "main's first eight calls and the subagent's two");
    r.append(&lines[last_usage..141].concat());
    r.deliver("session-end", "sessionEnd", &parsed(&lines[138])["data"]["input"]);
    assert_eq!(r.cost_keys().last().map(String::as_str), Some("chatcmpl-kz-main-9-final"));
    assert_eq!(r.costs().len(), 11);
}

#[test]
fn a_half_written_line_waits_for_the_next_turn_end() {
    let r = Replay::new();
    let lines = lines();
    let usage = &lines[9]; // chatcmpl-kz-main-1-bash_ok
    let (head, rest) = usage.split_at(usage.len() / 2);
    r.append(&lines[..9].concat());
    r.append(head);
    let stop = parsed(&lines[136])["data"]["input"].clone();
    r.deliver("stop", "agentStop", &stop);
    assert_eq!(r.costs().len(), 0);
    r.append(rest);
    r.deliver("stop", "agentStop", &stop);
    assert_eq!(r.cost_keys(), ["chatcmpl-kz-main-1-bash_ok"]);
}

/// `session.shutdown` and `session.usage_checkpoint` repeat running totals
/// (per model, per agent): never a model call.
#[test]
fn running_totals_are_not_model_calls() {
    let r = Replay::new();
    let lines = lines();
    let totals: String = lines
        .iter()
        .filter(|l| matches!(parsed(l)["type"].as_str(), Some("session.shutdown" | "session.usage_checkpoint")))
        .cloned()
        .collect();
    assert!(totals.contains("\"inputTokens\""));
    r.append(&totals);
    r.deliver("stop", "agentStop", &parsed(&lines[136])["data"]["input"]);
    assert_eq!(r.costs().len(), 0);
    assert!(r.env.events(SESSION).iter().all(|e| e.kind != EventKind::Cost));
}

/// A `sessionEnd` names no transcript: the session's own is found under
/// `$COPILOT_HOME` when set, and an id that is not a plain name finds none.
#[test]
fn a_session_end_finds_the_transcript_under_copilot_home() {
    let r = Replay::new();
    let lines = lines();
    let elsewhere = r.env.tmp.path().join("copilot-home");
    let dir = elsewhere.join("session-state").join(SESSION);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("events.jsonl"), lines[..20].concat()).unwrap();
    let end = parsed(&lines[138])["data"]["input"].clone();
    let mut cmd = r.env.command(&["session-end", "--agent", "copilot", "--event", "sessionEnd"]);
    cmd.env("COPILOT_HOME", &elsewhere);
    let mut payload = end.clone();
    payload["cwd"] = json!(r.env.repo);
    common::assert_quiet(&r.env.run_with(cmd, payload.to_string().as_bytes()));
    assert_eq!(r.cost_keys(), ["chatcmpl-kz-main-1-bash_ok"]);

    // A session id that climbs out of session-state names no transcript.
    let climbed = r.env.user_home.join(".copilot/elsewhere");
    std::fs::create_dir_all(&climbed).unwrap();
    std::fs::write(climbed.join("events.jsonl"), lines[..20].concat()).unwrap();
    let mut sneaky = payload;
    sneaky["sessionId"] = json!("../elsewhere");
    r.env.hook(&["session-end", "--agent", "copilot", "--event", "sessionEnd"], &sneaky);
    let all: Vec<Event> = r.env.session_files().iter().flat_map(|f| common::read_events(f)).collect();
    assert_eq!(all.iter().filter(|e| e.kind == EventKind::Cost).count(), 1);
}

/// The real Copilot CLI 1.0.102 writes a run's `session.usage_record` lines
/// after its `agentStop` and `sessionEnd` hooks returned: both read an
/// empty transcript and the session is Done with no model. `(next, label)`
/// catches them up afterwards; run twice, it adds nothing more.
fn flushed_after_the_session_ended(next: impl Fn(&Replay), label: &str) {
    let r = Replay::new();
    let lines = lines();
    r.deliver("stop", "agentStop", &parsed(&lines[136])["data"]["input"]);
    r.deliver("session-end", "sessionEnd", &parsed(&lines[138])["data"]["input"]);
    let record = r.env.record(SESSION);
    assert_eq!((record.status, record.model), (common::SessionStatus::Done, None));
    assert_eq!(r.costs().len(), 0);
    r.append(&lines[..141].concat());
    let want: Vec<String> = expected(&lines[..141]).into_iter().map(|(key, ..)| key).collect();
    assert_eq!(want.len(), 11);
    for round in 0..2 {
        next(&r);
        let mut got = r.cost_keys();
        got.sort();
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(got, sorted, "{label}, round {round}: every usage record, once");
    }
    let record = r.env.record(SESSION);
    assert_eq!(record.model.as_deref(), Some("gpt-4.1"), "{label}: the model, from the transcript");
    assert_eq!(record.agent_version.as_deref(), Some("1.0.102"));
    let events = r.env.events(SESSION);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (0..events.len() as u64).collect::<Vec<_>>());
}

#[test]
fn usage_flushed_after_the_session_ended_is_counted_at_another_session_s_start() {
    flushed_after_the_session_ended(
        |r| {
            let mut start: Value = serde_json::from_slice(
                &std::fs::read(common::fixtures_dir().join("real/copilot/sessionStart.json")).unwrap(),
            )
            .unwrap();
            start["cwd"] = json!(r.env.repo);
            start["sessionId"] = json!(format!("next-{}", r.env.session_files().len()));
            r.env.hook(&["session-start", "--agent", "copilot", "--event", "sessionStart"], &start);
        },
        "the next session's start",
    );
}

#[test]
fn usage_flushed_after_the_session_ended_is_counted_by_the_read_commands() {
    for args in [&["report", "--json"][..], &["sessions"], &["show", SESSION]] {
        flushed_after_the_session_ended(
            |r| {
                let out = r.env.run(args, b"");
                assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
                assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            },
            &args.join(" "),
        );
    }
}

/// A transcript that keeps growing is read again each time it grew, each
/// response once; one replaced by a symlink or a FIFO is not followed.
#[test]
fn a_transcript_read_again_while_it_grows_and_never_through_a_symlink_or_fifo() {
    let r = Replay::new();
    let lines = lines();
    r.deliver("session-end", "sessionEnd", &parsed(&lines[138])["data"]["input"]);
    let mut written = 0;
    for end in [20, 60, 100, 141] {
        r.append(&lines[written..end].concat());
        written = end;
        r.env.run(&["sessions", "--json"], b"");
        let want = expected(&lines[..end]).len();
        assert_eq!(r.costs().len(), want, "read again up to line {end}");
    }
    let rest = r.env.tmp.path().join("rest.jsonl");
    std::fs::write(&rest, lines.concat()).unwrap();
    std::fs::remove_file(&r.transcript).unwrap();
    std::os::unix::fs::symlink(&rest, &r.transcript).unwrap();
    r.env.run(&["sessions", "--json"], b"");
    assert_eq!(r.costs().len(), 11, "a symlink is not followed");
    std::fs::remove_file(&r.transcript).unwrap();
    let status = r.env.sandbox(std::process::Command::new("mkfifo")).arg(&r.transcript).status().unwrap();
    assert!(status.success());
    r.env.run(&["report", "--json"], b"");
    assert_eq!(r.costs().len(), 11, "a FIFO is not read, and nothing waits on it");
}
