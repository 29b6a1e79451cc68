#!/usr/bin/env bash
# CI's bounded fuzz run: every target of src/fuzzing.rs under cargo-fuzz for FUZZ_SECONDS
# (default 15) each, from the committed seed corpus. Fails on any crash, timeout or memory
# blow-up (the crashing input is left in fuzz/artifacts/). Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./scripts/fuzz.sh all "${FUZZ_SECONDS:-15}"
