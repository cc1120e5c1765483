"""The chart's alerts process: on by default, one non-root pod (replicas configurable) with probes
and metrics on its own port, a PodMonitor and its own PrometheusRule (promtool-checked and
unit-tested), a NetworkPolicy that lets it reach webhooks; off with alerts.enabled=false."""

from __future__ import annotations

import re
import subprocess

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
from tests.tools import executable

WITH_CRDS = (
    *PROMETHEUS_OPERATOR,
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)
RULES = CHART / "files" / "prometheus-rules-alerts.yaml"


def alerts(manifests: list[Manifest]) -> Manifest:
    return find(manifests, "Deployment", "roomtemp-alerts")


def test_on_by_default_and_valid() -> None:
    rendered = helm_template(None)
    dep = alerts(rendered)
    assert dep["spec"]["replicas"] == 1
    assert k8s_errors(rendered) == []
    run([tool("helm"), "lint", "--strict", str(CHART)])


def test_the_deployment() -> None:
    dep = alerts(helm_template(None, "alerts.replicas=2", "alerts.evalSeconds=30"))
    assert dep["spec"]["replicas"] == 2  # safe: one evaluator per instant (advisory lock)
    labels = dep["spec"]["selector"]["matchLabels"]
    assert labels["app.kubernetes.io/component"] == "alerts"
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (c,) = containers(dep)
    assert c["args"] == ["alerts"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["ports"] == [{"name": "metrics", "containerPort": 9109, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = env_of(c)
    assert env["ALERT_EVAL_SECONDS"] == "30"
    assert (env["ALERTS_HOST"], env["ALERTS_PORT"]) == ("0.0.0.0", "9109")
    assert "DB_PASSWORD" in env  # the API's database env, from its Secret
    # The API's Deployment and its PodDisruptionBudget do not select the alerts pods.
    api = find(helm_template(None), "Deployment")
    assert api["metadata"]["name"] == "roomtemp"
    api_selector = api["spec"]["selector"]["matchLabels"]
    assert api_selector["app.kubernetes.io/component"] == "api"


def test_off() -> None:
    rendered = helm_template(None, "alerts.enabled=false", api_versions=WITH_CRDS)
    names = [m["metadata"]["name"] for m in rendered]
    assert not [n for n in names if n.endswith("-alerts")], names


def test_monitoring_and_network_policy() -> None:
    rendered = helm_template(None, "networkPolicy.enabled=true", api_versions=WITH_CRDS)
    monitor = find(rendered, "PodMonitor", "roomtemp-alerts")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "alerts"
    rule = find(rendered, "PrometheusRule", "roomtemp-alerts")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    policy = find(rendered, "NetworkPolicy", "roomtemp-alerts")
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    egress_ports = [p["port"] for p in policy["spec"]["egress"][0]["ports"]]
    assert egress_ports == [443, 80]
    assert "to" not in policy["spec"]["egress"][0]  # any receiver, unless alerts.webhookTo
    core = [m for m in rendered if m["apiVersion"] != "monitoring.coreos.com/v1"]
    assert k8s_errors(core) == []


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = executable("promtool", "`make tools` (apt, as root) installs Debian's prometheus")
    return subprocess.run(
        [binary, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout
    tested = promtool("test", "rules", "prometheus-rules-alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_use_only_metrics_the_process_exports() -> None:
    from prometheus_client import generate_latest

    from roomtemp.alerts.metrics import AlertMetrics

    text = generate_latest(AlertMetrics().registry).decode()
    exported = set(re.findall(r"^(?:# (?:HELP|TYPE) )?(roomtemp_[a-z0-9_]+)", text, re.M))
    used = set(re.findall(r"\b(roomtemp_[a-z0-9_]+)", RULES.read_text()))
    assert used
    assert used <= exported, sorted(used - exported)
