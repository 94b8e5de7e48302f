//! `report --html` and `show --html` through the real binary, on sessions
//! replayed from the real agents' captured payloads (Claude Code with its
//! real transcript for tokens and cost; Codex, Gemini CLI, Copilot CLI): one
//! self-contained page whose figures equal `report --json`'s, with the
//! agents' text escaped; small with 10,000 events; and read by a real
//! browser (headless Chromium) without a console message or a request.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOSTILE_PROMPT: &str = "<script>alert(1)</script> and \"quotes\" & 'apostrophes'";
const HOSTILE_BRANCH: &str = "x<b>y&'z";
const CLAUDE: &str = "922b7cea-d952-4257-9337-1f5c64b825e2";

/// A Claude Code session replayed from the real CLI's payloads, as `id`,
/// with the real transcript of that scenario (its model renamed to `model`).
fn claude_session(env: &Env, id: &str, model: &str, prompt: Option<&str>) {
    let transcript = env.tmp.path().join(format!("{id}.jsonl"));
    let text = std::fs::read_to_string(fixtures_dir().join("transcripts/claude/session.jsonl")).unwrap();
    std::fs::write(&transcript, text.replace("claude-opus-5-5", model)).unwrap();
    for event in
        ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"]
    {
        let mut payload = env.fixture("real/claude", event);
        payload["session_id"] = id.into();
        payload["transcript_path"] = transcript.to_string_lossy().as_ref().into();
        if let (Some(prompt), "UserPromptSubmit") = (prompt, event) {
            payload["prompt"] = prompt.into();
        }
        env.hook(&["event", "--agent", "claude"], &payload);
    }
}

/// Every payload an agent's real CLI sent, replayed in file order.
fn replay(env: &Env, agent: &str) {
    for name in fixture_names(&format!("real/{agent}")) {
        env.hook(&["event", "--agent", agent], &env.fixture(&format!("real/{agent}"), &name));
    }
}

/// Two Claude Code sessions with costs (two models, two commits, the second
/// on a branch whose name is markup), and Codex, Gemini and Copilot sessions.
fn recorded() -> Env {
    let env = Env::new();
    claude_session(&env, CLAUDE, "claude-opus-5-5", Some(HOSTILE_PROMPT));
    env.git(&["checkout", "-q", "-b", HOSTILE_BRANCH]);
    std::fs::write(env.repo.join("new.txt"), "x\n").unwrap();
    env.git(&["add", "."]);
    env.git(&["commit", "-qm", "second"]);
    claude_session(&env, "5e55104b-0000-4000-8000-000000000002", "claude-sonnet-4-5", None);
    for agent in ["codex", "gemini", "copilot"] {
        replay(&env, agent);
    }
    env
}

fn json(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args, b"");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Writes the page with `--out` and reads it back.
fn page(env: &Env, args: &[&str], name: &str) -> (PathBuf, String) {
    let path = env.tmp.path().join(name);
    let mut all = args.to_vec();
    all.extend(["--html", "--out", path.to_str().unwrap()]);
    let out = env.run(&all, b"");
    assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "--out writes nothing on stdout");
    let html = std::fs::read_to_string(&path).unwrap();
    (path, html)
}

/// Self-contained: no script, nothing that could be fetched, the policy that says so.
fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no script");
    for fetch in ["http://", "https://", "src=", "url(", "@import", "<link", "<iframe", "<object", "<embed"] {
        assert!(!lower.contains(fetch), "nothing fetched: {fetch:?} in the page");
    }
    let policy = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">";
    let head = &html[..html.find("</head>").expect("a head")];
    assert!(head.contains(policy) && head.find(policy) < head.find("<style>"), "the policy comes first");
    let ids: HashSet<&str> = html.split(" id=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    for href in html.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        let target = href.strip_prefix('#').unwrap_or_else(|| panic!("a link out of the page: {href}"));
        assert!(ids.contains(target), "a link to #{target}, which is not on the page");
    }
}

#[test]
fn the_page_is_self_contained_and_its_figures_are_report_jsons() {
    let env = recorded();
    let (_, html) = page(&env, &["report"], "report.html");
    assert_self_contained(&html);
    assert!(html.matches("<svg").count() >= 3, "charts drawn as inline SVG");

    let report = json(&env, &["report", "--json"]);
    assert!(report["total"]["cost_usd_e6"].as_i64().unwrap() > 0, "the sessions have costs");
    for (field, want) in [
        ("total.cost_usd_e6", &report["total"]["cost_usd_e6"]),
        ("total.responses", &report["total"]["responses"]),
        ("headline.sessions", &report["headline"]["sessions"]),
        ("headline.tool_calls", &report["headline"]["tool_calls"]),
        ("headline.tool_failures", &report["headline"]["tool_failures"]),
        ("headline.tool_time_ms", &report["headline"]["tool_time_ms"]),
    ] {
        assert_eq!(data_value(&html, 0, field), Some(want.to_string()), "{field}");
    }
    for (by, section) in [("commit", "commits"), ("branch", "branches"), ("agent", "agents"), ("repo", "agents")] {
        let rows = json(&env, &["report", "--by", by, "--json"]);
        let rows = rows["rows"].as_array().unwrap();
        assert!(!rows.is_empty(), "{by}");
        for r in rows {
            let key = r["key"].as_str().unwrap();
            let html_key = key.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;");
            let tr = row(&html, section, &html_key).unwrap_or_else(|| panic!("--by {by}: no row for {key:?}"));
            assert_eq!(data_value(tr, 0, "ran.cost_usd_e6"), Some(r["ran"]["cost_usd_e6"].to_string()), "{by} {key}");
            assert_eq!(data_value(tr, 0, "ran.responses"), Some(r["ran"]["responses"].to_string()), "{by} {key}");
            if by == "commit" && r["produced"]["responses"].as_u64() > Some(0) {
                let produced = r["produced"]["cost_usd_e6"].to_string();
                assert_eq!(data_value(tr, 0, "produced.cost_usd_e6"), Some(produced), "produced {key}");
            }
        }
    }
    let tools = json(&env, &["report", "--by", "tool", "--json"]);
    for t in tools["rows"].as_array().unwrap().iter().take(3) {
        let tr = row(&html, "tools", t["key"].as_str().unwrap()).expect("the busiest tools are listed");
        assert_eq!(data_value(tr, 0, "calls"), Some(t["calls"].to_string()));
        assert_eq!(data_value(tr, 0, "failures"), Some(t["failures"].to_string()));
    }
    let sessions = json(&env, &["sessions", "--json"]);
    let sessions = sessions.as_array().unwrap();
    assert!(sessions.len() >= 5, "claude twice, codex (and its subagent's), gemini, copilot");
    for s in sessions {
        let key = s["key"].as_str().unwrap();
        assert!(html.contains(&format!("<code>{}</code>", &key[..8])), "{key}'s short id");
        assert!(html.contains(&format!("id=\"s-{key}\"")) && html.contains(&format!("id=\"t-{key}\"")), "{key}");
    }
    assert!(html.contains("Bash failed") && html.contains("class=\"fail\""), "a failed call, highlighted");
}

#[test]
fn what_the_agents_sent_is_text_never_markup() {
    let env = recorded();
    let (_, html) = page(&env, &["report"], "report.html");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; and &quot;quotes&quot; &amp; &#39;apostrophes&#39;"));
    assert!(html.contains("x&lt;b&gt;y&amp;&#39;z"), "the branch, escaped");
    for raw in ["<script>", "<b>", "alert(1)</script>"] {
        assert!(!html.contains(raw), "{raw} reached the page as markup");
    }
    let (_, one) = page(&env, &["show", CLAUDE], "session.html");
    assert!(one.contains("&lt;script&gt;alert(1)") && !one.contains("<script"));
}

#[test]
fn show_draws_one_session_whole_with_its_figures() {
    let env = recorded();
    let (_, html) = page(&env, &["show", &CLAUDE[..8]], "session.html");
    assert_self_contained(&html);
    let shown = json(&env, &["show", CLAUDE, "--json"]);
    assert!(shown["cost"]["cost_usd_e6"].as_i64().unwrap() > 0);
    assert_eq!(data_value(&html, 0, "session.cost_usd_e6"), Some(shown["cost"]["cost_usd_e6"].to_string()));
    assert_eq!(data_value(&html, 0, "session.responses"), Some(shown["cost"]["responses"].to_string()));
    let events = shown["events"].as_u64().unwrap();
    assert!(html.contains(&format!("{events} events, step by step")), "every event on the timeline");
    assert!(html.contains("claude-opus-5-5") && html.contains("<svg"), "cost by model and the waterfall");
    let out = env.run(&["show", CLAUDE, "--html"], b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), html, "stdout without --out");
}

#[test]
fn ten_thousand_events_make_a_small_page() {
    let env = recorded();
    let dir = env.sessions_dir();
    let record = std::fs::read_to_string(dir.join(format!("{CLAUDE}.session.json"))).unwrap();
    let lines = std::fs::read_to_string(dir.join(format!("{CLAUDE}.jsonl"))).unwrap();
    // One long session (the newest), and 600 like the replayed one.
    let big = "b1900000-0000-4000-8000-000000000000";
    let mut record_json: Value = serde_json::from_str(&record.replace(CLAUDE, big)).unwrap();
    record_json["started_at_ms"] = (record_json["started_at_ms"].as_u64().unwrap() + 60_000).into();
    std::fs::write(dir.join(format!("{big}.session.json")), record_json.to_string()).unwrap();
    std::fs::write(dir.join(format!("{big}.jsonl")), lines.replace(CLAUDE, big).repeat(500)).unwrap();
    for i in 0..600 {
        let id = format!("bulk-{i:05}");
        std::fs::write(dir.join(format!("{id}.session.json")), record.replace(CLAUDE, &id)).unwrap();
        std::fs::write(dir.join(format!("{id}.jsonl")), lines.replace(CLAUDE, &id)).unwrap();
    }
    let events: usize = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(events >= 20_000, "{events} events");
    let (_, html) = page(&env, &["report"], "big.html");
    assert!(html.len() < 1_000_000, "the page is {} bytes", html.len());
    let sessions = json(&env, &["sessions", "--json"]).as_array().unwrap().len();
    assert!(html.contains(&format!("and {} more (<code>kaizen-hook sessions</code>", sessions - 500)));
    assert!(html.contains(&format!("id=\"t-{big}\"")) && html.contains("more events are not shown here"));
    let report = json(&env, &["report", "--json"]);
    assert_eq!(data_value(&html, 0, "total.cost_usd_e6"), Some(report["total"]["cost_usd_e6"].to_string()));
}

/// Chromium's `--dump-dom` of a page from disk, and what it logged; `None` when it is not installed.
fn chromium(env: &Env, page: &Path) -> Option<(String, String)> {
    let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("chromium is not installed: the page was not checked in a browser (CI installs it)");
        return None;
    }
    let profile = env.tmp.path().join("chromium");
    let mut cmd = env.sandbox(Command::new("chromium"));
    cmd.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        // Any name resolves to nothing: a request would fail, and be logged.
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .env("TMPDIR", env.tmp.path())
        .env("XDG_CONFIG_HOME", env.tmp.path().join("xdg"))
        .env("XDG_CACHE_HOME", env.tmp.path().join("xdg-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// What Chromium logs when a page breaks its policy, writes to the console, or asks the network.
fn complaints(log: &str) -> Vec<&str> {
    let bad = ["CONSOLE", "Content Security Policy", "Refused to", "net::ERR", "Failed to load"];
    log.lines().filter(|l| bad.iter().any(|b| l.contains(b))).collect()
}

#[test]
fn a_real_browser_reads_the_page_without_a_complaint_or_a_request() {
    let env = recorded();
    let (path, _) = page(&env, &["report"], "report.html");
    let Some((dom, log)) = chromium(&env, &path) else { return };
    let report = json(&env, &["report", "--json"]);
    let cost = report["total"]["cost_usd_e6"].as_i64().unwrap();
    let dollars = cost as f64 / 1e6;
    let said = if dollars >= 1.0 { format!("${dollars:.2}") } else { format!("${dollars:.4}") };
    assert!(dom.contains(&format!("data-value=\"{cost}\"><span class=\"v\">{said}</span>")), "the total cost: {said}");
    assert!(
        dom.contains("Cost per day, by model") && dom.contains("Slowest calls") && dom.matches("<svg").count() >= 3
    );
    assert!(complaints(&log).is_empty(), "chromium complained: {:?}", complaints(&log));

    // The same check sees a page that breaks the rules.
    let bad = env.tmp.path().join("bad.html");
    let page = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&bad, page.replace("</main>", "</main><img src=\"https://example.com/x.png\"><script>1</script>"))
        .unwrap();
    let (_, log) = chromium(&env, &bad).unwrap();
    assert!(complaints(&log).len() >= 2, "the blocked image and script are logged: {log}");
}
