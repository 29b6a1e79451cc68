// Validates prometheus-operator objects (PodMonitor, PrometheusRule; JSON files named
// <manifest>.json, one object each) against the CRD schemas of the npm package
// @kubernetes-models/prometheus-operator: types, required fields, enums and patterns such as
// durations. Unknown fields are NOT rejected (the CRD schemas allow them; the API server prunes
// them). Run by scripts/check-packaging.sh from target/manifest-schema/.
import { readFileSync } from "node:fs";
import * as v1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const pkg = new URL("./node_modules/@kubernetes-models/prometheus-operator/package.json", import.meta.url);
const version = JSON.parse(readFileSync(pkg, "utf8")).version;
let failed = 0;
for (const file of process.argv.slice(2)) {
  const obj = JSON.parse(readFileSync(file, "utf8"));
  const name = `${file.replace(/^.*\//, "").replace(/\.json$/, "")}: ${obj.kind}/${obj.metadata?.name}`;
  const Model = obj.apiVersion === "monitoring.coreos.com/v1" ? v1[obj.kind] : undefined;
  if (!Model) {
    console.error(`error: ${name}: no schema for ${obj.apiVersion} ${obj.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`ok: ${name} matches the ${obj.kind} CRD schema (@kubernetes-models/prometheus-operator ${version})`);
  } catch (e) {
    console.error(`error: ${name}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
