#!/usr/bin/env bash
# Regenerates link/hot-functions.ld, the list of functions a hook run
# executes, which build.rs hands to the linker so they sit together at the
# start of the text. A hook run lives a millisecond and touches about 150
# pages of code: spread over 4 MB they cost ~30 page faults (each maps 64 KiB
# and costs ~6 µs in a VM); packed, about 6.
#
# Run it when the hook's path changes much (a new module on it, a renamed
# function). A stale list is only slower, never wrong: a name that no longer
# exists matches nothing. Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "hot-functions.sh needs valgrind" >&2; exit 1; }

# An unstripped build of the kind install.sh makes, in its own target dir.
IFS=$'\t' read -r bin kind < <(CARGO_PROFILE_RELEASE_STRIP=none CARGO_TARGET_DIR=target/hot-functions scripts/build-fastest.sh)
echo "profiling $bin ($kind)" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo" "$work/home" "$work/runs"
git -C "$work/repo" init -q
printf 'fn main() {}\n' > "$work/repo/main.rs"
git -C "$work/repo" add main.rs
git -C "$work/repo" -c user.email=hot@kaizen -c user.name=hot commit -qm init
export KAIZEN_HOME="$work/home" HOME="$work/home" KAIZEN_HOOK_BUDGET_MS=30000
cd "$work/repo"
n=0
for fixture in "$OLDPWD"/tests/fixtures/real/*/*.json; do
  agent=$(basename "$(dirname "$fixture")")
  n=$((n + 1))
  # Where the agents ran when they were captured: here, so git is read too.
  sed -e "s|/work/project|$work/repo|g" -e "s|/tmp/kaizen-e2e-[a-z]*/work|$work/repo|g" "$fixture" > "$work/payload"
  # A first, different delivery makes the session exist: the profiled run is
  # then an ordinary event, neither a session's first nor a repeat.
  { cat "$work/payload"; echo; } | "$bin" event --agent "$agent" >/dev/null 2>&1 || true
  valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$work/runs/$agent-$n.out" \
    "$bin" event --agent "$agent" < "$work/payload" >/dev/null 2>&1 || true
done
cd "$OLDPWD"
python3 scripts/hot_functions.py "$bin" link/hot-functions.ld "$work"/runs/*.out
