//! A session ends when its agent does. Many agents never fire a session end
//! (headless Qwen, Cline, often Claude Code and Codex), so their sessions
//! would stay Running or Idle forever. Each hook event records the agent
//! process that delivered it (`payload.agent_process`, pid and start time);
//! a session whose last delivering process is gone, and whose last hook event
//! is a turn end (or older than a turn's budget), has ended.
//!
//! The end is written as what it is: a `Lifecycle` event with
//! `payload.inferred: true`, at the time of the session's last event, and the
//! record made Done with that `ended_at_ms`. Under the session's lock, once
//! (a session already Done, or whose last line is an inferred end, is left
//! alone), and never while the process lives. `sessions`, `show` and
//! `report` settle the sessions they show; a hook settles the others when a
//! session begins (its SessionStart or its first event), a few at most.
//!
//! Settled includes the transcripts: an agent may write usage after its last
//! hook returned (Copilot), so a session whose transcript grew since it was
//! read is read again (`catch_up`), Done or not, by the same sweep and
//! commands (and `export`).

use crate::agents::{self, Payload};
use crate::config::Config;
use crate::event::{Event, EventKind, EventSource, SessionRecord, SessionStatus};
use crate::phase::Phase;
use crate::process::AgentProcess;
use crate::store::line::{Sealed, new_event};
use crate::store::writer::{Limits, SessionWriter};
use crate::store::{self, Listed, SessionFiles, record};
use crate::transcript;
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// How long a turn may run with no hook event before a session whose agent is
/// gone counts as ended even though its last event is not a turn end (an
/// agent killed mid-turn): beyond any hook's budget and any tool call's wait.
pub const TURN_BUDGET_MS: u64 = 30 * 60 * 1000;

/// How much of the end of an events file is searched for its last hook event.
const WINDOW: u64 = 256 * 1024;

/// The most sessions one hook run settles besides its own.
pub const HOOK_SWEEP: usize = 8;

/// Why a session has ended, when it has.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gone {
    process: AgentProcess,
    last_ts_ms: u64,
    last_phase: String,
}

/// What the end of an events file says about its session's agent.
#[derive(Debug, Default)]
struct LastSeen {
    /// The newest line with a recorded agent process, and its phase.
    process: Option<(AgentProcess, String)>,
    /// That line's agent and hook input: where its transcript is.
    delivery: Option<(String, Payload)>,
    last_ts_ms: Option<u64>,
    already_inferred: bool,
}

/// How long a human command waits for one session's lock to write its end.
const COMMAND_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Settles one session: writes its inferred end when its agent is gone.
/// Returns whether it did.
pub fn settle(config: &Config, session_id: &str, now_ms: u64, deadline: Instant) -> Result<bool, String> {
    let files = SessionFiles::new(&config.home, session_id);
    // Cheap checks first, without the lock: most sessions are Done or alive.
    let Some(rec) = record::load(&files.record).map_err(|e| format!("record {}: {e}", files.record.display()))? else {
        return Ok(false);
    };
    if rec.status == SessionStatus::Done || gone(&read_end(&files.events)?, now_ms).is_none() {
        return Ok(false);
    }
    let limits = Limits { event_cap: config.event_cap, dedup_window_ms: config.dedup_window_ms };
    let mut problems = Vec::new();
    let mut writer = SessionWriter::lock_or_fail(&files, deadline, limits, &mut problems)?;
    // Again under the lock: another run may have settled it, or a hook come in.
    let seen = read_end(&files.events)?;
    let Some(rec) = record::load(&files.record).map_err(|e| format!("record: {e}"))? else { return Ok(false) };
    if rec.status == SessionStatus::Done {
        return Ok(false);
    }
    let Some(why) = gone(&seen, now_ms) else { return Ok(false) };
    if !seen.already_inferred {
        // The agent is gone, so its transcript is complete: what it wrote
        // after the last turn end's hook ran (Qwen writes a turn's last
        // response after its Stop) is counted now, before the end.
        if let Some((agent, input)) = &seen.delivery
            && let Some(reader) = agents::by_name(agent).and_then(|a| a.transcript.as_ref())
        {
            let found = transcript::read(reader, input, &files.transcripts, deadline);
            transcript::record(&mut writer, session_id, &found, &config.home, false, &mut problems)?;
        }
        writer.append_made(vec![Sealed::new(end_event(session_id, &why))])?;
    }
    for problem in problems {
        crate::log::write(&config.home, &format!("inferred end of {session_id}: {problem}"));
    }
    record::save(&files.record, &ended(rec, why.last_ts_ms)).map_err(|e| format!("record: {e}"))?;
    drop(writer);
    Ok(true)
}

/// What a person's command does with the sessions it read that are not
/// Done: settles those whose agent is gone. Returns whether any was (the
/// command reads them again then) and what could not be written.
pub fn settle_listed<'a>(config: &Config, ids: impl IntoIterator<Item = &'a str>) -> (bool, Vec<String>) {
    let now = crate::time::now_ms();
    let mut settled = false;
    let mut problems = Vec::new();
    for id in ids {
        match settle(config, id, now, Instant::now() + COMMAND_WAIT) {
            Ok(ended) => settled |= ended,
            Err(e) => problems.push(format!("{id}: its end could not be written ({e})")),
        }
    }
    (settled, problems)
}

/// Settles one session before a person's command reads it, and catches up
/// its transcripts.
pub fn settle_one(config: &Config, session_id: &str) -> Result<bool, String> {
    let ended = settle(config, session_id, crate::time::now_ms(), Instant::now() + COMMAND_WAIT)?;
    let counted = catch_up(config, &SessionFiles::new(&config.home, session_id), Instant::now() + COMMAND_WAIT)?;
    Ok(ended || counted > 0)
}

/// Reads again what a session's transcripts added since they were last read
/// to their end, Done sessions included: Copilot writes a run's last usage
/// lines after its last hook (sessionEnd) returned, so no turn end ever
/// reads them. Under the session's lock (not had by `deadline`: left for
/// the next reader), each response counted once as at a turn end; the
/// record's model and version filled where it had none. Returns how many
/// responses it counted.
pub fn catch_up(config: &Config, files: &SessionFiles, deadline: Instant) -> Result<usize, String> {
    let grown = transcript::grown(&files.transcripts);
    if grown.is_empty() {
        return Ok(0);
    }
    let Some(rec) = record::load(&files.record).map_err(|e| format!("record: {e}"))? else { return Ok(0) };
    let Some(reader) = agents::by_name(&rec.agent).and_then(|a| a.transcript.as_ref()) else { return Ok(0) };
    let limits = Limits { event_cap: config.event_cap, dedup_window_ms: config.dedup_window_ms };
    let mut problems = Vec::new();
    let Some(mut writer) = SessionWriter::lock(files, deadline, limits, &mut problems)? else { return Ok(0) };
    let session_id = rec.id.as_str();
    let found = transcript::read_again(reader, grown, session_id, &files.transcripts, deadline);
    transcript::record(&mut writer, session_id, &found, &config.home, false, &mut problems)?;
    // Read again under the lock: a hook may have changed it since.
    if let Some(mut rec) = record::load(&files.record).map_err(|e| format!("record: {e}"))?
        && (rec.model.is_none() && found.model.is_some() || rec.agent_version.is_none() && found.version.is_some())
    {
        rec.model = rec.model.or(found.model.clone());
        rec.agent_version = rec.agent_version.or(found.version.clone());
        record::save(&files.record, &rec).map_err(|e| format!("record: {e}"))?;
    }
    drop(writer);
    for problem in problems {
        crate::log::write(&config.home, &format!("transcripts of {session_id} read again: {problem}"));
    }
    Ok(found.counted.len())
}

/// What a person's command does with every session it read before reading
/// them: catches up their transcripts. Returns whether any response was
/// counted (the command reads them again then) and what could not be written.
pub fn catch_up_listed(config: &Config, listed: impl IntoIterator<Item = SessionFiles>) -> (bool, Vec<String>) {
    let mut counted = false;
    let mut problems = Vec::new();
    for files in listed {
        match catch_up(config, &files, Instant::now() + COMMAND_WAIT) {
            Ok(n) => counted |= n > 0,
            Err(e) => problems.push(format!("{}: its transcripts could not be read again ({e})", files.key)),
        }
    }
    (counted, problems)
}

/// The hook's sweep: the most recently changed records other than `own`, at
/// most `HOOK_SWEEP` not yet Done, settled within `deadline`, and the Done
/// ones among the newest caught up. Run when a session begins, so an
/// agent's next launch ends the sessions of its last and counts what they
/// wrote after their end.
pub fn sweep(config: &Config, own: &str, deadline: Instant) -> Vec<String> {
    let home = &config.home;
    let now = crate::time::now_ms();
    let mut problems = Vec::new();
    let newest = newest_records(home, own, HOOK_SWEEP, deadline);
    for id in newest.unsettled {
        if Instant::now() > deadline {
            break;
        }
        if let Err(e) = settle(config, &id, now, deadline) {
            problems.push(format!("inferred end of {id}: {e}"));
        }
    }
    for id in newest.done {
        if Instant::now() > deadline {
            break;
        }
        if let Err(e) = catch_up(config, &SessionFiles::new(home, &id), deadline) {
            problems.push(format!("transcripts of {id} read again: {e}"));
        }
    }
    problems
}

/// How many records one pass over `sessions/` keeps: the memory of a sweep,
/// whatever the number of sessions.
const SWEEP_PAGE: usize = 256;

/// A record file by when it last changed (its name breaks ties).
type Stamped = (SystemTime, PathBuf);

/// What a sweep looks at, newest first, other than its own session.
#[derive(Debug, Default)]
struct Newest {
    /// The `n` most recently changed records that are not Done.
    unsettled: Vec<String>,
    /// The Done ones among the `n` most recently changed records: those whose
    /// agent may still be writing their transcripts (a record changes last at
    /// its end).
    done: Vec<String>,
}

/// The sessions a sweep looks at (`Newest`), looked for until `deadline`.
/// Records are taken newest first a page at a time (`newest_older_than`), so
/// however many sessions there are, all of them are ranked and memory stays
/// bounded; the first page gives the Done ones too (one pass, not two).
fn newest_records(home: &Path, own: &str, n: usize, deadline: Instant) -> Newest {
    let mut newest = Newest::default();
    let mut ranked = 0;
    let mut older_than = None;
    while newest.unsettled.len() < n {
        let page = newest_older_than(home, older_than.as_ref(), SWEEP_PAGE, deadline);
        for (_, path) in &page {
            if newest.unsettled.len() >= n || Instant::now() > deadline {
                return newest;
            }
            let Ok(Some(rec)) = record::load(path) else { continue };
            if rec.id == own {
                continue;
            }
            ranked += 1;
            if rec.status != SessionStatus::Done {
                newest.unsettled.push(rec.id);
            } else if ranked <= n {
                newest.done.push(rec.id);
            }
        }
        if page.len() < SWEEP_PAGE {
            break;
        }
        older_than = page.into_iter().last();
    }
    newest
}

/// The `n` newest record files older than `older_than` (all when `None`),
/// newest first: one pass over the directory keeping the `n` newest seen
/// in a heap. A pass still going at `deadline` gives nothing: a hook's
/// sweep never outlasts its budget, however many sessions there are.
fn newest_older_than(home: &Path, older_than: Option<&Stamped>, n: usize, deadline: Instant) -> Vec<Stamped> {
    let mut newest: BinaryHeap<Reverse<Stamped>> = BinaryHeap::with_capacity(n + 1);
    for (i, files) in store::list(home, Listed::Record).into_iter().flatten().enumerate() {
        if i % 64 == 0 && Instant::now() > deadline {
            return Vec::new();
        }
        let Ok(modified) = std::fs::symlink_metadata(&files.record).and_then(|m| m.modified()) else { continue };
        let stamped = (modified, files.record);
        if older_than.is_some_and(|limit| stamped >= *limit) {
            continue;
        }
        if newest.len() < n {
            newest.push(Reverse(stamped));
        } else if newest.peek().is_some_and(|Reverse(oldest)| stamped > *oldest) {
            newest.pop();
            newest.push(Reverse(stamped));
        }
    }
    let mut page: Vec<Stamped> = newest.into_iter().map(|Reverse(s)| s).collect();
    page.sort_unstable_by(|a, b| b.cmp(a));
    page
}

/// The agent is gone, and the session's last hook event ended a turn (or
/// came longer ago than a turn may take).
fn gone(seen: &LastSeen, now_ms: u64) -> Option<Gone> {
    let (process, phase) = seen.process.clone()?;
    let last_ts_ms = seen.last_ts_ms?;
    let ended =
        Phase::from_name(&phase).is_some_and(|p| matches!(p, Phase::TurnEnd | Phase::TurnFailure | Phase::SessionEnd));
    let quiet = ended || now_ms.saturating_sub(last_ts_ms) > TURN_BUDGET_MS;
    (quiet && !process.is_alive()).then_some(Gone { process, last_ts_ms, last_phase: phase })
}

/// The end of the events file: the newest delivering process and its event's phase.
fn read_end(path: &Path) -> Result<LastSeen, String> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LastSeen::default()),
        Err(e) => return Err(format!("open {}: {e}", path.display())),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(WINDOW))).map_err(|e| e.to_string())?;
    let mut window = Vec::new();
    file.read_to_end(&mut window).map_err(|e| e.to_string())?;
    Ok(last_seen(&window))
}

fn last_seen(window: &[u8]) -> LastSeen {
    let mut seen = LastSeen::default();
    let whole = window.strip_suffix(b"\n").unwrap_or(window);
    for (i, line) in whole.rsplit(|b| *b == b'\n').enumerate() {
        let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
        let payload = value.get("payload");
        // The newest time, not the last line's: Cost events follow their turn's end
        // with the (earlier) times of the responses.
        let ts = value.get("ts_ms").and_then(Value::as_u64);
        seen.last_ts_ms = seen.last_ts_ms.max(ts);
        if i == 0 {
            seen.already_inferred = payload.and_then(|p| p.get("inferred")) == Some(&Value::Bool(true));
        }
        let process =
            payload.and_then(|p| p.get("agent_process")).and_then(Value::as_str).and_then(AgentProcess::parse);
        if let Some(process) = process {
            let phase = payload.and_then(|p| p.get("phase")).and_then(Value::as_str).unwrap_or("").to_string();
            seen.process = Some((process, phase));
            let agent = payload.and_then(|p| p.get("agent")).and_then(Value::as_str);
            let input = payload.and_then(|p| p.get("input")).and_then(Value::as_object);
            seen.delivery = agent.zip(input).map(|(agent, input)| (agent.to_string(), input.clone()));
            break;
        }
    }
    seen
}

/// The inferred end, at the time of the session's last event.
fn end_event(session_id: &str, why: &Gone) -> Event {
    let (kind, phase) = (EventKind::Lifecycle, Phase::SessionEnd);
    let mut event = new_event(session_id, kind, EventSource::Hook, why.last_ts_ms, "inferred_session_end", phase);
    event.payload["inferred"] = json!(true);
    event.payload["phase_note"] = json!(format!(
        "the agent process {} that delivered the last hook event ({}) is gone: the session ended with it",
        why.process, why.last_phase
    ));
    event
}

fn ended(mut rec: SessionRecord, at_ms: u64) -> SessionRecord {
    rec.status = SessionStatus::Done;
    rec.ended_at_ms = Some(at_ms.max(rec.started_at_ms));
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: u64, phase: &str, by: Option<&str>) -> String {
        let by = by.map_or("null".to_string(), |b| format!("\"{b}\""));
        format!("{{\"ts_ms\":{ts},\"payload\":{{\"phase\":\"{phase}\",\"agent_process\":{by}}}}}\n")
    }

    #[test]
    fn the_newest_delivering_process_is_found_past_transcript_lines() {
        let window =
            [line(1, "tool_call", Some("7:1")), line(5, "turn_end", Some("8:2")), line(3, "other", None)].concat();
        let seen = last_seen(window.as_bytes());
        assert_eq!(seen.process, Some((AgentProcess { pid: 8, start_ticks: 2 }, "turn_end".into())));
        assert_eq!((seen.last_ts_ms, seen.already_inferred), (Some(5), false), "the newest time, not the last line's");
    }

    #[test]
    fn a_live_process_or_a_recent_mid_turn_event_is_not_an_end() {
        let me = crate::process::delivering().expect("Linux has /proc");
        let dead = AgentProcess { start_ticks: me.start_ticks + 1, ..me };
        let seen = |process: AgentProcess, phase: &str| LastSeen {
            process: Some((process, phase.into())),
            last_ts_ms: Some(1_000),
            ..LastSeen::default()
        };
        assert_eq!(gone(&seen(me, "turn_end"), 2_000), None, "never while the process lives");
        assert_eq!(gone(&seen(dead, "tool_call"), 2_000), None, "mid-turn, within a turn's budget");
        assert!(gone(&seen(dead, "tool_call"), 1_000 + TURN_BUDGET_MS + 1).is_some());
        assert!(gone(&seen(dead, "turn_end"), 2_000).is_some());
        assert_eq!(gone(&LastSeen::default(), 2_000), None, "no recorded process: never guessed");
    }

    /// 5,000 records whose mtimes are not in directory or creation order:
    /// every one is ranked (pages of `SWEEP_PAGE` cross), and the sweep
    /// picks the newest not Done and not its own, past pages of Done ones,
    /// and the Done ones among the newest.
    #[test]
    fn the_sweep_picks_the_newest_records_among_thousands() {
        const SESSIONS: u64 = 5_000;
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(store::sessions_dir(home.path())).unwrap();
        let base = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        // Session i changed at second (i * 7919) mod 5000: a permutation (7919 is prime),
        // so rank r (0 the newest) is session i with age(i) = 4999 - r.
        let age = |i: u64| (i * 7919) % SESSIONS;
        let rank = |i: u64| SESSIONS - 1 - age(i);
        // Not Done: ranks 1, 2, 3 and 40, then only past the first few pages.
        let running = |i: u64| matches!(rank(i), 1..=3 | 40) || (rank(i) > 3 * SWEEP_PAGE as u64 && rank(i) % 97 == 0);
        let record = |i: u64| SessionFiles::new(home.path(), &format!("s{i}")).record;
        for i in 0..SESSIONS {
            let status = if running(i) { "Running" } else { "Done" };
            let json = json!({"id": format!("s{i}"), "agent": "claude", "workspace": "/w", "started_at_ms": 1,
                              "status": status, "trace_path": ""});
            let mut file = std::fs::File::create(record(i)).unwrap();
            std::io::Write::write_all(&mut file, json.to_string().as_bytes()).unwrap();
            file.set_modified(base + std::time::Duration::from_secs(age(i))).unwrap();
        }
        let mut by_rank: Vec<u64> = (0..SESSIONS).collect();
        by_rank.sort_by_key(|&i| rank(i));

        let far = Instant::now() + std::time::Duration::from_secs(60);
        let mut ranked = Vec::new();
        let mut older_than = None;
        loop {
            let page = newest_older_than(home.path(), older_than.as_ref(), SWEEP_PAGE, far);
            ranked.extend(page.iter().map(|(_, path)| path.clone()));
            if page.len() < SWEEP_PAGE {
                break;
            }
            older_than = page.into_iter().last();
        }
        assert_eq!(ranked, by_rank.iter().map(|&i| record(i)).collect::<Vec<_>>(), "every record, newest first");
        let past = Instant::now().checked_sub(std::time::Duration::from_millis(1)).unwrap();
        assert!(newest_older_than(home.path(), None, SWEEP_PAGE, past).is_empty(), "no pass outlasts the deadline");

        let own = format!("s{}", by_rank[2]);
        let picked = newest_records(home.path(), &own, HOOK_SWEEP, far);
        let expected: Vec<String> = by_rank
            .iter()
            .filter(|&&i| running(i))
            .map(|i| format!("s{i}"))
            .filter(|id| *id != own)
            .take(HOOK_SWEEP)
            .collect();
        assert_eq!(expected.len(), HOOK_SWEEP);
        assert!(rank(expected[HOOK_SWEEP - 1][1..].parse().unwrap()) > 3 * SWEEP_PAGE as u64, "{expected:?}");
        assert_eq!(picked.unsettled, expected);
        let newest_done: Vec<String> = by_rank
            .iter()
            .map(|i| format!("s{i}"))
            .filter(|id| *id != own)
            .take(HOOK_SWEEP)
            .filter(|id| !running(id[1..].parse().unwrap()))
            .collect();
        assert_eq!(newest_done.len(), HOOK_SWEEP - 2, "ranks 1 and 3 run, 2 is its own");
        assert_eq!(picked.done, newest_done, "the Done among the newest, from the same pass");
    }
}
