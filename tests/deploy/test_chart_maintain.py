"""The chart's `roomtemp maintain` CronJob: rendered, valid, same database and config as the API."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from roomtemp.settings import Settings
from tests.deploy.deploy_support import (
    CHART,
    containers,
    env_of,
    find,
    helm_template,
    k8s_errors,
    kinds,
    kustomize,
    run,
    tool,
)


def test_cronjob_runs_maintain_with_the_api_database_and_config() -> None:
    manifests = helm_template("ci/all-features-values.yaml")
    assert k8s_errors(manifests) == []
    cron, api = find(manifests, "CronJob"), find(manifests, "Deployment")
    assert cron["metadata"]["name"] == "roomtemp-maintain"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [maintain] = pod["containers"]
    assert maintain["args"] == ["maintain"]
    [api_c] = list(containers(api))
    # Same database settings and the same ConfigMap (partition interval, retention).
    assert maintain["envFrom"] == api_c["envFrom"]
    db_keys = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_SSLMODE", "DB_PASSWORD")
    cron_env, api_env = env_of(maintain), env_of(api_c)
    assert {k: cron_env[k] for k in db_keys} == {k: api_env[k] for k in db_keys}
    assert maintain["securityContext"] == api_c["securityContext"]
    assert maintain["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    # The NetworkPolicy selects the maintenance pods too (they need the database).
    policy = find(manifests, "NetworkPolicy")
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_partition_and_retention_settings_reach_the_config_map() -> None:
    config = find(helm_template(None), "ConfigMap")["data"]
    assert (config["PARTITION_INTERVAL"], config["PARTITION_AHEAD"]) == ("month", "3")
    assert "RETENTION_DAYS" not in config  # unlimited by default
    manifests = helm_template(
        None,
        "config.retentionDays=400",
        "config.partitionInterval=day",
        "maintenance.schedule=5 0 * * *",
        "maintenance.timeZone=Europe/Zurich",
    )
    config = find(manifests, "ConfigMap")["data"]
    assert (config["RETENTION_DAYS"], config["PARTITION_INTERVAL"]) == ("400", "day")
    cron = find(manifests, "CronJob")
    assert (cron["spec"]["schedule"], cron["spec"]["timeZone"]) == ("5 0 * * *", "Europe/Zurich")
    assert k8s_errors(manifests) == []


def test_rollup_retention_reaches_the_config_map_and_agrees_with_settings() -> None:
    config = find(helm_template(None), "ConfigMap")["data"]
    assert not [k for k in config if k.startswith("ROLLUP_")]  # kept forever by default
    manifests = helm_template(
        None,
        "config.retentionDays=90",
        "config.rollup15mRetentionDays=730",
        "config.rollup1hRetentionDays=3650",
    )
    config = find(manifests, "ConfigMap")["data"]
    assert (config["ROLLUP_15M_RETENTION_DAYS"], config["ROLLUP_1H_RETENTION_DAYS"]) == (
        "730",
        "3650",
    )
    assert "ROLLUP_1D_RETENTION_DAYS" not in config
    # The API and maintain read the same ConfigMap; Settings accepts what the chart renders.
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in config.items()})
    assert settings.rollup_retention_days() == {"15m": 730, "1h": 3650, "1d": None}
    assert k8s_errors(manifests) == []


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["config.rollup1dRetentionDays=400"], "needs config.retentionDays"),
        (
            ["config.retentionDays=90", "config.rollup15mRetentionDays=30"],
            "must be at least config.retentionDays",
        ),
    ],
)
def test_chart_refuses_rollups_shorter_than_raw(sets: list[str], message: str) -> None:
    """The chart refuses what Settings refuses, with the same rule (tests/core)."""
    args = [arg for s in sets for arg in ("--set", s)]
    proc = run([tool("helm"), "template", "roomtemp", str(CHART), *args], check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    env: dict[str, Any] = {"retention_days": 90 if len(sets) > 1 else None}
    env["rollup_15m_retention_days" if len(sets) > 1 else "rollup_1d_retention_days"] = (
        30 if len(sets) > 1 else 400
    )
    with pytest.raises(ValidationError, match="RETENTION_DAYS"):
        Settings(_env_file=None, **env)


def test_cronjob_can_be_disabled() -> None:
    assert "CronJob" not in kinds(helm_template(None, "maintenance.enabled=false"))


@pytest.mark.parametrize(
    "setting", ["config.partitionInterval=week", "config.retentionDays=0", "maintenance.sched=1"]
)
def test_schema_rejects_bad_maintenance_values(setting: str) -> None:
    proc = run([tool("helm"), "template", "roomtemp", str(CHART), "--set", setting], check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr


def test_kustomize_base_cronjob_agrees_with_the_chart() -> None:
    chart = find(
        helm_template(
            None, "fullnameOverride=roomtemp", "externalDatabase.existingSecret=roomtemp-db"
        ),
        "CronJob",
    )
    base = find(kustomize("base"), "CronJob")
    for field in ("schedule", "concurrencyPolicy", "startingDeadlineSeconds"):
        assert chart["spec"][field] == base["spec"][field], field
    chart_pod = chart["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    base_pod = base["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for field in ("securityContext", "automountServiceAccountToken", "volumes", "restartPolicy"):
        assert chart_pod[field] == base_pod[field], field
    chart_c, base_c = chart_pod["containers"][0], base_pod["containers"][0]
    for field in ("args", "env", "resources", "securityContext", "volumeMounts"):
        assert chart_c[field] == base_c[field], field


@pytest.mark.parametrize("layer", ["base", "overlays/dev", "overlays/prod"])
def test_kustomize_cronjob_uses_the_api_database_and_config(layer: str) -> None:
    manifests = kustomize(layer)
    assert k8s_errors(manifests) == []
    api = next(containers(find(manifests, "Deployment")))
    cron = find(manifests, "CronJob")
    [maintain] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    db_keys = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_SSLMODE", "DB_PASSWORD")
    cron_env, api_env = env_of(maintain), env_of(api)
    assert {k: cron_env[k] for k in db_keys} == {k: api_env[k] for k in db_keys}
    assert maintain["envFrom"] == api["envFrom"]  # the generated, hash-suffixed ConfigMap
    assert maintain["image"] == api["image"]
