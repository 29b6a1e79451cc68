#!/usr/bin/env bash
# Checks the bundled Prometheus config and rules with promtool:
#   - promtool check rules   on config/prometheus/{recording,alerts}.rules.yml (syntax + lint)
#   - promtool check config  on config/prometheus/prometheus.yml and prometheus-compose.yml (the
#                            docker compose stack's; it also loads the rule files, resolved
#                            relative to the config file's directory)
#   - promtool test rules    on config/prometheus/tests/*.yml (unit tests for every alert)
# Exits non-zero on the first failure. Installs Debian's prometheus package (for promtool) when
# promtool is missing, as scripts/test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-prometheus.sh

dir=config/prometheus
echo "== $(promtool --version 2>&1 | head -n1)"

echo "== promtool check rules"
promtool check rules "$dir/recording.rules.yml" "$dir/alerts.rules.yml"

echo "== promtool check config"
promtool check config "$dir/prometheus.yml"
promtool check config "$dir/prometheus-compose.yml"

echo "== promtool test rules"
shopt -s nullglob
tests=("$dir"/tests/*.yml)
if [ "${#tests[@]}" -eq 0 ]; then
  echo "no rule unit tests found in $dir/tests" >&2
  exit 1
fi
promtool test rules "${tests[@]}"

echo "== all Prometheus rule checks passed"
