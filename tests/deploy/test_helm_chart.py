"""The Helm chart: lint, render every value scenario, validate it, and check what matters."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploy_support import (
    CHART,
    PROMETHEUS_OPERATOR,
    ROOT,
    Manifest,
    containers,
    crd_validate,
    env_of,
    find,
    helm_template,
    helm_template_text,
    k8s_errors,
    kinds,
    run,
    tool,
)

SCENARIOS = [
    None,
    *sorted(f"ci/{p.name}" for p in (CHART / "ci").glob("*.yaml")),
    # Environment values live outside the chart (not packaged); paths relative to the chart.
    *sorted(f"../values/{p.name}" for p in (CHART.parent / "values").glob("*.yaml")),
]
DB_ENV = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_SSLMODE", "DB_PASSWORD", "DATABASE_URL")


def test_scenarios_cover_ci_and_environments() -> None:
    assert "ci/all-features-values.yaml" in SCENARIOS
    assert {"../values/dev.yaml", "../values/prod.yaml"} <= set(SCENARIOS)


@pytest.mark.parametrize("values", SCENARIOS)
def test_helm_lint_strict(values: str | None) -> None:
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    if values:
        args += ["-f", str(CHART / values)]
    run(args)


@pytest.mark.parametrize("values", SCENARIOS)
def test_rendered_manifests_are_valid_kubernetes_1_30(values: str | None) -> None:
    manifests = helm_template(values)
    assert manifests
    assert k8s_errors(manifests) == []


def test_custom_resources_match_their_crd_schema(tmp_path: Path) -> None:
    rendered = tmp_path / "all-features.yaml"
    rendered.write_text(helm_template_text("ci/all-features-values.yaml"))
    only_crds = tmp_path / "crds.yaml"
    only_crds.write_text(
        yaml.safe_dump_all(
            [
                m
                for m in helm_template(
                    "ci/all-features-values.yaml", api_versions=PROMETHEUS_OPERATOR
                )
                if m["kind"] in ("ServiceMonitor", "PrometheusRule")
            ]
        )
    )
    proc = crd_validate([only_crds])
    assert proc.returncode == 0, proc.stderr
    assert "ServiceMonitor/roomtemp: valid" in proc.stdout
    assert "PrometheusRule/roomtemp: valid" in proc.stdout


def test_default_render_has_the_core_objects_only() -> None:
    assert kinds(helm_template(None)) == sorted(
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "Deployment",  # the alerts process (tests/deploy/test_chart_alerts.py)
            "Job",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )


def test_all_features_render_every_optional_object() -> None:
    rendered = helm_template("ci/all-features-values.yaml", api_versions=PROMETHEUS_OPERATOR)
    assert kinds(rendered) == sorted(
        [
            "ConfigMap", "CronJob", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Ingress",
            "Job",
            "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor",
            "PrometheusRule",
            # The alerts process (tests/deploy/test_chart_alerts.py).
            "Deployment", "NetworkPolicy", "PrometheusRule",
        ]
    )  # fmt: skip


def test_monitoring_objects_follow_the_cluster_capabilities() -> None:
    # On by default, rendered only where the Prometheus Operator CRDs exist.
    assert {"ServiceMonitor", "PrometheusRule"} <= set(
        kinds(helm_template(None, api_versions=PROMETHEUS_OPERATOR))
    )
    assert not {"ServiceMonitor", "PrometheusRule"} & set(kinds(helm_template(None)))
    off = helm_template(
        None, "serviceMonitor.enabled=false", "prometheusRule.enabled=false",
        api_versions=PROMETHEUS_OPERATOR,
    )  # fmt: skip
    assert not {"ServiceMonitor", "PrometheusRule"} & set(kinds(off))
    # The PrometheusRule carries exactly the rule file promtool tests.
    rule = find(helm_template(None, api_versions=PROMETHEUS_OPERATOR), "PrometheusRule")
    rules_file = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == rules_file


def test_api_tokens_key_comes_from_a_secret_and_auth_is_on() -> None:
    rendered = helm_template(None)
    assert find(rendered, "ConfigMap")["data"]["AUTH_REQUIRED"] == "true"
    api = next(containers(find(rendered, "Deployment")))
    [key] = [e for e in api["env"] if e["name"] == "TOKEN_HASH_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "roomtemp-auth", "key": "token-hash-key"}
    off = helm_template(None, "auth.required=false")
    assert find(off, "ConfigMap")["data"]["AUTH_REQUIRED"] == "false"
    api = next(containers(find(off, "Deployment")))
    assert all(e["name"] != "TOKEN_HASH_KEY" for e in api["env"])


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    api = next(containers(find(helm_template(None), "Deployment")))
    assert api["image"] == f"roomtemp:{project['version']}"


def test_image_digest_wins_over_tag() -> None:
    api = next(containers(find(helm_template("ci/all-features-values.yaml"), "Deployment")))
    assert api["image"].startswith("registry.example.com/roomtemp/roomtemp@sha256:")


@pytest.mark.parametrize("values", SCENARIOS)
def test_probes(values: str | None) -> None:
    api = next(containers(find(helm_template(values), "Deployment")))
    assert api["args"] == ["serve"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Startup gates on /readyz too: a pod never serves before the schema is at head.
    assert api["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert env_of(api)["HOST"] == "0.0.0.0"


@pytest.mark.parametrize("values", SCENARIOS)
@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_security_context(values: str | None, kind: str) -> None:
    manifests = helm_template(values)
    if kind == "Job" and "Job" not in kinds(manifests):
        assert values == "ci/database-url-values.yaml"  # the one scenario without migrations
        return
    owner = find(manifests, kind)
    pod = owner["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's fixed UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        assert "limits" in c["resources"]
        assert "requests" in c["resources"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


def test_deployment_rollout_settings() -> None:
    dep = find(helm_template(None), "Deployment")
    spec = dep["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 30
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    api = spec["containers"][0]
    assert api["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "api"
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == selector
    sa = find(helm_template(None), "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False


def test_config_changes_roll_the_pods() -> None:
    def checksum(*extra: str) -> str:
        dep = find(helm_template(None, *extra), "Deployment")
        return str(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() != checksum("config.logLevel=debug")
    assert checksum() == checksum("replicaCount=5")
    dep = find(helm_template(None), "Deployment")
    cm = find(helm_template(None), "ConfigMap")
    api = dep["spec"]["template"]["spec"]["containers"][0]
    assert api["envFrom"] == [{"configMapRef": {"name": cm["metadata"]["name"]}}]
    assert cm["data"]["LOG_LEVEL"] == "info"


def test_replicas_left_to_the_hpa_when_autoscaling() -> None:
    manifests = helm_template("ci/all-features-values.yaml")
    assert "replicas" not in find(manifests, "Deployment")["spec"]
    hpa = find(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (
        hpa["spec"]["scaleTargetRef"]["name"] == find(manifests, "Deployment")["metadata"]["name"]
    )
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)


# --- database and migrations -----------------------------------------------------------------


@pytest.mark.parametrize("values", SCENARIOS)
def test_database_credentials_only_from_the_existing_secret(values: str | None) -> None:
    manifests = helm_template(values)
    assert "Secret" not in kinds(manifests)
    for owner in (m for m in manifests if m["kind"] in ("Deployment", "Job")):
        env = env_of(next(containers(owner)))
        secret_refs = {k: v for k, v in env.items() if isinstance(v, dict)}
        # The API also reads the API-token hash key from a Secret (auth on by default).
        secret_refs.pop("TOKEN_HASH_KEY", None)
        assert set(secret_refs) in ({"DB_PASSWORD"}, {"DATABASE_URL"})
        for ref in secret_refs.values():
            assert ref["secretKeyRef"]["name"]


def test_existing_secret_and_key_are_used() -> None:
    dep = find(helm_template("ci/all-features-values.yaml"), "Deployment")
    env = env_of(next(containers(dep)))
    assert env["DB_PASSWORD"] == {"secretKeyRef": {"name": "roomtemp-db", "key": "pg-password"}}
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_NAME"], env["DB_USER"], env["DB_SSLMODE"]) == (
        "pg.db.svc.cluster.local", "5433", "roomtemp_prod", "roomtemp_app", "verify-full",
    )  # fmt: skip
    url = env_of(next(containers(find(helm_template("ci/database-url-values.yaml"), "Deployment"))))
    assert url["DATABASE_URL"] == {"secretKeyRef": {"name": "roomtemp-database-url", "key": "url"}}
    assert "DB_HOST" not in url


@pytest.mark.parametrize("values", [v for v in SCENARIOS if v != "ci/database-url-values.yaml"])
def test_migration_job_has_the_same_database_env_and_no_chart_dependencies(
    values: str | None,
) -> None:
    manifests = helm_template(values)
    job, dep = find(manifests, "Job"), find(manifests, "Deployment")
    migrate, api = next(containers(job)), next(containers(dep))
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == api["image"]
    job_db = {k: v for k, v in env_of(migrate).items() if k in DB_ENV}
    api_db = {k: v for k, v in env_of(api).items() if k in DB_ENV}
    assert job_db == api_db
    assert job_db
    # Under ArgoCD a PreSync hook runs before the chart's ConfigMap/ServiceAccount exist.
    assert "envFrom" not in migrate
    assert "configMapKeyRef" not in json.dumps(job)
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default"
    assert pod["restartPolicy"] == "Never"


def test_migration_job_hooks_for_helm_and_argocd() -> None:
    manifests = helm_template(None)
    ann = find(manifests, "Job")["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(ann["helm.sh/hook-weight"]) < 0
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert ann["argocd.argoproj.io/hook"] == "PreSync"
    assert ann["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    dep_wave = find(manifests, "Deployment")["metadata"]["annotations"][
        "argocd.argoproj.io/sync-wave"
    ]
    assert int(ann["argocd.argoproj.io/sync-wave"]) < int(dep_wave)
    # Nothing else is a hook: the API objects are ordinary release objects.
    others = [m for m in manifests if m["kind"] != "Job"]
    assert all("helm.sh/hook" not in m["metadata"].get("annotations", {}) for m in others)


def test_migration_job_can_be_disabled() -> None:
    assert "Job" not in kinds(helm_template("ci/database-url-values.yaml"))


# --- ingress, network policy, monitoring -----------------------------------------------------


def test_ingress_routes_the_api_and_docs_on_every_host_with_tls() -> None:
    manifests = helm_template("ci/all-features-values.yaml")
    ing = find(manifests, "Ingress", "roomtemp")
    svc = find(manifests, "Service")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [
        {"secretName": "roomtemp-tls", "hosts": ["roomtemp.example.com", "temps.example.org"]}
    ]
    assert [r["host"] for r in ing["spec"]["rules"]] == [
        "roomtemp.example.com",
        "temps.example.org",
    ]
    for rule in ing["spec"]["rules"]:
        paths = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
        assert paths == {("/v1", "Prefix"), ("/docs", "Prefix"), ("/openapi.json", "Exact")}
        for p in rule["http"]["paths"]:
            assert p["backend"]["service"] == {
                "name": svc["metadata"]["name"],
                "port": {"name": "http"},
            }
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "api"


LIVE_PATH = "/v1/buildings/[^/]+(/rooms/[^/]+)?/live"
NGINX_STREAM = {
    "nginx.ingress.kubernetes.io/use-regex": "true",
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
}


def test_live_streams_get_an_ingress_that_neither_buffers_nor_times_out() -> None:
    manifests = helm_template("ci/all-features-values.yaml")
    api = find(manifests, "Ingress", "roomtemp")
    live = find(manifests, "Ingress", "roomtemp-live")
    assert live["metadata"]["annotations"] == NGINX_STREAM
    # The read timeout outlasts many heartbeats (LIVE_HEARTBEAT_SECONDS, 15 s).
    assert int(NGINX_STREAM["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 4 * 15
    assert live["spec"]["ingressClassName"] == api["spec"]["ingressClassName"]
    assert live["spec"]["tls"] == api["spec"]["tls"]
    assert [r["host"] for r in live["spec"]["rules"]] == [r["host"] for r in api["spec"]["rules"]]
    for rule in live["spec"]["rules"]:
        [path] = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == (LIVE_PATH, "ImplementationSpecific")
        assert path["backend"] == api["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    # The regular expression routes exactly the two stream paths (nginx matches it as a prefix
    # of the path, case-insensitively: anchored the way nginx anchors `location ~*`).
    import re

    stream = re.compile("^" + LIVE_PATH, re.I)
    assert stream.match("/v1/buildings/hq/live")
    assert stream.match("/v1/buildings/hq/rooms/3.14/live")
    assert not stream.match("/v1/buildings/hq/averages")
    assert not stream.match("/v1/buildings/hq/rooms/3.14/averages")
    # The API's Ingress keeps the controller's defaults.
    assert "nginx.ingress.kubernetes.io/proxy-read-timeout" not in (
        api["metadata"].get("annotations") or {}
    )
    env = find(manifests, "ConfigMap")["data"]
    assert env["LIVE_MAX_STREAMS"] == "1000"


def test_the_live_ingress_can_be_left_out() -> None:
    manifests = helm_template("ci/all-features-values.yaml", "ingress.live.enabled=false")
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Ingress"] == ["roomtemp"]


def test_network_policy_ingress_from_controller_and_prometheus_egress_to_db_and_dns() -> None:
    manifests = helm_template("ci/all-features-values.yaml")
    np = find(manifests, "NetworkPolicy")["spec"]
    assert sorted(np["policyTypes"]) == ["Egress", "Ingress"]
    # Selects the API pods and the migration pods (both need the database).
    selector = np["podSelector"]["matchLabels"]
    for kind in ("Deployment", "Job"):
        labels = find(manifests, kind)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    [rule] = np["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    namespaces = [p["namespaceSelector"]["matchLabels"] for p in rule["from"]]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in namespaces
    assert {"kubernetes.io/metadata.name": "monitoring"} in namespaces
    db, dns = np["egress"]
    assert db["ports"] == [{"port": 5433, "protocol": "TCP"}]
    assert db["to"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "postgresql"}
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}


def test_service_monitor_only_with_the_crd_and_scrapes_the_api() -> None:
    assert "ServiceMonitor" not in kinds(helm_template(None))
    manifests = helm_template("ci/all-features-values.yaml", api_versions=PROMETHEUS_OPERATOR)
    sm = find(manifests, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    svc_labels = find(manifests, "Service")["metadata"]["labels"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc_labels.items()


# --- values schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replicaCont=3", "replicaCont"),  # typo at the top level
        ("externalDatabase.pasword=hunter2", "pasword"),  # no password key at all
        ("ingress.hots[0]=a.example.com", "hots"),
        ("probes.liveness.periodSecond=3", "periodSecond"),
        ("externalDatabase.sslmode=maybe", "sslmode"),
        ("config.extraEnv.DB_PASSWORD=hunter2", "extraEnv"),
        ("securityContext.runAsNonRoot=false", "runAsNonRoot"),
    ],
)
def test_values_schema_rejects_typos_and_unsafe_values(setting: str, complaint: str) -> None:
    proc = run([tool("helm"), "template", "roomtemp", str(CHART), "--set", setting], check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert complaint in proc.stderr


def test_values_schema_is_valid_json_schema() -> None:
    run([tool("check-jsonschema"), "--check-metaschema", str(CHART / "values.schema.json")])


def test_values_have_no_credentials() -> None:
    values = (CHART / "values.yaml").read_text()
    for lowered in (line.lower() for line in values.splitlines()):
        if lowered.lstrip().startswith("#"):
            continue
        assert "password:" not in lowered
        assert "postgresql://" not in lowered


def _render_notes(tmp_path: Path, *extra: str) -> str:
    """Render NOTES.txt without a cluster (`helm install --dry-run` wants one): a copy of the
    chart gets a ConfigMap whose data is NOTES.txt passed through `tpl`."""
    chart = tmp_path / "roomtemp"
    shutil.copytree(CHART, chart)
    (chart / "notes.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n'
    )
    args = [tool("helm"), "template", "roomtemp", str(chart), "--namespace", "rt"]
    args += ["--show-only", "templates/zz-notes.yaml"]
    for item in extra:
        args += ["--set", item]
    return str(yaml.safe_load(run(args).stdout)["data"]["notes"])


def test_notes_tell_how_to_reach_the_service(tmp_path: Path) -> None:
    default = _render_notes(tmp_path / "a")
    assert "kubectl --namespace rt port-forward service/roomtemp 8000:80" in default
    assert "Secret roomtemp-db (key password)" in default
    ingress = _render_notes(
        tmp_path / "b", "ingress.enabled=true", "ingress.hosts[0]=t.example.com"
    )
    assert "http://t.example.com/v1/" in ingress
    assert "Job roomtemp-migrate" in ingress


def _all_keys(obj: object, prefix: str = "") -> set[str]:
    if not isinstance(obj, dict):
        return set()
    keys = set()
    for key, value in obj.items():
        keys.add(prefix + key)
        keys |= _all_keys(value, prefix + key + ".")
    return keys


def test_every_documented_value_is_in_the_schema() -> None:
    """values.yaml and values.schema.json describe the same keys (no drift)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(vals: Manifest, node: Manifest, path: str) -> None:
        props = node.get("properties")
        # Only the chart's own closed objects; Kubernetes structures pass through as they are.
        if props is None or node.get("additionalProperties") is not False:
            return
        for key, value in vals.items():
            assert key in props, f"{path}{key} missing from values.schema.json"
            check(value, props[key], f"{path}{key}.")

    check(values, schema, "")
    assert _all_keys(values)
