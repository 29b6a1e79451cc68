#!/usr/bin/env bash
# Coverage-guided fuzzing of one target of src/fuzzing.rs with cargo-fuzz (libFuzzer):
#   scripts/fuzz.sh TARGET [SECONDS]      e.g. scripts/fuzz.sh config 600
#   scripts/fuzz.sh all [SECONDS]         each target in turn
# Targets: config duration threshold schedule pattern template. cargo-fuzz needs a nightly
# compiler; on stable, RUSTC_BOOTSTRAP=1 unlocks the flags it uses.
# Built without AddressSanitizer by default (FUZZ_SANITIZER=address to turn it on): the code
# under test is safe Rust, so what fuzzing finds here is panics (overflow checks and debug
# assertions stay on), hangs and memory blow-ups, and ASan would triple the build (~15 min
# cold on a 2-core machine instead of ~5) and halve the executions per second.
# Starts from the committed seeds (fuzz/corpus/TARGET, never written to) and keeps what it
# finds in fuzz/work/TARGET (ignored by git); a crash lands in fuzz/artifacts/TARGET/ and
# is replayed with: scripts/fuzz.sh TARGET --replay fuzz/artifacts/TARGET/crash-...
# Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: scripts/fuzz.sh TARGET|all [SECONDS] (targets: config duration threshold schedule pattern template)}
seconds=${2:-60}
targets="config duration threshold schedule pattern template"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
# Stable compilers accept nightly flags with this; a nightly toolchain ignores it.
export RUSTC_BOOTSTRAP=1
build=(--sanitizer "${FUZZ_SANITIZER:-none}")

if [ "$target" = all ]; then
    for t in $targets; do "$0" "$t" "$seconds"; done
    exit 0
fi
case " $targets " in
    *" $target "*) ;;
    *) echo "unknown target $target (known: $targets)" >&2; exit 2 ;;
esac

cd fuzz
if [ "$seconds" = --replay ]; then
    exec cargo fuzz run "${build[@]}" "$target" "${3:?the crash file}"
fi
mkdir -p "work/$target"
echo "== fuzzing $target for ${seconds}s"
# -rss_limit_mb: a target that balloons is a bug too. -timeout: one input over 10 s is a hang.
cargo fuzz run "${build[@]}" "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1
