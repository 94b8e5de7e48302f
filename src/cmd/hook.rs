//! The hook subcommands: read the payload, recognise it, enrich it, append it
//! to its session under the lock, keep the record current, reply neutrally.
//! Whatever happens, the agent sees exit 0 and at most a neutral JSON reply;
//! problems go to the log.

use crate::agents::AgentId;
use crate::budget::Budget;
use crate::config::Config;
use crate::enrich::{self, Wanted};
use crate::event::{Event, EventKind, EventSource};
use crate::input::{self, HookInput};
use crate::recognize::{self, Category, Flags, Observation, Phase};
use crate::store::events::Delivery;
use crate::store::spool::{self, Spooled};
use crate::store::{self, SessionFiles, events, fsutil, record};
use crate::time::Arrival;
use crate::{fit, lifecycle, log, process, redact, transcript};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;

pub struct HookRun {
    pub category: Category,
    pub agent: Option<String>,
    pub event: Option<String>,
    /// The payload as the last argument (Codex `notify`).
    pub payload: Option<String>,
}

impl HookRun {
    pub fn run(&self, config: &Config, arrival: Arrival) {
        // Debug builds only: lets the test suite prove a panic is contained.
        if cfg!(debug_assertions) && std::env::var_os("KAIZEN_HOOK_TEST_PANIC").is_some() {
            panic!("KAIZEN_HOOK_TEST_PANIC is set");
        }
        let budget = Budget::new(arrival.at, config.budget);
        let input =
            input::read(self.payload.as_deref(), budget.stdin_deadline(), config.field_cap, config.event_cap * 2);
        let flags = Flags { category: self.category, agent: self.agent.as_deref(), event: self.event.as_deref() };
        let mut observation = recognize::recognize(input.value.as_ref().and_then(Value::as_object), flags);
        // The agent's version when the payload has none: asked at session and
        // turn boundaries only, as it may read the agent's own files.
        if observation.phase.takes_snapshot() {
            let payload = input.value.as_ref().and_then(Value::as_object);
            let asked = observation.agent.known().zip(payload);
            if observation.agent_version.is_none() {
                observation.agent_version = asked.and_then(|(agent, payload)| (agent.version)(payload));
            }
            if observation.model.is_none() {
                observation.model = asked.and_then(|(agent, payload)| (agent.model)(payload));
            }
        }
        let mut problems = Vec::new();
        if let Some(error) = &input.error {
            problems.push(format!("{error} ({} bytes)", input.raw_len));
        }
        if input.stdin_timed_out {
            problems.push("stdin still open at the deadline".into());
        }
        if let Some(value) = input.value.as_ref().filter(|v| !v.is_object()) {
            problems.push(format!("input is {}, not an object: recorded as a Hook event", recognize::type_name(value)));
        }
        if input.lossy {
            problems.push("input had invalid UTF-8: replaced with U+FFFD".into());
        }
        problems.extend(observation.problems.iter().cloned());
        let outcome = record(config, self, input, &observation, (arrival, budget), &mut problems);
        if let Err(e) = outcome {
            problems.push(e);
        }
        if !problems.is_empty() {
            let what =
                format!("{} {} {}", observation.agent.name(), self.category.subcommand(), observation.event_type);
            log::write(&config.home, &format!("{what}: {}", problems.join("; ")));
        }
        reply(&observation);
    }
}

/// The neutral reply, for agents that want one on stdout (Cursor): the
/// sender's rule, else the rule of the agent it was registered for.
fn reply(observation: &Observation) {
    let event = observation.sent_event_name.as_deref().unwrap_or("");
    let body = [Some(&observation.agent), observation.registered_agent.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(AgentId::known)
        .find_map(|agent| (agent.reply)(event));
    if let Some(body) = body {
        let _ = std::io::stdout().write_all(body.as_bytes());
    }
}

/// Takes the session's lock as soon as the payload says which session it is,
/// so events are appended in the order they arrived; then the duplicate
/// check, enrichment, and the one write.
fn record(
    config: &Config,
    run: &HookRun,
    mut input: HookInput,
    obs: &Observation,
    (arrival, budget): (Arrival, Budget),
    problems: &mut Vec<String>,
) -> Result<(), String> {
    if delivered_to_its_own_entry_too(obs) {
        return Ok(());
    }
    if let Some(why) = &config.home_refused {
        return Err(why.clone());
    }
    let (cwd, session_id, files) = session_of(config, obs, problems)?;
    let first = std::fs::symlink_metadata(&files.events).is_err();
    let delivery = Delivery {
        hash: input.hash.clone(),
        by: process::delivering().map(|p| p.to_string()),
        boot_ms: arrival.boot_ms,
    };
    // Past this point the event is spooled rather than waited for: a frozen
    // holder must not cost it (see `store::spool`).
    let give_up = arrival.at + config.budget * 6 / 10;
    let locked = match events::open_locked(&files.events, give_up) {
        Ok(file) => Some(locked_tail(file, &files, problems)?),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => None,
        // A file system that cannot lock (ENOLCK on some network mounts): kept, not lost.
        Err(e) => {
            problems.push(format!("cannot lock {}: {e}", files.events.display()));
            None
        }
    };
    if let Some((file, tail)) = &locked
        && config.dedup_window_ms > 0
        && tail.is_repeat(file, &delivery, config.dedup_window_ms)
    {
        problems.push(format!("duplicate delivery {} ignored (session {})", delivery.hash, files.key));
        return Ok(());
    }

    let wanted = Wanted {
        snapshot: first || obs.phase.takes_snapshot(),
        fingerprint: first || obs.phase == Phase::SessionStart,
        cache_dir: Some(config.home.join("cache")),
    };
    let context = enrich::gather(&cwd, obs.cwd_source, wanted, budget.enrich_deadline());
    if let Some(snapshot) = &context.snapshot {
        problems.extend(snapshot.problems.iter().cloned());
    }
    let ts_ms = obs.agent_ts_ms.unwrap_or(arrival.wall_ms);
    // The transcripts a turn end points at are named in the raw payload, which
    // the recorded one replaces (redacted, capped).
    let turn_end_payload = reads_transcripts(obs).then(|| input.value.as_ref().and_then(Value::as_object).cloned());
    let mut event = new_event(&session_id, obs, ts_ms);
    let mut payload = base_payload(run, &mut input, obs, &context, config);
    add_agent_latency(&mut event, &mut payload, obs);
    event.payload = Value::Object(payload);
    let own = Spooled {
        arrival_boot_ms: arrival.boot_ms,
        arrival_wall_ms: arrival.wall_ms,
        phase: obs.phase.name().to_string(),
        delivery,
        event,
    };
    // The own event was checked for a repeat against this tail above; unless a
    // spooled event lands before it, that answer stands (one search, not two).
    let checked_at = locked.as_ref().map(|(_, tail)| tail.len);
    let (file, mut tail, own) = match locked {
        Some((file, tail)) => (file, tail, Some((own, checked_at))),
        None => {
            let spooled = spool::write(&files.spool, &own).map_err(|e| e.to_string())?;
            problems.push(format!("session lock not taken in time: event spooled to {}", spooled.display()));
            // Merged now if the lock frees up within the budget, else by the session's next run.
            let file = events::open_locked(&files.events, budget.deadline())
                .map_err(|e| format!("lock: {e}; the event stays spooled"))?;
            let (file, tail) = locked_tail(file, &files, problems)?;
            (file, tail, None)
        }
    };
    merge(&file, &files, &mut tail, own, (config, budget.deadline()), problems)?;
    let found = match (obs.agent.known().and_then(|a| a.transcript.as_ref()), turn_end_payload.flatten()) {
        (Some(reader), Some(raw)) => {
            let found = transcript::read(reader, &raw, &files.transcripts, budget.transcript_deadline());
            let closes =
                obs.phase == Phase::TurnEnd && obs.agent.known().is_some_and(|a| a.open_calls_fail_at_turn_end);
            append_from_transcripts(&file, &files, &session_id, &found, &tail, config, closes, problems)?;
            Some(found)
        }
        _ => None,
    };

    let change = lifecycle::Change {
        session_id: &session_id,
        ts_ms,
        observation: obs,
        context: &context,
        events_path: &files.events.to_string_lossy(),
        from_transcript: found.as_ref().map(|f| (f.model.clone(), f.version.clone())),
    };
    update_record(&files, &change, problems)?;
    drop(file); // releases the lock
    if first || obs.phase == Phase::SessionStart {
        problems.extend(crate::inferred_end::sweep(&config.home, &session_id, budget.deadline()));
    }
    Ok(())
}

/// Turn ends are when the agent's transcript is read for tokens and cost
/// (never a tool call: that path stays fast).
fn reads_transcripts(obs: &Observation) -> bool {
    matches!(obs.phase, Phase::TurnEnd | Phase::TurnFailure | Phase::SubagentStop | Phase::SessionEnd)
        || obs.event_type == "pre_compact"
}

/// Where the file stands after the hook's own event.
struct Appended {
    len: u64,
    next_seq: u64,
    totals: events::Totals,
}

/// What the transcripts added, in one write after the hook's event: a `Cost`
/// event per model response, and an `Error` for each call the transcript
/// says failed that the hooks left open. The cursors are saved once written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_from_transcripts(
    file: &std::fs::File,
    files: &SessionFiles,
    session_id: &str,
    found: &transcript::Found,
    tail: &events::Tail,
    config: &Config,
    closes_open_calls: bool,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let after = Appended { len: tail.len, next_seq: tail.next_seq, totals: tail.totals() };
    problems.extend(found.problems.iter().cloned());
    let now = crate::time::now_ms();
    let mut totals = after.totals;
    let mut made: Vec<Event> = Vec::new();
    for failure in &found.failures {
        if let Some(tool) = tail.open_call(file, &failure.call_id) {
            made.push(transcript::failure_event(session_id, failure, tool, now));
            totals.errors += 1;
        }
    }
    if closes_open_calls {
        for (call_id, tool) in tail.open_calls(file) {
            if found.failures.iter().all(|f| f.call_id != call_id) {
                let why =
                    "no result before the turn ended: this agent reports only the calls that succeeded".to_string();
                made.push(transcript::failure_event(session_id, &transcript::Failure { call_id, why }, tool, now));
                totals.errors += 1;
            }
        }
    }
    if !found.counted.is_empty() {
        let prices = crate::cost::Prices::load(&config.home);
        problems.extend(prices.note().map(String::from));
        made.extend(found.counted.iter().map(|counted| transcript::cost_event(session_id, counted, &prices, now)));
    }
    let mut batch = Vec::new();
    for (i, mut event) in made.into_iter().enumerate() {
        event.seq = after.next_seq + i as u64;
        if event.kind == EventKind::Cost {
            totals.tokens_in += u64::from(event.context_used_tokens.unwrap_or(0));
            totals.tokens_out += u64::from(event.tokens_out.unwrap_or(0));
            totals.cost_usd_e6 += event.cost_usd_e6.unwrap_or(0);
        }
        if let Value::Object(payload) = &mut event.payload {
            totals.stamp(payload);
            payload.insert("recorded_ms".into(), json!(now));
        }
        batch.extend(serialize_within_cap(&mut event, config.event_cap)?);
    }
    if !batch.is_empty() {
        events::append(file, after.len, &batch).map_err(|e| format!("append to {}: {e}", files.events.display()))?;
    }
    transcript::save(found, &files.transcripts).map_err(|e| format!("transcript cursors: {e}"))
}

/// The session this event belongs to, its files (directories made private
/// on the way), and the directory the event happened in.
fn session_of(
    config: &Config,
    obs: &Observation,
    problems: &mut Vec<String>,
) -> Result<(std::path::PathBuf, String, SessionFiles), String> {
    let home = &config.home;
    ensure_home(home).map_err(|e| format!("cannot use KAIZEN_HOME {}: {e}", home.display()))?;
    let sessions = store::sessions_dir(home);
    fsutil::ensure_private_dir(&sessions).map_err(|e| format!("sessions dir: {e}"))?;
    let cwd = enrich::resolve_cwd(obs.cwd.as_deref());
    let session_id = obs.session_id.clone().unwrap_or_else(|| store::fallback_session_id(obs.agent.name(), &cwd));
    let files = SessionFiles::new(home, &session_id);
    if files.key != session_id {
        problems.push(format!("session id is not a plain file name: stored as {}", files.key));
    }
    Ok((cwd, session_id, files))
}

fn new_event(session_id: &str, obs: &Observation, ts_ms: u64) -> Event {
    let mut event = events::blank_event(session_id, obs.phase.kind(), EventSource::Hook, ts_ms, Value::Null);
    event.ts_exact = obs.agent_ts_ms.is_some();
    event.tool.clone_from(&obs.tool);
    event.tool_call_id.clone_from(&obs.tool_call_id);
    event.stop_reason.clone_from(&obs.stop_reason);
    event
}

/// The locked file's tail, a torn last line cut away (and logged).
fn locked_tail(
    file: std::fs::File,
    files: &SessionFiles,
    problems: &mut Vec<String>,
) -> Result<(std::fs::File, events::Tail), String> {
    let tail = events::read_tail(&file).map_err(|e| format!("read {}: {e}", files.events.display()))?;
    if tail.torn_bytes > 0 {
        problems.push(format!("cut a torn last line of {} bytes from {}", tail.torn_bytes, files.events.display()));
    }
    Ok((file, tail))
}

/// Appends the session's spooled events and this run's own (unless it was
/// spooled itself), in arrival order, each completed against the tail as it
/// then stands (seq, totals, latency, duplicate check). Under the lock.
fn merge(
    file: &std::fs::File,
    files: &SessionFiles,
    tail: &mut events::Tail,
    own: Option<(Spooled, Option<u64>)>,
    (config, deadline): (&Config, std::time::Instant),
    problems: &mut Vec<String>,
) -> Result<(), String> {
    // (file name, path) for spooled ones; this run's own has none.
    let mut all: Vec<(Option<(String, std::path::PathBuf)>, Spooled)> =
        spool::pending(&files.spool, problems).into_iter().map(|p| (Some((p.name, p.path)), p.spooled)).collect();
    let own_checked_at = own.as_ref().and_then(|(_, at)| *at);
    all.extend(own.map(|(own, _)| (None, own)));
    all.sort_by_cached_key(|(from, s)| s.order(from.as_ref().map_or("", |(name, _)| name.as_str())));
    let mut merged = Vec::new();
    for (from, spooled) in all {
        // A backlog too long for one run: the rest waits for the next, and
        // this run's own event joins it there, so the order holds.
        if std::time::Instant::now() >= deadline {
            if from.is_none() {
                let path = spool::write(&files.spool, &spooled).map_err(|e| e.to_string())?;
                problems.push(format!("spool backlog left for the next run; event spooled to {}", path.display()));
            }
            continue;
        }
        let name = from.as_ref().map(|(name, _)| name.as_str());
        // Merged before by a run that died before removing the file.
        let again = name.is_some_and(|name| tail.holds_spooled(file, name));
        let checked = from.is_none() && own_checked_at == Some(tail.len);
        if !again && let Some(line) = complete(spooled, name, checked, (file, tail), config, problems)? {
            events::append(file, tail.len, &line).map_err(|e| format!("append to {}: {e}", files.events.display()))?;
            tail.advance(&line);
        }
        merged.extend(from.map(|(_, path)| path));
    }
    if !merged.is_empty() {
        problems.push(format!("merged {} spooled event(s) into {}", merged.len(), files.events.display()));
    }
    spool::remove_merged(&files.spool, &merged);
    Ok(())
}

/// An event as a line, completed against the tail; `None` when it repeats a delivery already recorded.
fn complete(
    spooled: Spooled,
    from: Option<&str>,
    checked_for_repeat: bool,
    (file, tail): (&std::fs::File, &events::Tail),
    config: &Config,
    problems: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, String> {
    let Spooled { phase, delivery, mut event, .. } = spooled;
    if !checked_for_repeat && config.dedup_window_ms > 0 && tail.is_repeat(file, &delivery, config.dedup_window_ms) {
        problems.push(format!("duplicate delivery {} ignored (session {})", delivery.hash, event.session_id));
        return Ok(None);
    }
    let is = |p: Phase| phase == p.name();
    event.seq = tail.next_seq;
    let mut payload = match std::mem::take(&mut event.payload) {
        Value::Object(payload) => payload,
        _ => Map::new(),
    };
    // When a tool result's call was recorded: read once, for the latency and the totals.
    let result = is(Phase::ToolResult) || is(Phase::ToolFailure);
    let call_ts = if result { event.tool_call_id.as_deref().and_then(|id| tail.tool_call_ts(file, id)) } else { None };
    if result && event.latency_ms.is_none() {
        add_hook_latency(&mut event, &mut payload, call_ts);
    }
    let mut totals = tail.totals();
    if is(Phase::ToolCall) || (result && call_ts.is_none()) {
        // A result whose call was not recorded (only post hooks registered) is a call too.
        totals.tool_calls += 1;
    }
    if event.kind == EventKind::Error {
        totals.errors += 1;
    }
    totals.stamp(&mut payload);
    if is(Phase::TurnEnd) && tail.turn_already_ended(file) {
        payload.insert("phase".into(), json!(Phase::Other.name()));
        payload.insert("phase_note".into(), json!("this turn's end was already recorded"));
    }
    delivery.stamp(&mut payload);
    if let Some(name) = from {
        payload.insert("spooled".into(), json!(name));
    }
    event.payload = Value::Object(payload);
    serialize_within_cap(&mut event, config.event_cap).map(Some)
}

/// A tool result's latency when the agent gives its own duration.
fn add_agent_latency(event: &mut Event, payload: &mut Map<String, Value>, obs: &Observation) {
    if let (Phase::ToolResult | Phase::ToolFailure, Some(ms)) = (obs.phase, obs.agent_duration_ms) {
        event.latency_ms = Some(ms);
        payload.insert("latency_source".into(), json!("agent"));
    }
}

/// Otherwise the time since its call was recorded.
fn add_hook_latency(event: &mut Event, payload: &mut Map<String, Value>, call_ts: Option<u64>) {
    if let Some(ms) = call_ts.and_then(|ts| u32::try_from(event.ts_ms.checked_sub(ts)?).ok()) {
        event.latency_ms = Some(ms);
        payload.insert("latency_source".into(), json!("hook"));
    }
}

/// Applies the event to the session's record, rewriting it only if it changed.
fn update_record(files: &SessionFiles, change: &lifecycle::Change, problems: &mut Vec<String>) -> Result<(), String> {
    let stored = record::load(&files.record).unwrap_or_else(|e| {
        problems.push(format!("unreadable record {}, rebuilt: {e}", files.record.display()));
        None
    });
    let before = stored.as_ref().and_then(|r| serde_json::to_vec(r).ok());
    let updated = lifecycle::apply(stored, change);
    if before != serde_json::to_vec(&updated).ok() {
        record::save(&files.record, &updated).map_err(|e| format!("record: {e}"))?;
    }
    Ok(())
}

/// Agents run each other's hook files (Cursor runs `~/.claude/settings.json`).
/// A payload that reached the entry we registered for another agent is left
/// to its sender's own entry, when the sender's config has one for this event.
fn delivered_to_its_own_entry_too(obs: &Observation) -> bool {
    let (Some(sender), Some(_)) = (obs.agent.known(), &obs.registered_agent) else { return false };
    let Some(installer) = &sender.installer else { return false };
    match (crate::config::home_dir(), obs.sent_event_name.as_deref()) {
        (Some(home), Some(event)) => installer.records_event(&home, event),
        _ => false,
    }
}

/// `KAIZEN_HOME` may itself be a symlink the user chose; what is inside it may not.
fn ensure_home(home: &Path) -> std::io::Result<()> {
    match std::fs::metadata(home) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::other("not a directory")),
        Err(_) => fsutil::ensure_private_dir(home),
    }
}

fn base_payload(
    run: &HookRun,
    input: &mut HookInput,
    obs: &Observation,
    context: &enrich::Context,
    config: &Config,
) -> Map<String, Value> {
    let mut payload = Map::new();
    payload.insert("type".into(), json!(obs.event_type));
    // Second, right after `type`: the duplicate check reads it from the raw line.
    payload.insert("phase".into(), json!(obs.phase.name()));
    let sent = obs.sent_event_name.as_deref().or(run.event.as_deref());
    payload.insert("hook_event_name".into(), json!(sent));
    payload.insert("agent".into(), json!(obs.agent.name()));
    if let Some(registered) = &obs.registered_agent {
        payload.insert("registered_agent".into(), json!(registered.name()));
    }
    payload.insert("subcommand".into(), json!(run.category.subcommand()));
    match input.value.take() {
        Some(mut value) => {
            redact::redact_value(&mut value);
            payload.insert("input".into(), value);
        }
        None => {
            payload.insert("input".into(), Value::Null);
            payload.insert("input_error".into(), json!(input.error));
            let raw = String::from_utf8_lossy(&input.raw_prefix);
            payload.insert("input_raw".into(), json!(redact::redact(&raw)));
            payload.insert("input_bytes".into(), json!(input.raw_len));
        }
    }
    if input.truncated_fields > 0 {
        payload.insert("input_truncated_fields".into(), json!(input.truncated_fields));
        payload.insert("field_cap".into(), json!(config.field_cap));
    }
    if input.lossy {
        payload.insert("input_lossy_utf8".into(), json!(true));
    }
    if input.stdin_timed_out {
        payload.insert("stdin_timed_out".into(), json!(true));
    }
    if obs.tool_call_id_derived {
        payload.insert("tool_call_id_derived".into(), json!(true));
    }
    if let Some(note) = &obs.phase_note {
        payload.insert("phase_note".into(), json!(note));
    }
    if let Some(subagent) = &obs.subagent {
        payload.insert("subagent".into(), json!({"id": subagent.id, "type": subagent.kind}));
    }
    payload.insert("context".into(), context.to_json());
    payload
}

/// The event as one JSON line, shrinking its recorded input to fit the event cap.
fn serialize_within_cap(event: &mut Event, cap: usize) -> Result<Vec<u8>, String> {
    let mut line = serde_json::to_vec(event).map_err(|e| format!("serialize: {e}"))?;
    if line.len() >= cap {
        let overhead = line.len() - event.payload.get("input").map_or(0, |i| i.to_string().len());
        if let Some(input) = event.payload.get_mut("input") {
            fit::shrink(input, |i| overhead + i.to_string().len() >= cap);
        }
        line = serde_json::to_vec(event).map_err(|e| format!("serialize: {e}"))?;
    }
    line.push(b'\n');
    Ok(line)
}
