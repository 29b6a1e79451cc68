#!/usr/bin/env bash
# The HTML report in a real browser: runs `loadtide run` against the built-in demo target
# (`loadtide demo-target` on a free loopback port) with a rate ramp, a warmup, a windowed
# threshold that fails in its first windows (`rps>=35 over 2s` while the ramp is still low),
# and a 404 endpoint (errors by kind); then scripts/report-browser/check-report.mjs opens the
# report as file:// in headless Chromium (Debian's package, driven by playwright-core pinned in
# scripts/report-browser/package-lock.json and installed with `npm ci` into
# target/report-browser/) and checks it: no network request but the file, every chart drawn,
# thresholds PASSED/FAILED, the failing window listed and shaded; a full-page screenshot and a
# PDF are kept in target/report-browser/ (report.png, report.pdf). Then it starts `loadtide
# serve` on a three-profile config against the same demo target and has
# scripts/report-browser/check-status.mjs check the status page on `/` the same way (rows and
# states, sparklines drawn, rounding, plurals, self-refresh, nothing fetched; status.png).
# About 35 s after install.
# Usage: scripts/e2e-report-browser.sh [path/to/loadtide]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/loadtide}")
[ -x "$bin" ] || { echo "no loadtide binary at $bin (cargo build first)" >&2; exit 1; }

./scripts/ensure-chromium.sh
command -v npm >/dev/null 2>&1 || { echo "npm not found (apt-get install nodejs npm)" >&2; exit 1; }
tools=target/report-browser
mkdir -p "$tools"
if ! cmp -s scripts/report-browser/package-lock.json "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
  cp scripts/report-browser/package.json scripts/report-browser/package-lock.json "$tools/"
  (cd "$tools" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
cp scripts/report-browser/{harness,check-report,check-status}.mjs "$tools/"
rm -f "$tools/report.html" "$tools/report.png" "$tools/report.pdf" "$tools/status.png"

. scripts/e2e-common.sh
"$bin" demo-target --listen "127.0.0.1:$DEMO_PORT" >"$work/demo.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null && break
  sleep 0.1
done

cat >"$work/demo.toml" <<TOML
[targets.demo]
url = "http://127.0.0.1:$DEMO_PORT"
timeout = "5s"

[[targets.demo.endpoints]]
name = "list_items"
path = "/api/items"
weight = 19

[[targets.demo.endpoints]]
name = "missing"
path = "/no-such-page"
weight = 1
TOML

cat "$work/demo.toml" - >"$work/report.toml" <<TOML
[profiles.ramp]
target = "demo"
rate = { pattern = "ramp", from = 10, to = 80, over = "8s" }
duration = "8s"
warmup = "1s"
thresholds = ["p95<1s", "error_rate<20%", "rps>=35 over 2s"]
TOML

echo "== loadtide run: ramp 10 -> 80/s for 8 s against the demo target, report to $tools/report.html"
set +e
timeout 60 "$bin" run --config "$work/report.toml" --profile ramp --quiet \
  --report "$tools/report.html" --json "$tools/report.json" >"$work/run.txt" 2>"$work/loadtide.log"
rc=$?
set -e
cat "$work/run.txt"
[ "$rc" -eq 1 ] || { echo "expected exit 1 (the windowed threshold fails in the first window), got $rc" >&2; exit 1; }
grep -q "failing windows: 1–3 s" "$work/run.txt" || { echo "the text summary does not name the failing window 1–3 s" >&2; exit 1; }

echo "== Chromium $(chromium --version 2>/dev/null | awk '{print $2}'): the report as a person sees it"
(cd "$tools" && timeout 120 node check-report.mjs report.html .)

cat "$work/demo.toml" - >"$work/serve.toml" <<TOML
[profiles.browse]
target = "demo"
rate = 40

[profiles.one-user]
target = "demo"
endpoints = ["list_items"]
users = 1

[profiles.nightly]
target = "demo"
endpoints = ["list_items"]
rate = 5
schedule = { start = "2099-01-01" }
TOML

echo "== loadtide serve on three profiles; the status page on / in Chromium"
timeout 120 "$bin" serve --config "$work/serve.toml" --web.listen-address "127.0.0.1:$LT_PORT" \
  >"$work/serve.out" 2>"$work/loadtide.log" &
pids+=($!)
# Two snapshots (5 s apart) give the page its last minute and sparklines.
for _ in $(seq 150); do
  page=$(curl -sf "http://127.0.0.1:$LT_PORT/" 2>/dev/null || true)
  grep -q '<tr data-profile="browse">.*<polyline' <<<"$page" &&
    grep -q '<tr data-profile="one-user">.*<polyline' <<<"$page" && break
  sleep 0.1
done
(cd "$tools" && timeout 120 node check-status.mjs "http://127.0.0.1:$LT_PORT/" . \
  browse=active one-user=active nightly=idle)
