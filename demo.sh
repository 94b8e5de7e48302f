#!/usr/bin/env bash
# Replays a real Claude Code session (payloads captured from the real CLI in
# tests/fixtures/real/claude/) into a new git repository, through the installed
# kaizen-hook, then shows what it recorded: commit, branch, dirty state, files
# and LOC filled in; last, it writes the HTML report. Nothing of yours is
# touched: the repository, the recorded events and the report live in a
# temporary directory.
#   ./demo.sh                 uses kaizen-hook from PATH, else ~/.local/bin
#   KAIZEN_BIN=path ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"
bin="${KAIZEN_BIN:-$(command -v kaizen-hook || echo "${KAIZEN_BIN_DIR:-$HOME/.local/bin}/kaizen-hook")}"
[ -x "$bin" ] || { echo "demo.sh: no kaizen-hook at $bin: run ./install.sh first" >&2; exit 1; }
demo=$(mktemp -d)
repo="$demo/acme"
export KAIZEN_HOME="$demo/kaizen"

git init -q -b main "$repo"
printf 'fn main() {\n    println!("hello");\n}\n' >"$repo/main.rs"
printf '# acme\n\nA demo repository.\n' >"$repo/README.md"
git -C "$repo" add .
git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -qm "first commit"
echo "// work in progress" >>"$repo/main.rs" # the agent starts on a dirty tree

# The agent's transcript, where tokens, model and cost come from at turn ends
# (a real Claude Code transcript, captured with these payloads' scenario).
cp tests/fixtures/transcripts/claude/session.jsonl "$demo/transcript.jsonl"
fixtures=tests/fixtures/real/claude
for event in SessionStart UserPromptSubmit PreToolUse PostToolUse PostToolUseFailure Stop SessionEnd; do
  sed -e "s#\"/work/project#\"$repo#g" -e "s#/home/user/.claude/projects/[^\"]*\.jsonl#$demo/transcript.jsonl#" \
    "$fixtures/$event.json" | "$bin" event --agent claude
done
id=$(sed -n 's/.*"session_id": *"\([^"]*\)".*/\1/p' "$fixtures/SessionStart.json")

"$bin" sessions
echo
"$bin" show "$id"
echo
"$bin" report --html --out "$demo/report.html" 2>/dev/null
echo "recorded in $KAIZEN_HOME (remove $demo when done)"
echo "the HTML report: $demo/report.html"
