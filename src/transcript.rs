//! Tokens, model and cost from the agents' own transcripts (docs/tokens-and-cost.md), read
//! at turn ends only, never on the tool-call path.
//!
//! Each agent with a transcript declares a `Reader`: which lines are worth
//! parsing, how one line becomes a model `Response`, which transcripts a
//! turn-end payload points at, and what one read starts from and keeps across
//! lines (its `Scope`, a value: no reader keeps state of its own). This
//! module does the rest, the same for every agent: a cursor per transcript
//! file (offset of the last complete line read, and its inode to notice a
//! rewrite), only complete lines after it, a byte and time budget per run
//! (what does not fit is read next time), and a set of response keys already
//! counted with the figures counted for them, so a response is counted once:
//! a response seen again with the same figures is skipped, one whose figures
//! grew gets a correction with the difference. A transcript named `*.json`
//! is one JSON document its agent rewrites whole (Cline's messages file),
//! not lines appended: it is read whole whenever it changed, each item of its
//! message list taken as a line.

use crate::cost::{Prices, Tokens};
use crate::event::{Event, EventKind, EventSource};
use crate::payload::Payload;
use crate::phase::Phase;
use crate::store::fsutil::{self, End};
use crate::store::line::{Sealed, new_event};
use crate::store::writer::SessionWriter;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How an agent's transcript is read.
pub struct Reader {
    /// A line must contain one of these to be parsed at all (a cheap filter:
    /// most lines of a transcript are not model responses).
    pub needles: &'static [&'static [u8]],
    /// One line into a response, updating what the reader keeps between
    /// lines: across runs (`Context`) and within this read (`Scope`). A line
    /// that is not JSON (a log's text: Droid's) comes as a JSON string.
    pub parse: fn(&Value, &mut Context, &mut Scope) -> Option<Response>,
    /// One line into the failed outcome of a tool call, for calls whose
    /// failure no hook reports (a call denied by permissions gets only its
    /// PreToolUse). Lines must also pass `needles` to get here.
    pub failure: fn(&Value, &Scope) -> Option<Failure>,
    /// The transcripts a turn-end payload points at (the agent's own, its subagents').
    pub paths: fn(&Payload) -> Vec<PathBuf>,
    /// What one read starts from, taken from the turn-end payload.
    pub scope: fn(&Payload) -> Scope,
    /// Where a document's items are (a `*.json` transcript; lines ignore
    /// it): each a path of keys, `*` standing for every entry of a list or
    /// object, the items of one path taken before the next's. Empty: a
    /// top-level list, or its `messages` (Cline's), else the document itself.
    pub items: &'static [&'static [&'static str]],
}

/// What one read of a turn end's transcripts knows and keeps, across its
/// files and lines: made by the reader's `scope` before the first line, given
/// to `parse` and `failure`, dropped with the read (unlike `Context`, which is
/// kept between runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The session read: call ids derived by the hooks are made from it.
    pub session: Option<String>,
    /// The agent's home, when the transcript's path says where it is.
    pub home: Option<PathBuf>,
    /// The hook's call id of each tool call seen, by the transcript's own id.
    pub calls: BTreeMap<String, String>,
    /// Where a file not read before starts, when not at its beginning: a
    /// log that every session writes (Droid's) at this session's first line.
    pub starts: BTreeMap<PathBuf, u64>,
    /// Latencies (ms) by response key, for a transcript that keeps them apart
    /// from its responses' tokens (OpenHands's, read before the tokens).
    pub latencies: BTreeMap<String, u32>,
    /// Other sessions met in a log that every session writes, and whether
    /// each is a subagent of this one (Droid's, counted in its caller's).
    pub subagents: BTreeMap<String, bool>,
    /// The model each subagent's last request named, in this read (Droid's
    /// log: the read session's own is the context's model).
    pub subagent_models: BTreeMap<String, String>,
}

/// A reader that needs nothing beyond its lines.
pub fn no_scope(_: &Payload) -> Scope {
    Scope::default()
}

/// What a reader keeps between lines of one transcript, and between runs:
/// the model in force (Codex names it once per turn), the agent's version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub model: Option<String>,
    pub version: Option<String>,
}

/// One model response, as the transcript records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The agent's own key for it (Claude `message.id`, Codex `response_id`...).
    pub key: String,
    pub model: Option<String>,
    pub tokens: Tokens,
    /// The reasoning part of `tokens.output`.
    pub reasoning: u64,
    pub ts_ms: Option<u64>,
    pub stop_reason: Option<String>,
    pub ttft_ms: Option<u32>,
    pub latency_ms: Option<u32>,
    pub context_max: Option<u64>,
    /// The agent's own cost figure, when it gives one.
    pub agent_cost_usd: Option<f64>,
    pub turn: Option<String>,
}

impl Response {
    fn figures(&self) -> Figures {
        let t = &self.tokens;
        Figures {
            input: t.input,
            output: t.output,
            reasoning: self.reasoning,
            cache_read: t.cache_read,
            cache_write: t.cache_write,
            cache_write_1h: t.cache_write_1h,
        }
    }

    /// Keeps the larger of each figure: one response split over several lines
    /// (Claude writes one per content block) is counted with its final figures.
    fn absorb(&mut self, other: Response) {
        let t = &mut self.tokens;
        t.input = t.input.max(other.tokens.input);
        t.output = t.output.max(other.tokens.output);
        t.cache_read = t.cache_read.max(other.tokens.cache_read);
        t.cache_write = t.cache_write.max(other.tokens.cache_write);
        t.cache_write_1h = t.cache_write_1h.max(other.tokens.cache_write_1h);
        self.reasoning = self.reasoning.max(other.reasoning);
        self.model = other.model.or(self.model.take());
        self.stop_reason = other.stop_reason.or(self.stop_reason.take());
        self.ts_ms = self.ts_ms.or(other.ts_ms);
        self.ttft_ms = self.ttft_ms.or(other.ttft_ms);
        self.latency_ms = other.latency_ms.or(self.latency_ms);
        self.context_max = self.context_max.or(other.context_max);
        self.agent_cost_usd = other.agent_cost_usd.or(self.agent_cost_usd);
        self.turn = self.turn.take().or(other.turn);
    }
}

/// A tool call that failed, as the transcript says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub call_id: String,
    pub why: String,
}

/// No line of this transcript reports a failure the hooks missed.
pub fn no_failure(_: &Value, _: &Scope) -> Option<Failure> {
    None
}

/// The figures counted for a response key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cache_write_1h: u64,
}

impl Figures {
    /// What `self` adds to `counted`, or `None` when it adds nothing. A figure
    /// that shrank (a rewritten line) is not taken back: counted stays counted.
    fn growth_over(&self, counted: &Figures) -> Option<Figures> {
        let grown = Figures {
            input: self.input.saturating_sub(counted.input),
            output: self.output.saturating_sub(counted.output),
            reasoning: self.reasoning.saturating_sub(counted.reasoning),
            cache_read: self.cache_read.saturating_sub(counted.cache_read),
            cache_write: self.cache_write.saturating_sub(counted.cache_write),
            cache_write_1h: self.cache_write_1h.saturating_sub(counted.cache_write_1h),
        };
        (grown != Figures::default()).then_some(grown)
    }

    fn max(&self, other: &Figures) -> Figures {
        Figures {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            reasoning: self.reasoning.max(other.reasoning),
            cache_read: self.cache_read.max(other.cache_read),
            cache_write: self.cache_write.max(other.cache_write),
            cache_write_1h: self.cache_write_1h.max(other.cache_write_1h),
        }
    }

    pub fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
        }
    }
}

/// A response to record: new (its full figures) or grown (the difference).
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub response: Response,
    pub figures: Figures,
    pub correction: bool,
    pub transcript: String,
}

/// The cursors and counted keys of one session, kept beside its events.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    files: BTreeMap<String, Cursor>,
    counted: BTreeMap<String, Figures>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Cursor {
    inode: u64,
    offset: u64,
    context: Context,
    /// The file's size when it was last read to its end (a half-written
    /// last line aside); `None` while some of it is left for the next read.
    #[serde(default)]
    seen: Option<u64>,
    /// A document's mtime (ns) when it was last read whole: a rewrite may
    /// keep its size. `None` for line transcripts, which only grow.
    #[serde(default)]
    modified: Option<u64>,
}

/// What was seen of one transcript, kept apart from the cursors (in
/// `<key>.transcripts.seen`) so that telling whether it grew costs a small
/// read and a stat, never parsing every counted key.
#[derive(Debug, Serialize, Deserialize)]
struct Seen {
    path: PathBuf,
    inode: u64,
    len: Option<u64>,
    #[serde(default)]
    modified: Option<u64>,
}

/// What one turn end found: the responses to record, the newest model and
/// version named, and what went wrong on the way (for the log).
#[derive(Debug, Default)]
pub struct Found {
    pub counted: Vec<Counted>,
    /// Failed tool calls, not yet reported; the caller records those whose
    /// call has no result yet.
    pub failures: Vec<Failure>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub problems: Vec<String>,
    /// State to save once the events are written.
    state: Option<State>,
}

/// The most read from all transcripts in one run; the rest is read next time
/// (a 50 MB transcript read from scratch takes a dozen turn ends, each within
/// the hook's budget).
pub const BYTE_BUDGET: u64 = 4 << 20;
const MAX_STATE: u64 = 16 << 20;

/// Reads what is new in the transcripts `payload` points at.
pub fn read(reader: &Reader, payload: &Payload, state_path: &Path, deadline: Instant) -> Found {
    read_files(reader, (reader.paths)(payload), (reader.scope)(payload), state_path, deadline)
}

/// Reads what is new in `paths` (transcripts `grown` named), with what the
/// read of one session knows: its id.
pub fn read_again(reader: &Reader, paths: Vec<PathBuf>, session: &str, state_path: &Path, deadline: Instant) -> Found {
    let scope = Scope { session: Some(session.to_string()), ..Scope::default() };
    read_files(reader, paths, scope, state_path, deadline)
}

fn read_files(reader: &Reader, paths: Vec<PathBuf>, mut scope: Scope, state_path: &Path, deadline: Instant) -> Found {
    let mut found = Found::default();
    let mut state = match fsutil::read_private(state_path, MAX_STATE) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            found.problems.push(format!("transcript cursors unreadable, starting over: {e}"));
            State::default()
        }),
        Ok(None) => State::default(),
        Err(e) => {
            found.problems.push(format!("transcript cursors: {e}"));
            return found;
        }
    };
    let mut budget = BYTE_BUDGET;
    let mut seen = ByKey::new();
    let mut failures = Vec::new();
    for path in paths {
        let key = path.to_string_lossy().into_owned();
        let cursor = state.files.entry(key.clone()).or_default();
        let read = if is_document(&path) { read_document } else { read_new_lines };
        match read(reader, &path, cursor, &mut scope, &mut budget, deadline) {
            Ok(lines) => {
                for response in lines.responses {
                    merge(&mut seen, response, &key);
                }
                failures.extend(lines.failures);
                found.model = cursor.context.model.clone().or(found.model);
                found.version = cursor.context.version.clone().or(found.version);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => found.problems.push(format!("transcript {}: {e}", path.display())),
        }
    }
    found.counted = count_once(seen, &mut state);
    found.counted.sort_by_key(|c| c.response.ts_ms.unwrap_or(u64::MAX));
    // The model last used: the newest response's, not the last key's.
    if let Some(model) = found.counted.iter().rev().find_map(|c| c.response.model.clone()) {
        found.model = Some(model);
    }
    for failure in failures {
        // Counted once, like a response: the same line read again adds nothing.
        let key = format!("failure:{}", failure.call_id);
        if state.counted.insert(key, Figures::default()).is_none() {
            found.failures.push(failure);
        }
    }
    found.state = Some(state);
    found
}

/// The responses not counted before, and the growth of those that were
/// (a response whose figures grew since is counted again as a correction).
fn count_once(seen: ByKey, state: &mut State) -> Vec<Counted> {
    let mut counted_now = Vec::new();
    let mut in_order: Vec<_> = seen.into_iter().collect();
    in_order.sort_by_key(|(_, (order, _, _))| *order);
    for (key, (_, response, transcript)) in in_order {
        let figures = response.figures();
        let before = state.counted.get(&key).copied();
        let (counted, correction) = match before {
            None => (figures, false),
            Some(counted) => match figures.growth_over(&counted) {
                Some(grown) => (grown, true),
                None => continue,
            },
        };
        state.counted.insert(key, before.map_or(figures, |b| b.max(&figures)));
        counted_now.push(Counted { response, figures: counted, correction, transcript });
    }
    counted_now
}

/// Saves the cursors and counted keys: after the events are written, so a
/// run killed in between counts them again rather than never. Then what was
/// seen of each transcript, for `grown`.
pub fn save(found: &Found, state_path: &Path) -> io::Result<()> {
    let Some(state) = &found.state else { return Ok(()) };
    fsutil::write_atomic(state_path, &serde_json::to_vec(state).map_err(io::Error::other)?)?;
    let seen: Vec<Seen> = state
        .files
        .iter()
        .map(|(path, c)| Seen { path: PathBuf::from(path), inode: c.inode, len: c.seen, modified: c.modified })
        .collect();
    fsutil::write_atomic(&seen_path(state_path), &serde_json::to_vec(&seen).map_err(io::Error::other)?)
}

fn seen_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("seen")
}

/// A session's transcripts that changed since they were last read to their
/// end: a transcript is never final while it grows (Copilot writes a run's
/// last usage lines after its last hook returned, Qwen a turn's last
/// response after its Stop). Costs one small read and a stat per transcript,
/// without the session's lock. Only regular files count: a transcript
/// replaced by a symlink or a FIFO is not followed.
pub fn grown(state_path: &Path) -> Vec<PathBuf> {
    let Ok(Some(bytes)) = fsutil::read_private(&seen_path(state_path), MAX_STATE) else { return Vec::new() };
    let seen: Vec<Seen> = serde_json::from_slice(&bytes).unwrap_or_default();
    let changed = |s: &Seen| match std::fs::symlink_metadata(&s.path) {
        Ok(meta) => {
            let rewritten = s.modified.is_some_and(|m| m != modified_ns(&meta));
            meta.file_type().is_file() && (meta.ino() != s.inode || Some(meta.len()) != s.len || rewritten)
        }
        Err(_) => false,
    };
    seen.into_iter().filter(changed).map(|s| s.path).collect()
}

/// The responses of one read by key, each with when it was first read (the
/// order of a response with no time of its own) and its transcript.
type ByKey = BTreeMap<String, (usize, Response, String)>;

fn merge(seen: &mut ByKey, response: Response, transcript: &str) {
    let order = seen.len();
    match seen.get_mut(&response.key) {
        Some((_, known, _)) => known.absorb(response),
        None => {
            seen.insert(response.key.clone(), (order, response, transcript.to_string()));
        }
    }
}

#[derive(Default)]
struct Lines {
    responses: Vec<Response>,
    failures: Vec<Failure>,
}

/// The complete lines after the cursor, within the budget, as responses and
/// failures; the cursor moves past what was read.
fn read_new_lines(
    reader: &Reader,
    path: &Path,
    cursor: &mut Cursor,
    scope: &mut Scope,
    budget: &mut u64,
    deadline: Instant,
) -> io::Result<Lines> {
    let meta = std::fs::metadata(path)?;
    if meta.ino() != cursor.inode || meta.len() < cursor.offset {
        // A new or rewritten file: read it from the start, or from where the
        // reader says this session's lines start (counted keys keep old
        // responses from counting twice).
        let offset = scope.starts.get(path).copied().filter(|start| *start <= meta.len()).unwrap_or(0);
        *cursor = Cursor { inode: meta.ino(), offset, context: cursor.context.clone(), ..Cursor::default() };
    }
    let want = (meta.len() - cursor.offset).min(*budget);
    // Read to its end unless the budget or the deadline cut this read short.
    cursor.seen = (want == meta.len() - cursor.offset).then_some(meta.len());
    if want == 0 {
        return Ok(Lines::default());
    }
    let chunk = fsutil::read_agent_file(path, End::At(cursor.offset), want)?;
    // Only whole lines: a line being written is read next time.
    let Some(end) = memchr::memrchr(b'\n', &chunk) else {
        if chunk.len() as u64 >= BYTE_BUDGET {
            // No line ends within the whole budget: not a line we could ever parse.
            cursor.offset += chunk.len() as u64;
            *budget = 0;
            return Err(io::Error::other("skipped a line longer than the byte budget"));
        }
        return Ok(Lines::default());
    };
    let mut found = Lines::default();
    let mut consumed = 0;
    for line in chunk[..=end].split_inclusive(|b| *b == b'\n') {
        if Instant::now() > deadline {
            cursor.seen = None;
            break;
        }
        consumed += line.len();
        take(reader, line, &mut cursor.context, scope, &mut found);
    }
    cursor.offset += consumed as u64;
    *budget -= consumed as u64;
    Ok(found)
}

/// One line (or a document's item) into what it says, when it has a needle.
fn take(reader: &Reader, line: &[u8], context: &mut Context, scope: &mut Scope, found: &mut Lines) {
    if !reader.needles.iter().any(|n| memchr::memmem::find(line, n).is_some()) {
        return;
    }
    let value = serde_json::from_slice::<Value>(line)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(line).trim_end().to_string()));
    // One line may be both: Gemini's response record carries its tool calls.
    found.responses.extend((reader.parse)(&value, context, scope));
    found.failures.extend((reader.failure)(&value, scope));
}

/// The most read of one document: one larger than the byte budget is still
/// read, whole, when it is the first file a run reads.
const MAX_DOCUMENT: u64 = 32 << 20;

fn is_document(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

fn modified_ns(meta: &std::fs::Metadata) -> u64 {
    let ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    u64::try_from(ns).unwrap_or(0)
}

/// A whole document, when it changed since it was last read whole: its items
/// as lines (counted keys keep the responses read before from counting
/// twice). One being rewritten (not JSON yet), or cut short by the budget or
/// the deadline, is left for the next read.
fn read_document(
    reader: &Reader,
    path: &Path,
    cursor: &mut Cursor,
    scope: &mut Scope,
    budget: &mut u64,
    deadline: Instant,
) -> io::Result<Lines> {
    // Taken before the read: a rewrite during it leaves the file changed since.
    let meta = std::fs::metadata(path)?;
    let (len, modified) = (meta.len(), modified_ns(&meta));
    if meta.ino() == cursor.inode && cursor.seen == Some(len) && cursor.modified == Some(modified) {
        return Ok(Lines::default());
    }
    *cursor = Cursor { inode: meta.ino(), offset: 0, context: cursor.context.clone(), seen: None, modified: None };
    if len > MAX_DOCUMENT {
        // Never readable: noted as read, so that only a change names it again.
        (cursor.seen, cursor.modified) = (Some(len), Some(modified));
        return Err(io::Error::other(format!("a document larger than {MAX_DOCUMENT} bytes is not read")));
    }
    if len > *budget && *budget < BYTE_BUDGET {
        return Ok(Lines::default());
    }
    let bytes = fsutil::read_agent_file(path, End::Head, MAX_DOCUMENT)?;
    *budget = budget.saturating_sub(bytes.len() as u64);
    let mut found = Lines::default();
    let Some(items) = document_items(&bytes, reader.items) else { return Ok(found) };
    for item in items {
        if Instant::now() > deadline {
            return Ok(found);
        }
        take(reader, item.get().as_bytes(), &mut cursor.context, scope, &mut found);
    }
    (cursor.offset, cursor.seen, cursor.modified) = (len, Some(len), Some(modified));
    Ok(found)
}

/// The items of a document: those at `paths`, else (no paths) those of a
/// top-level list or of its `messages` list (Cline's), else the document
/// itself; `None` when it is not JSON.
fn document_items<'a>(bytes: &'a [u8], paths: &[&[&str]]) -> Option<Vec<&'a RawValue>> {
    #[derive(Deserialize)]
    struct Messages<'a> {
        #[serde(borrow)]
        messages: Vec<&'a RawValue>,
    }
    let document = serde_json::from_slice::<&RawValue>(bytes).ok()?;
    if !paths.is_empty() {
        return Some(paths.iter().flat_map(|path| select(document, path)).collect());
    }
    if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(document.get()) {
        return Some(items);
    }
    if let Ok(document) = serde_json::from_str::<Messages>(document.get()) {
        return Some(document.messages);
    }
    Some(vec![document])
}

/// The values at `path` under `value` (`*`: every entry of a list or
/// object); none where the path leads nowhere.
fn select<'a>(value: &'a RawValue, path: &[&str]) -> Vec<&'a RawValue> {
    let Some((step, rest)) = path.split_first() else { return vec![value] };
    let entries = || serde_json::from_str::<BTreeMap<String, &'a RawValue>>(value.get()).ok();
    let next: Vec<&'a RawValue> = match *step {
        "*" => serde_json::from_str::<Vec<&'a RawValue>>(value.get())
            .ok()
            .or_else(|| entries().map(|entries| entries.into_values().collect()))
            .unwrap_or_default(),
        key => entries().and_then(|mut entries| entries.remove(key)).into_iter().collect(),
    };
    next.into_iter().flat_map(|next| select(next, rest)).collect()
}

/// Records what the transcripts added, in one write after the hook's event:
/// a `Cost` event per model response, and an `Error` for each call the
/// transcript says failed that the hooks left open (every open call, when
/// `closes_open_calls`: an agent that reports only the calls that
/// succeeded). The cursors are saved once written.
pub fn record(
    writer: &mut SessionWriter,
    session_id: &str,
    found: &Found,
    home: &Path,
    closes_open_calls: bool,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    problems.extend(found.problems.iter().cloned());
    let now = crate::time::now_ms();
    let mut made = Vec::new();
    for failure in &found.failures {
        if let Some(tool) = writer.open_call(&failure.call_id) {
            made.push(failure_event(session_id, failure, tool, now));
        }
    }
    if closes_open_calls {
        for (call_id, tool) in writer.open_calls() {
            if found.failures.iter().all(|f| f.call_id != call_id) {
                let why = "no result before the turn ended: this agent reports only the calls that succeeded";
                made.push(failure_event(session_id, &Failure { call_id, why: why.into() }, tool, now));
            }
        }
    }
    if !found.counted.is_empty() {
        let prices = Prices::load(home);
        problems.extend(prices.note().map(String::from));
        made.extend(found.counted.iter().map(|counted| cost_event(session_id, counted, &prices, now)));
    }
    writer.append_made(made.into_iter().map(Sealed::new).collect())?;
    save(found, &writer.files().transcripts).map_err(|e| format!("transcript cursors: {e}"))
}

/// A `Cost` event for a counted response: its figures in the meanings of
/// `Event`'s fields, its price when the model's is known, `source: Tail`.
fn cost_event(session_id: &str, counted: &Counted, prices: &Prices, now_ms: u64) -> Event {
    let r = &counted.response;
    let f = &counted.figures;
    let cost = r.model.as_deref().and_then(|model| prices.cost_usd_e6(model, &f.tokens()));
    let ts_ms = r.ts_ms.unwrap_or(now_ms);
    let mut event = new_event(session_id, EventKind::Cost, EventSource::Tail, ts_ms, "model_response", Phase::Other);
    let payload = event.payload.as_object_mut().expect("new_event makes an object");
    payload.insert("model".into(), json!(r.model));
    payload.insert("response_id".into(), json!(r.key));
    payload.insert("turn".into(), json!(r.turn));
    if counted.correction {
        payload.insert("correction".into(), json!(true));
    }
    payload.insert("cache_creation_1h_tokens".into(), json!(f.cache_write_1h));
    if let Some(usd) = r.agent_cost_usd {
        payload.insert("agent_cost_usd".into(), json!(usd));
    }
    payload.insert("price_revision".into(), json!(cost.map(|_| prices.revision())));
    payload.insert("transcript".into(), json!(counted.transcript));
    let small = |n: u64| u32::try_from(n).ok();
    event.ts_exact = r.ts_ms.is_some();
    event.tokens_in = small(f.input);
    event.tokens_out = small(f.output);
    event.reasoning_tokens = small(f.reasoning);
    event.cost_usd_e6 = cost;
    event.stop_reason = r.stop_reason.clone();
    event.latency_ms = r.latency_ms;
    event.ttft_ms = r.ttft_ms;
    event.context_used_tokens = small(f.input + f.cache_read + f.cache_write);
    let context_max = r.context_max.or_else(|| prices.context_max(r.model.as_deref()?));
    event.context_max_tokens = context_max.and_then(small);
    event.cache_creation_tokens = small(f.cache_write);
    event.cache_read_tokens = small(f.cache_read);
    event
}

/// An `Error` event for a call the transcript says failed and no hook
/// reported (a call denied by permissions gets only its PreToolUse).
fn failure_event(session_id: &str, failure: &Failure, tool: Option<String>, now_ms: u64) -> Event {
    let why: String = failure.why.chars().take(500).collect();
    let phase = Phase::ToolFailure;
    let mut event = new_event(session_id, EventKind::Error, EventSource::Tail, now_ms, "tool_failure", phase);
    event.payload["phase_note"] = json!(why);
    event.tool = tool;
    event.tool_call_id = Some(failure.call_id.clone());
    event
}

/// A non-negative integer field, however the agent spelled the number; huge
/// or negative values are not trusted.
pub fn count(value: &Value, key: &str) -> u64 {
    match value.get(key) {
        Some(Value::Number(n)) => n.as_u64().filter(|n| *n < 1 << 40).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: &Value, ctx: &mut Context, _: &mut Scope) -> Option<Response> {
        let usage = v.get("usage")?;
        ctx.model = v.get("model").and_then(Value::as_str).map(String::from).or(ctx.model.take());
        Some(Response {
            key: v.get("id")?.as_str()?.to_string(),
            model: ctx.model.clone(),
            tokens: Tokens { input: count(usage, "in"), output: count(usage, "out"), ..Tokens::default() },
            ..Response::default()
        })
    }

    fn paths(p: &Payload) -> Vec<PathBuf> {
        vec![PathBuf::from(p["transcript_path"].as_str().unwrap())]
    }

    const READER: Reader =
        Reader { needles: &[b"usage"], parse, failure: no_failure, paths, scope: no_scope, items: &[] };

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture { dir: tempfile::tempdir().unwrap() }
        }
        fn transcript(&self) -> PathBuf {
            self.dir.path().join("t.jsonl")
        }
        fn state(&self) -> PathBuf {
            self.dir.path().join("state.json")
        }
        fn append(&self, text: &str) {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.transcript()).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }
        fn turn_end(&self) -> Vec<(String, u64, u64, bool)> {
            let payload = json!({"transcript_path": self.transcript()});
            let far = Instant::now() + std::time::Duration::from_secs(5);
            let found = read(&READER, payload.as_object().unwrap(), &self.state(), far);
            save(&found, &self.state()).unwrap();
            found
                .counted
                .iter()
                .map(|c| (c.response.key.clone(), c.figures.input, c.figures.output, c.correction))
                .collect()
        }
    }

    fn line(id: &str, input: u64, output: u64) -> String {
        format!("{}\n", json!({"id": id, "model": "m", "usage": {"in": input, "out": output}}))
    }

    #[test]
    fn split_lines_count_once_with_their_final_figures() {
        let f = Fixture::new();
        f.append(&(line("r1", 10, 1) + &line("r1", 10, 7) + "{\"noise\":true}\n"));
        assert_eq!(f.turn_end(), [("r1".into(), 10, 7, false)]);
        assert_eq!(f.turn_end(), [], "the same turn end again");
    }

    #[test]
    fn a_half_written_line_waits_for_the_next_turn_end() {
        let f = Fixture::new();
        let whole = line("r1", 10, 1);
        let (head, rest) = whole.split_at(12);
        f.append(head);
        assert_eq!(f.turn_end(), []);
        f.append(rest);
        assert_eq!(f.turn_end(), [("r1".into(), 10, 1, false)]);
    }

    #[test]
    fn figures_that_grow_later_get_a_correction_with_the_difference() {
        let f = Fixture::new();
        f.append(&line("r1", 10, 1));
        assert_eq!(f.turn_end(), [("r1".into(), 10, 1, false)]);
        f.append(&line("r1", 10, 9));
        assert_eq!(f.turn_end(), [("r1".into(), 0, 8, true)]);
    }

    #[test]
    fn resumed_or_rewritten_transcripts_do_not_count_old_responses_again() {
        let f = Fixture::new();
        f.append(&(line("r1", 10, 1) + &line("r2", 20, 2)));
        assert_eq!(f.turn_end().len(), 2);
        // Resume re-appends old lines; rotation replaces the file with a shorter one.
        f.append(&line("r1", 10, 1));
        assert_eq!(f.turn_end(), []);
        std::fs::remove_file(f.transcript()).unwrap();
        f.append(&(line("r2", 20, 2) + &line("r3", 30, 3)));
        assert_eq!(f.turn_end(), [("r3".into(), 30, 3, false)]);
    }

    #[test]
    fn a_transcript_is_named_grown_until_read_to_its_end() {
        let f = Fixture::new();
        f.append(&line("r1", 10, 1));
        f.turn_end();
        assert_eq!(grown(&f.state()), Vec::<PathBuf>::new());
        f.append(&line("r2", 20, 2));
        assert_eq!(grown(&f.state()), [f.transcript()]);
        let far = Instant::now() + std::time::Duration::from_secs(5);
        let found = read_again(&READER, grown(&f.state()), "s", &f.state(), far);
        save(&found, &f.state()).unwrap();
        assert_eq!(found.counted.iter().map(|c| c.response.key.as_str()).collect::<Vec<_>>(), ["r2"]);
        assert_eq!(grown(&f.state()), Vec::<PathBuf>::new());
        // A half-written line: grown once, then not until it is whole.
        let whole = line("r3", 30, 3);
        let (head, rest) = whole.split_at(9);
        f.append(head);
        assert_eq!(f.turn_end(), []);
        assert_eq!(grown(&f.state()), Vec::<PathBuf>::new());
        f.append(rest);
        assert_eq!(grown(&f.state()), [f.transcript()]);
        assert_eq!(f.turn_end(), [("r3".into(), 30, 3, false)]);
    }

    /// A document rewritten whole, as Cline rewrites its messages file.
    fn write_document(path: &Path, responses: &[(&str, u64, u64)], updated: &str) {
        let messages: Vec<Value> = responses
            .iter()
            .map(|(id, i, o)| json!({"id": id, "model": "m", "usage": {"in": i, "out": o}}))
            .chain([json!({"role": "user", "text": "no usage here"})])
            .collect();
        let text = serde_json::to_string_pretty(&json!({"updated": updated, "messages": messages})).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_rewritten_document_counts_each_response_once() {
        let f = Fixture::new();
        let doc = f.dir.path().join("t.messages.json");
        let turn_end = || {
            let payload = json!({"transcript_path": doc});
            let far = Instant::now() + std::time::Duration::from_secs(5);
            let found = read(&READER, payload.as_object().unwrap(), &f.state(), far);
            save(&found, &f.state()).unwrap();
            found.counted.iter().map(|c| (c.response.key.clone(), c.figures.input, c.correction)).collect::<Vec<_>>()
        };
        write_document(&doc, &[("r1", 10, 1)], "t1");
        assert_eq!(turn_end(), [("r1".into(), 10, false)]);
        assert_eq!(grown(&f.state()), Vec::<PathBuf>::new());
        // Rewritten with one more response (the file grows, but not by appending).
        write_document(&doc, &[("r1", 10, 1), ("r2", 20, 2)], "t2");
        assert_eq!(grown(&f.state()), std::slice::from_ref(&doc));
        assert_eq!(turn_end(), [("r2".into(), 20, false)]);
        // Rewritten to the same size, a figure grown: named grown by its mtime.
        std::thread::sleep(std::time::Duration::from_millis(10));
        write_document(&doc, &[("r1", 10, 1), ("r2", 30, 2)], "t3");
        assert_eq!(grown(&f.state()), std::slice::from_ref(&doc));
        assert_eq!(turn_end(), [("r2".into(), 10, true)]);
        assert_eq!(turn_end(), [], "unchanged: not read again");
        // Caught mid-rewrite: nothing, and read once it is whole.
        std::fs::write(&doc, "{\"messages\": [{\"id\": \"r3\", \"usage\"").unwrap();
        assert_eq!(turn_end(), []);
        assert_eq!(grown(&f.state()), std::slice::from_ref(&doc));
        write_document(&doc, &[("r1", 10, 1), ("r2", 30, 2), ("r3", 5, 5)], "t4");
        assert_eq!(turn_end(), [("r3".into(), 5, false)]);
    }

    #[test]
    fn responses_with_no_time_of_their_own_keep_the_transcript_s_order() {
        let f = Fixture::new();
        f.append("{\"id\": \"zz\", \"usage\": {\"in\": 1}}\n{\"id\": \"aa\", \"usage\": {\"in\": 2}}\n");
        let payload = json!({"transcript_path": f.transcript()});
        let far = Instant::now() + std::time::Duration::from_secs(5);
        let found = read(&READER, payload.as_object().unwrap(), &f.state(), far);
        let keys: Vec<&str> = found.counted.iter().map(|c| c.response.key.as_str()).collect();
        assert_eq!(keys, ["zz", "aa"], "not in the keys' order");
    }

    fn items_at(text: &str, paths: &[&[&str]]) -> Option<Vec<String>> {
        document_items(text.as_bytes(), paths).map(|v| v.iter().map(|r| r.get().to_string()).collect())
    }

    #[test]
    fn a_document_is_a_list_or_has_one() {
        let items = |text: &str| items_at(text, &[]);
        assert_eq!(items("[1, {\"a\": 2}]"), Some(vec!["1".to_string(), "{\"a\": 2}".to_string()]));
        assert_eq!(items("{\"v\": 1, \"messages\": [3]}"), Some(vec!["3".to_string()]));
        assert_eq!(items("{\"messages\": 3}"), Some(vec!["{\"messages\": 3}".to_string()]));
        assert_eq!(items("{\"messages\": [3"), None);
    }

    #[test]
    fn a_reader_can_say_where_a_document_s_items_are() {
        let text = r#"{"stats": {"by": {"b": {"t": [3, 4], "l": [5]}, "a": {"t": [1, 2], "l": []}, "c": {"t": 9}}}}"#;
        let items = |paths: &[&[&str]]| items_at(text, paths).unwrap();
        assert_eq!(
            items(&[&["stats", "by", "*", "t", "*"]]),
            ["1", "2", "3", "4"],
            "every entry of an object and a list"
        );
        assert_eq!(
            items(&[&["stats", "by", "*", "l", "*"], &["stats", "by", "a", "t"]]),
            ["5", "[1, 2]"],
            "path by path"
        );
        assert_eq!(items(&[&["stats", "none", "*"], &["stats", "by", "c", "t", "*"]]), Vec::<String>::new());
        assert_eq!(items_at("{\"stats\": {", &[&["stats"]]), None, "a document mid-rewrite");
    }

    #[test]
    fn bad_values_are_not_trusted() {
        let usage = json!({"a": -5, "b": 1u64 << 50, "c": "12", "d": 7});
        assert_eq!((count(&usage, "a"), count(&usage, "b"), count(&usage, "c"), count(&usage, "d")), (0, 0, 0, 7));
    }
}
