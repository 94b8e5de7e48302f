"""Arize Phoenix, a real trace UI, receives the traces `kaizen-hook export` sends.

Not an agent: the trace backend a team would look at. Phoenix (PyPI
`arize-phoenix`, pinned in versions.json, installed once into the build dir)
runs with its OTLP receiver on 127.0.0.1, inside a network namespace that has
only loopback (so neither Phoenix, `export` nor the browser can reach anything
else). The sessions exported are bench/seed/: real sessions of Claude Code,
Codex, Copilot CLI and Gemini CLI recorded by this suite. Phoenix's REST API
must then show every turn as a tree: one `invoke_agent` root per turn, every
parent present, ERROR exactly on the failed tool calls, a `chat` span per
model response with its token counts.

KAIZEN_E2E_SCREENSHOT=FILE also draws one turn in Phoenix's UI with headless
Chromium into FILE (scripts/phoenix-screenshot.sh).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402

AGENT = "phoenix"
SEEDS = common.ROOT / "bench" / "seed"
INSIDE = common.E2E / "phoenix_inside.py"


def install() -> Path:
    """A virtualenv with the pinned arize-phoenix; returns its python."""
    pin = common.versions()[AGENT]
    venv = common.cache_dir() / "pip" / f"phoenix-{pin['version']}"
    python = venv / "bin" / "python"
    stamp = venv / "installed"
    if stamp.is_file() and stamp.read_text() == pin["version"]:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    spec = f"{pin['package']}=={pin['version']}"
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", spec], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise common.NpmUnreachable(f"pip install {spec} failed: {out.stderr.strip()[-2000:]}")
    stamp.write_text(pin["version"])
    return python


def seed_home(box: common.Sandbox) -> dict:
    """The seed sessions in the sandbox's kaizen home, settled; what each holds."""
    sessions = box.kaizen_home / "sessions"
    sessions.mkdir(parents=True)
    expected = {}
    for agent in ("claude", "codex", "copilot", "gemini"):
        lines = [json.loads(l) for l in (SEEDS / f"{agent}.jsonl").read_text().splitlines()]
        sid = lines[0]["session_id"]
        shutil.copy(SEEDS / f"{agent}.jsonl", sessions / f"{sid}.jsonl")
        record = (SEEDS / f"{agent}.session.json").read_text().replace('"Running"', '"Done"')
        (sessions / f"{sid}.session.json").write_text(record)
        calls = {e["tool_call_id"] for e in lines if e.get("tool") and e.get("tool_call_id")}
        failed = {e["tool_call_id"] for e in lines if e["kind"] == "Error" and e.get("tool") and e.get("tool_call_id")}
        costs = sum(1 for e in lines if e["kind"] == "Cost")
        expected[sid] = {"agent": agent, "calls": calls, "failed": failed, "costs": costs}
    return expected


def run(checks: common.Checks):
    python = install()
    box = common.Sandbox(AGENT)
    try:
        expected = seed_home(box)
        result = box.tmp / "result.json"
        screenshot = os.environ.get("KAIZEN_E2E_SCREENSHOT", "")
        argv = ["unshare", "--net", "--map-root-user", str(python), str(INSIDE),
                str(box.bin), str(box.kaizen_home), str(box.tmp), str(result), screenshot]
        out = box.run(argv, "phoenix-inside", timeout=600, env=box.env(PATH=os.environ["PATH"]))
        checks.check(out.returncode == 0 and result.is_file(), "Phoenix ran and received the export",
                     out.stderr.decode(errors="replace")[-3000:])
        if not result.is_file():
            return
        got = json.loads(result.read_text())
        spans = got["spans"]
        checks.check("turns" in got["export"], "export said what it sent", got["export"])
        checks.eq(len(spans), got["sent_spans"], "Phoenix holds every span export sent")
        ids = {s["context"]["span_id"] for s in spans}
        checks.eq(len(ids), len(spans), "span ids are unique")
        orphans = [s["name"] for s in spans if s["parent_id"] and s["parent_id"] not in ids]
        checks.eq(orphans, [], "every parent is in its trace")
        roots = [s for s in spans if not s["parent_id"]]
        checks.eq(len(roots), got["sent_turns"], "one root per turn")
        for sid, want in expected.items():
            agent = want["agent"]
            mine_roots = [r for r in roots if r["attributes"].get("session.id") == sid]
            checks.check(bool(mine_roots), f"{agent}: its turns are in Phoenix")
            traces = {r["context"]["trace_id"] for r in mine_roots}
            mine = [s for s in spans if s["context"]["trace_id"] in traces]
            for r in mine_roots:
                checks.eq(r["name"], f"invoke_agent {agent}", f"{agent}: the root's name")
                checks.check(bool(r["attributes"].get("vcs.ref.head.revision")), f"{agent}: the turn's commit on its root")
            tools = [s for s in mine if s["attributes"].get("gen_ai.operation.name") == "execute_tool"]
            checks.eq({s["attributes"].get("gen_ai.tool.call.id") for s in tools}, want["calls"],
                      f"{agent}: a span per tool call")
            checks.eq({s["attributes"].get("gen_ai.tool.call.id") for s in tools if s["status_code"] == "ERROR"},
                      want["failed"], f"{agent}: ERROR exactly on the failed calls")
            chats = [s for s in mine if s["attributes"].get("gen_ai.operation.name") == "chat"]
            checks.eq(len(chats), want["costs"], f"{agent}: a chat span per model response")
            checks.check(all(s["attributes"].get("llm.token_count.prompt") is not None for s in chats),
                         f"{agent}: Phoenix reads the token counts of each response")
        if screenshot:
            checks.check(Path(screenshot).is_file(), "the screenshot of one turn was drawn", screenshot)
    finally:
        box.cleanup()
