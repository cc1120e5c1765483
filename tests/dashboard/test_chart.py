"""The chart's optional ConfigMap that hands the Grafana dashboards to the Grafana sidecar."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.deploy.deploy_support import CHART, ROOT, find, helm_template, k8s_errors, kinds, run
from tests.deploy.deploy_support import tool as deploy_tool

SCENARIO = "ci/grafana-dashboard-values.yaml"
NAME = "roomtemp-grafana-dashboards"


def test_one_copy_of_each_dashboard() -> None:
    """Helm reads files inside the chart only, so the chart holds the dashboards; no second copy
    elsewhere in the tree can drift from them."""
    names = {"roomtemp.json", "roomtemp-postgres.json"}
    copies = []
    for folder, subfolders, files in os.walk(ROOT):
        # Skip .git, .venv, caches and tool downloads: none of them is ours to keep in step.
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "node_modules"]
        top = Path(folder).relative_to(ROOT)
        copies += sorted((top / name).as_posix() for name in names & set(files))
    assert sorted(copies) == [f"helm/roomtemp/dashboards/{name}" for name in sorted(names)]


def test_off_by_default() -> None:
    assert all(
        m["metadata"]["name"] != NAME for m in helm_template(None) if m["kind"] == "ConfigMap"
    )


def test_sidecar_configmap_carries_both_dashboards() -> None:
    manifests = helm_template(SCENARIO)
    assert k8s_errors(manifests) == []
    assert kinds(manifests).count("ConfigMap") == 2
    cm = find(manifests, "ConfigMap", NAME)
    meta = cm["metadata"]
    assert meta["namespace"] == "monitoring"
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["labels"]["team"] == "facilities"
    assert meta["annotations"] == {"grafana_folder": "roomtemp"}
    assert sorted(cm["data"]) == ["roomtemp-postgres.json", "roomtemp.json"]
    for key, text in cm["data"].items():
        assert json.loads(text) == json.loads((CHART / "dashboards" / key).read_text())


def test_one_variant_and_own_label() -> None:
    cm = find(
        helm_template(
            None,
            "grafanaDashboard.enabled=true",
            "grafanaDashboard.variants={postgres}",
            "grafanaDashboard.label=dashboards",
            "grafanaDashboard.labelValue=roomtemp",
            "grafanaDashboard.folderAnnotation=",
        ),
        "ConfigMap",
        NAME,
    )
    assert list(cm["data"]) == ["roomtemp-postgres.json"]
    assert cm["metadata"]["labels"]["dashboards"] == "roomtemp"
    assert cm["metadata"]["namespace"] == "roomtemp"
    assert "annotations" not in cm["metadata"]


def test_schema_refuses_an_unknown_variant() -> None:
    args = [deploy_tool("helm"), "template", "roomtemp", str(CHART)]
    args += ["--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.variants={loki}"]
    proc = run(
        args,
        check=False,
    )
    assert proc.returncode != 0
    assert "variants" in proc.stderr
