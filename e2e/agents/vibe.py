"""Mistral Vibe (PyPI `mistral-vibe`), the real CLI, headless (`vibe -p`), against the
scripted OpenAI Chat Completions mock on 127.0.0.1.

Install: Vibe needs Python >= 3.12 (the first found of $KAIZEN_E2E_PYTHON, `python3.13`,
`python3.12` on PATH, `~/.pyenv/versions/3.1x/bin/python3`; without one, as on Debian 12 (CI,
3.11), CPython 3.13 built once from Debian trixie's source tarball, its URL and sha256 pinned
in versions.json, into `target/e2e/python-<version>`: about 3 minutes on 2 cores). Its wheel pins
`certifi==2026.10.19`, which does not resolve: its dependencies are installed from its
metadata with that pin relaxed, then the wheel with --no-deps, into a venv under
`target/e2e/pip/vibe-<version>`.

`~/.vibe/config.toml` names a `generic` (OpenAI-compatible) provider whose `api_base` is
the mock, a model aliased `kz`, telemetry and update checks off; `kaizen-hook install
--agent vibe` writes `~/.vibe/hooks.toml` (pre_tool, post_tool, post_agent), and a capture
entry is added beside each of ours.

  run one  `vibe -p "[kz:vibe] ..." --auto-approve`: bash that succeeds, bash that exits 2
           (Vibe calls it a success: returncode 2), write_file, read_file of a missing
           file (tool_status failure), a final answer.

No session start or end is sent: the session starts at its first event and ends with the
process that ran the hooks (inferred end). The run is traced with strace: only loopback.
KAIZEN_E2E_UPDATE_FIXTURES=1 rewrites tests/fixtures/real/vibe/.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import common
from agents.codex import foreign_connects, strace_prefix, strace_works
from mock import openai_chat

AGENT = "vibe"
MODEL = "devstral-kz-mock"
FIXTURES = common.ROOT / "tests" / "fixtures" / "real" / AGENT

USAGE = {
    "vibe.1.bash_ok": openai_chat._usage(8101, 3001, 0, 81, 0),
    "vibe.2.bash_fail": openai_chat._usage(8202, 3002, 0, 82, 0),
    "vibe.3.write": openai_chat._usage(8303, 3003, 0, 83, 0),
    "vibe.4.read_missing": openai_chat._usage(8404, 3004, 0, 84, 0),
    "vibe.5.final": openai_chat._usage(8505, 3005, 0, 85, 0),
}


def script(work: Path) -> dict:
    w = str(work)
    tool = openai_chat._tool
    return {
        "vibe": [
            ("vibe.1.bash_ok", None, [tool("call_kz_bash_ok", "bash", {"command": "echo kaizen-e2e-ok"})]),
            ("vibe.2.bash_fail", "Now a command that fails.", [tool("call_kz_bash_fail", "bash", {"command": "echo about-to-fail >&2; exit 2"})]),
            ("vibe.3.write", None, [tool("call_kz_write", "write_file", {"path": f"{w}/hello.txt", "content": "hello from the e2e suite\n"})]),
            ("vibe.4.read_missing", None, [tool("call_kz_read_missing", "read_file", {"path": f"{w}/does-not-exist.txt"})]),
            ("vibe.5.final", "All steps done.", []),
        ],
    }


CONFIG = """active_model = "kz"
enable_telemetry = false
enable_update_checks = false
enable_notifications = false

[[providers]]
name = "kzmock"
api_base = "{url}/v1"
api_key_env_var = "KZ_API_KEY"
backend = "generic"

[[models]]
name = "{model}"
provider = "kzmock"
alias = "kz"
"""


def local_python312():
    """A Python >= 3.12 on this machine, or None."""
    candidates = [os.environ.get("KAIZEN_E2E_PYTHON"), shutil.which("python3.13"), shutil.which("python3.12")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")), reverse=True)
    for python in filter(None, candidates):
        try:
            ok = subprocess.run([python, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if ok.returncode == 0:
            return python
    return None


def python312() -> str:
    return local_python312() or built_python()


# What Vibe and pip need from the standard library: a build without a -dev package leaves its
# module out silently (ssl: libssl-dev, ctypes: libffi-dev, zlib, bz2, lzma).
NEEDED_MODULES = ["ssl", "ctypes", "zlib", "bz2", "lzma", "hashlib", "decimal"]


def built_python() -> str:
    """CPython built from Debian's pristine source tarball (pinned in versions.json), under target/e2e/:
    Debian 12 (CI) has 3.11, and CI reaches Debian's archive but not python.org or GitHub."""
    pin = common.versions()["vibe-python"]
    prefix = common.cache_dir() / f"python-{pin['version']}"
    python = prefix / "bin" / "python3"
    stamp = prefix / "built"
    if stamp.is_file() and stamp.read_text().strip() == pin["sha256"]:
        return str(python)
    build = common.cache_dir() / f"python-{pin['version']}-build"
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    tarball = build / "src.tar.xz"
    try:
        with urllib.request.urlopen(pin["url"], timeout=300) as response:
            tarball.write_bytes(response.read())
    except OSError as e:
        raise common.NpmUnreachable(f"no Python >= 3.12 for Mistral Vibe, and {pin['url']} could not be fetched: {e}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != pin["sha256"]:
        raise RuntimeError(f"{pin['url']}: sha256 {digest}, pinned {pin['sha256']}")
    started = time.monotonic()
    log = build / "build.log"
    # No PGO or LTO: a fast build for a test run. No test suite and no pip in the prefix: the venv brings its own.
    steps = [["tar", "-xJf", tarball, "--strip-components=1"],
             ["./configure", f"--prefix={prefix}", "--disable-test-modules", "--without-ensurepip"],
             ["make", f"-j{os.cpu_count() or 1}"], ["make", "install"]]
    with log.open("w") as out:
        for step in steps:
            if subprocess.run(step, cwd=build, stdout=out, stderr=subprocess.STDOUT, timeout=1800).returncode != 0:
                raise RuntimeError(f"building CPython {pin['version']}: {step} failed; {log}:\n{log.read_text()[-3000:]}")
    missing = [m for m in NEEDED_MODULES if subprocess.run([python, "-c", f"import {m}"], capture_output=True).returncode != 0]
    if missing:
        raise RuntimeError(f"CPython {pin['version']} built without {', '.join(missing)}: install the Debian build dependencies "
                           f".ci/run lists (libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev); the next run builds it again")
    stamp.write_text(pin["sha256"] + "\n")
    shutil.rmtree(build)
    print(f"vibe: built CPython {pin['version']} from Debian's source in {time.monotonic() - started:.0f} s")
    return str(python)


def pip_install() -> Path:
    """The pinned Vibe in its own venv: its dependencies with the certifi pin relaxed, then the wheel."""
    pin = common.versions()[AGENT]
    venv = common.cache_dir() / "pip" / f"vibe-{pin['version']}"
    stamp = venv / "installed"
    if stamp.is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python312(), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    wheels = venv / "wheel"
    spec = f"{pin['package']}=={pin['version']}"
    steps = [
        [str(venv / "bin" / "python"), "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), spec],
    ]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise common.NpmUnreachable(f"pip download {spec} failed: {out.stderr.strip()[-2000:]}")
    wheel = next(wheels.glob("*.whl"))
    metadata = subprocess.run(["unzip", "-p", str(wheel), f"mistral_vibe-{pin['version']}.dist-info/METADATA"],
                              capture_output=True, text=True, check=True).stdout
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    requires = ["certifi" if r.startswith("certifi==") else r for r in requires]
    (venv / "requirements.txt").write_text("\n".join(requires) + "\n")
    for step in (pip + ["-r", str(venv / "requirements.txt")], pip + ["--no-deps", str(wheel)]):
        out = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise common.NpmUnreachable(f"pip install for {spec} failed: {out.stderr.strip()[-2000:]}")
    stamp.write_text(pin["version"] + "\n")
    return venv


def run(checks):
    venv = pip_install()
    version = common.versions()[AGENT]["version"]
    sandbox = common.Sandbox(AGENT)
    started = time.monotonic()
    try:
        scenario(checks, sandbox, venv, version)
    finally:
        sandbox.end_processes()
        print(f"vibe: sandbox {sandbox.tmp} ({time.monotonic() - started:.0f} s)")
        sandbox.cleanup()


def scenario(checks, sb, venv, version):
    vibe_dir = sb.home / ".vibe"
    vibe_dir.mkdir(parents=True)
    hooks = vibe_dir / "hooks.toml"
    mock = openai_chat.OpenAIChatMock(sb.work, model_override=MODEL, scripted=script(sb.work), usage=USAGE)
    traced = strace_works()
    with common.MockServer(mock) as server:
        (vibe_dir / "config.toml").write_text(CONFIG.format(url=server.url, model=MODEL))
        sb.install(AGENT)
        add_capture(sb, hooks)
        env = sb.env(PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}", KZ_API_KEY="kz-e2e-dummy")
        argv = [*strace_prefix(sb, "run1", traced), venv / "bin" / "vibe", "-p", "[kz:vibe] Run the scripted steps.", "--auto-approve"]
        one = sb.run(argv, "run1", timeout=240, env=env)
        checks.eq(one.returncode, 0, f"vibe run one exits 0 ({one.stderr.decode()[-400:]})")
    checks.eq([u for u in mock.unknown if u[0] != "unscripted"], [], "the mock understood every request")
    served = [s["step"] for s in mock.served]
    for step in USAGE:
        checks.check(step in served, f"the agent went through scripted step {step}", f"served {served}")
    if traced:
        logs = list(sb.logs.glob("*.strace"))
        checks.eq(sum(f"htons({server.port})" in log.read_text(errors="replace") for log in logs), len(logs),
                  "strace saw the run connect to the mock")
        checks.eq(foreign_connects(sb), [], "Vibe connects to nothing but loopback")
    else:
        print("  (strace unavailable: the loopback-only check is skipped)")
    deliveries = [d for d in sb.deliveries() if d.payload]
    if os.environ.get("KAIZEN_E2E_UPDATE_FIXTURES"):
        save_fixtures(sb, deliveries)
    session_id = deliveries[0].payload.get("session_id") if deliveries else None
    check_deliveries(checks, common.match(deliveries, sb.events()))
    check_commands(checks, sb, session_id, hooks)
    check_costs(checks, mock, [e for e in sb.events() if e["session_id"] == session_id])
    check_record(checks, sb, session_id, version)
    out = sb.kaizen("uninstall", "--agent", AGENT)
    text = hooks.read_text()
    checks.check(out.returncode == 0 and "--agent vibe" not in text and text.count("capture.sh") == 3,
                 "uninstall removes exactly kaizen-hook's entries", out.stdout + text[-400:])


def add_capture(sb, hooks):
    text = hooks.read_text()
    extra = "".join(f'\n[[hooks]]\nname = "capture-{e}"\ntype = "{e}"\ncommand = "{sb.capture_command(e)}"\ntimeout = 5\n'
                    for e in ("pre_tool", "post_tool", "post_agent") if f'type = "{e}"' in text)
    hooks.write_text(text + extra)


def name(d):
    return d.payload.get("hook_event_name")


def check_deliveries(checks, pairs):
    checks.check(len(pairs) >= 9, f"Vibe delivered the scenario's hooks ({len(pairs)})")
    for d, es in pairs:
        checks.eq(len(es), 1, f"delivery {name(d)} {d.payload.get('tool_call_id') or ''} recorded once")
        checks.eq({e["payload"].get("agent") for e in es}, {AGENT}, f"delivery {name(d)} recorded as Vibe's")
    for d, es in pairs:
        if name(d) in ("pre_tool", "post_tool"):
            checks.eq({(e.get("tool"), e.get("tool_call_id")) for e in es}, {(d.payload["tool_name"], d.payload["tool_call_id"])},
                      f"{name(d)} {d.payload['tool_call_id']}: tool and call id")
    results = {d.payload["tool_call_id"]: [e["kind"] for e in es] for d, es in pairs if name(d) == "post_tool"}
    checks.eq(results, {"call_kz_bash_ok": ["ToolResult"], "call_kz_bash_fail": ["Error"], "call_kz_write": ["ToolResult"],
                        "call_kz_read_missing": ["Error"]}, "post_tool: exit 2 and the missing file are errors, the rest results")
    checks.eq([e["kind"] for d, es in pairs if name(d) == "pre_tool" for e in es], ["ToolCall"] * 4, "pre_tool -> ToolCall")
    ends = [e["payload"].get("phase") for d, es in pairs if name(d) == "post_agent" for e in es]
    checks.eq(ends, ["turn_end"], "post_agent -> a turn end")


def check_commands(checks, sb, session_id, hooks):
    doctor = sb.kaizen("doctor")
    checks.eq(doctor.returncode, 0, "doctor exit status")
    checks.check(str(hooks) in doctor.stdout and "PROBLEM" not in doctor.stdout, "doctor lists Vibe's hooks.toml with no problem",
                 doctor.stdout[-800:])
    rows = sb.session_rows(session_id)
    if not checks.eq(len(rows), 1, "sessions --json lists the session once"):
        return
    checks.eq(rows[0].get("status"), "Done", "sessions: the session ended with the vibe process (inferred end)")
    checks.eq(rows[0].get("errors"), 2, "sessions: errors = 2 (exit 2, missing file)")
    checks.eq(sb.kaizen("show", session_id, "--json").returncode, 0, "show --json exits 0")


def check_costs(checks, mock, events):
    served = sorted((s["usage"]["prompt_tokens"] - s["usage"]["cached_tokens"], s["usage"]["cached_tokens"], s["usage"]["completion_tokens"])
                    for s in mock.served if s["status"] == 200)
    costs = sorted((e["tokens_in"], e["cache_read_tokens"], e["tokens_out"]) for e in events if e["kind"] == "Cost")
    checks.eq(costs, served, "one Cost event per model response, with the input, cached and output tokens served")
    checks.eq({(e["payload"] or {}).get("model") for e in events if e["kind"] == "Cost"}, {MODEL}, "Cost events name the configured model")


def check_record(checks, sb, session_id, version):
    rec = sb.records().get(session_id)
    if not checks.check(rec is not None, "a SessionRecord for the Vibe session"):
        return
    checks.eq(rec["agent"], AGENT, "record: agent")
    checks.eq(rec.get("model"), MODEL, "record: model, from Vibe's config")
    checks.eq(rec.get("agent_version"), version, "record: agent_version, from the installed package")


def save_fixtures(sb, deliveries):
    chosen = {}
    for d in deliveries:
        key = name(d)
        if key == "post_tool" and d.payload.get("tool_status") != "success":
            key += "-failure"
        elif key == "post_tool" and (d.payload.get("tool_output") or {}).get("returncode"):
            key += "-exit2"
        chosen.setdefault(key, d)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    replace = [(str(sb.home), "/home/user"), (str(sb.work), "/work/project"), (str(sb.tmp), "/tmp/e2e")]
    for key, d in chosen.items():
        text = d.raw.decode()
        for old, new in replace:
            text = text.replace(old, new)
        (FIXTURES / f"{key}.json").write_text(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")
