"""Cline CLI (`cline`), headless against the scripted OpenAI Chat Completions mock on 127.0.0.1.

How it runs (Cline CLI 3.0.65, the native binary of `@cline/cli-linux-x64`):

    cline auth -p openai-compatible -k dummy -m gpt-4.1 -b <mock>/v1   # ~/.cline/data/settings/providers.json
    cline --json "<prompt>"                                           # act mode, tools auto-approved

No login: the `openai-compatible` provider needs only a base URL and a key. Each run
starts Cline's "hub" daemon (`.cline --cline-hub-daemon`, listening on 127.0.0.1:25463),
which outlives the run: the case ends every process of the sandbox's HOME by pid.
`cline --id <session>` (resume) opens the interactive TUI only (it needs a terminal),
so the scenario is one run. Its connect() calls are not traced as Codex's are: under
`strace -f` the run never returns, strace waiting for the hub daemon it also follows.

Hooks: Cline runs the executable named after each event (`TaskStart`, `PreToolUse`,
`PostToolUse`, `TaskComplete`, `TaskError`, ...) in `~/.cline/hooks/` and in
`~/Documents/Cline/Hooks/`, both. `kaizen-hook install --agent cline` writes ours in the
first; the capture scripts go in the second. Cline 3.x sends its own event names in
`hookName` (`agent_start`, `tool_call`, `tool_result`, `agent_end`).

The scenario (the mock's `[kz:cline]` marker): `run_commands` echo; `run_commands` that
exits 2; `read_files` of a missing file; `read_files` of a file; a final answer.
"""

import json
import os
import time

import common
from mock.openai_chat import MODEL, CLINE_USAGE, OpenAIChatMock, cline_script

AGENT = "cline"
HOOK_FILES = ["TaskStart", "TaskResume", "TaskCancel", "TaskComplete", "TaskError", "PreToolUse", "PostToolUse",
              "UserPromptSubmit", "PreCompact", "SessionShutdown"]
PROMPT = "[kz:cline] Run the scripted end-to-end scenario."
# What each 3.x event should be recorded as: (kind, phase).
EXPECTED = {
    "agent_start": ("Lifecycle", "session_start"),
    "tool_call": ("ToolCall", "tool_call"),
    "tool_result": ("ToolResult", "tool_result"),
    "agent_end": ("Lifecycle", "turn_end"),
    "agent_error": ("Error", "turn_failure"),
}


def run(checks):
    prefix = common.npm_install(AGENT)
    binary = prefix / "node_modules" / "cline" / "bin" / "cline"
    pinned = common.versions()[AGENT]["version"]
    sandbox = common.Sandbox(AGENT)
    started = time.monotonic()
    try:
        _run(checks, sandbox, binary, pinned)
    finally:
        sandbox.end_processes()
        print(f"cline: sandbox {sandbox.tmp} ({time.monotonic() - started:.0f} s)")
        sandbox.cleanup()


def _run(checks, sb, binary, pinned):
    version = sb.run([binary, "--version"], "version", timeout=120)
    checks.check(pinned in version.stdout.decode(), "cline --version is the pinned one", version.stdout.decode().strip())

    # --- registration: the installer ---
    (sb.home / ".cline").mkdir(exist_ok=True)  # `cline --version` may have made it already
    install = sb.kaizen("install")
    if not checks.eq(install.returncode, 0, f"kaizen-hook install: exit status ({install.stdout.strip()[:300]})"):
        return
    checks.check("cline: wrote 10 file(s)" in install.stdout, "kaizen-hook install finds Cline by ~/.cline", install.stdout[:300])
    ours = sb.home / ".cline" / "hooks"
    for name in HOOK_FILES:
        path = ours / name
        text = path.read_text() if path.is_file() else ""
        checks.check(os.access(path, os.X_OK) and common.MARKER in text and str(sb.bin) in text and "--agent cline" in text,
                     f"install writes an executable {name} that runs kaizen-hook", text[:200])
    capture = sb.home / "Documents" / "Cline" / "Hooks"
    capture.mkdir(parents=True)
    for name in HOOK_FILES:
        (capture / name).write_text(f"#!/bin/sh\nexec {sb.capture_command(name)}\n")
        (capture / name).chmod(0o755)

    # --- the scenario ---
    mock = OpenAIChatMock(sb.work, scripted=cline_script(sb.work), usage=CLINE_USAGE)
    with common.MockServer(mock) as server:
        auth = sb.run([binary, "auth", "-p", "openai-compatible", "-k", "dummy", "-m", MODEL, "-b", f"{server.url}/v1"],
                      "auth", timeout=120)
        checks.eq(auth.returncode, 0, "cline auth configures the loopback provider")
        t0 = time.monotonic()
        out = sb.run([binary, "--json", PROMPT], "cline-main", timeout=240)
        checks.eq(out.returncode, 0, f"cline run: exit status ({time.monotonic() - t0:.1f} s; logs/cline-main.err)")
        served = list(mock.served)
        unknown = list(mock.unknown)
    # The hooks run detached from the run; give the last one a moment to land.
    common.wait_for(lambda: any(d.label == "TaskComplete" for d in sb.deliveries()), timeout=10)
    time.sleep(0.5)
    deliveries = sb.deliveries()
    pairs = common.match(deliveries, sb.events())
    checks.eq([r["step"] for r in served], [s[0] for s in cline_script(sb.work)["cline"]], "the mock served the scenario")
    checks.eq(unknown, [], "Cline made no request the mock does not know")
    root = check_deliveries(checks, pairs)
    if root:
        check_session(checks, sb, pairs, root, pinned)
        check_commands(checks, sb, root)
    check_reinstall(checks, sb, ours)


def check_deliveries(checks, pairs):
    """Each delivery recorded once, with its kind and phase, tool and call id; returns the session."""
    checks.check(len(pairs) >= 10, "Cline delivered the scenario's hooks", f"{len(pairs)} deliveries")
    roots = set()
    for d, recorded in pairs:
        p = d.payload or {}
        name = p.get("hookName")
        what = f"{d.label} ({name})"
        if not checks.eq(len(recorded), 1, f"{what}: recorded exactly once"):
            continue
        e = recorded[0]
        roots.add(p.get("sessionContext", {}).get("rootSessionId"))
        checks.eq(e["session_id"], p["sessionContext"]["rootSessionId"], f"{what}: keyed on the root session")
        checks.eq(e["payload"]["input"].get("taskId"), p.get("taskId"), f"{what}: the task id is kept")
        kind, phase = EXPECTED.get(name, ("?", "?"))
        call = p.get("tool_call") or p.get("tool_result")
        if name == "tool_result":
            failed = [o for o in call.get("output") or [] if o.get("success") is False]
            if failed:
                kind, phase = "Error", "tool_failure"
                checks.eq(e["payload"].get("phase_note"), failed[0].get("error"), f"{what}: why it failed")
                checks.eq(p["postToolUse"]["success"], True, f"{what}: Cline's own postToolUse.success says true")
            checks.eq(e["latency_ms"], call.get("durationMs"), f"{what}: Cline's own duration")
        checks.eq((e["kind"], e["payload"].get("phase")), (kind, phase), f"{what}: kind and phase")
        if call:
            checks.eq((e["tool"], e["tool_call_id"]), (call["name"], call["id"]), f"{what}: tool and call id")
    checks.eq(len(roots), 1, "one session for the run")
    return next(iter(roots)) if len(roots) == 1 else None


def check_session(checks, sb, pairs, root, pinned):
    rec = sb.records().get(root)
    if not checks.check(rec is not None, "a record for the root session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["status"], "Idle", "record: agent_end ended the turn")
    checks.eq(rec["model"], MODEL, "record: model, from Cline's session metadata")
    checks.eq(rec["agent_version"], pinned, "record: version, from Cline's session metadata")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace")
    head = sb.run(["git", "rev-parse", "HEAD"], "head").stdout.decode().strip()
    checks.eq(rec["end_commit"], head, "record: end commit at the turn end")
    check_costs(checks, sb, root)


def check_costs(checks, sb, root):
    """One Cost event per model response, from the session's messages file.

    Cline rewrites `<root>.messages.json` as the run goes, and the last
    response's figures land after its `agent_end` hook started: the hook's
    read may come before them. `sessions` reads what the file added since."""
    sb.kaizen("sessions", "--json")
    costs = [e for e in sb.events() if e["session_id"] == root and e["kind"] == "Cost"]
    steps = [s[0] for s in cline_script(sb.work)["cline"]]
    checks.eq(len(costs), len(steps), f"one Cost event per model response ({len(steps)})")
    got = sorted((e["tokens_in"], e["cache_read_tokens"], e["cache_creation_tokens"], e["tokens_out"]) for e in costs)
    want = sorted((u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"], u["cached_tokens"],
                   u["cache_write_tokens"], u["completion_tokens"]) for u in (CLINE_USAGE[s] for s in steps))
    checks.eq(got, want, "Cost events: the mock's usage of each response (input without the cached, cache read, output)")
    checks.eq({e["payload"].get("model") for e in costs}, {MODEL}, "Cost events: the model")
    keys = [e["payload"].get("response_id") for e in costs]
    checks.eq(len(set(keys)), len(keys), "Cost events: each response counted once, by its message id")
    checks.check(all(e["payload"].get("transcript", "").endswith(f"{root}.messages.json") for e in costs),
                 "Cost events: read from the session's messages file")
    again = sb.kaizen("sessions", "--json")
    checks.eq((again.returncode, len([e for e in sb.events() if e["kind"] == "Cost"])), (0, len(costs)),
              "reading again adds nothing")


def check_commands(checks, sb, root):
    doctor = sb.kaizen("doctor")
    checks.check("registered for 10 of 10 events" in doctor.stdout, "doctor: Cline registered for every hook file",
                 doctor.stdout[:600])
    checks.check("a session was last recorded" in doctor.stdout, "doctor: Cline's sessions are recorded")
    row = next(iter(sb.session_rows(root)), None)
    if checks.check(row is not None, "sessions --json lists the session"):
        checks.eq((row["tool_calls"], row["errors"]), (4, 2), "sessions: 4 tool calls, 2 errors")
    show = sb.kaizen("show", root, "--json")
    shown = json.loads(show.stdout) if show.returncode == 0 else {}
    tools = {t["tool"]: (t["calls"], t["errors"]) for t in shown.get("tools", [])}
    checks.eq(tools, {"run_commands": (2, 1), "read_files": (2, 1)}, "show: calls and failures per tool")


def check_reinstall(checks, sb, ours):
    again = sb.kaizen("install", "--agent", AGENT)
    checks.check("unchanged" in again.stdout, "installing again changes nothing", again.stdout[:200])
    gone = sb.kaizen("uninstall", "--agent", AGENT)
    checks.eq(gone.returncode, 0, "uninstall: exit status")
    checks.check(not ours.exists(), "uninstall removes the hook files it wrote (and their directory)", gone.stdout[:200])
    capture = sb.home / "Documents" / "Cline" / "Hooks"
    checks.eq(len(list(capture.iterdir())), len(HOOK_FILES), "uninstall leaves the other hooks alone")
