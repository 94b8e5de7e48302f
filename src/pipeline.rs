//! The path of one hook event, down the layers: its input read (`input`),
//! recognised (`recognize`), described (`enrich`), sealed and written under
//! the session's lock (`store`), the session's record brought up to date
//! (`lifecycle`), other sessions settled (`inferred_end`). `cmd::hook` runs
//! it and replies; whatever happens here ends in the problems it returns.

use crate::budget::Budget;
use crate::config::Config;
use crate::enrich::{self, Context, Wanted};
use crate::event::{Event, EventSource};
use crate::input::{self, HookInput};
use crate::payload::Payload;
use crate::phase::{Category, Phase};
use crate::recognize::{self, Flags, Observation};
use crate::store::events::Delivery;
use crate::store::line::{self, Sealed};
use crate::store::spool::{self, Spooled};
use crate::store::writer::{Limits, Merged, SessionWriter};
use crate::store::{self, SessionFiles, fsutil, record};
use crate::time::Arrival;
use crate::{lifecycle, process, transcript};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// One hook run, as the agent invoked it.
pub struct Hook<'a> {
    pub category: Category,
    pub agent: Option<&'a str>,
    pub event: Option<&'a str>,
    /// The payload as the last argument (Codex `notify`).
    pub payload: Option<&'a str>,
}

/// Reads, recognises and records one hook event. Returns what was
/// recognised (the reply depends on it) and the problems met on the way.
pub fn run(config: &Config, hook: &Hook, arrival: Arrival) -> (Observation, Vec<String>) {
    let budget = Budget::new(arrival.at, config.budget);
    let input = input::read(hook.payload, budget.stdin_deadline(), config.field_cap, config.event_cap * 2);
    let mut problems = input_problems(&input);
    let flags = Flags { category: hook.category, agent: hook.agent, event: hook.event };
    let observation = observe(&input, flags);
    problems.extend(observation.problems.iter().cloned());
    if let Err(e) = record(config, hook, input, &observation, (arrival, budget), &mut problems) {
        problems.push(e);
    }
    (observation, problems)
}

fn input_problems(input: &HookInput) -> Vec<String> {
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
    problems
}

/// What the payload says, and the agent's version and model when it says
/// neither: asked at session and turn boundaries only, as that may read the
/// agent's own files.
fn observe(input: &HookInput, flags: Flags) -> Observation {
    let payload = input.value.as_ref().and_then(Value::as_object);
    let mut observation = recognize::recognize(payload, flags);
    if let Some(payload) = payload {
        settle_outcome(&mut observation, payload);
    }
    if observation.phase.takes_snapshot() {
        let asked = observation.agent.known().zip(payload);
        if observation.agent_version.is_none() {
            observation.agent_version = asked.and_then(|(agent, payload)| (agent.version)(payload));
        }
        if observation.model.is_none() {
            observation.model = asked.and_then(|(agent, payload)| (agent.model)(payload));
        }
    }
    observation
}

/// A tool result's end as the agent recorded it outside the payload (Codex's
/// rollout), read here rather than in `recognize`, which is pure: a result it
/// says failed is a failure, and its duration stands when the payload gave none.
fn settle_outcome(obs: &mut Observation, payload: &Payload) {
    let asks = match obs.phase {
        Phase::ToolResult => true,
        Phase::ToolFailure => obs.agent_duration_ms.is_none(),
        _ => false,
    };
    let Some(agent) = obs.agent.known().filter(|_| asks) else { return };
    let Some(outcome) = (agent.outcome)(payload) else { return };
    if let (Phase::ToolResult, Some(why)) = (obs.phase, outcome.failure) {
        obs.phase = Phase::ToolFailure;
        obs.phase_note = Some(why);
    }
    obs.agent_duration_ms = obs.agent_duration_ms.or(outcome.duration_ms);
}

/// Where one event goes: its session and files, the directory it happened
/// in, and whether it is the session's first (known once the lock is held).
struct Target {
    cwd: PathBuf,
    session_id: String,
    files: SessionFiles,
    first: bool,
}

/// Takes the session's lock as soon as the payload says which session it is,
/// so events are appended in the order they arrived; then the duplicate
/// check, enrichment, and the one write.
fn record(
    config: &Config,
    hook: &Hook,
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
    let mut target = target_of(config, obs, problems)?;
    let delivery = delivery_of(&input, arrival);
    let limits = Limits { event_cap: config.event_cap, dedup_window_ms: config.dedup_window_ms };
    // Past the lock deadline the event is spooled rather than waited for: a
    // frozen holder must not cost it (see `store::spool`).
    let mut locked = SessionWriter::lock(&target.files, budget.lock_deadline(), limits, problems)?;
    // Nothing recorded yet: the length the lock read says so, without a stat
    // of its own (and a session's concurrent first events agree which is first).
    target.first = match &locked {
        Some(writer) => writer.file_len() == 0,
        None => std::fs::symlink_metadata(&target.files.events).is_err(),
    };
    let result_call_id =
        matches!(obs.phase, Phase::ToolResult | Phase::ToolFailure).then_some(obs.tool_call_id.as_deref()).flatten();
    if locked.as_mut().is_some_and(|writer| writer.is_repeat(&delivery, result_call_id)) {
        problems.push(format!("duplicate delivery {} ignored (session {})", delivery.hash, target.files.key));
        return Ok(());
    }
    let context = describe(config, obs, &target, budget, problems);
    let ts_ms = obs.agent_ts_ms.unwrap_or(arrival.wall_ms);
    // The transcripts a turn end points at are named in the raw payload, which
    // the recorded one replaces (redacted, capped).
    let turn_end_payload = reads_transcripts(obs).then(|| input.value.as_ref().and_then(Value::as_object).cloned());
    let event = hook_event(&target.session_id, obs, ts_ms, |payload| {
        base_payload(payload, hook, &mut input, obs, &context, config);
    });
    let own = Spooled {
        arrival_boot_ms: arrival.boot_ms,
        arrival_wall_ms: arrival.wall_ms,
        delivery,
        event: Sealed::new(event),
        subagents_send_turn_end: obs.agent.known().is_some_and(|agent| agent.subagents_send_turn_end),
    };
    let (mut writer, merged) = write(&target.files, locked, own, (limits, budget), problems)?;
    // Spooled events that arrived after this run's own move the record on from it.
    let later: Vec<Merged> = merged.into_iter().filter(|m| m.arrival > (arrival.boot_ms, arrival.wall_ms)).collect();
    let found = match turn_end_payload.flatten() {
        Some(raw) => from_transcripts(&mut writer, (config, budget), obs, &target, &raw, problems)?,
        None if catches_up(obs) => caught_up(&mut writer, (config, budget), obs, &target, problems)?,
        None => None,
    };
    let change = lifecycle::Change {
        session_id: &target.session_id,
        ts_ms,
        observation: obs,
        context: &context,
        events_path: &target.files.events.to_string_lossy(),
        from_transcript: found.as_ref().map(|f| (f.model.clone(), f.version.clone())),
    };
    update_record(&target.files, &change, &later, problems)?;
    drop(writer); // releases the lock
    note_guidance(config, &context, arrival.wall_ms, problems);
    if target.first || obs.phase == Phase::SessionStart {
        problems.extend(crate::inferred_end::sweep(config, &target.session_id, budget.deadline()));
    }
    Ok(())
}

/// This delivery's identity: how a repeat of it is recognised.
fn delivery_of(input: &HookInput, arrival: Arrival) -> Delivery {
    Delivery { hash: input.hash.clone(), by: process::delivering().map(|p| p.to_string()), boot_ms: arrival.boot_ms }
}

/// At a turn end: what the agent's transcripts add (tokens, cost, model,
/// failures the hooks did not report), written after the run's own event.
fn from_transcripts(
    writer: &mut SessionWriter,
    (config, budget): (&Config, Budget),
    obs: &Observation,
    target: &Target,
    turn_end_payload: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> Result<Option<transcript::Found>, String> {
    let Some(agent) = obs.agent.known() else { return Ok(None) };
    let Some(reader) = agent.transcript.as_ref() else { return Ok(None) };
    let found = transcript::read(reader, turn_end_payload, &target.files.transcripts, budget.transcript_deadline());
    let closes = obs.phase == Phase::TurnEnd && agent.open_calls_fail_at_turn_end;
    transcript::record(writer, &target.session_id, &found, &config.home, closes, problems)?;
    Ok(Some(found))
}

/// At a session's or prompt's start: what its transcripts added since they
/// were last read to their end (Qwen writes a turn's last response after its
/// Stop, Copilot a run's last usage lines after its sessionEnd). Costs a
/// small read and a stat when nothing grew.
fn caught_up(
    writer: &mut SessionWriter,
    (config, budget): (&Config, Budget),
    obs: &Observation,
    target: &Target,
    problems: &mut Vec<String>,
) -> Result<Option<transcript::Found>, String> {
    let Some(reader) = obs.agent.known().and_then(|agent| agent.transcript.as_ref()) else { return Ok(None) };
    let grown = transcript::grown(&target.files.transcripts);
    if grown.is_empty() {
        return Ok(None);
    }
    let (id, state) = (&target.session_id, &target.files.transcripts);
    let found = transcript::read_again(reader, grown, id, state, budget.transcript_deadline());
    transcript::record(writer, id, &found, &config.home, false, problems)?;
    Ok(Some(found))
}

/// Where the event happened: commit, branch, and at boundaries the work
/// tree in full (dirty, files, LOC) and the guidance fingerprint.
fn describe(
    config: &Config,
    obs: &Observation,
    target: &Target,
    budget: Budget,
    problems: &mut Vec<String>,
) -> Context {
    let wanted = Wanted {
        snapshot: target.first || obs.phase.takes_snapshot(),
        fingerprint: target.first || obs.phase == Phase::SessionStart,
        cache_dir: Some(config.home.join("cache")),
    };
    let context = enrich::gather(&target.cwd, obs.cwd_source, wanted, budget.enrich_deadline());
    if let Some(snapshot) = &context.snapshot {
        problems.extend(snapshot.problems.iter().cloned());
    }
    context
}

/// The guidance version this session started with, into the registry
/// (`store::guidance`), outside the session's lock: a stat when it was noted
/// within the hour, else one small write.
fn note_guidance(config: &Config, context: &Context, now_ms: u64, problems: &mut Vec<String>) {
    let Some(guidance) = &context.guidance else { return };
    let workspace = context.workspace.to_string_lossy();
    if let Err(e) = store::guidance::note(&config.home, &guidance.fingerprint, &guidance.files, &workspace, now_ms) {
        problems.push(format!("guidance registry: {e}"));
    }
}

/// The run's own event into the file: merged with what the spool holds when
/// the lock was had; else spooled, then merged if the lock frees up within
/// the budget (else by the session's next run). The writer, still locked.
fn write<'f>(
    files: &'f SessionFiles,
    locked: Option<SessionWriter<'f>>,
    own: Spooled,
    (limits, budget): (Limits, Budget),
    problems: &mut Vec<String>,
) -> Result<(SessionWriter<'f>, Vec<Merged>), String> {
    let (mut writer, own) = match locked {
        // Checked for a repeat against this tail: unless a spooled event lands
        // before it, that answer stands (one search, not two).
        Some(writer) => {
            let checked_at = Some(writer.file_len());
            (writer, Some((own, checked_at)))
        }
        None => {
            let spooled = spool::write(&files.spool, &own).map_err(|e| e.to_string())?;
            problems.push(format!("session lock not taken in time: event spooled to {}", spooled.display()));
            let writer = SessionWriter::lock_or_fail(files, budget.deadline(), limits, problems)
                .map_err(|e| format!("{e}; the event stays spooled"))?;
            (writer, None)
        }
    };
    let merged = writer.merge(own, budget.deadline(), problems)?;
    Ok((writer, merged))
}

/// Turn ends are when the agent's transcript is read for tokens and cost
/// (never a tool call: that path stays fast).
fn reads_transcripts(obs: &Observation) -> bool {
    matches!(obs.phase, Phase::TurnEnd | Phase::TurnFailure | Phase::SubagentStop | Phase::SessionEnd)
        || obs.event_type == "pre_compact"
}

/// The hooks that catch up a session's own transcripts: those that start
/// something, when the agent is done writing the last turn; never a tool
/// call (mid-turn the transcript grows with every call, and the turn end
/// reads it).
fn catches_up(obs: &Observation) -> bool {
    matches!(obs.phase, Phase::SessionStart | Phase::Prompt)
}

/// The session this event belongs to, its files (directories made private
/// on the way), and the directory the event happened in.
fn target_of(config: &Config, obs: &Observation, problems: &mut Vec<String>) -> Result<Target, String> {
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
    Ok(Target { cwd, session_id, files, first: false })
}

/// The hook's own event, before the store completes it against the file.
/// `base` fills its payload after the `type` and `phase` that `new_event` put first.
fn hook_event(session_id: &str, obs: &Observation, ts_ms: u64, base: impl FnOnce(&mut Map<String, Value>)) -> Event {
    let mut event = line::new_event(session_id, obs.phase.kind(), EventSource::Hook, ts_ms, &obs.event_type, obs.phase);
    event.ts_exact = obs.agent_ts_ms.is_some();
    event.tool.clone_from(&obs.tool);
    event.tool_call_id.clone_from(&obs.tool_call_id);
    event.stop_reason.clone_from(&obs.stop_reason);
    // A tool result's latency when the agent gives its own duration; else
    // the store measures it from the recorded call.
    let agent_latency = match obs.phase {
        Phase::ToolResult | Phase::ToolFailure => obs.agent_duration_ms,
        _ => None,
    };
    event.latency_ms = agent_latency;
    let payload = event.payload.as_object_mut().expect("new_event makes an object");
    base(payload);
    if agent_latency.is_some() {
        payload.insert("latency_source".into(), json!("agent"));
    }
    event
}

/// Applies the event, then the spooled ones merged after it, to the
/// session's record, rewriting it only if it changed.
fn update_record(
    files: &SessionFiles,
    change: &lifecycle::Change,
    later: &[Merged],
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let stored = record::load(&files.record).unwrap_or_else(|e| {
        problems.push(format!("unreadable record {}, rebuilt: {e}", files.record.display()));
        None
    });
    let before = stored.as_ref().and_then(|r| serde_json::to_vec(r).ok());
    let mut updated = lifecycle::apply(stored, change);
    for merged in later {
        lifecycle::apply_later(&mut updated, merged.phase.unwrap_or(Phase::Other), merged.ts_ms);
    }
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

/// The rest of the recorded payload: what the hook was, its input (or why there is
/// none), and where it happened.
fn base_payload(
    payload: &mut Map<String, Value>,
    hook: &Hook,
    input: &mut HookInput,
    obs: &Observation,
    context: &enrich::Context,
    config: &Config,
) {
    let sent = obs.sent_event_name.as_deref().or(hook.event);
    payload.insert("hook_event_name".into(), json!(sent));
    payload.insert("agent".into(), json!(obs.agent.name()));
    if let Some(registered) = &obs.registered_agent {
        payload.insert("registered_agent".into(), json!(registered.name()));
    }
    payload.insert("subcommand".into(), json!(hook.category.subcommand()));
    match input.value.take() {
        Some(value) => {
            payload.insert("input".into(), value);
        }
        None => {
            payload.insert("input".into(), Value::Null);
            payload.insert("input_error".into(), json!(input.error));
            let raw = String::from_utf8_lossy(&input.raw_prefix);
            payload.insert("input_raw".into(), json!(raw));
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
}
