#!/usr/bin/env bash
# Builds the fastest kaizen-hook this machine can build and prints
# "<path>\t<kind>" on stdout (progress on stderr). Used by install.sh and
# bench/run.sh, so the bench measures the binary install.sh installs.
#   1. musl, static, non-PIE: no dynamic loader, no glibc start-up (the musl
#      target is added with rustup and Debian's musl-tools installed when
#      possible);
#   2. else glibc, static, non-PIE;
#   3. else the ordinary dynamic build (non-PIE, see build.rs).
# Each static candidate must run `--version` before it is taken.
# KAIZEN_BUILD=dynamic|glibc|musl forces one kind (and fails if it cannot).
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
arch=${host%%-*}
static_flags="-C relocation-model=static -C target-feature=+crt-static"

# cargo build, printing the path of the kaizen-hook it built.
build() { # target-or-empty extra-rustflags
  local target_args=()
  [ -n "$1" ] && target_args=(--target "$1")
  RUSTFLAGS="${RUSTFLAGS:-} $2" cargo build --release --locked --quiet --bin kaizen-hook -p kaizen-hook \
    "${target_args[@]}" --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\/kaizen-hook\)".*/\1/p' | tail -n 1
}

# The musl target and a musl C compiler (libgit2 and zlib are C).
musl_ready() {
  local target="$arch-unknown-linux-musl"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    command -v rustup >/dev/null || return 1
    echo "adding the Rust target $target (rustup)..." >&2
    rustup target add "$target" >&2 || return 1
  fi
  if ! command -v musl-gcc >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing musl-tools (apt-get)..." >&2
      { apt-get install -y -qq musl-tools || { apt-get update -qq && apt-get install -y -qq musl-tools; }; } >&2 ||
        return 1
    else
      echo "musl-gcc not found (Debian/Ubuntu: apt-get install musl-tools)" >&2
      return 1
    fi
  fi
}

# A static candidate: built, and it runs.
try_static() { # kind target
  local built
  built=$(build "$2" "$static_flags" 2>/tmp/kaizen-build.$$.err) || true
  if [ -x "$built" ] && "$built" --version >/dev/null 2>&1; then
    printf '%s\t%s\n' "$built" "$1"
    rm -f /tmp/kaizen-build.$$.err
    return 0
  fi
  echo "no $1 build: $(tail -n 3 /tmp/kaizen-build.$$.err 2>/dev/null)" >&2
  rm -f /tmp/kaizen-build.$$.err
  return 1
}

want=${KAIZEN_BUILD:-}
if [ "$(uname -s)" = Linux ]; then
  if [ -z "$want" ] || [ "$want" = musl ]; then
    if musl_ready; then
      try_static "musl static, non-PIE" "$arch-unknown-linux-musl" && exit 0
    fi
    [ "$want" = musl ] && exit 1
  fi
  if [ -z "$want" ] || [ "$want" = glibc ]; then
    try_static "glibc static, non-PIE" "$host" && exit 0
    [ "$want" = glibc ] && exit 1
  fi
fi
built=$(build "" "")
[ -x "$built" ] || { echo "cargo reported no kaizen-hook binary" >&2; exit 1; }
printf '%s\t%s\n' "$built" "dynamic"
