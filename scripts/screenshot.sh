#!/usr/bin/env bash
# Writes docs/report.png, the picture of `report --html` in the README: the
# real Claude Code session demo.sh replays (payloads captured from the real
# CLI, and that scenario's transcript), replayed five times as if on other
# days, branches and models, with commits between turns, into a temporary
# KAIZEN_HOME and git repository; then headless Chromium's screenshot of the page.
#   scripts/screenshot.sh                 uses target/release/kaizen-hook, else kaizen-hook on PATH
#   KAIZEN_BIN=path scripts/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${KAIZEN_BIN:-$( [ -x target/release/kaizen-hook ] && echo "$PWD/target/release/kaizen-hook" || command -v kaizen-hook)}"
[ -x "$bin" ] || { echo "screenshot.sh: no kaizen-hook (build it, or set KAIZEN_BIN)" >&2; exit 1; }
command -v chromium >/dev/null || { echo "screenshot.sh: needs chromium (apt-get install chromium)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/acme"
export KAIZEN_HOME="$work/kaizen" HOME="$work/home" TZ=UTC
mkdir -p "$HOME"
git() { command git -C "$repo" -c user.name=demo -c user.email=demo@example.com "$@"; }
command git init -q -b main "$repo"
printf 'fn main() {\n    println!("hello");\n}\n' >"$repo/main.rs"
git add . && git commit -qm "first commit"

fixtures=tests/fixtures/real/claude
id=$(sed -n 's/.*"session_id": *"\([^"]*\)".*/\1/p' "$fixtures/SessionStart.json")
# The transcript's response times moved to just after now (0), so that they fall in the
# replayed turn and a commit made in it is what the turn produced, or to N days ago (-N).
on_day() {
  python3 -c '
import datetime, json, re, sys
days = int(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1, days=days)
first = None
for line in sys.stdin:
    m = re.search(r"\"timestamp\":\"([^\"]+)Z\"", line)
    if m:
        at = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
        first = first or at
        moved = now + (at - first) / 20
        line = line.replace(m.group(0), "\"timestamp\":\"" + moved.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z\"")
    sys.stdout.write(line)
' "$1"
}
# One session: its day (the transcript's times moved there), branch and model.
session() {
  local n=$1 day=$2 branch=$3 model=$4 commit_mid=$5
  local sid transcript="$work/transcript-$n.jsonl"
  sid="$(printf '%08x' $((0x${id:0:8} + n * 0x1f2e3d)))${id:8}"
  git checkout -q -B "$branch"
  sed -e "s/claude-opus-5-5/$model/g" tests/fixtures/transcripts/claude/session.jsonl |
    on_day "$day" >"$transcript"
  for event in SessionStart UserPromptSubmit PreToolUse PostToolUse PostToolUseFailure Stop SessionEnd; do
    if [ "$event" = Stop ] && [ "$commit_mid" = yes ]; then
      echo "// turn $n" >>"$repo/main.rs" && git commit -qam "turn $n"
    fi
    sed -e "s#$id#$sid#g" -e "s#\"/work/project#\"$repo#g" \
      -e "s#/home/user/.claude/projects/[^\"]*\.jsonl#$transcript#" "$fixtures/$event.json" |
      "$bin" event --agent claude
  done
}
session 1 -6 main claude-opus-5-5 no
session 2 -5 feature/html-report claude-sonnet-4-5 yes
session 3 -4 feature/html-report claude-opus-5-5 yes
session 4 -2 fix/escape claude-haiku-4-5 no
session 5 0 main claude-opus-5-5 yes

"$bin" report --html --out "$work/report.html"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --screenshot="$PWD/docs/report.png" --window-size=1280,2000 "file://$work/report.html" 2>/dev/null
echo "wrote docs/report.png"
