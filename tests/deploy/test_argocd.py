"""k8s/argocd/application.yaml against the ArgoCD Application CRD schema, and what it deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_support import CHART, K8S, ROOT, crd_validate, helm_template, k8s_errors

APPLICATION = K8S / "argocd" / "application.yaml"


def _app() -> dict[str, Any]:
    return dict(yaml.safe_load(APPLICATION.read_text()))


def test_application_matches_the_crd_schema() -> None:
    proc = crd_validate([APPLICATION])
    assert proc.returncode == 0, proc.stderr
    assert "Application/roomtemp-prod: valid" in proc.stdout


def test_crd_validator_rejects_a_broken_application(tmp_path: Path) -> None:
    broken = _app()
    del broken["spec"]["destination"]
    broken["spec"]["syncPolicy"]["retry"]["limit"] = "five"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    proc = crd_validate([path])
    assert proc.returncode == 1
    assert "destination" in proc.stderr


def test_application_deploys_this_chart_with_an_environment_values_file() -> None:
    spec = _app()["spec"]
    source = spec["source"]
    assert (ROOT / source["path"]).resolve() == CHART
    assert source["helm"]["valueFiles"] == ["../values/prod.yaml"]
    for values in source["helm"]["valueFiles"]:
        assert (CHART / values).is_file()
        rendered = helm_template(values)
        assert k8s_errors(rendered) == []
    assert spec["destination"] == {
        "server": "https://kubernetes.default.svc",
        "namespace": "roomtemp",
    }


def test_sync_policy_is_automated_with_prune_self_heal_namespace_and_retry() -> None:
    policy = _app()["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert policy["retry"]["limit"] >= 1
    assert set(policy["retry"]["backoff"]) == {"duration", "factor", "maxDuration"}
