#!/usr/bin/env bash
# Builds the benchmark and runs it against the kaizen-hook that install.sh
# installs (scripts/build-fastest.sh: musl static non-PIE where possible).
# The floor is built twice: an ordinary (dynamic) release build, and musl
# static non-PIE when the musl target is there. Options go to the harness:
#   --runs N     timed runs per side for the per-event rows (default 200)
#   --rounds N   rounds of each ratio row, for the spread (default 3)
#   --files N    files in the main generated repo (default 15000)
#   --quick      fewer runs, one round, no 100,000-file repo, no history past 100k events
#   --read-only  only the read side (`report` over generated histories)
set -euo pipefail
cd "$(dirname "$0")/.."

# The path of a binary cargo built (cargo knows CARGO_TARGET_DIR and config).
built() { # name cargo-args...
  local name=$1
  shift
  cargo build --release --locked --quiet "$@" --message-format=json-render-diagnostics |
    sed -n "s/.*\"executable\":\"\\([^\"]*\\/$name\\)\".*/\\1/p" | tail -n 1
}

IFS=$'\t' read -r hook kind < <(scripts/build-fastest.sh)
harness=$(built kaizen-bench -p kaizen-bench --bin kaizen-bench --bin kaizen-floor)
musl="$(uname -m)-unknown-linux-musl"
static_floor=""
if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  static_floor=$(RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static" \
    built kaizen-floor -p kaizen-bench --bin kaizen-floor --target "$musl" || true)
fi
exec "$harness" --hook "$hook" --hook-kind "$kind" --static-floor "${static_floor:-none}" "$@"
