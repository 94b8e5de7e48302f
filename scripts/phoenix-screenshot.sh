#!/usr/bin/env bash
# Draws docs/phoenix-turn.png: one turn of a real Claude Code session (bench/seed/) as
# Arize Phoenix shows it after `kaizen-hook export`. Runs the end-to-end suite's Phoenix
# check (e2e/agents/phoenix.py), which installs the pinned arize-phoenix once, and
# needs chromium, unshare and ip (everything runs in a network namespace with loopback only).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
KAIZEN_E2E_SCREENSHOT="$PWD/docs/phoenix-turn.png" python3 e2e/run.py phoenix
echo "wrote docs/phoenix-turn.png"
