"""Shared pieces of the end-to-end suite on the real agents.

Each agent module in `e2e/agents/` installs its CLI from npm (pinned in
`versions.json`), starts a scripted mock model server on 127.0.0.1, runs the
agent headless in a temporary HOME where kaizen-hook was registered by its own
installer, and compares what kaizen-hook recorded with what the agent
delivered (a second hook, `capture.sh`, saves every raw delivery).
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "e2e"
CAPTURE = E2E / "capture.sh"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve()


def cache_dir() -> Path:
    return target_dir() / "e2e"


class NpmUnreachable(Exception):
    """npm could not install a pinned agent: the suite cannot run."""


def versions() -> dict:
    return json.loads((E2E / "versions.json").read_text())


def npm_install(agent: str) -> Path:
    """Installs the agent's pinned package into the build dir's cache; returns its prefix."""
    pin = versions()[agent]
    prefix = cache_dir() / "npm" / f"{agent}-{pin['version']}"
    installed = prefix / "node_modules" / pin["package"] / "package.json"
    if installed.is_file() and json.loads(installed.read_text()).get("version") == pin["version"]:
        return prefix
    prefix.mkdir(parents=True, exist_ok=True)
    spec = f"{pin['package']}@{pin['version']}"
    out = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", spec],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0 or not installed.is_file():
        raise NpmUnreachable(f"npm install {spec} failed: {out.stderr.strip()[-2000:]}")
    return prefix


def kaizen_bin() -> Path:
    """The binary under test: $KAIZEN_E2E_BIN, else the release build (built if missing)."""
    given = os.environ.get("KAIZEN_E2E_BIN")
    if given:
        return Path(given).resolve()
    binary = target_dir() / "release" / "kaizen-hook"
    if not binary.is_file():
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    return binary


def program_of(command: str) -> str:
    """The program a hook command runs: its first word, unquoted as `sh` would
    (the installer's `program_of`, src/install/mod.rs); "" when it has none."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        return ""
    return words[0] if words else ""


def is_ours(command: str) -> bool:
    """A hook command that runs a `kaizen-hook` binary: the program's file name is
    exactly `kaizen-hook`, as the installer's `is_ours` decides. Not a substring: the
    capture handlers (`sh .../kaizen-hook/e2e/capture.sh ...`) may hold one in their path."""
    return Path(program_of(command)).name == "kaizen-hook"


# The line every hook file kaizen-hook's installer writes holds (Cline's hook
# scripts, OpenCode's plugin): src/install/files.rs MARKER, what install and
# uninstall recognise ours by.
MARKER = "Written by `kaizen-hook install"


def fnv1a64(data: bytes) -> str:
    """kaizen-hook's delivery identity (`payload.input_hash`): FNV-1a 64 of the raw bytes."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass
class Delivery:
    """One hook delivery as the agent made it, saved by capture.sh."""

    ts_ns: int
    pid: int
    label: str
    raw: bytes
    args: list
    ppid: int
    env: dict

    @property
    def payload(self):
        try:
            value = json.loads(self.raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def hash(self) -> str:
        return fnv1a64(self.raw)


class Sandbox:
    """A temporary HOME with a git work tree, kaizen-hook's home inside it."""

    def __init__(self, name: str):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"kaizen-e2e-{name}-"))
        self.home = self.tmp / "home"
        self.kaizen_home = self.home / ".kaizen"
        self.capture_dir = self.tmp / "capture"
        self.work = self.tmp / "work"
        self.logs = self.tmp / "logs"
        for d in (self.home, self.capture_dir, self.work, self.logs):
            d.mkdir(parents=True)
        self.bin = kaizen_bin()
        git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.com"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=self.work, check=True)
        (self.work / "README.md").write_text("# e2e\nA work tree for the end-to-end suite.\n")
        (self.work / "notes.txt").write_text("alpha\nbeta\ngamma\n")
        subprocess.run(["git", "add", "."], cwd=self.work, check=True)
        subprocess.run(git + ["commit", "-qm", "init"], cwd=self.work, check=True)

    def env(self, **extra) -> dict:
        """A clean environment: this HOME, no proxies, nothing of the caller's kaizen settings."""
        keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "LOGNAME", "SHELL")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(HOME=str(self.home), NO_COLOR="1", CI="true")
        env.setdefault("TERM", "dumb")
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, argv, name: str, timeout: float = 120, env=None, cwd=None, stdin=None):
        """Runs a command, keeping its output in logs/<name>.out|.err."""
        out = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd or self.work,
            env=env or self.env(),
            input=stdin,
            capture_output=True,
            timeout=timeout,
        )
        (self.logs / f"{name}.out").write_bytes(out.stdout)
        (self.logs / f"{name}.err").write_bytes(out.stderr)
        return out

    def kaizen(self, *args, env=None):
        return subprocess.run(
            [str(self.bin), *map(str, args)], cwd=self.work, env=env or self.env(), capture_output=True, text=True
        )

    def install(self, agent: str, *extra):
        """`kaizen-hook install --agent <agent>`: the installer is under test too."""
        out = self.kaizen("install", "--agent", agent, *extra)
        if out.returncode != 0:
            raise AssertionError(f"kaizen-hook install --agent {agent} failed:\n{out.stdout}{out.stderr}")
        return out

    def capture_command(self, label: str) -> str:
        return f"sh {CAPTURE} {self.capture_dir} {label}"

    def add_capture_nested(self, config: Path):
        """Beside every kaizen-hook handler of a Claude-style config, a capture handler."""
        settings = json.loads(config.read_text())
        for event, groups in settings.get("hooks", {}).items():
            for group in groups:
                handlers = group.get("hooks", [])
                ours = [h for h in handlers if is_ours(h.get("command", ""))]
                for h in ours:
                    capture = dict(h)
                    capture["command"] = self.capture_command(event)
                    handlers.append(capture)
        config.write_text(json.dumps(settings, indent=2) + "\n")

    def deliveries(self) -> list:
        found = []
        for stdin in self.capture_dir.glob("*.stdin"):
            ts, pid = stdin.stem.split("-")
            meta = stdin.with_suffix(".meta")
            lines = meta.read_text().splitlines() if meta.exists() else []
            fields = {"label": "", "ppid": "0"}
            args, env = [], {}
            for line in lines:
                key, _, value = line.partition("=")
                if key == "arg":
                    args.append(value)
                elif key == "env":
                    k, _, v = value.partition("=")
                    env[k] = v
                else:
                    fields[key] = value
            found.append(
                Delivery(int(ts), int(pid), fields["label"], stdin.read_bytes(), args, int(fields["ppid"] or 0), env)
            )
        return sorted(found, key=lambda d: d.ts_ns)

    def events(self) -> list:
        """Every recorded event, in file order per session."""
        out = []
        sessions = self.kaizen_home / "sessions"
        for path in sorted(sessions.glob("*.jsonl")) if sessions.is_dir() else []:
            for line in path.read_text().splitlines():
                out.append(json.loads(line))
        return out

    def records(self) -> dict:
        sessions = self.kaizen_home / "sessions"
        paths = sorted(sessions.glob("*.session.json")) if sessions.is_dir() else []
        return {r["id"]: r for r in (json.loads(p.read_text()) for p in paths)}

    def session_rows(self, session_id: str) -> list:
        """The rows of `kaizen-hook sessions --json` for this session id."""
        rows = json.loads(self.kaizen("sessions", "--json").stdout or "[]")
        return [r for r in rows if r.get("id") == session_id]

    def end_processes(self):
        """End every process whose HOME is this sandbox's, by pid: daemons an
        agent leaves behind (Cline's hub) outlive its run."""
        needle = f"HOME={self.home}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGTERM)
            except OSError:
                pass

    def hook_log(self) -> str:
        log = self.kaizen_home / "logs" / "kaizen-hook.log"
        return log.read_text() if log.exists() else ""

    def cleanup(self):
        if not os.environ.get("KAIZEN_E2E_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def match(deliveries, events):
    """Pairs each delivery with the hook events recorded from its bytes (by `input_hash`)."""
    by_hash = {}
    for e in events:
        h = (e.get("payload") or {}).get("input_hash")
        if e.get("source") == "Hook" and h:
            by_hash.setdefault(h, []).append(e)
    return [(d, by_hash.get(d.hash, [])) for d in deliveries]


class Checks:
    """Collects failures with what was expected and what was found; a known gap is a strict xfail."""

    def __init__(self, agent: str):
        self.agent = agent
        self.failures = []
        self.passed = 0
        self.gaps = []

    def check(self, ok: bool, what: str, detail: str = ""):
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{what}{': ' + detail if detail else ''}")
        return ok

    def eq(self, actual, expected, what: str):
        return self.check(actual == expected, what, f"expected {expected!r}, recorded {actual!r}")

    def known_gap(self, ok: bool, what: str, why: str):
        """A discrepancy not fixed yet: it must still fail, or the gap entry must go."""
        if ok:
            self.failures.append(f"known gap now passes, remove it from the list: {what}")
        else:
            self.gaps.append(f"{what} ({why})")


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Response:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    # Server-sent events: (event name or None, JSON-able data) sent one by one.
    sse: list = None


def sse(events) -> Response:
    return Response(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, sse=list(events))


def json_response(obj, status: int = 200) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())


class MockServer:
    """A model server on 127.0.0.1: `app(Request) -> Response`, every request kept in `requests`."""

    def __init__(self, app):
        self.app = app
        self.requests = []
        self.lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with mock.lock:
                    mock.requests.append(req)
                try:
                    resp = mock.app(req)
                except Exception as e:  # a bug in a mock must show, not hang the agent
                    resp = json_response({"error": {"message": f"mock failed: {e!r}"}}, 500)
                    print(f"mock server error: {e!r}", file=sys.stderr)
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                if resp.sse is None:
                    self.send_header("Content-Length", str(len(resp.body)))
                    self.end_headers()
                    self.wfile.write(resp.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in resp.sse:
                    chunk = "" if name is None else f"event: {name}\n"
                    payload = data if isinstance(data, str) else json.dumps(data)
                    chunk += f"data: {payload}\n\n"
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(predicate, timeout: float = 10.0, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
