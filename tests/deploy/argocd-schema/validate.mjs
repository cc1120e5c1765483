// Validate ArgoCD Application manifests against the Application CRD schema shipped in
// @kubernetes-models/argo-cd. Usage: node validate.mjs FILE...  Exit 1 on any invalid document.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application";

let failed = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (doc === null || doc === undefined) continue;
    const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    if (doc.apiVersion !== Application.apiVersion || doc.kind !== Application.kind) {
      console.error(`${where}: not an ${Application.apiVersion} Application`);
      failed++;
      continue;
    }
    try {
      new Application(doc).validate();
      checked++;
      console.log(`${where}: valid`);
    } catch (err) {
      failed++;
      console.error(`${where}: INVALID\n${err.message}`);
    }
  }
}
if (checked === 0 && failed === 0) {
  console.error("no Application documents found");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
