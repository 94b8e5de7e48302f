//! The kaizen-hook benchmark: the speed targets of docs/performance.md, measured side by side in one
//! run and printed as one table. Runs of the two sides alternate (A B A B ...)
//! so machine drift cancels out, and every run gets its own payload (its own
//! `tool_use_id` or session) so no cache or de-duplication path is measured by
//! accident. Run it with `bench/run.sh`.

mod history;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    runs: usize,
    files: usize,
    big_files: Option<usize>,
    /// Rounds of each ratio row: the table shows their median and spread.
    rounds: usize,
    /// The kaizen-hook to measure (bench/run.sh passes the one install.sh installs).
    hook: Option<PathBuf>,
    hook_kind: String,
    /// The floor built musl static non-PIE, when the machine can build it.
    static_floor: Option<PathBuf>,
    /// Copies of the four seed sessions for the read-side rows.
    history_sizes: Vec<usize>,
    /// Only the read-side rows.
    read_only: bool,
}

#[derive(Clone)]
struct Row {
    what: String,
    ours: String,
    reference: String,
    ratio: Option<f64>,
    /// The ratio of each round, when there were several.
    spread: Vec<f64>,
    target: String,
    pass: bool,
}

#[derive(Clone)]
struct Bench {
    hook: PathBuf,
    floor: PathBuf,
    static_floor: Option<PathBuf>,
    work: PathBuf,
    home: PathBuf,
    user_home: PathBuf,
    budget_ms: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure-rss") {
        return measure_rss(&args[2], &args[3..]);
    }
    let options = parse_options();
    let bin_dir = std::env::current_exe().expect("current_exe").parent().unwrap().to_path_buf();
    let root = bin_dir.parent().unwrap().to_path_buf(); // target/
    let work = root.join("bench-data");
    std::fs::create_dir_all(&work).unwrap();
    let bench = Bench {
        hook: options.hook.clone().unwrap_or_else(|| bin_dir.join("kaizen-hook")),
        floor: bin_dir.join("kaizen-floor"),
        static_floor: options.static_floor.clone(),
        home: work.join("kaizen-home"),
        user_home: work.join("home"),
        work: work.clone(),
        budget_ms: 1000,
    };
    let _ = std::fs::remove_dir_all(&bench.home);
    std::fs::create_dir_all(&bench.user_home).unwrap();
    assert!(bench.hook.exists(), "build first: cargo build --release --workspace");

    if options.read_only {
        let rows = bench.read_side(&options.history_sizes, options.rounds);
        return print_table("the read side", &rows);
    }
    let repo = generate_repo(&work.join(format!("tree-{}", options.files)), options.files, 60);
    let (files, loc) = count_tree(&repo);
    let syscall = openat_close_pair(&repo.join("src/m000/f0.rs"));
    let tokei = find_tokei(&root);
    let mut rows = Vec::new();

    let rounds = options.rounds;
    rows.extend(in_rounds(rounds, || bench.tool_use_vs_floors(&repo, options.runs)));
    rows.extend(in_rounds(rounds, || vec![bench.session_length(&repo, options.runs)]));
    match &tokei {
        Some(tokei) => rows.extend(in_rounds(rounds, || vec![bench.cold_start_vs_tokei(&repo, tokei, 10)])),
        None => eprintln!("tokei unavailable: the cold session-start row is skipped"),
    }
    rows.extend(in_rounds(rounds, || vec![bench.warm_start_vs_git_status(&repo, 15)]));
    rows.push(bench.stdin_left_open(&repo));
    if let Some(big) = options.big_files {
        let big_repo = generate_repo(&work.join(format!("tree-{big}")), big, 12);
        rows.push(bench.budget_on_big_repo(&big_repo, 3));
    }
    rows.push(bench.peak_rss(&repo, 20));
    rows.push(bench.stop_with_new_transcript_lines(&repo, options.runs / 4));
    rows.push(bench.stop_on_a_big_transcript(&repo));
    rows.extend(bench.read_side(&options.history_sizes, options.rounds));

    let about = format!(
        "{files}-file repo ({loc} lines), an openat+close pair {:.2} µs, budget {} ms, kaizen-hook {} ({})",
        syscall.as_secs_f64() * 1e6,
        bench.budget_ms,
        bench.hook.display(),
        options.hook_kind
    );
    print_table(&about, &rows);
}

fn print_table(about: &str, rows: &[Row]) {
    println!(
        "\nkaizen-hook benchmark: {about}, {} cores\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!("| measurement | kaizen-hook | reference | ratio | rounds | target | result |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio = r.ratio.map_or("".into(), |x| format!("{x:.2}×"));
        let spread = r.spread.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ");
        let result = if r.pass { "PASS" } else { "FAIL" };
        println!("| {} | {} | {} | {ratio} | {spread} | {} | {result} |", r.what, r.ours, r.reference, r.target);
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!("\n{} of {} targets met", rows.len() - failed, rows.len());
}

fn parse_options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let value = |name: &str| text(name)?.parse().ok();
    let quick = args.iter().any(|a| a == "--quick");
    Options {
        runs: value("--runs").unwrap_or(if quick { 60 } else { 200 }),
        files: value("--files").unwrap_or(15_000),
        big_files: if quick { None } else { Some(value("--big-files").unwrap_or(100_000)) },
        rounds: value("--rounds").unwrap_or(if quick { 1 } else { 3 }).max(1),
        hook: text("--hook").map(PathBuf::from),
        hook_kind: text("--hook-kind").unwrap_or_else(|| "cargo's release build".into()),
        static_floor: text("--static-floor").map(PathBuf::from).filter(|p| p.exists()),
        // 10k and 100k events (70 per session), the 8,000 sessions of the
        // read-side issue, and 1M events.
        history_sizes: if quick { vec![36, 358] } else { vec![36, 358, 2000, 3572] },
        read_only: args.iter().any(|a| a == "--read-only"),
    }
}

/// Measures the same rows `rounds` times: each row keeps its median round
/// (by ratio), with every round's ratio as its spread; it passes when that
/// median round does.
fn in_rounds(rounds: usize, mut measure: impl FnMut() -> Vec<Row>) -> Vec<Row> {
    let all: Vec<Vec<Row>> = (0..rounds).map(|_| measure()).collect();
    let width = all[0].len();
    (0..width)
        .map(|i| {
            let mut round: Vec<Row> = all.iter().map(|rows| rows[i].clone()).collect();
            round.sort_by(|a, b| a.ratio.unwrap_or(0.0).total_cmp(&b.ratio.unwrap_or(0.0)));
            let spread = if rounds > 1 { round.iter().filter_map(|r| r.ratio).collect() } else { Vec::new() };
            Row { spread, ..round.swap_remove(rounds / 2) }
        })
        .collect()
}

impl Bench {
    fn hook_command(&self, args: &[&str], cwd: &Path) -> Command {
        let mut cmd = Command::new(&self.hook);
        cmd.args(args)
            .env("KAIZEN_HOME", &self.home)
            .env("HOME", &self.user_home)
            .env("KAIZEN_HOOK_BUDGET_MS", self.budget_ms.to_string())
            .current_dir(cwd);
        cmd
    }

    fn floor_command(&self, floor: &Path) -> Command {
        let mut cmd = Command::new(floor);
        cmd.arg(self.work.join("floor.jsonl"));
        cmd
    }

    /// Static floor, dynamic floor and hook in turn, on the same payloads.
    fn tool_use_vs_floors(&self, repo: &Path, runs: usize) -> Vec<Row> {
        let (mut ours, mut dynamic, mut fixed) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            let payload = tool_payload("bench-hot", &format!("toolu_hot_{i}_{}", self.round()), repo);
            if let Some(floor) = &self.static_floor {
                fixed.push(run(&mut self.floor_command(floor), payload.as_bytes()).0);
            }
            dynamic.push(run(&mut self.floor_command(&self.floor), payload.as_bytes()).0);
            ours.push(run(&mut self.hook_command(&["tool-use", "--agent", "claude"], repo), payload.as_bytes()).0);
        }
        let what = format!("`tool-use`, median of {runs}");
        let mut rows = vec![row(what.clone(), median(&ours), "dynamic floor", median(&dynamic), 1.0)];
        match self.static_floor {
            Some(_) => rows.push(row(what, median(&ours), "static floor (musl, non-PIE)", median(&fixed), 2.5)),
            None => eprintln!("no static floor (the musl target is not installed): its row is skipped"),
        }
        rows
    }

    /// A number for this round's payloads, so no two rounds share a call id.
    fn round(&self) -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    }

    fn session_length(&self, repo: &Path, runs: usize) -> Row {
        let sessions = self.home.join("sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        // One real line, repeated: the writer reads only the file's tail.
        run(&mut self.hook_command(&["tool-use"], repo), tool_payload("bench-seed", "toolu_seed", repo).as_bytes());
        let seed = std::fs::read_to_string(sessions.join("bench-seed.jsonl")).unwrap();
        let line = seed.lines().next().unwrap().to_string();
        let write_session = |id: &str, n: usize| {
            let mut text = String::with_capacity(n * (line.len() + 1));
            for seq in 0..n {
                text.push_str(&line.replacen("\"seq\":0", &format!("\"seq\":{seq}"), 1).replace("bench-seed", id));
                text.push('\n');
            }
            std::fs::write(sessions.join(format!("{id}.jsonl")), text).unwrap();
        };
        write_session("bench-long", 10_000);
        let (mut short, mut long) = (Vec::new(), Vec::new());
        for i in 0..runs {
            write_session("bench-short", 10); // back to event 10 each time, untimed
            let payload = tool_payload("bench-short", &format!("toolu_s_{i}_{}", self.round()), repo);
            short.push(run(&mut self.hook_command(&["tool-use"], repo), payload.as_bytes()).0);
            let payload = tool_payload("bench-long", &format!("toolu_l_{i}_{}", self.round()), repo);
            long.push(run(&mut self.hook_command(&["tool-use"], repo), payload.as_bytes()).0);
        }
        row(
            format!("`tool-use` at event 10,000, median of {runs}"),
            median(&long),
            "`tool-use` at event 10",
            median(&short),
            1.1,
        )
    }

    /// A user's first run: a fresh `KAIZEN_HOME` each time (nothing cached),
    /// then `tokei` on the same tree; wall, user and system time of each.
    fn cold_start_vs_tokei(&self, repo: &Path, tokei: &Path, runs: usize) -> Row {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let round = self.round();
        let fresh = Bench { home: self.work.join("cold-home"), ..self.clone() };
        for i in 0..runs {
            let _ = std::fs::remove_dir_all(&fresh.home);
            let payload = start_payload(&format!("bench-cold-{round}-{i}"), repo);
            ours.push(run_timed(&mut fresh.hook_command(&["session-start"], repo), payload.as_bytes()));
            let mut cmd = Command::new(tokei);
            cmd.arg(repo);
            theirs.push(run_timed(&mut cmd, b""));
        }
        fresh.check_snapshot(&format!("bench-cold-{round}-{}", runs - 1));
        let (ours, theirs) = (Times::median(&ours), Times::median(&theirs));
        let mut row = row(
            format!("`session-start` cold, a fresh `KAIZEN_HOME` (files + LOC + dirty), median of {runs}"),
            ours.wall,
            "`tokei` on the same tree",
            theirs.wall,
            1.0,
        );
        row.ours = format!("{} ({})", row.ours, ours.cpu());
        row.reference = format!("{} ({})", row.reference, theirs.cpu());
        row
    }

    fn warm_start_vs_git_status(&self, repo: &Path, runs: usize) -> Row {
        run(&mut self.hook_command(&["session-start"], repo), start_payload("bench-warmup", repo).as_bytes());
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let round = self.round();
        for i in 0..runs {
            let payload = start_payload(&format!("bench-warm-{round}-{i}"), repo);
            ours.push(run(&mut self.hook_command(&["session-start"], repo), payload.as_bytes()).0);
            let mut cmd = Command::new("git");
            cmd.args(["status", "--porcelain"]).current_dir(repo).env("HOME", &self.user_home);
            theirs.push(run(&mut cmd, b"").0);
        }
        self.check_snapshot(&format!("bench-warm-{round}-{}", runs - 1));
        row(
            format!("`session-start` warm (counts cached, dirty for real), median of {runs}"),
            median(&ours),
            "`git status --porcelain`",
            median(&theirs),
            1.0,
        )
    }

    /// The session's record must hold real figures, or the timing means nothing.
    fn check_snapshot(&self, session: &str) {
        let path = self.home.join("sessions").join(format!("{session}.session.json"));
        let record = std::fs::read_to_string(&path).unwrap_or_default();
        if record.contains("\"repo_total_loc\": null") || record.contains("\"dirty_start\": null") {
            eprintln!("warning: {session} has unknown figures (over budget?): {record}");
        }
    }

    fn stdin_left_open(&self, repo: &Path) -> Row {
        let mut worst = Duration::ZERO;
        for (i, complete) in [true, false].into_iter().enumerate() {
            let mut payload = tool_payload("bench-open", &format!("toolu_open_{i}"), repo);
            if !complete {
                payload.truncate(payload.len() / 2);
            }
            let mut cmd = self.hook_command(&["tool-use"], repo);
            let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            let started = Instant::now();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(payload.as_bytes()).unwrap();
            child.wait().unwrap(); // stdin is still open
            worst = worst.max(started.elapsed());
            drop(stdin);
        }
        self.within_budget("stdin left open (a whole payload, then half of one)".into(), worst)
    }

    fn within_budget(&self, what: String, worst: Duration) -> Row {
        let ms = worst.as_secs_f64() * 1000.0;
        Row {
            what,
            ours: format!("{ms:.1} ms worst"),
            reference: format!("budget {} ms", self.budget_ms),
            ratio: None,
            spread: Vec::new(),
            target: "≤ budget".into(),
            pass: ms <= self.budget_ms as f64,
        }
    }

    fn budget_on_big_repo(&self, repo: &Path, runs: usize) -> Row {
        let (files, _) = count_tree(repo);
        let mut worst = Duration::ZERO;
        for i in 0..runs {
            let _ = std::fs::remove_dir_all(self.home.join("cache"));
            let payload = start_payload(&format!("bench-big-{i}"), repo);
            worst = worst.max(run(&mut self.hook_command(&["session-start"], repo), payload.as_bytes()).0);
        }
        self.within_budget(format!("`session-start` cold on a {files}-file repo, worst of {runs}"), worst)
    }

    /// Linux charges a vfork-spawned child with its parent's peak RSS, and
    /// this harness has held whole session files: the runs are started by a
    /// fresh, small copy of the harness (`--measure-rss`) instead.
    fn peak_rss(&self, repo: &Path, runs: usize) -> Row {
        let me = std::env::current_exe().unwrap();
        let stdin = self.work.join("rss-payload.json");
        // (peak RSS in KiB, minor page faults) of one run.
        let measure = |cmd: &Command| -> (i64, i64) {
            let mut outer = Command::new(&me);
            outer.arg("--measure-rss").arg(&stdin).arg(cmd.get_program()).args(cmd.get_args());
            for (key, value) in cmd.get_envs() {
                if let Some(value) = value {
                    outer.env(key, value);
                }
            }
            outer.current_dir(cmd.get_current_dir().unwrap_or(Path::new(".")));
            let out = outer.output().expect("measure");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut numbers = text.split_whitespace().map(|n| n.parse().unwrap_or(i64::MAX));
            (numbers.next().unwrap_or(i64::MAX), numbers.next().unwrap_or(i64::MAX))
        };
        let (mut ours, mut floor) = (0, 0);
        let (mut our_faults, mut floor_faults) = (Vec::new(), Vec::new());
        let static_floor = self.static_floor.as_ref().unwrap_or(&self.floor);
        for i in 0..runs {
            std::fs::write(&stdin, tool_payload("bench-rss", &format!("toolu_rss_{i}"), repo)).unwrap();
            let (rss, faults) = measure(&self.hook_command(&["tool-use"], repo));
            ours = ours.max(rss);
            our_faults.push(faults);
            floor = floor.max(measure(&self.floor_command(&self.floor)).0);
            floor_faults.push(measure(&self.floor_command(static_floor)).1);
        }
        let middle = |v: &mut Vec<i64>| {
            v.sort();
            v[v.len() / 2]
        };
        Row {
            what: format!("peak RSS of `tool-use`, worst of {runs} (page faults, median)"),
            ours: format!("{:.1} MiB ({} faults)", ours as f64 / 1024.0, middle(&mut our_faults)),
            reference: format!(
                "floor {:.1} MiB (static floor: {} faults)",
                floor as f64 / 1024.0,
                middle(&mut floor_faults)
            ),
            ratio: None,
            spread: Vec::new(),
            target: "≤ 16 MiB".into(),
            pass: ours <= 16 * 1024,
        }
    }
}

impl Bench {
    /// A Stop whose transcript grew by one ~1 KB response against a Stop
    /// whose transcript has nothing new: what reading it costs a turn end.
    fn stop_with_new_transcript_lines(&self, repo: &Path, runs: usize) -> Row {
        let dir = self.work.join("transcripts");
        std::fs::create_dir_all(&dir).unwrap();
        let (grown, still) = (dir.join("bench-grown.jsonl"), dir.join("bench-still.jsonl"));
        std::fs::write(&grown, "").unwrap();
        std::fs::write(&still, transcript_line(0)).unwrap();
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        for i in 0..runs {
            append(&grown, &transcript_line(i + 1));
            let stop = |session: &str, path: &Path| stop_payload(session, path, i, repo);
            plain.push(run(&mut self.hook_command(&["stop"], repo), stop("bench-still", &still).as_bytes()).0);
            ours.push(run(&mut self.hook_command(&["stop"], repo), stop("bench-grown", &grown).as_bytes()).0);
        }
        let (a, b) = (median(&ours), median(&plain));
        row(
            format!("`stop` reading a 1 KB transcript increment, median of {runs}"),
            a,
            "a `stop` with nothing new",
            b,
            1.5,
        )
    }

    /// A Stop on a 50 MB transcript read from scratch: each turn end reads
    /// what fits its budget, the next ones the rest, and the total is exact.
    fn stop_on_a_big_transcript(&self, repo: &Path) -> Row {
        let path = self.work.join("transcripts/bench-big.jsonl");
        let mut text = String::new();
        let mut responses = 0;
        while text.len() < 50 << 20 {
            text.push_str(&transcript_line(responses));
            responses += 1;
        }
        std::fs::write(&path, &text).unwrap();
        let session = format!("bench-big-transcript-{}", std::process::id());
        let mut worst = Duration::ZERO;
        let mut stops = 0;
        while stops < 20 && self.cost_events(&session) < responses {
            let payload = stop_payload(&session, &path, stops, repo);
            worst = worst.max(run(&mut self.hook_command(&["stop"], repo), payload.as_bytes()).0);
            stops += 1;
        }
        let counted = self.cost_events(&session);
        let mut row = self.within_budget(
            format!("`stop` on a 50 MB transcript: {counted} of {responses} responses in {stops} turn ends, worst"),
            worst,
        );
        row.pass &= counted == responses;
        row
    }

    fn cost_events(&self, session: &str) -> usize {
        let events =
            std::fs::read_to_string(self.home.join("sessions").join(format!("{session}.jsonl"))).unwrap_or_default();
        events.lines().filter(|l| l.contains("\"kind\":\"Cost\"")).count()
    }
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// One Claude Code `assistant` line of about 1 KB, a response of its own.
fn transcript_line(n: usize) -> String {
    let text = "x".repeat(700);
    format!(
        r#"{{"type":"assistant","timestamp":"2026-11-30T00:00:00.000Z","version":"2.1.332","message":{{"id":"msg_bench_{n}","model":"claude-opus-5-5","role":"assistant","content":[{{"type":"text","text":"{text}"}}],"stop_reason":"end_turn","usage":{{"input_tokens":1101,"output_tokens":31,"cache_read_input_tokens":2001,"cache_creation_input_tokens":501}}}}}}
"#
    )
}

fn stop_payload(session: &str, transcript: &Path, turn: usize, cwd: &Path) -> String {
    format!(
        r#"{{"session_id":"{session}","transcript_path":"{}","cwd":"{}","hook_event_name":"Stop","stop_hook_active":false,"last_assistant_message":"turn {turn}"}}"#,
        transcript.display(),
        cwd.display()
    )
}

fn row(what: String, ours: Duration, reference_name: &str, reference: Duration, target: f64) -> Row {
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    Row {
        what,
        ours: format!("{:.3} ms", ours.as_secs_f64() * 1000.0),
        reference: format!("{reference_name}: {:.3} ms", reference.as_secs_f64() * 1000.0),
        ratio: Some(ratio),
        spread: Vec::new(),
        target: format!("≤ {target}×"),
        pass: ratio <= target,
    }
}

/// Wall, user and system time of one run (user and system summed over its threads).
#[derive(Clone, Copy)]
struct Times {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

impl Times {
    /// The median of each figure on its own.
    fn median(samples: &[Times]) -> Times {
        let of = |f: fn(&Times) -> Duration| median(&samples.iter().map(f).collect::<Vec<_>>());
        Times { wall: of(|t| t.wall), user: of(|t| t.user), sys: of(|t| t.sys) }
    }

    fn cpu(&self) -> String {
        format!("user {:.1} ms, sys {:.1} ms", self.user.as_secs_f64() * 1e3, self.sys.as_secs_f64() * 1e3)
    }
}

fn run_timed(cmd: &mut Command, stdin: &[u8]) -> Times {
    let (wall, usage) = spawn_and_wait(cmd, stdin);
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Times { wall, user: time(usage.ru_utime), sys: time(usage.ru_stime) }
}

/// What one system call costs on this machine, the kind of machine the table
/// was measured on: an `openat` and a `close` of `file`, the median of 20 batches of 5,000.
fn openat_close_pair(file: &Path) -> Duration {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(file.as_os_str().as_bytes()).unwrap();
    let batches: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..5_000 {
                // SAFETY: a NUL-terminated path we own; the descriptor is ours to close.
                let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                assert!(fd >= 0, "open {}", file.display());
                unsafe { libc::close(fd) };
            }
            started.elapsed() / 5_000
        })
        .collect();
    median(&batches)
}

/// Wall time from spawn to exit, and the child's peak RSS in KiB.
fn run(cmd: &mut Command, stdin: &[u8]) -> (Duration, i64) {
    let (took, rss, _) = run_counted(cmd, stdin);
    (took, rss)
}

/// Wall time from spawn to exit, the child's peak RSS in KiB and its minor page faults.
fn run_counted(cmd: &mut Command, stdin: &[u8]) -> (Duration, i64, i64) {
    let (took, usage) = spawn_and_wait(cmd, stdin);
    (took, usage.ru_maxrss, usage.ru_minflt)
}

/// Runs `cmd` with `stdin`: its wall time from spawn to exit, and its rusage.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the rusage
fn spawn_and_wait(cmd: &mut Command, stdin: &[u8]) -> (Duration, libc::rusage) {
    let started = Instant::now();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut pipe = child.stdin.take().unwrap();
    let _ = pipe.write_all(stdin);
    drop(pipe);
    let mut status = 0;
    // SAFETY: waiting for our own child, with a zeroed rusage we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    (started.elapsed(), usage)
}

/// `--measure-rss FILE CMD...`: runs CMD with FILE on stdin, prints its peak
/// RSS in KiB and its minor page faults.
fn measure_rss(stdin: &str, command: &[String]) {
    let input = std::fs::read(stdin).expect("stdin file");
    let (_, rss, faults) = run_counted(Command::new(&command[0]).args(&command[1..]), &input);
    println!("{rss} {faults}");
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn tool_payload(session: &str, call: &str, cwd: &Path) -> String {
    format!(
        r#"{{"session_id":"{session}","prompt_id":"9b1c4e2a-6f3d-4a8b-9c7e-2d5f8a1b3c6e","transcript_path":"/home/dev/.claude/projects/x/{session}.jsonl","cwd":"{}","permission_mode":"default","hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{{"command":"cargo test --workspace","description":"Run the workspace test suite","timeout":120000}},"tool_response":{{"stdout":"running 42 tests\n...\ntest result: ok. 42 passed; 0 failed\n","stderr":"","interrupted":false,"isImage":false}},"tool_use_id":"{call}","duration_ms":8412}}"#,
        cwd.display()
    )
}

fn start_payload(session: &str, cwd: &Path) -> String {
    format!(
        r#"{{"session_id":"{session}","transcript_path":"/home/dev/.claude/projects/x/{session}.jsonl","cwd":"{}","hook_event_name":"SessionStart","source":"startup","model":"claude-sonnet-5"}}"#,
        cwd.display()
    )
}

/// A git repository of `files` files in directories of 100: mostly source
/// text of varied length, some binary files, ignored build output and hidden
/// files; committed and packed. Reused when already there.
fn generate_repo(dir: &Path, files: usize, max_lines: usize) -> PathBuf {
    if dir.join(".git").is_dir() {
        return dir.to_path_buf();
    }
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("generating a {files}-file repository in {} ...", dir.display());
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..files {
        let sub = dir.join(format!("src/m{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let path = sub.join(if i % 50 == 7 { format!(".hidden{i}.cfg") } else { format!("f{i}.rs") });
        if i % 97 == 3 {
            let bytes: Vec<u8> = (0..2048).map(|_| next() as u8).collect();
            std::fs::write(sub.join(format!("asset{i}.bin")), bytes).unwrap();
            continue;
        }
        let lines = 1 + (next() % max_lines as u64) as usize;
        let mut text = String::with_capacity(lines * 40);
        for l in 0..lines {
            text.push_str(&format!("    let value_{l} = compute({i}, {l}); // line {l}\n"));
        }
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(dir.join(".gitignore"), "*.log\n/build/\n").unwrap();
    std::fs::create_dir_all(dir.join("build")).unwrap();
    for i in 0..200 {
        std::fs::write(dir.join(format!("build/out{i}.o")), "ignored\n").unwrap();
        std::fs::write(dir.join(format!("src/m000/trace{i}.log")), "ignored\n").unwrap();
    }
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "bench tree"]);
    // Packed, as a clone or `git gc` leaves a repository: a first run reads clean files' lines from the pack.
    git(&["repack", "-adq"]);
    dir.to_path_buf()
}

/// Files and lines as git sees them, for the table's heading.
fn count_tree(repo: &Path) -> (usize, u64) {
    let out = Command::new("git").args(["ls-files", "-z"]).current_dir(repo).output().unwrap();
    let mut lines = 0;
    let paths: Vec<&[u8]> = out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()).collect();
    for p in &paths {
        let bytes = std::fs::read(repo.join(String::from_utf8_lossy(p).as_ref())).unwrap_or_default();
        if !bytes[..bytes.len().min(8192)].contains(&0) {
            lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    (paths.len(), lines)
}

/// `tokei` from PATH, or installed once into `target/bench-tools` from crates.io.
fn find_tokei(target: &Path) -> Option<PathBuf> {
    let local = target.join("bench-tools/bin/tokei");
    if local.exists() {
        return Some(local);
    }
    if Command::new("tokei").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        return Some(PathBuf::from("tokei"));
    }
    eprintln!("installing tokei into {} (once) ...", target.join("bench-tools").display());
    let installed = Command::new("cargo")
        .args(["install", "tokei", "--locked", "--root"])
        .arg(target.join("bench-tools"))
        .status()
        .is_ok_and(|s| s.success());
    installed.then_some(local)
}
