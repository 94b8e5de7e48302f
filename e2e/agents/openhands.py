"""OpenHands CLI, the real CLI (PyPI `openhands`), against the scripted OpenAI Chat Completions mock.

Not in the default run (`DEFAULT_RUN = False`): its virtual environment is
about 620 MB (the `openhands` wheel and its dependencies, Python 3.12,
as uv installs them):
`python3 e2e/run.py openhands` runs it. Installed with `uv` (from PyPI) into
`target/e2e/pip/openhands-<version>/`, with a Python 3.12 from PATH or pyenv,
else one uv fetches.

Runs, in one temporary HOME where `kaizen-hook install --agent openhands`
registered the hooks in `~/.openhands/hooks.json` (beside a hook of the
user's own, kept; capture.sh beside each of ours):

  1. run one   `openhands --headless --override-with-envs -t "[kz:main] ..."`:
               a command that succeeds, one that exits 2, file_editor create,
               str_replace, view, a view of a missing file, a final answer.
  2. run two   `--resume <id>` of the same conversation: one command, an answer.

The model is the mock's, through LLM_BASE_URL / LLM_MODEL / LLM_API_KEY
(`--override-with-envs`). Each run is in a network namespace with only
loopback (`unshare --net`): OpenHands clones its public skills from GitHub and
asks PyPI for its latest version whenever it starts, which no setting turns
off; e2e/unix_bridge.py carries the model calls to the mock. OpenHands leaves
a `tmux -L openhands` server running after each run: it is ended by pid (its
socket is in the sandbox: TMUX_TMPDIR).

Every delivery is compared with what kaizen-hook recorded (by its bytes), then
`doctor` (also in a work tree whose own .openhands/hooks.json hides the
user's), `sessions --json` and `show --json`.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/openhands/.
"""

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import unix_bridge  # noqa: E402
from mock import openai_chat  # noqa: E402

# Too big for every CI run: only when named (e2e/run.py).
DEFAULT_RUN = False

AGENT = "openhands"
MODEL = "gpt-4.1"
# What OpenHands (LiteLLM) calls the model: the provider, then the mock's name.
LLM_MODEL = f"openai/{MODEL}"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT
USER_HOOK = "true # the user's own Stop hook"

USAGE = {
    "main.1.shell_ok": openai_chat._usage(2101, 101, 0, 31, 0),
    "main.2.shell_fail": openai_chat._usage(2202, 102, 0, 32, 0),
    "main.3.create": openai_chat._usage(2303, 103, 0, 33, 0),
    "main.4.edit": openai_chat._usage(2404, 104, 0, 34, 0),
    "main.5.view": openai_chat._usage(2505, 105, 0, 35, 0),
    "main.6.view_missing": openai_chat._usage(2606, 106, 0, 36, 0),
    "main.7.final": openai_chat._usage(2707, 107, 0, 37, 0),
    "resume.1.shell": openai_chat._usage(3101, 201, 0, 41, 0),
    "resume.2.final": openai_chat._usage(3202, 202, 0, 42, 0),
}


def script(work: Path) -> dict:
    """OpenHands's tools: `terminal` (command), `file_editor` (command, path, ...); each asks a `security_risk`."""
    w = str(work)
    tool = openai_chat._tool

    def call(call_id, name, **args):
        return tool(call_id, name, {**args, "security_risk": "LOW"})

    return {
        "main": [
            ("main.1.shell_ok", None, [call("call_kz_ok", "terminal", command="echo kaizen-e2e-ok")]),
            # `(exit 2)`: a top-level `exit` would end OpenHands's shell itself.
            ("main.2.shell_fail", "Now a command that fails.", [
                call("call_kz_fail", "terminal", command="echo about-to-fail >&2; (exit 2)"),
            ]),
            ("main.3.create", None, [call("call_kz_create", "file_editor", command="create", path=f"{w}/hello.txt",
                                          file_text="hello from the e2e suite\n")]),
            ("main.4.edit", None, [call("call_kz_edit", "file_editor", command="str_replace", path=f"{w}/hello.txt",
                                        old_str="hello", new_str="goodbye")]),
            ("main.5.view", None, [call("call_kz_view", "file_editor", command="view", path=f"{w}/notes.txt")]),
            ("main.6.view_missing", None, [call("call_kz_missing", "file_editor", command="view",
                                                path=f"{w}/does-not-exist.txt")]),
            ("main.7.final", "All steps done.", []),
        ],
        "resume": [
            ("resume.1.shell", None, [call("call_kz_resume", "terminal", command="echo resumed")]),
            ("resume.2.final", "Resumed and done.", []),
        ],
    }


def python312():
    """A Python 3.12 for the environment (`openhands` needs >= 3.12, < 3.13): in pyenv or on PATH (one
    that runs: a pyenv shim may name a version it will not run), else "3.12", which uv fetches."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [str(p) for p in sorted(pyenv.glob("3.12*/bin/python3.12"), reverse=True)]
    candidates += [found for found in [shutil.which("python3.12")] if found]
    for candidate in candidates:
        probe = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return "3.12"


def install() -> Path:
    """The pinned `openhands` in its own virtual environment (cached); returns the environment."""
    pin = common.versions()[AGENT]
    pip = common.cache_dir() / "pip"
    venv = pip / f"openhands-{pin['version']}"
    stamp = venv / "installed"
    if stamp.is_file() and stamp.read_text() == pin["version"]:
        return venv
    uv_env = pip / f"uv-{pin['uv']}"
    uv = uv_env / "bin" / "uv"
    steps = []
    if not uv.is_file():
        steps += [[sys.executable, "-m", "venv", str(uv_env)], [str(uv_env / "bin" / "pip"), "install", "-q", f"uv=={pin['uv']}"]]
    shutil.rmtree(venv, ignore_errors=True)
    steps += [
        [str(uv), "venv", "-q", "--python", python312(), str(venv)],
        [str(uv), "pip", "install", "-q", "--no-cache", "--python", str(venv / "bin" / "python"), f"{pin['package']}=={pin['version']}"],
    ]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise common.NpmUnreachable(f"{' '.join(step[:3])} ... failed: {out.stderr.strip()[-2000:]}")
    stamp.write_text(pin["version"])
    return venv


def run(checks):
    venv = install()
    sb = common.Sandbox(AGENT)
    try:
        scenario(checks, sb, venv / "bin" / "openhands", common.versions()[AGENT]["version"])
    finally:
        sb.end_processes()
        sb.cleanup()


def agent_tmux(sb) -> list:
    """The pids of the tmux servers OpenHands left in this sandbox (`tmux -L openhands`)."""
    found = []
    needle = f"HOME={sb.home}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == "tmux" and b"-Lopenhands" in argv:
            found.append(int(proc.name))
    return found


def end_tmux(checks, sb, name):
    """Ends the tmux server the run left, by pid, and checks it is gone."""
    pids = agent_tmux(sb)
    checks.check(bool(pids), f"{name}: OpenHands left its `tmux -L openhands` server running (ended by pid now)")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    checks.check(common.wait_for(lambda: not agent_tmux(sb), 10), f"{name}: the tmux server ended")


def seed_hooks(sb) -> Path:
    """A hook of the user's own in ~/.openhands/hooks.json, which install must keep."""
    hooks = sb.home / ".openhands" / "hooks.json"
    hooks.parent.mkdir(parents=True)
    hooks.write_text(json.dumps({"hooks": {"Stop": [{"matcher": "*", "hooks": [{"type": "command", "command": USER_HOOK}]}]}}, indent=2) + "\n")
    return hooks


def scenario(checks, sb, openhands, version):
    hooks = seed_hooks(sb)
    sb.install(AGENT)
    written = json.loads(hooks.read_text())
    user_kept = [h["command"] for g in written["hooks"]["Stop"] for h in g["hooks"] if h["command"] == USER_HOOK]
    checks.eq(user_kept, [USER_HOOK], "install keeps the user's own Stop hook")
    checks.eq(sorted(written["hooks"]), sorted(["SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"]),
              "install registers OpenHands's six events")
    sb.add_capture_nested(hooks)
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    socket_path = str(sb.tmp / "mock.sock")
    with common.MockServer(mock) as server:
        bridge = unix_bridge.outside(socket_path, server.port)
        env = sb.env(PATH=os.environ["PATH"], LLM_API_KEY="kz-e2e-dummy", LLM_BASE_URL=server.url + "/v1", LLM_MODEL=LLM_MODEL,
                     LITELLM_LOCAL_MODEL_COST_MAP="True", OPENHANDS_SUPPRESS_BANNER="1", TMUX_TMPDIR=str(sb.tmp))

        def openhands_run(name, *args):
            argv = [*unix_bridge.namespaced(socket_path, server.port, sb.logs, name), openhands, "--headless",
                    "--override-with-envs", "--json", *args]
            started = time.monotonic()
            out = sb.run(argv, name, timeout=400, env=env)
            print(f"  {name}: {time.monotonic() - started:.0f} s")
            checks.eq(out.returncode, 0, f"{name} exits 0 ({out.stderr.decode(errors='replace')[-400:]})")
            end_tmux(checks, sb, name)
            return out

        openhands_run("run1", "-t", "[kz:main] Run the scripted steps.")
        starts = [d for d in sb.deliveries() if d.payload and d.payload.get("event_type") == "SessionStart"]
        session_id = starts[0].payload.get("session_id") if starts else None
        checks.check(session_id is not None, "run one delivered a SessionStart with the conversation id")
        openhands_run("run2", "--resume", session_id or "", "-t", "[kz:resume] Once more.")
        bridge.close()
    for name in ("run1", "run2"):
        checks.eq(unix_bridge.links_seen(sb.logs, name), ["lo"], f"{name}: OpenHands ran in a network namespace with nothing but loopback")
    checks.eq([u for u in mock.unknown if u[0] != "unscripted"], [], "the mock understood every request")
    checks.eq(sorted(s["step"] for s in mock.served), sorted(USAGE), "the mock served every scripted step once (through the bridge)")
    deliveries = [d for d in sb.deliveries() if d.payload]
    events = sb.events()
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries)
    pairs = common.match(deliveries, events)
    check_deliveries(checks, pairs)
    check_record(checks, sb, session_id, version)
    check_commands(checks, sb, session_id)
    check_costs(checks, mock, [e for e in sb.events() if e["session_id"] == session_id])


def name(d):
    return d.payload.get("event_type")


def check_deliveries(checks, pairs):
    checks.check(len(pairs) > 15, f"OpenHands delivered the scenario's hooks ({len(pairs)})")
    # A resumed run's SessionStart, Stop and SessionEnd are byte for byte the
    # first run's (same conversation, nothing else in them): n deliveries, n events.
    same = collections.Counter(d.hash for d, _ in pairs)
    for d, es in pairs:
        checks.eq(len(es), same[d.hash], f"delivery {name(d)} {d.payload.get('tool_name') or ''} recorded once")
    kinds = {}
    for d, es in pairs:
        kinds.setdefault(name(d), set()).update(e["kind"] for e in es)
    checks.eq(kinds.get("PreToolUse"), {"ToolCall"}, "PreToolUse -> ToolCall")
    checks.eq(kinds.get("UserPromptSubmit"), {"Message"}, "UserPromptSubmit -> Message")
    checks.eq(kinds.get("Stop"), {"Lifecycle"}, "Stop -> Lifecycle (a turn end)")
    checks.eq([name(d) for d, _ in pairs if name(d) in ("SessionStart", "SessionEnd")],
              ["SessionStart", "SessionEnd", "SessionStart", "SessionEnd"], "each run starts and ends its session")
    for call, wanted in (("echo kaizen-e2e-ok", "ToolResult"), ("(exit 2)", "Error"), ("does-not-exist", "Error"),
                         ("hello.txt", "ToolResult"), ("notes.txt", "ToolResult"), ("echo resumed", "ToolResult")):
        got = {e["kind"] for d, es in pairs if name(d) == "PostToolUse" and call in json.dumps(d.payload.get("tool_input")) for e in es}
        checks.eq(got, {wanted}, f"the result of `{call}` is {wanted}")
    calls = {}
    for d, es in pairs:
        for e in es:
            if name(d) in ("PreToolUse", "PostToolUse"):
                calls.setdefault(e.get("tool_call_id"), []).append((name(d), e.get("tool")))
    checks.check(None not in calls, "every tool event has a call id (derived: OpenHands sends none)")
    unpaired = {k: v for k, v in calls.items() if sorted(n for n, _ in v) != ["PostToolUse", "PreToolUse"]}
    checks.eq(unpaired, {}, "each derived call id is shared by exactly one PreToolUse and its PostToolUse")
    checks.eq({t for v in calls.values() for _, t in v}, {"terminal", "file_editor"}, "tools recorded by OpenHands's names")
    results = [e for d, es in pairs if name(d) == "PostToolUse" for e in es]
    checks.check(all(isinstance(e.get("latency_ms"), int) for e in results), "every tool result carries its latency",
                 str([e.get("latency_ms") for e in results]))


def check_record(checks, sb, session_id, version):
    rec = sb.records().get(session_id)
    if not checks.check(rec is not None, "a SessionRecord for the OpenHands conversation"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace (from working_dir)")
    checks.eq(rec.get("model"), LLM_MODEL, "record: model, from the conversation's base_state.json")
    checks.eq(rec.get("agent_version"), version, "record: agent_version, from the openhands package beside its Python")
    checks.eq(rec.get("status"), "Done", "record: Done after SessionEnd")


def check_commands(checks, sb, session_id):
    doctor = sb.kaizen("doctor")
    hooks = sb.home / ".openhands" / "hooks.json"
    checks.eq(doctor.returncode, 0, "doctor exit status")
    checks.check(str(hooks) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists OpenHands's hooks.json with no problem",
                 doctor.stdout[-800:])
    project = sb.tmp / "project"
    (project / ".openhands").mkdir(parents=True)
    (project / ".openhands" / "hooks.json").write_text(json.dumps({"stop": [{"hooks": [{"command": "lint.sh"}]}]}))
    hidden = subprocess.run([str(sb.bin), "doctor"], cwd=project, env=sb.env(), capture_output=True, text=True)
    checks.check(hidden.returncode != 0 and "PROBLEM" in hidden.stdout and "hides" in hidden.stdout,
                 "doctor, in a work tree whose own .openhands/hooks.json hides the user's, says so", hidden.stdout[-800:])
    ours = sb.session_rows(session_id)
    if not checks.eq(len(ours), 1, "sessions --json lists the session once"):
        return
    s = ours[0]
    checks.eq(s.get("status"), "Done", "sessions: Done")
    checks.eq(s.get("errors"), 2, "sessions: errors = 2 (exit 2, missing file)")
    checks.eq(s.get("model"), LLM_MODEL, "sessions: model")
    show = sb.kaizen("show", session_id, "--json")
    checks.eq(show.returncode, 0, "show --json exits 0")


def check_costs(checks, mock, events):
    """One Cost event per model response, from the conversation's base_state.json (one JSON document rewritten
    in place): `stats.usage_to_metrics.<usage>.token_usages[]`, by response id, each with its latency from
    `response_latencies[]`. LiteLLM's prompt_tokens includes the cached tokens: tokens_in is the rest."""
    served = [s for s in mock.served if s["status"] == 200]
    costs = [e for e in events if e["kind"] == "Cost"]
    checks.eq(len(costs), len(served), f"one Cost event per model response ({len(served)})")
    got = sorted((e["tokens_in"], e["cache_read_tokens"], e["cache_creation_tokens"], e["tokens_out"], e["reasoning_tokens"])
                 for e in costs)
    want = sorted((u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"], u["cached_tokens"], u["cache_write_tokens"],
                   u["completion_tokens"], u["reasoning_tokens"]) for u in (s["usage"] for s in served))
    checks.eq(got, want, "Cost events: the mock's usage of each response (input without the cached, cache read and write, output, reasoning)")
    checks.eq(sorted(e["payload"].get("response_id") for e in costs), sorted(s["response_id"] for s in served),
              "Cost events: keyed by the mock's response ids, each once")
    checks.eq({e["payload"].get("model") for e in costs}, {LLM_MODEL}, "Cost events: the model")
    checks.check(all(isinstance(e.get("latency_ms"), int) for e in costs), "Cost events: each response's latency",
                 str([e.get("latency_ms") for e in costs]))
    checks.check(all(isinstance(e.get("cost_usd_e6"), int) and e["cost_usd_e6"] > 0 for e in costs), "Cost events: priced",
                 str([e.get("cost_usd_e6") for e in costs]))


def save_fixtures(sb, deliveries):
    chosen = {}
    for d in deliveries:
        key = name(d)
        if key == "PostToolUse":
            text = json.dumps(d.payload.get("tool_input"))
            key = "PostToolUse-exit2" if "(exit 2)" in text else "PostToolUse-missing" if "does-not-exist" in text else key
        if key:
            chosen.setdefault(key, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    replace = [(str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e"),
               (str(sb.bin), "/home/user/.local/bin/kaizen-hook"), (str(common.ROOT), "/repo")]
    for key, d in chosen.items():
        text = d.raw.decode()
        for old, new in replace:
            text = text.replace(old, new)
        (FIXTURES / f"{key}.json").write_text(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")
