// Validate custom resources against their CRD schemas, as shipped in @kubernetes-models/*:
// ArgoCD Application, Prometheus Operator ServiceMonitor and PrometheusRule (kubernetes-validate has no schema
// for CRD kinds). Usage: node validate.mjs FILE...  Exit 1 if any document is invalid or of an
// unknown kind; every document is reported on its own line.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = [Application, ServiceMonitor, PrometheusRule];
let failed = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (doc === null || doc === undefined) continue;
    const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    const model = models.find((m) => m.apiVersion === doc.apiVersion && m.kind === doc.kind);
    if (model === undefined) {
      console.error(`${where}: no CRD schema for ${doc.apiVersion} ${doc.kind}`);
      failed++;
      continue;
    }
    try {
      new model(doc).validate();
      checked++;
      console.log(`${where}: valid`);
    } catch (err) {
      failed++;
      console.error(`${where}: INVALID ${err.message.replace(/\n/g, "; ")}`);
    }
  }
}
if (checked === 0 && failed === 0) {
  console.error("no documents found");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
