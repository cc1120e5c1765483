"""Shared helpers for the deployment tests: tool lookup, helm/kustomize rendering, validation.

The tools are provided by `make deploy-tools` (a prerequisite of `make test`); a missing tool is a
test failure with the command to fix it, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs or py.typed
import pytest
import yaml

from tests.tools import CHECKOUT, FETCHED_TOOLS, missing_tool

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "roomtemp"
K8S = ROOT / "k8s"
TOOLS = FETCHED_TOOLS
VENV_BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.30.0"

Manifest = dict[str, Any]


def tool(name: str) -> str:
    """Absolute path of a required tool, or a failing test that says how to get it."""
    for candidate in (TOOLS / "bin" / name, VENV_BIN / name, CHECKOUT / ".venv" / "bin" / name):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"required tool {name!r} not found: run `make deploy-tools` / `make setup`")
    return found


def run(
    args: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(args), capture_output=True, text=True, cwd=ROOT, timeout=120, env=env
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_all(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@cache
def helm_template_text(
    values_file: str | None, *extra: str, api_versions: tuple[str, ...] = ()
) -> str:
    """`helm template` of the chart with one values file (relative to the chart) and --set args;
    `api_versions` are the cluster's extra APIs (e.g. the Prometheus Operator CRDs)."""
    args = [tool("helm"), "template", "roomtemp", str(CHART), "--namespace", "roomtemp"]
    for api in api_versions:
        args += ["--api-versions", api]
    if values_file is not None:
        args += ["-f", str(CHART / values_file)]
    for item in extra:
        args += ["--set", item]
    return run(args).stdout


def helm_template(
    values_file: str | None, *extra: str, api_versions: tuple[str, ...] = ()
) -> list[Manifest]:
    return load_all(helm_template_text(values_file, *extra, api_versions=api_versions))


# A cluster with the Prometheus Operator: ServiceMonitor and PrometheusRule are rendered.
PROMETHEUS_OPERATOR = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


@cache
def kustomize_text(directory: str) -> str:
    """`kubectl kustomize` of a directory under k8s/ (or an absolute one)."""
    return run(["kubectl", "kustomize", str(K8S / directory)]).stdout


def kustomize(directory: str) -> list[Manifest]:
    return load_all(kustomize_text(directory))


def kustomize_with(
    tmp_path: Path, layer: str, addition: Manifest, files: dict[str, str] | None = None
) -> list[Manifest]:
    """`layer` rendered with `addition`'s lists (`components:`, `patches:` …) appended to its
    kustomization.yaml and `files` (name: text) beside it, as an operator would add them. Done
    in a copy of k8s/ under tmp_path: kustomize accepts only relative paths between
    kustomizations."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    path = copy / layer / "kustomization.yaml"
    for name, text in (files or {}).items():
        (path.parent / name).write_text(text)
    kustomization = yaml.safe_load(path.read_text())
    for key, items in addition.items():
        kustomization.setdefault(key, []).extend(items)
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return kustomize(str(path.parent))


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    if name is None:
        # Unnamed, "the Deployment" (NetworkPolicy, …) is the API's: the worker processes'
        # objects (component alerts, mqtt) are found by name.
        matches = [m for m in matches if _component(m) not in WORKERS]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, got {len(matches)}"
    return matches[0]


WORKERS = ("alerts", "mqtt")


def _component(manifest: Manifest) -> str:
    labels = manifest["metadata"].get("labels") or {}
    component: str = labels.get("app.kubernetes.io/component", "")
    return component


def kinds(manifests: list[Manifest]) -> list[str]:
    return sorted(m["kind"] for m in manifests)


# Custom resources: kubernetes-validate has no schema for them; validate_crds() checks them.
CRD_KINDS = frozenset({"ServiceMonitor", "Application"})
CRD_VALIDATOR = TOOLS / "crd-schema" / "validate.mjs"


def k8s_errors(manifests: list[Manifest]) -> list[str]:
    """`kubernetes-validate --strict` against Kubernetes 1.30 for every built-in kind."""
    errors = []
    for m in manifests:
        if m["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(m, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{m['kind']}: no schema for {m['apiVersion']}")
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{m['kind']}/{m['metadata']['name']}: {exc.message}")
    return errors


def crd_validate(paths: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """Run the CRD schema validator (@kubernetes-models/*, installed by `make deploy-tools`)."""
    if not CRD_VALIDATOR.is_file():
        message = f"{CRD_VALIDATOR} missing: run `make deploy-tools` (needs Node.js and npm)"
        if shutil.which("npm"):
            # npm is here, so `make test` (deploy-tools) should have installed the validator.
            pytest.fail(message)
        # A laptop with only Python and make: the CRD checks need Node.js; CI runs them strictly.
        missing_tool(message)
    return run([tool("node"), str(CRD_VALIDATOR), *map(str, paths)], check=False)


def containers(pod_owner: Manifest) -> Iterator[Manifest]:
    yield from pod_owner["spec"]["template"]["spec"]["containers"]


def env_of(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
