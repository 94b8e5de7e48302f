//! `kaizen-hook export [--endpoint URL] [--protocol P] [--signals S] [--follow]`:
//! ships recorded events (logs) and turns (traces) to an OpenTelemetry
//! collector (`crate::export`).

use super::Run;
use crate::config::Config;
use crate::export::settings::{self, Protocol, Signal};
use crate::export::{self, Destination, Exporter};
use crate::store::Listed;
use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How often `--follow` looks for new events, and how long it waits after a
/// failed pass before trying again.
const POLL: Duration = Duration::from_secs(1);
const AFTER_FAILURE: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct Export {
    /// The collector's OTLP/HTTP base URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT, else
    /// http://localhost:4318); /v1/logs and /v1/traces are added to it.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// What to send: logs (every event), traces (every ended turn), or both
    /// (default: both, less those $OTEL_LOGS_EXPORTER or $OTEL_TRACES_EXPORTER set to none).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub signals: Option<Vec<Signal>>,
    /// http/protobuf (default) or http/json (default: $OTEL_EXPORTER_OTLP_PROTOCOL).
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Keep running and ship new events as they land.
    #[arg(long)]
    pub follow: bool,
}

impl Run for Export {
    fn run(&self, config: &Config) -> ExitCode {
        let env = |name: &str| std::env::var(name).ok();
        let chosen = |signal: Signal| match &self.signals {
            Some(list) => list.contains(&signal),
            None => !signal.turned_off(&env),
        };
        let resolve = |signal: Signal| -> Result<Option<Destination>, String> {
            if !chosen(signal) {
                return Ok(None);
            }
            let settings = settings::resolve(signal, self.endpoint.as_deref(), self.protocol, &env)?;
            Destination::new(settings).map(Some)
        };
        let (logs, traces) = match (resolve(Signal::Logs), resolve(Signal::Traces)) {
            (Ok(logs), Ok(traces)) => (logs, traces),
            (Err(e), _) | (_, Err(e)) => return fail(&e),
        };
        if logs.is_none() && traces.is_none() {
            return fail(
                "nothing to export: both signals are off (--signals, OTEL_LOGS_EXPORTER, OTEL_TRACES_EXPORTER)",
            );
        }
        let home = match config.home_to_read() {
            Ok(home) => home,
            Err(why) => return fail(&why),
        };
        if let Err(e) = export::prepare(home) {
            return fail(&format!("cannot create {}: {e}", export::cursor::dir(home).display()));
        }
        let mut exporter = Exporter::new(home, logs, traces);
        if self.follow { follow(config, &mut exporter) } else { once(config, &mut exporter) }
    }
}

/// Counts what the sessions' transcripts added since they were last read
/// before a pass reads the sessions (Copilot writes a run's last usage lines
/// after its last hook returned).
fn catch_up(config: &Config, home: &Path) {
    let listed = crate::store::list(home, Listed::Record).into_iter().flatten();
    for problem in crate::inferred_end::catch_up_listed(config, listed).1 {
        eprintln!("kaizen-hook export: {problem}");
    }
}

fn once(config: &Config, exporter: &mut Exporter) -> ExitCode {
    catch_up(config, &exporter.home);
    let result = exporter.pass();
    report(exporter);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(stopped) => fail(&stopped.0),
    }
}

/// Runs until stopped; a failed pass is reported and retried later (the
/// cursor did not move, so nothing is lost).
fn follow(config: &Config, exporter: &mut Exporter) -> ExitCode {
    eprintln!("kaizen-hook export: following {} to {}", exporter.home.display(), exporter.destinations());
    let mut seen = Vec::new();
    let mut last_pass = Instant::now();
    loop {
        catch_up(config, &exporter.home);
        let now = export::sizes(&exporter.home);
        // A turn that ended waits for its session to be quiet: a pass now and
        // then sends it even when no file moved.
        let waiting = exporter.traces.is_some() && last_pass.elapsed() >= export::QUIET;
        if now != seen || waiting {
            let before = exporter.tally.clone();
            last_pass = Instant::now();
            match exporter.pass() {
                Ok(()) => seen = now,
                Err(stopped) => {
                    eprintln!("kaizen-hook export: {}; trying again in {}s", stopped.0, AFTER_FAILURE.as_secs());
                    std::thread::sleep(AFTER_FAILURE);
                }
            }
            for note in exporter.tally.notes.drain(before.notes.len()..) {
                eprintln!("kaizen-hook export: {note}");
            }
            if exporter.tally.sent > before.sent || exporter.tally.turns > before.turns {
                eprintln!(
                    "kaizen-hook export: sent {} events and {} turns",
                    exporter.tally.sent - before.sent,
                    exporter.tally.turns - before.turns
                );
            }
        }
        std::thread::sleep(POLL);
    }
}

fn report(exporter: &Exporter) {
    let t = &exporter.tally;
    for note in &t.notes {
        eprintln!("kaizen-hook export: {note}");
    }
    if t.unreadable > 0 {
        eprintln!("kaizen-hook export: skipped {} lines that are not events (see the log)", t.unreadable);
    }
    let what = match (&exporter.logs, &exporter.traces) {
        (Some(_), Some(_)) => format!("{} events and {} turns ({} spans)", t.sent, t.turns, t.spans),
        (Some(_), None) => format!("{} events", t.sent),
        _ => format!("{} turns ({} spans)", t.turns, t.spans),
    };
    println!(
        "exported {what} from {} sessions to {}{}",
        t.sessions,
        exporter.destinations(),
        if t.rejected > 0 { format!(" ({} rejected by the collector)", t.rejected) } else { String::new() }
    );
}

fn fail(message: &str) -> ExitCode {
    eprintln!("kaizen-hook export: {message}");
    ExitCode::FAILURE
}
