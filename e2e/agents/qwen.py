"""Qwen Code, the real CLI, against the scripted OpenAI Chat Completions mock.

Runs, in one temporary HOME where `kaizen-hook install --agent qwen` registered
the hooks (plus capture.sh beside each):

  1. run one   `qwen "[kz:main] ..." --yolo --session-id <uuid>`: a shell command
               that succeeds, one that exits 2, write_file, edit, read_file, a
               read of a missing file, a final answer.
  2. run two   `--resume <uuid>`: one shell command and an answer.

Headless and offline: `security.auth.selectedType: openai` with OPENAI_BASE_URL
(the mock), OPENAI_API_KEY (dummy) and OPENAI_MODEL; telemetry and usage
statistics off. Headless Qwen fires no SessionStart and no SessionEnd: the
session ends when the `qwen` process does (the inferred end, issue 16).

Every delivery is compared with what kaizen-hook recorded (by its bytes), then
`doctor`, `sessions --json` and `show --json`.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/qwen/ and the transcript fixture.
"""

import json
import os
import shutil
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
from mock import openai_chat  # noqa: E402

AGENT = "qwen"
MODEL = "qwen3-coder-plus"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT
TRANSCRIPTS = common.ROOT / "tests" / "fixtures" / "transcripts" / AGENT

USAGE = {
    "main.1.shell_ok": openai_chat._usage(2101, 0, 0, 31, 0),
    "main.2.shell_fail": openai_chat._usage(2202, 0, 0, 32, 0),
    "main.3.write": openai_chat._usage(2303, 0, 0, 33, 0),
    "main.4.edit": openai_chat._usage(2404, 0, 0, 34, 0),
    "main.5.read": openai_chat._usage(2505, 0, 0, 35, 0),
    "main.6.read_missing": openai_chat._usage(2606, 0, 0, 36, 0),
    "main.7.final": openai_chat._usage(2707, 0, 0, 37, 0),
    "resume.1.shell": openai_chat._usage(3101, 0, 0, 41, 0),
    "resume.2.final": openai_chat._usage(3202, 0, 0, 42, 0),
}


def script(work: Path) -> dict:
    w = str(work)
    tool = openai_chat._tool
    return {
        "main": [
            ("main.1.shell_ok", None, [tool("call_kz_shell_ok", "run_shell_command", {"command": "echo kaizen-e2e-ok", "is_background": False})]),
            ("main.2.shell_fail", "Now a command that fails.", [
                tool("call_kz_shell_fail", "run_shell_command", {"command": "echo about-to-fail >&2; exit 2", "is_background": False}),
            ]),
            ("main.3.write", None, [tool("call_kz_write", "write_file", {"file_path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"})]),
            ("main.4.edit", None, [tool("call_kz_edit", "edit", {"file_path": f"{w}/hello.txt", "old_string": "hello", "new_string": "goodbye"})]),
            ("main.5.read", None, [tool("call_kz_read", "read_file", {"file_path": f"{w}/notes.txt"})]),
            ("main.6.read_missing", None, [tool("call_kz_read_missing", "read_file", {"file_path": f"{w}/does-not-exist.txt"})]),
            ("main.7.final", "All steps done.", []),
        ],
        "resume": [
            ("resume.1.shell", None, [tool("call_kz_resume_shell", "run_shell_command", {"command": "echo resumed", "is_background": False})]),
            ("resume.2.final", "Resumed and done.", []),
        ],
    }


def run(checks):
    prefix = common.npm_install(AGENT)
    qwen = prefix / "node_modules" / ".bin" / "qwen"
    package = prefix / "node_modules" / "@qwen-code" / "qwen-code"
    sb = common.Sandbox(AGENT)
    try:
        scenario(checks, sb, qwen, json.loads((package / "package.json").read_text())["version"])
    finally:
        sb.cleanup()


def scenario(checks, sb, qwen, version):
    settings = sb.home / ".qwen" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({
        "security": {"auth": {"selectedType": "openai"}},
        "model": {"name": MODEL},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }, indent=2) + "\n")
    sb.install(AGENT)
    written = json.loads(settings.read_text())
    timeouts = {h.get("timeout") for groups in written["hooks"].values() for g in groups for h in g["hooks"]}
    checks.eq(timeouts, {5000}, "install writes Qwen's hook timeout in milliseconds: 5000 (item 2)")
    sb.add_capture_nested(settings)
    session_id = str(uuid.uuid4())
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    with common.MockServer(mock) as server:
        env = sb.env(OPENAI_API_KEY="kz-e2e-dummy", OPENAI_BASE_URL=server.url + "/v1", OPENAI_MODEL=MODEL)
        one = sb.run([qwen, "[kz:main] Run the scripted steps.", "--yolo", "--session-id", session_id], "run1", timeout=240, env=env)
        checks.eq(one.returncode, 0, f"qwen run one exits 0 ({one.stderr.decode()[-400:]})")
        two = sb.run([qwen, "[kz:resume] Once more.", "--yolo", "--resume", session_id], "run2", timeout=240, env=env)
        checks.eq(two.returncode, 0, f"qwen run two (--resume) exits 0 ({two.stderr.decode()[-400:]})")
    checks.eq([u for u in mock.unknown if u[0] != "unscripted"], [], "the mock understood every request")
    deliveries = [d for d in sb.deliveries() if d.payload]
    events = sb.events()
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries)
    pairs = common.match(deliveries, events)
    check_deliveries(checks, pairs)
    check_record(checks, sb, session_id, version)
    check_commands(checks, sb, session_id, events)
    # Read again: `sessions` (above) wrote the inferred end, which first counts
    # what Qwen wrote to its transcript after its last Stop (the final response).
    check_costs(checks, mock, [e for e in sb.events() if e["session_id"] == session_id])


def check_costs(checks, mock, events):
    """One Cost event per response the mock served, with its figures (from the transcript's api_response lines)."""
    served = sorted((s["usage"]["prompt_tokens"], s["usage"]["completion_tokens"]) for s in mock.served if s["status"] == 200)
    costs = sorted((e["tokens_in"] + e["cache_read_tokens"], e["tokens_out"]) for e in events if e["kind"] == "Cost")
    checks.eq(costs, served, "one Cost event per model response, with the prompt and output tokens served")
    models = {(e["payload"] or {}).get("model") for e in events if e["kind"] == "Cost"}
    checks.eq(models, {MODEL}, "Cost events name the model")


def name(d):
    return d.payload.get("hook_event_name")


def check_deliveries(checks, pairs):
    checks.check(len(pairs) > 10, f"Qwen delivered the scenario's hooks ({len(pairs)})")
    for d, es in pairs:
        checks.eq(len(es), 1, f"delivery {name(d)} {d.payload.get('tool_name') or ''} recorded once")
    kinds = {}
    for d, es in pairs:
        kinds.setdefault(name(d), set()).update(e["kind"] for e in es)
    checks.eq(kinds.get("PreToolUse"), {"ToolCall"}, "PreToolUse -> ToolCall")
    starts = [d.payload.get("source") for d, _ in pairs if name(d) == "SessionStart"]
    checks.eq(starts, ["startup", "resume"], "headless Qwen 0.24 fires SessionStart (startup, resume)")
    checks.eq([d for d, _ in pairs if name(d) == "SessionEnd"], [], "headless Qwen fires no SessionEnd: the session ends with its process")
    prompts = [(d, es) for d, es in pairs if name(d) == "UserPromptSubmit"]
    said = [(d, es) for d, es in prompts if (d.payload.get("prompt") or "").strip()]
    empty = [(d, es) for d, es in prompts if not (d.payload.get("prompt") or "").strip()]
    checks.eq(len(said), 2, "two UserPromptSubmit with the user's prompt (one per run)")
    checks.check(len(empty) >= 5, f"Qwen sends UserPromptSubmit with an empty prompt before each continuation ({len(empty)})")
    checks.eq({e["kind"] for _, es in said for e in es}, {"Message"}, "a real prompt is a Message")
    checks.eq(
        {(e["kind"], e["payload"].get("phase"), e["payload"].get("phase_note", "")[:12]) for _, es in empty for e in es},
        {("Lifecycle", "other", "continuation")},
        "an empty-prompt UserPromptSubmit is a continuation, not a prompt (item 4)",
    )
    for call, wanted in (("echo kaizen-e2e-ok", "ToolResult"), ("exit 2", "Error"), ("resumed", "ToolResult")):
        got = [e["kind"] for d, es in pairs if name(d) in ("PostToolUse", "PostToolUseFailure")
               and call in json.dumps(d.payload.get("tool_input")) for e in es]
        checks.eq(got, [wanted], f"the result of `{call}` is {wanted}" + (" (Exit Code: 2 in llmContent, item 5)" if wanted == "Error" else ""))
    missing = [(name(d), e["kind"]) for d, es in pairs if "does-not-exist" in json.dumps(d.payload.get("tool_input"))
               and name(d) != "PreToolUse" for e in es]
    checks.eq(missing, [("PostToolUseFailure", "Error")], "the read of a missing file is an Error")
    for tool in ("write_file", "edit", "read_file"):
        got = [e["kind"] for d, es in pairs if name(d) == "PostToolUse" and d.payload.get("tool_name") == tool for e in es]
        checks.check(got and set(got) == {"ToolResult"}, f"{tool} results are ToolResults", str(got))
    stops = [e for d, es in pairs if name(d) == "Stop" for e in es]
    checks.eq([e["payload"].get("phase") for e in stops], ["turn_end", "turn_end"], "one Stop per run, each a turn end")


def check_record(checks, sb, session_id, version):
    rec = sb.records().get(session_id)
    if not checks.check(rec is not None, "a SessionRecord for the Qwen session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace")
    checks.eq(rec.get("model"), MODEL, "record: model, from the transcript's api_response lines (item 3)")
    checks.eq(rec.get("agent_version"), version, "record: agent_version, from the transcript (item 3)")


def check_commands(checks, sb, session_id, events):
    doctor = sb.kaizen("doctor")
    settings = sb.home / ".qwen" / "settings.json"
    checks.eq(doctor.returncode, 0, "doctor exit status (item 1)")
    checks.check(str(settings) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists Qwen's settings with no problem (item 1)", doctor.stdout[-800:])
    ours = sb.session_rows(session_id)
    if not checks.eq(len(ours), 1, "sessions --json lists the session once"):
        return
    s = ours[0]
    checks.eq(s.get("status"), "Done", "sessions: the session ended with the qwen process (inferred end)")
    checks.eq(s.get("errors"), 2, "sessions: errors = 2 (exit 2, missing file)")
    checks.eq(s.get("model"), MODEL, "sessions: model")
    ends = [e for e in sb.events() if e["session_id"] == session_id and (e.get("payload") or {}).get("inferred")]
    checks.eq(len(ends), 1, "one inferred end written for the session")
    if ends:
        last = max(e["ts_ms"] for e in events if e["session_id"] == session_id)
        checks.eq(ends[0]["ts_ms"], last, "the inferred end is dated at the session's last event")
        rec = sb.records()[session_id]
        checks.eq(rec.get("ended_at_ms"), last, "ended_at_ms is the last event's time")
    show = sb.kaizen("show", session_id, "--json")
    checks.eq(show.returncode, 0, "show --json exits 0")


def save_fixtures(sb, deliveries):
    chosen = {}
    for d in deliveries:
        n = name(d)
        key = n
        if n == "UserPromptSubmit" and not (d.payload.get("prompt") or "").strip():
            key = "UserPromptSubmit-continuation"
        if n == "PostToolUse" and "exit 2" in json.dumps(d.payload.get("tool_input")):
            key = "PostToolUse-exit2"
        if n and key:
            chosen.setdefault(key, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    replace = [(str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e"),
               (str(sb.bin), "/home/user/.local/bin/kaizen-hook"), (str(common.ROOT), "/repo")]
    for key, d in chosen.items():
        text = d.raw.decode()
        for old, new in replace:
            text = text.replace(old, new)
        (FIXTURES / f"{key}.json").write_text(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")
    stops = [d for d in deliveries if name(d) == "Stop"]
    if stops:
        path = Path(stops[-1].payload["transcript_path"])
        TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
        text = path.read_text()
        for old, new in replace:
            text = text.replace(old, new)
        (TRANSCRIPTS / "session.jsonl").write_text(text)
        shutil.copystat(path, TRANSCRIPTS / "session.jsonl")
