#!/usr/bin/env bash
# Soak: `loadtide serve` against a local demo target for DURATION at RATE req/s, with
#   - a config reload (SIGHUP, alternating a profile's rate so that it restarts) every
#     RELOAD_EVERY seconds, and a bad one (a negative rate: refused, the old config keeps
#     running) every BAD_EVERY seconds;
#   - a target restart (killed, down 2 s, started again on the same port) every
#     RESTART_EVERY seconds;
#   - the kill switch (POST /-/pause, PAUSE_S seconds, POST /-/resume) every PAUSE_EVERY s;
#   - the bundled schedules compressed: a profile whose 6-field cron fires every 4 s for 2 s
#     (an hour holds the 900 activations of a week of the bundled `*/10 * * * *` bursts)
#     and one whose window opens every minute for 30 s (an hour: two months of daily
#     windows).
# Every SAMPLE_EVERY seconds it prints the daemon's RSS,
# open fds (/proc/PID/fd), series count (sample lines in /metrics) and tokio alive tasks
# (loadtide_runtime_alive_tasks), then a verdict: after WARMUP seconds, the last third of
# the samples must not exceed the first third (RSS: max within 20% or 8 MiB; series: at
# most 12 more lines; fds and tasks: the floor, i.e. the lowest sample, within 20% plus a
# small constant), every good reload must succeed and every bad one be refused, and the
# requests after warmup must reach 90% of RATE per second outside the pauses.
# Exit 0 when flat. Fds and tasks are judged by their floor because their peaks follow
# the connection pool, which grows with concurrency (latency × rate: a busy machine
# doubles it) and empties at every target restart; a leaked socket or task survives the
# restart and raises the floor.
#
#   scripts/soak.sh [DURATION] [RATE]      e.g. scripts/soak.sh 2h 2000; default 10m 2000
#   scripts/soak.sh --hours N [RATE]       N hours, reloads every minute, a bad one every 10
#   LOADTIDE_BIN=target/release/loadtide scripts/soak.sh --hours 1
#
# scripts/test.sh runs a compressed one (SOAK_CI=1: 150 s at 1000 req/s, reload every 20 s,
# a bad reload every 45 s, target restart every 25 s, a pause every 40 s, warmup 55 s).
# Only 127.0.0.1 is involved; every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds() { # 90, 90s, 10m, 2h -> seconds
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

if [ "${1:-}" = --hours ]; then
  [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "soak.sh: --hours needs a whole number of hours, got ${2:-nothing}" >&2; exit 2; }
  DURATION=$(( $2 * 3600 ))
  RATE=${3:-2000}
  : "${RELOAD_EVERY:=60}" "${BAD_EVERY:=600}" "${SAMPLE_EVERY:=30}"
elif [ "${SOAK_CI:-0}" = 1 ]; then
  : "${RELOAD_EVERY:=20}" "${BAD_EVERY:=45}" "${RESTART_EVERY:=25}" "${PAUSE_EVERY:=40}"
  : "${SAMPLE_EVERY:=5}" "${WARMUP:=55}"
  DURATION=$(seconds "${1:-150}")
  RATE=${2:-1000}
else
  DURATION=$(seconds "${1:-10m}")
  RATE=${2:-2000}
fi
RELOAD_EVERY=${RELOAD_EVERY:-30}
BAD_EVERY=${BAD_EVERY:-300}
RESTART_EVERY=${RESTART_EVERY:-60}
PAUSE_EVERY=${PAUSE_EVERY:-300}
PAUSE_S=${PAUSE_S:-3}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
WARMUP=${WARMUP:-$(( DURATION / 6 > 60 ? 60 : DURATION / 6 ))}
BIN=${LOADTIDE_BIN:-target/debug/loadtide}
if [ ! -x "$BIN" ]; then
  cargo build --locked --bin loadtide
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/loadtide-soak.XXXXXX")
daemon_pid=
target_pid=
cleanup() {
  rc=$?
  [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null && wait "$target_pid" 2>/dev/null
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  if [ "$rc" -ne 0 ]; then
    echo "---- loadtide log (tail)"; tail -n 30 "$work/loadtide.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

read -r LT_PORT DEMO_PORT < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()
PY
)

start_target() {
  "$BIN" demo-target --listen "127.0.0.1:$DEMO_PORT" >>"$work/target.log" 2>&1 &
  target_pid=$!
}

# $1: the churn profile's rate; alternated on every reload so that profile restarts.
write_config() {
  cat >"$work/loadtide.toml.new" <<EOF
[server]
drain_timeout = "2s"

[targets.demo]
url = "http://127.0.0.1:$DEMO_PORT"
timeout = "2s"
max_connections = 2000

[[targets.demo.endpoints]]
name = "health"
path = "/health"
weight = 3

[[targets.demo.endpoints]]
name = "items"
path = "/api/items"

[profiles.steady]
target = "demo"
endpoints = ["health", "items"]
rate = $RATE
max_in_flight = 2000

[profiles.churn]
target = "demo"
endpoints = ["health"]
rate = $1

# The bundled schedules, compressed: activations every 4 s, and a daily window every minute.
[profiles.bursts]
target = "demo"
endpoints = ["items"]
rate = 10
schedule = { cron = "*/4 * * * * *", for = "2s" }

[profiles.daily]
target = "demo"
endpoints = ["health"]
rate = 10
schedule = { cron = "0 * * * * *", for = "30s" }
EOF
  mv "$work/loadtide.toml.new" "$work/loadtide.toml"
}

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$LT_PORT/metrics"; }

start_target
write_config 20
"$BIN" --log-level warn serve --config "$work/loadtide.toml" \
  --web.listen-address "127.0.0.1:$LT_PORT" --web.enable-lifecycle >"$work/loadtide.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  curl -sf --max-time 1 "http://127.0.0.1:$LT_PORT/-/ready" >/dev/null && break
  sleep 0.1
done
curl -sf --max-time 1 "http://127.0.0.1:$LT_PORT/-/ready" >/dev/null

echo "soak: ${DURATION}s at ${RATE} req/s; reload every ${RELOAD_EVERY}s (a bad one every ${BAD_EVERY}s), target restart every ${RESTART_EVERY}s, a ${PAUSE_S}s pause every ${PAUSE_EVERY}s, sample every ${SAMPLE_EVERY}s, warmup ${WARMUP}s"
printf '%6s %9s %5s %7s %6s %9s %s\n' t_s rss_kib fds series tasks requests event
samples="$work/samples"
: >"$samples"
begin=$(date +%s)
next_reload=$RELOAD_EVERY
next_restart=$RESTART_EVERY
next_sample=0
next_bad=$BAD_EVERY
next_pause=$PAUSE_EVERY
reloads=0
bad=0
restarts=0
pauses=0
while :; do
  now=$(( $(date +%s) - begin ))
  [ "$now" -ge "$DURATION" ] && break
  event=
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "FAIL: loadtide exited at ${now}s"; exit 1
  fi
  if [ "$now" -ge "$next_reload" ]; then
    reloads=$(( reloads + 1 ))
    write_config $(( reloads % 2 == 1 ? 30 : 20 ))
    kill -HUP "$daemon_pid"
    next_reload=$(( next_reload + RELOAD_EVERY ))
    event+=" reload"
  fi
  if [ "$now" -ge "$next_bad" ]; then
    # Refused at reload: the running config (and its traffic) stays. The next good reload
    # writes a valid file again.
    write_config 20
    sed -i 's/^rate = 20$/rate = -1/' "$work/loadtide.toml"
    kill -HUP "$daemon_pid"
    bad=$(( bad + 1 ))
    next_bad=$(( next_bad + BAD_EVERY ))
    event+=" bad-reload"
  fi
  if [ "$now" -ge "$next_pause" ]; then
    curl -sf --max-time 5 -X POST "http://127.0.0.1:$LT_PORT/-/pause" >/dev/null \
      || { echo "FAIL: /-/pause did not answer at ${now}s"; exit 1; }
    sleep "$PAUSE_S"
    curl -sf --max-time 5 -X POST "http://127.0.0.1:$LT_PORT/-/resume" >/dev/null \
      || { echo "FAIL: /-/resume did not answer at ${now}s"; exit 1; }
    pauses=$(( pauses + 1 ))
    next_pause=$(( next_pause + PAUSE_EVERY ))
    event+=" pause-resume"
  fi
  if [ "$now" -ge "$next_restart" ]; then
    kill "$target_pid" 2>/dev/null || true; wait "$target_pid" 2>/dev/null || true
    sleep 2
    start_target
    restarts=$(( restarts + 1 ))
    next_restart=$(( next_restart + RESTART_EVERY ))
    event+=" target-restart"
  fi
  if [ "$now" -ge "$next_sample" ]; then
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status")
    fds=$(ls "/proc/$daemon_pid/fd" | wc -l)
    body=$(scrape) || { echo "FAIL: /metrics did not answer at ${now}s"; exit 1; }
    series=$(grep -vc '^#' <<<"$body")
    tasks=$(awk '/^loadtide_runtime_alive_tasks / {print $2}' <<<"$body")
    requests=$(awk '/^loadtide_request_duration_seconds_count/ {s += $2} END {printf "%d", s}' <<<"$body")
    printf '%6d %9d %5d %7d %6d %9d%s\n' "$now" "$rss" "$fds" "$series" "$tasks" "$requests" "$event"
    echo "$now $rss $fds $series $tasks $requests" >>"$samples"
    next_sample=$(( next_sample + SAMPLE_EVERY ))
  elif [ -n "$event" ]; then
    printf '%6d %48s\n' "$now" "$event"
  fi
  sleep 0.5
done

final=$(scrape)
reload_ok=$(awk '/^loadtide_config_reloads_total\{result="success"\}/ {print $2}' <<<"$final")
reload_bad=$(awk '/^loadtide_config_reloads_total\{result="failure"\}/ {print $2}' <<<"$final")
python3 - "$samples" "$WARMUP" "$reloads" "$restarts" "${reload_ok:-0}" "$RATE" "$bad" "${reload_bad:-0}" "$pauses" "$PAUSE_S" <<'PY'
import sys
path, warmup, reloads, restarts, reload_ok = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rate = float(sys.argv[6])
bad, reload_bad, pauses, pause_s = int(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
rows = [list(map(int, l.split())) for l in open(path) if l.strip()]
rows = [r for r in rows if r[0] >= warmup]
if len(rows) < 6:
    print(f"verdict: too few samples after the {warmup}s warmup ({len(rows)})"); sys.exit(1)
third = len(rows) // 3
first, last = rows[:third], rows[-third:]
# name, column, statistic of each third, allowed growth of the last third's over the first's
checks = [
    ("rss_kib", 1, max, lambda m: max(m * 0.2, 8 * 1024)),
    ("fds", 2, min, lambda m: m * 0.2 + 10),
    # New error kinds can appear late (a reset caught by one restart and not another):
    # a few lines, where a leak would add lines at every reload or restart.
    ("series", 3, max, lambda m: 12),
    ("tasks", 4, min, lambda m: m * 0.2 + 20),
]
flat = True
for name, col, stat, margin in checks:
    f = stat(r[col] for r in first)
    l = stat(r[col] for r in last)
    allowed = f + margin(f)
    ok = l <= allowed
    flat &= ok
    print(f"{name:8} first={rows[0][col]} last={rows[-1][col]} max={max(r[col] for r in rows)} "
          f"first-third {stat.__name__}={f} last-third {stat.__name__}={l} allowed={allowed:.0f} "
          f"{'flat' if ok else 'GROWING'}")
served = rows[-1][5] - rows[0][5]
secs = rows[-1][0] - rows[0][0]
print(f"requests after warmup: {served} in {secs}s ({served / max(secs, 1):.0f}/s); "
      f"reloads {reloads} (succeeded {reload_ok:.0f}), bad reloads {bad} (refused {reload_bad:.0f}), "
      f"pauses {pauses}, target restarts {restarts}")
if reload_ok < reloads:
    print("verdict: NOT OK: a reload failed"); sys.exit(1)
if reload_bad != bad:
    print("verdict: NOT OK: a bad reload was not refused"); sys.exit(1)
# Pauses stop traffic on purpose: they are left out of the time the rate is judged over.
secs = max(secs - pauses * pause_s, 1)
# A soak that quietly sent a fraction of its load would prove little: the main profile alone
# is RATE/s (the churn profile adds more); target restarts cost a few seconds of it.
if served < 0.9 * rate * secs:
    print(f"verdict: NOT OK: {served / max(secs, 1):.0f} req/s after warmup, under 90% of {rate:.0f}/s"); sys.exit(1)
print("verdict: " + ("flat" if flat else "NOT flat")); sys.exit(0 if flat else 1)
PY
