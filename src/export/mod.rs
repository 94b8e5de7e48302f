//! `kaizen-hook export`: every recorded event not yet exported, as one OTLP
//! log record each, to an OpenTelemetry collector. At least once and nothing
//! re-sent after success: a per-session cursor moves only after a 2xx. Never
//! on the hook path: nothing here runs unless a person runs `export`.

pub mod cursor;
pub mod http;
pub mod otlp;
pub mod record;
pub mod settings;

use crate::event::Event;
use crate::store::{self, Listed, fsutil};
use cursor::Cursor;
use otlp::{LogRecord, Origin};
use settings::{Protocol, Settings};
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

/// Why a run stopped early, on one line; the cursor stays where it was.
#[derive(Debug)]
pub struct Stopped(pub String);

/// What one run did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: u64,
    pub rejected: u64,
    pub sessions: u64,
    /// Complete lines that are not events (never shipped), and torn tails left for later.
    pub unreadable: u64,
    pub torn: u64,
    /// Messages worth a person's attention (cursor reset, partial success).
    pub notes: Vec<String>,
}

pub struct Exporter {
    pub home: PathBuf,
    pub settings: Settings,
    origin: Origin,
    pub tally: Tally,
}

impl Exporter {
    pub fn new(home: &Path, settings: Settings) -> Exporter {
        let origin = record::origin(&settings);
        Exporter { home: home.to_path_buf(), settings, origin, tally: Tally::default() }
    }

    /// One pass over every session, under the export lock.
    pub fn pass(&mut self) -> Result<(), Stopped> {
        let _lock = cursor::lock(&self.home).map_err(|e| Stopped(format!("cannot take the export lock: {e}")))?;
        for (key, path) in event_files(&self.home) {
            self.session(&key, &path)?;
        }
        Ok(())
    }

    fn session(&mut self, key: &str, path: &Path) -> Result<(), Stopped> {
        let local = |e: io::Error| Stopped(format!("session {key}: {e}"));
        let file = match open_events(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(local(e)),
        };
        // Events appended from here on are taken by the next run.
        let len = file.metadata().map_err(local)?.len();
        let (mut cursor, note) = cursor::start(&self.home, key, &file).map_err(local)?;
        if let Some(note) = note {
            self.tally.notes.push(format!("session {key}: {note}"));
        }
        if cursor.offset >= len {
            return Ok(());
        }
        self.tally.sessions += 1;
        let mut reader = BufReader::with_capacity(256 * 1024, &file);
        reader.seek(SeekFrom::Start(cursor.offset)).map_err(local)?;
        let mut reader = reader.take(len - cursor.offset);
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
            let partial = self.send(&batch.records).map_err(|why| Stopped(format!("{why}; stopped at {where_}")))?;
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
        cursor::save(&self.home, key, cursor).map_err(|e| {
            Stopped(format!(
                "session {key}: sent, but the cursor could not be saved ({e}); the next run sends these again"
            ))
        })?;
        batch.records.clear();
        batch.bytes = 0;
        Ok(())
    }

    /// One request, retried on the answers that mean "later".
    fn send(&self, records: &[LogRecord]) -> Result<otlp::PartialSuccess, String> {
        let body = match self.settings.protocol {
            Protocol::Protobuf => otlp::encode_protobuf(&self.origin, records),
            Protocol::Json => otlp::encode_json(&self.origin, records),
        };
        let url = &self.settings.url;
        let mut pause = FIRST_PAUSE;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                std::thread::sleep(pause);
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            match http::post(url, &self.settings.headers, &body, self.settings.timeout) {
                Ok(r) if (200..300).contains(&r.status) => {
                    let is_json = match r.content_type.as_str() {
                        t if t.contains("json") => true,
                        t if t.contains("protobuf") => false,
                        _ => self.settings.protocol == Protocol::Json,
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
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("the collector at {url} is unreachable after {ATTEMPTS} attempts ({last})"))
    }
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
