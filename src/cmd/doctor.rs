//! `kaizen-hook doctor`: are the hooks registered, pointing at this binary,
//! firing and writing? Exits non-zero when something needs fixing.

use crate::config::Config;
use crate::install::{self, config_file::ConfigFile};
use crate::store::{self, fsutil};
use crate::{log, time};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

pub struct Doctor;

impl Doctor {
    pub fn run(&self) -> ExitCode {
        let config = Config::from_env();
        let mut report = Report::default();
        let this = std::env::current_exe().ok().map(|p| std::fs::canonicalize(&p).unwrap_or(p));
        match crate::config::home_dir() {
            Some(home) => check_registrations(&home, this.as_deref(), &mut report),
            None => report.problem("HOME is not set: cannot find the agents' configs"),
        }
        check_home(&config.home, &mut report);
        check_last_event(&config.home, &mut report);
        check_log(&config.home, &mut report);
        if report.problems == 0 {
            println!("\nall good");
            ExitCode::SUCCESS
        } else {
            println!("\n{} problem(s) found", report.problems);
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Report {
    problems: usize,
    registered_somewhere: bool,
}

impl Report {
    fn ok(&self, line: impl AsRef<str>) {
        println!("  ok       {}", line.as_ref());
    }
    fn note(&self, line: impl AsRef<str>) {
        println!("  -        {}", line.as_ref());
    }
    fn problem(&mut self, line: impl AsRef<str>) {
        self.problems += 1;
        println!("  PROBLEM  {}", line.as_ref());
    }
}

fn check_registrations(home: &Path, this: Option<&Path>, report: &mut Report) {
    for (agent, installer) in crate::agents::installers() {
        let path = installer.path(home);
        println!("{} ({})", agent.name, path.display());
        if !path.exists() {
            report.note("not registered (no config file)");
            continue;
        }
        let file = match ConfigFile::load(&path) {
            Ok(file) => file,
            Err(e) => {
                report.problem(e);
                continue;
            }
        };
        let registered = installer.registered(&file.value);
        if registered.is_empty() {
            report.note("not registered (run: kaizen-hook install --agent ".to_string() + agent.name + ")");
            continue;
        }
        report.registered_somewhere = true;
        for problem in (agent.config_problems)(home) {
            report.problem(problem);
        }
        let events: BTreeSet<&str> = registered.iter().map(|(e, _)| e.as_str()).collect();
        report.ok(format!("registered for {} of {} events", events.len(), installer.events().len()));
        let programs: BTreeSet<String> = registered.iter().map(|(_, c)| install::program_of(c)).collect();
        for program in programs {
            check_program(Path::new(&program), this, report);
        }
    }
    if !report.registered_somewhere {
        report.problem("kaizen-hook is not registered for any agent: run `kaizen-hook install`");
    }
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

fn check_last_event(home: &Path, report: &mut Report) {
    let newest = std::fs::read_dir(store::sessions_dir(home))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    match newest {
        Some((when, path)) => {
            let ms = when.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
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
