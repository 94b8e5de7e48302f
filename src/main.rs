//! Entry point. `#![no_main]`: every hook run is a fresh process, and std's
//! runtime start-up (which parses /proc/self/maps to guard the main thread's
//! stack) is a tenth of a run's instructions. The two parts of it that matter
//! here are done by hand in `prepare_process`.
#![no_main]

use clap::Parser;
use kaizen_hook::cmd::Run;
use kaizen_hook::cmd::cli;
use kaizen_hook::{alloc, cmd, config, log, time};
use std::ffi::{CStr, c_char, c_int};
use std::io::{IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: alloc::KaizenAlloc = alloc::KaizenAlloc;

// SAFETY: the one symbol named `main` in the program (`no_main`: std defines
// none), with the signature the C runtime calls it with.
#[unsafe(no_mangle)]
#[allow(clippy::not_unsafe_ptr_arg_deref)] // argv comes from the C runtime, never from Rust code
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let arrival = time::Arrival::now();
    prepare_process();
    // The arguments, from `main`'s own: with `no_main`, std's `args_os()` is
    // empty on musl (only glibc hands argv to std before `main`).
    // SAFETY: argc and argv as the C runtime passed them to main: argv holds
    // argc pointers to NUL-terminated strings (then a null one), alive and
    // unchanged for the whole process; each is copied into a String.
    let args: Vec<String> = unsafe {
        (0..argc.max(0) as usize)
            .map(|i| *argv.add(i))
            .take_while(|arg| !arg.is_null())
            .map(|arg| CStr::from_ptr(arg).to_string_lossy().into_owned())
            .collect()
    };
    let person = is_person(&args);
    alloc::set_person(person);
    let config = config::Config::from_env();
    let home = config.home.clone();
    // A hook's panics go to the hook log; a person's go to their terminal
    // only (the hook log is for what agents never see). The agent sees neither.
    panic::set_hook(Box::new(move |info| {
        if person {
            eprintln!("kaizen-hook: {info}");
        } else {
            log::write(&home, &format!("panic: {info}"));
        }
    }));
    // A panic must never cross this extern "C" boundary (that aborts with a signal).
    let failed = if person { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    let code = panic::catch_unwind(|| run(&args, &config, arrival)).unwrap_or(failed);
    let _ = std::io::stdout().flush();
    if code == ExitCode::SUCCESS { 0 } else { 1 }
}

/// What std's start-up would have done that we rely on: writes to a closed
/// pipe are errors, not a SIGPIPE kill; a file-size limit is an error, not a
/// SIGXFSZ kill; and fds 0-2 are open, so no file we open becomes "stdout".
fn prepare_process() {
    // No safe API sets a signal's disposition (std's start-up does it with libc too).
    // SAFETY: plain libc calls at start-up, before any thread exists: `signal`
    // with SIG_IGN installs no handler; `poll` reads and writes only `fds`, our
    // array of three; `open` takes a constant NUL-terminated path.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        // One poll asks about all three (a closed one answers POLLNVAL).
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
        if libc::poll(fds.as_mut_ptr(), 3, 0) >= 0 {
            // `open` takes the lowest free number: each fills the lowest closed one.
            for _ in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

fn run(args: &[String], config: &config::Config, arrival: time::Arrival) -> ExitCode {
    if let Some(hook) = cli::hook_fast(args) {
        run_hook(hook, config, arrival);
        return ExitCode::SUCCESS;
    }
    let hook = match cli::Cli::try_parse_from(args).map(|cli| cli.command) {
        Ok(cli::Command::Hook(hook)) => hook,
        Ok(cli::Command::Human(command)) => return run_human(&command, config),
        Err(e) if is_person(args) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
        Err(e) => {
            // An agent called us with arguments we do not know (or none):
            // record anyway, and never answer with clap's exit status 2.
            log::write(&config.home, &format!("arguments not understood, recording anyway: {}", e.kind()));
            cli::salvage(args)
        }
    };
    run_hook(hook, config, arrival);
    ExitCode::SUCCESS
}

fn run_human(command: &cli::Human, config: &config::Config) -> ExitCode {
    // `kaizen-hook sessions | head`: a reader that closes the pipe ends the
    // command quietly, by SIGPIPE, as it does for any Unix filter.
    // SAFETY: restoring the default disposition; no handler is involved, and
    // `signal` has no other effect.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    command.run(config)
}

fn is_person(args: &[String]) -> bool {
    match args.get(1) {
        Some(word) => cli::HUMAN_WORDS.contains(&word.as_str()),
        None => std::io::stdin().is_terminal(),
    }
}

/// A hook run never fails in the agent's eyes: panics are caught (and logged
/// by the hook set in `main`), and the exit status is 0 whatever happened.
fn run_hook(hook: cli::HookCommand, config: &config::Config, arrival: time::Arrival) {
    let cli::HookCommand { category, args } = hook;
    let run = cmd::hook::HookRun { category, agent: args.agent, event: args.event, payload: args.payload };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| run.run(config, arrival)));
}
