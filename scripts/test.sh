#!/usr/bin/env bash
# Runs every check: formatting, clippy, unit and integration tests (which start their own
# servers on 127.0.0.1), and promtool on a real scrape. Installs what the tests need
# (Debian packages: prometheus for promtool, redis-server and postgresql for the Redis and
# PostgreSQL tests; mdbook, with cargo install, for the manual in docs/) when missing. Ends
# with a bounded cargo-fuzz run of every fuzz target (~6.5 min, FUZZ=0 skips it) and a
# compressed soak (scripts/soak.sh, ~2.5 min).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-prometheus.sh
./scripts/ensure-redis.sh
./scripts/ensure-postgres.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
echo "== docs: mdbook build docs (into target/book; tests/docs.rs checks the pages against the code)"
mdbook="$(./scripts/ensure-mdbook.sh)"
"$mdbook" build docs
echo "== packaging: Dockerfile, systemd unit, docker compose, Kubernetes manifests"
./scripts/check-packaging.sh target/debug/loadtide
echo "== Prometheus rules: promtool check rules/config, promtool test rules"
./scripts/check-rules.sh
echo "== dashboards: conventions and Grafana's dashboard schema"
./scripts/check-dashboards.sh
echo "== end to end: a real Prometheus scraping loadtide evaluates every dashboard and rule expression"
./scripts/e2e-prometheus.sh target/debug/loadtide
echo "== end to end: a real Prometheus scrapes loadtide over TLS with basic auth (--web.config.file)"
./scripts/e2e-web-config.sh target/debug/loadtide
echo "== end to end: the HTML report in headless Chromium (charts drawn, failing window marked, nothing fetched)"
./scripts/e2e-report-browser.sh target/debug/loadtide
# A bounded coverage-guided run of every fuzz target (cargo-fuzz, built without ASan: ~5 min
# cold, then FUZZ_SECONDS each). FUZZ=0 skips it; tests/fuzz_smoke.rs covers the same targets
# on stable within cargo test either way.
if [ "${FUZZ:-1}" != 0 ]; then
  echo "== fuzz: every target for ${FUZZ_SECONDS:-15} s (cargo-fuzz, RUSTC_BOOTSTRAP=1)"
  ./scripts/fuzz-ci.sh
fi
echo "== soak, compressed: 150 s at 1000 req/s with reloads, bad reloads, pauses, target restarts and compressed schedules; RSS, fds, series and tasks must stay flat"
SOAK_CI=1 LOADTIDE_BIN=target/debug/loadtide ./scripts/soak.sh
# Fault cases this machine could not run (no netns, not root, no sch_netem) say so here, so a
# skip is never read as a pass.
if compgen -G "target/tmp/netfaults/*.skipped" >/dev/null; then
  echo "== skipped network fault cases (tests/netfaults.rs):"
  cat target/tmp/netfaults/*.skipped
fi
