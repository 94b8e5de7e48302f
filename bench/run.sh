#!/usr/bin/env bash
# Builds kaizen-hook and the benchmark (release) and runs it. Options go to the harness:
#   --runs N     timed runs per side for the per-event rows (default 200)
#   --files N    files in the main generated repo (default 15000)
#   --quick      fewer runs, and no 100,000-file repo
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --workspace --quiet
exec target/release/kaizen-bench "$@"
