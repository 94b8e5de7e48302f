"""The part of the Phoenix check that runs inside a network namespace with only
loopback (e2e/agents/phoenix.py starts it under `unshare --net`): brings up
`lo`, starts Phoenix, exports the kaizen home's traces to it, reads every span
back through Phoenix's REST API, and optionally screenshots one turn.

Usage: phoenix_inside.py KAIZEN_BIN KAIZEN_HOME WORK_DIR RESULT_JSON [SCREENSHOT]
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

kaizen, home, work, result = (Path(a) for a in sys.argv[1:5])
screenshot = sys.argv[5] if len(sys.argv) > 5 else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
port, grpc = free_port(), free_port()
env = dict(os.environ, PHOENIX_WORKING_DIR=str(work / "phoenix"), PHOENIX_PORT=str(port),
           PHOENIX_GRPC_PORT=str(grpc), PHOENIX_HOST="127.0.0.1", PHOENIX_TELEMETRY_ENABLED="false")
log = open(work / "phoenix.log", "w")
phoenix = subprocess.Popen([str(Path(sys.executable).parent / "phoenix"), "serve"], env=env, stdout=log, stderr=log)
try:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            get(f"{base}/v1/projects")
            break
        except OSError:
            if time.monotonic() > deadline or phoenix.poll() is not None:
                sys.exit(f"Phoenix did not start: {(work / 'phoenix.log').read_text()[-2000:]}")
            time.sleep(0.5)
    export = subprocess.run([str(kaizen), "export", "--endpoint", base, "--signals", "traces"],
                            env=dict(os.environ, KAIZEN_HOME=str(home)), capture_output=True, text=True, timeout=120)
    if export.returncode != 0:
        sys.exit(f"export failed: {export.stderr}")
    said = re.search(r"exported (\d+) turns \((\d+) spans\)", export.stdout)
    turns, sent = (int(said.group(1)), int(said.group(2))) if said else (0, 0)
    # Phoenix writes spans in the background: wait until all of them are there.
    spans = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        spans, cursor = [], None
        while True:
            page = get(f"{base}/v1/projects/default/spans?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            spans += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if len(spans) >= sent:
            break
        time.sleep(1)
    if screenshot and shutil.which("chromium"):
        roots = [s for s in spans if not s["parent_id"] and s["name"] == "invoke_agent claude"]
        widest = max(roots, key=lambda r: sum(s["context"]["trace_id"] == r["context"]["trace_id"] for s in spans))
        project = get(f"{base}/v1/projects")["data"][0]["id"]
        url = f"{base}/projects/{project}/traces/{widest['context']['trace_id']}"
        subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={work / 'chromium'}", "--window-size=1400,900",
                        "--virtual-time-budget=15000", f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=120, env=dict(os.environ, HOME=str(work)))
    result.write_text(json.dumps({"export": export.stdout, "sent_turns": turns, "sent_spans": sent, "spans": spans}))
finally:
    phoenix.terminate()
    try:
        phoenix.wait(timeout=30)
    except subprocess.TimeoutExpired:
        phoenix.kill()
