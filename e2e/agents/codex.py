"""Codex CLI, the real CLI, against the scripted OpenAI Responses mock.

Codex reads `$CODEX_HOME/config.toml` (CODEX_HOME defaults to ~/.codex): a
`model_providers` entry points it at the mock (`wire_api = "responses"`; Codex
rejects "chat"), plugins/apps/web search are off so nothing leaves loopback.
Hooks live in `~/.codex/hooks.json`, written by `kaizen-hook install --agent
codex`; capture.sh goes beside each kaizen-hook handler, and into a group of its
own for the events kaizen-hook does not register (SessionEnd, Interrupt,
PreModelRequest, PostModelRequest), so the suite knows what Codex delivered. Codex runs a hook only once it is trusted:
`[hooks.state."<hooks.json>:<event>:<group>:<handler>"] trusted_hash` in
config.toml. `kaizen-hook install --agent codex --trust` writes those entries for
kaizen-hook's handlers (checked against `trust_entries`, the same algorithm); the
test trusts its capture handlers itself, and `uninstall` must leave their trust
valid when it removes kaizen-hook's.

Runs, all in one temporary HOME, on one session:

  1. main     `codex exec --dangerously-bypass-approvals-and-sandbox "[kz:main] ..."`:
              a shell command that succeeds, one that fails (exit 2), a file
              write and an edit (apply_patch), two parallel shell calls in one
              response (`cat` of a file and of a missing file), a subagent
              (spawn_agent, then wait_agent) that runs one shell command, a
              final answer. The model call of the edit gets one HTTP 500 (retried).
  2. resume   `codex exec --approve-for-me resume <id> "[kz:resume] ..."`: `rm`
              forbidden by an execpolicy rule (denied, no PostToolUse), a
              command that asks for escalation (PermissionRequest, denied by
              the scripted automatic reviewer), a response whose usage crosses
              `model_auto_compact_token_limit` (auto compaction: PreCompact,
              PostCompact, SessionStart "compact"), more shell, an answer.
  3. error    `codex exec resume <id> "[kz:error] ..."`: the model answers
              HTTP 500 on every attempt; the turn fails (no hook says so).
  4. interrupt `codex exec resume <id> "[kz:int] ..."`: `sleep 20`, SIGINT
              mid-call (Interrupt). Its SessionStart is byte-identical to the
              one of run 3, seconds later.

Each `codex exec` ends with SessionEnd. Codex's `notify` (argv JSON) is
captured too. Then every delivery is compared with what kaizen-hook recorded,
the rollout transcripts with what the mock served, and `doctor`, `sessions
--json`, `show --json` are checked. Where strace works, runs 1-3 run under it
and every connect() must go to loopback (KAIZEN_E2E_NO_STRACE=1 skips that).
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/codex/;
KAIZEN_E2E_KEEP=1 keeps the sandbox (HOME, capture, logs) for a look.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import common
from mock import openai_responses as mock_api

AGENT = "codex"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / "codex"

# Codex 0.171's hook events, PascalCase as in hooks.json -> the snake_case label
# of its trust keys (`hook_event_key_label`). Unknown names in hooks.json
# (StopFailure, PostToolUseFailure, Notification) are ignored silently.
EVENT_LABELS = {
    "PreToolUse": "pre_tool_use",
    "PermissionRequest": "permission_request",
    "PostToolUse": "post_tool_use",
    "PreCompact": "pre_compact",
    "PostCompact": "post_compact",
    "SessionStart": "session_start",
    "SessionEnd": "session_end",
    "UserPromptSubmit": "user_prompt_submit",
    "SubagentStart": "subagent_start",
    "SubagentStop": "subagent_stop",
    "Stop": "stop",
    "Interrupt": "interrupt",
    "PreModelRequest": "pre_model_request",
    "PostModelRequest": "post_model_request",
}
# Codex clamps the timeout of these to 1..3 s (default 1) and warns above 3.
CLAMPED_TIMEOUT = {"SessionEnd", "Interrupt"}
# The matcher is ignored (hashed as absent) for these.
NO_MATCHER = {"UserPromptSubmit", "Stop"}

KIND = {
    "SessionStart": "Lifecycle",
    "SessionEnd": "Lifecycle",
    "Interrupt": "Lifecycle",
    "UserPromptSubmit": "Message",
    "PreToolUse": "ToolCall",
    "PostToolUse": "ToolResult",
    "PermissionRequest": "Lifecycle",
    "Stop": "Lifecycle",
    "SubagentStart": "Lifecycle",
    "SubagentStop": "Lifecycle",
    "PreCompact": "Lifecycle",
    "PostCompact": "Lifecycle",
    # One per model call; PostModelRequest carries `token_usage` and `response_id`. What kaizen-hook
    # should make of them is for issue 12 to say: no kind is checked yet.
    "PreModelRequest": None,
    "PostModelRequest": None,
}

# The scripted tool calls: call id -> (tool_name in the hook payload, what happens).
TOOL_CALLS = {
    "call_kz_shell_ok": ("Bash", "ok"),
    "call_kz_shell_fail": ("Bash", "fails"),  # exit 2
    "call_kz_write": ("apply_patch", "ok"),
    "call_kz_edit": ("apply_patch", "ok"),
    "call_kz_read": ("Bash", "ok"),
    "call_kz_read_missing": ("Bash", "fails"),  # cat: exit 1
    "call_kz_spawn": ("spawn_agent", "ok"),
    # Codex glues the namespace to the name without a separator for wait_agent
    # (but not for spawn_agent): what it sends is what kaizen-hook must keep.
    "call_kz_wait": ("multi_agent_v1wait_agent", "ok"),
    "call_kz_sub_shell": ("Bash", "ok"),  # in the subagent
    "call_kz_denied": ("Bash", "denied"),  # execpolicy `forbidden`: PreToolUse only
    "call_kz_perm": ("Bash", "denied"),  # escalation denied by the reviewer: PreToolUse + PermissionRequest
    "call_kz_big": ("Bash", "ok"),
    "call_kz_after_compact": ("Bash", "ok"),
    "call_kz_sleep": ("Bash", "interrupted"),  # SIGINT mid-call: PreToolUse only
}
SUBAGENT_CALLS = {"call_kz_sub_shell"}
FAILED = {c for c, (_, what) in TOOL_CALLS.items() if what in ("fails", "denied")}
# Every call that did not succeed is an error: the failed and denied ones, and the interrupted one.
CALL_ERRORS = len([c for c, (_, what) in TOOL_CALLS.items() if what in ("fails", "denied", "interrupted")])

EXEC = ["exec", "--skip-git-repo-check", "--json"]
BYPASS = ["--dangerously-bypass-approvals-and-sandbox"]


# ---------------------------------------------------------------- trust


def codex_hook_hash(event: str, group: dict, handler: dict) -> str:
    """The `trusted_hash` Codex 0.171 expects for one command handler.

    Codex hashes a normalized identity, not the file text: `event_name` (the
    snake_case label) plus the matcher group flattened, with `hooks` holding only
    this handler, normalized: `type`, `command`, `timeout` always present
    (default 600, at least 1; SessionEnd/Interrupt clamped to 1..3, default 1),
    `async` always present (false), `statusMessage` only when set; `matcher`
    only when set (never for UserPromptSubmit/Stop); `commandWindows` never.
    Serialized as JSON with keys sorted at every level, no whitespace, UTF-8
    unescaped (serde_json); sha256, lowercase hex, prefixed `sha256:`.
    """
    timeout = handler.get("timeout", handler.get("timeoutSec"))
    if event in CLAMPED_TIMEOUT:
        timeout = min(max(1 if timeout is None else int(timeout), 1), 3)
    else:
        timeout = max(600 if timeout is None else int(timeout), 1)
    normalized = {"type": "command", "command": handler["command"], "timeout": timeout, "async": bool(handler.get("async", False))}
    if handler.get("statusMessage") is not None:
        normalized["statusMessage"] = handler["statusMessage"]
    identity = {"event_name": EVENT_LABELS[event], "hooks": [normalized]}
    matcher = None if event in NO_MATCHER else group.get("matcher")
    if matcher is not None:
        identity["matcher"] = matcher
    data = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def trust_entries(hooks_json: Path) -> dict:
    """Every command handler of a hooks.json -> (state key, trusted_hash), as Codex's /hooks writes them."""
    config = json.loads(hooks_json.read_text())
    out = {}
    for event, groups in config.get("hooks", {}).items():
        if event not in EVENT_LABELS:
            continue
        for gi, group in enumerate(groups):
            for hi, handler in enumerate(group.get("hooks", [])):
                if handler.get("type") == "command":
                    out[f"{hooks_json}:{EVENT_LABELS[event]}:{gi}:{hi}"] = (codex_hook_hash(event, group, handler), handler["command"])
    return out


def hook_state(config_toml: Path) -> dict:
    try:
        return tomllib.loads(config_toml.read_text()).get("hooks", {}).get("state", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def write_trust(config_toml: Path, entries: dict):
    """Appends `[hooks.state."<key>"] trusted_hash` for every entry not trusted yet (`install --trust` will)."""
    state = hook_state(config_toml)
    text = config_toml.read_text()
    for key, (digest, _command) in entries.items():
        have = state.get(key, {}).get("trusted_hash")
        if have == digest:
            continue
        header = f'[hooks.state."{key}"]'
        if header in text:  # present with another hash: replace the hash in that table
            at = text.index(header)
            end = text.find("\n[", at + 1)
            end = len(text) if end < 0 else end
            table = re.sub(r'trusted_hash = "[^"]*"', f'trusted_hash = "{digest}"', text[at:end])
            text = text[:at] + table + text[end:]
        else:
            text += f'\n{header}\ntrusted_hash = "{digest}"\n'
    config_toml.write_text(text)


# ---------------------------------------------------------------- setup


def config_toml(sandbox, server) -> str:
    return f'''# kaizen-hook e2e: Codex against the scripted mock on loopback, nothing else.
model = "{mock_api.MODEL}"
model_provider = "kaizen_mock"
check_for_update_on_startup = false
web_search = "disabled"
model_auto_compact_token_limit = {mock_api.AUTO_COMPACT_LIMIT}
notify = ["sh", "{common.CAPTURE}", "{sandbox.capture_dir}", "notify"]

[model_providers.kaizen_mock]
name = "kaizen e2e mock"
base_url = "{server.url}/v1"
wire_api = "responses"
env_key = "KAIZEN_E2E_OPENAI_KEY"
request_max_retries = 1
stream_max_retries = 0

[features]
plugins = false
apps = false
remote_plugin = false
tool_suggest = false

[analytics]
enabled = false

[feedback]
enabled = false

[projects."{sandbox.work}"]
trust_level = "trusted"
'''


def add_capture_only(sandbox, hooks_json: Path, events) -> list:
    """A capture-only group for the events kaizen-hook does not register, to see what Codex sends there."""
    config = json.loads(hooks_json.read_text())
    added = []
    for event in events:
        groups = config["hooks"].setdefault(event, [])
        if any(common.is_ours(h.get("command", "")) for g in groups for h in g.get("hooks", [])):
            continue
        groups.append({"hooks": [{"type": "command", "command": sandbox.capture_command(event), "timeout": 3}]})
        added.append(event)
    hooks_json.write_text(json.dumps(config, indent=2) + "\n")
    return added


STRACE = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect"]


def strace_works() -> bool:
    if os.environ.get("KAIZEN_E2E_NO_STRACE") or not shutil.which("strace"):
        return False
    try:
        return subprocess.run([*STRACE, "-o", "/dev/null", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def strace_prefix(sandbox, name, enabled):
    """Where strace works, every connect() of the agent is logged: only loopback may appear."""
    return [*STRACE, "-o", str(sandbox.logs / f"{name}.strace")] if enabled else []


def foreign_connects(sandbox) -> list:
    bad = []
    for log in sandbox.logs.glob("*.strace"):
        for line in log.read_text(errors="replace").splitlines():
            if "connect(" not in line or "AF_UNIX" in line or "AF_NETLINK" in line:
                continue
            m = re.search(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
            if m and not (m.group(1).startswith("127.") or m.group(1) == "::1"):
                bad.append(f"{log.stem}: {m.group(1)}: {line.strip()[:160]}")
    return bad


# ---------------------------------------------------------------- helpers


def is_failure(e) -> bool:
    p = e.get("payload") or {}
    return e.get("kind") == "Error" or p.get("failed") is True or p.get("is_error") is True or p.get("status") in ("failed", "error", "denied")


def rollout_lines(path: Path) -> list:
    out = []
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def redact(text: str, sandbox) -> str:
    text = text.replace(str(sandbox.work), "/work/project")
    text = text.replace(str(sandbox.home), "/home/user")
    return text.replace(str(sandbox.tmp), "/tmp/kaizen-e2e")


def run(checks):
    prefix = common.npm_install(AGENT)
    codex = prefix / "node_modules" / ".bin" / "codex"
    sandbox = common.Sandbox(AGENT)
    try:
        scenario(checks, sandbox, codex)
    finally:
        if os.environ.get("KAIZEN_E2E_KEEP"):
            print(f"  codex sandbox kept: {sandbox.tmp}")
        sandbox.cleanup()


def scenario(checks, sandbox, codex):
    version = common.versions()[AGENT]["version"]
    codex_home = sandbox.home / ".codex"
    codex_home.mkdir()
    hooks_json = codex_home / "hooks.json"
    config_path = codex_home / "config.toml"
    mock = mock_api.OpenAIResponsesMock()

    with common.MockServer(mock) as server:
        config_path.write_text(config_toml(sandbox, server))
        (codex_home / "rules").mkdir()
        (codex_home / "rules" / "e2e.rules").write_text(
            'prefix_rule(pattern = ["rm"], decision = "forbidden", justification = "e2e: rm is forbidden")\n'
        )

        # -- install: the installer is under test
        out = sandbox.install(AGENT)
        installed = json.loads(hooks_json.read_text())["hooks"]
        checks.check("hooks.json" in out.stdout and "trust" in (out.stdout + out.stderr).lower(),
                     "install names hooks.json and says the hooks need trust", out.stdout + out.stderr)
        unknown = sorted(set(installed) - set(EVENT_LABELS))
        checks.eq(unknown, [], "install registers only events Codex 0.171 knows")
        checks.check("SessionEnd" in installed, "install registers SessionEnd (issue 11 item 3)")
        for event in CLAMPED_TIMEOUT & set(installed):
            for g in installed[event]:
                for h in g["hooks"]:
                    if common.is_ours(h.get("command", "")):
                        checks.check(h.get("timeout", 1) <= 3, f"{event} timeout within Codex's 3 s clamp", f"registered {h.get('timeout')}")

        # -- before trust: Codex would skip every hook silently
        fix = f"kaizen-hook install --agent {AGENT} --trust"
        checks.check(fix in out.stdout, "install without --trust says how to trust the hooks", out.stdout[-400:])
        checks.eq(hook_state(config_path), {}, "install without --trust writes no trust")
        doctor = sandbox.kaizen("doctor")
        checks.check(doctor.returncode != 0 and "not trusted" in doctor.stdout and fix in doctor.stdout,
                     "doctor fails and says how to trust while Codex hooks are untrusted",
                     f"doctor exit {doctor.returncode}: {doctor.stdout.strip()[-400:]}")
        trust = sandbox.kaizen("install", "--agent", AGENT, "--trust")
        kaizen_entries = trust_entries(hooks_json)  # every handler is kaizen-hook's so far
        state = hook_state(config_path)
        trusted_ok = trust.returncode == 0 and all(state.get(k, {}).get("trusted_hash") == v[0] for k, v in kaizen_entries.items())
        checks.check(trusted_ok and len(state) == len(kaizen_entries),
                     "install --trust writes Codex's trusted_hash for every kaizen-hook handler, and nothing else",
                     f"exit {trust.returncode}: {(trust.stdout + trust.stderr).strip()[:300]}; state {sorted(state)[:3]}")
        trusted_text = config_path.read_text()
        again = sandbox.kaizen("install", "--agent", AGENT, "--trust")
        checks.check(again.returncode == 0 and config_path.read_text() == trusted_text, "install --trust twice changes nothing",
                     again.stdout[-300:])
        doctor = sandbox.kaizen("doctor")
        checks.check(doctor.returncode == 0 and "PROBLEM" not in doctor.stdout, "doctor finds no problem once trusted",
                     doctor.stdout[-600:])

        # -- the capture hooks beside kaizen-hook's (after them: their positions, so their trust, stay);
        # install --trust trusts only kaizen-hook's, so the test trusts the capture handlers itself.
        sandbox.add_capture_nested(hooks_json)
        capture_only = add_capture_only(sandbox, hooks_json, ["SessionEnd", "Interrupt", "PreModelRequest", "PostModelRequest"])
        write_trust(config_path, {k: v for k, v in trust_entries(hooks_json).items() if not common.is_ours(v[1])})
        state = hook_state(config_path)
        checks.check(all(state.get(k, {}).get("trusted_hash") == v[0] for k, v in trust_entries(hooks_json).items()),
                     "every handler, kaizen-hook's and the capture's, trusted before Codex runs")

        env = sandbox.env(KAIZEN_E2E_OPENAI_KEY="kz-e2e-dummy-key")
        traced = strace_works()
        started = time.monotonic()
        runs = {}

        def codex_exec(name, args, timeout=90, interrupt_when=None):
            """Runs codex in its own process group (killed whole on timeout); logs in logs/<name>.*.
            `interrupt_when`: a predicate; once true, SIGINT goes to the group, as Ctrl-C would."""
            argv = [str(a) for a in (strace_prefix(sandbox, name, traced and not interrupt_when) + [codex, *args])]
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, cwd=sandbox.work, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            try:
                if interrupt_when:
                    checks.check(common.wait_for(interrupt_when, 30), f"{name}: the call to interrupt started")
                    time.sleep(0.5)
                    os.killpg(proc.pid, signal.SIGINT)
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
                checks.check(False, f"{name} finishes within {timeout} s", "killed")
            (sandbox.logs / f"{name}.out").write_bytes(out)
            (sandbox.logs / f"{name}.err").write_bytes(err)
            runs[name] = (proc.returncode, time.monotonic() - t0)
            return subprocess.CompletedProcess(argv, proc.returncode, out, err)

        r1 = codex_exec("run1-main", [*EXEC, *BYPASS, "[kz:main] Part one of the kaizen e2e scenario."])
        lines = [json.loads(x) for x in r1.stdout.decode().splitlines() if x.startswith("{")]
        thread = next((x.get("thread_id") for x in lines if x.get("type") == "thread.started"), None)
        checks.check(r1.returncode == 0 and thread, "run 1 (codex exec) succeeds and names its thread",
                     f"exit {r1.returncode}; stderr: {r1.stderr.decode()[-400:]}")
        if not thread:
            return
        after = {"run1": sandbox.records().get(thread)}

        r2 = codex_exec("run2-resume", [*EXEC, "--approve-for-me", "resume", thread, "[kz:resume] Part two of the kaizen e2e scenario."])
        checks.eq(r2.returncode, 0, "run 2 (exec resume, --approve-for-me) exit code")
        after["run2"] = sandbox.records().get(thread)

        r3 = codex_exec("run3-error", [*EXEC, *BYPASS, "resume", thread, "[kz:error] Part three: the model fails."])
        checks.check(r3.returncode != 0 and b"turn.failed" in r3.stdout, "run 3 fails on the model error", f"exit {r3.returncode}")
        after["run3"] = sandbox.records().get(thread)

        # run 4: interrupted mid-call by SIGINT, as Ctrl-C would
        sleeping = lambda: any((d.payload or {}).get("tool_use_id") == "call_kz_sleep" for d in sandbox.deliveries())  # noqa: E731
        r4 = codex_exec("run4-interrupt", [*EXEC, *BYPASS, "resume", thread, "[kz:int] Part four: interrupted."], interrupt_when=sleeping)
        checks.check(r4.returncode != 0, "run 4 ends interrupted", f"exit {r4.returncode}")
        time.sleep(0.3)  # SessionEnd hooks of the last run
        after["run4"] = sandbox.records().get(thread)
        agent_seconds = time.monotonic() - started

    print(f"  codex {version}: runs " + ", ".join(f"{k} exit {rc} {s:.1f}s" for k, (rc, s) in runs.items()))
    print(f"  mock served: " + ", ".join(f"{s['step']}{'' if s['status'] == 200 else '=' + str(s['status'])}" for s in mock.served))

    deliveries = [d for d in sandbox.deliveries()]
    events = sandbox.events()
    check_network(checks, sandbox, server.port)
    check_mock(checks, mock)
    check_deliveries(checks, sandbox, deliveries, events, thread, capture_only)
    check_lifecycle(checks, sandbox, deliveries, events, thread, after, version)
    check_transcript(checks, sandbox, deliveries, events, thread, mock, version)
    check_commands(checks, sandbox, deliveries, events, thread)
    fixtures(checks, sandbox, deliveries)
    checks.check(agent_seconds < 150, "the Codex runs take under 150 s", f"{agent_seconds:.0f} s")


# ---------------------------------------------------------------- checks


def check_network(checks, sandbox, port):
    logs = list(sandbox.logs.glob("*.strace"))
    if not logs:
        print("  (strace unavailable: the loopback-only check is skipped)")
        return
    seen = sum(f"htons({port})" in log.read_text(errors="replace") for log in logs)
    checks.eq(seen, len(logs), "strace saw each traced run connect to the mock")
    checks.eq(foreign_connects(sandbox), [], "Codex connects to nothing but loopback")


def check_mock(checks, mock):
    steps = [s["step"] for s in mock.served]
    for step in ("main.1.shell_ok", "main.5.parallel_reads", "main.6.spawn", "sub.1.shell", "main.8.final",
                 "resume.1.denied", "resume.2.escalate", "guardian.review", "compact.summary", "resume.5.final", "int.1.sleep"):
        checks.check(step in steps, f"the agent went through scripted step {step}", f"served {steps}")
    checks.eq([s["status"] for s in mock.served if s["step"] == "main.4.edit"], [500, 200], "the edit's model call: 500, then retried")
    checks.check(not any(s["status"] == 400 for s in mock.served), "no scripted step looped", f"served {steps}")


def check_deliveries(checks, sandbox, deliveries, events, thread, capture_only):
    hooks = [d for d in deliveries if d.label != "notify"]
    pairs = common.match(hooks, events)
    by_hash = {}
    for d, evs in pairs:
        by_hash.setdefault(d.hash, []).append((d, evs))
    seen_labels = sorted({d.label for d in hooks})
    for label in ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest", "Stop",
                  "SubagentStart", "SubagentStop", "PreCompact", "PostCompact", "SessionEnd", "Interrupt",
                  "PreModelRequest", "PostModelRequest"):
        checks.check(label in seen_labels, f"Codex delivered {label}", f"delivered {seen_labels}")

    unregistered = {}
    for h, group in by_hash.items():
        d, evs = group[0]
        p = d.payload or {}
        what = f"{d.label} {p.get('tool_use_id') or p.get('source') or p.get('reason') or ''}".strip()
        if d.label in capture_only:
            unregistered.setdefault(d.label, []).append((len(group), len(evs)))
            continue
        if len(group) > 1 and len(evs) < len(group):
            gaps = [b.ts_ns - a.ts_ns for (a, _), (b, _) in zip(group, group[1:])]
            checks.known_gap(False, f"{what}: {len(group)} byte-identical deliveries from separate codex runs "
                             f"({', '.join(f'{g / 1e9:.1f}s' for g in gaps)} apart) recorded {len(evs)} times",
                             "issue 11 item 1: dropped as duplicates")
        else:
            checks.eq(len(evs), len(group), f"{what} recorded exactly once per delivery")
        if not evs:
            continue
        e = evs[0]
        ep = e.get("payload") or {}
        checks.eq(e["source"], "Hook", f"{what} source")
        checks.eq(e["session_id"], p.get("session_id"), f"{what} session id")
        checks.eq(ep.get("hook_event_name"), d.label, f"{what} hook_event_name")
        checks.eq(ep.get("agent"), "codex", f"{what} agent")
        expected_kind = KIND.get(d.label)
        call = p.get("tool_use_id")
        if d.label == "PostToolUse" and call in FAILED:
            checks.check(is_failure(e), f"{what}: the command failed; recorded as an Error or a failed result (issue 11 item 2)",
                         f"recorded {e['kind']}")
        elif expected_kind:
            checks.eq(e["kind"], expected_kind, f"{what} kind")
        checks.eq(ep.get("type"), re.sub(r"(?<!^)(?=[A-Z])", "_", d.label).lower(), f"{what} payload.type")
        if d.label in ("PreToolUse", "PostToolUse", "PermissionRequest"):
            checks.eq(e["tool"], p.get("tool_name"), f"{what} tool")
        if d.label in ("PreToolUse", "PostToolUse"):
            checks.eq(e["tool_call_id"], call, f"{what} tool_call_id")
            if call in TOOL_CALLS:
                checks.eq(p.get("tool_name"), TOOL_CALLS[call][0], f"Codex's tool_name for {call}")
        if d.label == "PostToolUse":
            checks.check(e.get("latency_ms") is not None, f"{what} has a latency", "latency_ms null")
        if p.get("agent_id"):
            checks.eq((ep.get("subagent") or {}).get("id"), p["agent_id"],
                      f"{what} from the subagent carries its agent_id in the payload (issue 11 item 7)")
        checks.check(abs(e["ts_ms"] - d.ts_ns // 1_000_000) < 2000, f"{what} ts_ms near the delivery time",
                     f"delivered {d.ts_ns // 1_000_000}, ts_ms {e['ts_ms']}")

    why = {
        "SessionEnd": "issue 11 item 3: not registered, so Codex sessions are never Done",
        "Interrupt": "issue 11 item 3 (Interrupt where useful): not registered",
        "PreModelRequest": "NEW: a Codex 0.171 hook (one per model call, attempt_number) that the installer does not register",
        "PostModelRequest": "NEW: a Codex 0.171 hook with token_usage, response_id, status, error per model call; not registered",
    }
    for label, counts in sorted(unregistered.items()):
        delivered = sum(n for n, _ in counts)
        recorded = sum(min(n, r) for n, r in counts)
        checks.known_gap(recorded == delivered, f"{label}: the {delivered} deliveries recorded", why.get(label, "not registered"))

    # Tool calls that never got a PostToolUse: denied or interrupted. Their outcome is in the rollout only.
    posted = {(d.payload or {}).get("tool_use_id") for d in hooks if d.label == "PostToolUse"}
    for call, (_tool, what) in TOOL_CALLS.items():
        if what in ("denied", "interrupted"):
            checks.check(call not in posted, f"{call} ({what}): Codex sends no PostToolUse", "it did")
            recorded = [e for e in events if e.get("tool_call_id") == call and e["kind"] in ("ToolResult", "Error")]
            checks.check(len(recorded) == 1 and is_failure(recorded[0]) and recorded[0]["source"] == "Tail",
                         f"{call} ({what}): one Error from the rollout (only PreToolUse arrives; its output says rejected/aborted)",
                         str([(e["kind"], e["source"], (e.get("payload") or {}).get("phase_note")) for e in recorded])[:400])
    checks.eq(sorted(d.label for d in hooks if (d.payload or {}).get("tool_use_id") == "call_kz_perm"),
              ["PreToolUse"], "the escalated call: one PreToolUse (its PermissionRequest has no tool_use_id)")

    # Order: deliveries more than 50 ms apart keep their order in seq (only deliveries
    # whose bytes are unique, so the event is surely theirs).
    ordered = [(d, evs[0]["seq"]) for d, evs in pairs
               if len(by_hash[d.hash]) == 1 and len(evs) == 1 and d.label not in capture_only]
    inversions = [f"{a.label}@{a.ts_ns // 1_000_000} seq {sa} vs {b.label}@{b.ts_ns // 1_000_000} seq {sb}"
                  for (a, sa), (b, sb) in zip(ordered, ordered[1:]) if b.ts_ns - a.ts_ns > 50_000_000 and sb < sa]
    checks.eq(inversions, [], "seq follows the delivery order")


def check_lifecycle(checks, sandbox, deliveries, events, thread, after, version):
    records = sandbox.records()
    checks.eq(sorted(records), [thread], "one session record, the thread's (the subagent shares it)")
    rec = records.get(thread)
    if not rec:
        return
    checks.eq(rec["agent"], "codex", "record agent")
    checks.eq(rec["model"], mock_api.MODEL, "record model")
    checks.eq(rec["workspace"], str(sandbox.work), "record workspace")
    transcript = next((d.payload.get("transcript_path") for d in deliveries if (d.payload or {}).get("transcript_path")), None)
    checks.eq(rec["trace_path"], transcript, "record trace_path is the rollout")
    checks.eq(rec["parent_session_id"], None, "record parent_session_id")
    checks.eq(rec["agent_version"], version, "record agent_version is the CLI version (issue 11 item 4)")
    # Every `codex exec` ends the session (SessionEnd); a failed turn has no Stop.
    for run_name in ("run1", "run2", "run3", "run4"):
        r = after.get(run_name) or {}
        checks.check(r.get("status") == "Done" and r.get("ended_at_ms") is not None,
                     f"after {run_name} (codex exec ended, SessionEnd delivered) the session is Done (issue 11 item 3)",
                     f"status {r.get('status')}")
    checks.check((after.get("run1") or {}).get("status") in ("Idle", "Done"), "after run 1 (Stop) the session is not Running",
                 f"status {(after.get('run1') or {}).get('status')}")
    # The failed turn (run 3): no Stop, no StopFailure in Codex 0.171; the rollout's task_complete has `error`.
    errors = [e for e in events if e["kind"] == "Error"]
    checks.known_gap(any("internal_server_error" in json.dumps(e.get("payload")) or "high demand" in json.dumps(e.get("payload")) for e in errors),
                     "the model error of run 3 is recorded as an Error",
                     "NEW: no Stop/StopFailure for a failed turn in Codex 0.171; PostModelRequest (status failed, error) "
                     "says so, but is not registered; the rollout's task_complete.error too")
    # Interrupt (run 4): not registered by the installer.
    checks.check(any((e.get("payload") or {}).get("hook_event_name") == "Interrupt" for e in events),
                 "the interrupted turn (Interrupt) is recorded")
    # session_errors: the failed and denied tool calls and the model error.
    last = max(events, key=lambda e: e["seq"]) if events else {}
    session_errors = (last.get("payload") or {}).get("session_errors", 0)
    checks.eq(session_errors, CALL_ERRORS, f"session_errors counts the {CALL_ERRORS} failed calls (2 failed commands, 2 denied, 1 interrupted)")
    checks.known_gap(session_errors == CALL_ERRORS + 1, f"session_errors counts the model error of run 3 too ({CALL_ERRORS + 1})",
                     "NEW: no hook reports the failed turn, and the transcript reader records failed calls only")
    checks.eq((last.get("payload") or {}).get("session_tool_calls"),
              len({(d.payload or {}).get("tool_use_id") for d in deliveries if d.label == "PreToolUse"}),
              "session_tool_calls counts every PreToolUse")
    # compaction: recorded as what it is
    types = [(e.get("payload") or {}).get("type") for e in events]
    checks.check("pre_compact" in types and "post_compact" in types, "the auto compaction is recorded (pre_compact, post_compact)", str(types))
    sources = [((e.get("payload") or {}).get("input") or {}).get("source") for e in events if (e.get("payload") or {}).get("type") == "session_start"]
    checks.check("compact" in sources and "startup" in sources, "SessionStart sources startup, resume, compact recorded", str(sources))


def check_transcript(checks, sandbox, deliveries, events, thread, mock, version):
    """The rollout: what issue 12 reads. Checked against the mock's own figures."""
    sessions = sandbox.home / ".codex" / "sessions"
    rollouts = sorted(sessions.rglob("rollout-*.jsonl"))
    main = [p for p in rollouts if p.name.endswith(f"{thread}.jsonl")]
    checks.eq(len(main), 1, "one rollout file for the thread")
    if not main:
        return
    lines = [x for p in rollouts for x in rollout_lines(p)]
    metas = [x["payload"] for x in lines if x.get("type") == "session_meta"]
    checks.check(metas and all(m.get("cli_version") == version for m in metas), "rollout session_meta.cli_version", str([m.get("cli_version") for m in metas]))
    models = {x["payload"].get("model") for x in lines if x.get("type") == "turn_context"}
    checks.eq(models, {mock_api.MODEL}, "rollout turn_context.model")
    records = {}
    for x in lines:
        if x.get("type") == "token_usage_record":
            records.setdefault(x["payload"]["response_id"], []).append(x["payload"]["usage"])
    # Every served response, the reviewer's too: Codex writes a rollout per thread (the subagent's
    # is named by SubagentStop.agent_transcript_path; the reviewer's by no hook at all).
    served = {s["response_id"]: s for s in mock.served if s["status"] == 200}
    sub_paths = {(d.payload or {}).get("agent_transcript_path") for d in deliveries if d.label == "SubagentStop"}
    sub_rollouts = {str(p) for p in rollouts if any(m.get("thread_source") == "subagent" for m in
                    [x["payload"] for x in rollout_lines(p) if x.get("type") == "session_meta"])}
    checks.eq(sub_paths, sub_rollouts, "SubagentStop.agent_transcript_path names the subagent's rollout")
    for rid, s in served.items():
        u = s["usage"]
        want = {"input_tokens": u["input_tokens"], "cached_input_tokens": u["input_tokens_details"]["cached_tokens"],
                "cache_write_input_tokens": u["input_tokens_details"]["cache_write_tokens"], "output_tokens": u["output_tokens"],
                "reasoning_output_tokens": u["output_tokens_details"]["reasoning_tokens"], "total_tokens": u["total_tokens"]}
        got = records.get(rid, [])
        checks.eq(got, [want], f"rollout token_usage_record {rid}: the served usage, once")
    # Issue 12: one Cost event per served response, figures split as SPEC §11 says; by thread kind,
    # since each is found another way (the parent's rollout is transcript_path, the subagent's is
    # SubagentStop.agent_transcript_path, the reviewer's is named by no hook: kaizen-hook finds it
    # beside the parent's, by the session id in its session_meta).
    costs = {}
    for e in events:
        if e["kind"] == "Cost":
            costs.setdefault((e.get("payload") or {}).get("response_id"), []).append(e)
    prices = json.loads((common.ROOT / "src" / "cost" / "prices.json").read_text())
    for kind, prefixes in (("the session's", ("main.", "resume.", "compact.", "int.")), ("the subagent's", ("sub.",)),
                           ("the automatic reviewer's", ("guardian.",))):
        wrong = []
        for rid, s in served.items():
            if not s["step"].startswith(prefixes):
                continue
            want = dict(mock_api.expected_usage(s["step"]), source="Tail", cost_usd_e6=expected_cost(prices, s["step"]))
            got = costs.get(rid, [])
            e = got[0] if len(got) == 1 else {}
            p = e.get("payload") or {}
            if len(got) != 1 or any(e.get(k) != v for k, v in want.items()) or p.get("model") != mock_api.MODEL \
                    or p.get("price_revision") != prices["_revision"] or p.get("correction"):
                wrong.append(f"{s['step']}: want {want}, recorded {[(g.get('tokens_in'), g.get('cache_read_tokens'), g.get('cache_creation_tokens'), g.get('tokens_out'), g.get('reasoning_tokens'), g.get('cost_usd_e6'), (g.get('payload') or {}).get('model')) for g in got]}")
        checks.eq(wrong, [], f"one Cost event per response of {kind} rollout: the served tokens, cache, reasoning, model and price")
    checks.eq(sorted(costs), sorted(served), "a Cost event for every served response and none other (token_count and compacted lines count nothing)")
    prompts = {(d.payload or {}).get("turn_id") for d in deliveries if d.label == "UserPromptSubmit"}
    turns = {(e.get("payload") or {}).get("turn") for got in costs.values() for e in got}
    checks.check(turns <= prompts and len(turns) == 3, "each Cost event names the user's turn it belongs to (runs 1, 2, 4; the subagent's and reviewer's too)",
                 f"turns {sorted(map(str, turns))}, prompts {sorted(map(str, prompts))}")
    checks.eq(sorted(e["seq"] for e in events), list(range(len(events))), "events: seq 0..n-1 without gaps, Cost events included")
    # PostModelRequest (a hook, not registered by kaizen-hook yet) carries the same figures per response_id.
    hooked = {}
    for d in deliveries:
        p = d.payload or {}
        if d.label == "PostModelRequest" and p.get("response_id"):
            hooked.setdefault(p["response_id"], []).append(p.get("token_usage"))
    for rid, s in served.items():
        if s["step"].startswith("guardian."):
            continue  # the reviewer's thread runs no hooks
        u = s["usage"]
        want = {"input_tokens": u["input_tokens"], "cached_input_tokens": u["input_tokens_details"]["cached_tokens"],
                "cache_write_input_tokens": u["input_tokens_details"]["cache_write_tokens"], "output_tokens": u["output_tokens"],
                "reasoning_output_tokens": u["output_tokens_details"]["reasoning_tokens"], "total_tokens": u["total_tokens"]}
        checks.eq(hooked.get(rid), [want], f"PostModelRequest token_usage of {rid}")
    failed = [d.payload for d in deliveries if d.label == "PostModelRequest" and (d.payload or {}).get("status") == "failed"]
    checks.eq(len(failed), 1, "one PostModelRequest with status failed (run 3's model error)")
    # The exit codes Codex does not put in PostToolUse are in the rollout (item_completed CommandExecution).
    exit_codes = {}
    for x in lines:
        p = x.get("payload") or {}
        item = p.get("item") or {}
        if x.get("type") == "event_msg" and p.get("type") == "item_completed" and item.get("type") == "CommandExecution":
            exit_codes[item.get("id")] = item.get("exit_code")
    checks.eq({c: exit_codes.get(c) for c in ("call_kz_shell_ok", "call_kz_shell_fail", "call_kz_read_missing")},
              {"call_kz_shell_ok": 0, "call_kz_shell_fail": 2, "call_kz_read_missing": 1},
              "rollout item_completed exit codes of the shell calls")


def expected_cost(prices: dict, step: str) -> int:
    """The price of a served response in micro-USD, from the snapshot's standard rates (every scripted
    prompt is far below the long-context threshold): rates in pico-USD per token, rounded half up."""
    rates = prices[mock_api.MODEL]
    pico = lambda key, fallback=None: round(rates.get(key, rates.get(fallback, 0)) * 1e12)  # noqa: E731
    u = mock_api.expected_usage(step)
    total = (u["tokens_in"] * pico("input_cost_per_token") + u["tokens_out"] * pico("output_cost_per_token")
             + u["cache_read_tokens"] * pico("cache_read_input_token_cost", "input_cost_per_token")
             + u["cache_creation_tokens"] * pico("cache_creation_input_token_cost", "input_cost_per_token"))
    return (total + 500_000) // 1_000_000


def check_commands(checks, sandbox, deliveries, events, thread):
    doctor = sandbox.kaizen("doctor")
    text = doctor.stdout + doctor.stderr
    checks.eq(doctor.returncode, 0, "doctor exit code once hooks are trusted and recording")
    checks.check("codex" in text and "registered" in text, "doctor reports the codex registration", text[-600:])
    out = sandbox.kaizen("sessions", "--json")
    try:
        listed = json.loads(out.stdout)
    except ValueError:
        listed = None
    checks.check(isinstance(listed, list), "sessions --json is a JSON list", out.stdout[:300] + out.stderr[:300])
    mine = [s for s in listed or [] if s.get("id") == thread]
    checks.eq(len(mine), 1, "sessions --json lists the Codex session once")
    if mine:
        s = mine[0]
        checks.eq(s.get("agent"), "codex", "sessions agent")
        checks.eq(s.get("events"), len([e for e in events if e["session_id"] == thread]), "sessions event count")
        checks.eq(s.get("tool_calls"), len({(d.payload or {}).get("tool_use_id") for d in deliveries if d.label == "PreToolUse"}), "sessions tool_calls")
        checks.eq(s.get("status"), "Done", "sessions shows the Codex session Done (issue 11 item 3)")
        checks.eq(s.get("errors"), CALL_ERRORS, "sessions counts the errors of the failed calls")
    show = sandbox.kaizen("show", thread, "--json")
    try:
        shown = json.loads(show.stdout)
    except ValueError:
        shown = None
    checks.check(show.returncode == 0 and isinstance(shown, dict), "show --json works", show.stderr[:300])
    if isinstance(shown, dict):
        checks.eq((shown.get("session") or {}).get("id"), thread, "show session id")
        checks.eq(shown.get("events"), len([e for e in events if e["session_id"] == thread]), "show event count")
        checks.eq(shown.get("skipped_lines"), 0, "show skipped no line")
        timeline = shown.get("timeline") or []
        empty = [f"{t.get('seq')}:{t.get('type')}" for t in timeline if not (t.get("summary") or "").strip()]
        checks.eq(empty, [], "every show timeline entry has a one-line summary (issue 11 item 12)")
    human = sandbox.kaizen("show", thread)
    checks.check(human.returncode == 0 and "codex" in human.stdout, "show (human) works", human.stderr[:300])

    # uninstall: kaizen-hook's handlers and their trust go; the capture handlers' trust follows them to
    # their new positions (Codex keys trust by position), so Codex would still run them.
    hooks_json, config_path = sandbox.home / ".codex" / "hooks.json", sandbox.home / ".codex" / "config.toml"
    un = sandbox.kaizen("uninstall", "--agent", AGENT)
    left = trust_entries(hooks_json)
    state = hook_state(config_path)
    checks.check(un.returncode == 0 and left and not any(common.is_ours(cmd) for _, cmd in left.values()),
                 "uninstall removes kaizen-hook's handlers and keeps the capture's", un.stdout[-300:])
    checks.eq({k: v.get("trusted_hash") for k, v in state.items()}, {k: v[0] for k, v in left.items()},
              "after uninstall, config.toml trusts exactly the handlers left, at their new positions")


def fixtures(checks, sandbox, deliveries):
    """Real payloads, paths redacted: one per event (the parent's), plus the variants that matter."""
    picks = {}

    def pick(name, pred, raw=lambda d: d.raw.decode()):
        d = next((d for d in deliveries if pred(d)), None)
        if d is not None:
            picks.setdefault(name, raw(d))

    def payload(d):
        return d.payload or {}

    for label in sorted({d.label for d in deliveries} - {"notify"}):
        pick(label, lambda d, label=label: d.label == label and "agent_id" not in payload(d))
        pick(label, lambda d, label=label: d.label == label)
    pick("SessionStart-resume", lambda d: d.label == "SessionStart" and payload(d).get("source") == "resume")
    pick("SessionStart-compact", lambda d: d.label == "SessionStart" and payload(d).get("source") == "compact")
    pick("PreToolUse-subagent", lambda d: d.label == "PreToolUse" and "agent_id" in payload(d))
    pick("PostToolUse-failed-exit-2", lambda d: d.label == "PostToolUse" and payload(d).get("tool_use_id") == "call_kz_shell_fail")
    pick("PostToolUse-apply_patch", lambda d: d.label == "PostToolUse" and payload(d).get("tool_use_id") == "call_kz_write")
    pick("PostModelRequest-failed", lambda d: d.label == "PostModelRequest" and payload(d).get("status") == "failed")
    pick("PostModelRequest-compaction", lambda d: d.label == "PostModelRequest" and payload(d).get("kind") != "sampling")
    # notify: the JSON is the last argv element (stdin is /dev/null)
    argv = lambda d: d.args[-1] if d.args else "{}"  # noqa: E731
    notify_thread = lambda d: json.loads(argv(d)).get("thread-id")  # noqa: E731
    session = next((payload(d).get("session_id") for d in deliveries if payload(d).get("session_id")), None)
    pick("notify-agent-turn-complete", lambda d: d.label == "notify" and notify_thread(d) == session, argv)
    pick("notify-agent-turn-complete-subagent", lambda d: d.label == "notify" and notify_thread(d) != session, argv)

    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, raw in picks.items():
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
            (FIXTURES / f"{name}.json").write_text(redact(text, sandbox) + "\n")
        print(f"  wrote {len(picks)} fixtures to {FIXTURES}")
    for name, raw in picks.items():
        path = FIXTURES / f"{name}.json"
        if not path.is_file():
            checks.check(False, f"fixture {path.name} exists", "run with KAIZEN_E2E_UPDATE_FIXTURES=1")
            continue
        checks.eq(sorted(json.loads(raw)), sorted(json.loads(path.read_text())), f"fixture {path.name} has the fields Codex sends")
