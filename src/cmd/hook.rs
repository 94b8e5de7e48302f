//! The hook subcommands: read the payload, recognise it, enrich it, append it
//! to its session under the lock, keep the record current, reply neutrally.
//! Whatever happens, the agent sees exit 0 and at most a neutral JSON reply;
//! problems go to the log.

use crate::agents::AgentId;
use crate::budget::Budget;
use crate::config::Config;
use crate::enrich::{self, Wanted};
use crate::event::{Event, EventSource};
use crate::input::{self, HookInput};
use crate::recognize::{self, Category, Flags, Observation, Phase};
use crate::store::events::Delivery;
use crate::store::line::{self, Sealed};
use crate::store::spool::{self, Spooled};
use crate::store::writer::{Limits, SessionWriter};
use crate::store::{self, SessionFiles, fsutil, record};
use crate::time::Arrival;
use crate::{lifecycle, log, process, transcript};
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
    let limits = Limits { event_cap: config.event_cap, dedup_window_ms: config.dedup_window_ms };
    // Past this point the event is spooled rather than waited for: a frozen
    // holder must not cost it (see `store::spool`).
    let locked = SessionWriter::lock(&files, budget.lock_deadline(), limits, problems)?;
    if let Some(writer) = &locked
        && writer.is_repeat(&delivery)
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
    let event = hook_event(&session_id, obs, ts_ms, base_payload(run, &mut input, obs, &context, config));
    let own = Spooled {
        arrival_boot_ms: arrival.boot_ms,
        arrival_wall_ms: arrival.wall_ms,
        phase: obs.phase.name().to_string(),
        delivery,
        event: Sealed::new(event),
    };
    // The own event was checked for a repeat against this tail above; unless a
    // spooled event lands before it, that answer stands (one search, not two).
    let checked_at = locked.as_ref().map(SessionWriter::file_len);
    let (mut writer, own) = match locked {
        Some(writer) => (writer, Some((own, checked_at))),
        None => {
            let spooled = spool::write(&files.spool, &own).map_err(|e| e.to_string())?;
            problems.push(format!("session lock not taken in time: event spooled to {}", spooled.display()));
            // Merged now if the lock frees up within the budget, else by the session's next run.
            let writer = SessionWriter::lock_or_fail(&files, budget.deadline(), limits, problems)
                .map_err(|e| format!("{e}; the event stays spooled"))?;
            (writer, None)
        }
    };
    writer.merge(own, budget.deadline(), problems)?;
    let found = match (obs.agent.known().and_then(|a| a.transcript.as_ref()), turn_end_payload.flatten()) {
        (Some(reader), Some(raw)) => {
            let found = transcript::read(reader, &raw, &files.transcripts, budget.transcript_deadline());
            let closes =
                obs.phase == Phase::TurnEnd && obs.agent.known().is_some_and(|a| a.open_calls_fail_at_turn_end);
            transcript::record(&mut writer, &session_id, &found, &config.home, closes, problems)?;
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
    drop(writer); // releases the lock
    if first || obs.phase == Phase::SessionStart {
        problems.extend(crate::inferred_end::sweep(config, &session_id, budget.deadline()));
    }
    Ok(())
}

/// Turn ends are when the agent's transcript is read for tokens and cost
/// (never a tool call: that path stays fast).
fn reads_transcripts(obs: &Observation) -> bool {
    matches!(obs.phase, Phase::TurnEnd | Phase::TurnFailure | Phase::SubagentStop | Phase::SessionEnd)
        || obs.event_type == "pre_compact"
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

/// The hook's own event, before the store completes it against the file.
fn hook_event(session_id: &str, obs: &Observation, ts_ms: u64, payload: Map<String, Value>) -> Event {
    let mut event = line::new_event(session_id, obs.phase.kind(), EventSource::Hook, ts_ms, &obs.event_type, obs.phase);
    event.ts_exact = obs.agent_ts_ms.is_some();
    event.tool.clone_from(&obs.tool);
    event.tool_call_id.clone_from(&obs.tool_call_id);
    event.stop_reason.clone_from(&obs.stop_reason);
    let mut payload = payload;
    // A tool result's latency when the agent gives its own duration; else
    // the store measures it from the recorded call.
    if let (Phase::ToolResult | Phase::ToolFailure, Some(ms)) = (obs.phase, obs.agent_duration_ms) {
        event.latency_ms = Some(ms);
        payload.insert("latency_source".into(), json!("agent"));
    }
    event.payload = Value::Object(payload);
    event
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
    payload
}
