#!/usr/bin/env bash
# bench/profile.sh — where loadtide spends its CPU: perf profiles of a release build with debug
# info, against bench-target on loopback, in two cases:
#   closed: loadtide run --url URL --concurrency $CONNS --duration ${SECONDS_EACH}s   (HTTP/1.1)
#   open:   loadtide run --url URL --rate $OPEN_RATE --duration ${SECONDS_EACH}s
#
#   bench/profile.sh                          # both cases, 10 s each, ~2 min plus the build
#   CASES=open OPEN_RATE=5000 bench/profile.sh
#   CALL_GRAPH=fp bench/profile.sh            # frame pointers instead of DWARF unwinding
#
# Build: cargo build --release --locked with CARGO_PROFILE_RELEASE_DEBUG=1 (line tables and
# symbols, same optimisation and LTO as the release profile) into CARGO_TARGET_DIR=
# /tmp/loadtide-perf-target, so symbols resolve; bench-target from ../shared/bench/target into
# /tmp/bench-target. The server is pinned to CPU $SERVER_CPU and loadtide to CPU $GEN_CPU; perf's
# own process runs on the server's CPU (its sampling work in the kernel lands on loadtide's).
# The VM has no hardware counters, so the event is cpu-clock at $FREQ Hz.
# For each case, in $OUT_DIR: CASE.perf.data, CASE.self.txt (perf report --no-children, the
# flat profile), CASE.children.txt (inclusive) and CASE.children-loadtide.txt (its loadtide::
# lines), CASE.dso.txt (by binary/kernel), CASE.comm.txt (by thread name), CASE.areas.txt
# (samples grouped by area of the request path, with the top leaf functions of each:
# bench/perf_areas.py over CASE.script.txt, `perf script`), CASE.json (loadtide's summary) and CASE.time (GNU time). Only 127.0.0.1;
# everything is bounded by timeout; everything started here is stopped by PID on exit.
#
# Knobs (env): CASES("closed open") SECONDS_EACH(10) CONNS(50) OPEN_RATE(20000) FREQ(1999)
#   CALL_GRAPH(dwarf,16384) PORT(18091) SERVER_CPU(0) GEN_CPU(1) PERCENT_LIMIT(1.5)
#   LOADTIDE_BIN (skip the build) TARGET_BIN (skip its build) INSTALL(1)
#   TOTAL_TIMEOUT(1800 s) OUT_DIR(/tmp/loadtide-bench/profile-DATE)
set -euo pipefail

: "${TOTAL_TIMEOUT:=1800}"
if [ -z "${LOADTIDE_PROFILE_INNER:-}" ]; then
  exec env LOADTIDE_PROFILE_INNER=1 timeout -k 15 "$TOTAL_TIMEOUT" bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
REPO_DIR=$PWD

: "${CASES:=closed open}" "${SECONDS_EACH:=10}" "${CONNS:=50}" "${OPEN_RATE:=20000}"
: "${FREQ:=1999}" "${CALL_GRAPH:=dwarf,16384}" "${PORT:=18091}" "${SERVER_CPU:=0}" "${GEN_CPU:=1}"
: "${PERCENT_LIMIT:=1.5}" "${INSTALL:=1}"
: "${OUT_DIR:=/tmp/loadtide-bench/profile-$(date +%Y%m%d-%H%M%S)}"
: "${SHARED_BENCH:=$REPO_DIR/../shared/bench}"

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

if ! command -v perf >/dev/null || ! perf --version >/dev/null 2>&1; then
  [ "$INSTALL" = 1 ] || die "perf not found (INSTALL=0: not installing)"
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf >&2 \
    || die "apt-get install linux-perf failed"
fi
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) missing: apt-get install time"

if [ -z "${LOADTIDE_BIN:-}" ]; then
  log "building loadtide (release + debug info, CARGO_TARGET_DIR=/tmp/loadtide-perf-target)"
  CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_TARGET_DIR=/tmp/loadtide-perf-target \
    timeout --foreground 3600 cargo build --release --locked -q || die "loadtide build failed"
  LOADTIDE_BIN=/tmp/loadtide-perf-target/release/loadtide
fi
if [ -z "${TARGET_BIN:-}" ] && [ ! -f "$SHARED_BENCH/target/Cargo.toml" ] \
    && [ -x /tmp/bench-target/release/bench-target ]; then
  # e.g. from a git worktree elsewhere, where ../shared is not next to the checkout
  log "no $SHARED_BENCH/target; using the bench-target built before in /tmp/bench-target"
  TARGET_BIN=/tmp/bench-target/release/bench-target
fi
if [ -z "${TARGET_BIN:-}" ]; then
  [ -f "$SHARED_BENCH/target/Cargo.toml" ] || die "no $SHARED_BENCH/target (set TARGET_BIN or SHARED_BENCH)"
  log "building bench-target (CARGO_TARGET_DIR=/tmp/bench-target)"
  (cd "$SHARED_BENCH/target" && CARGO_TARGET_DIR=/tmp/bench-target timeout --foreground 1800 \
    cargo build --release --locked -q) || die "bench-target build failed"
  TARGET_BIN=/tmp/bench-target/release/bench-target
fi

server=""
cleanup() {
  local _
  [ -n "$server" ] || return 0
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "bench/profile.sh: interrupted" >&2; exit 130' INT TERM
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$OUT_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
port_open "$PORT" && die "127.0.0.1:$PORT is already in use (not ours; not touching it)"
taskset -c "$SERVER_CPU" "$TARGET_BIN" --port "$PORT" --mode fast --threads 1 2>"$OUT_DIR/target.log" &
server=$!
for _ in $(seq 100); do port_open "$PORT" && break; sleep 0.05; done
port_open "$PORT" || die "bench-target did not come up (see $OUT_DIR/target.log)"
url="http://127.0.0.1:$PORT/hello.txt"
{
  echo "date: $(date -u +%FT%TZ); host: $(uname -srm); cpus: $(nproc)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null); loadtide: $LOADTIDE_BIN"
  echo "perf: $(perf --version); event cpu-clock at $FREQ Hz; call graph $CALL_GRAPH"
} > "$OUT_DIR/meta.txt"

for c in $CASES; do
  case $c in
    closed) load=(--concurrency "$CONNS") ;;
    open) load=(--rate "$OPEN_RATE") ;;
    *) echo "unknown case $c; skipped" >&2; continue ;;
  esac
  log "$c: perf record, ${SECONDS_EACH}s"
  cmd=("$LOADTIDE_BIN" run --url "$url" "${load[@]}" --duration "${SECONDS_EACH}s" --quiet --json "$OUT_DIR/$c.json")
  printf '%q ' "${cmd[@]}" > "$OUT_DIR/$c.cmd"; echo >> "$OUT_DIR/$c.cmd"
  timeout -k 5 $((SECONDS_EACH + 60)) taskset -c "$SERVER_CPU" \
    perf record -q -e cpu-clock -F "$FREQ" --call-graph "$CALL_GRAPH" -o "$OUT_DIR/$c.perf.data" -- \
    taskset -c "$GEN_CPU" /usr/bin/time -f '%e %U %S %M' -o "$OUT_DIR/$c.time" "${cmd[@]}" \
    >"$OUT_DIR/$c.out" 2>"$OUT_DIR/$c.err" || echo "  ($c run exited with status $?; see $OUT_DIR/$c.err)" >&2
  log "$c: perf report"
  # loadtide's threads: "loadtide" (main) and "tokio-rt-worker"; perf, taskset and time are
  # left out
  comms="loadtide,tokio-rt-worker"
  rep=(perf report -i "$OUT_DIR/$c.perf.data" --stdio --comm "$comms")
  timeout 900 perf report -i "$OUT_DIR/$c.perf.data" --stdio --no-children --sort comm -g none \
    > "$OUT_DIR/$c.comm.txt" 2>/dev/null || true
  # (perf 6.1 drops the largest rows of a --sort dso report filtered with --comm: unfiltered)
  timeout 900 perf report -i "$OUT_DIR/$c.perf.data" --stdio --no-children --sort dso --percent-limit 0.5 -g none \
    > "$OUT_DIR/$c.dso.txt" 2>/dev/null || true
  timeout 900 "${rep[@]}" --no-children --sort sym --percent-limit "$PERCENT_LIMIT" -g none > "$OUT_DIR/$c.self.txt" 2>/dev/null || true
  timeout 900 "${rep[@]}" --children --sort sym --percent-limit 0.3 -g none > "$OUT_DIR/$c.children.txt" 2>/dev/null || true
  grep -E '^ +[0-9.]+%.*loadtide::' "$OUT_DIR/$c.children.txt" > "$OUT_DIR/$c.children-loadtide.txt" || true
  # every sample's call chain, grouped into the areas of the request path (bench/perf_areas.py)
  timeout 900 perf script -i "$OUT_DIR/$c.perf.data" --comm tokio-rt-worker -F comm,tid,time,ip,sym --inline \
    > "$OUT_DIR/$c.script.txt" 2>/dev/null || true
  python3 "$REPO_DIR/bench/perf_areas.py" "$OUT_DIR/$c.script.txt" 6 > "$OUT_DIR/$c.areas.txt" || true
  python3 - "$OUT_DIR/$c.json" "$OUT_DIR/$c.time" <<'PY' >&2
import json, sys
d = json.load(open(sys.argv[1]))
e, u, s, m = open(sys.argv[2]).read().split("\n")[-2].split()
n = d["requests"]
print(f"  {n} requests, {d['rps']:.0f} req/s, {d.get('errors', 0)} errors, {d.get('dropped', 0)} dropped, "
      f"p50 {d['latency']['p50'] * 1e3:.3f} ms, p99 {d['latency']['p99'] * 1e3:.3f} ms, "
      f"user {u} s sys {s} s = {(float(u) + float(s)) / n * 1e6:.2f} us/req (perf on)")
PY
  echo "== $c: top self-time symbols (loadtide process, --no-children, >= ${PERCENT_LIMIT}%) =="
  grep -E '^ +[0-9]' "$OUT_DIR/$c.self.txt" | head -25
  echo "== $c: by binary =="
  grep -E '^ +[0-9]' "$OUT_DIR/$c.dso.txt" | head -12
  echo "== $c: loadtide's own functions, inclusive (--children, >= 0.3%) =="
  head -30 "$OUT_DIR/$c.children-loadtide.txt"
  echo "== $c: samples by area of the request path (bench/perf_areas.py; worker thread) =="
  sed -n '1,/^-- top/p' "$OUT_DIR/$c.areas.txt" | sed '$d'
done
echo "raw outputs: $OUT_DIR"
