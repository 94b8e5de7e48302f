"""GitHub Copilot CLI (`@github/copilot`), headless in BYOK mode against a scripted
OpenAI Chat Completions mock on 127.0.0.1.

How it runs (Copilot CLI 1.0.102, the native binary of `@github/copilot-linux-x64`):

    COPILOT_OFFLINE=true                      # no GitHub auth, telemetry, web tools, MCP, update
    COPILOT_PROVIDER_BASE_URL=<mock>/v1       # BYOK: POST <base>/chat/completions, stream=true
    COPILOT_PROVIDER_TYPE=openai  COPILOT_PROVIDER_API_KEY=dummy  COPILOT_MODEL=gpt-4.1
    COPILOT_AUTO_UPDATE=false  XDG_CACHE_HOME=<build dir>/e2e/copilot-cache
    copilot -p "<prompt>" --allow-all-tools --no-color --no-auto-update --disable-client-telemetry
    copilot -p "<prompt>" --resume=<session id> ...         # the same session again

The binary unpacks its JavaScript (~235 MB) under `$XDG_CACHE_HOME/copilot/pkg/` on
first use; a cache in the build dir makes that once per machine, not once per HOME.

Hooks: Copilot reads every `~/.copilot/hooks/*.json` (`$COPILOT_HOME/hooks/`):
`{"version": 1, "hooks": {"<camelCaseEvent>": [{"type": "command", "bash": "...",
"timeoutSec": N}]}}`. camelCase event names give camelCase payloads with no event
name in them (only `permissionRequest` has `hookName`, `notification`
`hook_event_name`), so each event is registered with `--event <name>`.
`kaizen-hook install --agent copilot` writes `OURS` there, exactly `hook_config()`;
the test checks that, runs the scenario through it, then installs again (nothing
changes) and uninstalls (our file goes, the others stay). The capture hook lives in a file of its own,
registered for every event Copilot knows, so the suite also sees deliveries of
events kaizen-hook is not registered for.

The scenario (one session, five `copilot -p` runs; the mock's `[kz:<run>]` marker):
  main     bash ok; bash exit 2; create; edit; view; view of a missing file;
           bash + view in parallel; a subagent (`task`, agent_type explore) that views a file
  resume   `--resume=<id>`; the first model call answers HTTP 500 once (Copilot retries)
  denied   `--resume=<id> --deny-tool=shell(rm)`: a bash call refused by permissions
  compact  `--resume=<id>` with COPILOT_BACKGROUND_COMPACTION_THRESHOLD=0.05: background
           compaction (preCompact trigger "auto", its summary request) during a one-answer turn
  error    `--resume=<id>`: every model call answers HTTP 500; Copilot retries 5 times, gives up
Each run ends the session (`sessionEnd`, reason complete / error).
`copilot -p /compact` also compacts (trigger "manual"), but 1.0.102 then often hangs 60 s
("a waited send timed out after 60000ms ... the event poll loop may be wedged") before it
exits, so the background compaction is used instead.
"""

import json
import os
import re
import time
from pathlib import Path

import common
from mock.openai_chat import MODEL, USAGE, OpenAIChatMock

AGENT = "copilot"

# Every event a Copilot 1.0.102 hook file accepts (`HookType` in its schemas/api.schema.json).
ALL_EVENTS = [
    "sessionStart", "sessionEnd", "userPromptSubmitted", "userPromptTransformed",
    "preToolUse", "preMcpToolCall", "postToolUse", "postToolUseFailure", "permissionRequest",
    "agentStop", "subagentStart", "subagentStop", "errorOccurred", "preCompact", "notification",
    "postResult", "prePRDescription",
]

# What the installer registers, in its order: event -> kaizen-hook subcommand (with `--event <event>`).
# `preMcpToolCall` (MCP request metadata), `postResult` and `prePRDescription` are left out:
# they did not fire in any run here and carry nothing the record needs; `notification`
# is async and never fires headless. userPromptTransformed is the same prompt again
# (recorded as Lifecycle), hence `event`, not `prompt`.
REGISTER = {
    "sessionStart": "session-start",
    "sessionEnd": "session-end",
    "userPromptSubmitted": "prompt",
    "userPromptTransformed": "event",
    "preToolUse": "tool-use",
    "postToolUse": "tool-use",
    "postToolUseFailure": "tool-use",
    "agentStop": "stop",
    "subagentStart": "subagent",
    "subagentStop": "subagent",
    "permissionRequest": "event",
    "errorOccurred": "event",
    "preCompact": "event",
}
TIMEOUT_SEC = 5
OURS = "kaizen-hook.json"
CAPTURE_FILE = "kaizen-e2e-capture.json"

# The kind each event should be recorded as.
KIND = {
    "sessionStart": "Lifecycle",
    "sessionEnd": "Lifecycle",
    "userPromptSubmitted": "Message",
    "userPromptTransformed": "Lifecycle",  # the same prompt again, rewritten: not a second Message
    "preToolUse": "ToolCall",
    "postToolUse": "ToolResult",
    "postToolUseFailure": "Error",
    "permissionRequest": "Lifecycle",
    "agentStop": "Lifecycle",
    "subagentStart": "Lifecycle",
    "subagentStop": "Lifecycle",
    "errorOccurred": "Error",
    "preCompact": "Lifecycle",
    "notification": "Lifecycle",
}
SNAKE = {
    "sessionStart": "session_start", "sessionEnd": "session_end", "userPromptSubmitted": "user_prompt_submitted",
    "userPromptTransformed": "user_prompt_transformed", "preToolUse": "pre_tool_use", "postToolUse": "post_tool_use",
    "postToolUseFailure": "post_tool_use_failure", "permissionRequest": "permission_request", "agentStop": "agent_stop",
    "subagentStart": "subagent_start", "subagentStop": "subagent_stop", "errorOccurred": "error_occurred",
    "preCompact": "pre_compact", "notification": "notification",
}

PROMPTS = {
    "main": "[kz:main] Run the scripted end-to-end scenario.",
    "resume": "[kz:resume] Continue the scripted scenario.",
    "denied": "[kz:denied] Try the command the permissions refuse.",
    "compact": "[kz:compact] A short turn while the history is compacted.",
    "error": "[kz:error] This turn meets a failing model.",
}
RUNS = ["main", "resume", "denied", "compact", "error"]
EXIT = {"main": 0, "resume": 0, "denied": 0, "compact": 0, "error": 1}


def hook_config(binary: Path) -> dict:
    """The hook file the installer writes: `~/.copilot/hooks/kaizen-hook.json`."""
    hooks = {}
    for event, sub in REGISTER.items():
        hooks[event] = [{"type": "command", "bash": f"{binary} {sub} --agent {AGENT} --event {event}",
                         "timeoutSec": TIMEOUT_SEC}]
    return {"version": 1, "hooks": hooks}


def copilot_binary(prefix: Path) -> Path:
    native = prefix / "node_modules" / "@github" / "copilot-linux-x64" / "copilot"
    if native.is_file():
        return native
    return prefix / "node_modules" / ".bin" / "copilot"


def kaizen_entries(home: Path) -> dict:
    """event -> the kaizen-hook commands registered for it, in every Copilot user hook source."""
    found = {}
    sources = sorted((home / ".copilot" / "hooks").glob("*.json")) + [home / ".copilot" / "settings.json",
                                                                       home / ".copilot" / "config.json"]
    for path in sources:
        if not path.is_file() or path.name == CAPTURE_FILE:
            continue
        try:
            text = path.read_text()
            # config.json starts with // comments
            doc = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
        except ValueError:
            continue
        for event, entries in (doc.get("hooks") or {}).items():
            for entry in entries if isinstance(entries, list) else []:
                inner = entry.get("hooks") if isinstance(entry.get("hooks"), list) else [entry]
                for h in inner:
                    if common.is_ours(_command(h)):
                        found.setdefault(event, []).append(h)
    return found


def _command(h: dict) -> str:
    """A Copilot hook entry's command line: `bash`, else `command`, else `exec` + `args`."""
    if h.get("bash") or h.get("command"):
        return str(h.get("bash") or h.get("command"))
    if h.get("exec"):
        return " ".join(str(a) for a in [h["exec"], *(h.get("args") or [])])
    return ""


def run(checks):
    prefix = common.npm_install(AGENT)
    binary = copilot_binary(prefix)
    pinned = common.versions()[AGENT]["version"]
    cache = common.cache_dir() / "copilot-cache"
    cache.mkdir(parents=True, exist_ok=True)
    sandbox = common.Sandbox(AGENT)
    started = time.monotonic()
    try:
        _run(checks, sandbox, binary, pinned, cache)
    finally:
        print(f"copilot: sandbox {sandbox.tmp} ({time.monotonic() - started:.0f} s)")
        sandbox.cleanup()


def _run(checks, sb, binary, pinned, cache):
    base_env = dict(XDG_CACHE_HOME=cache, COPILOT_AUTO_UPDATE="false")
    version = sb.run([binary, "--version"], "version", timeout=120, env=sb.env(**base_env))
    checks.check(f"GitHub Copilot CLI {pinned}" in version.stdout.decode(), "copilot --version is the pinned one",
                 f"expected {pinned}, got {version.stdout.decode().strip()!r}")

    # --- registration: the installer ---
    (sb.home / ".copilot").mkdir()  # Copilot is installed: a bare `install` finds it
    install = sb.kaizen("install")
    if not checks.eq(install.returncode, 0, f"kaizen-hook install: exit status ({(install.stdout + install.stderr).strip()[:200]})"):
        return
    checks.check("copilot: registered 13 events" in install.stdout, "kaizen-hook install: registers copilot, found by ~/.copilot",
                 install.stdout.strip()[:300])
    hooks_dir = sb.home / ".copilot" / "hooks"
    ours = hooks_dir / OURS
    checks.eq(json.loads(ours.read_text()) if ours.is_file() else None, hook_config(Path(sb.bin).resolve()),
              f"install writes ~/.copilot/hooks/{OURS}: camelCase events, type/bash/timeoutSec, --event on each")
    registered = kaizen_entries(sb.home)
    for event in REGISTER:
        entries = registered.get(event, [])
        checks.check(len(entries) == 1, f"kaizen-hook registered once for {event}", f"found {entries}")
        for h in entries:
            cmd = _command(h)
            checks.check(f"--event {event}" in cmd and f"--agent {AGENT}" in cmd and common.program_of(cmd) == str(sb.bin),
                         f"{event}: the command names the binary, --agent copilot and --event {event}", cmd)
            checks.check(0 < int(h.get("timeoutSec") or h.get("timeout") or 0) <= 30, f"{event}: a small timeoutSec", str(h))
    unknown_events = sorted(set(registered) - set(ALL_EVENTS))
    checks.eq(unknown_events, [], "kaizen-hook registered only for events Copilot knows")
    capture = {"version": 1, "hooks": {e: [{"type": "command", "bash": sb.capture_command(e), "timeoutSec": 10}]
                                       for e in ALL_EVENTS}}
    (hooks_dir / CAPTURE_FILE).write_text(json.dumps(capture, indent=2) + "\n")

    # --- the scenario ---
    mock = OpenAIChatMock(sb.work)
    snapshots = {}
    session_id = None
    with common.MockServer(mock) as server:
        env = sb.env(
            COPILOT_OFFLINE="true",
            COPILOT_PROVIDER_BASE_URL=f"{server.url}/v1",
            COPILOT_PROVIDER_TYPE="openai",
            COPILOT_PROVIDER_API_KEY="dummy",
            COPILOT_MODEL=MODEL,
            **base_env,
        )
        for name in RUNS:
            argv = [binary, "-p", PROMPTS[name], "--allow-all-tools", "--no-color", "--no-auto-update",
                    "--disable-client-telemetry"]
            if name != "main":
                argv.append(f"--resume={session_id}")
            if name == "denied":
                argv.append("--deny-tool=shell(rm)")
            run_env = dict(env, COPILOT_BACKGROUND_COMPACTION_THRESHOLD="0.05") if name == "compact" else env
            t0 = time.monotonic()
            out = sb.run(argv, f"copilot-{name}", timeout=150, env=run_env)
            seconds = time.monotonic() - t0
            checks.eq(out.returncode, EXIT[name], f"run {name}: copilot exit status ({seconds:.1f} s; logs/copilot-{name}.err)")
            if session_id is None:
                starts = [d for d in sb.deliveries() if d.label == "sessionStart"]
                session_id = starts[0].payload.get("sessionId") if starts else None
                if not checks.check(bool(session_id), "run main: a sessionStart delivery names the session"):
                    return
            if name == "main":
                # Copilot has exited: its transcript is final, the last usage records written after the
                # run's agentStop and sessionEnd returned (issue 25).
                after_main = usage_counted(sb, session_id)
            rec = sb.records().get(session_id)
            snapshots[name] = dict(rec) if rec else None
        served = list(mock.served)
        unknown = list(mock.unknown)

    deliveries = sb.deliveries()
    events = sb.events()
    records = sb.records()
    pairs = common.match(deliveries, events)
    transcript = sb.home / ".copilot" / "session-state" / session_id / "events.jsonl"
    if os.environ.get("KAIZEN_E2E_DEBUG"):
        dump_debug(sb, deliveries, events, records, served)

    check_mock(checks, served, unknown)
    check_deliveries(checks, pairs, registered)
    check_tools(checks, pairs)
    check_failures(checks, pairs, events, records, session_id, transcript)
    check_subagent(checks, pairs, records, session_id)
    check_lifecycle(checks, pairs, snapshots, records, session_id, deliveries)
    check_identity(checks, records, session_id, deliveries, pinned)
    check_commands(checks, sb, session_id, records)
    check_transcript(checks, transcript, served, pinned)
    check_costs(checks, events, served, session_id, transcript)
    check_read_again(checks, sb, session_id, after_main)
    check_reinstall(checks, sb)
    if os.environ.get("KAIZEN_E2E_WRITE_FIXTURES"):
        write_fixtures(sb, deliveries)


# --------------------------------------------------------------------------- checks


def check_mock(checks, served, unknown):
    steps = [r["step"] for r in served if r["status"] == 200]
    expected = [s for s in USAGE if s not in ("unscripted",)]
    for step in expected:
        checks.check(step in steps, f"mock: the scripted response {step} was served", f"served {steps}")
    checks.eq(unknown, [], "mock: every request was one the script knows")
    errors = [r for r in served if r["status"] != 200]
    checks.eq(sum(1 for r in errors if r["step"] == "resume.1.bash"), 1, "mock: the resume run met one HTTP 500")
    checks.check(sum(1 for r in errors if r["step"] == "error.1") >= 2, "mock: the error run met repeated HTTP 500s",
                 f"{len(errors)} errors")


class Grouped:
    """Per-delivery results grouped by (event, aspect): one check per group, with the failing cases."""

    def __init__(self):
        self.groups = {}

    def add(self, label, aspect, ok, detail=""):
        self.groups.setdefault((label, aspect), []).append((ok, detail))

    def report(self, checks, gaps):
        for (label, aspect), results in self.groups.items():
            bad = [d for ok, d in results if not ok]
            what = f"{label} (x{len(results)}): {aspect}"
            detail = "; ".join(bad[:3]) + (f"; ... {len(bad) - 3} more" if len(bad) > 3 else "")
            why = gaps.get((label, aspect))
            if why:
                checks.known_gap(not bad, what, f"{why}: {detail}" if bad else why)
            else:
                checks.check(not bad, what, detail)


# Where kaizen-hook is wrong today: (event, aspect) -> why. None at present.
DELIVERY_GAPS = {}


def check_deliveries(checks, pairs, registered):
    """Every delivery of an event kaizen-hook is registered for: recorded once, as the right kind."""
    g = Grouped()
    for d, evs in pairs:
        if d.label not in registered:
            continue
        p = d.payload or {}
        who = _brief(p)
        g.add(d.label, "recorded exactly once", len(evs) == 1, f"{who}: {len(evs)} events")
        if len(evs) != 1:
            continue
        e = evs[0]
        ep = e.get("payload") or {}
        if not (d.label == "postToolUse" and is_failed_shell(p)):  # check_failures says what that should be
            g.add(d.label, "kind", e.get("kind") == KIND[d.label], f"{who}: expected {KIND[d.label]}, recorded {e.get('kind')}")
        g.add(d.label, "payload.agent", ep.get("agent") == AGENT, f"{who}: recorded {ep.get('agent')!r}")
        g.add(d.label, "payload.type", ep.get("type") == SNAKE[d.label], f"{who}: recorded {ep.get('type')!r}")
        g.add(d.label, "payload.hook_event_name (from --event)", ep.get("hook_event_name") == d.label,
              f"{who}: recorded {ep.get('hook_event_name')!r}")
        inp = ep.get("input") if isinstance(ep.get("input"), dict) else {}
        g.add(d.label, "payload.input is the delivered JSON", inp.get("sessionId") == p.get("sessionId")
              and inp.get("timestamp") == p.get("timestamp"), f"{who}: input keys {sorted(inp)[:6]}")
        if isinstance(p.get("timestamp"), int):
            g.add(d.label, "ts_ms is the payload's timestamp (ts_exact)", (e.get("ts_ms"), e.get("ts_exact")) == (p["timestamp"], True),
                  f"{who}: sent {p['timestamp']}, recorded {e.get('ts_ms')} exact={e.get('ts_exact')}")
        if "agentId" not in p or d.label in ("subagentStart", "subagentStop"):
            g.add(d.label, "session_id is the payload's sessionId", e.get("session_id") == p.get("sessionId"),
                  f"{who}: recorded {e.get('session_id')!r}")
        if "toolName" in p:
            g.add(d.label, "tool", e.get("tool") == p.get("toolName"), f"{who}: recorded {e.get('tool')!r}")
        if d.label in ("preToolUse", "postToolUse", "postToolUseFailure"):
            g.add(d.label, "a tool_call_id (derived: Copilot sends none)", bool(e.get("tool_call_id")), who)
    g.report(checks, DELIVERY_GAPS)


def _brief(p):
    bits = [p.get("toolName"), (p.get("toolArgs") or {}).get("command") if isinstance(p.get("toolArgs"), dict) else None,
            (p.get("toolArgs") or {}).get("path", "").rsplit("/", 1)[-1] if isinstance(p.get("toolArgs"), dict) else None,
            p.get("source"), p.get("reason"), p.get("agentType")]
    return ", ".join(str(b) for b in bits if b) or "-"


def is_failed_shell(p):
    """A bash result Copilot calls success although the command exited non-zero."""
    res = p.get("toolResult") or {}
    text = res.get("textResultForLlm") or ""
    m = re.search(r"completed with exit code (\d+)>", text)
    return p.get("toolName") == "bash" and bool(m) and m.group(1) != "0"


def _tool_pairs(pairs):
    """(pre delivery, pre events, post delivery, post events) per tool call, matched by session, tool and args."""
    pres = [(d, evs) for d, evs in pairs if d.label == "preToolUse"]
    posts = [(d, evs) for d, evs in pairs if d.label in ("postToolUse", "postToolUseFailure")]
    used = set()
    out = []
    for d, evs in pres:
        p = d.payload or {}
        found = None
        for i, (d2, evs2) in enumerate(posts):
            q = d2.payload or {}
            if i in used or d2.ts_ns < d.ts_ns:
                continue
            if (q.get("sessionId"), q.get("toolName"), q.get("toolArgs")) == (p.get("sessionId"), p.get("toolName"), p.get("toolArgs")):
                found = i
                break
        if found is None:
            out.append((d, evs, None, []))
        else:
            used.add(found)
            out.append((d, evs, posts[found][0], posts[found][1]))
    return out


def check_tools(checks, pairs):
    tool_pairs = _tool_pairs(pairs)
    steps = {
        "bash echo kaizen-e2e-ok": lambda p: p.get("toolName") == "bash" and "kaizen-e2e-ok" in json.dumps(p.get("toolArgs")),
        "bash exit 2": lambda p: p.get("toolName") == "bash" and "exit 2" in json.dumps(p.get("toolArgs")),
        "create": lambda p: p.get("toolName") == "create",
        "edit": lambda p: p.get("toolName") == "edit",
        "view notes.txt": lambda p: p.get("toolName") == "view" and "notes.txt" in json.dumps(p.get("toolArgs")),
        "view missing": lambda p: p.get("toolName") == "view" and "does-not-exist" in json.dumps(p.get("toolArgs")),
        "parallel bash": lambda p: p.get("toolName") == "bash" and "parallel-one" in json.dumps(p.get("toolArgs")),
        "task (subagent)": lambda p: p.get("toolName") == "task",
        "bash rm (denied)": lambda p: p.get("toolName") == "bash" and "rm -f" in json.dumps(p.get("toolArgs")),
    }
    for name, pred in steps.items():
        hits = [t for t in tool_pairs if pred(t[0].payload or {})]
        want = 2 if name == "bash echo kaizen-e2e-ok" else 1  # main, and again after resume
        checks.eq(len(hits), want, f"tool step {name}: Copilot delivered its preToolUse")
    for d, evs, d2, evs2 in tool_pairs:
        p = d.payload or {}
        name = f"{p.get('toolName')} {_brief(p)}"
        if "rm -f" in json.dumps(p.get("toolArgs")):
            checks.check(d2 is None, f"tool {name}: denied, so no post delivery (Copilot sends none)")
            continue
        if not checks.check(d2 is not None, f"tool {name}: a post delivery follows its preToolUse"):
            continue
        if len(evs) != 1 or len(evs2) != 1:
            continue  # check_deliveries reported it
        call, result = evs[0], evs2[0]
        checks.eq(result.get("tool_call_id"), call.get("tool_call_id"), f"tool {name}: the result carries its call's tool_call_id")
        checks.check(isinstance(result.get("latency_ms"), int), f"tool {name}: latency_ms on the result",
                     f"recorded {result.get('latency_ms')!r}")
        if isinstance(result.get("latency_ms"), int):
            wall = (d2.payload or {}).get("timestamp", 0) - p.get("timestamp", 0)
            checks.check(abs(result["latency_ms"] - wall) <= 5, f"tool {name}: latency_ms is the time between the two timestamps",
                         f"recorded {result['latency_ms']}, timestamps differ by {wall}")
    # Parallel calls are told apart; so should be the same command run twice in one session,
    # and a subagent's call from the parent's identical one.
    recorded = [(d.payload or {}, evs[0].get("tool_call_id")) for d, evs, _, _ in tool_pairs if len(evs) == 1]
    repeated = [i for p, i in recorded if "kaizen-e2e-ok" in json.dumps(p.get("toolArgs"))]
    sub_ids = [i for p, i in recorded if "agentId" in p]
    others = [i for p, i in recorded if "agentId" not in p and i not in repeated]
    checks.eq(len(others), len(set(others)), "every other tool call has its own tool_call_id")
    checks.known_gap(bool(sub_ids) and not set(sub_ids) & set(others),
                     "the subagent's view of README.md and the parent's get two tool_call_ids",
                     "NEW since subagent deliveries are filed under the parent: the derived id hashes the (parent) "
                     f"session, tool and args, not the subagent's own sessionId: {sub_ids} shared with the parent's")
    checks.known_gap(len(repeated) == 2 and len(set(repeated)) == 2,
                     "the same bash command in two turns gets two tool_call_ids",
                     "NEW: Copilot payloads carry no call id and no turn id; the derived id hashes session, tool and "
                     f"args only, so repeated calls share it: {repeated}")
    par = [t for t in tool_pairs if t[2] is not None and "agentId" not in (t[0].payload or {})
           and ("parallel-one" in json.dumps((t[0].payload or {}).get("toolArgs"))
                or (t[0].payload.get("toolName") == "view" and "README.md" in json.dumps(t[0].payload.get("toolArgs"))))]
    starts = [t[0].payload.get("timestamp", 0) for t in par]
    ends = [t[2].payload.get("timestamp", 0) for t in par]
    checks.check(len(par) == 2 and max(starts) <= min(ends), "the two parallel calls both started before either finished",
                 f"pre {starts}, post {ends}")
    # Copilot's own ids (`call_kz_*`, in its transcript) never reach the hooks.
    checks.check(all("call_kz" not in d.raw.decode(errors="replace") for d, _, _, _ in tool_pairs),
                 "Copilot hook payloads carry no tool call id (so kaizen-hook derives one)")


def check_failures(checks, pairs, events, records, session_id, transcript):
    # A view of a missing file: postToolUseFailure.
    fails = [(d, evs) for d, evs in pairs if d.label == "postToolUseFailure"]
    checks.check(bool(fails), "view of a missing file: Copilot delivered postToolUseFailure")
    for d, evs in fails:
        if len(evs) == 1:
            checks.eq(evs[0].get("kind"), "Error", "postToolUseFailure (view missing): recorded as Error (issue 11 item 2)")
    # A bash command that exited 2: Copilot says resultType success; only the text has the exit code.
    shell_fails = [(d, evs) for d, evs in pairs if d.label == "postToolUse" and is_failed_shell(d.payload or {})]
    checks.check(bool(shell_fails), "bash exit 2: delivered as postToolUse with resultType success and 'exit code 2' in the text")
    for d, evs in shell_fails:
        if len(evs) == 1:
            e = evs[0]
            failed = e.get("kind") == "Error" or (e.get("payload") or {}).get("failed") is True
            checks.check(failed, "bash exit 2: recorded as a failed result (Copilot says resultType success; "
                         "the text ends '<shellId: N completed with exit code 2>')", f"recorded kind {e.get('kind')}")
    # A tool call denied by --deny-tool: preToolUse + permissionRequest, then nothing.
    denied = [e for e in events if e.get("tool") == "bash" and "rm -f" in json.dumps((e.get("payload") or {}).get("input"))
              and e.get("kind") in ("Error", "ToolResult")]
    checks.known_gap(any(e.get("kind") == "Error" or (e.get("payload") or {}).get("failed") for e in denied),
                     "bash rm denied by --deny-tool: the call is recorded as failed",
                     "NEW for Copilot (issue 11 item 2 lists it for Claude): no post hook fires for a denied call; "
                     "the transcript's tool.execution_complete has success false, error.code 'denied', but under "
                     "Copilot's own call id (call_kz_denied_rm), which no hook sends: the recorded call has a derived id, "
                     "and no single transcript line names both")
    # errorOccurred: one per failed model attempt, all `recoverable: true`.
    errs = [(d, evs) for d, evs in pairs if d.label == "errorOccurred"]
    checks.check(len(errs) >= 2, "model errors: Copilot delivered errorOccurred per failed attempt", f"{len(errs)}")
    for d, evs in errs:
        p = d.payload or {}
        checks.check(p.get("errorContext") == "model_call", "errorOccurred: errorContext model_call", str(p.get("errorContext")))
    # The session's error count: view missing + bash exit 2 + denied rm + every errorOccurred.
    rec_events = [e for e in events if e.get("session_id") == session_id]
    last = (rec_events[-1].get("payload") or {}) if rec_events else {}
    counted = last.get("session_errors")
    expected = len(fails) + len(shell_fails) + 1 + len(errs)
    checks.known_gap(counted == expected, f"session_errors counts every failure ({expected})",
                     f"issue 11 item 2 + NEW (exit 2, denied): recorded {counted}")


def check_subagent(checks, pairs, records, session_id):
    starts = [d for d, _ in pairs if d.label == "subagentStart"]
    stops = [d for d, _ in pairs if d.label == "subagentStop"]
    checks.eq((len(starts), len(stops)), (1, 1), "subagent: one subagentStart and one subagentStop")
    if not starts:
        return
    sp = starts[0].payload or {}
    agent_id = sp.get("agentId")
    checks.eq(sp.get("sessionId"), session_id, "subagentStart: sessionId is the parent session")
    inner = [(d, evs) for d, evs in pairs if (d.payload or {}).get("agentId") == agent_id
             and d.label not in ("subagentStart", "subagentStop")]
    labels = sorted({d.label for d, _ in inner})
    checks.eq(labels, ["agentStop", "postToolUse", "preToolUse", "userPromptSubmitted", "userPromptTransformed"],
              "subagent: its own prompt, tool and agentStop deliveries")
    unlinked = []
    for d, evs in inner:
        p = d.payload or {}
        checks.check(p.get("sessionId") == agent_id and p.get("parentAgentId") == session_id,
                     f"subagent {d.label}: Copilot sends sessionId = agentId and parentAgentId = the parent", _brief(p))
        if len(evs) != 1:
            continue
        e = evs[0]
        ep = e.get("payload") or {}
        sub = ep.get("subagent") if isinstance(ep.get("subagent"), dict) else {}
        linked = e.get("session_id") == session_id and sub == {"id": agent_id, "type": sp.get("agentType")}
        if not linked:
            unlinked.append(f"{d.label} in session {e.get('session_id')[:8]} as {sub}")
    checks.check(not unlinked, f"subagent: its {len(inner)} deliveries are recorded in the parent session, "
                 "payload.subagent naming it (Copilot sends sessionId = agentId, parentAgentId = the parent)",
                 f"recorded without a parent link: {unlinked}")
    checks.eq(records.get(agent_id), None, "subagent: no session record of its own")


def check_lifecycle(checks, pairs, snapshots, records, session_id, deliveries):
    starts = [d for d in deliveries if d.label == "sessionStart"]
    checks.eq([(d.payload or {}).get("source") for d in starts], ["new", "resume", "resume", "resume", "resume"],
              "sessionStart per run: new, then resume")
    ends = [(d.payload or {}).get("reason") for d in deliveries if d.label == "sessionEnd"]
    checks.eq(ends, ["complete", "complete", "complete", "complete", "error"], "sessionEnd per run")
    checks.eq([(d.payload or {}).get("trigger") for d in deliveries if d.label == "preCompact"], ["auto"],
              "compact run: one preCompact, trigger auto")
    for name in RUNS:
        snap = snapshots.get(name)
        checks.check(snap is not None, f"after run {name}: the session has a record")
        if snap:
            checks.eq(snap.get("status"), "Done", f"after run {name}: status")
    rec = records.get(session_id) or {}
    checks.check(isinstance(rec.get("ended_at_ms"), int), "final record: ended_at_ms set", str(rec.get("ended_at_ms")))
    last_end = [d for d in deliveries if d.label == "sessionEnd"][-1:]
    if last_end and isinstance(rec.get("ended_at_ms"), int):
        checks.eq(rec["ended_at_ms"], (last_end[0].payload or {}).get("timestamp"), "final record: ended_at_ms is the last sessionEnd's timestamp")
    # Each resumed sessionStart is recorded (not dropped as a duplicate) and sets Running again.
    for d, evs in pairs:
        if d.label == "sessionStart":
            checks.eq(len(evs), 1, f"sessionStart ({(d.payload or {}).get('source')}) recorded")
    # agentStop turns the session Idle, the next run's start Running: the event order says so.
    own = [e for e in _events_of(pairs, session_id)]
    kinds = [((e.get("payload") or {}).get("type")) for e in own if "subagent" not in (e.get("payload") or {})]
    checks.eq(kinds.count("agent_stop"), 4, "agentStop recorded once per completed turn (main, resume, denied, compact), "
              "the subagent's aside")
    checks.eq(kinds.count("pre_compact"), 1, "preCompact recorded")
    checks.eq(rec.get("trace_path", "").endswith(f"session-state/{session_id}/events.jsonl"), True,
              "record: trace_path is Copilot's transcript (transcriptPath)")
    checks.eq(rec.get("agent"), AGENT, "record: agent")
    checks.check(bool(rec.get("start_commit")) and rec.get("branch") == "main", "record: start_commit and branch",
                 f"{rec.get('start_commit')} {rec.get('branch')}")
    checks.eq(rec.get("dirty_end"), True, "record: dirty_end (hello.txt was created)")


def _events_of(pairs, session_id):
    seen = []
    for _, evs in pairs:
        for e in evs:
            if e.get("session_id") == session_id:
                seen.append(e)
    return sorted(seen, key=lambda e: e.get("seq", 0))


def check_identity(checks, records, session_id, deliveries, pinned):
    rec = records.get(session_id) or {}
    env_versions = {d.env.get("COPILOT_CLI_BINARY_VERSION") for d in deliveries}
    checks.eq(env_versions, {pinned}, "every hook ran with COPILOT_CLI_BINARY_VERSION set")
    checks.eq(rec.get("agent_version"), pinned, "record: agent_version (COPILOT_CLI_BINARY_VERSION in the hook env)")
    # No hook payload names the model: kaizen-hook reads it from the transcript at turn ends.
    checks.eq(rec.get("model"), MODEL, "record: model, from the transcript (session.usage_record.data.usage.model)")


def check_commands(checks, sb, session_id, records):
    checks.eq(sb.hook_log().strip(), "", "kaizen-hook.log: no problem logged by any Copilot delivery")
    doctor = sb.kaizen("doctor")
    text = doctor.stdout + doctor.stderr
    checks.check(doctor.returncode == 0 and re.search(r"registered for 13 of 13 events", text) is not None
                 and "runs this binary" in text,
                 "doctor: exits 0 and reports copilot registered, running this binary",
                 f"exit {doctor.returncode}: {' / '.join(l.strip() for l in text.splitlines() if 'PROBLEM' in l)[:200]}")
    sessions = sb.kaizen("sessions", "--json")
    checks.eq(sessions.returncode, 0, "sessions --json: exit status")
    try:
        rows = json.loads(sessions.stdout)
    except ValueError:
        rows = None
    checks.check(isinstance(rows, list), "sessions --json: a JSON list", sessions.stdout[:200])
    row = next((r for r in rows or [] if r.get("id") == session_id), None)
    if checks.check(row is not None, "sessions --json: lists the Copilot session", str([r.get("id") for r in rows or []])):
        checks.eq(row.get("agent"), AGENT, "sessions --json: agent")
        checks.eq(row.get("status"), "Done", "sessions --json: status")
        checks.check((row.get("tool_calls") or 0) >= 10, "sessions --json: tool_calls counted", str(row.get("tool_calls")))
    tops = [r for r in rows or [] if r.get("agent") == AGENT]
    checks.eq(len(tops), 1, "sessions --json: one Copilot session (the subagent is not a session of its own)")
    show = sb.kaizen("show", session_id, "--json")
    checks.eq(show.returncode, 0, "show <id> --json: exit status")
    try:
        shown = json.loads(show.stdout)
    except ValueError:
        shown = None
    checks.check(isinstance(shown, dict) and (shown.get("session") or {}).get("id") == session_id,
                 "show <id> --json: the session", show.stdout[:200])
    human = sb.kaizen("show", session_id)
    checks.eq(human.returncode, 0, "show <id>: exit status")
    timeline = [m for m in (re.match(r"^[ !] \+\S+\s+(\w+)\s+(\S+)\s*(.*)$", l) for l in human.stdout.splitlines()) if m]
    checks.check(len(timeline) >= 40, "show <id>: a timeline line per event", f"{len(timeline)} lines")
    empty = sorted({m.group(2) for m in timeline if not m.group(3).strip()})
    raw = sorted({m.group(2) for m in timeline if m.group(3).lstrip().startswith("{")})
    checks.check(not empty and not raw, "show <id>: every timeline line has a human summary, no blank, no raw JSON (issue 11 item 12)",
                 f"blank for {empty}, raw JSON for {raw}")


def check_reinstall(checks, sb):
    """Installing again changes nothing; uninstall removes our file (install created it) and nothing else."""
    hooks_dir = sb.home / ".copilot" / "hooks"
    snapshot = {p.name: p.read_bytes() for p in hooks_dir.glob("*.json")}
    again = sb.kaizen("install", "--agent", AGENT)
    checks.eq(again.returncode, 0, "install --agent copilot a second time: exit status")
    checks.check({p.name: p.read_bytes() for p in hooks_dir.glob("*.json")} == snapshot,
                 "install --agent copilot a second time changes nothing")
    capture = (hooks_dir / CAPTURE_FILE).read_bytes()
    gone = sb.kaizen("uninstall", "--agent", AGENT)
    checks.eq(gone.returncode, 0, "uninstall --agent copilot: exit status")
    checks.eq(kaizen_entries(sb.home), {}, "uninstall --agent copilot: no kaizen-hook entry left")
    checks.check(not (hooks_dir / OURS).exists(), f"uninstall --agent copilot: {OURS}, which install created, is gone")
    checks.check((hooks_dir / CAPTURE_FILE).is_file() and (hooks_dir / CAPTURE_FILE).read_bytes() == capture,
                 "uninstall --agent copilot: another hook file is left as it was")


def check_transcript(checks, transcript, served, pinned):
    """Copilot's own transcript (for issue 12): one session.usage_record per served response, same figures."""
    if not checks.check(transcript.is_file(), "transcript: session-state/<id>/events.jsonl exists", str(transcript)):
        return
    lines = [json.loads(l) for l in transcript.read_text().splitlines() if l.strip()]
    start = next((l for l in lines if l.get("type") == "session.start"), {})
    checks.eq((start.get("data") or {}).get("copilotVersion"), pinned, "transcript: session.start.data.copilotVersion")
    records = [l for l in lines if l.get("type") == "session.usage_record"]
    by_id = {}
    for r in records:
        u = r["data"]["usage"]
        by_id.setdefault(u.get("apiCallId"), []).append(u)
    for s in served:
        if s["status"] != 200:
            continue
        got = by_id.get(s["response_id"], [])
        if s["step"] == "compact.summary":
            compaction = [l for l in lines if l.get("type") == "session.compaction_complete"]
            used = ((compaction[0].get("data") or {}).get("compactionTokensUsed") or {}) if compaction else {}
            checks.eq(got, [], "transcript: the compaction's summary call has no session.usage_record")
            checks.eq((used.get("inputTokens"), used.get("outputTokens"), used.get("cacheReadTokens"), used.get("cacheWriteTokens")),
                      (s["usage"]["prompt_tokens"], s["usage"]["completion_tokens"], s["usage"]["cached_tokens"], s["usage"]["cache_write_tokens"]),
                      "transcript: session.compaction_complete.data.compactionTokensUsed has the summary call's usage")
            continue
        if not checks.eq(len(got), 1, f"transcript: one usage_record for {s['response_id']}"):
            continue
        u = got[0]
        want = s["usage"]
        checks.eq((u.get("model"), u.get("inputTokens"), u.get("outputTokens"), u.get("cacheReadTokens"),
                   u.get("cacheWriteTokens"), u.get("reasoningTokens"), (u.get("accounting") or {}).get("usageId")),
                  (s["model"], want["prompt_tokens"], want["completion_tokens"], want["cached_tokens"],
                   want["cache_write_tokens"], want["reasoning_tokens"], s["response_id"]),
                  f"transcript: usage_record of {s['step']} (model, in incl. cache read, out incl. reasoning, read, write, reasoning, usageId)")


def check_costs(checks, events, served, session_id, transcript):
    """Issue 12: one Cost event per served response, with the mock's figures (SPEC §11 meanings:
    tokens_in excludes cache reads and writes; tokens_out includes reasoning), its price from
    the snapshot, and nothing counted twice although the subagentStop, every agentStop,
    the preCompact and every sessionEnd read the same file (the subagent's calls are in
    the parent's, marked agentId).

    Copilot writes its transcript through a queue: at agentStop and sessionEnd a run's last
    lines are often not on disk yet (measured: the file grows ~50-100 ms after the hook
    starts), and background compaction finishes after the run's sessionEnd. Those lines are
    taken at the session's next turn end (here the next run's); the last run (error) has no
    response, so every response is counted by the end."""
    costs = [e for e in events if e.get("kind") == "Cost"]
    lines = [json.loads(l) for l in transcript.read_text().splitlines() if l.strip()] if transcript.is_file() else []
    attempts = [(l.get("data") or {}).get("compactionAttemptId") for l in lines if l.get("type") == "session.compaction_complete"]
    rates = _gpt_rates()
    bad, priced, timing = [], [], []
    ok_count = 0
    for s in served:
        if s["status"] != 200:
            continue
        u = s["usage"]
        # The compaction's call has no usage record: it is counted from compaction_complete, under
        # its compactionAttemptId; Copilot keeps no reasoning count for it (outputTokens include it).
        summary = s["step"] == "compact.summary"
        key = (attempts[0] if len(attempts) == 1 else None) if summary else s["response_id"]
        want = (u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"], u["cached_tokens"],
                u["cache_write_tokens"], u["completion_tokens"], s["model"], "Tail")
        mine = [e for e in costs if (e.get("payload") or {}).get("response_id") == key]
        got = [(e.get("tokens_in"), e.get("cache_read_tokens"), e.get("cache_creation_tokens"), e.get("tokens_out"),
                (e.get("payload") or {}).get("model"), e.get("source")) for e in mine]
        if got != [want] or any((e.get("payload") or {}).get("correction") for e in mine):
            bad.append(f"{s['step']} {key}: want {want}, recorded {got}")
            continue
        ok_count += 1
        e = mine[0]
        if not summary and e.get("reasoning_tokens") != u["reasoning_tokens"]:
            bad.append(f"{s['step']}: reasoning {u['reasoning_tokens']}, recorded {e.get('reasoning_tokens')}")
        expected_cost = _cost_e6(rates, want[0], u["completion_tokens"], u["cached_tokens"], u["cache_write_tokens"])
        if (e.get("cost_usd_e6"), (e.get("payload") or {}).get("price_revision")) != (expected_cost, rates["revision"]):
            priced.append(f"{s['step']}: want {expected_cost} ({rates['revision']}), recorded {e.get('cost_usd_e6')} "
                          f"({(e.get('payload') or {}).get('price_revision')})")
        if not summary and not (isinstance(e.get("ttft_ms"), int) and isinstance(e.get("latency_ms"), int)
                                and e.get("stop_reason") == s["finish_reason"] and e.get("context_max_tokens") == 64000):
            timing.append(f"{s['step']}: ttft {e.get('ttft_ms')} latency {e.get('latency_ms')} stop {e.get('stop_reason')} "
                          f"context_max {e.get('context_max_tokens')}")
    total = ok_count + len(bad)
    checks.check(not bad, f"Cost events: one per served response ({total}, the subagent's and the compaction's included), "
                 "in/read/write/out/reasoning/model as served, source Tail", f"{len(bad)} missing or wrong: {bad[:3]}")
    checks.eq(len(costs), total, "Cost events: no other, none twice, no correction")
    checks.check(not priced, "Cost events: cost_usd_e6 is the snapshot's gpt-4.1 price of the served figures, with its revision",
                 "; ".join(priced[:3]))
    checks.check(not timing, "Cost events: ttft_ms, latency_ms (usage.duration), stop_reason (finishReason) and "
                 "context_max_tokens (maxPromptTokens 64000) from the usage record", "; ".join(timing[:3]))
    summary_costs = [e for e in costs if (e.get("payload") or {}).get("response_id") in attempts]
    checks.known_gap(bool(summary_costs) and all(e.get("reasoning_tokens") is None for e in summary_costs),
                     "the compaction's Cost event: reasoning_tokens unknown (null)",
                     "Copilot's compactionTokensUsed has no reasoningTokens; the transcript mechanism's Response.reasoning "
                     f"is a plain number, so it is recorded as {[e.get('reasoning_tokens') for e in summary_costs]}")
    own = sorted(e["seq"] for e in events if e.get("session_id") == session_id)
    checks.eq(own, list(range(len(own))), "events: seq 0..n-1 without gaps, Cost events included")
    checks.eq([(e.get("payload") or {}).get("agent_cost_usd") for e in costs if "agent_cost_usd" in (e.get("payload") or {})], [],
              "no agent_cost_usd: Copilot's usage.cost is a premium-request multiplier (0.0 in BYOK), not USD")


def usage_counted(sb, session_id):
    """Every session.usage_record key in Copilot's events.jsonl now; those with a Cost event before a
    `kaizen-hook sessions` run, and after it (once each); and the record's model then."""
    transcript = sb.home / ".copilot" / "session-state" / session_id / "events.jsonl"
    lines = [json.loads(l) for l in transcript.read_text().splitlines() if l.strip()] if transcript.is_file() else []
    usage = [l["data"]["usage"] for l in lines if l.get("type") == "session.usage_record"]
    keys = sorted((u.get("accounting") or {}).get("usageId") or u.get("apiCallId") for u in usage)

    def counted():
        costs = [e for e in sb.events() if e.get("kind") == "Cost" and e.get("session_id") == session_id]
        return sorted(k for k in ((e.get("payload") or {}).get("response_id") for e in costs) if k in set(keys))

    before = counted()
    listed = sb.kaizen("sessions", "--json")
    return dict(keys=keys, before=before, status=listed.returncode, after=counted(),
                model=(sb.records().get(session_id) or {}).get("model"))


def check_read_again(checks, sb, session_id, after_main):
    """Issue 25: Copilot writes a run's last usage records after its agentStop and sessionEnd returned,
    so no turn end of that run reads them and the session is Done. A `kaizen-hook sessions` run once
    Copilot has exited reads the transcript again: every session.usage_record then has its Cost event,
    once, and the record names the model. Checked after the main run (before the next run's turn ends
    could count them) and at the end, twice (nothing counted again)."""
    for when, got in (("the main run", after_main), ("the last run", usage_counted(sb, session_id)),
                      ("the last run, again", usage_counted(sb, session_id))):
        late = len(got["keys"]) - len(got["before"])
        checks.eq(got["status"], 0, f"after {when}: sessions --json: exit status")
        checks.eq(got["after"], got["keys"], f"after {when}, a sessions run: every session.usage_record in "
                  f"events.jsonl ({len(got['keys'])}, {late} not counted by the run's hooks) has its Cost event, once")
        checks.eq(got["model"], MODEL, f"after {when}, a sessions run: the record names the model")


def _gpt_rates():
    """The snapshot's gpt-4.1 rates in pico-USD per token (a cache rate it does not list is the input rate)."""
    prices = json.loads((common.ROOT / "src" / "cost" / "prices.json").read_text())
    model = prices[MODEL]
    pico = lambda usd: round(usd * 1e12)  # noqa: E731
    rate_in = pico(model["input_cost_per_token"])
    return dict(revision=prices["_revision"], input=rate_in, output=pico(model["output_cost_per_token"]),
                read=pico(model.get("cache_read_input_token_cost") or model["input_cost_per_token"]),
                write=pico(model.get("cache_creation_input_token_cost") or model["input_cost_per_token"]))


def _cost_e6(rates, tokens_in, tokens_out, read, write):
    pico = tokens_in * rates["input"] + tokens_out * rates["output"] + read * rates["read"] + write * rates["write"]
    return (pico + 500_000) // 1_000_000


# --------------------------------------------------------------------------- fixtures and debugging


def _redact_paths(text: str, sb) -> str:
    text = text.replace(str(sb.work), "/work/project")
    text = text.replace(str(sb.home), "/home/user")
    text = text.replace(str(sb.capture_dir), "/home/user/capture")
    return text.replace(str(sb.tmp), "/tmp/e2e")


def write_fixtures(sb, deliveries):
    """tests/fixtures/real/copilot/<event>.json: the first delivery of each event, plus named variants."""
    out = common.ROOT / "tests" / "fixtures" / "real" / AGENT
    out.mkdir(parents=True, exist_ok=True)
    chosen = {}
    for d in deliveries:
        p = d.payload or {}
        name = d.label
        variant = None
        if "agentId" in p and name not in ("subagentStart", "subagentStop"):
            variant = "subagent"
        elif name == "sessionStart" and p.get("source") != "new":
            variant = p.get("source")
        elif name == "sessionEnd" and p.get("reason") != "complete":
            variant = p.get("reason")
        elif name == "postToolUse" and is_failed_shell(p):
            variant = "exit2"
        elif name == "preToolUse" and p.get("toolName") != "bash":
            variant = p.get("toolName")
        elif name == "permissionRequest" and p.get("toolName") != "bash":
            variant = p.get("toolName")
        key = f"{name}--{variant}" if variant else name
        chosen.setdefault(key, d)
    for key, d in chosen.items():
        text = _redact_paths(d.raw.decode(), sb)
        value = json.loads(text)
        (out / f"{key}.json").write_text(json.dumps(value, indent=2) + "\n")
    print(f"copilot: wrote {len(chosen)} fixtures to {out}")


def dump_debug(sb, deliveries, events, records, served):
    path = sb.logs / "debug.txt"
    with path.open("w") as f:
        for d in deliveries:
            f.write(f"DELIVERY {d.label} {d.hash} {d.raw.decode()[:600]}\n")
        for e in events:
            p = dict(e.get("payload") or {})
            p.pop("input", None)
            p.pop("context", None)
            f.write(f"EVENT {e['session_id'][:8]} {e['seq']} {e['kind']} tool={e.get('tool')} id={e.get('tool_call_id')} "
                    f"lat={e.get('latency_ms')} stop={e.get('stop_reason')} {json.dumps(p)[:500]}\n")
        for k, r in records.items():
            f.write(f"RECORD {json.dumps(r)}\n")
        for s in served:
            f.write(f"SERVED {s}\n")
    print(f"copilot: debug dump in {path}")
