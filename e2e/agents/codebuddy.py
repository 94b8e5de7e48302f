"""CodeBuddy Code (Tencent), the real CLI, against the scripted OpenAI Chat Completions mock.

The CLI is not published on its own: it ships inside npm `@tencent-ai/agent-sdk`
as `cli/` (package `@tencent-ai/codebuddy-code`, entry point `cli/bin/codebuddy`).
Headless: `codebuddy -p <prompt> -y` with CODEBUDDY_BASE_URL (the mock),
CODEBUDDY_API_KEY (dummy) and CODEBUDDY_MODEL. Offline: without
CODEBUDDY_SKIP_BUILTIN_MARKETPLACE it `git clone`s its plugin marketplace from
cnb.cool, without CODEBUDDY_REMOTE_CONFIG_DISABLED it fetches its product
configuration, without OTEL_TRACES_EXPORTER=none it exports traces and without
DISABLE_TELEMETRY it posts reports to www.codebuddy.ai, and without
CODEBUDDY_SANDBOX_CLOUD_AUDIT_DISABLED it starts an audit client. Every run is
traced (strace, connect()) and must reach nothing but loopback.

Runs, in one temporary HOME where `kaizen-hook install --agent codebuddy`
registered the hooks in `~/.codebuddy/settings.json` (plus capture.sh beside each):

  1. main     `--session-id <uuid>`: a command that succeeds, one that exits 2
              (PostToolUse with `is_error`), Write, Edit, Read, a read of a
              missing file (PostToolUse with `is_error`), an Edit whose text is
              not found (PostToolUseFailure), a command and a read in one
              response, a subagent (Agent) that reads a file, a final answer.
  2. resume   `--resume <uuid>`: one command and an answer.
  3. error    a new session whose one model call is answered HTTP 500: CodeBuddy
              does not retry, exits 0 and sends Stop (not StopFailure) whose
              last message is the error, ending in `(<generation_id>/<session_id>)`;
              its transcript holds it as an `incomplete` message, no usage.
  4. denied   `--resume` of run 3's session, without `-y`: `rm` needs approval that `-p` cannot
              ask for, so it is refused: PreToolUse, then PermissionDenied with its
              `tool_use_id`, no post hook.
  5. off      `"disableAllHooks": true` in the settings, a new session: CodeBuddy
              2.117.0 names the switch in one message but never reads it, and
              its hooks still run; doctor must not claim they are off.

`-p` fires no SessionEnd: each session ends with the `codebuddy` process (the
inferred end). Every delivery is compared with what kaizen-hook recorded (by
its bytes), the transcripts' usage with what the mock served, then `doctor`,
`sessions --json`, `show --json` and `uninstall`.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/codebuddy/ and the main
session's transcripts (its own and its subagent's) in tests/fixtures/transcripts/codebuddy/.
"""

import json
import os
import shutil
import uuid
from pathlib import Path

import common
from agents.codex import foreign_connects, strace_prefix, strace_works
from mock import openai_chat

AGENT = "codebuddy"
MODEL = "gpt-4.1"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT
TRANSCRIPTS = common.ROOT / "tests" / "fixtures" / "transcripts" / AGENT
OFFLINE = dict(
    CODEBUDDY_SKIP_BUILTIN_MARKETPLACE="1",
    CODEBUDDY_REMOTE_CONFIG_DISABLED="1",
    CODEBUDDY_SANDBOX_CLOUD_AUDIT_DISABLED="1",
    OTEL_TRACES_EXPORTER="none",
    DISABLE_TELEMETRY="1",
)

_u = openai_chat._usage
USAGE = {
    "cb.main.1.bash_ok": _u(4101, 1201, 31, 61, 11),
    "cb.main.2.bash_fail": _u(4202, 1202, 32, 62, 12),
    "cb.main.3.write": _u(4303, 1203, 33, 63, 13),
    "cb.main.4.edit": _u(4404, 1204, 34, 64, 14),
    "cb.main.5.read": _u(4505, 1205, 35, 65, 15),
    "cb.main.6.read_missing": _u(4606, 1206, 36, 66, 16),
    "cb.main.7.edit_nomatch": _u(4707, 1207, 37, 67, 17),
    "cb.main.8.parallel": _u(4808, 1208, 38, 68, 18),
    "cb.main.9.subagent": _u(4919, 1219, 40, 70, 20),
    "cb.main.10.final": _u(4929, 1229, 41, 71, 21),
    "cb.sub.1.read": _u(6101, 1401, 51, 81, 31),
    "cb.sub.2.final": _u(6202, 1402, 52, 82, 32),
    "cb.resume.1.bash": _u(5101, 1301, 41, 71, 21),
    "cb.resume.2.final": _u(5202, 1302, 42, 72, 22),
    "cb.denied.1.rm": _u(5251, 1351, 45, 75, 25),
    "cb.denied.2.final": _u(5252, 1352, 46, 76, 26),
    "cb.off.1.bash": _u(5303, 1303, 43, 73, 23),
    "cb.off.2.final": _u(5404, 1304, 44, 74, 24),
}


def script(work: Path) -> dict:
    w = str(work)
    tool = openai_chat._tool
    return {
        "main": [
            ("cb.main.1.bash_ok", None, [tool("call_kz_bash_ok", "Bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"})]),
            ("cb.main.2.bash_fail", "Now a command that fails.", [
                tool("call_kz_bash_fail", "Bash", {"command": "echo about-to-fail >&2; exit 2", "description": "Fail on purpose"}),
            ]),
            ("cb.main.3.write", None, [tool("call_kz_write", "Write", {"file_path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"})]),
            ("cb.main.4.edit", None, [tool("call_kz_edit", "Edit", {"file_path": f"{w}/hello.txt", "old_string": "hello", "new_string": "goodbye"})]),
            ("cb.main.5.read", None, [tool("call_kz_read", "Read", {"file_path": f"{w}/notes.txt"})]),
            ("cb.main.6.read_missing", None, [tool("call_kz_read_missing", "Read", {"file_path": f"{w}/does-not-exist.txt"})]),
            ("cb.main.7.edit_nomatch", None, [
                tool("call_kz_edit_nomatch", "Edit", {"file_path": f"{w}/hello.txt", "old_string": "not-in-the-file", "new_string": "x"}),
            ]),
            ("cb.main.8.parallel", "Two things at once.", [
                tool("call_kz_par_bash", "Bash", {"command": "echo parallel-one", "description": "Print one"}),
                tool("call_kz_par_read", "Read", {"file_path": f"{w}/README.md"}),
            ]),
            ("cb.main.9.subagent", None, [
                tool("call_kz_agent", "Agent", {"description": "Read the notes", "prompt": f"[kz:sub] Read {w}/notes.txt."}),
            ]),
            ("cb.main.10.final", "All steps done.", []),
        ],
        "sub": [
            ("cb.sub.1.read", None, [tool("call_kz_sub_read", "Read", {"file_path": f"{w}/notes.txt"})]),
            ("cb.sub.2.final", "The notes hold three lines.", []),
        ],
        "resume": [
            ("cb.resume.1.bash", None, [tool("call_kz_resume_bash", "Bash", {"command": "echo resumed", "description": "Print"})]),
            ("cb.resume.2.final", "Resumed and done.", []),
        ],
        "denied": [
            ("cb.denied.1.rm", None, [tool("call_kz_denied_rm", "Bash", {"command": f"rm -f {w}/notes.txt", "description": "Remove"})]),
            ("cb.denied.2.final", "The command was denied; stopping.", []),
        ],
        # every attempt answered HTTP 500 (the shared mock's "error.1")
        "error": [("error.1", None, [])],
        "off": [
            ("cb.off.1.bash", None, [tool("call_kz_off_bash", "Bash", {"command": "echo hooks-switch", "description": "Print"})]),
            ("cb.off.2.final", "Done with the switch set.", []),
        ],
    }


def run(checks):
    prefix = common.npm_install(AGENT)
    cli = prefix / "node_modules" / "@tencent-ai" / "agent-sdk" / "cli"
    version = json.loads((cli / "package.json").read_text())["version"]
    checks.eq(version, common.versions()[AGENT]["cli"], "the SDK package holds the pinned CodeBuddy Code CLI")
    sb = common.Sandbox(AGENT)
    try:
        scenario(checks, sb, cli / "bin" / "codebuddy", version)
    finally:
        sb.end_processes()
        sb.cleanup()


def scenario(checks, sb, codebuddy, version):
    settings = sb.home / ".codebuddy" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"autoUpdates": False}, indent=2) + "\n")
    sb.install(AGENT)
    written = json.loads(settings.read_text())
    checks.eq(written.get("autoUpdates"), False, "install keeps the user's settings")
    checks.check("Notification" not in written["hooks"], "install registers no Notification (auth_success names no session)")
    sb.add_capture_nested(settings)
    # capture.sh also for Notification, to see what CodeBuddy sends there.
    with_capture = json.loads(settings.read_text())
    with_capture["hooks"]["Notification"] = [{"hooks": [{"type": "command", "command": sb.capture_command("Notification"), "timeout": 30}]}]
    settings.write_text(json.dumps(with_capture, indent=2) + "\n")

    traced = strace_works()
    checks.check(traced or os.environ.get("KAIZEN_E2E_NO_STRACE"), "strace works here (set KAIZEN_E2E_NO_STRACE=1 to run without it)")
    main_id, err_id, off_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    with common.MockServer(mock) as server:
        env = sb.env(CODEBUDDY_BASE_URL=server.url + "/v1", CODEBUDDY_API_KEY="kz-e2e-dummy", CODEBUDDY_MODEL=MODEL, **OFFLINE)

        def codebuddy_p(name, prompt, *args, bypass=True):
            trace = strace_prefix(sb, name, traced)
            yes = ["-y"] if bypass else []
            out = sb.run([*trace, "node", codebuddy, "-p", prompt, *yes, *args], name, timeout=240, env=env)
            checks.eq(out.returncode, 0, f"codebuddy {name} exits 0 ({out.stderr.decode()[-400:]})")
            return out

        codebuddy_p("run1-main", "[kz:main] Run the scripted steps.", "--session-id", main_id)
        codebuddy_p("run2-resume", "[kz:resume] Once more.", "--resume", main_id)
        codebuddy_p("run3-error", "[kz:error] The model fails.", "--session-id", err_id)
        codebuddy_p("run4-denied", "[kz:denied] Remove a file.", "--resume", err_id, bypass=False)
        switched = json.loads(settings.read_text())
        switched["disableAllHooks"] = True
        settings.write_text(json.dumps(switched, indent=2) + "\n")
        codebuddy_p("run5-off", "[kz:off] With the switch set.", "--session-id", off_id)
    checks.eq([u for u in mock.unknown if u[0] != "unscripted"], [], "the mock understood every request")
    checks.eq([s for s in mock.served if s["step"] == "unscripted"], [], "no request outside the script")
    if traced:
        checks.eq(foreign_connects(sb), [], "CodeBuddy connects to nothing but loopback (strace)")
    deliveries = [d for d in sb.deliveries() if d.payload]
    events = sb.events()
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries)
    pairs = common.match([d for d in deliveries if d.label != "Notification"], events)
    check_notifications(checks, sb, [d for d in deliveries if d.label == "Notification"], events)
    check_deliveries(checks, pairs, main_id, err_id, off_id)
    check_failed_turn(checks, mock, pairs, err_id)
    check_commands(checks, sb, main_id, err_id, off_id, version)
    # Read again after `sessions` (above) wrote the inferred ends.
    check_costs(checks, mock, sb.events())
    check_uninstall(checks, sb, settings)


def name(d):
    return d.payload.get("hook_event_name")


def check_notifications(checks, sb, notes, events):
    """CodeBuddy's first Notification (`auth_success`) names no session: not registered, so not recorded."""
    kinds = sorted(d.payload.get("notification_type") or "" for d in notes)
    checks.check("auth_success" in kinds, f"CodeBuddy sends a Notification auth_success at start ({kinds})")
    sessionless = [d for d in notes if not d.payload.get("session_id")]
    checks.check(sessionless and all(d.payload.get("notification_type") == "auth_success" for d in sessionless),
                 "the Notification that names no session is auth_success", str([d.payload for d in sessionless])[:400])
    recorded = [e for d, es in common.match(notes, events) for e in es]
    checks.eq(recorded, [], "no Notification recorded (kaizen-hook is not registered for it)")
    fallback = [p.name for p in (sb.kaizen_home / "sessions").glob("codebuddy-*")]
    checks.eq(fallback, [], "no session of its own for a payload that names none")


def check_deliveries(checks, pairs, main_id, err_id, off_id):
    checks.check(len(pairs) > 20, f"CodeBuddy delivered the scenario's hooks ({len(pairs)})")
    for d, es in pairs:
        checks.eq(len(es), 1, f"delivery {name(d)} {d.payload.get('tool_name') or ''} recorded once")
    for d, es in pairs:
        for e in es:
            checks.eq(e["payload"].get("agent"), AGENT, f"{name(d)} recognised as CodeBuddy's")
    sessions = {d.payload.get("session_id") for d, _ in pairs}
    checks.eq(sessions, {main_id, err_id, off_id}, "every delivery names one of the three sessions")
    starts = [(d.payload.get("session_id"), d.payload.get("source")) for d, _ in pairs if name(d) == "SessionStart"]
    checks.eq(starts, [(main_id, "startup"), (main_id, "resume"), (err_id, "startup"), (err_id, "resume"), (off_id, "startup")],
              "SessionStart: startup, resume, startup, resume, startup")
    checks.eq([d for d, _ in pairs if name(d) == "SessionEnd"], [], "codebuddy -p fires no SessionEnd: the session ends with its process")
    prompts = [e for d, es in pairs if name(d) == "UserPromptSubmit" for e in es]
    checks.eq([e["kind"] for e in prompts], ["Message"] * 5, "one UserPromptSubmit per run, each a Message")
    calls = {}
    for d, es in pairs:
        if name(d) in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionDenied"):
            for e in es:
                calls.setdefault(d.payload.get("tool_use_id"), []).append((name(d), e["kind"], e.get("tool"), e.get("tool_call_id")))
    expected = {
        "call_kz_bash_ok": ("Bash", "PostToolUse", "ToolResult"),
        "call_kz_bash_fail": ("Bash", "PostToolUse", "Error"),
        "call_kz_write": ("Write", "PostToolUse", "ToolResult"),
        "call_kz_edit": ("Edit", "PostToolUse", "ToolResult"),
        "call_kz_read": ("Read", "PostToolUse", "ToolResult"),
        "call_kz_read_missing": ("Read", "PostToolUse", "Error"),
        "call_kz_edit_nomatch": ("Edit", "PostToolUseFailure", "Error"),
        "call_kz_par_bash": ("Bash", "PostToolUse", "ToolResult"),
        "call_kz_par_read": ("Read", "PostToolUse", "ToolResult"),
        "call_kz_agent": ("Agent", "PostToolUse", "ToolResult"),
        "call_kz_sub_read": ("Read", "PostToolUse", "ToolResult"),
        "call_kz_resume_bash": ("Bash", "PostToolUse", "ToolResult"),
        "call_kz_off_bash": ("Bash", "PostToolUse", "ToolResult"),
        "call_kz_denied_rm": ("Bash", "PermissionDenied", "Error"),
    }
    checks.eq(sorted(calls), sorted(expected), "a pre and a post hook for every scripted call, by tool_use_id")
    for call, (tool, post, kind) in expected.items():
        got = calls.get(call, [])
        checks.eq(got, [("PreToolUse", "ToolCall", tool, call), (post, kind, tool, call)],
                  f"{call}: ToolCall then {kind}, tool {tool}, call id {call}")
    failed = {d.payload.get("tool_use_id"): e["payload"].get("phase_note") for d, es in pairs
              if name(d) == "PostToolUse" for e in es if e["kind"] == "Error"}
    checks.eq(failed.get("call_kz_bash_fail"), "exit code 2", "the failed command's reason: exit code 2 (from tool_response)")
    checks.check((failed.get("call_kz_read_missing") or "").startswith("is_error"), "the missing read's reason: is_error", str(failed))
    refused = [e["payload"].get("phase_note") or "" for d, es in pairs if name(d) == "PermissionDenied" for e in es]
    checks.check(len(refused) == 1 and refused[0].startswith("permission denied: Permission to use Bash"),
                 "the refused call's reason: permission denied", str(refused))
    subagent = [(name(d), e["payload"].get("phase"), d.payload.get("agent_id")) for d, es in pairs
                if name(d) in ("SubagentStart", "SubagentStop") for e in es]
    agent_ids = {a for _, _, a in subagent}
    checks.eq([(n, p) for n, p, _ in subagent], [("SubagentStart", "subagent_start"), ("SubagentStop", "subagent_stop")],
              "the subagent's start and stop")
    checks.check(len(agent_ids) == 1 and None not in agent_ids, "both name the subagent's agent_id", str(agent_ids))
    inside = {d.payload.get("tool_use_id") for d, _ in pairs if d.payload.get("agent_id") in agent_ids and name(d) == "PreToolUse"}
    checks.eq(inside, {"call_kz_sub_read"}, "the subagent's own call names its agent_id")
    stops = [(d.payload.get("session_id"), e["payload"].get("phase")) for d, es in pairs if name(d) == "Stop" for e in es]
    checks.eq([sid for sid, _ in stops], [main_id, main_id, err_id, err_id, off_id], "one Stop per run")
    checks.eq([phase for sid, phase in stops if sid != err_id] + [phase for sid, phase in stops if sid == err_id][1:],
              ["turn_end"] * 4, "each Stop of a turn whose model calls worked is a turn end")


def check_failed_turn(checks, mock, pairs, err_id):
    """A turn whose model call failed: CodeBuddy says so only in the Stop's last message and its transcript."""
    served = [s for s in mock.served if s["step"] == "error.1"]
    checks.eq([s["status"] for s in served], [500], "the failing model call was made once (CodeBuddy -p does not retry a 500)")
    stop = [(d, es) for d, es in pairs if name(d) == "Stop" and d.payload.get("session_id") == err_id][:1]
    checks.check(stop and "500" in (stop[0][0].payload.get("last_assistant_message") or ""),
                 "the failed turn's Stop carries the error as its last assistant message")
    checks.eq([d for d, _ in pairs if name(d) == "StopFailure"], [], "CodeBuddy sends no StopFailure for a failed model call")
    seen = [(e["payload"].get("phase"), (e["payload"].get("phase_note") or "")[:40]) for _, es in stop for e in es]
    checks.eq(seen, [("turn_failure", "model error: 500 Internal server error (")],
              "the failed turn's Stop is a turn failure (its last message is its own request's error)")


def check_commands(checks, sb, main_id, err_id, off_id, version):
    records = sb.records()
    for sid, what in ((main_id, "main"), (err_id, "error"), (off_id, "switch")):
        rec = records.get(sid)
        if not checks.check(rec is not None, f"a SessionRecord for the {what} session"):
            continue
        checks.eq(rec["agent"], AGENT, f"record ({what}): agent")
        checks.eq(rec["workspace"], str(sb.work), f"record ({what}): workspace")
        checks.eq(rec.get("model"), MODEL, f"record ({what}): model")
        checks.eq(rec.get("agent_version"), version, f"record ({what}): agent_version from the payloads' `version`")
    doctor = sb.kaizen("doctor")
    settings = sb.home / ".codebuddy" / "settings.json"
    checks.eq(doctor.returncode, 0, "doctor exit status")
    checks.check(str(settings) in doctor.stdout, "doctor lists CodeBuddy's settings", doctor.stdout[-800:])
    checks.check("PROBLEM" not in doctor.stdout and "disableAllHooks" not in doctor.stdout,
                 "doctor reports no problem: `disableAllHooks` does not stop CodeBuddy's hooks (its run still delivered them)",
                 doctor.stdout[-800:])
    # The error session: its failed turn, then the refused call.
    for sid, errors in ((main_id, 3), (err_id, 2), (off_id, 0)):
        rows = sb.session_rows(sid)
        if not checks.eq(len(rows), 1, f"sessions --json lists {sid[:8]} once"):
            continue
        checks.eq(rows[0].get("status"), "Done", f"sessions: {sid[:8]} ended with the codebuddy process (inferred end)")
        checks.eq(rows[0].get("errors"), errors, f"sessions: {sid[:8]} errors = {errors}")
        checks.eq(rows[0].get("model"), MODEL, f"sessions: {sid[:8]} model")
        ends = [e for e in sb.events() if e["session_id"] == sid and (e.get("payload") or {}).get("inferred")]
        checks.eq(len(ends), 1, f"one inferred end written for {sid[:8]}")
    show = sb.kaizen("show", main_id, "--json")
    checks.eq(show.returncode, 0, "show --json exits 0")


def check_costs(checks, mock, events):
    """One Cost event per response the mock served, its figures in the SPEC's meanings."""
    def split(u):
        return (u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"], u["cached_tokens"], u["cache_write_tokens"],
                u["completion_tokens"], u["reasoning_tokens"])
    served = sorted(split(s["usage"]) for s in mock.served if s["status"] == 200)
    costs = [e for e in events if e["kind"] == "Cost"]
    got = sorted((e["tokens_in"], e["cache_read_tokens"], e["cache_creation_tokens"], e["tokens_out"], e["reasoning_tokens"])
                 for e in costs)
    checks.eq(got, served, "one Cost event per model response, with the tokens served (input, cache read/write, output, reasoning)")
    checks.eq({(e["payload"] or {}).get("model") for e in costs}, {MODEL}, "Cost events name the model")
    checks.check(all(e.get("cost_usd_e6") for e in costs), "every Cost is priced (gpt-4.1)", str([e.get("cost_usd_e6") for e in costs]))


def check_uninstall(checks, sb, settings):
    out = sb.kaizen("uninstall", "--agent", AGENT)
    checks.eq(out.returncode, 0, f"uninstall exits 0 ({out.stdout[-300:]}{out.stderr[-300:]})")
    after = json.loads(settings.read_text())
    commands = [h.get("command", "") for groups in after.get("hooks", {}).values() for g in groups for h in g.get("hooks", [])]
    checks.eq([c for c in commands if common.is_ours(c)], [], "uninstall removes every kaizen-hook handler")
    checks.check(commands and all("capture.sh" in c for c in commands), "uninstall keeps the other handlers (capture.sh)", str(commands)[:300])
    checks.eq((after.get("autoUpdates"), after.get("disableAllHooks")), (False, True), "uninstall keeps the user's settings")
    checks.check((sb.work / "notes.txt").is_file(), "the refused `rm` did not run")


def save_fixtures(sb, deliveries):
    chosen = {}
    for d in deliveries:
        n = name(d)
        key = n
        response = d.payload.get("tool_response")
        if n == "PostToolUse" and isinstance(response, dict) and response.get("is_error"):
            key = f"PostToolUse-is_error-{d.payload.get('tool_name')}"
        if n == "SessionStart" and d.payload.get("source") != "startup":
            key = f"SessionStart-{d.payload.get('source')}"
        if n == "Stop" and (d.payload.get("last_assistant_message") or "").endswith(f"/{d.payload.get('session_id')})"):
            key = "Stop-model_error"
        if n == "PreToolUse" and d.payload.get("tool_use_id") == "call_kz_denied_rm":
            key = "PreToolUse-denied"
        if n == "Notification":
            key = f"Notification-{d.payload.get('notification_type')}"
        if n:
            chosen.setdefault(key, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    replace = [(str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e"),
               (str(sb.bin), "/home/user/.local/bin/kaizen-hook"), (str(common.ROOT), "/repo"),
               # the project's directory under ~/.codebuddy/projects/: the work tree's path, `/` as `-`
               (str(sb.work).strip("/").replace("/", "-"), "work-project")]
    for key, d in chosen.items():
        text = d.raw.decode()
        for old, new in replace:
            text = text.replace(old, new)
        (FIXTURES / f"{key}.json").write_text(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")
    stops = [d for d in deliveries if name(d) == "Stop"]
    if stops:
        path = Path(stops[0].payload["transcript_path"])
        TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
        text = path.read_text()
        for old, new in replace:
            text = text.replace(old, new)
        (TRANSCRIPTS / "session.jsonl").write_text(text)
        # the subagent's, beside it as CodeBuddy keeps it: <session>/subagents/agent-<id>.jsonl
        shutil.rmtree(TRANSCRIPTS / "session", ignore_errors=True)
        for sub in sorted(path.with_suffix("").glob("subagents/*.jsonl")):
            text = sub.read_text()
            for old, new in replace:
                text = text.replace(old, new)
            (TRANSCRIPTS / "session" / "subagents").mkdir(parents=True, exist_ok=True)
            (TRANSCRIPTS / "session" / "subagents" / sub.name).write_text(text)
