#!/usr/bin/env bash
# End-to-end check of `--web.config.file` with a real Prometheus:
#   1. makes a self-signed certificate for 127.0.0.1 (openssl) and a web-config.yml requiring
#      it and basic auth, and checks the file with `promtool check web-config`,
#   2. starts `loadtide serve` with it (bundled config, demo target on a free loopback port),
#   3. starts Prometheus on 127.0.0.1 scraping loadtide over HTTPS (trusting the certificate
#      through `tls_config.ca_file`) with basic auth, plus a second job with a wrong password,
#   4. waits for `up{job="loadtide"} == 1` and loadtide's own series in Prometheus, and for
#      the wrong-password job to be down with a 401.
# Fails on anything else.
#
# Usage: scripts/e2e-web-config.sh [path/to/loadtide]   (default target/debug/loadtide)
# Everything listens on 127.0.0.1 only, runs under `timeout`, and is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/debug/loadtide}
[ -x "$BIN" ] || { echo "loadtide binary not found or not executable: $BIN (run cargo build)" >&2; exit 2; }
LIMIT=${E2E_TIMEOUT:-60}   # seconds any started process may live
command -v openssl >/dev/null || { echo "openssl is needed to make the test certificate" >&2; exit 2; }

./scripts/ensure-prometheus.sh

# shellcheck source=scripts/e2e-common.sh
source scripts/e2e-common.sh
echo "== ports: loadtide https://127.0.0.1:$LT_PORT, demo target 127.0.0.1:$DEMO_PORT, prometheus 127.0.0.1:$PROM_PORT"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=loadtide e2e" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/loadtide.key" -out "$work/loadtide.crt" 2>/dev/null
# The bcrypt hash (cost 10) of the password below; a test fixture, not a secret.
PASSWORD=e2e-scrape-password
HASH='$2b$10$Dbe0C4cbYO4ACdMBOpDIrOXkZ5z/cpcioa5Hn653unOh1Y3aPpyRS'
printf '%s\n' "$PASSWORD" >"$work/password"
printf 'wrong\n' >"$work/wrong-password"
cat >"$work/web-config.yml" <<YML
tls_server_config:
  cert_file: loadtide.crt
  key_file: loadtide.key
basic_auth_users:
  prometheus: '$HASH'
YML
echo "== promtool check web-config"
promtool check web-config "$work/web-config.yml"

LOADTIDE_DEMO_TARGET__LISTEN="127.0.0.1:$DEMO_PORT" \
LOADTIDE_TARGETS__DEMO__URL="http://127.0.0.1:$DEMO_PORT" \
LOADTIDE_TARGETS__CHAT__URL="ws://127.0.0.1:$DEMO_PORT/ws" \
  timeout "$LIMIT" "$BIN" serve --config config/loadtide.toml --web.listen-address "127.0.0.1:$LT_PORT" \
  --web.config.file "$work/web-config.yml" >"$work/loadtide.log" 2>&1 &
pids+=($!)

cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: loadtide
    scheme: https
    tls_config:
      ca_file: $work/loadtide.crt
    basic_auth:
      username: prometheus
      password_file: $work/password
    static_configs:
      - targets: ["127.0.0.1:$LT_PORT"]
  - job_name: loadtide-wrong-password
    scheme: https
    tls_config:
      ca_file: $work/loadtide.crt
    basic_auth:
      username: prometheus
      password_file: $work/wrong-password
    static_configs:
      - targets: ["127.0.0.1:$LT_PORT"]
YML
promtool check config "$work/prometheus.yml" >/dev/null
mkdir -p "$work/data"
timeout "$LIMIT" prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$work/prometheus.log" 2>&1 &
pids+=($!)

echo "== $(prometheus --version 2>&1 | head -n1)"
python3 - "http://127.0.0.1:$PROM_PORT" <<'PY'
import json, sys, time, urllib.parse, urllib.request

PROM = sys.argv[1]
DEADLINE = time.monotonic() + 45

def api(path, **params):
    url = PROM + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]

def wait(what, ok):
    last = None
    while time.monotonic() < DEADLINE:
        try:
            last = ok()
            if last is True:
                print("== ok: " + what, flush=True)
                return
        except OSError as e:
            last = e
        time.sleep(0.5)
    sys.exit("FAIL: timed out waiting for %s (last: %s)" % (what, last))

def value(expr):
    r = api("/api/v1/query", query=expr)["result"]
    return float(r[0]["value"][1]) if r else None

def target(job):
    ts = [t for t in api("/api/v1/targets")["activeTargets"] if t["labels"]["job"] == job]
    return ts[0] if ts else {}

wait('up{job="loadtide"} == 1 over HTTPS with basic auth',
     lambda: value('up{job="loadtide"}') == 1 or target("loadtide").get("lastError"))
wait("loadtide's own series scraped (loadtide_build_info, loadtide_paused)",
     lambda: value('loadtide_build_info{job="loadtide"}') == 1 and value('loadtide_paused{job="loadtide"}') == 0)
wait("requests recorded", lambda: (value('sum(loadtide_request_duration_seconds_count{job="loadtide"})') or 0) > 0)
wait('the wrong password is refused (up{job="loadtide-wrong-password"} == 0, 401)',
     lambda: value('up{job="loadtide-wrong-password"}') == 0
     and "401" in target("loadtide-wrong-password").get("lastError", ""))
print("== e2e: Prometheus scrapes loadtide over TLS with basic auth")
PY
