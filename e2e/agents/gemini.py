"""Gemini CLI, the real CLI, against the scripted Gemini API mock.

Runs, all in one temporary HOME where `kaizen-hook install --agent gemini`
registered the hooks (plus capture.sh beside each, and capture-only hooks on the
events the installer leaves out: BeforeModel, AfterModel, BeforeToolSelection):

  1. run one    `gemini -p ... --yolo --skip-trust --session-id <uuid>`: a shell
                command that succeeds, one that exits 2, write_file, replace,
                read_file, a read of a missing file, two calls in one response
                (shell + read), a subagent (`invoke_agent` generalist, which runs
                one shell command and `complete_task`), a final answer whose
                first request gets HTTP 503 "overloaded" (retried after ~5 s).
  2. run two    `--resume <uuid>`: a shell command whose response reports a
                700,101-token prompt, so the CLI really compresses the history
                before its next call; then `rm -f notes.txt`, denied by a policy
                rule (~/.gemini/policies); an answer.
  3. run three  `--resume <uuid>`: the model answers HTTP 400: the turn fails.
  4. hooks off  `"hooksConfig": {"enabled": false}`: nothing can record; what do
                `install` and `doctor` say?

Headless and offline: GOOGLE_GEMINI_BASE_URL (the mock), GEMINI_API_KEY (dummy),
`security.auth.selectedType: gemini-api-key`, usage statistics, telemetry and
auto-update off in ~/.gemini/settings.json, `--skip-trust` (headless Gemini
refuses an untrusted folder: exit 55). Each run ends the session (SessionEnd)
except run three: Gemini fires no hook at all when a turn fails.

Then every delivery is compared with what kaizen-hook recorded, and `doctor`,
`sessions --json`, `show --json` and the transcript are checked, and the Cost
events kaizen-hook made from the transcripts against the figures the mock served.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/gemini/.
"""

import json
import os
import re
import shutil
import threading
import time
import uuid
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import common
from mock import gemini_api as api

AGENT = "gemini"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / "gemini"

KIND = {
    "SessionStart": "Lifecycle",
    "SessionEnd": "Lifecycle",
    "BeforeAgent": "Message",
    "AfterAgent": "Lifecycle",
    "BeforeTool": "ToolCall",
    "AfterTool": "ToolResult",
    "BeforeModel": "Lifecycle",
    "AfterModel": "Lifecycle",
    "BeforeToolSelection": "Lifecycle",
    "PreCompress": "Lifecycle",
    "Notification": "Lifecycle",
}
# Captured even where the installer registers nothing: what Gemini would tell.
CAPTURE_ONLY = ("BeforeModel", "AfterModel", "BeforeToolSelection")

# KAIZEN_E2E_STRACE=0 turns the network check off (it needs strace on PATH).
STRACE = shutil.which("strace") if os.environ.get("KAIZEN_E2E_STRACE", "1") != "0" else None

# The user's own settings, which install must keep.
USER_SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "ui": {"hideTips": True},
}


def run(checks):
    prefix = common.npm_install(AGENT)
    package = prefix / "node_modules" / "@google" / "gemini-cli"
    gemini = prefix / "node_modules" / ".bin" / "gemini"
    sandbox = common.Sandbox(AGENT)
    try:
        scenario = Scenario(sandbox, gemini, package)
        scenario.play()
        print(scenario.timings())
        verify(checks, scenario)
        if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
            save_fixtures(sandbox, scenario.deliveries)
    finally:
        sandbox.cleanup()


class ProcessWatch:
    """Notes every process (pid → ppid, argv) while the agent runs: the hook's parent is gone by the time we look."""

    def __init__(self):
        self.seen = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def loop(self):
        while not self.stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in self.seen:
                    continue
                try:
                    argv = [a.decode(errors="replace") for a in Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0") if a]
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    self.seen[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), argv)
                except (OSError, IndexError, ValueError):
                    pass
            time.sleep(0.02)


class Scenario:
    def __init__(self, sandbox, gemini, package):
        self.sb = sandbox
        self.gemini = gemini
        self.package = package
        self.settings_path = sandbox.home / ".gemini" / "settings.json"
        self.session_id = str(uuid.uuid4())
        self.mock = api.GeminiMock()
        self.results = {}  # run name -> (returncode, seconds, stdout)
        self.records_after = {}  # run name -> SessionRecord (or None)
        self.deliveries_after = {}  # run name -> number of deliveries
        self.doctor = None
        self.doctor_hooks_off = None
        self.install_hooks_off = None
        self.install_out = None
        self.registered = set()
        self.procs = {}
        self.deliveries = []
        self.events = []

    def timings(self):
        runs = ", ".join(f"{name} {r[1]:.1f} s (exit {r[0]})" for name, r in self.results.items())
        gone = f"; Gemini's session cleanup deleted {len(self.transcripts_deleted)} transcript(s) of the resumed session" if self.transcripts_deleted else ""
        return f"gemini runs: {runs}{gone}"

    def setup(self):
        gdir = self.settings_path.parent
        (gdir / "policies").mkdir(parents=True)
        (gdir / "policies" / "kaizen-e2e-deny.toml").write_text(api.DENY_POLICY)
        self.settings_path.write_text(json.dumps(USER_SETTINGS, indent=2) + "\n")
        self.install_out = self.sb.install(AGENT)
        settings = json.loads(self.settings_path.read_text())
        self.installed_settings = settings
        self.registered = {
            event
            for event, groups in settings.get("hooks", {}).items()
            for group in groups
            for h in group.get("hooks", [])
            if common.is_ours(h.get("command", ""))
        }
        self.sb.add_capture_nested(self.settings_path)
        settings = json.loads(self.settings_path.read_text())
        for event in CAPTURE_ONLY:
            if event not in self.registered:
                group = {"hooks": [{"type": "command", "command": self.sb.capture_command(event), "timeout": 5000}]}
                settings["hooks"].setdefault(event, []).append(group)
        self.settings_path.write_text(json.dumps(settings, indent=2) + "\n")

    def env(self, server):
        return self.sb.env(
            GEMINI_API_KEY="kaizen-e2e-dummy-key",
            GOOGLE_GEMINI_BASE_URL=server.url,
            GEMINI_TELEMETRY_ENABLED="false",
        )

    def gemini_run(self, name, server, *args, timeout=90):
        argv = [self.gemini, *args, "--yolo", "--skip-trust"]
        if STRACE:  # every connect() the agent makes, to prove it talks to loopback only
            argv = [STRACE, "-f", "-qq", "-e", "trace=connect", "-o", self.sb.logs / f"{name}.connect", *argv]
        started = time.monotonic()
        out = self.sb.run(argv, name, timeout=timeout, env=self.env(server))
        self.results[name] = (out.returncode, time.monotonic() - started, out.stdout.decode(errors="replace"))
        self.settle()
        self.records_after[name] = self.sb.records().get(self.session_id)
        self.deliveries_after[name] = len(self.sb.deliveries())
        return out

    def settle(self, timeout=10.0):
        """Gemini does not wait for SessionEnd's hooks: wait until deliveries and events stop changing."""
        last, stable_since = None, time.monotonic()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            now = (len(list(self.sb.capture_dir.glob("*.meta"))), len(self.sb.events()))
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since > 0.6:
                return
            time.sleep(0.1)

    def play(self):
        self.setup()
        with common.MockServer(self.mock) as server, ProcessWatch() as watch:
            self.gemini_run(
                "run1", server, "-p", api.PROMPTS[api.RUN_ONE], "--session-id", self.session_id, "--output-format", "stream-json"
            )
            self.gemini_run("run2", server, "--resume", self.session_id, "-p", api.PROMPTS[api.RUN_TWO], "--output-format", "json")
            self.gemini_run("run3", server, "--resume", self.session_id, "-p", api.PROMPTS[api.RUN_THREE], "--output-format", "json")
            # Gemini's session cleanup deletes a resumed session's transcripts when the next new
            # session starts (the resume leaves a stub file it judges empty): keep a copy now.
            chats = self.sb.home / ".gemini" / "tmp"
            self.transcripts = self.sb.tmp / "transcripts"
            shutil.copytree(chats, self.transcripts)
            self.doctor = self.sb.kaizen("doctor")
            self.sessions = self.sb.kaizen("sessions", "--json")
            self.show = self.sb.kaizen("show", self.session_id, "--json")
            # 4. hooks off: Gemini runs no hook at all; kaizen-hook should say so.
            settings = json.loads(self.settings_path.read_text())
            settings["hooksConfig"] = {"enabled": False}
            self.settings_path.write_text(json.dumps(settings, indent=2) + "\n")
            self.install_hooks_off = self.sb.kaizen("install", "--agent", AGENT)
            self.doctor_hooks_off = self.sb.kaizen("doctor")
            self.gemini_run("hooks-off", server, "-p", "KAIZEN-E2E-HOOKS-OFF: say hello.", "--output-format", "json")
            self.procs = dict(watch.seen)
        kept = {p.name for p in self.transcripts.rglob("*.jsonl")}
        live = {p.name for p in (self.sb.home / ".gemini" / "tmp").rglob("*.jsonl")}
        self.transcripts_deleted = sorted(kept - live)
        self.deliveries = self.sb.deliveries()
        self.events = self.sb.events()


# --- what the deliveries say -------------------------------------------------------------------


def parse_ts(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def tool_failure(payload):
    """Why an AfterTool delivery is a failure, or None: `tool_response.error`, or a shell exit code."""
    response = payload.get("tool_response") or {}
    if response.get("error"):
        return f"tool_response.error {response['error'].get('type') or response['error']}"
    content = response.get("llmContent")
    content = content if isinstance(content, str) else json.dumps(content)
    code = re.search(r"\nExit Code: (-?\d+)", content or "")
    if payload.get("tool_name") == "run_shell_command" and code and int(code.group(1)) != 0:
        return f"shell exit code {code.group(1)} (only in tool_response.llmContent)"
    return None


def failed(event):
    p = event.get("payload") or {}
    return event.get("kind") == "Error" or p.get("failed") is True or p.get("status") in ("error", "failed", "failure")


def subagent_of(event):
    p = event.get("payload") or {}
    return p.get("subagent") or p.get("agent_type") or p.get("agent_id") or p.get("subagent_type")


def describe(d):
    p = d.payload or {}
    what = p.get("hook_event_name") or d.label
    if p.get("tool_name"):
        args = p.get("tool_input") or {}
        what += f" {p['tool_name']}({args.get('command') or args.get('file_path') or args.get('agent_name') or ''})"
    return f"{what} @{p.get('timestamp', '?')}"


def read_transcript(path: Path):
    """Gemini's JSONL transcript: records by `id`, `$set` updates; a record updated later keeps its last form."""
    records, order, meta = {}, [], []
    if not path.is_file():
        return meta, order, records
    for line in path.read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "sessionId" in obj and "projectHash" in obj:
            meta.append(obj)
            continue
        if "$set" in obj:
            for msg in (obj["$set"] or {}).get("messages") or []:
                if msg.get("id") and msg["id"] not in records:
                    order.append(msg["id"])
                    records[msg["id"]] = msg
            continue
        if obj.get("id"):
            if obj["id"] not in records:
                order.append(obj["id"])
            records[obj["id"]] = obj
    return meta, order, records


# --- the checks --------------------------------------------------------------------------------


def verify(checks, sc):
    sb = sc.sb
    # The model the CLI's router picked for the conversation (no `-m`: "auto"), as the mock saw it.
    models = [s["model"] for s in sc.mock.served if s["role"] == "main" and s["status"] == 200]
    sc.main_model = max(set(models), key=models.count) if models else None
    asked = {d.payload["llm_request"].get("model") for d in sc.deliveries if d.payload.get("hook_event_name") == "BeforeModel"}
    checks.eq(asked, {sc.main_model}, "BeforeModel llm_request.model names the model the requests went to")
    check_setup(checks, sc)
    check_agent_did_it(checks, sc)
    pairs = common.match(sc.deliveries, sc.events)
    check_each_delivery(checks, sc, pairs)
    check_tools(checks, sc, pairs)
    check_failures(checks, sc, pairs)
    check_subagent(checks, sc, pairs)
    check_lifecycle(checks, sc, pairs)
    check_record(checks, sc)
    check_commands(checks, sc)
    check_hooks_off(checks, sc)
    check_transcript(checks, sc)
    check_costs(checks, sc)
    checks.eq(sb.hook_log(), "", "kaizen-hook logged no problem")


def check_setup(checks, sc):
    settings = sc.installed_settings
    for key, value in USER_SETTINGS.items():
        checks.eq(settings.get(key), value, f"install keeps the user's settings key {key!r}")
    checks.eq(list(settings)[: len(USER_SETTINGS)], list(USER_SETTINGS), "install keeps the user's key order")
    needed = {"SessionStart", "SessionEnd", "BeforeAgent", "AfterAgent", "BeforeTool", "AfterTool"}
    checks.eq(sorted(needed - sc.registered), [], "install registers the session, prompt, turn and tool events")
    checks.eq(sorted(sc.registered - set(KIND)), [], "install registers only Gemini events")
    handlers = [h for groups in settings["hooks"].values() for g in groups for h in g["hooks"] if common.is_ours(h["command"])]
    checks.check(all(common.program_of(h["command"]) == str(sc.sb.bin) and h.get("timeout", 0) <= 10_000 for h in handlers), "registered commands use the absolute binary path and a small timeout (ms)", json.dumps(handlers[:2]))


def check_agent_did_it(checks, sc):
    rc = {name: r[0] for name, r in sc.results.items()}
    for name in ("run1", "run2", "hooks-off"):
        checks.eq(rc.get(name), 0, f"gemini {name} exit status")
    checks.check(rc.get("run3") not in (0, None), "gemini run3 fails on the model's HTTP 400", f"exit status {rc.get('run3')}")
    served = sc.mock.served
    ok = {s["key"] for s in served if s["status"] == 200}
    for key in api.MAIN_KEYS:
        checks.check(key in ok, f"the agent asked for scripted step {key}", f"served: {[s['key'] for s in served]}")
    for key in ("sub-shell", "sub-done", "compress", "compress-verify", "router"):
        checks.check(key in ok, f"the agent made the {key} request", f"served: {[s['key'] for s in served]}")
    retried = [s["status"] for s in served if s["key"] == "r1-final"]
    checks.eq(retried, [503, 200], "the overloaded answer (503) was retried once")
    checks.check(any(s["key"] == "r3-error" and s["status"] == 400 for s in served), "run3's request got HTTP 400")
    hits = [s["path"] for s in served if s["key"] == "not-found"]
    if STRACE:
        outside = []
        for name in sc.results:
            for line in (sc.sb.logs / f"{name}.connect").read_text().splitlines():
                if "AF_INET" in line and "127.0.0.1" not in line and '"::1"' not in line:
                    outside.append(line.strip()[:160])
        checks.eq(outside, [], "the agent connects to nothing but loopback (strace connect)")
    checks.eq(hits, [], "the agent asked the mock nothing it does not serve")
    stream = [json.loads(line) for line in sc.results["run1"][2].splitlines() if line.startswith("{")]
    checks.eq(next((e.get("session_id") for e in stream if e.get("type") == "init"), None), sc.session_id, "--session-id names the session (stream-json init)")


def check_each_delivery(checks, sc, pairs):
    last_ts = {}
    for d, events in pairs:
        p = d.payload or {}
        name = p.get("hook_event_name") or d.label
        where = describe(d)
        if name not in sc.registered:
            checks.eq(len(events), 0, f"{where}: not registered by install, nothing recorded")
            continue
        if not checks.eq(len(events), 1, f"{where}: recorded exactly once"):
            continue
        e = events[0]
        if not (name == "AfterTool" and tool_failure(p)):  # failures: check_failures
            checks.eq(e["kind"], KIND.get(name, "Hook"), f"{where}: kind")
        checks.eq(e["session_id"], p.get("session_id"), f"{where}: session id")
        checks.eq(e["source"], "Hook", f"{where}: source")
        checks.eq((e["payload"].get("agent"), e["payload"].get("hook_event_name")), (AGENT, name), f"{where}: agent and event name")
        checks.eq((e["ts_ms"], e["ts_exact"]), (parse_ts(p["timestamp"]), True), f"{where}: time is the payload's timestamp")
        last_ts.setdefault(e["session_id"], []).append((e["ts_ms"], e["seq"], name))
    # Order: Gemini waits for each hook before it goes on, so its timestamps are the arrival
    # order; only the hooks of parallel tool calls race each other (any order is fair there).
    tool_events = ("BeforeTool", "AfterTool")
    for session, rows in last_ts.items():
        rows.sort()
        bad = [
            (a, b)
            for a, b in zip(rows, rows[1:])
            if b[0] > a[0] and b[1] < a[1] and not (a[2] in tool_events and b[2] in tool_events and b[0] - a[0] < 1000)
        ]
        checks.eq(bad, [], f"session {session[:8]}: seq follows arrival order (payload timestamps)")
        all_seqs = sorted(e["seq"] for e in sc.events if e["session_id"] == session)
        checks.eq(all_seqs, list(range(len(all_seqs))), f"session {session[:8]}: seq 0..n without gaps")


def check_tools(checks, sc, pairs):
    """Tool, call id and latency. Gemini's hooks carry no call id (its own, `<tool>__<model call id>`,
    is only in the transcript): kaizen derives one, which the call and its result must share and
    no other call may have. An AfterTool belongs to the latest unanswered BeforeTool with the same
    tool and input (Gemini waits for each call, and parallel calls differ in input)."""
    calls = [(d, es[0]) for d, es in pairs if d.payload.get("hook_event_name") == "BeforeTool" and len(es) == 1]
    results = [(d, es[0]) for d, es in pairs if d.payload.get("hook_event_name") == "AfterTool" and len(es) == 1]
    checks.eq(len(calls), 13, "BeforeTool deliveries (13 calls, subagent's and the denied one included)")
    checks.eq(len(results), 12, "AfterTool deliveries (the denied call has none)")

    def key(d):
        return d.payload["tool_name"], json.dumps(d.payload.get("tool_input"), sort_keys=True)

    for d, e in calls + results:
        checks.eq(e["tool"], d.payload["tool_name"], f"{describe(d)}: tool")
        checks.check(bool(e["tool_call_id"]), f"{describe(d)}: a tool_call_id")
    open_calls = []
    for d, e in sorted(calls + results, key=lambda pair: (parse_ts(pair[0].payload["timestamp"]), pair[0].ts_ns)):
        if d.payload["hook_event_name"] == "BeforeTool":
            open_calls.append((d, e))
            continue
        call = next((c for c in reversed(open_calls) if key(c[0]) == key(d)), None)
        if not checks.check(call is not None, f"{describe(d)}: its BeforeTool was delivered"):
            continue
        open_calls.remove(call)
        checks.eq(e["tool_call_id"], call[1]["tool_call_id"], f"{describe(d)}: the call id of its BeforeTool")
        expected = parse_ts(d.payload["timestamp"]) - parse_ts(call[0].payload["timestamp"])
        checks.eq(e["latency_ms"], expected, f"{describe(d)}: latency = AfterTool - BeforeTool timestamps (Gemini sends no duration)")
    ids = [e["tool_call_id"] for _, e in calls]
    shared = sorted({i for i in ids if ids.count(i) > 1})
    if any(len([1 for d, _ in calls if key(d) == k]) > 1 for k in {key(d) for d, _ in calls}):
        checks.known_gap(
            not shared,
            "every tool call has its own call id (run two repeats run one's `echo kaizen-ok` exactly)",
            f"{shared} shared: derived from session + tool + input only (Gemini sends no call id or turn id); NEW",
        )
    else:
        checks.eq(shared, [], "every tool call has its own call id")
    totals = [e["payload"].get("session_tool_calls") for e in sc.events if e["session_id"] == sc.session_id]
    checks.eq(totals[-1] if totals else None, len(calls), "session_tool_calls counts every BeforeTool")


def check_failures(checks, sc, pairs):
    """Item 2: a failed tool call is an Error (or a failed result) and counts in session_errors."""
    failures = 0
    for d, events in pairs:
        p = d.payload
        if p.get("hook_event_name") != "AfterTool" or len(events) != 1:
            continue
        why = tool_failure(p)
        if not why:
            continue
        failures += 1
        e = events[0]
        before = next((x["payload"].get("session_errors") for x in sc.events if x["seq"] == e["seq"] - 1 and x["session_id"] == e["session_id"]), 0)
        ok = failed(e) and e["payload"].get("session_errors") == (before or 0) + 1
        item = "issue 11 item 2" if "tool_response.error" in why else "NEW: Gemini reports a non-zero exit only as 'Exit Code: N' in llmContent"
        checks.check(ok, f"{describe(d)} ({why}) recorded as a failure ({item})", f"recorded {e['kind']}, session_errors {e['payload'].get('session_errors')}")
    checks.eq(failures, 2, "failing AfterTool deliveries (exit 2, missing file)")
    # The denied call: Gemini delivers BeforeTool only; the transcript has the error result.
    denied = [(d, es) for d, es in pairs if d.payload.get("tool_name") == "run_shell_command" and (d.payload.get("tool_input") or {}).get("command") == api.DENIED_COMMAND]
    checks.eq([d.payload["hook_event_name"] for d, _ in denied], ["BeforeTool"], "the policy-denied call gets BeforeTool only")
    if denied and denied[0][1]:
        call_id = denied[0][1][0]["tool_call_id"]
        recorded = [e for e in sc.events if e["tool_call_id"] == call_id and failed(e)]
        # No AfterTool: the transcript's toolCalls[].status 'error' (functionResponse.response.error) tells, read at the turn end.
        checks.check(
            len(recorded) == 1 and recorded[0]["source"] == "Tail" and recorded[0]["tool"] == "run_shell_command"
            and "denied by policy" in (recorded[0]["payload"].get("phase_note") or ""),
            "the policy-denied call is recorded as failed once, from the transcript (call id of its BeforeTool)",
            json.dumps(recorded)[:400],
        )
    last = [e["payload"].get("session_errors") for e in sc.events if e["session_id"] == sc.session_id]
    checks.eq(last[-1] if last else None, 3, "session_errors = 3 (exit 2, missing file, denied)")


def check_subagent(checks, sc, pairs):
    """Item 7: the subagent's tool calls come with the parent's session id and nothing else to tell them apart."""
    span = [d.payload for d, _ in pairs if d.payload.get("tool_name") == "invoke_agent"]
    if not checks.eq([p["hook_event_name"] for p in span], ["BeforeTool", "AfterTool"], "invoke_agent: BeforeTool then AfterTool"):
        return
    start, end = parse_ts(span[0]["timestamp"]), parse_ts(span[1]["timestamp"])
    inside = [(d, es) for d, es in pairs if d.payload.get("tool_name") and d.payload["tool_name"] != "invoke_agent" and start < parse_ts(d.payload["timestamp"]) < end]
    checks.eq(sorted({d.payload["tool_name"] for d, _ in inside}), ["complete_task", "run_shell_command"], "the subagent's tool calls (inside invoke_agent)")
    checks.check(all(d.payload.get("session_id") == sc.session_id for d, _ in inside), "Gemini sends the subagent's tool calls with the parent's session_id")
    marked = [e for _, es in inside for e in es if subagent_of(e)]
    checks.known_gap(len(marked) == len(inside) and inside, "the subagent's tool calls are marked as the subagent's (payload field)", "Gemini gives no agent_id/agent_type: only nesting between invoke_agent's BeforeTool/AfterTool (and the tool complete_task) tells; issue 11 item 7")
    outside = [e for d, es in pairs for e in es if d.payload.get("tool_name") and (d, es) not in inside and subagent_of(e)]
    checks.eq(outside, [], "the parent's own tool calls are not marked as a subagent's")


def check_lifecycle(checks, sc, pairs):
    starts = [(d, es) for d, es in pairs if d.payload.get("hook_event_name") == "SessionStart"]
    ends = [(d, es) for d, es in pairs if d.payload.get("hook_event_name") == "SessionEnd"]
    checks.eq([d.payload.get("source") for d, _ in starts], ["startup", "resume", "resume"], "SessionStart sources")
    checks.eq([len(es) for _, es in starts], [1, 1, 1], "every SessionStart recorded (a resume is not a duplicate; issue 11 item 1)")
    checks.eq([len(es) for _, es in ends], [1, 1], "both SessionEnds recorded (run three sent none)")
    after = sc.records_after
    for name, end in (("run1", ends[0] if ends else None), ("run2", ends[1] if len(ends) > 1 else None)):
        rec = after.get(name) or {}
        checks.eq(rec.get("status"), "Done", f"status after {name} (SessionEnd)")
        if end:
            checks.eq(rec.get("ended_at_ms"), parse_ts(end[0].payload["timestamp"]), f"ended_at_ms after {name} = SessionEnd's timestamp")
    rec = after.get("run3") or {}
    checks.known_gap(
        rec.get("status") not in ("Running", None),
        "after a turn that failed on a model error the session is not left Running",
        f"recorded {rec.get('status')}; NEW: Gemini sends no AfterAgent and no SessionEnd when a turn fails (HTTP 400) and the CLI exits; "
        "only the agent process's exit tells",
    )
    # PreCompress fires before every model call; one real compression happened.
    pre = [d for d, _ in pairs if d.payload.get("hook_event_name") == "PreCompress"]
    compressions = sum(1 for s in sc.mock.served if s["key"] == "compress" and s["status"] == 200)
    checks.eq(compressions, 1, "the CLI compressed the history once (summary request served)")
    checks.check(len(pre) > 5 * compressions, f"PreCompress fired {len(pre)} times for {compressions} compression: it is not a compaction")
    listed = [s for s in json_or(sc.sessions.stdout) or [] if s.get("id") == sc.session_id]
    counted = {k: v for s in listed for k, v in s.items() if "compact" in k or "compress" in k}
    checks.check(all(v in (compressions, None) for v in counted.values()), "sessions does not count PreCompress as compactions (issue 11 item 6)", str(counted))


def check_record(checks, sc):
    rec = sc.sb.records().get(sc.session_id)
    if not checks.check(rec is not None, "a SessionRecord for the Gemini session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["workspace"], str(sc.sb.work), "record: workspace")
    head = sc.sb.run(["git", "rev-parse", "HEAD"], "git-head").stdout.decode().strip()
    checks.eq((rec["start_commit"], rec["end_commit"], rec["branch"]), (head, head, "main"), "record: commits and branch")
    checks.eq((rec["dirty_start"], rec["dirty_end"]), (False, True), "record: dirty at start and end")
    transcripts = {d.payload.get("transcript_path") for d in sc.deliveries if d.payload.get("hook_event_name") == "AfterAgent"}
    checks.eq({rec["trace_path"]}, transcripts, "record: trace_path is the transcript the turns are written to")
    checks.eq(rec.get("model"), sc.main_model, "record: model, from the transcript's gemini records (issue 12)")
    version = json.loads((sc.package / "package.json").read_text())["version"]
    parents = {d.ppid for d in sc.deliveries}
    scripts = [arg for pid in parents for arg in (sc.procs.get(pid) or (0, []))[1] if arg.endswith("gemini") or arg.endswith(".js")]
    resolved = {str(Path(s).resolve()) for s in scripts if Path(s).exists()}
    checks.eq(resolved, {str((sc.package / "bundle" / "gemini.js").resolve())}, "the hook's parent process runs the gemini-cli bundle (where the version can be found)")
    checks.eq(rec.get("agent_version"), version, "record: agent_version, from the package.json of the script Gemini's node runs (issue 11 item 4)")


def json_or(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_commands(checks, sc):
    doctor = sc.doctor
    checks.eq(doctor.returncode, 0, "doctor exit status after the scenario")
    checks.check(str(sc.settings_path) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists Gemini's settings with no problem", doctor.stdout[-800:])
    sessions = json_or(sc.sessions.stdout)
    if not checks.check(isinstance(sessions, list), "sessions --json is a JSON list", sc.sessions.stdout[:300] + sc.sessions.stderr[:300]):
        return
    ours = [s for s in sessions if s.get("id") == sc.session_id]
    checks.eq(len(ours), 1, "sessions --json lists the session once")
    if ours:
        s = ours[0]
        calls = sum(1 for d in sc.deliveries if d.payload.get("hook_event_name") == "BeforeTool")
        checks.eq((s.get("agent"), s.get("tool_calls")), (AGENT, calls), "sessions --json: agent, tool_calls")
        checks.eq(s.get("events"), len([e for e in sc.events if e["session_id"] == sc.session_id]), "sessions --json: events")
        checks.eq(s.get("errors"), 3, "sessions --json: errors = 3 (exit 2, missing file, denied)")
        checks.eq(s.get("model"), sc.main_model, "sessions --json: model")
    show = json_or(sc.show.stdout)
    if not checks.check(isinstance(show, dict), "show --json is a JSON object", sc.show.stdout[:300] + sc.show.stderr[:300]):
        return
    timeline = show.get("timeline") or []
    checks.eq(len(timeline), len([e for e in sc.events if e["session_id"] == sc.session_id]), "show --json: one timeline row per event")
    tools = {t["tool"]: t for t in show.get("tools") or []}
    checks.eq(
        ((tools.get("read_file") or {}).get("errors"), (tools.get("run_shell_command") or {}).get("errors")),
        (1, 2),
        "show --json: per-tool errors (read_file: the missing file; run_shell_command: exit 2 and the denied call)",
    )
    blank = [r["type"] for r in timeline if not (r.get("summary") or "").strip()]
    checks.eq(sorted(set(blank)), [], "show: every event has a one-line summary (issue 11 item 12)")
    raw = sorted({f"{r['kind']} {r['tool']}" for r in timeline if (r.get("summary") or "").lstrip().startswith(("{", "["))})
    checks.eq(raw, [], "show: no event summarised as raw JSON (issue 11 item 12)")
    per_subagent = json.dumps(show).count("generalist")
    checks.known_gap(bool(show.get("subagents")), "show --json: the subagent apart (generalist, 2 tool calls)", f"no subagents section ({per_subagent} mentions of generalist); issue 11 item 7")


def check_hooks_off(checks, sc):
    """Item 10: `hooksConfig.enabled: false` (Gemini 0.61) silences every hook."""
    before, after = sc.deliveries_after.get("run3"), sc.deliveries_after.get("hooks-off")
    checks.eq(after, before, "with hooksConfig.enabled false Gemini delivers nothing (0.61 honours it)")
    out = sc.doctor_hooks_off
    checks.check(
        out.returncode != 0 and 'PROBLEM  "hooksConfig": {"enabled": false}' in out.stdout and "set it to true" in out.stdout,
        "doctor exits non-zero, names hooksConfig.enabled and says how to fix it when Gemini's hooks are off",
        f"exit {out.returncode}: {out.stdout.strip()[-600:]}",
    )
    install = sc.install_hooks_off
    checks.check('warning: "hooksConfig": {"enabled": false}' in install.stdout, "install warns that hooksConfig.enabled is false",
                 (install.stdout + install.stderr).strip()[-400:])


def check_transcript(checks, sc):
    """The transcript as the oracle for tokens and model (issue 12 builds on this)."""
    live = Path(next(d.payload["transcript_path"] for d in sc.deliveries if d.payload.get("hook_event_name") == "AfterAgent"))
    path = sc.transcripts / live.relative_to(sc.sb.home / ".gemini" / "tmp")
    meta, order, records = read_transcript(path)
    checks.check(bool(meta) and meta[0].get("sessionId") == sc.session_id, "transcript: first line names the session", str(meta[:1])[:300])
    gem = [records[i] for i in order if records[i].get("type") == "gemini" and records[i].get("tokens")]
    by_input = {r["tokens"]["input"]: r for r in gem}
    served = {s["key"]: s for s in sc.mock.served if s["role"] == "main" and s["status"] == 200}
    for key in api.MAIN_KEYS:
        u = api.USAGE[key]
        r = by_input.get(u["promptTokenCount"])
        want = {
            "input": u["promptTokenCount"],
            "output": u["candidatesTokenCount"],
            "cached": u.get("cachedContentTokenCount", 0),
            "thoughts": u.get("thoughtsTokenCount", 0),
            "model": served.get(key, {}).get("model"),
        }
        got = {k: (r or {}).get("tokens", {}).get(k) for k in ("input", "output", "cached", "thoughts")}
        got["model"] = (r or {}).get("model")
        checks.eq(got, want, f"transcript: response {key} tokens and model")
    checks.eq(len(gem), len(api.MAIN_KEYS), "transcript: one gemini record per main response (by id; router and compression calls are not in it)")
    # The subagent's own transcript: chats/<session id>/<subagent id>.jsonl
    sub = list((path.parent / sc.session_id).glob("*.jsonl"))
    checks.eq(len(sub), 1, "the subagent's transcript under chats/<session id>/")
    if sub:
        smeta, sorder, srec = read_transcript(sub[0])
        checks.eq([m.get("kind") for m in smeta], ["subagent"], "subagent transcript kind")
        got = sorted(r["tokens"]["input"] for r in srec.values() if r.get("type") == "gemini")
        checks.eq(got, [api.USAGE["sub-shell"]["promptTokenCount"], api.USAGE["sub-done"]["promptTokenCount"]], "subagent transcript: its two responses")


def snapshot(model):
    """The model's entry in the price snapshot: its standard rates as exact fractions of a USD per token, its window."""
    prices = json.loads((common.ROOT / "src" / "cost" / "prices.json").read_text())
    p = prices.get(model) or {}
    rate = lambda k: Fraction(str(p[k])) if k in p else None  # noqa: E731
    return (rate("input_cost_per_token"), rate("cache_read_input_token_cost"), rate("output_cost_per_token")), p.get("max_input_tokens")


def micro_usd(u, rates):
    """What the snapshot says a response with these usageMetadata figures cost, in micro-USD (rounded half up)."""
    inp, cached, out = rates
    if inp is None or out is None:
        return None
    prompt, hit = u["promptTokenCount"], u.get("cachedContentTokenCount", 0)
    usd = (prompt - hit) * inp + hit * (cached if cached is not None else inp) + (u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0)) * out
    return int(usd * 1_000_000 + Fraction(1, 2))


def check_costs(checks, sc):
    """Issue 12: one Cost event per response in a transcript (main and subagent), with the mock's own figures.
    Gemini's transcript has no response id of the API's: a response is found by its prompt figure, unique per step."""
    ours = [e for e in sc.events if e["session_id"] == sc.session_id]
    costs = [e for e in ours if e["kind"] == "Cost"]
    checks.eq([e for e in costs if (e["payload"] or {}).get("correction")], [], "no correction: Gemini's re-written records (same id, same figures) counted once")
    served = [s for s in sc.mock.served if s["status"] == 200 and s["role"] in ("main", "subagent")]
    for s in served:
        u = s["usage"]
        hit = u.get("cachedContentTokenCount", 0)
        rates, window = snapshot(s["model"])
        want = {
            "tokens_in": u["promptTokenCount"] - hit,
            "cache_read_tokens": hit,
            "cache_creation_tokens": 0,
            "tokens_out": u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0),
            "reasoning_tokens": u.get("thoughtsTokenCount", 0),
            "context_used_tokens": u["promptTokenCount"],
            "context_max_tokens": window,
            "cost_usd_e6": micro_usd(u, rates),
            "source": "Tail",
            "model": s["model"],
        }
        got = [e for e in costs if (e["tokens_in"] or 0) + (e["cache_read_tokens"] or 0) == u["promptTokenCount"]]
        row = [{k: (e["payload"] or {}).get("model") if k == "model" else e.get(k) for k in want} for e in got]
        checks.eq(row, [want], f"Cost event for {s['role']} response {s['key']}: tokens, cache, reasoning, context, model, cost")
    checks.eq(len(costs), len(served), f"exactly one Cost event per response in a transcript ({len(served)}: main and subagent), none twice")
    from_subagent = [e for e in costs if f"/{sc.session_id}/" in (e["payload"] or {}).get("transcript", "")]
    checks.eq(len(from_subagent), sum(1 for s in served if s["role"] == "subagent"), "the subagent's responses come from chats/<session>/<subagent>.jsonl, which no hook names")
    side = [s for s in sc.mock.served if s["status"] == 200 and s["role"] == "side"]
    tokens = sum(s["usage"]["totalTokenCount"] for s in side)
    checks.known_gap(
        len(costs) == len(served) + len(side),
        "the side requests (router, compression) have Cost events too",
        f"{len(side)} requests, {tokens} tokens ({', '.join(sorted({s['key'] for s in side}))}): Gemini's transcript does not record them; "
        "only AfterModel's llm_response.usageMetadata would (not registered: it fires for every streamed chunk)",
    )


# --- fixtures ----------------------------------------------------------------------------------


def save_fixtures(sb, deliveries):
    """One real payload per event name, temp paths replaced; the most telling one where there is a choice."""
    chosen = {}
    for d in deliveries:
        p = d.payload
        name = p.get("hook_event_name")
        if not name:
            continue
        if name == "AfterModel" and "usageMetadata" not in p.get("llm_response", {}):
            continue  # the chunk that carries the usage
        if name == "AfterTool" and p.get("tool_name") != "run_shell_command":
            continue
        chosen.setdefault(name, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    replace = [(str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e")]
    for name, d in chosen.items():
        text = d.raw.decode()
        for old, new in replace:
            text = text.replace(old, new)
        value = json.loads(text)
        (FIXTURES / f"{name}.json").write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
