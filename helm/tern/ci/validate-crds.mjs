// Validates the custom resources of a rendered chart against their CRD schemas, through the
// kubernetes-models packages (MIT; installed by the repository's CI, see ../README.md):
// ServiceMonitor and PrometheusRule (prometheus-operator), Certificate (cert-manager).
// Usage: node validate-crds.mjs RENDERED.yaml — exits 1 on the first invalid object.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ServiceMonitor, PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1";

const models = { ServiceMonitor, PrometheusRule, Certificate };
let failed = false;
for (const doc of parseAllDocuments(readFileSync(process.argv[2], "utf8"))) {
  const obj = doc.toJS();
  const Model = obj && models[obj.kind];
  if (!Model) continue;
  try {
    new Model(obj).validate();
    console.log(`chart: ${obj.kind} ${obj.metadata.name} matches its CRD`);
  } catch (e) {
    console.log(`chart: ${obj.kind} ${obj.metadata.name}: ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
