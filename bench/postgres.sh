#!/usr/bin/env bash
# bench/postgres.sh — loadtide against pgbench on the same PostgreSQL, same statement, same
# concurrency, in one run.
#
#   bench/postgres.sh                       # 3 reps of 15 s, ~3 min
#   REPS=1 SECONDS_EACH=5 bench/postgres.sh # smoke
#   MODE=tpcb bench/postgres.sh             # pgbench's TPC-B-like transaction instead
#
# It initialises a throwaway cluster in a temp dir (Debian's postgresql; as the postgres user
# when run as root) on 127.0.0.1:$PORT, fills it with `pgbench -i -s 10` (1M accounts), then
# alternates, REPS times each:
#   pgbench  -c $CLIENTS -j 1 -T $SECONDS_EACH -S -M prepared   (select-only, prepared)
#   loadtide run: closed model, $CLIENTS users, the same SELECT as a prepared statement with a
#            random aid, for $SECONDS_EACH s
# With MODE=tpcb both run pgbench's built-in "tpcb-like" transaction instead (BEGIN; three
# UPDATEs, a SELECT and an INSERT with random aid/bid/tid/delta; END): pgbench without -S,
# loadtide as a `transaction` endpoint whose `vars` draw the same four numbers per request.
# The server runs on CPU $SERVER_CPU, each generator on CPU $GEN_CPU (taskset). Prints per run
# requests/s and the generator's CPU seconds per 10k requests (GNU time), then medians and the
# ratios loadtide/pgbench. Everything started here is stopped on exit; only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
SECONDS_EACH=${SECONDS_EACH:-15}
CLIENTS=${CLIENTS:-8}
PORT=${PORT:-55432}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}

./scripts/ensure-postgres.sh
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
LOADTIDE_BIN=${LOADTIDE_BIN:-}
if [ -z "$LOADTIDE_BIN" ]; then
  CARGO_TARGET_DIR=/tmp/loadtide-bench-target cargo build --release --locked -q
  LOADTIDE_BIN=/tmp/loadtide-bench-target/release/loadtide
fi

work=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$work"
cleanup() { as_pg "$BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

as_pg "$BIN/initdb" -A trust -U postgres --no-sync -D "$work/data" >/dev/null
as_pg taskset -c "$SERVER_CPU" "$BIN/pg_ctl" -w -l "$work/log" -D "$work/data" \
  -o "-h 127.0.0.1 -p $PORT -k $work -F -c max_connections=100 -c shared_buffers=256MB" start >/dev/null
"$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1

MODE=${MODE:-select}
case "$MODE" in
  select) pgbench_mode=(-S) ;;
  tpcb) pgbench_mode=() ;;
  *) echo "MODE must be select or tpcb, got $MODE" >&2; exit 2 ;;
esac
{
  cat <<TOML
[targets.pg]
url = "postgres://127.0.0.1:$PORT/postgres"
max_connections = $CLIENTS
TOML
  if [ "$MODE" = select ]; then
    cat <<'TOML'
[[targets.pg.endpoints]]
name = "select"
query = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
params = ["{{ random_int(1, 1000000) }}"]
TOML
  else
    # Scale 10: 1M accounts, 10 branches, 100 tellers, as pgbench -i -s 10 made them.
    cat <<'TOML'
[[targets.pg.endpoints]]
name = "tpcb"
vars = { aid = "{{ random_int(1, 1000000) }}", bid = "{{ random_int(1, 10) }}", tid = "{{ random_int(1, 100) }}", delta = "{{ random_int(-5000, 5000) }}" }
transaction = [
  { query = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", params = ["{{ delta }}", "{{ aid }}"] },
  { query = "SELECT abalance FROM pgbench_accounts WHERE aid = $1", params = ["{{ aid }}"] },
  { query = "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", params = ["{{ delta }}", "{{ tid }}"] },
  { query = "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", params = ["{{ delta }}", "{{ bid }}"] },
  { query = "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)", params = ["{{ tid }}", "{{ bid }}", "{{ aid }}", "{{ delta }}"] },
]
TOML
  fi
  cat <<TOML
[profiles.bench]
target = "pg"
users = $CLIENTS
spawn_rate = 1000
duration = "${SECONDS_EACH}s"
TOML
} >"$work/loadtide.toml"

# cpu_per_10k TIME_FILE REQUESTS: user+sys seconds per 10k requests.
cpu_per_10k() { awk -v n="$2" '{ printf "%.3f", ($1 + $2) * 10000 / n }' "$1"; }

declare -a pg_rps lt_rps pg_cpu lt_cpu
for rep in $(seq 1 "$REPS"); do
  timeout $((SECONDS_EACH + 30)) /usr/bin/time -f "%U %S" -o "$work/pg.time" \
    taskset -c "$GEN_CPU" "$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n "${pgbench_mode[@]}" -M prepared \
    -c "$CLIENTS" -j 1 -T "$SECONDS_EACH" postgres >"$work/pg.out" 2>&1
  tx=$(awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] }' "$work/pg.out")
  tps=$(awk '/^tps/ { print $3; exit }' "$work/pg.out")
  pg_rps+=("$tps"); pg_cpu+=("$(cpu_per_10k "$work/pg.time" "$tx")")

  timeout $((SECONDS_EACH + 30)) /usr/bin/time -f "%U %S" -o "$work/lt.time" \
    taskset -c "$GEN_CPU" "$LOADTIDE_BIN" run --config "$work/loadtide.toml" --profile bench \
    --json "$work/lt.json" >/dev/null 2>&1 || true
  read -r n rps errors < <(python3 -c "import json; s=json.load(open('$work/lt.json')); print(s['requests'], s['rps'], s['errors'])")
  lt_rps+=("$rps"); lt_cpu+=("$(cpu_per_10k "$work/lt.time" "$n")")
  printf 'rep %d: pgbench %.0f tx/s (%s cpu-s/10k) | loadtide %.0f req/s (%s cpu-s/10k, %s errors)\n' \
    "$rep" "$tps" "${pg_cpu[-1]}" "$rps" "${lt_cpu[-1]}" "$errors"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_pg=$(median "${pg_rps[@]}"); m_lt=$(median "${lt_rps[@]}")
c_pg=$(median "${pg_cpu[@]}"); c_lt=$(median "${lt_cpu[@]}")
echo "median: pgbench $m_pg tx/s, $c_pg cpu-s/10k | loadtide $m_lt req/s, $c_lt cpu-s/10k"
awk -v a="$m_lt" -v b="$m_pg" -v c="$c_lt" -v d="$c_pg" -v k="$CLIENTS" -v m="$MODE" 'BEGIN {
  printf "loadtide/pgbench (" m ", prepared, %d clients): throughput %.2fx, CPU per request %.2fx\n", k, a / b, c / d }'
