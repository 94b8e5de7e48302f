//! `kaizen-hook export`: every recorded event not yet exported, as one OTLP
//! log record each, and every ended turn not yet exported, as one trace
//! (`spans.rs`), to an OpenTelemetry collector. At least once and nothing
//! re-sent after success: a cursor per session and signal moves only after a
//! 2xx. Never on the hook path: nothing here runs unless a person runs `export`.

pub mod cursor;
pub mod http;
pub mod otlp;
pub mod record;
pub mod settings;
pub mod spans;

use crate::event::Event;
use crate::store::{self, Listed, fsutil};
use cursor::Cursor;
use otlp::{LogRecord, Origin, Trace};
use settings::{Protocol, Settings, Signal};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Collectors' usual request limits are 4 MiB (gRPC) and a few thousand
/// records per batch; stay well under both.
const BATCH_RECORDS: usize = 512;
const BATCH_BYTES: usize = 1 << 20;
/// Retries for 429/502/503/504 and connection errors: 0.25 s doubling to 4 s,
/// about 15 s in all before the run gives up.
const ATTEMPTS: u32 = 7;
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(4);
/// Spans per traces request.
const BATCH_SPANS: usize = 1024;
/// An ended turn is sent once its session has been quiet this long (the
/// turn end's responses are written right after it, by the same hook run),
/// or when another turn has started, or the session is over.
pub const QUIET: Duration = Duration::from_secs(10);

/// Why a run stopped early, on one line; the cursor stays where it was.
#[derive(Debug)]
pub struct Stopped(pub String);

/// What one run did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: u64,
    /// Turns sent as traces, and their spans.
    pub turns: u64,
    pub spans: u64,
    pub rejected: u64,
    pub sessions: u64,
    /// Complete lines that are not events (never shipped), and torn tails left for later.
    pub unreadable: u64,
    pub torn: u64,
    /// Messages worth a person's attention (cursor reset, partial success).
    pub notes: Vec<String>,
}

/// Where one signal goes, and the client that takes it there.
pub struct Destination {
    pub settings: Settings,
    client: http::Client,
}

impl Destination {
    pub fn new(settings: Settings) -> Result<Destination, String> {
        let client = http::Client::new(&settings.url, &settings.tls, settings.timeout)?;
        Ok(Destination { settings, client })
    }
}

pub struct Exporter {
    pub home: PathBuf,
    /// Where each signal goes; `None` when it is not exported.
    pub logs: Option<Destination>,
    pub traces: Option<Destination>,
    origin: Origin,
    pub tally: Tally,
}

impl Exporter {
    /// At least one of `logs` and `traces` is given.
    pub fn new(home: &Path, logs: Option<Destination>, traces: Option<Destination>) -> Exporter {
        let origin = record::origin(&logs.as_ref().or(traces.as_ref()).expect("a signal to export").settings);
        Exporter { home: home.to_path_buf(), logs, traces, origin, tally: Tally::default() }
    }

    /// Where the signals go, for people: `http://h:4318/v1/logs and http://h:4318/v1/traces`.
    pub fn destinations(&self) -> String {
        let urls: Vec<String> =
            [&self.logs, &self.traces].into_iter().flatten().map(|d| d.settings.url.to_string()).collect();
        urls.join(" and ")
    }

    /// One pass over every session, under the export lock.
    pub fn pass(&mut self) -> Result<(), Stopped> {
        let _lock = cursor::lock(&self.home).map_err(|e| Stopped(format!("cannot take the export lock: {e}")))?;
        for (key, path) in event_files(&self.home) {
            if self.logs.is_some() {
                self.session(&key, &path)?;
            }
            if self.traces.is_some() {
                self.session_traces(&key, &path)?;
            }
        }
        Ok(())
    }

    /// The session's events file read from this signal's cursor up to its
    /// length now (events appended from here on are taken by the next run);
    /// `None` when it is gone or nothing is new.
    fn unsent(&mut self, key: &str, path: &Path, signal: Signal) -> Result<Option<Unsent>, Stopped> {
        let local = |e: io::Error| Stopped(format!("session {key}: {e}"));
        let file = match open_events(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(local(e)),
        };
        let len = file.metadata().map_err(local)?.len();
        let (cursor, note) = cursor::start(&self.home, key, signal, &file).map_err(local)?;
        if let Some(note) = note {
            self.tally.notes.push(format!("session {key} ({}): {note}", signal.name()));
        }
        if cursor.offset >= len {
            return Ok(None);
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        reader.seek(SeekFrom::Start(cursor.offset)).map_err(local)?;
        Ok(Some(Unsent { reader: reader.take(len - cursor.offset), cursor }))
    }

    fn session(&mut self, key: &str, path: &Path) -> Result<(), Stopped> {
        let local = |e: io::Error| Stopped(format!("session {key}: {e}"));
        let Some(Unsent { mut reader, mut cursor }) = self.unsent(key, path, Signal::Logs)? else { return Ok(()) };
        self.tally.sessions += 1;
        let mut batch = Batch {
            end: cursor.offset,
            next_seq: cursor.next_seq,
            vcs: cursor.vcs.clone(),
            records: Vec::new(),
            bytes: 0,
        };
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(local)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                // A torn tail: a writer died mid-line, or is writing now. Never shipped.
                self.tally.torn += 1;
                break;
            }
            self.add(&mut batch, &line, key);
            if batch.records.len() >= BATCH_RECORDS || batch.bytes >= BATCH_BYTES {
                self.flush(key, &mut cursor, &mut batch)?;
            }
        }
        self.flush(key, &mut cursor, &mut batch)
    }

    fn add(&mut self, batch: &mut Batch, line: &[u8], key: &str) {
        batch.end += line.len() as u64;
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        match serde_json::from_str::<Event>(&text) {
            Ok(event) => {
                batch.next_seq = event.seq + 1;
                record::remember_vcs(&event, &mut batch.vcs);
                batch.bytes += text.len() + 512;
                batch.records.push(record::log_record(&event, &text, &batch.vcs, crate::time::now_ms() * 1_000_000));
            }
            Err(e) => {
                self.tally.unreadable += 1;
                crate::log::write(
                    &self.home,
                    &format!("export: session {key}: skipped a line that is not an event: {e}"),
                );
            }
        }
    }

    /// Sends the batch, then moves the cursor past it; on failure the cursor stays.
    fn flush(&mut self, key: &str, cursor: &mut Cursor, batch: &mut Batch) -> Result<(), Stopped> {
        if batch.end == cursor.offset {
            return Ok(());
        }
        let count = batch.records.len() as u64;
        if count > 0 {
            let where_ = format!("session {key} at seq {} ({} events sent this run)", cursor.next_seq, self.tally.sent);
            let logs = self.logs.as_ref().expect("logs are exported");
            let body = match logs.settings.protocol {
                Protocol::Protobuf => otlp::encode_protobuf(&self.origin, &batch.records),
                Protocol::Json => otlp::encode_json(&self.origin, &batch.records),
            };
            let partial = send(logs, body).map_err(|why| Stopped(format!("{why}; stopped at {where_}")))?;
            if partial.rejected > 0 {
                self.tally.notes.push(format!(
                    "session {key}: the collector rejected {} of {count} records: {}",
                    partial.rejected,
                    if partial.message.is_empty() { "(no message)" } else { &partial.message }
                ));
            }
            let rejected = partial.rejected.min(count);
            cursor.exported += count - rejected;
            cursor.rejected += rejected;
            self.tally.sent += count - rejected;
            self.tally.rejected += rejected;
        }
        cursor.offset = batch.end;
        cursor.next_seq = batch.next_seq;
        cursor.vcs.clone_from(&batch.vcs);
        cursor::save(&self.home, key, Signal::Logs, cursor).map_err(|e| {
            Stopped(format!(
                "session {key}: sent, but the cursor could not be saved ({e}); the next run sends these again"
            ))
        })?;
        batch.records.clear();
        batch.bytes = 0;
        Ok(())
    }

    /// The session's ended turns not yet sent, as traces: read from the
    /// traces cursor (always a turn's first line), sent a batch of turns at a
    /// time, the cursor moved past each batch the collector accepted.
    fn session_traces(&mut self, key: &str, path: &Path) -> Result<(), Stopped> {
        let local = |e: io::Error| Stopped(format!("session {key}: {e}"));
        let Some(Unsent { reader, mut cursor }) = self.unsent(key, path, Signal::Traces)? else { return Ok(()) };
        let turns = read_turns(reader, cursor.offset).map_err(local)?;
        let done = store::record::load(&store::SessionFiles::from_key(&self.home, key).record)
            .ok()
            .flatten()
            .is_some_and(|r| r.status == crate::event::SessionStatus::Done);
        let now = crate::time::now_ms();
        let count = turns.len();
        if self.logs.is_none() && count > 0 {
            self.tally.sessions += 1;
        }
        let mut batch: Vec<Trace> = Vec::new();
        let mut spans = 0;
        let mut next = cursor.clone();
        for (i, turn) in turns.into_iter().enumerate() {
            let last = i + 1 == count;
            let quiet = turn
                .events
                .iter()
                .map(|e| e.ts_ms)
                .max()
                .is_some_and(|ts| now.saturating_sub(ts) >= QUIET.as_millis() as u64);
            if last && !(done || (turn.ended && quiet)) {
                break;
            }
            let (turn_spans, root) = spans::turn(&turn.events, next.last_turn.as_ref());
            let commit = turn_spans[0].attributes.iter().find(|(k, _)| k == "vcs.ref.head.revision").cloned();
            spans += turn_spans.len();
            batch.push(Trace { resource: commit.into_iter().collect(), spans: turn_spans });
            next.offset = turn.end;
            next.next_seq = turn.events.last().map_or(next.next_seq, |e| e.seq + 1);
            next.last_turn = Some(root);
            if spans >= BATCH_SPANS {
                self.send_traces(key, &mut cursor, &next, &mut batch)?;
                spans = 0;
            }
        }
        self.send_traces(key, &mut cursor, &next, &mut batch)
    }

    fn send_traces(
        &mut self,
        key: &str,
        cursor: &mut Cursor,
        next: &Cursor,
        batch: &mut Vec<Trace>,
    ) -> Result<(), Stopped> {
        if batch.is_empty() {
            return Ok(());
        }
        let traces = self.traces.as_ref().expect("traces are exported");
        let body = match traces.settings.protocol {
            Protocol::Protobuf => otlp::encode_traces_protobuf(&self.origin, batch),
            Protocol::Json => otlp::encode_traces_json(&self.origin, batch),
        };
        let spans: u64 = batch.iter().map(|t| t.spans.len() as u64).sum();
        let partial = send(traces, body).map_err(|why| Stopped(format!("{why}; stopped at session {key} (traces)")))?;
        if partial.rejected > 0 {
            self.tally.notes.push(format!(
                "session {key}: the collector rejected {} of {spans} spans: {}",
                partial.rejected,
                if partial.message.is_empty() { "(no message)" } else { &partial.message }
            ));
        }
        self.tally.turns += batch.len() as u64;
        self.tally.spans += spans - partial.rejected.min(spans);
        *cursor = Cursor { exported: cursor.exported + spans, ..next.clone() };
        cursor::save(&self.home, key, Signal::Traces, cursor).map_err(|e| {
            Stopped(format!(
                "session {key}: sent, but the traces cursor could not be saved ({e}); the next run sends them again"
            ))
        })?;
        batch.clear();
        Ok(())
    }
}

/// One turn's lines: its events, whether its end was recorded, and the
/// offset past its last line.
struct TurnLines {
    events: Vec<Event>,
    ended: bool,
    end: u64,
}

/// The turns from `offset` on (whole lines only: a torn tail waits); a turn
/// begins at a prompt or a session start.
fn read_turns(mut reader: impl BufRead, mut offset: u64) -> io::Result<Vec<TurnLines>> {
    let mut turns: Vec<TurnLines> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        offset += n as u64;
        let Ok(event) = serde_json::from_slice::<Event>(&line) else {
            if let Some(turn) = turns.last_mut() {
                turn.end = offset;
            }
            continue;
        };
        let opens = turns.last().is_some_and(|t| spans::opens_after(&t.events, &event));
        if opens || turns.is_empty() {
            turns.push(TurnLines { events: Vec::new(), ended: false, end: offset });
        }
        let turn = turns.last_mut().expect("a turn was pushed");
        turn.ended |= spans::ends_turn(&event);
        turn.events.push(event);
        turn.end = offset;
    }
    turns.retain(|t| !t.events.is_empty());
    Ok(turns)
}

/// One request, retried on the answers that mean "later".
fn send(to: &Destination, body: Vec<u8>) -> Result<otlp::PartialSuccess, String> {
    let settings = &to.settings;
    let url = &settings.url;
    let (body, headers) = if settings.gzip {
        let mut headers = settings.headers.clone();
        headers.push(("Content-Encoding".into(), "gzip".into()));
        (gzip(&body), std::borrow::Cow::Owned(headers))
    } else {
        (body, std::borrow::Cow::Borrowed(&settings.headers))
    };
    let mut pause = FIRST_PAUSE;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            std::thread::sleep(pause);
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        match to.client.post(url, &headers, &body) {
            Ok(r) if (200..300).contains(&r.status) => {
                let is_json = match r.content_type.as_str() {
                    t if t.contains("json") => true,
                    t if t.contains("protobuf") => false,
                    _ => settings.protocol == Protocol::Json,
                };
                return Ok(otlp::partial_success(&r.body, is_json));
            }
            Ok(r) if matches!(r.status, 429 | 502 | 503 | 504) => {
                last = format!("answered {}", r.status);
                if let Some(wait) = r.retry_after {
                    pause = wait.min(LONGEST_PAUSE);
                }
            }
            Ok(r) => {
                let message = otlp::error_message(&r.body, &r.content_type);
                return Err(format!("the collector at {url} refused the records ({}: {message})", r.status));
            }
            Err(failure) if !failure.retry => return Err(format!("the collector at {url}: {}", failure.message)),
            Err(failure) => last = failure.message,
        }
    }
    Err(format!("the collector at {url} is unreachable after {ATTEMPTS} attempts ({last})"))
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body).and_then(|()| encoder.finish()).expect("compressing into memory")
}

/// What a signal has not sent of a session yet.
struct Unsent {
    reader: io::Take<BufReader<File>>,
    cursor: Cursor,
}

struct Batch {
    /// Byte offset past the last line taken (shipped or skipped).
    end: u64,
    next_seq: u64,
    vcs: cursor::Vcs,
    records: Vec<LogRecord>,
    bytes: usize,
}

fn open_events(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Every session's events file, by key, in a stable order.
fn event_files(home: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> =
        store::list(home, Listed::Events).into_iter().flatten().map(|f| (f.key, f.events)).collect();
    out.sort();
    out
}

/// The length of each events file now, to tell `--follow` whether anything moved.
pub fn sizes(home: &Path) -> Vec<(String, u64)> {
    event_files(home)
        .into_iter()
        .map(|(key, path)| {
            let len = std::fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            (key, len)
        })
        .collect()
}

/// Makes sure `export/` can exist before the first pass (a clear early error).
pub fn prepare(home: &Path) -> io::Result<()> {
    fsutil::ensure_private_dir(&cursor::dir(home))
}
