#!/usr/bin/env bash
# bench/h2.sh — loadtide against h2load (nghttp2) over HTTP/2 on the same nginx, same
# connections × streams, in one run.
#
#   bench/h2.sh                              # 3 reps of 10 s per mode (tls, h2c), ~3 min plus the build
#   REPS=1 SECONDS_EACH=3 bench/h2.sh        # smoke
#   MODES=tls STREAMS=100 bench/h2.sh        # HTTPS only, 100 streams
#
# The server is Debian's nginx (nginx-light), one worker, serving a 100-byte static file from a
# temp dir, run in the foreground (daemon off) as a child of this script and stopped by PID:
#   tls: `listen 127.0.0.1:$TLS_PORT ssl http2` with a self-signed EC certificate (openssl),
#        ALPN h2 (on nginx >= 1.25.1: `listen ... ssl; http2 on;`);
#   h2c: `listen 127.0.0.1:$H2C_PORT http2` (nginx >= 1.25.1: `http2 on;`), cleartext HTTP/2
#        with prior knowledge;
#   and a plain HTTP/1.1 listener on 127.0.0.1:$STATUS_PORT for stub_status, read before and
#   after each run to count the connections each tool opened.
# nginx runs on CPU $SERVER_CPU, each generator on CPU $GEN_CPU (taskset). Alternates, REPS
# times per mode:
#   h2load   -c $CONNS -m $STREAMS -D $SECONDS_EACH -t 1 URL
#   loadtide run --url URL --http2 [--insecure] --concurrency $((CONNS*STREAMS))
#                [--spawn-rate 20 --warmup RAMP_S] --duration $((SECONDS_EACH+RAMP_S))s
# loadtide has no connection count for HTTP/2: a target's requests share one multiplexed
# connection, which is set up by the first request. Users that start before that handshake has
# finished each open a connection of their own and keep it (`--http2 -c 50` started at once
# opens 50 connections of one stream each), so:
#   CONNS=1 (default): h2load 1 connection × STREAMS streams; loadtide STREAMS users with
#     --spawn-rate 20 (users join in 50-ms ticks, so 20/s is one per tick: the first user's
#     connection is up before the second starts) and --warmup RAMP_S (default: the ramp plus
#     1 s), so its summary covers SECONDS_EACH s with all users on one connection; its CPU per
#     100k requests divides the whole run's CPU by every request of its timeline, ramp included;
#   STREAMS=1: h2load CONNS connections × 1 stream; loadtide CONNS users started at once, so
#     each opens its own connection;
#   anything else has no loadtide equivalent (the script warns and runs it anyway).
# The conns column shows what each tool really opened (nginx's accepted-connection counter).
# h2load prints no percentiles, and its --log-file costs it a write per request, so the reps
# run without it; after them one extra h2load run per mode ("h2load+log") writes the log, and
# its p50/p99 are computed from that (its own rps and CPU show what the log costs).
# Before each run it waits (up to QUIET_MAX_S) for the machine to be at most QUIET_PCT % busy,
# and it repeats a run (up to NOISY_RETRIES times) in which other processes used more than
# 0.1 CPU; the noisy column counts the runs kept anyway.
# Prints per run req/s, p50/p99, the generator's CPU seconds per 100k requests (GNU time,
# user + sys), peak RSS, nginx's CPU, then medians, the same-run ratios loadtide/h2load, and
# as the LAST line
#   loadtide_rps/h2load_rps (h2 MODE, c=C m=M): R (loadtide N rps vs h2load M rps; cpu-s/100k X)
# for the first of MODES. Only 127.0.0.1 is used; every generator run is bounded by `timeout`
# and the whole script by TOTAL_TIMEOUT; everything started here is stopped by PID on exit.
#
# Knobs (env): REPS(3) SECONDS_EACH(10) CONNS(1) STREAMS(50) MODES("tls h2c") SERVER_CPU(0)
#   GEN_CPU(1) SPAWN_RATE(20 when CONNS=1, else all at once) RAMP_S(CONNS=1: users/20 + 1 s, else 0)
#   TLS_PORT(18443) H2C_PORT(18444) STATUS_PORT(18445) LOADTIDE_BIN(built)
#   H2LOAD_LOG(1; 0 skips the h2load+log run) QUIET_PCT(8) QUIET_MAX_S(60) NOISY_RETRIES(2)
#   INSTALL(1)
#   TOTAL_TIMEOUT(1800 s) BUILD_TIMEOUT(3600 s) OUT_DIR(/tmp/loadtide-bench/h2-DATE)
set -euo pipefail

: "${TOTAL_TIMEOUT:=1800}"
if [ -z "${LOADTIDE_H2_INNER:-}" ]; then
  # the whole run, build included, under one outer bound; TERM reaches the trap below
  exec env LOADTIDE_H2_INNER=1 timeout -k 15 "$TOTAL_TIMEOUT" bash "$0" "$@"
fi
cd "$(dirname "$0")/.."

: "${REPS:=3}" "${SECONDS_EACH:=10}" "${CONNS:=1}" "${STREAMS:=50}" "${MODES:=tls h2c}"
: "${SERVER_CPU:=0}" "${GEN_CPU:=1}"
: "${TLS_PORT:=18443}" "${H2C_PORT:=18444}" "${STATUS_PORT:=18445}"
: "${H2LOAD_LOG:=1}" "${QUIET_PCT:=8}" "${QUIET_MAX_S:=60}" "${NOISY_RETRIES:=2}" "${INSTALL:=1}" "${BUILD_TIMEOUT:=3600}"
: "${OUT_DIR:=/tmp/loadtide-bench/h2-$(date +%Y%m%d-%H%M%S)}"
USERS=$((CONNS * STREAMS))
SPAWN=()
if [ "$CONNS" = 1 ]; then
  SPAWN=(--spawn-rate "${SPAWN_RATE:-20}")
  : "${RAMP_S:=$(( (USERS + 19) / 20 + 1 ))}"
elif [ "$STREAMS" != 1 ]; then
  echo "warning: loadtide cannot open $CONNS HTTP/2 connections of $STREAMS streams each; its $USERS users share one connection or open one each" >&2
fi
[ -n "${SPAWN_RATE:-}" ] && SPAWN=(--spawn-rate "$SPAWN_RATE")
: "${RAMP_S:=0}"
[ "$RAMP_S" -gt 0 ] && SPAWN+=(--warmup "${RAMP_S}s")

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# ---- what is missing (apt; INSTALL=0 forbids it) ------------------------------
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing ${need[*]} (INSTALL=0: not installing)"
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  log "apt-get install ${need[*]}"
  "${SUDO[@]}" apt-get update -q >&2 || true
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
    || die "apt-get install ${need[*]} failed"
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
H2LOAD_BIN=$(command -v h2load)

LOADTIDE_BIN=${LOADTIDE_BIN:-}
if [ -z "$LOADTIDE_BIN" ]; then
  log "building loadtide (release, --locked, CARGO_TARGET_DIR=/tmp/loadtide-bench-target)"
  CARGO_TARGET_DIR=/tmp/loadtide-bench-target timeout --foreground "$BUILD_TIMEOUT" \
    cargo build --release --locked -q || die "loadtide build failed"
  LOADTIDE_BIN=/tmp/loadtide-bench-target/release/loadtide
fi
[ -x "$LOADTIDE_BIN" ] || die "LOADTIDE_BIN=$LOADTIDE_BIN is not executable"
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs; server and generator share CPU $SERVER_CPU" >&2
  GEN_CPU=$SERVER_CPU
fi

# ---- processes we start (stopped by PID, never by name) ------------------------
server=""
gen=""
cleanup() {
  local p _
  for p in $gen $server; do
    kill -TERM "$p" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'echo "bench/h2.sh: interrupted" >&2; exit 130' INT TERM
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$OUT_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
work="$OUT_DIR/nginx"
mkdir -p "$work/www" "$work/tmp"
head -c 99 /dev/zero | tr '\0' 'a' > "$work/www/hello.txt"; echo >> "$work/www/hello.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" || die "openssl failed (see $work/openssl.log)"

# nginx 1.25.1 moved http2 from a listen parameter to `http2 on;` (and the parameter is
# deprecated there); both give h2c with prior knowledge on a listener without ssl.
NGINX_VERSION=$("$NGINX_BIN" -v 2>&1 | sed -n 's#.*nginx/\([0-9.]*\).*#\1#p')
if printf '%s\n' 1.25.1 "$NGINX_VERSION" | sort -V -C; then
  TLS_LISTEN="listen 127.0.0.1:$TLS_PORT ssl backlog=4096; http2 on;"
  H2C_LISTEN="listen 127.0.0.1:$H2C_PORT backlog=4096; http2 on;"
else
  TLS_LISTEN="listen 127.0.0.1:$TLS_PORT ssl http2 backlog=4096;"
  H2C_LISTEN="listen 127.0.0.1:$H2C_PORT http2 backlog=4096;"
fi
MAX_STREAMS=$(( STREAMS > 128 ? STREAMS : 128 ))
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx.pid;
error_log $work/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body; proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi; uwsgi_temp_path $work/tmp/uwsgi; scgi_temp_path $work/tmp/scgi;
  # sendfile off: with it, nginx 1.22 writes an h2c DATA frame's header and then sendfile()s
  # the body, and a connection carrying one stream at a time stalls ~40 ms per response
  # (h2load -c 50 -m 1 h2c: ~1,000 req/s at p50 ~47 ms with it, ~10,000 without)
  sendfile off; tcp_nopush on; tcp_nodelay on;
  # keepalive_requests also bounds the requests of an HTTP/2 connection (default 1000)
  keepalive_timeout 75s; keepalive_requests 100000000;
  http2_max_concurrent_streams $MAX_STREAMS;
  open_file_cache max=64 inactive=60s; open_file_cache_valid 60s;
  server_tokens off; default_type text/plain;
  ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  server { $TLS_LISTEN root $work/www; location / { try_files \$uri =404; } }
  server { $H2C_LISTEN root $work/www; location / { try_files \$uri =404; } }
  server { listen 127.0.0.1:$STATUS_PORT; location = /status { stub_status; } }
}
EOF
for p in "$TLS_PORT" "$H2C_PORT" "$STATUS_PORT"; do
  port_open "$p" && die "127.0.0.1:$p is already in use (not ours; not touching it)"
done
"$NGINX_BIN" -t -p "$work" -c "$work/nginx.conf" -e "$work/error.log" 2>"$work/test.log" \
  || { cat "$work/test.log" >&2; die "nginx -t failed"; }
taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" 2>"$work/stderr.log" &
server=$!
for _ in $(seq 100); do port_open "$STATUS_PORT" && port_open "$TLS_PORT" && break; sleep 0.1; done
port_open "$TLS_PORT" || { cat "$work/error.log" "$work/stderr.log" >&2; die "nginx did not come up"; }

accepts() {  # nginx's accepted-connection counter (stub_status), this request's own included
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$STATUS_PORT" || { echo 0; return; }
  printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  line=$(timeout 5 cat <&3 | awk 'f { print $1; exit } /accepts handled requests/ { f = 1 }')
  exec 3>&-
  echo "${line:-0}"
}
proc_ticks() {  # utime+stime of nginx's master and its worker, in ticks
  local total=0 p f
  # shellcheck disable=SC2046  # word splitting of the child list is intended
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    f=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    total=$((total + f))
  done
  echo "$total"
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
wait_quiet() {  # until the machine is at most QUIET_PCT % busy, at most QUIET_MAX_S s
  local waited=0 a b busy
  while :; do
    a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
    busy=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = 0;
      for (i = 2; i <= 9; i++) t += y[i] - x[i]; id = (y[5] - x[5]) + (y[6] - x[6]);
      printf "%.1f", (t > 0 ? 100 * (t - id) / t : 0) }')
    awk -v b="$busy" -v t="$QUIET_PCT" 'BEGIN { exit !(b <= t) }' && return 0
    [ "$waited" -ge "$QUIET_MAX_S" ] && { echo "  warning: machine ${busy}% busy; running anyway" >&2; return 0; }
    [ "$waited" -eq 0 ] && echo "  waiting for foreign load to settle (machine ${busy}% busy)..." >&2
    sleep 1; waited=$((waited + 2))
  done
}

# measure_once TOOL MODE REP PREFIX CMD...: one run on GEN_CPU; writes PREFIX.rec (JSON)
RESULTS="$OUT_DIR/results.jsonl"
: > "$RESULTS"
measure_once() {
  local tool=$1 mode=$2 rep=$3 prefix=$4 rc=0 a0 a1 s0 s1 b0 b1 t0 t1
  shift 4
  printf '%q ' "$@" > "$prefix.cmd"; echo >> "$prefix.cmd"
  wait_quiet
  a0=$(accepts); s0=$(proc_ticks "$server"); b0=$(busy_ticks); t0=$(date +%s.%N)
  timeout -k 5 $((SECONDS_EACH + 30)) taskset -c "$GEN_CPU" \
    /usr/bin/time -f '%e %U %S %M' -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err" &
  gen=$!
  wait "$gen" || rc=$?
  gen=""
  t1=$(date +%s.%N); s1=$(proc_ticks "$server"); b1=$(busy_ticks); a1=$(accepts)
  [ "$rc" -le 1 ] || echo "  ($tool exited with status $rc; see $prefix.err)" >&2
  python3 - "$tool" "$mode" "$rep" "$prefix" "$rc" "$a0" "$a1" "$s0" "$s1" "$b0" "$b1" "$t0" "$t1" \
    "$CLK_TCK" > "$prefix.rec" <<'PY'
import json, os, re, sys
tool, mode, rep, prefix, rc = sys.argv[1:6]
a0, a1, s0, s1, b0, b1 = map(int, sys.argv[6:12])
t0, t1, tck = float(sys.argv[12]), float(sys.argv[13]), int(sys.argv[14])
r = {"tool": tool, "mode": mode, "rep": int(rep), "rc": int(rc), "ok": False,
     "conns": a1 - a0 - 1}  # minus the second status request itself
wall = t1 - t0
try:
    e, u, s, m = open(prefix + ".time").read().split("\n")[-2].split()
    r.update(gen_wall=float(e), cpu_s=float(u) + float(s), rss_kb=int(m))
except (OSError, ValueError, IndexError):
    pass
r["srv_util"] = (s1 - s0) / tck / wall
try:
    if tool.startswith("h2load"):
        t = open(prefix + ".out").read()
        m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", t)
        dur = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        m2 = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", t)
        done, ok = int(m2.group(3)), int(m2.group(4))
        r.update(requests=done, errors=done - ok + int(m2.group(6)), rps=done / dur)
        m3 = re.search(r"Cipher: (\S+)", t)
        if m3:
            r["cipher"] = m3.group(1)
        m4 = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", t)
        if m4:
            r["mean"] = float(m4.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1}[m4.group(2)]
        try:
            lat = sorted(int(l.split("\t")[2]) for l in open(prefix + ".log") if l.strip())
            if lat:
                q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6
                r.update(p50=q(0.5), p99=q(0.99), log_rows=len(lat))
        except OSError:
            pass
    else:
        d = json.load(open(prefix + ".json"))
        lat = d.get("latency") or {}
        r.update(requests=int(d["requests"]), errors=int(d.get("errors", 0)), rps=float(d["rps"]),
                 p50=lat.get("p50"), p99=lat.get("p99"), mean=lat.get("mean"),
                 warmup_s=d.get("warmup_s"))
        # with --warmup the summary leaves the ramp out; the CPU covers the whole run
        r["requests_all"] = sum(int(x.get("requests", 0)) for x in d.get("timeline") or []) or r["requests"]
    r["ok"] = r["requests"] > 0
except Exception as ex:  # a failed run is recorded, not fatal
    r["note"] = f"{type(ex).__name__}: {ex}"
busy = (b1 - b0) / tck
ours = r.get("cpu_s", 0) + (s1 - s0) / tck
r["foreign_cpu"] = max(0.0, busy - ours) / wall
r["noisy"] = r["foreign_cpu"] > float(os.environ.get("NOISE_FOREIGN_CPU", "0.10"))
if r["ok"] and r.get("cpu_s") is not None:
    r["cpu_s_per_100k"] = r["cpu_s"] / r.get("requests_all", r["requests"]) * 1e5
print(json.dumps(r, sort_keys=True))
PY
  python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
f = lambda k, fmt, s=1: (fmt % (r[k] * s)) if r.get(k) is not None else "n/a"
print("  %s %s rep %d: %s req/s, p50 %s ms, p99 %s ms, %s cpu-s/100k, %s MiB, %s conns, %s errors, nginx %s%s"
      % (r["mode"], r["tool"], r["rep"], f("rps", "%.0f"), f("p50", "%.3f", 1e3), f("p99", "%.3f", 1e3),
         f("cpu_s_per_100k", "%.3f"), f("rss_kb", "%.1f", 1 / 1024), r.get("conns"), r.get("errors", "n/a"),
         f("srv_util", "%.0f%%", 100), " (noisy)" if r.get("noisy") else ""), file=sys.stderr)' < "$prefix.rec"
  sleep 1
}
# measure TOOL MODE REP CMD...: measure_once, repeated (up to NOISY_RETRIES times) while other
# processes used more than 0.1 CPU during the run; the last attempt goes into $RESULTS.
# @PREFIX@ in CMD becomes the attempt's file prefix.
measure() {
  local tool=$1 mode=$2 rep=$3 attempt=0 prefix
  shift 3
  while :; do
    prefix="$OUT_DIR/$mode-$tool-$rep-a$attempt"
    log "$mode $tool rep $rep$([ "$attempt" -gt 0 ] && echo " (attempt $attempt)")"
    measure_once "$tool" "$mode" "$rep" "$prefix" "${@//@PREFIX@/$prefix}"
    if grep -q '"noisy": true' "$prefix.rec" && [ "$attempt" -lt "$NOISY_RETRIES" ]; then
      attempt=$((attempt + 1)); echo "  foreign CPU load during the run; repeating it" >&2; continue
    fi
    cat "$prefix.rec" >> "$RESULTS"
    return 0
  done
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm); cpus: $(nproc); model:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null)"
  echo "knobs: REPS=$REPS SECONDS_EACH=$SECONDS_EACH CONNS=$CONNS STREAMS=$STREAMS MODES='$MODES' SERVER_CPU=$SERVER_CPU GEN_CPU=$GEN_CPU loadtide spawn: ${SPAWN[*]:-all at once}"
  echo "loadtide: $LOADTIDE_BIN ($("$LOADTIDE_BIN" --version 2>&1 | head -1))"
  echo "h2load: $H2LOAD_BIN ($("$H2LOAD_BIN" --version 2>&1 | head -1))"
  echo "nginx: $NGINX_BIN ($NGINX_VERSION)"
} > "$OUT_DIR/meta.txt"
log "raw outputs: $OUT_DIR"

for mode in $MODES; do
  case $mode in
    tls) url="https://127.0.0.1:$TLS_PORT/hello.txt"; lt_extra=(--insecure) ;;
    h2c) url="http://127.0.0.1:$H2C_PORT/hello.txt"; lt_extra=() ;;
    *) echo "unknown mode $mode; skipped" >&2; continue ;;
  esac
  for rep in $(seq "$REPS"); do
    measure h2load "$mode" "$rep" "$H2LOAD_BIN" -c "$CONNS" -m "$STREAMS" -D "$SECONDS_EACH" -t 1 "$url"
    measure loadtide "$mode" "$rep" "$LOADTIDE_BIN" run --url "$url" --http2 "${lt_extra[@]}" \
      --concurrency "$USERS" "${SPAWN[@]}" --duration "$((SECONDS_EACH + RAMP_S))s" --quiet --json @PREFIX@.json
  done
  if [ "$H2LOAD_LOG" = 1 ]; then
    measure h2load+log "$mode" 1 "$H2LOAD_BIN" -c "$CONNS" -m "$STREAMS" -D "$SECONDS_EACH" -t 1 \
      --log-file @PREFIX@.log "$url"
  fi
done

python3 - "$RESULTS" "$CONNS" "$STREAMS" "$SECONDS_EACH" "$REPS" "$MODES" <<'PY' | tee "$OUT_DIR/report.txt"
import json, statistics, sys
path, conns, streams, secs, reps, modes = sys.argv[1:7]
recs = [json.loads(l) for l in open(path) if l.strip()]
def med(rs, k):
    v = [r[k] for r in rs if r.get("ok") and r.get(k) is not None]
    return statistics.median(v) if v else None
def rng(rs, k):
    v = [r[k] for r in rs if r.get("ok") and r.get(k) is not None]
    return f"{min(v):,.0f}–{max(v):,.0f}" if v else "n/a"
def n(x, fmt="{:,.0f}"):
    return "n/a" if x is None else fmt.format(x)
print(f"== loadtide vs h2load, HTTP/2 on nginx (1 worker, 100-byte file): h2load -c {conns} -m {streams}, "
      f"loadtide {int(conns) * int(streams)} closed-model users; {secs} s; {reps} reps; medians ==")
hdr = ["mode", "tool", "ok", "req/s", "min–max", "cpu-s/100k", "p50 ms", "p99 ms", "mean ms",
       "RSS MiB", "conns", "errors", "nginx cpu", "noisy"]
rows = []
groups = {}
for r in recs:
    groups.setdefault((r["mode"], r["tool"]), []).append(r)
for (mode, tool), rs in groups.items():
    rows.append([mode, tool, f"{sum(1 for r in rs if r.get('ok'))}/{len(rs)}", n(med(rs, "rps")),
                 rng(rs, "rps"), n(med(rs, "cpu_s_per_100k"), "{:.3f}"),
                 n(med(rs, "p50") and med(rs, "p50") * 1e3, "{:.3f}"),
                 n(med(rs, "p99") and med(rs, "p99") * 1e3, "{:.3f}"),
                 n(med(rs, "mean") and med(rs, "mean") * 1e3, "{:.3f}"),
                 n(med(rs, "rss_kb") and med(rs, "rss_kb") / 1024, "{:.1f}"),
                 n(med(rs, "conns")), n(med(rs, "errors")),
                 n(med(rs, "srv_util") and med(rs, "srv_util") * 100, "{:.0f}%"),
                 str(sum(1 for r in rs if r.get("noisy")))])
w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)] if rows else [len(h) for h in hdr]
print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
print("  ".join("-" * x for x in w))
for r in rows:
    print("  ".join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(r)))
print("(h2load prints no percentiles: its p50/p99 come from the h2load+log run's --log-file; "
      "conns = connections nginx accepted during the run)")
print("-- same-run ratios, loadtide / h2load (medians) --")
last = None
for mode in modes.split():
    lt, h2 = groups.get((mode, "loadtide"), []), groups.get((mode, "h2load"), [])
    a, b = med(lt, "rps"), med(h2, "rps")
    c, d = med(lt, "cpu_s_per_100k"), med(h2, "cpu_s_per_100k")
    if not (a and b):
        print(f"{mode}: no successful pair")
        continue
    line = f"{mode:4}: req/s {a / b:.3f} ({a:,.0f} vs {b:,.0f})"
    if c and d:
        line += f"  cpu-s/100k {c / d:.2f} ({c:.3f} vs {d:.3f})"
    print(line)
    if last is None:
        last = (f"loadtide_rps/h2load_rps (h2 {mode}, c={conns} m={streams}): {a / b:.3f} "
                f"(loadtide {a:,.0f} rps vs h2load {b:,.0f} rps; cpu-s/100k {c or 0:.3f} vs {d or 0:.3f})")
print("raw outputs: " + path.rsplit("/", 1)[0])
print(last or "loadtide: no successful loadtide/h2load pair")
PY
