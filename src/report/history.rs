//! Every chosen session's digest added into one `Tally`: a settled session's
//! from the cache when its file is unchanged, any other read line by line;
//! sessions are spread over the machine's cores (their files are independent).

use super::SessionRow;
use super::cache::{self, Cache, Identity, Shard};
use super::digest::{self, Digest, Window};
use super::tally::{Days, Session, Tally};
use crate::event::SessionStatus;
use crate::store::SessionFiles;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads read at most: files are independent, but beyond a few
/// the disk, not the parsing, is what waits.
const MAX_THREADS: usize = 8;

/// Which sessions and events a report covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub window: Window,
    pub agent: Option<String>,
    /// A repository's name, or its directory (sessions in it or below it).
    pub repo: Option<String>,
    /// The branch the session started on.
    pub branch: Option<String>,
}

impl Filter {
    pub fn keeps(&self, row: &SessionRow) -> bool {
        let repo = |wanted: &str| {
            row.repo == wanted || (wanted.contains('/') && Path::new(&row.workspace).starts_with(wanted))
        };
        self.agent.as_deref().is_none_or(|a| row.agent == a)
            && self.repo.as_deref().is_none_or(repo)
            && self.branch.as_deref().is_none_or(|b| row.branch.as_deref() == Some(b))
    }
}

/// What reading the sessions found: the tally, and what could not be read.
pub struct Read {
    pub tally: Tally,
    /// The sessions with an event in the period, as listed.
    pub sessions: Vec<usize>,
    pub problems: Vec<String>,
}

/// Adds up the sessions of `rows` that `filter` keeps. The work is one
/// cache shard's sessions at a time, on as many threads as there are cores.
pub fn read(home: &Path, rows: &[SessionRow], filter: &Filter, day_of: fn(u64) -> String) -> Read {
    let mut shards: Vec<Vec<usize>> = vec![Vec::new(); cache::SHARDS];
    for i in (0..rows.len()).filter(|&i| filter.keeps(&rows[i])) {
        shards[cache::shard_of(&rows[i].key)].push(i);
    }
    shards.retain(|s| !s.is_empty());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS);
    let chosen: usize = shards.iter().map(Vec::len).sum();
    let threads = threads.min(chosen.div_ceil(16)).max(1);
    let cache = Cache::open(home);
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    let problems = Mutex::new(Vec::new());
    let work = || {
        let mut tally = Tally::default();
        let mut days = Days::new(day_of);
        let mut mine = Vec::new();
        let mut said = Vec::new();
        while let Some(shard) = shards.get(next.fetch_add(1, Ordering::Relaxed)) {
            let mut kept = cache.as_ref().map(|c| c.shard(cache::shard_of(&rows[shard[0]].key)));
            for &i in shard {
                let row = &rows[i];
                match digest_in(home, kept.as_mut(), row, filter.window) {
                    Ok(Some(d)) => {
                        if d.skipped > 0 {
                            said.push(format!("{}: skipped {} unreadable line(s)", row.key, d.skipped));
                        }
                        if d.events > 0 {
                            let session = Session {
                                key: &row.key,
                                agent: &row.agent,
                                repo: &row.repo,
                                model: row.model.as_deref(),
                                started_ms: row.started_at_ms,
                                guidance: row.prompt_fingerprint.as_deref(),
                            };
                            tally.add(&session, &d, &mut days);
                            mine.push(i);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => said.push(format!("{}: {e}", row.key)),
                }
            }
            if let Some(kept) = kept {
                kept.save();
            }
        }
        found.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        problems.lock().unwrap_or_else(|p| p.into_inner()).extend(said);
        tally
    };
    let mut tally = Tally::default();
    if threads == 1 {
        tally = work();
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            for handle in handles {
                if let Ok(part) = handle.join() {
                    tally.merge(part);
                }
            }
        });
    }
    let mut sessions = found.into_inner().unwrap_or_else(|p| p.into_inner());
    sessions.sort_unstable();
    let mut problems = problems.into_inner().unwrap_or_else(|p| p.into_inner());
    problems.sort();
    Read { tally, sessions, problems }
}

/// A session's digest limited to the window: `None` when no event of it is
/// in the window. The whole file's digest comes from the cache, or is made
/// and kept when the session is settled; a session the window cuts through
/// is read again for the window's part.
pub fn digest_in(
    home: &Path,
    kept: Option<&mut Shard>,
    row: &SessionRow,
    window: Window,
) -> std::io::Result<Option<Digest>> {
    let events = SessionFiles::from_key(home, &row.key).events;
    let meta = match std::fs::symlink_metadata(&events) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Err(std::io::Error::other("not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let identity = Identity::of(&meta);
    let whole = match kept {
        Some(shard) => match shard.get(&row.key, &identity) {
            Some(d) => d.clone(),
            None => {
                let (d, _) = digest::of_file(&events, identity.len, Window::default())?;
                if row.status == SessionStatus::Done {
                    shard.put(&row.key, &identity, &d);
                }
                d
            }
        },
        None => digest::of_file(&events, identity.len, Window::default())?.0,
    };
    let (Some(first), Some(last)) = (whole.first_ms, whole.last_ms) else { return Ok(Some(whole)) };
    if window.is_all() || window.covers(first, last) {
        Ok(Some(whole))
    } else if window.misses(first, last) {
        Ok(None)
    } else {
        digest::of_file(&events, identity.len, window).map(|(d, _)| Some(d))
    }
}
