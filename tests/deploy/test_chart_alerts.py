"""The chart's alerts process: on by default, one non-root pod (replicas configurable) with probes
and metrics on its own port, its external URL and delivery settings (schema-checked with the
bounds of settings.py), a PodMonitor and its own PrometheusRule (promtool-checked and
unit-tested), a NetworkPolicy that lets it reach webhooks; off with alerts.enabled=false."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from roomtemp.settings import Settings
from tests.conftest import make_settings
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


# alerts.delivery.<key> → the setting it renders.
DELIVERY = {
    "timeoutSeconds": "ALERT_DELIVERY_TIMEOUT_SECONDS",
    "firstRetrySeconds": "ALERT_DELIVERY_FIRST_RETRY_SECONDS",
    "maxRetrySeconds": "ALERT_DELIVERY_MAX_RETRY_SECONDS",
    "maxAgeSeconds": "ALERT_DELIVERY_MAX_AGE_SECONDS",
    "batch": "ALERT_DELIVERY_BATCH",
    "pollSeconds": "ALERT_DELIVERY_POLL_SECONDS",
}
OPTIONAL_ENV = {"ALERT_EXTERNAL_URL", *DELIVERY.values()}


def test_delivery_settings_are_left_to_the_process_unless_set() -> None:
    rendered = helm_template(None)
    (c,) = containers(alerts(rendered))
    assert OPTIONAL_ENV.isdisjoint(env_of(c))
    assert OPTIONAL_ENV.isdisjoint(find(rendered, "ConfigMap", "roomtemp")["data"])


def test_external_url_and_delivery_values_reach_the_alerts_env() -> None:
    rendered = helm_template("ci/all-features-values.yaml")
    (c,) = containers(alerts(rendered))
    env = {k: v for k, v in env_of(c).items() if k in OPTIONAL_ENV}
    assert env == {
        "ALERT_EXTERNAL_URL": "https://roomtemp.example.com",
        "ALERT_DELIVERY_TIMEOUT_SECONDS": "2.5",
        "ALERT_DELIVERY_FIRST_RETRY_SECONDS": "0.5",
        "ALERT_DELIVERY_MAX_RETRY_SECONDS": "600",
        "ALERT_DELIVERY_MAX_AGE_SECONDS": "1000000",  # not 1e+06
        "ALERT_DELIVERY_BATCH": "50",
        "ALERT_DELIVERY_POLL_SECONDS": "0.25",
    }
    # What the process reads from them.
    settings = make_settings(**{k.lower(): v for k, v in env.items()})
    assert settings.alert_delivery_max_age_seconds == 1_000_000
    assert settings.alert_delivery_poll_seconds == 0.25
    api = env_of(next(containers(find(rendered, "Deployment"))))
    assert OPTIONAL_ENV.isdisjoint(api)  # alert-only settings stay off the API


def _bounds(setting: str) -> dict[str, Any]:
    """settings.py's constraints of a field (annotated_types Gt, Ge, Le), in JSON Schema words."""
    words = {"gt": "exclusiveMinimum", "ge": "minimum", "le": "maximum"}
    out: dict[str, Any] = {}
    for item in Settings.model_fields[setting.lower()].metadata:
        (attr,) = (a for a in words if hasattr(item, a))  # one bound each, or a new kind
        out[words[attr]] = getattr(item, attr)
    return out


def test_schema_bounds_are_the_settings_bounds() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    delivery = schema["properties"]["alerts"]["properties"]["delivery"]["properties"]
    assert set(delivery) == set(DELIVERY)
    for key, setting in DELIVERY.items():
        spec = dict(delivery[key])
        kind = spec.pop("type")
        python = Settings.model_fields[setting.lower()].annotation
        assert kind == ["integer" if python is int else "number", "null"], key
        assert spec == _bounds(setting), key


@pytest.mark.parametrize(
    ("bad", "refusal"),
    [
        ("alerts.delivery.timeoutSeconds=0", "at '/alerts/delivery/timeoutSeconds'"),
        ("alerts.delivery.timeoutSeconds=301", "at '/alerts/delivery/timeoutSeconds'"),
        ("alerts.delivery.firstRetrySeconds=3601", "at '/alerts/delivery/firstRetrySeconds'"),
        ("alerts.delivery.maxRetrySeconds=86401", "at '/alerts/delivery/maxRetrySeconds'"),
        ("alerts.delivery.maxAgeSeconds=0", "at '/alerts/delivery/maxAgeSeconds'"),
        ("alerts.delivery.batch=1001", "at '/alerts/delivery/batch'"),
        ("alerts.delivery.batch=many", "at '/alerts/delivery/batch': got string"),
        ("alerts.delivery.pollSeconds=61", "at '/alerts/delivery/pollSeconds'"),
        ("alerts.delivery.retries=3", "additional properties 'retries' not allowed"),
        ("alerts.externalUrl=ftp://roomtemp.example.com", "at '/alerts/externalUrl'"),
        ("alerts.externalUrl=roomtemp.example.com", "at '/alerts/externalUrl'"),
        ("alerts.externalUrl=https://roomtemp.example.com/dashboard", "at '/alerts/externalUrl'"),
        ("alerts.externalUrl=https://roomtemp.example.com/?from=x", "at '/alerts/externalUrl'"),
        ("alerts.externalUrl=https://user:pw@roomtemp.example.com", "at '/alerts/externalUrl'"),
    ],
)
def test_schema_refuses_bad_delivery_values(bad: str, refusal: str) -> None:
    for command in ("template", "lint"):
        proc = run([tool("helm"), command, str(CHART), "--set", bad], check=False)
        assert proc.returncode != 0, (command, bad)
        assert refusal in proc.stdout + proc.stderr, (command, proc.stdout, proc.stderr)


def test_a_fraction_set_as_json_is_accepted() -> None:
    # `--set` passes 0.5 as a string (refused: the schema wants a number); --set-json does not.
    args = ["--set-json", "alerts.delivery.pollSeconds=0.5"]
    proc = run([tool("helm"), "template", str(CHART), *args])
    assert 'value: "0.5"' in proc.stdout


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
