"""OpenCode (`opencode-ai`), headless (`opencode run`) against the scripted OpenAI Chat
Completions mock on 127.0.0.1; also the case of its fork Kilo Code (e2e/agents/kilo.py), which
runs the same plugin: everything below holds for both, with `kilo` for `opencode`.

How it runs (OpenCode 1.18.33, the native binary of `opencode-linux-x64`):

    ~/.config/opencode/opencode.json: a provider "kz" (`@ai-sdk/openai-compatible`,
        bundled) whose baseURL is the mock, model "kz/gpt-4.1", autoupdate off, share off
    ~/.npmrc: `registry=<mock>/npm/` (see below)
    OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1
    opencode run "<prompt>"

OpenCode has no command hooks: `kaizen-hook install --agent opencode` copies its plugin
(`hooks/opencode-kaizen-hook.js`) into `~/.config/opencode/plugins/`, and the plugin runs
kaizen-hook for each event. Beside it, as capture.sh is beside other agents' handlers: a copy of
the installed plugin that runs capture.sh instead of kaizen-hook (every payload the plugin
sends, as sent; its copy also writes each step to the steps file again, so every step line is
there twice and must still be counted once). A third plugin, the capture, writes every plugin
call OpenCode makes (its raw input and output), so the suite knows what the plugin should have
sent.

Loopback only, traced with strace: with a plugin in its config directory, OpenCode installs its
plugin package (`@opencode-ai/plugin` at its own version) with npm's machinery when it starts,
and npm's settings apply: `~/.npmrc` names the mock as the registry, which answers 404 (the
plugin needs no package: it imports only node's own modules).

The scenario (the mock's `[kz:opencode]` marker): `bash` echo; `bash` that exits 2; `read` of
a missing file; `read` of a file; a final answer: 4 tool calls, 5 model responses, each with
distinctive usage (OPENCODE_USAGE), recorded as one `Cost` event each from the plugin's steps
file. Then a run with the pure switch set (`OPENCODE_PURE=1`, what `--pure` sets),
which runs no external plugin: nothing delivered, nothing recorded, and `doctor` says why. KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/<agent>/ from the captured payloads.
"""

import json
import os
import re
import time
from dataclasses import dataclass, field

import common
from agents.codex import foreign_connects, strace_prefix, strace_works
from mock.openai_chat import MODEL, OPENCODE_USAGE, OpenAIChatMock, opencode_script

PROMPT = "[kz:opencode] Run the scripted end-to-end scenario."
CAPTURE_PLUGIN = """import { appendFileSync } from "node:fs";
export const KaizenE2eCapture = async () => {
  const log = (name, input, output) => appendFileSync(%(path)s, JSON.stringify({ name, input, output }) + "\\n");
  return {
    event: async ({ event }) => log("event", event),
    "chat.message": async (input, output) => log("chat.message", input, output),
    "tool.execute.before": async (input, output) => log("tool.execute.before", input, output),
    "tool.execute.after": async (input, output) => log("tool.execute.after", input, output),
  };
};
"""
# The calls that fail: a command that exits 2 (tool.execute.after, `metadata.exit`), a read of a
# missing file (it throws: no tool.execute.after, the plugin's tool.error).
FAILED = ("call_kz_oc_bash_fail", "call_kz_oc_read_missing")
KINDS = {"tool.execute.before": "ToolCall", "tool.error": "Error"}


@dataclass
class Flavor:
    """What differs between OpenCode and its forks."""

    agent: str
    title: str
    binary: str  # under the npm prefix
    env: dict
    plugin_package: str  # what it installs into its config directory at start
    pure: str  # the variable that turns external plugins off
    settings: dict = field(default_factory=dict)
    # It asks the model for a session title first, outside any step: a response with no step part.
    asks_title: bool = False


OPENCODE = Flavor(
    agent="opencode",
    title="OpenCode",
    binary="node_modules/.bin/opencode",
    env=dict(OPENCODE_DISABLE_MODELS_FETCH="1", OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_LSP_DOWNLOAD="1"),
    plugin_package="@opencode-ai/plugin",
    pure="OPENCODE_PURE",
    asks_title=True,
)


def run(checks, flavor=OPENCODE):
    prefix = common.npm_install(flavor.agent)
    binary = prefix / flavor.binary
    pinned = common.versions()[flavor.agent]["version"]
    sandbox = common.Sandbox(flavor.agent)
    started = time.monotonic()
    try:
        _run(checks, flavor, sandbox, binary, pinned)
    finally:
        sandbox.end_processes()
        print(f"{flavor.agent}: sandbox {sandbox.tmp} ({time.monotonic() - started:.0f} s)")
        sandbox.cleanup()


def _run(checks, flavor, sb, binary, pinned):
    env = sb.env(**flavor.env)
    version = sb.run([binary, "--version"], "version", timeout=120, env=env)
    checks.eq(version.stdout.decode().strip(), pinned, f"{flavor.agent} --version is the pinned one")

    config = sb.home / ".config" / flavor.agent
    config.mkdir(parents=True, exist_ok=True)
    install = sb.kaizen("install", "--agent", flavor.agent)
    if not checks.eq(install.returncode, 0, f"kaizen-hook install: exit status ({install.stdout.strip()[:300]})"):
        return
    ours = config / "plugins" / "kaizen-hook.js"
    text = ours.read_text() if ours.is_file() else ""
    checks.check(common.MARKER in text and json.dumps(str(sb.bin)) in text, "install copies the plugin (marked as ours), naming this binary", text[:300])
    add_captures(sb, config, text)
    captured = sb.capture_dir / "plugin-calls.jsonl"
    (config / "plugins" / "kaizen-e2e-capture.js").write_text(CAPTURE_PLUGIN % {"path": json.dumps(str(captured))})

    old_steps, recent_steps = plant_steps_files(sb, flavor)
    mock = OpenAIChatMock(sb.work, scripted=opencode_script(sb.work), usage=OPENCODE_USAGE)
    with common.MockServer(mock) as server:
        provider = {"npm": "@ai-sdk/openai-compatible", "name": "kz",
                    "options": {"baseURL": f"{server.url}/v1", "apiKey": "dummy"}, "models": {MODEL: {"name": MODEL}}}
        settings = {"$schema": "https://opencode.ai/config.json", "autoupdate": False, "share": "disabled",
                    "provider": {"kz": provider}, "model": f"kz/{MODEL}", **flavor.settings}
        (config / f"{flavor.agent}.json").write_text(json.dumps(settings, indent=2))
        (sb.home / ".npmrc").write_text(f"registry={server.url}/npm/\n")
        traced = strace_works()
        t0 = time.monotonic()
        out = sb.run([*strace_prefix(sb, "main", traced), binary, "run", PROMPT], "main", timeout=240, env=env)
        checks.eq(out.returncode, 0, f"{flavor.agent} run: exit status ({time.monotonic() - t0:.1f} s; logs/main.err)")
        served = list(mock.served)
        unknown = [u for u in mock.unknown if u[0] != "unscripted"]
        check_pure_run(checks, flavor, sb, binary, env)
    # OpenCode first asks for a title with the same prompt: answered with the first step, not a step.
    steps = [r["step"] for r in served if r["step"] != "unscripted"]
    steps = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    checks.eq(steps, [s[0] for s in opencode_script(sb.work)["opencode"]], "the mock served the scenario")
    registry = {path for method, path in unknown if path.startswith("/npm/")}
    checks.eq(registry, {"/npm/" + flavor.plugin_package.replace("/", "%2f")}, "the only registry request: its plugin package, from the loopback registry")
    checks.eq([u for u in unknown if not u[1].startswith("/npm/")], [], f"{flavor.title} made no other request the mock does not know")
    if traced:
        checks.eq(foreign_connects(sb), [], f"{flavor.title} connects to nothing but loopback")
    else:
        print("  (strace unavailable: the loopback-only check is skipped)")
    checks.eq((old_steps.exists(), recent_steps.exists()), (False, True),
              "the plugin removed a steps file untouched for 31 days, kept one of 29 days")
    calls = [json.loads(line) for line in captured.read_text().splitlines()] if captured.exists() else []
    events = sb.events()
    deliveries = sb.deliveries()
    if os.environ.get("KAIZEN_E2E_DEBUG"):
        (sb.logs / "events.json").write_text(json.dumps(events, indent=1))
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, flavor, deliveries)
    check_deliveries(checks, flavor, deliveries, events)
    session = check_tools(checks, flavor, calls, events)
    if session:
        check_session(checks, flavor, sb, calls, events, session, pinned)
        check_costs(checks, flavor, sb, served, [e for e in events if e["session_id"] == session])
    check_doctor(checks, flavor, sb)
    check_reinstall(checks, sb, ours)


def plant_steps_files(sb, flavor):
    """Two steps files of earlier sessions, 31 and 29 days untouched."""
    steps = sb.home / ".local" / "share" / flavor.agent / "kaizen-hook"
    steps.mkdir(parents=True, exist_ok=True)
    planted = []
    for name, days in (("ses_kzold", 31), ("ses_kzrecent", 29)):
        path = steps / f"{name}.jsonl"
        path.write_text('{"type":"step-finish"}\n')
        then = time.time() - days * 86400
        os.utime(path, (then, then))
        planted.append(path)
    return planted


def add_captures(sb, config, plugin):
    """Beside the installed plugin, a copy that runs capture.sh with what the plugin sends."""
    script = sb.tmp / "capture-plugin.sh"
    script.write_text(f'#!/bin/sh\nexec sh {common.CAPTURE} {sb.capture_dir} plugin "$@"\n')
    script.chmod(0o755)
    tee = plugin.replace(json.dumps(str(sb.bin)), json.dumps(str(script)), 1)
    (config / "plugins" / "kaizen-e2e-tee.js").write_text(tee.replace(common.MARKER, "A copy of what kaizen-hook install wrote"))


def check_deliveries(checks, flavor, deliveries, events):
    """Every payload the plugin sent is recorded once, by the agent it names, with its kind, tool
    and call id. The copy's payloads are not byte for byte the plugin's (each stamps its own
    `timestamp`): a payload's events are those of its event name, session and call id."""
    # session.created, chat.message, 4 tool.execute.before, 3 tool.execute.after, tool.error, session.idle
    checks.eq(len(deliveries), 11, "the plugin's payloads were captured")
    hooks = [e for e in events if e.get("source") == "Hook"]
    for d in deliveries:
        p = d.payload or {}
        name = p.get("hook_event_name")
        what = f"{name} {p.get('tool_use_id') or ''}".strip()
        checks.eq((d.args[:4], p.get("host")), (["event", "--agent", flavor.agent, "--event"], flavor.agent), f"{what}: the plugin names its agent")
        key = (name, p.get("session_id"), p.get("tool_use_id"))
        recorded = [e for e in hooks if (e["payload"].get("hook_event_name"), e["session_id"], e.get("tool_call_id")) == key]
        if not checks.eq(len(recorded), 1, f"{what}: recorded once"):
            continue
        e = recorded[0]
        checks.eq(e["payload"]["agent"], flavor.agent, f"{what}: agent")
        if name in KINDS or name == "tool.execute.after":
            kind = KINDS.get(name) or ("Error" if p.get("tool_use_id") in FAILED else "ToolResult")
            checks.eq((e["kind"], e["tool"]), (kind, p.get("tool_name")), f"{what}: kind, tool")


def check_tools(checks, flavor, calls, events):
    """Every tool call the agent made is one ToolCall and one result (or Error), with its tool and call id."""
    befores = [c for c in calls if c["name"] == "tool.execute.before"]
    afters = [c for c in calls if c["name"] == "tool.execute.after"]
    checks.eq(len(befores), 4, f"{flavor.title} ran the scenario's 4 tool calls")
    sessions = {c["input"]["sessionID"] for c in befores}
    for c in befores + afters:
        i = c["input"]
        what = f"{c['name']} {i['tool']} {i['callID']}"
        mine = [e for e in events if e.get("tool_call_id") == i["callID"] and e["kind"] != "Cost"]
        kinds = sorted(e["kind"] for e in mine)
        failed = i["callID"] in FAILED
        checks.eq(kinds, sorted(["ToolCall", "Error" if failed else "ToolResult"]), f"{what}: a call and its result, once")
        for e in mine:
            checks.eq((e["tool"], e["session_id"], e["payload"]["agent"]), (i["tool"], i["sessionID"], flavor.agent),
                      f"{what}: tool, session, agent")
    result = next((e for e in events if e.get("tool_call_id") == "call_kz_oc_bash_ok" and e["kind"] == "ToolResult"), None)
    checks.check(result is not None and result.get("latency_ms") is not None, "a result's latency from its call")
    return next(iter(sessions)) if len(sessions) == 1 else None


def check_session(checks, flavor, sb, calls, events, session, pinned):
    mine = [e for e in events if e["session_id"] == session]
    names = [e["payload"].get("hook_event_name") for e in mine if e["kind"] != "Cost"]
    checks.eq(names[0] if names else None, "session.created", "the session starts at session.created")
    checks.check("chat.message" in names, "the prompt is recorded", str(names))
    prompt = next((e for e in mine if e["payload"].get("hook_event_name") == "chat.message"), {})
    checks.eq(prompt.get("kind"), "Message", "chat.message: a Message")
    idles = [c for c in calls if c["name"] == "event" and c["input"].get("type") == "session.idle"]
    checks.eq(names.count("session.idle"), len(idles), "every session.idle recorded once")
    rec = sb.records().get(session)
    if not checks.check(rec is not None, "a record for the session"):
        return
    checks.eq(rec["agent"], flavor.agent, "record: agent")
    checks.eq(rec["status"], "Idle", "record: session.idle ended the turn")
    checks.eq(rec["model"], MODEL, "record: model")
    checks.eq(rec["agent_version"], pinned, "record: version, from the binary's package.json")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace")
    row = next(iter(sb.session_rows(session)), None)
    if checks.check(row is not None, "sessions --json lists the session"):
        checks.eq((row["tool_calls"], row["errors"]), (4, 2), "sessions: 4 tool calls, 2 errors")
    # `run` sends no session end: the session ends with the agent's process (inferred, settled by `sessions`).
    checks.eq((sb.records().get(session) or {}).get("status"), "Done", f"the session ended with the {flavor.agent} process")
    inferred = [e for e in sb.events() if e["session_id"] == session and e["payload"].get("inferred") is True]
    checks.eq(len(inferred), 1, "its end is one inferred Lifecycle event")


def check_costs(checks, flavor, sb, served, mine):
    """One Cost event per model response of the scenario, with the figures the mock served, from
    the plugin's steps file (OpenCode's own title request is in no step: not counted)."""
    expected = []
    for step in [s[0] for s in opencode_script(sb.work)["opencode"]]:
        u = OPENCODE_USAGE[step]
        expected.append((u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"], u["cached_tokens"],
                         u["cache_write_tokens"], u["completion_tokens"], u["reasoning_tokens"], MODEL))
    costs = [e for e in mine if e["kind"] == "Cost"]
    got = [(e["tokens_in"], e["cache_read_tokens"], e["cache_creation_tokens"], e["tokens_out"], e["reasoning_tokens"],
            e["payload"].get("model")) for e in sorted(costs, key=lambda e: e["ts_ms"])]
    checks.eq(got, expected, "one Cost event per model response: input, cache, output, reasoning, model")
    checks.check(all(e["cost_usd_e6"] for e in costs), "each response priced (gpt-4.1)", str([e["cost_usd_e6"] for e in costs]))
    checks.eq(len({e["payload"].get("response_id") for e in costs}), len(costs), "each step counted once (its line is there twice)")
    answered = sum(1 for r in served if r["status"] == 200)
    if flavor.asks_title:
        checks.known_gap(len(costs) == answered, f"a Cost event for each of the {answered} responses served, the title's too",
                         "OpenCode's title request is no step of the session: no part, no bus event carries its usage")
    else:
        checks.eq(len(costs), answered, "a Cost event for every response the mock served")
    turns = {e["payload"].get("turn") for e in costs}
    checks.check(len(turns) == 1 and None not in turns, "the responses belong to the prompt's turn", str(turns))


def check_pure_run(checks, flavor, sb, binary, env):
    """With its pure switch set, the agent runs no external plugin: a run (one unscripted answer)
    delivers nothing and records nothing, as doctor says."""
    before = (len(sb.deliveries()), len(sb.events()))
    out = sb.run([binary, "run", "Say OK."], "pure", timeout=240, env={**env, flavor.pure: "1"})
    checks.eq(out.returncode, 0, f"{flavor.agent} run with {flavor.pure}=1: exit status (logs/pure.err)")
    checks.eq((len(sb.deliveries()), len(sb.events())), before, f"{flavor.pure}=1: the plugin did not run, nothing recorded")


def check_doctor(checks, flavor, sb):
    doctor = sb.kaizen("doctor")
    checks.check("registered for 10 of 10 events" in doctor.stdout, f"doctor: {flavor.title}'s plugin registered", doctor.stdout[:600])
    checks.check(flavor.pure not in doctor.stdout, f"doctor: no {flavor.pure} problem while it is unset")
    pure = sb.kaizen("doctor", env=sb.env(**{flavor.pure: "1"}))
    checks.check(f"{flavor.pure} is set" in pure.stdout, f"doctor: {flavor.pure}=1 turns the plugin off, and doctor says so", pure.stdout[:1500])


def check_reinstall(checks, sb, ours):
    again = sb.kaizen("install", "--agent", ours.parent.parent.name)
    checks.check("unchanged" in again.stdout, "installing again changes nothing", again.stdout[:200])
    gone = sb.kaizen("uninstall", "--agent", ours.parent.parent.name)
    checks.eq(gone.returncode, 0, "uninstall: exit status")
    checks.check(not ours.exists(), "uninstall removes the plugin", gone.stdout[:200])
    checks.check((ours.parent / "kaizen-e2e-capture.js").exists(), "uninstall leaves the other plugins alone")


def neutral(text: str, sb) -> str:
    for path, name in ((sb.work, "/work/project"), (sb.home, "/home/user"), (sb.tmp, "/tmp/e2e")):
        text = text.replace(str(path), name)
    return text


def save_fixtures(sb, flavor, deliveries):
    """One fixture per event (tool events per call: `tool.execute.before-bash_ok.json`), and the
    steps file (tests/fixtures/transcripts/<agent>/steps.jsonl), paths made neutral."""
    fixtures = common.ROOT / "tests" / "fixtures" / "real" / flavor.agent
    fixtures.mkdir(parents=True, exist_ok=True)
    for steps in (sb.home / ".local" / "share" / flavor.agent / "kaizen-hook").glob("*.jsonl"):
        if steps.name.startswith("ses_kz"):
            continue  # planted by plant_steps_files
        into = common.ROOT / "tests" / "fixtures" / "transcripts" / flavor.agent
        into.mkdir(parents=True, exist_ok=True)
        (into / "steps.jsonl").write_text(neutral(steps.read_text(), sb))
    for d in deliveries:
        p = d.payload or {}
        name = p.get("hook_event_name")
        call = re.sub(r"^call_kz_oc_", "", p.get("tool_use_id") or "")
        if not name:
            continue
        text = neutral(json.dumps(p, ensure_ascii=False) + "\n", sb)
        (fixtures / (f"{name}-{call}.json" if call else f"{name}.json")).write_text(text)
