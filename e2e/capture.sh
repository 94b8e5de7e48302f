#!/bin/sh
# A second hook beside kaizen-hook: saves each delivery exactly as the agent
# sent it (stdin, arguments, the agent process, a few env vars), so the suite
# knows what kaizen-hook should have recorded. Silent, always exit 0.
#   capture.sh <dir> <label> [args...]
dir=$1
label=$2
shift 2
base="$dir/$(date +%s%N)-$$"
cat > "$base.stdin" 2>/dev/null
{
  printf 'label=%s\n' "$label"
  printf 'ppid=%s\n' "$PPID"
  for a in "$@"; do printf 'arg=%s\n' "$a"; done
  env | grep -E '^(AI_AGENT|COPILOT_CLI_BINARY_VERSION|CLAUDE_CODE_ENTRYPOINT|CODEX_|GEMINI_CLI)=' | sed 's/^/env=/'
} > "$base.meta" 2>/dev/null
exit 0
