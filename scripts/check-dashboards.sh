#!/usr/bin/env bash
# Static checks of the Grafana dashboards in dashboards/ and their provisioning YAML:
#   1. project conventions (python3, stdlib): well-formed JSON; stable uid (<= 40 chars),
#      id null, schemaVersion >= 39, no __inputs; datasource as the `datasource` template
#      variable (type prometheus) on every panel and target; unique panel ids (rows' nested
#      panels included); every panel has a unit and a description; every template variable
#      used is defined and used with a regex matcher (=~ / !~, so "All" = .* works); only
#      metric names from docs/src/metrics.md's table; provisioning YAML has apiVersion 1 (and the
#      data source a fixed uid) when PyYAML is available.
#   2. Grafana's dashboard schema: a JSON Schema generated from the Dashboard type of the npm
#      package @grafana/schema (ts-json-schema-generator), checked with ajv-cli. Versions are
#      pinned in scripts/dashboard-schema/package-lock.json and installed with `npm ci` into
#      target/dashboard-schema/. The generated schema is used as is (additionalProperties:false
#      and its required fields) except for three documented relaxations, for fields Grafana
#      itself writes: top-level `__requires`, a query variable's `definition`, and an empty
#      `current: {}` on variables. Set SKIP_SCHEMA=1 to run only part 1 (no node/npm needed).
# Usage: scripts/check-dashboards.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== dashboard conventions"
python3 - dashboards/*.json <<'PY'
import json, re, sys

files = sys.argv[1:]
if not files:
    sys.exit("no dashboards/*.json found")
errors = []
def err(f, msg):
    errors.append("%s: %s" % (f, msg))

# Metric names that exist: the manual's metrics table (histograms get _bucket/_count/_sum),
# which tests/docs.rs keeps equal to the families the daemon registers.
known = set()
for line in open("docs/src/metrics.md").read().splitlines():
    if not line.startswith("| `"):
        continue
    cells = [c.strip() for c in line.strip("|").split("|")]
    for name in re.findall(r"`(\w+)`", cells[0]):
        known.add(name)
        if cells[1] == "histogram":
            known.update(name + s for s in ("_bucket", "_count", "_sum"))
PROCESS = {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
           "process_open_fds", "process_max_fds", "process_threads", "process_start_time_seconds"}
known |= PROCESS | {"up"}
BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
DS = {"type": "prometheus", "uid": "${datasource}"}
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")
PROMQL_WORDS = {"sum", "by", "without", "rate", "irate", "increase", "histogram_quantile", "max", "min",
                "avg", "count", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
                "avg_over_time", "max_over_time", "min_over_time", "count_over_time", "label_values",
                "query_result", "topk", "bottomk", "abs", "clamp_min", "clamp_max", "absent", "bool",
                "offset", "time", "vector", "scalar", "delta", "deriv", "changes", "resets", "sort", "sort_desc"}

def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))

def check_expr(f, where, expr, defined):
    for m in VAR.finditer(expr):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in defined and name not in BUILTIN_VARS:
            err(f, "%s: undefined template variable $%s" % (where, name))
    if re.search(r'(?<![=!~])=\s*"[^"]*\$', expr):
        err(f, "%s: template variable used with = instead of =~ (breaks multi-value/All): %s" % (where, expr))
    stripped = re.sub(r'"[^"]*"', '""', expr)            # drop label values
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)       # drop matchers
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "[]", stripped)      # drop ranges
    stripped = re.sub(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", r"label_values(\1)", stripped, flags=re.S)
    for m in re.finditer(r"[a-zA-Z_:][\w:]*(\s*\()?", stripped):
        name, is_call = m.group(0).rstrip("( \t\n"), bool(m.group(1))
        if name in ("e", "Inf", "NaN", "inf", "nan"):
            continue
        if is_call or name in PROMQL_WORDS:
            if name not in PROMQL_WORDS:
                err(f, "%s: unknown function %s (add it to PROMQL_WORDS if it is real PromQL)" % (where, name))
        elif name not in known:
            err(f, "%s: unknown metric %s (not in docs/src/metrics.md's metrics table)" % (where, name))

n_panels = n_exprs = 0
for f in files:
    try:
        d = json.load(open(f))
    except ValueError as e:
        err(f, "invalid JSON: %s" % e)
        continue
    uid = d.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
        err(f, "uid must be a stable string of <= 40 chars, got %r" % (uid,))
    if d.get("id") is not None:
        err(f, "id must be null (Grafana assigns it)")
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
        err(f, "schemaVersion must be an integer >= 39")
    if "__inputs" in d:
        err(f, "__inputs/${DS_...} are resolved only by the UI import, not by provisioning: use the datasource variable")
    if not d.get("title") or not d.get("tags"):
        err(f, "title and tags required")
    tvars = d.get("templating", {}).get("list", [])
    defined = {v.get("name") for v in tvars}
    dsvars = [v for v in tvars if v.get("type") == "datasource" and v.get("name") == "datasource"]
    if not dsvars or dsvars[0].get("query") != "prometheus":
        err(f, "needs a template variable `datasource` of type datasource with query prometheus")
    for v in tvars:
        if v.get("type") == "query":
            where = "variable $%s" % v.get("name")
            if v.get("datasource") != DS:
                err(f, "%s: datasource must be %s" % (where, DS))
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            if not q:
                err(f, "%s: empty query" % where)
            check_expr(f, where, q, defined - {v.get("name")})
            n_exprs += 1
    ids = {}
    for p in walk(d.get("panels", [])):
        n_panels += 1
        pid, title = p.get("id"), p.get("title")
        where = "panel %s %r" % (pid, title)
        if not isinstance(pid, int):
            err(f, "%s: id must be an integer" % where)
        elif pid in ids:
            err(f, "%s: duplicate panel id (also %r)" % (where, ids[pid]))
        ids[pid] = title
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in "hwxy"):
            err(f, "%s: gridPos needs integer h, w, x, y" % where)
        if p.get("type") == "row":
            if "collapsed" not in p:
                err(f, "%s: row without collapsed" % where)
            if not p.get("collapsed") and p.get("panels"):
                err(f, "%s: an expanded row must not nest panels" % where)
            continue
        if p.get("datasource") != DS:
            err(f, "%s: datasource must be %s, got %r" % (where, DS, p.get("datasource")))
        if not (p.get("fieldConfig", {}).get("defaults", {}).get("unit")):
            err(f, "%s: no unit (fieldConfig.defaults.unit)" % where)
        if not p.get("description"):
            err(f, "%s: no description" % where)
        targets = p.get("targets", [])
        if not targets:
            err(f, "%s: no targets" % where)
        refids = [t.get("refId") for t in targets]
        if len(set(refids)) != len(refids):
            err(f, "%s: duplicate refId" % where)
        for t in targets:
            if t.get("datasource", DS) != DS:
                err(f, "%s %s: target datasource must be %s" % (where, t.get("refId"), DS))
            if not t.get("expr"):
                err(f, "%s %s: no expr" % (where, t.get("refId")))
                continue
            n_exprs += 1
            check_expr(f, "%s %s" % (where, t.get("refId")), t["expr"], defined)
    blob = json.dumps(d)
    if re.search(r'"uid":\s*"(?!\$\{datasource\}|-- Grafana --|%s")' % re.escape(str(uid)), blob):
        err(f, "a hard-coded datasource uid is present (use ${datasource})")

try:
    import yaml
except ImportError:
    yaml = None
    print("   (PyYAML not installed: provisioning YAML not parsed)")
if yaml:
    p = yaml.safe_load(open("dashboards/provisioning/dashboards.yaml"))
    if p.get("apiVersion") != 1 or not p.get("providers") or any(
            pr.get("type") != "file" or not pr.get("options", {}).get("path") for pr in p["providers"]):
        err("dashboards/provisioning/dashboards.yaml", "needs apiVersion 1 and file providers with options.path")
    ds = yaml.safe_load(open("dashboards/provisioning/datasources.yaml"))
    if ds.get("apiVersion") != 1 or not ds.get("datasources") or any(
            not x.get("uid") or x.get("type") != "prometheus" for x in ds["datasources"]):
        err("dashboards/provisioning/datasources.yaml", "needs apiVersion 1 and prometheus data sources with a fixed uid")

for e in errors:
    print("FAIL " + e)
if errors:
    sys.exit(1)
print("   %d dashboard(s), %d panels, %d expressions: conventions ok" % (len(files), n_panels, n_exprs))
PY

if [ "${SKIP_SCHEMA:-0}" = 1 ]; then
  echo "== schema validation skipped (SKIP_SCHEMA=1)"
  exit 0
fi

echo "== Grafana dashboard schema (@grafana/schema + ts-json-schema-generator + ajv-cli)"
command -v npm >/dev/null 2>&1 || { echo "npm not found (apt-get install nodejs npm), or run with SKIP_SCHEMA=1" >&2; exit 1; }
tools=target/dashboard-schema
mkdir -p "$tools"
if ! cmp -s scripts/dashboard-schema/package-lock.json "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
  cp scripts/dashboard-schema/package.json scripts/dashboard-schema/package-lock.json "$tools/"
  (cd "$tools" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$tools" && timeout 120 npx --no-install ts-json-schema-generator \
  --path node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts \
  --type Dashboard --no-type-check -o dashboard.schema.json)
python3 - "$tools/dashboard.schema.json" "$tools/dashboard.checked.schema.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
d = s["definitions"]
print("   schemaVersion in @grafana/schema's Dashboard type: %s" % d["Dashboard"]["properties"]["schemaVersion"].get("type"))
# The three relaxations (see the header of this script).
d["Dashboard"]["properties"]["__requires"] = {"type": "array", "items": {"type": "object"}}
d["VariableModel"]["properties"]["definition"] = {"type": "string"}
d["VariableOption"].pop("required", None)
json.dump(s, open(sys.argv[2], "w"))
PY
root=$(pwd)
ver=$(python3 -c 'import json;print(json.load(open("target/dashboard-schema/node_modules/@grafana/schema/package.json"))["version"])')
echo "   @grafana/schema $ver"
for f in dashboards/*.json; do
  (cd "$tools" && timeout 60 npx --no-install ajv validate --spec=draft7 --strict=false --all-errors \
    -s dashboard.checked.schema.json -d "$root/$f")
done
echo "== all dashboard checks passed"
