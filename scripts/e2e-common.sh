# Shared by the end-to-end scripts; sourced, not run. Sets up a work directory ($work, removed
# on exit), the PIDs of the processes a script starts (append with `pids+=($!)`; each is
# stopped by PID on exit), the tails of $work/loadtide.log and $work/prometheus.log on a
# failure, and three distinct free loopback ports: LT_PORT, DEMO_PORT and PROM_PORT.
work=$(mktemp -d "${TMPDIR:-/tmp}/loadtide-e2e.XXXXXX")
pids=()
e2e_cleanup() {
  rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    echo "---- loadtide log (tail)"; tail -n 20 "$work/loadtide.log" 2>/dev/null || true
    echo "---- prometheus log (tail)"; tail -n 20 "$work/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap e2e_cleanup EXIT INT TERM

# Bound together, so they differ.
read -r LT_PORT DEMO_PORT PROM_PORT < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()
PY
)
