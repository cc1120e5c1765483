"""Plain Kubernetes manifests (k8s/): kustomize renders, strict validation, and agreement with
the Helm chart so the two never drift apart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from roomtemp.mqtt.schemas import load_subscriptions
from tests.deploy.deploy_support import (
    K8S,
    Manifest,
    containers,
    env_of,
    find,
    helm_template,
    k8s_errors,
    kinds,
    kustomize,
    kustomize_with,
)

LAYERS = ["base", "overlays/dev", "overlays/prod"]
DB_ENV = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_SSLMODE", "DB_PASSWORD")
MQTT_COMPONENT = K8S / "components" / "mqtt-bridge"
# The chart scenario the MQTT component mirrors (broker, subscriptions, credentials, TLS).
MQTT_VALUES = Path(__file__).parent / "mqtt-values.yaml"


def with_mqtt(tmp_path: Path, layer: str) -> list[Manifest]:
    """`layer` with the opt-in MQTT bridge component listed under its `components:`."""
    component = os.path.relpath(MQTT_COMPONENT, K8S / layer)
    return kustomize_with(tmp_path, layer, {"components": [component]})


def render_with_worker(layer: str, worker: str, tmp_path: Path) -> list[Manifest]:
    """The layer as shipped, or with the MQTT component when the worker is the bridge."""
    return with_mqtt(tmp_path, layer) if worker == "mqtt" else kustomize(layer)


def test_every_overlay_is_tested() -> None:
    assert sorted(f"overlays/{p.name}" for p in (K8S / "overlays").iterdir()) == LAYERS[1:]


@pytest.mark.parametrize("layer", LAYERS)
def test_kustomize_renders_valid_kubernetes_1_30(layer: str) -> None:
    manifests = kustomize(layer)
    assert {"ConfigMap", "Deployment", "Ingress", "Job", "Service", "ServiceAccount"} <= set(
        kinds(manifests)
    )
    assert k8s_errors(manifests) == []
    assert find(manifests, "Deployment", "roomtemp-alerts")
    # The bridge is opt-in (off in the chart by default too).
    assert not [m for m in manifests if m["metadata"]["name"].startswith("roomtemp-mqtt")]


@pytest.mark.parametrize("layer", LAYERS)
def test_mqtt_component_renders_valid_kubernetes_1_30(layer: str, tmp_path: Path) -> None:
    manifests = with_mqtt(tmp_path, layer)
    assert k8s_errors(manifests) == []
    bridge = find(manifests, "Deployment", "roomtemp-mqtt")
    (volume,) = [v for v in bridge["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    # The generated (hash-suffixed) subscriptions ConfigMap is the one the bridge mounts.
    config = find(manifests, "ConfigMap", volume["configMap"]["name"])
    assert config["metadata"]["name"].startswith("roomtemp-mqtt-")
    assert load_subscriptions(config["data"]["subscriptions.json"], None)  # the bridge's loader


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("worker", ["alerts", "mqtt"])
def test_workers_have_the_database_env_config_and_image_of_the_api(
    layer: str, worker: str, tmp_path: Path
) -> None:
    manifests = render_with_worker(layer, worker, tmp_path)
    api = next(containers(find(manifests, "Deployment")))
    dep = find(manifests, "Deployment", f"roomtemp-{worker}")
    (container,) = containers(dep)
    assert container["args"] == [worker]
    env, api_env = env_of(container), env_of(api)
    assert {k: env[k] for k in DB_ENV} == {k: api_env[k] for k in DB_ENV}
    assert container["envFrom"] == api["envFrom"]  # the generated, hash-suffixed ConfigMap
    assert container["image"] == api["image"]
    assert dep["metadata"].get("namespace") == find(manifests, "Deployment")["metadata"].get(
        "namespace"
    )
    # Neither process is patched like the API (replicas): one pod, as in the chart.
    assert dep["spec"]["replicas"] == 1


@pytest.mark.parametrize("layer", LAYERS)
def test_api_and_migration_share_database_env_and_config(layer: str) -> None:
    manifests = kustomize(layer)
    dep, job = find(manifests, "Deployment"), find(manifests, "Job")
    api, migrate = next(containers(dep)), next(containers(job))
    api_db = {k: v for k, v in env_of(api).items() if k in DB_ENV}
    assert api_db == {k: v for k, v in env_of(migrate).items() if k in DB_ENV}
    assert set(api_db) == set(DB_ENV)
    assert api_db["DB_PASSWORD"] == {"secretKeyRef": {"name": "roomtemp-db", "key": "password"}}
    assert api["image"] == migrate["image"]
    assert (api["args"], migrate["args"]) == (["serve"], ["migrate"])
    # The generated (hash-suffixed) ConfigMap is the one the Deployment reads.
    cm = find(manifests, "ConfigMap")
    assert cm["metadata"]["name"].startswith("roomtemp-config-")
    assert api["envFrom"] == [{"configMapRef": {"name": cm["metadata"]["name"]}}]
    assert "envFrom" not in migrate


@pytest.mark.parametrize(
    ("layer", "namespace", "replicas", "db_host", "sslmode", "host"),
    [
        ("overlays/dev", "roomtemp-dev", 1, "roomtemp-postgresql", "disable",
         "roomtemp.dev.example.com"),
        ("overlays/prod", "roomtemp", 3, "roomtemp-postgresql-rw", "require",
         "roomtemp.example.com"),
    ],
)  # fmt: skip
def test_overlay_settings(
    layer: str, namespace: str, replicas: int, db_host: str, sslmode: str, host: str
) -> None:
    manifests = kustomize(layer)
    namespaced = [m for m in manifests if m["kind"] != "Namespace"]
    assert {m["metadata"].get("namespace") for m in namespaced} == {namespace}
    # The namespace exists after `kubectl apply -k` on a fresh cluster (dev brings its own).
    if layer == "overlays/dev":
        assert find(manifests, "Namespace")["metadata"]["name"] == namespace
    dep = find(manifests, "Deployment")
    assert dep["spec"]["replicas"] == replicas
    env = env_of(next(containers(dep)))
    assert (env["DB_HOST"], env["DB_SSLMODE"]) == (db_host, sslmode)
    assert next(containers(dep))["image"] == "roomtemp:0.1.0"
    assert find(manifests, "Ingress", "roomtemp")["spec"]["rules"][0]["host"] == host
    # Environment labels never leak into the immutable selectors.
    assert "app.kubernetes.io/environment" not in dep["spec"]["selector"]["matchLabels"]


def test_prod_overlay_has_tls_and_pdb() -> None:
    manifests = kustomize("overlays/prod")
    assert find(manifests, "Ingress", "roomtemp")["spec"]["tls"] == [
        {"secretName": "roomtemp-tls", "hosts": ["roomtemp.example.com"]}
    ]
    pdb = find(manifests, "PodDisruptionBudget")
    dep = find(manifests, "Deployment")
    assert pdb["spec"]["selector"] == dep["spec"]["selector"]
    # As in the chart, only the API has a budget: at one replica, a minAvailable of 1 on the
    # alerts pod would block every node drain.
    chart_pdbs = [m for m in helm_template(None) if m["kind"] == "PodDisruptionBudget"]
    for pdbs in (chart_pdbs, [m for m in manifests if m["kind"] == "PodDisruptionBudget"]):
        (only,) = pdbs
        assert only["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"


# --- helm/ and k8s/ must agree ---------------------------------------------------------------


def _helm_equivalent() -> list[Manifest]:
    return helm_template(
        None,
        "fullnameOverride=roomtemp",
        "externalDatabase.existingSecret=roomtemp-db",
        "ingress.enabled=true",
    )


def _assert_pod_specs_agree(chart: Manifest, base: Manifest) -> None:
    chart_pod, base_pod = chart["spec"]["template"]["spec"], base["spec"]["template"]["spec"]
    for field in (
        "securityContext", "automountServiceAccountToken", "enableServiceLinks", "volumes",
        "serviceAccountName", "terminationGracePeriodSeconds", "topologySpreadConstraints",
        "restartPolicy",
    ):  # fmt: skip
        assert chart_pod.get(field) == base_pod.get(field), field
    chart_c, base_c = chart_pod["containers"][0], base_pod["containers"][0]
    for field in (
        "name", "args", "ports", "env", "startupProbe", "livenessProbe", "readinessProbe",
        "lifecycle", "resources", "securityContext", "volumeMounts",
    ):  # fmt: skip
        assert chart_c.get(field) == base_c.get(field), field
    assert chart["spec"]["template"]["metadata"]["labels"].items() >= (
        base["spec"]["template"]["metadata"]["labels"].items()
    )
    if chart["kind"] == "Deployment":
        for field in ("replicas", "selector", "strategy", "revisionHistoryLimit"):
            assert chart["spec"].get(field) == base["spec"].get(field), field
    assert _argocd(chart) == _argocd(base)


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Deployment", "roomtemp"), ("Job", None), ("Deployment", "roomtemp-alerts")],
)
def test_base_pod_spec_agrees_with_the_chart(kind: str, name: str | None) -> None:
    chart, base = find(_helm_equivalent(), kind, name), find(kustomize("base"), kind, name)
    _assert_pod_specs_agree(chart, base)


def _argocd(manifest: Manifest) -> dict[str, str]:
    """The ArgoCD annotations (sync wave, hook): Helm adds its own hook annotations."""
    annotations = manifest["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith("argocd.argoproj.io/")}


def test_mqtt_component_agrees_with_the_chart_bridge(tmp_path: Path) -> None:
    chart_all = helm_template(
        str(MQTT_VALUES), "fullnameOverride=roomtemp", "externalDatabase.existingSecret=roomtemp-db"
    )
    base_all = with_mqtt(tmp_path, "base")
    chart = find(chart_all, "Deployment", "roomtemp-mqtt")
    base = find(base_all, "Deployment", "roomtemp-mqtt")
    # kustomize suffixes the generated subscriptions ConfigMap with its hash (Helm rolls the pod
    # with a checksum annotation instead): compare the volumes by the ConfigMap they name.
    chart_config = find(chart_all, "ConfigMap", "roomtemp-mqtt")
    base_volumes = base["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in base_volumes if "configMap" in v]
    base_config = find(base_all, "ConfigMap", volume["configMap"]["name"])
    assert json.loads(chart_config["data"]["subscriptions.json"]) == json.loads(
        base_config["data"]["subscriptions.json"]
    )
    volume["configMap"]["name"] = chart_config["metadata"]["name"]
    _assert_pod_specs_agree(chart, base)
    assert base_config["metadata"]["labels"].items() <= chart_config["metadata"]["labels"].items()


def test_base_hooks_selectors_service_ingress_and_config_agree_with_the_chart() -> None:
    chart, base = _helm_equivalent(), kustomize("base")
    assert _argocd(find(chart, "Job")) == find(base, "Job")["metadata"]["annotations"]
    assert (
        find(chart, "Deployment")["spec"]["selector"]
        == find(base, "Deployment")["spec"]["selector"]
    )
    assert find(chart, "Service")["spec"] == find(base, "Service")["spec"]
    assert (
        find(chart, "Ingress", "roomtemp")["spec"]["rules"][0]["http"]
        == find(base, "Ingress", "roomtemp")["spec"]["rules"][0]["http"]
    )
    assert find(chart, "ConfigMap")["data"] == find(base, "ConfigMap")["data"]
    chart_live, base_live = (
        find(chart, "Ingress", "roomtemp-live"),
        find(base, "Ingress", "roomtemp-live"),
    )
    assert chart_live["spec"]["rules"] == base_live["spec"]["rules"]
    assert chart_live["metadata"]["annotations"] == base_live["metadata"]["annotations"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_environment_database_agrees_between_helm_values_and_overlay(env: str) -> None:
    chart_env = env_of(next(containers(find(helm_template(f"../values/{env}.yaml"), "Deployment"))))
    overlay_env = env_of(next(containers(find(kustomize(f"overlays/{env}"), "Deployment"))))
    for key in DB_ENV:
        assert chart_env[key] == overlay_env[key], key


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_overlay_database_is_set_once_in_the_config_map_and_reaches_every_workload(
    layer: str,
) -> None:
    manifests = kustomize(layer)
    config = find(manifests, "ConfigMap")["data"]
    cron = find(manifests, "CronJob")["spec"]["jobTemplate"]
    alerts = find(manifests, "Deployment", "roomtemp-alerts")
    for pod_owner in (find(manifests, "Deployment"), alerts, find(manifests, "Job"), cron):
        env = env_of(next(containers(pod_owner)))
        assert (env["DB_HOST"], env["DB_SSLMODE"]) == (config["DB_HOST"], config["DB_SSLMODE"])
    # No per-workload database patches left in the overlay.
    assert not list((K8S / layer).glob("database-*.yaml"))
