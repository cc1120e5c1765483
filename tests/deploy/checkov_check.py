"""checkov over the Dockerfile, the rendered chart and the rendered kustomize overlays: no failed
check (skips are listed and justified in .checkov.yaml), and resources really were scanned.
Run by `make checkov` (checkov is large; it lives in .tools/checkov, outside the project venv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.tools import FETCHED_TOOLS

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = FETCHED_TOOLS / "checkov" / "bin" / "checkov"
HELM = FETCHED_TOOLS / "bin" / "helm"
PROMETHEUS_OPERATOR = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


def _render(tmp: Path) -> None:
    chart = ROOT / "helm" / "roomtemp"
    api = [arg for v in PROMETHEUS_OPERATOR for arg in ("--api-versions", v)]
    scenarios = [
        ("chart-default", None),
        ("chart-all-features", "ci/all-features-values.yaml"),
        ("chart-prod", "../values/prod.yaml"),
    ]
    for name, values in scenarios:
        args = [str(HELM), "template", "roomtemp", str(chart), "--namespace", "roomtemp", *api]
        if values:
            args += ["-f", str(chart / values)]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        (tmp / f"{name}.yaml").write_text(out)
    for overlay in sorted((ROOT / "k8s" / "overlays").iterdir()):
        out = subprocess.run(
            ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
        ).stdout
        (tmp / f"k8s-{overlay.name}.yaml").write_text(out)
    shutil.copy(ROOT / "Dockerfile", tmp / "Dockerfile")


def _scan(tmp: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "PATH": f"{HELM.parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(CHECKOV), "--skip-download", "--compact", "-o", "json",
         "--config-file", str(ROOT / ".checkov.yaml"), "-d", str(tmp),
         "--framework", "kubernetes", "dockerfile"],
        capture_output=True, text=True, timeout=900, check=False, env=env,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-3000:]
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_is_clean_and_scanned_everything(tmp_path: Path) -> None:
    assert CHECKOV.exists(), "run `make checkov` (installs checkov into .tools/checkov)"
    _render(tmp_path)
    reports = {r["check_type"]: r for r in _scan(tmp_path)}
    assert set(reports) == {"kubernetes", "dockerfile"}, list(reports)
    failed = [
        (f["check_id"], f["resource"], f["file_path"])
        for r in reports.values()
        for f in r["results"]["failed_checks"]
    ]
    assert failed == []
    # checkov silently scans nothing when it cannot parse: insist on what must be there.
    assert reports["dockerfile"]["summary"]["resource_count"] >= 1
    assert reports["kubernetes"]["summary"]["resource_count"] >= 20
    assert reports["kubernetes"]["summary"]["parsing_errors"] == 0
    scanned = {
        f["file_path"].lstrip("/") for f in reports["kubernetes"]["results"]["passed_checks"]
    }
    assert {"chart-default.yaml", "chart-all-features.yaml", "k8s-prod.yaml"} <= scanned, scanned
