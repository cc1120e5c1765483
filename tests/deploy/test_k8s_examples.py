"""Scale-out deployment: the chart's read-replica, PgBouncer and HPA values, and the
CloudNativePG example with the values file that wires roomtemp to it.

No CloudNativePG CRD schema is available from PyPI or npm here, so the Cluster and Pooler objects
get structural checks written from the CloudNativePG API reference (types, required fields,
enums) rather than a CRD-schema validation; every built-in kind the chart renders is validated
by kubernetes-validate as in tests/deploy.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from roomtemp.db.engine import _connect_args
from roomtemp.settings import Settings
from tests.deploy.deploy_support import (
    ROOT,
    containers,
    env_of,
    find,
    helm_template,
    k8s_errors,
    run,
    tool,
)

EXAMPLES = ROOT / "k8s" / "examples"
CNPG = EXAMPLES / "cloudnativepg-cluster.yaml"
VALUES = "../../k8s/examples/roomtemp-cloudnativepg-values.yaml"  # relative to the chart


def cnpg_objects() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(CNPG.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def test_cnpg_cluster_primary_and_two_replicas() -> None:
    objs = cnpg_objects()
    assert {k for k, _ in objs} == {"Cluster", "Pooler"}
    [cluster] = [o for (kind, _), o in objs.items() if kind == "Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert spec["instances"] == 3  # one primary + two replicas
    assert re.fullmatch(r"[0-9]+(Gi|Ti)", spec["storage"]["size"])
    # PostgreSQL parameters are a map of strings in the CRD (a bare number is rejected).
    assert _is_str_map(spec["postgresql"]["parameters"])
    initdb = spec["bootstrap"]["initdb"]
    assert initdb["database"] == "roomtemp"
    assert isinstance(initdb["postInitApplicationSQL"], list)


def test_cnpg_poolers_transaction_mode_rw_and_ro() -> None:
    objs = cnpg_objects()
    cluster_name = next(name for kind, name in objs if kind == "Cluster")
    poolers = {name: o for (kind, name), o in objs.items() if kind == "Pooler"}
    assert {p["spec"]["type"] for p in poolers.values()} == {"rw", "ro"}
    for name, pooler in poolers.items():
        spec = pooler["spec"]
        assert name != cluster_name  # CloudNativePG: a Pooler may not share the Cluster's name
        assert spec["cluster"] == {"name": cluster_name}
        assert isinstance(spec["instances"], int)
        assert spec["instances"] >= 2
        assert spec["pgbouncer"]["poolMode"] == "transaction"
        assert _is_str_map(spec["pgbouncer"]["parameters"])


def test_statement_timeout_lives_on_the_role_and_matches_the_chart() -> None:
    values = yaml.safe_load((EXAMPLES / "roomtemp-cloudnativepg-values.yaml").read_text())
    cluster = next(o for (kind, _), o in cnpg_objects().items() if kind == "Cluster")
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    sql = " ".join(cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])
    match = re.search(rf"ALTER ROLE {owner} SET statement_timeout = '(\d+)s'", sql)
    assert match, sql
    assert int(match.group(1)) * 1000 == values["config"]["dbStatementTimeoutMs"]
    assert values["externalDatabase"]["user"] == owner


def test_values_wire_roomtemp_to_the_example() -> None:
    objs = cnpg_objects()
    cluster = next(name for kind, name in objs if kind == "Cluster")
    pooler = {o["spec"]["type"]: name for (kind, name), o in objs.items() if kind == "Pooler"}
    manifests = helm_template(VALUES)
    assert k8s_errors(manifests) == []
    env = env_of(next(containers(find(manifests, "Deployment"))))
    assert env["DB_HOST"] == pooler["rw"]
    assert env["DB_READ_HOST"] == pooler["ro"]
    # The operator's `<cluster>-app` Secret holds the owner's password.
    assert env["DB_PASSWORD"] == {"secretKeyRef": {"name": f"{cluster}-app", "key": "password"}}
    config = find(manifests, "ConfigMap")["data"]
    assert config["DB_PGBOUNCER"] == "true"
    hpa = find(manifests, "HorizontalPodAutoscaler")["spec"]
    assert {m["type"] for m in hpa["metrics"]} == {"Resource", "Pods"}
    pods = next(m["pods"] for m in hpa["metrics"] if m["type"] == "Pods")
    assert pods["metric"]["name"] == "roomtemp_http_requests_per_second"

    # What the pods would run with: writes and reads on the poolers, nothing PgBouncer refuses.
    plain = {k: v for k, v in env.items() if isinstance(v, str)}
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in {**config, **plain}.items()})
    assert settings.read_url() is not None
    assert f"@{pooler['ro']}:5432/roomtemp" in str(settings.read_url())
    args = _connect_args(settings, "roomtemp")
    assert args["prepare_threshold"] is None
    assert "options" not in args


def test_default_chart_reads_from_the_primary_and_keeps_defaults() -> None:
    manifests = helm_template(None)
    env = env_of(next(containers(find(manifests, "Deployment"))))
    assert "DB_READ_HOST" not in env
    assert "DATABASE_READ_URL" not in env
    assert not {"DB_PGBOUNCER", "DB_READ_FALLBACK", "DB_PREPARE_THRESHOLD"} & set(
        find(manifests, "ConfigMap")["data"]
    )


def test_read_url_from_the_secret() -> None:
    manifests = helm_template(
        None,
        "externalDatabase.existingSecret=pg",
        "externalDatabase.existingSecretUrlKey=uri",
        "externalDatabase.existingSecretReadUrlKey=ro-uri",
    )
    for owner in (find(manifests, "Deployment"), find(manifests, "Job")):
        env = env_of(next(containers(owner)))
        assert env["DATABASE_READ_URL"] == {"secretKeyRef": {"name": "pg", "key": "ro-uri"}}


def test_read_host_with_a_url_secret_is_refused() -> None:
    args = [tool("helm"), "template", "r", str(ROOT / "helm" / "roomtemp")]
    args += ["--set", "externalDatabase.existingSecretUrlKey=uri"]
    args += ["--set", "externalDatabase.readHost=pg-ro"]
    proc = run(args, check=False)
    assert proc.returncode != 0
    assert "existingSecretReadUrlKey" in proc.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("config.dbPrepareThreshold=-1", "minimum"),
        ("config.dbPgbouncer=maybe", "boolean"),
        ("autoscaling.requestRate.targetAverageValue=lots", "pattern"),
        ("autoscaling.requestRate.enable=true", "additional"),
    ],
)
def test_schema_checks_the_new_values(setting: str, complaint: str) -> None:
    args = [tool("helm"), "template", "r", str(ROOT / "helm" / "roomtemp"), "--set", setting]
    proc = run(args, check=False)
    assert proc.returncode != 0
    assert complaint in proc.stderr.lower()


def test_examples_directory_is_all_tested() -> None:
    assert {p.name for p in EXAMPLES.iterdir()} == {
        "cloudnativepg-cluster.yaml",
        "roomtemp-cloudnativepg-values.yaml",
    }
