#!/usr/bin/env bash
# bench/long.sh — the two long-run figures of issue 17:
#   (a) RSS of an open-model run at RATE req/s (default 20k) for LONG_S seconds (default 600)
#       against bench-target, sampled every SAMPLE_S seconds from /proc: first, last, max,
#       and the slope of the second half (flat means ~0 KiB/min);
#   (b) a run of about REQUESTS requests (default 1M, closed model) written as a JSON summary,
#       then the time `loadtide merge` takes to merge SHARDS copies of it, and to merge them
#       and write the merged run's HTML and Markdown reports.
# Everything goes to 127.0.0.1; every run is bounded by --duration and a timeout.
#
#   bench/long.sh                               # ~12 min
#   LONG_S=60 REQUESTS=200000 bench/long.sh     # smoke, ~2 min
#   LOADTIDE_BIN=/path/to/loadtide bench/long.sh
#
# Env: LOADTIDE_BIN (else cargo build --release --locked into LOADTIDE_TARGET_DIR), RATE(20000)
# LONG_S(600) SAMPLE_S(10) REQUESTS(1000000) CONNS(50) SHARDS(4) PORT(18091) TARGET_CPU(0)
# GEN_CPU(1) OUT_DIR.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${SHARED_BENCH:=$REPO_DIR/../shared/bench}"
: "${RATE:=20000}" "${LONG_S:=600}" "${SAMPLE_S:=10}" "${REQUESTS:=1000000}" "${CONNS:=50}"
: "${SHARDS:=4}" "${PORT:=18091}" "${TARGET_CPU:=0}" "${GEN_CPU:=1}"
: "${LOADTIDE_TARGET_DIR:=/tmp/loadtide-bench-target}" "${BENCH_TARGET_DIR:=/tmp/bench-target}"
: "${OUT_DIR:=/tmp/loadtide-bench/long-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT_DIR"
log() { echo "[$(date +%T)] $*" >&2; }

declare -a PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [ -z "${LOADTIDE_BIN:-}" ]; then
  log "building loadtide (CARGO_TARGET_DIR=$LOADTIDE_TARGET_DIR)"
  (cd "$REPO_DIR" && CARGO_TARGET_DIR="$LOADTIDE_TARGET_DIR" cargo build --release --locked >&2)
  LOADTIDE_BIN="$LOADTIDE_TARGET_DIR/release/loadtide"
fi
TARGET_BIN="$BENCH_TARGET_DIR/release/bench-target"
if [ ! -x "$TARGET_BIN" ]; then
  log "building bench-target (CARGO_TARGET_DIR=$BENCH_TARGET_DIR)"
  (cd "$SHARED_BENCH/target" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release >&2)
fi

taskset -c "$TARGET_CPU" "$TARGET_BIN" --host 127.0.0.1 --port "$PORT" --mode fast --threads 1 \
  > "$OUT_DIR/target.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/"

# ---- (a) RSS over a long open-model run ---------------------------------------
log "(a) open model, $RATE req/s for ${LONG_S}s; RSS every ${SAMPLE_S}s"
taskset -c "$GEN_CPU" timeout $((LONG_S + 60)) "$LOADTIDE_BIN" run --url "$URL" --rate "$RATE" \
  --duration "${LONG_S}s" --quiet --json "$OUT_DIR/long.json" \
  > "$OUT_DIR/long.out" 2>&1 &
GEN=$!
PIDS+=($GEN)
# taskset execs timeout, which runs loadtide as its child: sample that child, not timeout.
LT=""
for _ in $(seq 1 100); do
  LT=$(pgrep -P "$GEN" | head -1 || true)
  [ -n "$LT" ] && break
  sleep 0.05
done
[ -n "$LT" ] || { echo "loadtide did not start under timeout" >&2; exit 1; }
: > "$OUT_DIR/rss.tsv"
t=0
while kill -0 "$LT" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$LT/status" 2>/dev/null || true)
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$LT/status" 2>/dev/null || true)
  [ -n "$hwm" ] && echo "$hwm" > "$OUT_DIR/hwm"
  [ -n "$rss" ] && printf '%s\t%s\n' "$t" "$rss" >> "$OUT_DIR/rss.tsv"
  sleep "$SAMPLE_S"
  t=$((t + SAMPLE_S))
done
wait "$GEN" || true

# ---- (b) a 1M-request summary: merge and report time ---------------------------
log "(b) closed model, $CONNS connections, $REQUESTS requests"
taskset -c "$GEN_CPU" timeout 600 "$LOADTIDE_BIN" run --url "$URL" --concurrency "$CONNS" \
  --requests "$REQUESTS" --duration 300s --quiet --json "$OUT_DIR/big.json" > "$OUT_DIR/big.out" 2>&1 || true
shards=()
for i in $(seq 1 "$SHARDS"); do cp "$OUT_DIR/big.json" "$OUT_DIR/shard$i.json"; shards+=("$OUT_DIR/shard$i.json"); done
now() { date +%s.%N; }
# Merge (JSON out) and report (HTML and Markdown) of the merged run, timed apart.
# A merge that fails (exit 2: bad input; 1: thresholds, none here) must not pass as fast.
a=$(now); "$LOADTIDE_BIN" merge --quiet --json "$OUT_DIR/merged.json" "${shards[@]}" > "$OUT_DIR/merge.out" 2>&1 || { cat "$OUT_DIR/merge.out" >&2; exit 1; }; b=$(now)
merge_s=$(python3 -c "print($b - $a)")
a=$(now); "$LOADTIDE_BIN" merge --quiet --json "$OUT_DIR/merged.json" --report "$OUT_DIR/merged.html" \
  --report "$OUT_DIR/merged.md" "${shards[@]}" > "$OUT_DIR/report.out" 2>&1 || { cat "$OUT_DIR/report.out" >&2; exit 1; }; b=$(now)
report_s=$(python3 -c "print($b - $a)")
merged_requests=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" "$OUT_DIR/merged.json")
log "merged: $merged_requests requests; report sizes: $(wc -c < "$OUT_DIR/merged.html") B html, $(wc -c < "$OUT_DIR/merged.md") B md"

python3 - "$OUT_DIR" "$RATE" "$LONG_S" "$SHARDS" "$merge_s" "$report_s" <<'PY'
import json, sys
out, rate, long_s, shards, merge_s, report_s = sys.argv[1:]
rows = [tuple(map(float, l.split("\t"))) for l in open(f"{out}/rss.tsv") if l.strip()]
try:
    long = json.load(open(f"{out}/long.json"))
except OSError:
    long = {}
try:
    big = json.load(open(f"{out}/big.json"))
except OSError:
    big = {}
try:
    hwm = float(open(f"{out}/hwm").read())
except OSError:
    hwm = float("nan")
if rows:
    half = [r for r in rows if r[0] >= rows[-1][0] / 2]
    n = len(half)
    mx, my = sum(r[0] for r in half) / n, sum(r[1] for r in half) / n
    den = sum((r[0] - mx) ** 2 for r in half) or 1.0
    slope = sum((r[0] - mx) * (r[1] - my) for r in half) / den * 60
    print(f"(a) open {rate} req/s for {long_s}s: requests {long.get('requests')} rps {long.get('rps')}"
          f" errors {long.get('errors')} dropped {long.get('dropped')}")
    print(f"    RSS MiB: first {rows[0][1]/1024:.1f}  last {rows[-1][1]/1024:.1f}"
          f"  max {max(r[1] for r in rows)/1024:.1f}  peak (VmHWM) {hwm/1024:.1f}  second-half slope {slope:+.1f} KiB/min"
          f"  ({len(rows)} samples; {out}/rss.tsv)")
print(f"(b) closed run: requests {big.get('requests')}; merge of {shards} summaries {float(merge_s):.3f} s;"
      f" merge plus HTML and Markdown reports {float(report_s):.3f} s")
PY
