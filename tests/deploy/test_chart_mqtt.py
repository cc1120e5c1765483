"""The chart's MQTT bridge: off by default; on, one non-root pod with probes on its own port,
broker credentials and TLS only from Secrets, subscriptions from a ConfigMap, a PodMonitor.

Its scenario lives here, not in helm/roomtemp/ci/: the ci/ scenarios are checked by tests that
expect the API's Deployment to be the only one.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.deploy.deploy_support import (
    CHART,
    PROMETHEUS_OPERATOR,
    Manifest,
    containers,
    env_of,
    find,
    helm_template,
    k8s_errors,
    run,
    tool,
)

VALUES = Path(__file__).parent / "mqtt-values.yaml"
PODMONITOR = (*PROMETHEUS_OPERATOR, "monitoring.coreos.com/v1/PodMonitor")


def bridge(manifests: list[Manifest]) -> Manifest:
    return find(manifests, "Deployment", "roomtemp-mqtt")


def test_off_by_default() -> None:
    rendered = helm_template(None, api_versions=PODMONITOR)
    assert not [m for m in rendered if m["metadata"]["name"].endswith("-mqtt")]
    deployments = sorted(d["metadata"]["name"] for d in rendered if d["kind"] == "Deployment")
    assert deployments == ["roomtemp", "roomtemp-alerts"]


def test_lint_and_valid_kubernetes() -> None:
    run([tool("helm"), "lint", "--strict", str(CHART), "-f", str(VALUES)])
    rendered = helm_template(str(VALUES))
    assert k8s_errors(rendered) == []


def test_bridge_deployment() -> None:
    rendered = helm_template(str(VALUES), api_versions=PODMONITOR)
    dep = bridge(rendered)
    spec = dep["spec"]
    assert spec["replicas"] == 1  # one persistent session per client id
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (c,) = containers(dep)
    assert c["args"] == ["mqtt"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["ports"] == [{"name": "metrics", "containerPort": 9108, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = env_of(c)
    assert env["MQTT_URL"] == "mqtts://mosquitto.iot.svc.cluster.local:8883"
    assert env["MQTT_HEALTH_HOST"] == "0.0.0.0"
    assert env["MQTT_USERNAME"] == {"secretKeyRef": {"name": "roomtemp-mqtt", "key": "username"}}
    assert env["MQTT_PASSWORD"] == {"secretKeyRef": {"name": "roomtemp-mqtt", "key": "password"}}
    assert env["MQTT_CA_FILE"] == "/etc/roomtemp/mqtt-tls/ca.crt"
    assert env["MQTT_KEY_FILE"] == "/etc/roomtemp/mqtt-tls/tls.key"
    assert "DB_PASSWORD" in env  # the API's database env, from its Secret
    config = find(rendered, "ConfigMap", "roomtemp-mqtt")
    subscriptions = json.loads(config["data"]["subscriptions.json"])
    values = yaml.safe_load(VALUES.read_text())["mqtt"]["subscriptions"]
    assert subscriptions == values
    monitor = find(rendered, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels["app.kubernetes.io/component"] == "mqtt"


def test_without_credentials_no_secret_is_referenced() -> None:
    rendered = helm_template(None, "mqtt.enabled=true")
    env = env_of(next(containers(bridge(rendered))))
    assert "MQTT_PASSWORD" not in env
    assert "MQTT_CA_FILE" not in env
    assert env["MQTT_URL"] == "mqtt://mosquitto:1883"
