//! `kaizen-hook doctor`: are the hooks registered, pointing at this binary,
//! allowed to run by the agent's own config, firing and writing? Exits
//! non-zero when something needs fixing.

use super::Run;
use crate::agents::Agent;
use crate::config::Config;
use crate::install::{self, Installer};
use crate::store::{self, Listed, fsutil};
use crate::{log, time};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct Doctor;

impl Run for Doctor {
    fn run(&self, config: &Config) -> ExitCode {
        let mut report = Report::default();
        let this = std::env::current_exe().ok().map(|p| std::fs::canonicalize(&p).unwrap_or(p));
        let seen = Seen {
            this: this.as_deref(),
            activity: if config.home_refused.is_some() { BTreeMap::new() } else { activity(&config.home) },
        };
        match crate::config::home_dir() {
            Some(home) => check_registrations(&home, &seen, &mut report),
            None => report.problem("HOME is not set: cannot find the agents' configs"),
        }
        match &config.home_refused {
            Some(why) => report.problem(why),
            None => {
                check_home(&config.home, &mut report);
                check_spool(&config.home, &mut report);
                check_last_event(&config.home, &mut report);
                check_log(&config.home, &mut report);
            }
        }
        match (report.problems, report.warnings) {
            (0, 0) => println!("\nall good"),
            (0, warnings) => println!("\nall good ({warnings} warning(s) above)"),
            (problems, _) => {
                println!("\n{problems} problem(s) found");
                return ExitCode::FAILURE;
            }
        }
        ExitCode::SUCCESS
    }
}

#[derive(Default)]
struct Report {
    problems: usize,
    warnings: usize,
    registered_somewhere: bool,
}

/// What doctor knows before it looks at the agents: this binary, and when
/// each agent's sessions were last recorded.
struct Seen<'a> {
    this: Option<&'a Path>,
    activity: BTreeMap<String, u64>,
}

/// A registration that has never fired is a problem only once it has had its
/// chance: registered at least this long ago (by its config file's mtime,
/// which can only make it look younger) while other agents' sessions were
/// recorded after it. A registration made today, or one for an agent that
/// nobody has used since, is a warning: nothing proves its hooks are broken.
const NEVER_FIRED_AFTER_MS: u64 = 24 * 3600 * 1000;

impl Report {
    fn ok(&self, line: impl AsRef<str>) {
        println!("  ok       {}", line.as_ref());
    }
    fn note(&self, line: impl AsRef<str>) {
        println!("  -        {}", line.as_ref());
    }
    fn warn(&mut self, line: impl AsRef<str>) {
        self.warnings += 1;
        println!("  warning  {}", line.as_ref());
    }
    fn problem(&mut self, line: impl AsRef<str>) {
        self.problems += 1;
        println!("  PROBLEM  {}", line.as_ref());
    }
}

fn check_registrations(home: &Path, seen: &Seen, report: &mut Report) {
    for (agent, installer) in crate::agents::installers() {
        check_agent(agent, installer, home, seen, report);
    }
    if !report.registered_somewhere {
        report.problem("kaizen-hook is not registered for any agent: run `kaizen-hook install`");
    }
}

fn check_agent(agent: &Agent, installer: &Installer, home: &Path, seen: &Seen, report: &mut Report) {
    let path = installer.path(home);
    println!("{} ({})", agent.name, path.display());
    let registered = match installer.registered_at(home) {
        Ok(Some(found)) => found,
        Ok(None) => {
            report.note("not registered (no config file)");
            return;
        }
        Err(e) => {
            report.problem(e);
            return;
        }
    };
    if registered.is_empty() {
        report.note("not registered (run: kaizen-hook install --agent ".to_string() + agent.name + ")");
        return;
    }
    report.registered_somewhere = true;
    let events: BTreeSet<&str> = registered.iter().map(|(e, _)| e.as_str()).collect();
    report.ok(format!("registered for {} of {} events", events.len(), installer.events().len()));
    let programs: BTreeSet<String> = registered.iter().map(|(_, c)| install::program_of(c)).collect();
    for program in programs {
        check_program(Path::new(&program), seen.this, report);
    }
    let problems = (agent.config_problems)(home);
    for problem in &problems {
        report.problem(problem);
    }
    if let Some(note) = installer.note {
        report.note(note);
    }
    check_fired(agent, &path, &seen.activity, !problems.is_empty(), report);
}

/// Whether the agent's hooks have ever recorded a session; see `NEVER_FIRED_AFTER_MS`.
fn check_fired(agent: &Agent, config: &Path, activity: &BTreeMap<String, u64>, explained: bool, report: &mut Report) {
    let now = time::now_ms();
    if let Some(newest) = activity.get(agent.name) {
        report.ok(format!(
            "recording: a session was last recorded {} ago",
            human_age(now.saturating_sub(*newest) / 1000)
        ));
        return;
    }
    let registered = std::fs::metadata(config).and_then(|m| m.modified()).map(ms_of).unwrap_or(now);
    let others_since = activity.iter().any(|(name, at)| name != agent.name && *at > registered);
    let age = now.saturating_sub(registered);
    let none = format!("no {} session recorded yet", agent.title);
    if explained {
        report.warn(format!("{none} (the problem above explains it)"));
    } else if others_since && age >= NEVER_FIRED_AFTER_MS {
        report.problem(format!(
            "{none}, though kaizen-hook has been registered for {} at least ({} unchanged since) and other agents' sessions were recorded since: its hooks are not running. Start a {} session and run doctor again; if you do not use it, run `kaizen-hook uninstall --agent {}`",
            human_age(age / 1000),
            name(config),
            agent.title,
            agent.name
        ));
    } else {
        report.warn(format!("{none}: start one, then run doctor again"));
    }
}

/// When each agent's sessions were last recorded: the newest mtime of its
/// records, on the same clock as the config files' mtimes it is compared with.
fn activity(home: &Path) -> BTreeMap<String, u64> {
    #[derive(serde::Deserialize)]
    struct Named {
        agent: String,
    }
    let mut newest: BTreeMap<String, u64> = BTreeMap::new();
    for files in store::list(home, Listed::Record).into_iter().flatten() {
        let Ok(modified) = std::fs::symlink_metadata(&files.record).and_then(|m| m.modified()) else { continue };
        let Some(named) = std::fs::read(&files.record).ok().and_then(|b| serde_json::from_slice::<Named>(&b).ok())
        else {
            continue;
        };
        let at = newest.entry(named.agent).or_default();
        *at = (*at).max(ms_of(modified));
    }
    newest
}

fn ms_of(when: std::time::SystemTime) -> u64 {
    when.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn check_program(program: &Path, this: Option<&Path>, report: &mut Report) {
    let Ok(meta) = std::fs::metadata(program) else {
        report.problem(format!("registered binary {} does not exist", program.display()));
        return;
    };
    if meta.permissions().mode() & 0o111 == 0 {
        report.problem(format!("registered binary {} is not executable", program.display()));
        return;
    }
    let canonical = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    if Some(canonical.as_path()) == this {
        report.ok(format!("runs this binary ({})", program.display()));
    } else {
        report.problem(format!(
            "runs {}, not this binary ({}): run `kaizen-hook install` again to update it",
            program.display(),
            this.map_or("unknown".into(), |p| p.display().to_string())
        ));
    }
}

fn check_home(home: &Path, report: &mut Report) {
    println!("KAIZEN_HOME ({})", home.display());
    let sessions = store::sessions_dir(home);
    let probe = sessions.join(format!(".doctor-{}", std::process::id()));
    let writable = fsutil::ensure_private_dir(home)
        .and_then(|_| fsutil::ensure_private_dir(&sessions))
        .and_then(|_| fsutil::open_append(&probe).map(drop))
        .and_then(|_| std::fs::remove_file(&probe));
    match writable {
        Ok(()) => report.ok("writable"),
        Err(e) => report.problem(format!("not writable: {e}")),
    }
}

/// Events that found the session lock held past the point of waiting wait
/// in a spool until the session's next run merges them.
fn check_spool(home: &Path, report: &mut Report) {
    let backlog = store::spool::backlog(&store::sessions_dir(home));
    if backlog.waiting > 0 {
        report.warn(format!(
            "{} spooled event(s) not merged yet: the session lock was held too long (a frozen or killed hook); \
             each session's next hook merges them",
            backlog.waiting
        ));
    }
    if backlog.bad > 0 {
        report.problem(format!("{} unreadable spool file(s) set aside (*.spool/*.bad); see the log", backlog.bad));
    }
}

fn check_last_event(home: &Path, report: &mut Report) {
    let newest = store::list(home, Listed::Events)
        .into_iter()
        .flatten()
        .filter_map(|f| Some((std::fs::symlink_metadata(&f.events).ok()?.modified().ok()?, f.events)))
        .max();
    match newest {
        Some((when, path)) => {
            let ms = ms_of(when);
            let ago = time::now_ms().saturating_sub(ms) / 1000;
            report.ok(format!(
                "last event recorded {} ago ({}, {})",
                human_age(ago),
                time::format_utc(ms),
                name(&path)
            ));
        }
        None if report.registered_somewhere => {
            report.note("no event recorded yet: start a session in a registered agent")
        }
        None => report.note("no event recorded yet"),
    }
}

fn check_log(home: &Path, report: &mut Report) {
    let path = log::path(home);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        report.ok("no errors logged");
        return;
    }
    report.note(format!("last of {} log lines ({}):", lines.len(), path.display()));
    for line in &lines[lines.len().saturating_sub(5)..] {
        println!("             {line}");
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        0..=89 => format!("{secs}s"),
        90..=5399 => format!("{}m", secs / 60),
        5400..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
