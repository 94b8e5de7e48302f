//! How one event changes a session's `SessionRecord`. Pure: the caller reads
//! and writes the record under the session lock.
//!
//! - The first event of a session creates the record, whatever the event.
//! - SessionStart and prompts make it Running; a second SessionStart (resume,
//!   clear, compact) keeps what is known: start time, start commit, counts.
//! - A turn end (Claude Code's `Stop`) makes it Idle, not Done, and refreshes
//!   `end_commit`/`dirty_end`, because SessionEnd often never comes.
//! - SessionEnd makes it Done and sets `ended_at_ms`.

use crate::agents::AgentId;
use crate::enrich::Context;
use crate::event::{SessionRecord, SessionStatus};
use crate::phase::Phase;
use crate::recognize::Observation;

pub struct Change<'a> {
    pub session_id: &'a str,
    pub ts_ms: u64,
    pub observation: &'a Observation,
    pub context: &'a Context,
    /// Where the events are stored: the trace when the agent names no transcript.
    pub events_path: &'a str,
    /// The model and agent version the transcript named, when it was read.
    pub from_transcript: Option<(Option<String>, Option<String>)>,
}

pub fn apply(existing: Option<SessionRecord>, change: &Change) -> SessionRecord {
    let mut record = existing.unwrap_or_else(|| new_record(change));
    learn(&mut record, change);
    change_status(&mut record, change);
    record
}

/// What this event tells about the session that the record does not know yet.
fn learn(record: &mut SessionRecord, change: &Change) {
    let obs = change.observation;
    let ctx = change.context;
    if record.agent == AgentId::UNKNOWN && obs.agent != AgentId::Unknown {
        record.agent = obs.agent.name().to_string();
    }
    update_if_some(&mut record.model, &obs.model);
    update_if_some(&mut record.agent_version, &obs.agent_version);
    if let Some((model, version)) = &change.from_transcript {
        // The transcript names the model last used; the payload may not.
        update_if_some(&mut record.model, model);
        fill(&mut record.agent_version, version.clone());
    }
    if let Some(transcript) = &obs.transcript_path
        && record.trace_path == change.events_path
    {
        record.trace_path = transcript.clone();
    }
    fill(&mut record.parent_session_id, obs.parent_session_id.clone());
    fill(&mut record.start_commit, ctx.commit().map(String::from));
    fill(&mut record.branch, ctx.branch().map(String::from));
    fill(&mut record.prompt_fingerprint, ctx.guidance.as_ref().map(|g| g.fingerprint.clone()));
    if ctx.snapshot.is_some() && record.status != SessionStatus::Done && record.dirty_start.is_none() {
        record.dirty_start = ctx.dirty();
    }
    if record.repo_file_count.is_none()
        && let Some(counts) = ctx.counts()
    {
        record.repo_file_count = Some(counts.files);
        record.repo_total_loc = Some(counts.loc);
    }
    fill(&mut record.os, Some(std::env::consts::OS.to_string()));
    fill(&mut record.arch, Some(std::env::consts::ARCH.to_string()));
}

fn change_status(record: &mut SessionRecord, change: &Change) {
    move_status(record, change.observation.phase, change.ts_ms, Some(change.context));
}

/// An event merged from the spool that arrived after the run's own: its
/// phase moves the status as its own run would have. Its work-tree figures
/// are in its line; the record's end commit stays the run's.
pub fn apply_later(record: &mut SessionRecord, phase: Phase, ts_ms: u64) {
    move_status(record, phase, ts_ms, None);
}

fn move_status(record: &mut SessionRecord, phase: Phase, ts_ms: u64, ctx: Option<&Context>) {
    let done = record.status == SessionStatus::Done;
    match phase {
        Phase::SessionStart | Phase::Prompt => {
            record.status = SessionStatus::Running;
            record.ended_at_ms = None;
        }
        Phase::ToolCall
        | Phase::ToolResult
        | Phase::ToolFailure
        | Phase::AgentOutput
        | Phase::SubagentStart
        | Phase::SubagentStop
            if !done =>
        {
            record.status = SessionStatus::Running;
        }
        Phase::Waiting if !done => record.status = SessionStatus::Waiting,
        Phase::TurnEnd | Phase::TurnFailure => {
            if !done {
                record.status = SessionStatus::Idle;
            }
            refresh_end(record, ctx);
        }
        Phase::SessionEnd => {
            record.status = SessionStatus::Done;
            record.ended_at_ms = Some(ts_ms.max(record.started_at_ms));
            refresh_end(record, ctx);
        }
        _ => {}
    }
}

fn new_record(change: &Change) -> SessionRecord {
    let obs = change.observation;
    let ctx = change.context;
    SessionRecord {
        id: change.session_id.to_string(),
        agent: obs.agent.name().to_string(),
        model: None,
        workspace: ctx.workspace.to_string_lossy().into_owned(),
        started_at_ms: change.ts_ms,
        ended_at_ms: None,
        status: SessionStatus::Running,
        trace_path: change.events_path.to_string(),
        start_commit: None,
        end_commit: None,
        branch: None,
        dirty_start: None,
        dirty_end: None,
        repo_binding_source: Some(ctx.binding.clone()),
        prompt_fingerprint: None,
        parent_session_id: None,
        agent_version: None,
        os: None,
        arch: None,
        repo_file_count: None,
        repo_total_loc: None,
    }
}

fn refresh_end(record: &mut SessionRecord, ctx: Option<&Context>) {
    let Some(ctx) = ctx else { return };
    record.end_commit = ctx.commit().map(String::from).or(record.end_commit.take());
    if ctx.snapshot.is_some() {
        record.dirty_end = ctx.dirty();
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn update_if_some<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}
