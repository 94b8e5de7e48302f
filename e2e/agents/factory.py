"""Factory Droid, the real CLI, against the scripted OpenAI Chat Completions mock.

The npm wrapper `@factory/cli` 0.225.1 names a platform package version that
does not exist (`@factory/cli-linux-x64@0.225.1`): the suite installs the
platform package itself and runs its `droid` binary.

Runs, in one temporary HOME where `kaizen-hook install --agent factory`
registered the hooks (plus capture.sh beside each):

  1. run one   `droid exec --auto high -m custom:kz-e2e-0 "[kz:main] ..."`: a shell
               command that succeeds, one that exits 2, Create, Edit, Read, a
               read of a missing file, the Task tool running a custom droid
               (`~/.factory/droids/kz-helper.md`, awaited: one Read, an answer),
               the same droid in the background (Task's default: one answer,
               delivered to the caller, which is woken), a final answer.

The subagent is a session of its own: its own hooks (SessionStart with
`calling_session_id`, UserPromptSubmit, its tools, Stop, SessionEnd), its own
transcript (first line: `callingSessionId`) and log lines (tagged with its own
session only); its caller gets SubagentStop (task name and result, no subagent
id). Without a login, Droid cannot start a subagent ("Could not reach the
daemon": its in-process daemon asks for an access token): the run sets
`FACTORY_AIRGAP_ENABLED=true`, Droid's offline mode. Even so Droid syncs its
"automations" with its backend (a DNS query for api.factory.ai, seen by strace):
`FACTORY_API_BASE_URL` and `FACTORY_APP_BASE_URL` point at a closed loopback port.
The run is traced (strace, connect()) and must reach nothing but loopback.

No second run resumes the session: `droid exec -s <id>` asks api.factory.ai for
the session first (getaddrinfo fails offline) and exits 1, even with a custom model.

Offline and without a login: a custom model in ~/.factory/config.json
(`provider: generic-chat-completion-api`, `base_url`: the mock). Droid sends no
PostToolUse for a failed tool and has no failure event: the transcript's
`tool_result.is_error` says which calls failed (issue 16 item 10). Tokens: one
`[Agent] Streaming result` line per response in Droid's log, written after its
last hook returned (issue 25 part B): `sessions` takes them.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/factory/ and the transcript fixture.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
from mock import openai_chat  # noqa: E402
from agents.codex import foreign_connects, strace_prefix, strace_works  # noqa: E402

AGENT = "factory"
MODEL = "kz-droid-model"
MODEL_ID = "custom:kz-e2e-0"
SUBAGENT = "kz-helper"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT
TRANSCRIPTS = common.ROOT / "tests" / "fixtures" / "transcripts" / AGENT

# Droid's generic chat provider keeps the cached (read) tokens of each response
# but not `cache_write_tokens` or `reasoning_tokens` (its log says 0 for both):
# the mock sends none of those, so the figures compare one to one.
USAGE = {
    "main.1.shell_ok": openai_chat._usage(4101, 1001, 0, 31, 0),
    "main.2.shell_fail": openai_chat._usage(4202, 1002, 0, 32, 0),
    "main.3.create": openai_chat._usage(4303, 1003, 0, 33, 0),
    "main.4.edit": openai_chat._usage(4404, 1004, 0, 34, 0),
    "main.5.read": openai_chat._usage(4505, 1005, 0, 35, 0),
    "main.6.read_missing": openai_chat._usage(4606, 1006, 0, 36, 0),
    "main.7.task": openai_chat._usage(4707, 1007, 0, 37, 0),
    # the subagent's own conversation (a custom droid the Task tool runs, awaited)
    "sub.1.read": openai_chat._usage(5101, 2001, 0, 41, 0),
    "sub.2.final": openai_chat._usage(5202, 2002, 0, 42, 0),
    # the same droid again, in the background (Task's default): the caller goes on, and is
    # woken with the report (a request of its own, unless the report came before its last)
    "main.8.background": openai_chat._usage(4808, 1008, 0, 38, 0),
    "bg.1.final": openai_chat._usage(5303, 2003, 0, 43, 0),
    "main.9.final": openai_chat._usage(4909, 1009, 0, 39, 0),
    "main.10.woken": openai_chat._usage(5010, 1010, 0, 40, 0),
}
WAKE = "main.10.woken"


def shell(call_id, command):
    return openai_chat._tool(call_id, "Execute", {"command": command, "riskLevelReason": "Prints text only.", "riskLevel": "low"})


def script(work: Path) -> dict:
    w = str(work)
    tool = openai_chat._tool
    return {
        "main": [
            ("main.1.shell_ok", None, [shell("call_kz_shell_ok", "echo kaizen-e2e-ok")]),
            ("main.2.shell_fail", "Now a command that fails.", [shell("call_kz_shell_fail", "echo about-to-fail >&2; exit 2")]),
            ("main.3.create", None, [tool("call_kz_create", "Create", {"file_path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"})]),
            ("main.4.edit", None, [tool("call_kz_edit", "Edit", {"file_path": f"{w}/hello.txt", "old_str": "hello", "new_str": "goodbye"})]),
            ("main.5.read", None, [tool("call_kz_read", "Read", {"file_path": f"{w}/notes.txt"})]),
            ("main.6.read_missing", None, [tool("call_kz_read_missing", "Read", {"file_path": f"{w}/does-not-exist.txt"})]),
            ("main.7.task", None, [tool("call_kz_task", "Task", {
                "subagent_type": SUBAGENT, "description": "Read the notes", "await": True,
                "prompt": f"[kz:sub] Read {w}/notes.txt and report its first line.",
            })]),
            ("main.8.background", None, [tool("call_kz_task_bg", "Task", {
                "subagent_type": SUBAGENT, "description": "Report in the background",
                "prompt": "[kz:bg] Report that you are done.",
            })]),
            ("main.9.final", "All steps done.", []),
            (WAKE, "The background report is in.", []),
        ],
        "bg": [("bg.1.final", "Background report: done.", [])],
        "sub": [
            ("sub.1.read", None, [tool("call_kz_sub_read", "Read", {"file_path": f"{w}/notes.txt"})]),
            ("sub.2.final", "Subagent finished: the notes say hello.", []),
        ],
    }


def run(checks):
    prefix = common.npm_install(AGENT)
    pin = common.versions()[AGENT]
    droid = prefix / "node_modules" / pin["package"] / "bin" / "droid"
    sb = common.Sandbox(AGENT)
    try:
        scenario(checks, sb, droid, pin["version"])
    finally:
        sb.cleanup()


def scenario(checks, sb, droid, version):
    factory = sb.home / ".factory"
    factory.mkdir(parents=True)
    settings = factory / "settings.json"
    sb.install(AGENT)
    checks.check(settings.is_file(), "install writes ~/.factory/settings.json")
    sb.add_capture_nested(settings)
    (factory / "droids").mkdir()
    (factory / "droids" / f"{SUBAGENT}.md").write_text(
        f"---\nname: {SUBAGENT}\ndescription: Reads a file and reports on it\nmodel: inherit\ntools: [\"Read\"]\n---\n\nRead the file you are given and report its first line.\n")
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    with common.MockServer(mock) as server:
        (factory / "config.json").write_text(json.dumps({"custom_models": [{
            "model": MODEL, "base_url": server.url + "/v1", "api_key": "kz-e2e-dummy",
            "provider": "generic-chat-completion-api", "model_display_name": "kz-e2e",
        }]}, indent=2) + "\n")
        env = dict(sb.env(), FACTORY_AIRGAP_ENABLED="true", FACTORY_API_BASE_URL="http://127.0.0.1:9", FACTORY_APP_BASE_URL="http://127.0.0.1:9")
        traced = strace_works()
        checks.check(traced or os.environ.get("KAIZEN_E2E_NO_STRACE"), "strace works here (set KAIZEN_E2E_NO_STRACE=1 to run without it)")
        trace = strace_prefix(sb, "run1", traced)
        base = [*trace, droid, "exec", "--auto", "high", "-m", MODEL_ID]
        one = sb.run(base + ["[kz:main] Run the scripted steps."], "run1", timeout=240, env=env)
        checks.eq(one.returncode, 0, f"droid run one exits 0 ({one.stderr.decode()[-400:]})")
    if traced:
        checks.eq(foreign_connects(sb), [], "Droid and its subagents connect to nothing but loopback (strace)")
    checks.eq(mock.unknown, [], "the mock understood every request (the caller woken by its background subagent's report included)")
    deliveries = [d for d in sb.deliveries() if d.payload]
    starts = {d.payload.get("session_id"): d.payload.get("calling_session_id") for d in deliveries if name(d) == "SessionStart"}
    session_id = next((s for s, caller in starts.items() if not caller), None)
    prompts = {d.payload.get("session_id"): d.payload.get("prompt", "") for d in deliveries if name(d) == "UserPromptSubmit"}
    sub_id = next((s for s, text in prompts.items() if "[kz:sub]" in text), None)
    bg_id = next((s for s, text in prompts.items() if "[kz:bg]" in text), None)
    checks.eq(starts, {session_id: None, sub_id: session_id, bg_id: session_id}, "each subagent is a session of its own, its SessionStart names its caller (calling_session_id)")
    checks.eq({d.payload.get("session_id") for d in deliveries}, {session_id, sub_id, bg_id}, "every delivery is the run's or a subagent's")
    events = sb.events()
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries)
        save_subagent_fixtures(sb, deliveries, session_id, sub_id)
    pairs = common.match(deliveries, events)
    check_deliveries(checks, pairs, events, session_id)
    check_subagent(checks, pairs, events, session_id, sub_id, bg_id)
    check_record(checks, sb, session_id)
    check_commands(checks, sb, session_id, (sub_id, bg_id), mock)


def name(d):
    return d.payload.get("hook_event_name")


def check_deliveries(checks, pairs, events, session_id):
    checks.check(len(pairs) > 10, f"Droid delivered the scenario's hooks ({len(pairs)})")
    for d, es in pairs:
        checks.eq(len(es), 1, f"delivery {name(d)} {d.payload.get('tool_name') or ''} recorded once")
    kinds = {}
    for d, es in pairs:
        kinds.setdefault(name(d), set()).update(e["kind"] for e in es)
    checks.eq(kinds.get("PreToolUse"), {"ToolCall"}, "PreToolUse -> ToolCall")
    checks.eq(sorted(kinds), ["PostToolUse", "PreToolUse", "SessionEnd", "SessionStart", "Stop", "SubagentStop", "UserPromptSubmit"],
              "the events `droid exec` fires (UserPromptSubmit: the subagent's only)")
    ours = [e for e in events if e["session_id"] == session_id]
    calls = {e["tool_call_id"]: e for e in ours if e["kind"] == "ToolCall"}
    ends = {}
    for e in ours:
        if e["kind"] in ("ToolResult", "Error") and e.get("tool_call_id"):
            ends.setdefault(e["tool_call_id"], []).append(e["kind"])
    by_input = {c: json.dumps((e["payload"].get("input") or {}).get("tool_input")) for c, e in calls.items()}
    for needle, wanted in (("kaizen-e2e-ok", ["ToolResult"]), ("exit 2", ["Error"]), ("does-not-exist", ["Error"])):
        got = [ends.get(c) for c, text in by_input.items() if needle in text]
        checks.eq(got, [wanted], f"the call with `{needle}` ends as {wanted[0]}" + (" (from the transcript's is_error, item 10)" if wanted == ["Error"] else ""))
    open_calls = [c for c in calls if c not in ends]
    checks.eq(open_calls, [], "no call left open after the turn ends (item 10)")


def check_subagent(checks, pairs, events, session_id, sub_id, bg_id):
    """The Task tool's subagents: each its own session (every hook, its prompt), and in
    the caller's a SubagentStop with the task's name and result (no subagent id)."""
    stops = [(d, es) for d, es in pairs if name(d) == "SubagentStop"]
    checks.eq(sorted((d.payload.get("session_id"), d.payload.get("task_name")) for d, _ in stops),
              [(session_id, "Read the notes"), (session_id, "Report in the background")],
              "one SubagentStop per subagent, in the caller's session, with the task's name")
    checks.eq([[e["kind"] for e in es] for _, es in stops], [["Lifecycle"]] * 2, "SubagentStop recorded (Lifecycle)")
    checks.eq([e["payload"].get("phase") for _, es in stops for e in es], ["subagent_stop"] * 2, "SubagentStop: phase subagent_stop")
    for sid, wanted in ((sub_id, ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"]),
                        (bg_id, ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"])):
        checks.eq([name(d) for d, _ in pairs if d.payload.get("session_id") == sid], wanted, f"the subagent's own hooks, in order ({len(wanted)})")
    results = [e["kind"] for e in events if e["session_id"] == sub_id and e.get("tool_call_id")]
    checks.eq(results, ["ToolCall", "ToolResult"], "the subagent's Read: a call and its result, in its session")


def check_record(checks, sb, session_id):
    rec = sb.records().get(session_id)
    if not checks.check(rec is not None, "a SessionRecord for the Droid session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace")
    checks.eq(rec.get("model"), MODEL, "record: model, from the session's settings file beside the transcript (item 11)")


def check_commands(checks, sb, session_id, subs, mock):
    doctor = sb.kaizen("doctor")
    settings = sb.home / ".factory" / "settings.json"
    checks.eq(doctor.returncode, 0, "doctor exit status")
    checks.check(str(settings) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists Droid's settings with no problem", doctor.stdout[-800:])
    ours = sb.session_rows(session_id)
    if not checks.eq(len(ours), 1, "sessions --json lists the session once"):
        return
    s = ours[0]
    checks.eq(s.get("errors"), 2, "sessions: errors = 2 (exit 2, missing file)")
    checks.eq(s.get("status"), "Done", "sessions: the session ended (SessionEnd, or with the droid process)")
    records = sb.records()
    checks.eq([(records.get(s) or {}).get("parent_session_id") for s in subs], [session_id] * 2, "the subagents' records: their caller as parent_session_id")
    check_costs(checks, sb, session_id, subs, mock)


def check_costs(checks, sb, session_id, subs, mock):
    """One Cost event per model response, from Droid's log (`[Agent] Streaming result`
    lines of the session, and of its subagent's session: counted in the caller's):
    its transcript keeps none. `sessions` ran above, so lines written after the
    last hook are in."""
    served = [r for r in mock.served if r["status"] == 200]
    scripted = [step for step in USAGE if step != WAKE or any(r["step"] == WAKE for r in served)]
    checks.eq(sorted(r["step"] for r in served), sorted(scripted), "the mock served every scripted response once")
    # The background subagent runs beside its caller: responses compared as sets, with the session each went to.
    session_of = {"sub": subs[0], "bg": subs[1], "main": session_id}
    costs = [e for e in sb.events() if e["session_id"] == session_id and e["kind"] == "Cost"]
    checks.eq(len(costs), len(served), f"one Cost event per model response Droid received, the subagents' included ({len(served)})")
    got = sorted((e["payload"].get("response_id", "").split(":")[1], e["tokens_in"], e["cache_read_tokens"], e["tokens_out"], e.get("stop_reason")) for e in costs)
    want = sorted((session_of[r["step"].split(".")[0]], r["usage"]["prompt_tokens"] - r["usage"]["cached_tokens"], r["usage"]["cached_tokens"],
                   r["usage"]["completion_tokens"], "stop" if r["finish_reason"] == "stop" else "tool-calls") for r in served)
    checks.eq(got, want, "Cost events: the mock's usage of each response (input without the cached, cache read, output, stop reason), "
              "keyed by the session that received it (a subagent's own for its responses)")
    checks.eq({e["payload"].get("model") for e in costs}, {MODEL}, "Cost events: the model the custom model id names")
    checks.eq([e for e in sb.events() if e["session_id"] in subs and e["kind"] == "Cost"], [], "no Cost event in the subagents' own sessions (counted once, in their caller's)")
    settings = next((sb.home / ".factory" / "sessions").glob(f"*/{session_id}.settings.json"), None)
    totals = json.loads(settings.read_text()).get("inclusiveTokenUsage", {}) if settings else {}
    checks.eq((sum(e["tokens_in"] for e in costs), sum(e["cache_read_tokens"] for e in costs), sum(e["tokens_out"] for e in costs)),
              (totals.get("inputTokens"), totals.get("cacheReadTokens"), totals.get("outputTokens")),
              "Cost events add up to the session's totals with its subagents' (`inclusiveTokenUsage` in Droid's <session>.settings.json)")
    sb.kaizen("sessions", "--json")
    checks.eq(len([e for e in sb.events() if e["kind"] == "Cost"]), len(costs), "reading again adds nothing")


def cleaner(sb):
    replace = [(str(sb.work).replace("/", "-"), "-work-project"), (str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e"),
               (str(sb.bin), "/home/user/.local/bin/kaizen-hook"), (str(common.ROOT), "/repo")]

    def clean(text):
        for old, new in replace:
            text = text.replace(old, new)
        return text
    return clean


def save_subagent_fixtures(sb, deliveries, session_id, sub_id):
    """The awaited subagent's SessionStart, Stop and its caller's SubagentStop (`-subagent`), its
    transcript and its log lines (`subagent*` in the transcripts' fixtures), with the
    caller's id made the one of the session fixtures above (tests/factory.rs runs both)."""
    stored = json.loads((FIXTURES / "Stop.json").read_text())["session_id"]
    clean = cleaner(sb)

    def ours(text):
        return clean(text).replace(session_id, stored)

    wanted = {("SessionStart", sub_id), ("Stop", sub_id), ("SubagentStop", session_id)}
    for d in deliveries:
        if (name(d), d.payload.get("session_id")) in wanted and d.payload.get("task_name") in (None, "Read the notes"):
            (FIXTURES / f"{name(d)}-subagent.json").write_text(json.dumps(json.loads(ours(d.raw.decode())), indent=2, ensure_ascii=False) + "\n")
    transcript = next((sb.home / ".factory" / "sessions").glob(f"*/{sub_id}.jsonl"))
    (TRANSCRIPTS / "subagent.jsonl").write_text(ours(transcript.read_text()))
    log = sb.home / ".factory" / "logs" / "droid-log-single.log"
    kept = ("[LLM] sendMessage", "[Agent] Streaming result")
    lines = [line for line in log.read_text().splitlines(keepends=True) if sub_id in line and any(k in line for k in kept)]
    (TRANSCRIPTS / "subagent-log.log").write_text(ours("".join(lines)))


def save_fixtures(sb, deliveries):
    chosen = {}
    for d in deliveries:
        n = name(d)
        key = f"{n}-{d.payload.get('tool_name')}" if d.payload.get("tool_name") else n
        if n:
            chosen.setdefault(key, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    clean = cleaner(sb)
    for key, d in chosen.items():
        (FIXTURES / f"{key}.json").write_text(json.dumps(json.loads(clean(d.raw.decode())), indent=2, ensure_ascii=False) + "\n")
    stops = [d for d in deliveries if name(d) == "Stop"]
    if stops:
        path = Path(stops[-1].payload["transcript_path"])
        TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
        for source in sorted(p for p in path.parent.glob(path.stem + "*") if not p.name.endswith(".bak")):
            (TRANSCRIPTS / source.name.replace(path.stem, "session")).write_text(clean(source.read_text()))
        # Droid's log, the lines of the session's model requests and responses (the whole log is ~450 KB).
        log = sb.home / ".factory" / "logs" / "droid-log-single.log"
        kept = ("[LLM] sendMessage", "[Agent] Streaming result", "[Agent] Outbound request prepared")
        lines = [line for line in log.read_text().splitlines(keepends=True) if any(k in line for k in kept)]
        (TRANSCRIPTS / "droid-log-single.log").write_text(clean("".join(lines)))
