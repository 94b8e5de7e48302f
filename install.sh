#!/usr/bin/env bash
# Builds kaizen-hook, installs it, and registers it with the coding agents.
#   ./install.sh                      every agent whose config directory exists
#   ./install.sh --agent cursor       only Cursor (repeatable)
#   ./install.sh --dry-run            show what would change in the agents' configs
# KAIZEN_BIN_DIR chooses where the binary goes (default ~/.local/bin).
set -euo pipefail
cd "$(dirname "$0")"

# In a fresh or temporary HOME, rustup cannot see its toolchains (nor cargo its
# registry cache): find them from where cargo itself is installed.
if [ -z "${RUSTUP_HOME:-}" ] && [ ! -d "$HOME/.rustup" ] && cargo_bin=$(command -v cargo); then
  cargo_home=$(cd "$(dirname "$cargo_bin")/.." && pwd)
  if [ -d "$cargo_home/../.rustup" ]; then
    export RUSTUP_HOME="$(cd "$cargo_home/../.rustup" && pwd)"
    export CARGO_HOME="${CARGO_HOME:-$cargo_home}"
    echo "using the Rust toolchain in $RUSTUP_HOME"
  fi
fi

bin_dir="${KAIZEN_BIN_DIR:-$HOME/.local/bin}"
echo "building kaizen-hook (release, the fastest build this machine can make)..."
# Cargo says where it put the binary (CARGO_TARGET_DIR, build.target-dir...).
IFS=$'\t' read -r built kind < <(scripts/build-fastest.sh)
if [ ! -x "${built:-}" ]; then
  echo "install.sh: no kaizen-hook binary was built" >&2
  exit 1
fi
mkdir -p "$bin_dir"
# Install under a temporary name, then rename: a hook running right now keeps its binary.
install -m 0755 "$built" "$bin_dir/.kaizen-hook.new"
mv -f "$bin_dir/.kaizen-hook.new" "$bin_dir/kaizen-hook"
echo "installed $bin_dir/kaizen-hook ($kind)"

"$bin_dir/kaizen-hook" install "$@"

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on your PATH; the hooks use the absolute path, so they work anyway" ;;
esac
echo "check it any time with: $bin_dir/kaizen-hook doctor"
echo "see what it records with: ./demo.sh"
