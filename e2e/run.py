#!/usr/bin/env python3
"""The end-to-end suite on the real agents: `python3 e2e/run.py [agent ...]`.

Each module in e2e/agents/ defines `run(checks)`. When npm cannot install an
agent the suite says so loudly; in CI (CI=true) that is a failure, elsewhere a skip.
"""

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main(argv) -> int:
    available = sorted(p.stem for p in (common.E2E / "agents").glob("*.py") if not p.stem.startswith("_"))
    chosen = argv or available
    # An agent whose module sets DEFAULT_RUN = False (OpenHands: a ~620 MB
    # install) runs only when named.
    if not argv:
        chosen = [a for a in chosen if getattr(importlib.import_module(f"agents.{a}"), "DEFAULT_RUN", True)]
        left_out = sorted(set(available) - set(chosen))
        if left_out:
            print(f"not in this default run (run them by name): {', '.join(left_out)}")
    in_ci = os.environ.get("CI") == "true"
    passed = failed = 0
    table = []
    for agent in chosen:
        module = importlib.import_module(f"agents.{agent}")
        checks = common.Checks(agent)
        started = time.monotonic()
        try:
            module.run(checks)
            outcome = "ok" if not checks.failures else "FAILED"
        except common.NpmUnreachable as e:
            print(f"\n!!! {agent}: npm unreachable, the real agent could not be installed: {e}", file=sys.stderr)
            outcome = "npm unreachable"
            if in_ci:
                checks.failures.append(str(e))
        except Exception:
            checks.failures.append(traceback.format_exc())
            outcome = "FAILED"
        seconds = time.monotonic() - started
        pin = common.versions().get(agent, {})
        table.append((agent, pin.get("version", "?"), checks.passed, len(checks.failures), len(checks.gaps), seconds))
        print(f"\n== {agent} {pin.get('version', '')}: {outcome} ({checks.passed} checks passed, {seconds:.0f} s)")
        for f in checks.failures:
            print(f"  FAIL {f}")
        for g in checks.gaps:
            print(f"  known gap: {g}")
        if checks.failures:
            failed += 1
        elif outcome == "ok":
            passed += 1
    print("\nagent     version     checks  failures  known gaps  seconds")
    for agent, version, ok, bad, gaps, seconds in table:
        print(f"{agent:<9} {version:<11} {ok:>6}  {bad:>8}  {gaps:>10}  {seconds:>7.0f}")
    summary = os.environ.get("KAIZEN_E2E_SUMMARY")
    if summary:
        Path(summary).write_text(json.dumps(table))
    print(f"\ne2e: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
